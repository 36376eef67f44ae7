//! Privileged registers and instructions the framework needs.

use core::arch::asm;
use core::arch::x86_64::{__cpuid_count, _rdtsc, CpuidResult};

/// Executes CPUID (always available on x86-64).
pub(crate) fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    __cpuid_count(leaf, subleaf)
}

/// Reads the time-stamp counter.
pub(crate) fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads a counter; the kernel runs at CPL 0 so it cannot fault.
    unsafe { _rdtsc() }
}

/// Reads CR2, the address of the last page fault.
pub(crate) fn cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effect; the kernel runs at CPL 0.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads CR3, the physical address of the active top-level page table.
pub(crate) fn cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effect; the kernel runs at CPL 0.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Loads CR3, switching address spaces.
///
/// # Safety
/// `pml4` must be a valid top-level table that maps all code, data and stacks in use, as they are mapped now.
pub(crate) unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the caller guarantees the new tables keep everything in use mapped identically.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) }
}
