//! Kernel stacks, each with an unmapped guard page below it so that an overflow faults instead of silently
//! overwriting whatever lies underneath.

use core::cell::UnsafeCell;

const GUARD: usize = 4096;
const BOOT_STACK_SIZE: usize = 64 * 1024;
const TRAP_STACK_SIZE: usize = 32 * 1024;
const EMERGENCY_STACK_SIZE: usize = 16 * 1024;

/// A stack preceded by a guard page. Only its address is used by Rust code; the CPU writes to it.
#[repr(C, align(4096))]
pub(crate) struct GuardedStack<const N: usize> {
    guard: [u8; GUARD],
    stack: UnsafeCell<[u8; N]>,
}

// SAFETY: Rust code never reads or writes the stack memory through this type; it only takes addresses.
unsafe impl<const N: usize> Sync for GuardedStack<N> {}

impl<const N: usize> GuardedStack<N> {
    const fn new() -> Self {
        Self {
            guard: [0; GUARD],
            stack: UnsafeCell::new([0; N]),
        }
    }

    /// Virtual address of the guard page.
    pub(crate) fn guard_page(&self) -> u64 {
        self.guard.as_ptr() as u64
    }

    /// Virtual address one past the top of the stack (16-byte aligned).
    pub(crate) fn top(&self) -> u64 {
        self.stack.get() as u64 + N as u64
    }
}

/// Offset of the boot stack's top from the start of [`BOOT_STACK`], for the entry assembly.
pub(crate) const BOOT_STACK_TOP_OFFSET: usize = GUARD + BOOT_STACK_SIZE;

/// The stack the kernel's `main` runs on.
pub(crate) static BOOT_STACK: GuardedStack<BOOT_STACK_SIZE> = GuardedStack::new();
/// IST stack for exceptions and interrupts.
pub(crate) static TRAP_STACK: GuardedStack<TRAP_STACK_SIZE> = GuardedStack::new();
/// IST stack for double faults.
pub(crate) static DOUBLE_FAULT_STACK: GuardedStack<EMERGENCY_STACK_SIZE> = GuardedStack::new();
/// IST stack for NMIs.
pub(crate) static NMI_STACK: GuardedStack<EMERGENCY_STACK_SIZE> = GuardedStack::new();
/// IST stack for machine checks.
pub(crate) static MACHINE_CHECK_STACK: GuardedStack<EMERGENCY_STACK_SIZE> = GuardedStack::new();

/// Every guard page with the name of the stack it protects.
pub(crate) fn guard_pages() -> [(u64, &'static str); 5] {
    [
        (BOOT_STACK.guard_page(), "boot stack"),
        (TRAP_STACK.guard_page(), "trap stack"),
        (DOUBLE_FAULT_STACK.guard_page(), "double-fault stack"),
        (NMI_STACK.guard_page(), "NMI stack"),
        (MACHINE_CHECK_STACK.guard_page(), "machine-check stack"),
    ]
}
