//! Device memory (MMIO): mapped uncached on demand, reached only through bounds-checked volatile accessors.

use super::layout::{MMIO_BASE, MMIO_SIZE, PAGE_SIZE};
use super::page_table::{NO_CACHE, WRITABLE, WRITE_THROUGH};
use crate::boot;
use ember_boot::PhysRange;
use spin::Mutex;

/// Next free virtual address in the MMIO window.
static NEXT_VIRT: Mutex<u64> = Mutex::new(MMIO_BASE);

/// Why a device range could not be mapped or accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMemError {
    /// The range is empty, wraps, or lies past the physical address space.
    BadRange,
    /// The range overlaps RAM or ACPI memory: mapping that uncached and writable would let safe code corrupt
    /// memory that Rust owns.
    NotDevice,
    /// The MMIO window or the frames for page tables ran out.
    NoSpace,
    /// An access past the end of the region, or not aligned to its size.
    BadAccess,
}

/// A mapped range of device registers. Accesses are volatile, uncached and bounds-checked.
#[derive(Debug)]
pub struct IoMem {
    virt: u64,
    phys: u64,
    len: usize,
}

impl IoMem {
    /// Maps `len` bytes of device memory at physical address `phys`. Refuses anything that overlaps RAM,
    /// ACPI memory or the first MiB (all of which the direct map covers as ordinary memory).
    pub fn map(phys: u64, len: usize) -> Result<IoMem, IoMemError> {
        let end = phys
            .checked_add(len as u64)
            .filter(|&e| len > 0 && e <= 1 << 52)
            .ok_or(IoMemError::BadRange)?;
        let range = PhysRange::new(phys, end);
        if super::direct_mapped(boot::info(), &range) {
            return Err(IoMemError::NotDevice);
        }
        let first = phys & !(PAGE_SIZE - 1);
        let span = (end - first).next_multiple_of(PAGE_SIZE);
        let virt = {
            let mut next = NEXT_VIRT.lock();
            if *next + span > MMIO_BASE + MMIO_SIZE {
                return Err(IoMemError::NoSpace);
            }
            let v = *next;
            *next += span;
            v
        };
        let flags = WRITABLE | NO_CACHE | WRITE_THROUGH;
        // SAFETY: the physical range is device memory (checked above against every RAM and ACPI region), and the
        // virtual range was just reserved from the MMIO window for this mapping alone.
        unsafe { super::kernel_map(virt, first, span, flags) }.map_err(|_| IoMemError::NoSpace)?;
        Ok(IoMem {
            virt: virt + (phys - first),
            phys,
            len,
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
        // uncached for this `IoMem`'s lifetime (mappings are never removed).
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
