//! 4-level x86-64 page tables, edited through the direct map.

use super::frame;
use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::arch::regs;

/// Entry maps a page or table.
pub(crate) const PRESENT: u64 = 1 << 0;
/// Writes allowed.
pub(crate) const WRITABLE: u64 = 1 << 1;
/// User-mode access allowed (on every level of the walk).
pub(crate) const USER: u64 = 1 << 2;
/// Write-through caching (with [`NO_CACHE`]: uncached, for MMIO).
pub(crate) const WRITE_THROUGH: u64 = 1 << 3;
/// Caching disabled.
pub(crate) const NO_CACHE: u64 = 1 << 4;
/// A 2 MiB or 1 GiB leaf in a PD or PDPT.
const HUGE: u64 = 1 << 7;
/// Instruction fetch forbidden (when the CPU has NX).
pub(crate) const NO_EXECUTE: u64 = 1 << 63;
pub(crate) const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

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

    /// A user address space: a fresh root whose upper half (the kernel) is shared with `kernel`.
    pub(crate) fn new_user(kernel: &PageTable) -> Result<Self, MapError> {
        let pt = Self {
            pml4: frame::alloc_zeroed().ok_or(MapError::OutOfMemory)?,
            nx: kernel.nx,
            huge_1g: kernel.huge_1g,
        };
        // SAFETY: both roots are tables we own; the new one is not live anywhere yet. The kernel root's upper
        // half is only changed below its PML4 entries after boot (`ensure_top_level`), so sharing the entries
        // shares every later kernel mapping.
        unsafe { Self::entries(pt.pml4)[256..].copy_from_slice(&Self::entries(kernel.pml4)[256..]) };
        Ok(pt)
    }

    /// Creates the top-level entry covering `virt` (with an empty table under it) if it is missing, so that
    /// address spaces that copied the kernel's upper half see what is mapped there later.
    pub(crate) fn ensure_top_level(&mut self, virt: u64) -> Result<(), MapError> {
        let index = ((virt >> 39) & 511) as usize;
        // SAFETY: our root; no other reference to it is live.
        let entries = unsafe { Self::entries(self.pml4) };
        if entries[index] & PRESENT == 0 {
            entries[index] = frame::alloc_zeroed().ok_or(MapError::OutOfMemory)? | PRESENT | WRITABLE;
        }
        Ok(())
    }

    /// The leaf entry (4 KiB page) for `virt` in the lower half, creating user-accessible tables on the way
    /// when `create`.
    fn user_leaf(&mut self, virt: u64, create: bool) -> Result<Option<&mut u64>, MapError> {
        debug_assert!(virt < 1 << 47);
        let mut table = self.pml4;
        for level in (1..=3).rev() {
            let index = ((virt >> (12 + 9 * level)) & 511) as usize;
            // SAFETY: `table` is one of our tables (the root or one linked below it); no other reference is live.
            let entries = unsafe { Self::entries(table) };
            if entries[index] & PRESENT == 0 {
                if !create {
                    return Ok(None);
                }
                let next = frame::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                entries[index] = next | PRESENT | WRITABLE | USER;
            }
            table = entries[index] & ADDR_MASK;
        }
        // SAFETY: as above.
        let entries = unsafe { Self::entries(table) };
        Ok(Some(&mut entries[((virt >> 12) & 511) as usize]))
    }

    /// Sets the 4 KiB user page at `virt` to `phys` with `flags` (PRESENT and USER added); returns the entry
    /// it replaced, if one was present.
    ///
    /// # Safety
    /// The caller must own a reference to the page at `phys` that this entry now holds, and must flush the TLB
    /// entry for `virt` where this table is live.
    pub(crate) unsafe fn set_user_page(&mut self, virt: u64, phys: u64, flags: u64) -> Result<Option<u64>, MapError> {
        let leaf = self.user_leaf(virt, true)?.ok_or(MapError::OutOfMemory)?;
        let old = *leaf;
        *leaf = phys | flags | PRESENT | USER;
        Ok((old & PRESENT != 0).then_some(old))
    }

    /// The entry of the user page at `virt`, if present.
    pub(crate) fn user_page(&mut self, virt: u64) -> Option<u64> {
        let leaf = self.user_leaf(virt, false).ok().flatten()?;
        (*leaf & PRESENT != 0).then_some(*leaf)
    }

    /// Clears the user page at `virt`; returns the entry it held.
    ///
    /// # Safety
    /// The caller takes over the page reference the entry held, and must flush the TLB entry where live.
    pub(crate) unsafe fn clear_user_page(&mut self, virt: u64) -> Option<u64> {
        let leaf = self.user_leaf(virt, false).ok().flatten()?;
        let old = core::mem::take(leaf);
        (old & PRESENT != 0).then_some(old)
    }

    /// Calls `f(virt, entry)` for every present user page in `[start, end)`, in address order, letting it
    /// rewrite the entry (returning the new value; a value without PRESENT removes the page).
    ///
    /// # Safety
    /// `f` takes over or hands over page references as it changes entries, and the caller flushes the TLB.
    pub(crate) unsafe fn for_each_user_page(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, u64) -> u64) {
        // SAFETY: forwarded.
        unsafe { Self::walk(self.pml4, 3, 0, start, end.min(1 << 47), &mut f) }
    }

    /// # Safety
    /// `table` is one of our tables at `level` covering addresses from `base`; see `for_each_user_page`.
    unsafe fn walk(table: u64, level: u32, base: u64, start: u64, end: u64, f: &mut impl FnMut(u64, u64) -> u64) {
        let span = 1u64 << (12 + 9 * level);
        // SAFETY: our table, no other live reference (each level's slice is dropped before recursing deeper
        // into a different table).
        let entries = unsafe { Self::entries(table) };
        // Only the entries that overlap [start, end): a scan of all 512 at each level cost ~15k instructions
        // per munmap of a few pages.
        let first = (start.saturating_sub(base) / span).min(512) as usize;
        let last = (end.saturating_sub(base).div_ceil(span)).min(512) as usize;
        for (i, entry) in entries.iter_mut().enumerate().take(last).skip(first) {
            let lo = base + i as u64 * span;
            if lo >= end || lo + span <= start || *entry & PRESENT == 0 {
                continue;
            }
            if level == 0 {
                *entry = f(lo, *entry);
                if *entry & PRESENT == 0 {
                    *entry = 0;
                }
            } else {
                // SAFETY: a present entry of a lower-half table points at one of our tables.
                unsafe { Self::walk(*entry & ADDR_MASK, level - 1, lo, start, end, f) };
            }
        }
    }

    /// Frees the lower half's tables (their leaves must have been cleared or handed over by `leaf`, which is
    /// called with each present leaf entry).
    ///
    /// # Safety
    /// The table must not be live on any CPU, and `leaf` must take over the page references.
    pub(crate) unsafe fn free_user_half(&mut self, mut leaf: impl FnMut(u64)) {
        // SAFETY: forwarded; every table below the root's lower half is ours.
        unsafe { Self::free_level(self.pml4, 3, 0..256, &mut leaf) };
    }

    /// # Safety
    /// See `free_user_half`.
    unsafe fn free_level(table: u64, level: u32, range: core::ops::Range<usize>, leaf: &mut impl FnMut(u64)) {
        // SAFETY: our table, not live.
        let entries = unsafe { Self::entries(table) };
        for entry in &mut entries[range] {
            let e = core::mem::take(entry);
            if e & PRESENT == 0 {
                continue;
            }
            if level == 0 {
                leaf(e);
            } else {
                // SAFETY: a present lower-half entry above the leaves points at one of our tables.
                unsafe { Self::free_level(e & ADDR_MASK, level - 1, 0..512, leaf) };
                frame::free(e & ADDR_MASK, 1);
            }
        }
    }

    /// Frees the root frame. Called once, when the address space dies, after `free_user_half`.
    pub(crate) fn free_root(&mut self) {
        frame::free(self.pml4, 1);
    }
}
