//! Deliberate faults, so tests can check that the fatal-fault path reports and powers off. Each function
//! diverges through that path; none can be used to corrupt memory.

use core::arch::asm;

/// Runs the CPU-table setup (GDT, TSS, IDT) a second time. Rewriting the live tables is unsound, so the setup
/// refuses: this panics.
pub fn reinit_cpu_tables() {
    crate::cpu::init();
}

/// Executes `ud2` (invalid opcode).
pub fn invalid_opcode() -> ! {
    // SAFETY: UD2 raises #UD, whose handler reports and powers off; nothing after it runs.
    unsafe { asm!("ud2", options(noreturn)) }
}

/// Writes to an unmapped kernel address (the start of the MMIO window, never mapped at boot).
pub fn page_fault() -> ! {
    let addr = crate::mm::layout::MMIO_BASE - 0x1000;
    // SAFETY: the address is in a hole of the kernel's address space, so the write raises #PF, whose handler
    // reports and powers off; no memory is written.
    unsafe {
        asm!("mov qword ptr [{0}], 0x2a", "ud2", in(reg) addr, options(noreturn, nostack));
    }
}

/// Executes `int3` with a marker in `xmm0` and reports whether the marker survived the trap: the breakpoint
/// handler returns, so this checks the trap path's save and restore of SSE state.
pub fn breakpoint_preserves_sse() -> bool {
    let marker: u64 = 0x0123_4567_89AB_CDEF;
    let after: u64;
    // SAFETY: INT3 enters the breakpoint handler, which saves and restores all registers and returns; xmm0 is
    // declared clobbered.
    unsafe {
        asm!(
            "movq xmm0, {m}",
            "int3",
            "movq {a}, xmm0",
            m = in(reg) marker,
            a = lateout(reg) after,
            out("xmm0") _,
        );
    }
    after == marker
}
