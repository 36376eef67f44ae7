//! Memory shared with devices (DMA): physically contiguous, zeroed, reached only through bounds-checked
//! volatile accessors and copies, never through references, because the device may write it at any time.
//!
//! Freed regions go to a DMA-only pool and are never handed back to the frame allocator: a device that still
//! writes to a region after its owner dropped it (a buggy driver, a misbehaving device) can then only disturb
//! another DMA region's data, never memory that Rust code holds references to.

use super::frame;
use super::layout::{PAGE_SIZE, phys_to_virt};
use alloc::vec::Vec;
use spin::Mutex;

/// Freed regions: (physical address, pages).
static POOL: Mutex<Vec<(u64, usize)>> = Mutex::new(Vec::new());

/// Why a DMA region could not be made or used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    /// No contiguous memory of that size is left.
    OutOfMemory,
    /// An access past the end of the region, or not aligned to its size.
    BadAccess,
}

/// A physically contiguous region of memory shared with a device.
#[derive(Debug)]
pub struct DmaRegion {
    paddr: u64,
    pages: usize,
}

impl DmaRegion {
    /// A zeroed region of at least `bytes` bytes (whole pages), physically contiguous and page-aligned.
    pub fn alloc(bytes: usize) -> Result<DmaRegion, DmaError> {
        let pages = bytes.max(1).div_ceil(PAGE_SIZE as usize);
        let reused = {
            let mut pool = POOL.lock();
            pool.iter()
                .position(|&(_, p)| p == pages)
                .map(|i| pool.swap_remove(i).0)
        };
        let paddr = match reused {
            Some(p) => p,
            None => frame::alloc(pages, 1).ok_or(DmaError::OutOfMemory)?,
        };
        let region = DmaRegion { paddr, pages };
        // SAFETY: the frames belong to this region alone (fresh from the allocator, or from the DMA pool, whose
        // regions no other owner holds); they lie in the direct map.
        unsafe { core::ptr::write_bytes(region.virt(0), 0, region.len()) };
        Ok(region)
    }

    /// Physical address of the first byte (what the device is given).
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.pages * PAGE_SIZE as usize
    }

    /// Whether the region is empty (never: regions have at least one page).
    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    fn virt(&self, offset: usize) -> *mut u8 {
        (phys_to_virt(self.paddr) + offset as u64) as *mut u8
    }

    fn check<T>(&self, offset: usize) -> Result<*mut T, DmaError> {
        let size = size_of::<T>();
        if !offset.is_multiple_of(size) || offset.checked_add(size).is_none_or(|e| e > self.len()) {
            return Err(DmaError::BadAccess);
        }
        Ok(self.virt(offset) as *mut T)
    }

    /// Reads a `u16` at `offset` (aligned), as the device left it.
    pub fn read_u16(&self, offset: usize) -> Result<u16, DmaError> {
        let p = self.check::<u16>(offset)?;
        // SAFETY: `check` proved the access aligned and inside this region's frames, which only this region
        // (and its device) use; volatile because the device writes them behind the compiler's back.
        Ok(unsafe { p.read_volatile() })
    }

    /// Reads a `u32` at `offset` (aligned).
    pub fn read_u32(&self, offset: usize) -> Result<u32, DmaError> {
        let p = self.check::<u32>(offset)?;
        // SAFETY: as in `read_u16`.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes a `u16` at `offset` (aligned).
    pub fn write_u16(&self, offset: usize, value: u16) -> Result<(), DmaError> {
        let p = self.check::<u16>(offset)?;
        // SAFETY: as in `read_u16`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Writes a `u32` at `offset` (aligned).
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), DmaError> {
        let p = self.check::<u32>(offset)?;
        // SAFETY: as in `read_u16`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Writes a `u64` at `offset` (aligned).
    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), DmaError> {
        let p = self.check::<u64>(offset)?;
        // SAFETY: as in `read_u16`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Copies `out.len()` bytes from `offset` into `out`.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaError> {
        if offset.checked_add(out.len()).is_none_or(|e| e > self.len()) {
            return Err(DmaError::BadAccess);
        }
        // SAFETY: the range lies inside this region's frames (checked above); `out` is a separate, exclusive
        // buffer. The device may change bytes during the copy; the copy then holds some mix, which is data,
        // not a memory-safety problem, since no reference to the region exists.
        unsafe { core::ptr::copy_nonoverlapping(self.virt(offset), out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        if offset.checked_add(data.len()).is_none_or(|e| e > self.len()) {
            return Err(DmaError::BadAccess);
        }
        // SAFETY: as in `read_bytes`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.virt(offset), data.len()) };
        Ok(())
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        POOL.lock().push((self.paddr, self.pages));
    }
}
