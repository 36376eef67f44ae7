//! The kernel heap (`alloc`): a buddy allocator that grows on demand with frames from the frame allocator.
//!
//! A growth step takes physically contiguous frames (reached through the direct map) when it can. Once user
//! pages have scattered free memory, a big block may not be contiguous anywhere: the step then maps single
//! frames, wherever they are, into the heap window, so the heap grows as long as any memory is free.

use super::frame;
use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::sync::Mutex;
use buddy_system_allocator::Heap;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

/// Smallest growth step; larger requests grow the heap by their own (power-of-two) size.
const GROW_MIN: usize = 64 * 1024;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Heap::new()));

/// The buddy heap behind a profiled lock ([`crate::sync::Mutex`]), grown by [`grow`] when a request fails.
struct KernelHeap(Mutex<Heap<48>>);

// SAFETY: `alloc` hands out blocks from the buddy heap, which never gives one block twice and returns blocks
// of at least the layout's size and alignment; `dealloc` gives back a block `alloc` made with the same layout
// (the `GlobalAlloc` contract). The lock serializes every access to the heap's lists.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        if let Ok(block) = heap.alloc(layout) {
            return block.as_ptr();
        }
        grow(&mut heap, &layout);
        heap.alloc(layout).map_or(core::ptr::null_mut(), |b| b.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: the caller gives back a block this allocator made with `layout`, and uses it no more.
            unsafe { self.0.lock().dealloc(block, layout) };
        }
    }
}

static HEAP_BYTES: AtomicU64 = AtomicU64::new(0);

/// Called by the allocator when a request cannot be met: adds a block of fresh frames big enough for it. When
/// no such block is left, it adds nothing and the allocation fails (`try_reserve` reports it; an infallible
/// allocation ends in the panic handler with a message).
fn grow(heap: &mut Heap<48>, layout: &Layout) {
    let Some(bytes) = layout.size().max(layout.align()).checked_next_power_of_two() else {
        return;
    };
    let bytes = bytes.max(GROW_MIN);
    let frames = bytes / PAGE_SIZE as usize;
    // The block is aligned to its own size: the buddy allocator splits an added range at its address's
    // alignment, so a 4 MiB block at a 2 MiB boundary would become two 2 MiB blocks and a 4 MiB request would
    // still fail. (The heap window below aligns its blocks the same way.)
    // Zeroed frames: see `frame::alloc_zeroed_block` (the heap window's frames are zeroed as they are mapped).
    let start = match frame::alloc_zeroed_block(frames, frames) {
        Some(paddr) => phys_to_virt(paddr) as usize,
        None => match super::heap_window_grow(bytes as u64) {
            Some(virt) => virt as usize,
            None => return,
        },
    };
    // SAFETY: the memory was just allocated for the heap alone and is never freed: contiguous frames in the
    // direct map (all RAM is mapped there before the kernel's main runs, the first user of the heap), or fresh
    // frames mapped at a part of the heap window that nothing else uses.
    unsafe { heap.add_to_heap(start, start + bytes) };
    HEAP_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// Bytes of RAM the heap has taken from the frame allocator so far.
pub fn heap_bytes() -> u64 {
    HEAP_BYTES.load(Ordering::Relaxed)
}
