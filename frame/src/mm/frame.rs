//! The physical frame allocator: [`ember_frames::FrameBitmap`] over all usable RAM, behind a lock, with a
//! small cache of free single frames per CPU in front of it.
//!
//! Single frames (user pages, page tables: nearly every allocation) come from and go to this CPU's cache,
//! which takes [`BATCH`] frames from the bitmap at once when empty and gives [`BATCH`] back when full, so the
//! bitmap's lock is taken once per [`BATCH`] allocations or frees instead of every time, and CPUs faulting in
//! pages at once do not meet on it. A cached frame stays marked in use in the bitmap. A cache is a lock of its
//! own, taken by other CPUs only to drain it when the bitmap runs dry, so it is nearly never contended.

use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::cpu::local::{MAX_CPUS, current_index};
use crate::sync::Mutex;
use core::sync::atomic::{AtomicUsize, Ordering};
use ember_boot::{FreeRanges, PhysRange};
use ember_frames::FrameBitmap;

static FRAMES: Mutex<Option<FrameBitmap<'static>>> = Mutex::new(None);

/// Frames a CPU's cache holds at most.
const CACHE: usize = 64;
/// Frames moved between a cache and the bitmap at once.
const BATCH: usize = 32;

/// One CPU's free single frames (physical addresses; `frames[..len]`).
struct Cache {
    len: usize,
    frames: [u64; CACHE],
}

static CACHES: [Mutex<Cache>; MAX_CPUS] = [const {
    Mutex::new(Cache {
        len: 0,
        frames: [0; CACHE],
    })
}; MAX_CPUS];

/// Frames held by the caches, all CPUs together (free memory, for [`free_bytes`]).
static CACHED: AtomicUsize = AtomicUsize::new(0);

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
/// A single frame comes from this CPU's cache. When the bitmap has nothing left, the caches are drained into
/// it and the allocation tried again, so no request fails while any CPU's cache holds a frame.
pub(crate) fn alloc(count: usize, align: usize) -> Option<u64> {
    if count == 1 && align <= 1 {
        return alloc_cached().or_else(|| {
            drain_caches();
            alloc_cached()
        });
    }
    let from_bitmap = || Some(FRAMES.lock().as_mut()?.alloc(count, align)? as u64 * PAGE_SIZE);
    from_bitmap().or_else(|| {
        drain_caches();
        from_bitmap()
    })
}

/// One frame from this CPU's cache, which is refilled from the bitmap when empty.
fn alloc_cached() -> Option<u64> {
    let mut cache = CACHES[current_index()].lock();
    if cache.len == 0 {
        let mut frames = FRAMES.lock();
        let bitmap = frames.as_mut()?;
        while cache.len < BATCH {
            let Some(f) = bitmap.alloc(1, 1) else { break };
            let len = cache.len;
            cache.frames[len] = f as u64 * PAGE_SIZE;
            cache.len += 1;
        }
        CACHED.fetch_add(cache.len, Ordering::Relaxed);
    }
    cache.len = cache.len.checked_sub(1)?;
    CACHED.fetch_sub(1, Ordering::Relaxed);
    Some(cache.frames[cache.len])
}

/// Gives every CPU's cached frames back to the bitmap (memory is short).
fn drain_caches() {
    for cache in &CACHES {
        let mut cache = cache.lock();
        if cache.len != 0 {
            let len = cache.len;
            give_back(&cache.frames[..len]);
            cache.len = 0;
        }
    }
}

/// Returns cached frames `frames` to the bitmap.
fn give_back(frames: &[u64]) {
    CACHED.fetch_sub(frames.len(), Ordering::Relaxed);
    if let Some(b) = FRAMES.lock().as_mut() {
        for &paddr in frames {
            if let Err(e) = b.free((paddr / PAGE_SIZE) as usize, 1) {
                log::error!("frames: bad free of a cached frame at {paddr:#x}: {e:?}");
            }
        }
    }
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

/// Bytes of RAM currently free (the CPUs' caches included).
pub fn free_bytes() -> u64 {
    let cached = CACHED.load(Ordering::Relaxed) as u64;
    FRAMES.lock().as_ref().map_or(0, |b| b.free_frames() as u64 + cached) * PAGE_SIZE
}

/// Returns `count` frames starting at `paddr` to the allocator (a single frame to this CPU's cache). A frame
/// that was not allocated is reported and left alone (the caller's bookkeeping is wrong; freeing it twice must
/// not hand it out twice): the bitmap checks what reaches it, and a single frame is looked for in this CPU's
/// cache first. (A frame freed twice on two CPUs while both copies sit in caches is caught only when the
/// caches give them back; the bitmap refuses the second.)
pub(crate) fn free(paddr: u64, count: usize) {
    if count == 1 && paddr.is_multiple_of(PAGE_SIZE) {
        let mut cache = CACHES[current_index()].lock();
        let len = cache.len;
        if cache.frames[..len].contains(&paddr) {
            log::error!("frames: bad free of frame {paddr:#x}: already free");
            return;
        }
        if len == CACHE {
            give_back(&cache.frames[CACHE - BATCH..]);
            cache.len -= BATCH;
        }
        let len = cache.len;
        cache.frames[len] = paddr;
        cache.len += 1;
        CACHED.fetch_add(1, Ordering::Relaxed);
        return;
    }
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
