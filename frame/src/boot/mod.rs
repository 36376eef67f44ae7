//! From the entry assembly to the kernel's `main`: read the boot description, set up the machine, hand over.

use crate::arch::entry::{ENTRY_LINUX64, ENTRY_PVH};
use crate::arch::regs::rdtsc;
use crate::mm::layout::phys_to_virt;
use crate::power::{ExitStatus, power_off};
use crate::{console, cpu, irq, mm, time};
use ember_boot::{BootInfo, PhysMemory, Protocol, Warning, parse_linux, parse_pvh};
use ember_cmdline::Cmdline;
use spin::Once;

/// Boot structures are read only below this address: the boot page tables map the first 4 GiB, and the top
/// GiB of that is device memory on both VMMs (Firecracker's MMIO gap starts at 3 GiB). Pointers beyond are
/// refused, never followed.
const BOOT_READ_LIMIT: u64 = 0xC000_0000;

static BOOT_INFO: Once<BootInfo> = Once::new();

// SAFETY: `entry!` is the only way to define this symbol, and it defines it with exactly this signature.
unsafe extern "Rust" {
    /// The kernel's main, bound with [`crate::entry!`].
    safe fn __ember_kernel_main(boot: &'static BootInfo) -> !;
}

/// The boot description (available from the moment the kernel's `main` runs).
pub fn info() -> &'static BootInfo {
    BOOT_INFO.get().expect("boot description read before use")
}

/// Reads boot structures through the boot page tables' direct-map window, refusing anything out of range.
struct BootWindow;

impl PhysMemory for BootWindow {
    fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = paddr.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > BOOT_READ_LIMIT {
            return false;
        }
        // SAFETY: `[paddr, end)` lies below 3 GiB, which the boot page tables map at PHYS_OFFSET; it is the
        // VMM's memory, which nothing in the kernel has claimed yet (the frame allocator does not exist), so
        // reading it races with no writer.
        unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(paddr) as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }
}

/// Called by the entry assembly on the boot stack in the higher half, with the boot page tables live.
pub(crate) extern "C" fn rust_entry(protocol: u32, info_paddr: u64, entry_tsc: u64) -> ! {
    time::set_entry_tsc(entry_tsc);
    let mut phases = Phases {
        marks: [("", 0); 8],
        len: 0,
    };
    console::init();
    cpu::init();
    phases.mark("console, GDT, IDT");

    let mut warnings = Warnings::default();
    let info = BOOT_INFO.call_once(|| read_boot_info(protocol, info_paddr, &mut warnings));
    let cmdline = Cmdline::new(info.cmdline());
    console::set_level_from_cmdline(&cmdline);
    warnings.log();
    log::info!(
        "booted by {} ({} at {:#x})",
        match info.protocol {
            Protocol::Pvh => "PVH",
            Protocol::Linux64 => "the Linux 64-bit boot protocol",
        },
        match info.protocol {
            Protocol::Pvh => "start info",
            Protocol::Linux64 => "zero page",
        },
        info.info_paddr
    );
    log::info!("command line: {}", info.cmdline());
    for r in info.memory.regions() {
        log::info!("memory {} {} ({} KiB)", r.range, r.kind, r.range.len() / 1024);
    }
    if let Some(rsdp) = info.rsdp {
        log::debug!("ACPI RSDP at {rsdp:#x} (from the boot structure)");
    }

    phases.mark("boot description");
    mm::init(info);
    phases.mark("memory");
    irq::init(info);
    phases.mark("interrupts");
    time::init(cmdline.value("ember.lapic_timer") == Some("dead"));
    phases.mark("time");
    cpu::init_user_mode();
    crate::task::init();
    cpu::smp::start_aps();
    phases.mark("other CPUs");
    console::enable_input();
    phases.mark("console input");
    phases.log(entry_tsc);
    __ember_kernel_main(info)
}

/// TSC readings at the end of each boot phase, logged at debug level once the TSC frequency is known.
struct Phases {
    marks: [(&'static str, u64); 8],
    len: usize,
}

impl Phases {
    fn mark(&mut self, name: &'static str) {
        if let Some(m) = self.marks.get_mut(self.len) {
            *m = (name, rdtsc());
            self.len += 1;
        }
    }

    fn log(&self, entry_tsc: u64) {
        log::debug!("boot: first instruction at TSC {entry_tsc}");
        let mut last = 0;
        for &(name, tsc) in &self.marks[..self.len] {
            let at = time::tsc_to_ns(tsc) / 1000;
            log::debug!("boot: {name}: {} us (done at {at} us)", at - last);
            last = at;
        }
    }
}

/// Warnings from parsing the boot structures, kept until the command line's log level is known.
#[derive(Default)]
struct Warnings {
    kept: [Option<Warning>; 16],
    dropped: usize,
}

impl Warnings {
    fn push(&mut self, w: Warning) {
        match self.kept.iter_mut().find(|k| k.is_none()) {
            Some(slot) => *slot = Some(w),
            None => self.dropped += 1,
        }
    }

    fn log(&self) {
        self.kept.iter().flatten().for_each(|w| log::warn!("{w}"));
        if self.dropped > 0 {
            log::warn!("{} more warnings about the boot structures", self.dropped);
        }
    }
}

fn read_boot_info(protocol: u32, paddr: u64, warnings: &mut Warnings) -> BootInfo {
    let mut info = BootInfo::empty(Protocol::Pvh, paddr);
    let mut warn = |w| warnings.push(w);
    let parsed = match protocol {
        ENTRY_PVH => parse_pvh(&mut BootWindow, paddr, &mut info, &mut warn),
        ENTRY_LINUX64 => parse_linux(&mut BootWindow, paddr, &mut info, &mut warn),
        _ => unreachable!("the entry assembly passes one of two protocols"),
    };
    if let Err(e) = parsed {
        warnings.log();
        log::error!("cannot boot: {e}");
        power_off(ExitStatus::Failure);
    }
    // RAM past the CPU's physical address width cannot be mapped (the direct map's own limit was applied while
    // parsing).
    info.memory
        .limit_direct_mapped(crate::arch::regs::phys_address_limit(), &mut |w| warnings.push(w));
    if info.memory.ram_bytes() == 0 {
        warnings.log();
        log::error!("cannot boot: {}", ember_boot::BootError::NoRam);
        power_off(ExitStatus::Failure);
    }
    info
}
