//! Kernel stacks for tasks: 64 KiB each in their own window of the kernel's address space, with an unmapped
//! guard page below, so an overflow faults (and is named as such) instead of corrupting a neighbour.
//!
//! Freed stacks go to a pool and are reused as they are (still mapped): spawning a task then touches no page
//! table, and the memory held is bounded by the most tasks ever alive at once.

use crate::mm::kernel_map_stack;
use crate::mm::layout::{KSTACK_BASE, KSTACK_SIZE, PAGE_SIZE};
use crate::sync::Mutex;
use alloc::vec::Vec;

/// Usable bytes of a task's kernel stack.
pub(crate) const STACK_BYTES: u64 = 64 * 1024;
/// Virtual span of one stack slot: the stack and its guard page, rounded to a power of two.
const SLOT: u64 = 128 * 1024;

struct Slots {
    next: u64,
    free: Vec<u64>,
}

static SLOTS: Mutex<Slots> = Mutex::new(Slots {
    next: 0,
    free: Vec::new(),
});

/// A task's kernel stack; returned to the pool on drop.
#[derive(Debug)]
pub(crate) struct KernelStack {
    bottom: u64,
}

impl KernelStack {
    /// A stack, from the pool or freshly mapped; `None` when memory or the window is exhausted.
    pub(crate) fn new() -> Option<KernelStack> {
        let mut slots = SLOTS.lock();
        if let Some(bottom) = slots.free.pop() {
            return Some(KernelStack { bottom });
        }
        let slot = slots.next;
        if (slot + 1) * SLOT > KSTACK_SIZE {
            return None;
        }
        // The guard page is the slot's first page; the stack fills the top of the slot.
        let bottom = KSTACK_BASE + slot * SLOT + SLOT - STACK_BYTES;
        kernel_map_stack(bottom, STACK_BYTES).ok()?;
        slots.next += 1;
        Some(KernelStack { bottom })
    }

    /// One past the highest byte (16-byte aligned).
    pub(crate) fn top(&self) -> u64 {
        self.bottom + STACK_BYTES
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        SLOTS.lock().free.push(self.bottom);
    }
}

/// Whether `addr` lies in a task stack's guard page (for the page-fault diagnostic).
pub(crate) fn is_guard_page(addr: u64) -> bool {
    (KSTACK_BASE..KSTACK_BASE + KSTACK_SIZE).contains(&addr) && (addr - KSTACK_BASE) % SLOT < SLOT - STACK_BYTES
}

const _: () = assert!(SLOT - STACK_BYTES >= PAGE_SIZE);
