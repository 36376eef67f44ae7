//! The ember kernel: what runs once the framework has set up the machine.
//!
//! After `ready` it starts init (pid 1) from the initramfs, or from the disk `root=` names, as Linux does, and
//! powers the VM off when init exits (block file systems unmounted clean first). Without either (or `init=`)
//! there is nothing to run and it powers off at once. The
//! `ember.test=` parameter runs a boot self-test instead (see [`selftest`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block;
pub mod event;
pub mod fs;
mod init;
pub mod lockstat;
pub mod net;
pub mod process;
pub mod random;
pub mod selftest;
mod selftest_framework;
mod selftest_fs;
pub mod syscall;
pub mod uts;
pub mod vdso;
pub mod virtio;
pub mod vm;

use ember_cmdline::Cmdline;
use ember_frame::mm::IoMem;
use ember_frame::power::{ExitStatus, power_off};
use ember_frame::{BootInfo, mm, println, time};

/// The byte Firecracker's boot timer device waits for (`devices/pseudo/boot_timer.rs`).
const BOOT_TIMER_MAGIC: u8 = 123;

/// The kernel's main, called by the framework once memory, traps and time are set up.
pub fn main(boot: &'static BootInfo) -> ! {
    let cmdline = Cmdline::new(boot.cmdline());
    fs::proc::set_cmdline(boot.cmdline());
    let mut devices = virtio::init(&cmdline);
    net::stack::start(devices.nets.pop(), &cmdline);
    net::vsock::start(devices.vsocks.pop());
    let test = cmdline.value("ember.test").filter(|t| !t.is_empty());
    let self_test = test.is_some();
    if let Some(test) = test {
        // Self-tests may use every CPU.
        ember_frame::cpu::wait_for_aps();
        match selftest::run(test, &mut devices) {
            Ok(()) => {}
            Err(selftest::Error::Unknown) => log::warn!("unknown self-test {test:?} ignored"),
            Err(selftest::Error::Failed(why)) => {
                log::error!("self-test {test} failed: {why}");
                power_off(ExitStatus::Failure);
            }
        }
    }
    random::seed_if_unseeded();
    if cmdline.has("ember.lockstat") {
        ember_frame::sync::lockstat::enable();
    }
    if cmdline.has("ember.strace") {
        syscall::TRACE.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    // A self-test run ends after `ready`: its initrd (if any) is test data, not a root file system.
    let initrd = if self_test { None } else { mm::take_initrd() };
    let mut root_from = None;
    if !self_test {
        fs::disk::register(core::mem::take(&mut devices.blocks));
        root_from = fs::init(initrd.as_ref().map(|i| i.bytes()), &cmdline);
    }
    drop(initrd);
    // The application processors started early in the boot; they are counted by now (`fs::init` counts
    // them before it lists them in `/sys`; without it, here).
    ember_frame::cpu::wait_for_aps();
    signal_boot_timer(&cmdline);
    // The last boot line: machine-readable, stable for tools, printed whatever the log level.
    println!(
        "ember: ready boot={} mem={}MiB cpus={} t={}us",
        boot.protocol.name(),
        mm::usable_bytes() >> 20,
        ember_frame::cpu::online_count(),
        time::now_ns() / 1000
    );
    if self_test || (root_from.is_none() && cmdline.value("init").is_none()) {
        // Nothing to run: the VM was started to boot (or to test the kernel), not to work.
        power_off(ExitStatus::Success)
    }
    // `ip=dhcp`: init starts with its address, as on Linux.
    net::stack::wait_for_lease(10_000_000_000);
    init::start(boot.cmdline(), root_from != Some(fs::RootFrom::Disk));

    // The boot task has nothing left to do; other tasks run from here on, and the CPU idles between them.
    loop {
        ember_frame::task::WaitQueue::new().wait_until(|| None::<()>);
    }
}

/// With `ember.boot_timer=<address>` (Firecracker's `--boot-timer` device: 0xc0000000 since 1.13, 0xd0000000
/// before), writes the magic byte there so that Firecracker logs `Guest-boot-time`. Never writes unasked.
fn signal_boot_timer(cmdline: &Cmdline<'_>) {
    let Some(value) = cmdline.value("ember.boot_timer") else {
        return;
    };
    // The same integer grammar as every other address on the command line (C's base auto-detection).
    let Some((address, "")) = ember_cmdline::parse_integer(value, None) else {
        log::warn!("ember.boot_timer={value:?} is not an address; ignored");
        return;
    };
    match IoMem::map(address, 1).and_then(|m| m.write8(0, BOOT_TIMER_MAGIC)) {
        Ok(()) => log::debug!("boot timer signalled at {address:#x}"),
        Err(e) => log::warn!("boot timer at {address:#x}: {e:?}; not signalled"),
    }
}
