//! The ember kernel: what runs once the framework has set up the machine.
//!
//! For now there is no workload: ember reports `ready` and powers the VM off. The `ember.test=` parameter runs
//! a boot self-test first (see [`selftest`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod selftest;

use ember_cmdline::Cmdline;
use ember_frame::power::{ExitStatus, power_off};
use ember_frame::{BootInfo, mm, println, time};

/// The kernel's main, called by the framework once memory, traps and time are set up.
pub fn main(boot: &'static BootInfo) -> ! {
    let cmdline = Cmdline::new(boot.cmdline());
    if let Some(test) = cmdline.value("ember.test").filter(|t| !t.is_empty()) {
        match selftest::run(test) {
            Ok(()) => {}
            Err(selftest::Error::Unknown) => log::warn!("unknown self-test {test:?} ignored"),
            Err(selftest::Error::Failed(why)) => {
                log::error!("self-test {test} failed: {why}");
                power_off(ExitStatus::Failure);
            }
        }
    }
    // The last boot line: machine-readable, stable for tools, printed whatever the log level.
    println!(
        "ember: ready boot={} mem={}MiB t={}us",
        boot.protocol.name(),
        mm::usable_bytes() >> 20,
        time::now_ns() / 1000
    );
    power_off(ExitStatus::Success)
}
