//! Privileged registers and instructions the framework needs.

use core::arch::asm;
use core::arch::x86_64::{__cpuid_count, _rdtsc, CpuidResult};

/// Executes CPUID (always available on x86-64).
pub(crate) fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    __cpuid_count(leaf, subleaf)
}

/// One past the highest physical address the CPU can reach (CPUID 0x8000_0008 EAX[7:0]; 36 bits when the leaf
/// is missing, as the SDM specifies). A page table entry naming an address at or past it has reserved bits set.
pub(crate) fn phys_address_limit() -> u64 {
    let bits = if cpuid(0x8000_0000, 0).eax >= 0x8000_0008 {
        cpuid(0x8000_0008, 0).eax & 0xFF
    } else {
        36
    };
    1u64 << bits.clamp(32, 52)
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

/// Reads a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (reading an absent MSR raises #GP).
pub(crate) unsafe fn rdmsr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: the caller guarantees the MSR exists; RDMSR touches no memory.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags)) };
    (high as u64) << 32 | low as u64
}

/// Writes a model-specific register.
///
/// # Safety
/// `msr` must exist and `value` must be valid for it, and the write must not break memory safety (e.g. MSRs
/// that give the hypervisor a physical address to write must be given memory the framework owns).
pub(crate) unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

/// Enables interrupts, halts until one arrives and has been handled, and disables them again. `sti` delays
/// interrupts by one instruction, so none can slip in between it and `hlt` and leave the CPU asleep. This is
/// the only place interrupts are ever enabled in the kernel: handlers never preempt Rust code that might be
/// using the red zone.
pub(crate) fn idle() {
    // SAFETY: interrupt handlers run on IST stacks and save and restore all state, so enabling interrupts
    // while halted is invisible to the surrounding code.
    unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

/// Drops the TLB entry of the page at `virt` on this CPU.
pub(crate) fn invlpg(virt: u64) {
    // SAFETY: INVLPG only drops a cached translation; the next access walks the page tables again.
    unsafe { asm!("invlpg [{}]", in(reg) virt, options(nostack, preserves_flags)) };
}

/// Drops this CPU's TLB entries of user pages (reloads CR3; the kernel's are the same in every space).
pub(crate) fn flush_tlb() {
    // SAFETY: reloading CR3 with its own value keeps the same tables; only cached translations go.
    unsafe { asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack, preserves_flags)) };
}

/// Reads CR4.
pub(crate) fn cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effect; the kernel runs at CPL 0.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Writes CR4.
///
/// # Safety
/// The new value must keep every feature the kernel relies on (PAE, SSE) and enable only features the CPU has.
pub(crate) unsafe fn write_cr4(value: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { asm!("mov cr4, {}", in(reg) value, options(nostack, preserves_flags)) }
}

/// Sets CR0.WP: supervisor writes honour read-only pages (a kernel copy into a read-only or copy-on-write
/// user page then faults instead of writing).
pub(crate) fn enable_write_protect() {
    // SAFETY: WP only makes the kernel's writes obey page permissions; the kernel maps every page it writes
    // (data, stacks, heap, direct map) writable.
    unsafe {
        asm!("mov {t}, cr0", "or {t}, 0x10000", "mov cr0, {t}", t = out(reg) _, options(nostack, preserves_flags))
    };
}
