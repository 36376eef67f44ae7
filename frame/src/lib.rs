//! ember's framework: the one crate of the kernel that contains `unsafe` code.
//!
//! It owns the machine: both boot entries, the CPU tables, page tables and physical memory, traps, the
//! serial console, the TSC, and powering off. Everything it exports is safe to use: no safe caller can break
//! memory safety through it, and every `unsafe` block below states why it is sound. All other kernel crates
//! are `#![forbid(unsafe_code)]` and reach the hardware only through this API.
//!
//! Boot flow (see `docs/design.md`): `arch::entry` (PVH or Linux 64-bit assembly) → [`boot::rust_entry`] →
//! console, CPU tables, boot description, memory, interrupts, time → the kernel's `main`, bound with [`entry!`].
#![no_std]

extern crate alloc;

mod arch;
pub mod boot;
pub mod console;
pub mod cpu;
pub mod debug;
pub mod irq;
pub mod mm;
mod panic;
pub mod power;
pub mod sync;
pub mod task;
pub mod time;
pub mod user;

pub use ember_boot::{BootInfo, PhysRange, Protocol};

/// Binds the kernel's `main` (a `fn(&'static BootInfo) -> !`) as the function the framework calls once the
/// machine is set up. Use it exactly once, in the kernel image's root.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        // The framework calls this symbol after boot; exporting it is the one unsafe attribute the kernel image
        // needs, and it lives in the framework's macro so that the image's own code stays free of `unsafe`.
        #[allow(unsafe_code)]
        #[unsafe(export_name = "__ember_kernel_main")]
        fn __ember_kernel_main(boot: &'static $crate::BootInfo) -> ! {
            $main(boot)
        }
    };
}
