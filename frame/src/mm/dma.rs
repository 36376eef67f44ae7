//! Memory shared with devices (DMA): physically contiguous, zeroed, reached only through bounds-checked
//! volatile accessors and copies, never through references, because the device may write it at any time.
//!
//! A device is named memory only through [`DmaMemory::device_addr`] (implemented here), so the only device
//! addresses safe code can produce lie inside a live `DmaRegion` it owns.
//!
//! The reuse rule: freed regions are never handed back to the frame allocator, so a device that writes to a
//! region after its owner dropped it can never disturb memory that Rust code holds references to. A region
//! whose device address was never taken goes back to a DMA-only pool for reuse. A region whose device address
//! was taken (it was handed to a device) is quarantined for good when dropped: a request may still be in flight
//! or the device may ignore its reset, and without an IOMMU nothing the framework can check says when the
//! device has stopped, so reusing it could let a late write land in the next owner's data. Drivers keep their
//! regions for the device's lifetime; only failed bring-ups drop regions a device saw.

use super::frame;
use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::sync::Mutex;
use core::sync::atomic::{AtomicBool, Ordering};
use ember_devmem::{DmaMemory, DmaPool};

/// Freed regions, and the count of quarantined pages.
static POOL: Mutex<DmaPool> = Mutex::new(DmaPool::new());

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
    /// A device address inside it was taken: it is quarantined when dropped.
    given_to_device: AtomicBool,
}

impl DmaRegion {
    /// A zeroed region of at least `bytes` bytes (whole pages), physically contiguous and page-aligned.
    pub fn alloc(bytes: usize) -> Result<DmaRegion, DmaError> {
        let pages = bytes.max(1).div_ceil(PAGE_SIZE as usize);
        let reused = POOL.lock().take(pages);
        let paddr = match reused {
            Some(p) => p,
            None => frame::alloc(pages, 1).ok_or(DmaError::OutOfMemory)?,
        };
        let region = DmaRegion {
            paddr,
            pages,
            given_to_device: AtomicBool::new(false),
        };
        // SAFETY: the frames belong to this region alone (fresh from the allocator, or from the DMA pool, whose
        // regions no other owner holds); they lie in the direct map.
        unsafe { core::ptr::write_bytes(region.virt(0), 0, region.len()) };
        Ok(region)
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

/// Pages of freed DMA regions held in quarantine (see the module documentation).
pub fn quarantined_dma_pages() -> usize {
    POOL.lock().quarantined_pages()
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        let given = self.given_to_device.load(Ordering::Acquire);
        POOL.lock().give_back(self.paddr, self.pages, given);
    }
}

// SAFETY: the region's frames belong to it alone while it lives (from the frame allocator or the DMA pool,
// whose regions no other owner holds), no reference to them ever exists (all access is through volatile,
// bounds-checked copies), and once it is dropped they go back only to the DMA pool, or, once a device address
// was taken, to quarantine, never to the frame allocator. The device address is the physical address: no
// IOMMU.
unsafe impl DmaMemory for DmaRegion {
    fn len(&self) -> usize {
        DmaRegion::len(self)
    }
    fn device_base(&self) -> u64 {
        self.given_to_device.store(true, Ordering::Release);
        self.paddr
    }
    fn read16(&self, offset: usize) -> u16 {
        self.read_u16(offset).unwrap_or(0)
    }
    fn write16(&self, offset: usize, value: u16) {
        let _ = self.write_u16(offset, value);
    }
    fn read32(&self, offset: usize) -> u32 {
        self.read_u32(offset).unwrap_or(0)
    }
    fn write32(&self, offset: usize, value: u32) {
        let _ = self.write_u32(offset, value);
    }
    fn write64(&self, offset: usize, value: u64) {
        let _ = self.write_u64(offset, value);
    }
}
