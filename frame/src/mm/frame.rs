//! The physical frame allocator: [`ember_frames::FrameBitmap`] over all usable RAM, behind a lock.

use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::sync::Mutex;
use ember_boot::{FreeRanges, PhysRange};
use ember_frames::FrameBitmap;

static FRAMES: Mutex<Option<FrameBitmap<'static>>> = Mutex::new(None);

/// Creates the allocator with its bitmap in `storage` (RAM already removed from `free`) and hands it `free`.
pub(crate) fn init(free: &FreeRanges, storage: PhysRange) {
    let frames = free.as_slice().last().map_or(0, |r| r.end / PAGE_SIZE) as usize;
    let words = FrameBitmap::words_for(frames);
    assert!(storage.len() >= (words * 8) as u64, "frame bitmap storage too small");
    // SAFETY: `storage` was carved out of usable RAM for this purpose only, so nothing else aliases it; it is
    // mapped in the direct map (boot tables map the first 4 GiB there and `take` was limited to that, final
    // tables map all RAM), and the slice lives for the rest of the kernel's life, as the RAM does.
    let bitmap = unsafe { core::slice::from_raw_parts_mut(phys_to_virt(storage.start) as *mut u64, words) };
    let mut bitmap = FrameBitmap::new(bitmap, frames).expect("bitmap storage sized above");
    for r in free.as_slice() {
        bitmap.add_free((r.start / PAGE_SIZE) as usize, (r.len() / PAGE_SIZE) as usize);
    }
    *FRAMES.lock() = Some(bitmap);
}

/// Hands the page-aligned range `r` to the allocator (memory that became free after boot).
pub(crate) fn add_free(r: PhysRange) {
    if let Some(b) = FRAMES.lock().as_mut() {
        b.add_free((r.start / PAGE_SIZE) as usize, (r.len() / PAGE_SIZE) as usize);
    }
}

/// Allocates `count` contiguous frames aligned to `align` frames; returns the physical address of the first.
pub(crate) fn alloc(count: usize, align: usize) -> Option<u64> {
    let start = FRAMES.lock().as_mut()?.alloc(count, align)?;
    Some(start as u64 * PAGE_SIZE)
}

/// Allocates one frame and fills it with zeros; returns its physical address.
pub(crate) fn alloc_zeroed() -> Option<u64> {
    alloc_zeroed_block(1, 1)
}

/// Allocates `count` contiguous frames aligned to `align` frames and fills them with zeros; returns the
/// physical address of the first.
///
/// Memory the kernel keeps writing (its heap, its stacks) is taken zeroed even where nothing reads it
/// uninitialized: frames are recycled from exited programs, and under QEMU's TCG a page that held code it
/// translated keeps those translations until a write covers each of them. Until then every store to the page
/// goes through TCG's self-modifying-code check. Kernel stacks and heap blocks landing on such pages made one
/// LTP test (`rename14`, late in a long run) execute some 30 times fewer guest instructions per host second.
/// Zeroing once at allocation clears every stale translation on the page. (Under KVM it costs one page
/// write per frame, only when the heap or the stack pool grows.)
pub(crate) fn alloc_zeroed_block(count: usize, align: usize) -> Option<u64> {
    let paddr = alloc(count, align)?;
    // SAFETY: the frames were just allocated, so this is their only user, and they lie in the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(paddr) as *mut u8, 0, count * PAGE_SIZE as usize) };
    Some(paddr)
}

/// Bytes of RAM currently free.
pub fn free_bytes() -> u64 {
    FRAMES.lock().as_ref().map_or(0, |b| b.free_frames() as u64 * PAGE_SIZE)
}

/// Returns `count` frames starting at `paddr` to the allocator. A frame that was not allocated is reported and
/// left alone (the caller's bookkeeping is wrong; freeing it twice must not hand it out twice).
pub(crate) fn free(paddr: u64, count: usize) {
    if let Some(b) = FRAMES.lock().as_mut()
        && let Err(e) = b.free((paddr / PAGE_SIZE) as usize, count)
    {
        log::error!("frames: bad free of {count} frames at {paddr:#x}: {e:?}");
    }
}

/// Number of frames the allocator covers (the highest usable frame number plus one).
pub(crate) fn frame_count() -> usize {
    FRAMES.lock().as_ref().map_or(0, |b| b.frames())
}
