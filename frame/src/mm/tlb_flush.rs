//! [`TlbFlush`]: what a change to a [`VmSpace`] leaves to do once its page-table entries are written: the
//! other CPUs' TLB shootdown, then the release of the frames the change unmapped.
//!
//! A change's caller usually holds a lock of its own over the change (the kernel's regions lock of an address
//! space). Waiting for other CPUs' acknowledgements under that lock made every fault and `mmap` of the
//! process's other threads wait for the slowest vCPU. The change therefore returns the rest of its work as a
//! value, which the caller drops once it released its lock.
//!
//! Soundness: a frame that a cleared entry referenced may still be reachable through a stale TLB entry of
//! another CPU until that CPU flushed. The frames stay owned by the `TlbFlush` (one reference each, so the frame
//! allocator cannot hand them out again) until its `Drop` has run the shootdown, which returns only when every
//! other CPU with the space loaded either flushed or will flush before its next use of user translations (the
//! protocol in [`super::vm_space`]). `Drop` releases the frames after the shootdown, whatever way the value
//! ends: dropped early, late, or on an error path. Forgetting it (`mem::forget`) leaks
//! the frames, which is safe; the count of flushes in flight then stays raised, which costs
//! [`VmSpace::flush_pending`] a shootdown each time and nothing else.

use super::page::Frame;
use super::vm_space::VmSpace;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

/// The rest of a change to a [`VmSpace`]: drop it (after releasing the caller's own locks) to shoot down the
/// other CPUs' stale translations and then free the frames the change unmapped. See the module documentation.
#[must_use = "dropping it at once waits for the other CPUs; keep it until the caller's locks are released"]
pub struct TlbFlush<'a> {
    space: &'a VmSpace,
    /// Whether entries changed that other CPUs may have cached (counted in the space's flushes in flight).
    shoot: bool,
    /// The CPU that made the change (and flushed its own translations).
    cpu: usize,
    /// The frames the change unmapped, released after the shootdown.
    frames: Vec<Frame>,
}

impl<'a> TlbFlush<'a> {
    /// Work for `space`: a shootdown when `shoot` (counted in flight from now on), then `frames` freed. The
    /// caller has flushed this CPU's own translations and holds no table lock when the value is dropped.
    pub(super) fn new(space: &'a VmSpace, shoot: bool, frames: Vec<Frame>) -> TlbFlush<'a> {
        if shoot {
            space.flushes_in_flight.fetch_add(1, Ordering::SeqCst);
        }
        TlbFlush {
            space,
            shoot,
            cpu: crate::cpu::current_index(),
            frames,
        }
    }
}

impl Drop for TlbFlush<'_> {
    fn drop(&mut self) {
        if self.shoot {
            // The shootdown leaves out the CPU it runs on. Callers drop the value before they could block and
            // move, but should this task run elsewhere now, that CPU is the one that did not flush.
            if crate::cpu::current_index() != self.cpu && self.space.is_active() {
                crate::arch::regs::flush_tlb();
            }
            self.space.shootdown();
            self.space.flushes_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        // Only now may the frames go back to the allocator (see the module documentation).
        drop(core::mem::take(&mut self.frames));
    }
}
