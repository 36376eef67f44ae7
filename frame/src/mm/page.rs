//! [`Frame`]: a reference-counted physical page of ordinary memory, the unit user address spaces are built of.
//!
//! Every frame the allocator covers has a 32-bit reference count in a table set up at boot (4 bytes per 4 KiB
//! page, 0.1% of RAM). A `Frame` value owns one reference; cloning it shares the page (copy-on-write starts
//! there), and dropping the last reference returns the page to the frame allocator. A page-table entry of a
//! [`super::VmSpace`] owns a reference too, so a page stays allocated while any address space maps it.
//!
//! The contents are untyped bytes that user code may read and write at any time: Rust code never holds a
//! reference into a frame, it copies in and out.

use super::frame;
use super::layout::{PAGE_SIZE, phys_to_virt};
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Once;

/// The reference-count table, one entry per frame the allocator covers.
static REFS: Once<&'static [AtomicU32]> = Once::new();

/// Sets up the reference-count table. Runs once, after the final page tables are live (the table may lie
/// anywhere in RAM).
pub(crate) fn init() {
    let frames = frame::frame_count();
    let bytes = (frames * size_of::<AtomicU32>()).next_multiple_of(PAGE_SIZE as usize);
    let pages = bytes / PAGE_SIZE as usize;
    let paddr = frame::alloc(pages, 1).expect("memory for the page reference counts");
    // SAFETY: the frames were just allocated for this table alone and are never freed; the direct map covers all
    // RAM; zeroed bytes are valid `AtomicU32`s (0 references); the slice lives as long as the kernel.
    let table = unsafe {
        let p = phys_to_virt(paddr) as *mut AtomicU32;
        core::ptr::write_bytes(p as *mut u8, 0, bytes);
        core::slice::from_raw_parts(p, frames)
    };
    REFS.call_once(|| table);
}

fn count_of(paddr: u64) -> &'static AtomicU32 {
    let refs = REFS.get().expect("page reference counts used before memory init");
    &refs[(paddr / PAGE_SIZE) as usize]
}

/// One reference to a page of RAM. See the module documentation.
#[derive(Debug)]
pub struct Frame {
    paddr: u64,
}

impl Frame {
    /// A fresh page filled with zeros, or `None` when memory is exhausted.
    pub fn alloc_zeroed() -> Option<Frame> {
        let paddr = frame::alloc_zeroed()?;
        count_of(paddr).store(1, Ordering::Relaxed);
        Some(Frame { paddr })
    }

    /// A fresh page holding a copy of `self`'s contents (the copy in copy-on-write).
    pub fn duplicate(&self) -> Option<Frame> {
        let paddr = frame::alloc(1, 1)?;
        // SAFETY: the new frame was just allocated, so nothing else refers to it; `self`'s page is allocated
        // while `self` lives. Both lie in the direct map. The source may be written concurrently by user code
        // on another CPU (it is untyped user memory), which can only make the copy's bytes arbitrary.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(self.paddr) as *const u8,
                phys_to_virt(paddr) as *mut u8,
                PAGE_SIZE as usize,
            )
        };
        count_of(paddr).store(1, Ordering::Relaxed);
        Some(Frame { paddr })
    }

    /// The page's physical address: an identity that stays the same in every address space mapping it
    /// (process-shared futexes are named by it).
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// How many references (values and page-table entries) the page has.
    pub fn ref_count(&self) -> u32 {
        count_of(self.paddr).load(Ordering::Acquire)
    }

    /// Gives up this value's reference to a page-table entry; [`Frame::from_raw`] takes it back.
    pub(crate) fn into_raw(self) -> u64 {
        let paddr = self.paddr;
        core::mem::forget(self);
        paddr
    }

    /// Takes back a reference that [`Frame::into_raw`] gave away.
    ///
    /// # Safety
    /// `paddr` must come from `into_raw`, and that reference must not be taken back twice.
    pub(crate) unsafe fn from_raw(paddr: u64) -> Frame {
        Frame { paddr }
    }

    /// Another reference to a page whose reference a page-table entry holds.
    ///
    /// # Safety
    /// `paddr` must be a page whose reference count is held above zero for the duration of the call (e.g. by
    /// a page-table entry under its table's lock).
    pub(crate) unsafe fn clone_raw(paddr: u64) -> Frame {
        count_of(paddr).fetch_add(1, Ordering::Relaxed);
        Frame { paddr }
    }

    /// Copies bytes from the page at `offset` into `buf`; `false` when the range is past the page's end.
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> bool {
        if offset.checked_add(buf.len()).is_none_or(|e| e > PAGE_SIZE as usize) {
            return false;
        }
        // SAFETY: the range lies inside the page, which stays allocated while `self` lives and is reached
        // through the direct map; its bytes are untyped, so a concurrent writer can only change what is read.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (phys_to_virt(self.paddr) as *const u8).add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        true
    }

    /// Copies `data` into the page at `offset`; `false` when the range is past the page's end.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> bool {
        if offset.checked_add(data.len()).is_none_or(|e| e > PAGE_SIZE as usize) {
            return false;
        }
        // SAFETY: as in `read_bytes`; no Rust reference points into a frame, so writing it aliases nothing.
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                (phys_to_virt(self.paddr) as *mut u8).add(offset),
                data.len(),
            )
        };
        true
    }
}

impl Clone for Frame {
    fn clone(&self) -> Frame {
        // SAFETY: `self` holds a reference, so the count is above zero during the call.
        unsafe { Frame::clone_raw(self.paddr) }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if count_of(self.paddr).fetch_sub(1, Ordering::AcqRel) == 1 {
            frame::free(self.paddr, 1);
        }
    }
}
