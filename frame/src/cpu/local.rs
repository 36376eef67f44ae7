//! Per-CPU data, reached through the GS base while the CPU runs kernel code.
//!
//! The entry assembly reads a few fields at fixed offsets (`%gs:OFFSET`): the user stack pointer saved by
//! `syscall`, the kernel stack pointer and user context to return to. Everything else is ordinary Rust data.
//! The array is indexed by CPU number (0 is the boot CPU); each CPU's GS base points at its own entry, which
//! [`this_cpu`] finds through `%gs:0`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Per-CPU state. `repr(C)`: the entry assembly uses the offsets below.
#[repr(C)]
pub(crate) struct CpuLocal {
    /// Address of this structure (for `%gs:0`-relative self lookups).
    self_addr: UnsafeCell<u64>,
    /// The user `rsp` while `syscall` entry saves registers.
    pub(crate) user_rsp_scratch: UnsafeCell<u64>,
    /// The kernel `rsp` that a return from user mode resumes at (set by `enter_user`).
    pub(crate) kernel_rsp: UnsafeCell<u64>,
    /// The `UserContext` that user-mode registers are saved into.
    pub(crate) user_context: UnsafeCell<u64>,
    /// 1 when the CPU has SMAP enabled (the entry assembly clears RFLAGS.AC then).
    pub(crate) smap: UnsafeCell<u64>,
    /// Interrupt handlers running on this CPU (0 in task context).
    pub(crate) irq_depth: AtomicU32,
    /// Physical address of the page table root loaded in CR3.
    pub(crate) active_root: AtomicU64,
    /// The FS base last written to the MSR (saves a `wrmsr` on most returns to user mode).
    pub(crate) fs_base: AtomicU64,
    /// The user GS base last written to the MSR.
    pub(crate) user_gs_base: AtomicU64,
    /// The running task (an `Arc<Task>` raw pointer, 0 before the scheduler starts).
    pub(crate) current_task: AtomicUsize,
    /// The task just switched away from, until the next one releases it (an `Arc<Task>` raw pointer or 0).
    pub(crate) prev_task: AtomicUsize,
    /// Set while this CPU may use user translations of its active space (user mode, a user copy); see
    /// [`crate::mm::VmSpace`]'s TLB shootdown.
    pub(crate) tlb_using: AtomicBool,
    /// Another CPU changed the active space's mappings: flush the TLB before the next use of user pages.
    pub(crate) tlb_pending: AtomicBool,
    /// This CPU's number (its index in the array).
    index: AtomicUsize,
}

/// Offsets the entry assembly uses.
pub(crate) const USER_RSP_SCRATCH: usize = 8;
pub(crate) const KERNEL_RSP: usize = 16;
pub(crate) const USER_CONTEXT: usize = 24;
pub(crate) const SMAP: usize = 32;
const _: () = {
    assert!(core::mem::offset_of!(CpuLocal, user_rsp_scratch) == USER_RSP_SCRATCH);
    assert!(core::mem::offset_of!(CpuLocal, kernel_rsp) == KERNEL_RSP);
    assert!(core::mem::offset_of!(CpuLocal, user_context) == USER_CONTEXT);
    assert!(core::mem::offset_of!(CpuLocal, smap) == SMAP);
};

// SAFETY: the `UnsafeCell` fields are written only by their own CPU (entry assembly with interrupts off, or
// `enter_user` on that CPU); the rest are atomics.
unsafe impl Sync for CpuLocal {}

/// The most CPUs ember runs on (Firecracker's limit).
pub(crate) const MAX_CPUS: usize = 32;

static CPUS: [CpuLocal; MAX_CPUS] = [const {
    CpuLocal {
        self_addr: UnsafeCell::new(0),
        user_rsp_scratch: UnsafeCell::new(0),
        kernel_rsp: UnsafeCell::new(0),
        user_context: UnsafeCell::new(0),
        smap: UnsafeCell::new(0),
        irq_depth: AtomicU32::new(0),
        active_root: AtomicU64::new(0),
        fs_base: AtomicU64::new(0),
        user_gs_base: AtomicU64::new(0),
        current_task: AtomicUsize::new(0),
        prev_task: AtomicUsize::new(0),
        tlb_using: AtomicBool::new(false),
        tlb_pending: AtomicBool::new(false),
        index: AtomicUsize::new(0),
    }
}; MAX_CPUS];

const IA32_GS_BASE: u32 = 0xC000_0101;
const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// Points this CPU's GS base at entry `index` (0 for the boot CPU, first thing at boot; an application
/// processor's own number at its start). Runs once per CPU, with interrupts off, before anything reads GS.
pub(super) fn init_cpu(index: usize, active_root: u64) {
    let cpu = &CPUS[index];
    let addr = cpu as *const CpuLocal as u64;
    cpu.active_root.store(active_root, Ordering::Relaxed);
    cpu.index.store(index, Ordering::Relaxed);
    // SAFETY: the entry is this CPU's alone (each index is handed to one CPU), written before any entry path
    // can read it (interrupts are off and user mode has not run on this CPU).
    unsafe {
        *cpu.self_addr.get() = addr;
        crate::arch::regs::wrmsr(IA32_GS_BASE, addr);
        crate::arch::regs::wrmsr(IA32_KERNEL_GS_BASE, 0);
    }
}

/// Records whether this CPU has SMAP on (for the entry assembly and the copy routines). Runs once per CPU
/// before it enters user mode.
pub(super) fn set_smap(smap: bool) {
    // SAFETY: this CPU's own field, written before any entry path on it reads it (user mode has not run).
    unsafe { *this_cpu().smap.get() = smap as u64 };
}

/// This CPU's data.
pub(crate) fn this_cpu() -> &'static CpuLocal {
    let addr: u64;
    // SAFETY: reading `%gs:0` only loads a value: GS is this CPU's `CpuLocal` from `init_cpu` on (the first
    // thing each CPU does), and in kernel mode GS always holds the kernel's base (the entry paths swap it).
    unsafe { core::arch::asm!("mov {}, gs:[0]", out(reg) addr, options(nostack, readonly, preserves_flags)) };
    // SAFETY: `self_addr` is the address of an entry of the static `CPUS` array.
    unsafe { &*(addr as *const CpuLocal) }
}

/// CPU `index`'s data (for other CPUs' view of it: the active space, the TLB flags).
pub(crate) fn cpu(index: usize) -> &'static CpuLocal {
    &CPUS[index]
}

/// The number of the CPU running this code (0 is the boot CPU; the numbers of the CPUs online are
/// `0..online_count()`).
pub fn current_index() -> usize {
    this_cpu().index.load(Ordering::Relaxed)
}

/// Whether this CPU is running an interrupt handler.
pub fn in_interrupt() -> bool {
    this_cpu().irq_depth.load(Ordering::Relaxed) > 0
}

/// Panics with a clear message when called in interrupt context: for everything that may sleep or block.
#[track_caller]
pub fn assert_may_sleep(what: &str) {
    if in_interrupt() {
        panic!("{what} called in interrupt context (handlers must not sleep or block)");
    }
}
