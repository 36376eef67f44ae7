//! 4-level x86-64 page tables, edited through the direct map.

use super::frame;
use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::arch::regs;

/// Entry maps a page or table.
pub(crate) const PRESENT: u64 = 1 << 0;
/// Writes allowed.
pub(crate) const WRITABLE: u64 = 1 << 1;
/// Write-through caching (with [`NO_CACHE`]: uncached, for MMIO).
pub(crate) const WRITE_THROUGH: u64 = 1 << 3;
/// Caching disabled.
pub(crate) const NO_CACHE: u64 = 1 << 4;
/// A 2 MiB or 1 GiB leaf in a PD or PDPT.
const HUGE: u64 = 1 << 7;
/// Instruction fetch forbidden (when the CPU has NX).
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

const SIZE_2M: u64 = 2 << 20;
const SIZE_1G: u64 = 1 << 30;

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapError {
    /// No frame was left for an intermediate table.
    OutOfMemory,
    /// Something is already mapped there.
    AlreadyMapped(u64),
}

/// A top-level page table and everything under it.
pub(crate) struct PageTable {
    pml4: u64,
    nx: bool,
    huge_1g: bool,
}

impl PageTable {
    /// An empty address space.
    pub(crate) fn new() -> Result<Self, MapError> {
        let ext = regs::cpuid(0x8000_0000, 0).eax;
        let ext1 = if ext >= 0x8000_0001 {
            regs::cpuid(0x8000_0001, 0).edx
        } else {
            0
        };
        Ok(Self {
            pml4: frame::alloc_zeroed().ok_or(MapError::OutOfMemory)?,
            nx: ext1 & (1 << 20) != 0,
            huge_1g: ext1 & (1 << 26) != 0,
        })
    }

    /// Physical address of the top-level table, for CR3.
    pub(crate) fn root(&self) -> u64 {
        self.pml4
    }

    /// The flags for a non-executable mapping (NX only when the CPU has it; the bit is reserved otherwise).
    pub(crate) fn no_exec(&self) -> u64 {
        if self.nx { NO_EXECUTE } else { 0 }
    }

    /// The 512 entries of the table at `paddr`.
    ///
    /// # Safety
    /// `paddr` must be a page table owned by this `PageTable`, and no other reference to it may be live.
    unsafe fn entries<'a>(paddr: u64) -> &'a mut [u64; 512] {
        // SAFETY: per the contract the frame is a page table of ours, mapped in the direct map, used only here.
        unsafe { &mut *(phys_to_virt(paddr) as *mut [u64; 512]) }
    }

    /// Maps `[virt, virt + len)` to `[phys, phys + len)` with `flags`, using 1 GiB and 2 MiB pages where
    /// alignment and `allow_huge` permit. All three of `virt`, `phys` and `len` must be page-aligned.
    ///
    /// # Safety
    /// The caller must own the physical range for the purposes the flags allow (e.g. MMIO, or RAM whose users
    /// go only through this mapping or the direct map), and nothing may rely on `virt` being unmapped.
    pub(crate) unsafe fn map_range(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        flags: u64,
        allow_huge: bool,
    ) -> Result<(), MapError> {
        debug_assert!((virt | phys | len).is_multiple_of(PAGE_SIZE));
        let mut off = 0;
        while off < len {
            let (v, p, left) = (virt + off, phys + off, len - off);
            let fits = |size: u64| allow_huge && (v | p) % size == 0 && left >= size;
            let size = if self.huge_1g && fits(SIZE_1G) {
                SIZE_1G
            } else if fits(SIZE_2M) {
                SIZE_2M
            } else {
                PAGE_SIZE
            };
            // SAFETY: forwarded from this function's contract.
            unsafe { self.map_one(v, p, size, flags)? };
            off += size;
        }
        Ok(())
    }

    /// Maps one page of `size` (4 KiB, 2 MiB or 1 GiB).
    ///
    /// # Safety
    /// As for [`Self::map_range`].
    unsafe fn map_one(&mut self, virt: u64, phys: u64, size: u64, flags: u64) -> Result<(), MapError> {
        let leaf_level = match size {
            SIZE_1G => 2,
            SIZE_2M => 1,
            _ => 0,
        };
        let mut table = self.pml4;
        for level in (leaf_level + 1..=3).rev() {
            let index = ((virt >> (12 + 9 * level)) & 511) as usize;
            // SAFETY: `table` is one of our tables (the root or one we linked below); no other reference is live.
            let entries = unsafe { Self::entries(table) };
            if entries[index] & PRESENT == 0 {
                let next = frame::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                entries[index] = next | PRESENT | WRITABLE;
            } else if entries[index] & HUGE != 0 {
                return Err(MapError::AlreadyMapped(virt));
            }
            table = entries[index] & ADDR_MASK;
        }
        let index = ((virt >> (12 + 9 * leaf_level)) & 511) as usize;
        // SAFETY: as above.
        let entries = unsafe { Self::entries(table) };
        if entries[index] & PRESENT != 0 {
            return Err(MapError::AlreadyMapped(virt));
        }
        let huge = if leaf_level > 0 { HUGE } else { 0 };
        entries[index] = phys | flags | huge | PRESENT;
        Ok(())
    }
}
