//! Per-CPU data, reached through the GS base while the CPU runs kernel code.
//!
//! The entry assembly reads a few fields at fixed offsets (`%gs:OFFSET`): the user stack pointer saved by
//! `syscall`, the kernel stack pointer and user context to return to. Everything else is ordinary Rust data.
//! One CPU runs today; the array is indexed by CPU number so that the SMP work only has to fill more entries
//! and point each CPU's GS base at its own.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

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

const MAX_CPUS: usize = 1;

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
    }
}; MAX_CPUS];

const IA32_GS_BASE: u32 = 0xC000_0101;
const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// Points the boot CPU's GS base at its `CpuLocal`. Runs once, on the boot CPU, before anything reads GS.
pub(super) fn init_boot_cpu(smap: bool) {
    let cpu = &CPUS[0];
    let addr = cpu as *const CpuLocal as u64;
    // SAFETY: the boot CPU's own fields, written before any entry path can read them (interrupts are off and
    // user mode has not run).
    unsafe {
        *cpu.self_addr.get() = addr;
        *cpu.smap.get() = smap as u64;
        crate::arch::regs::wrmsr(IA32_GS_BASE, addr);
        crate::arch::regs::wrmsr(IA32_KERNEL_GS_BASE, 0);
    }
}

/// This CPU's data. (One CPU today: the SMP work reads the CPU's own entry through `%gs:0`.)
pub(crate) fn this_cpu() -> &'static CpuLocal {
    &CPUS[0]
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
