//! CPU tables: the GDT with its TSS and IST stacks, the IDT, and the trap entry and dispatch.

mod gdt;
mod idt;
mod trap;

pub use trap::TrapFrame;

/// Loads the GDT, TSS and IDT. Called once, first thing at boot, so that any later fault is diagnosed.
pub(crate) fn init() {
    gdt::init();
    idt::init();
}

/// Stops the machine with a triple fault: an empty IDT makes the next exception unrecoverable.
pub(crate) fn triple_fault() -> ! {
    idt::load_empty();
    // SAFETY: with no IDT, INT3 escalates to a triple fault, which resets or stops the VM; nothing after it runs.
    unsafe { core::arch::asm!("int3", options(noreturn, nomem, nostack)) }
}
