//! Device memory (MMIO): mapped uncached on demand, reached only through bounds-checked volatile accessors.

use super::layout::{MMIO_BASE, MMIO_SIZE};
use super::page_table::{NO_CACHE, WRITABLE, WRITE_THROUGH};
use crate::arch::regs::phys_address_limit;
use crate::boot;
use crate::sync::Mutex;
use alloc::vec::Vec;
use ember_boot::PhysRange;
use ember_devmem::{ClaimError, ClaimId, Claims, Holder, page_span};

/// Who holds which device memory. See [`IoMem`].
static CLAIMS: Mutex<Claims> = Mutex::new(Claims::new());

/// The MMIO window: the next free virtual address and the mappings made so far (first physical page, bytes,
/// virtual address). Mappings are never removed; a later claim of pages already mapped reuses their mapping.
struct Window {
    next: u64,
    mappings: Vec<(u64, u64, u64)>,
}

static WINDOW: Mutex<Window> = Mutex::new(Window {
    next: MMIO_BASE,
    mappings: Vec::new(),
});

/// Why a device range could not be mapped or accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMemError {
    /// The range is empty, wraps, or reaches past the CPU's physical address width.
    BadRange,
    /// The range shares a page with RAM, ACPI memory or the first MiB: mapping that uncached and writable would
    /// let safe code corrupt memory that Rust owns.
    NotDevice,
    /// The range shares a page with a device the framework drives (local APIC, IOAPIC): safe code could reroute
    /// interrupts.
    FrameworkOwned,
    /// Another `IoMem` holds an overlapping range.
    Busy,
    /// The MMIO window or the frames for page tables ran out.
    NoSpace,
    /// An access past the end of the region, or not aligned to its size.
    BadAccess,
}

impl From<ClaimError> for IoMemError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::BadRange => IoMemError::BadRange,
            ClaimError::FrameworkOwned => IoMemError::FrameworkOwned,
            ClaimError::Busy => IoMemError::Busy,
        }
    }
}

/// Marks device memory as the framework's for good: [`IoMem::map`] refuses every page of it. For the
/// interrupt controllers (whether mapped or not) and anything else the framework drives.
pub(crate) fn reserve_for_framework(phys: u64, len: u64, what: &str) {
    if let Err(e) = CLAIMS.lock().claim(phys, len, Holder::Framework) {
        log::warn!("mmio: cannot reserve {what} at {phys:#x}: {e:?}");
    }
}

/// A mapped range of device registers, held exclusively: no other `IoMem` overlaps it, and no page of it is
/// RAM or a device the framework drives. Accesses are volatile, uncached and bounds-checked. Dropping it
/// gives the range back.
#[derive(Debug)]
pub struct IoMem {
    virt: u64,
    phys: u64,
    len: usize,
    claim: Option<ClaimId>,
}

impl IoMem {
    /// Acquires and maps `len` bytes of device memory at physical address `phys`. Refuses a range that shares a
    /// page with RAM, ACPI memory or the first MiB (all of which the direct map covers as ordinary memory) or
    /// with a device the framework drives, that overlaps another `IoMem`, or that reaches past the CPU's
    /// physical address width.
    pub fn map(phys: u64, len: usize) -> Result<IoMem, IoMemError> {
        Self::check_device_range(phys, len)?;
        let claim = CLAIMS.lock().claim(phys, len as u64, Holder::Driver)?;
        Self::map_claimed(phys, len, Some(claim)).inspect_err(|_| CLAIMS.lock().release(claim))
    }

    /// Maps device memory the framework reserved with [`reserve_for_framework`] (the framework's own path to
    /// its devices). The range must lie inside one reservation.
    pub(crate) fn map_reserved(phys: u64, len: usize) -> Result<IoMem, IoMemError> {
        Self::check_device_range(phys, len)?;
        if !CLAIMS.lock().framework_holds(phys, len as u64) {
            return Err(IoMemError::BadRange);
        }
        Self::map_claimed(phys, len, None)
    }

    /// Checks that the pages `len` bytes at `phys` touch are device memory the CPU can address.
    fn check_device_range(phys: u64, len: usize) -> Result<(), IoMemError> {
        let (_, last) = page_span(phys, len as u64).ok_or(IoMemError::BadRange)?;
        if last > phys_address_limit() {
            return Err(IoMemError::BadRange);
        }
        if super::direct_mapped(boot::info(), &PhysRange::new(phys, phys + len as u64)) {
            return Err(IoMemError::NotDevice);
        }
        Ok(())
    }

    fn map_claimed(phys: u64, len: usize, claim: Option<ClaimId>) -> Result<IoMem, IoMemError> {
        let (first, last) = page_span(phys, len as u64).ok_or(IoMemError::BadRange)?;
        let span = last - first;
        let mut window = WINDOW.lock();
        let reused = window
            .mappings
            .iter()
            .find(|&&(p, n, _)| p <= first && last <= p + n)
            .map(|&(p, _, v)| v + (first - p));
        let virt = match reused {
            Some(v) => v,
            None => {
                let v = window.next;
                let next = v
                    .checked_add(span)
                    .filter(|&e| e <= MMIO_BASE + MMIO_SIZE)
                    .ok_or(IoMemError::NoSpace)?;
                window.mappings.try_reserve(1).map_err(|_| IoMemError::NoSpace)?;
                // Taken even if mapping fails below: a half-made mapping is never reused.
                window.next = next;
                let flags = WRITABLE | NO_CACHE | WRITE_THROUGH;
                // SAFETY: the physical pages are device memory (checked by `check_device_range` against every RAM
                // and ACPI region, page-rounded), and the virtual range is fresh from the MMIO window, used by
                // this mapping alone.
                unsafe { super::kernel_map(v, first, span, flags) }.map_err(|_| IoMemError::NoSpace)?;
                window.mappings.push((first, span, v));
                v
            }
        };
        Ok(IoMem {
            virt: virt + (phys - first),
            phys,
            len,
            claim,
        })
    }

    /// Physical address of the first byte.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never true: `map` refuses empty ranges).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check<T>(&self, offset: usize) -> Result<*mut T, IoMemError> {
        let size = size_of::<T>();
        if !offset.is_multiple_of(size) || offset.checked_add(size).is_none_or(|e| e > self.len) {
            return Err(IoMemError::BadAccess);
        }
        Ok((self.virt + offset as u64) as *mut T)
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read32(&self, offset: usize) -> Result<u32, IoMemError> {
        let p = self.check::<u32>(offset)?;
        // SAFETY: `check` proved the access aligned and inside the mapping, which is device memory mapped
        // uncached (mappings are never removed), and inside this `IoMem`'s exclusive claim.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: usize, value: u32) -> Result<(), IoMemError> {
        let p = self.check::<u32>(offset)?;
        // SAFETY: as in `read32`; writing device registers cannot touch memory Rust owns.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Reads the byte register at `offset`.
    pub fn read8(&self, offset: usize) -> Result<u8, IoMemError> {
        let p = self.check::<u8>(offset)?;
        // SAFETY: as in `read32`.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the byte register at `offset`.
    pub fn write8(&self, offset: usize, value: u8) -> Result<(), IoMemError> {
        let p = self.check::<u8>(offset)?;
        // SAFETY: as in `write32`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }
}

impl Drop for IoMem {
    fn drop(&mut self) {
        if let Some(claim) = self.claim {
            CLAIMS.lock().release(claim);
        }
    }
}
