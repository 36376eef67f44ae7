//! The physical memory map (E820 or PVH `hvm_memmap_table_entry`; both use the E820 type numbers).

use crate::{PhysRange, Warning};

/// Most memory-map entries kept (the zero page's `E820_MAX_ENTRIES_ZEROPAGE`).
pub const MAX_REGIONS: usize = 128;

/// Physical addresses on x86-64 have at most 52 bits; an entry reaching past that is nonsense.
const PHYS_LIMIT: u64 = 1 << 52;

/// The most physical address space the kernel's direct map has room for (`0xFFFF_8000_0000_0000` up to the
/// MMIO window at `0xFFFF_C000_0000_0000`). RAM and ACPI memory, which the direct map covers, are cut here.
pub const DIRECT_MAP_LIMIT: u64 = 1 << 46;

/// What a region of the physical address space holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Usable RAM (E820 type 1).
    Ram,
    /// Reserved (type 2).
    Reserved,
    /// ACPI tables, reclaimable after reading (type 3).
    AcpiReclaimable,
    /// ACPI non-volatile storage (type 4).
    AcpiNvs,
    /// Bad memory (type 5).
    Unusable,
    /// Any other type number.
    Other(u32),
}

impl MemoryKind {
    /// The kind an E820 type number stands for.
    pub const fn from_e820(ty: u32) -> Self {
        match ty {
            1 => MemoryKind::Ram,
            2 => MemoryKind::Reserved,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::Unusable,
            other => MemoryKind::Other(other),
        }
    }
}

impl core::fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemoryKind::Ram => f.write_str("usable"),
            MemoryKind::Reserved => f.write_str("reserved"),
            MemoryKind::AcpiReclaimable => f.write_str("ACPI data"),
            MemoryKind::AcpiNvs => f.write_str("ACPI NVS"),
            MemoryKind::Unusable => f.write_str("unusable"),
            MemoryKind::Other(t) => write!(f, "type {t}"),
        }
    }
}

/// One validated memory-map region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Addresses covered.
    pub range: PhysRange,
    /// What they hold.
    pub kind: MemoryKind,
}

/// A validated memory map: sorted by address, no overlaps, no empty regions, adjacent regions of the same kind
/// merged.
#[derive(Clone, Debug)]
pub struct MemoryMap {
    regions: [Region; MAX_REGIONS],
    len: usize,
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        const EMPTY: Region = Region {
            range: PhysRange::new(0, 0),
            kind: MemoryKind::Reserved,
        };
        Self {
            regions: [EMPTY; MAX_REGIONS],
            len: 0,
        }
    }

    /// The regions, in address order.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.len]
    }

    /// The RAM regions, in address order.
    pub fn ram(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.regions()
            .iter()
            .filter(|r| r.kind == MemoryKind::Ram)
            .map(|r| r.range)
    }

    /// Total bytes of RAM.
    pub fn ram_bytes(&self) -> u64 {
        self.ram().map(|r| r.len()).sum()
    }

    /// Whether `range` shares a byte with any RAM region.
    pub fn overlaps_ram(&self, range: &PhysRange) -> bool {
        self.ram().any(|r| r.overlaps(range))
    }

    /// Whether any page that `range` touches holds memory the direct map covers (RAM or ACPI memory). Device
    /// memory is mapped in whole pages, so a device range sharing a page with RAM would map that RAM too.
    pub fn shares_a_page_with_direct_mapped(&self, range: &PhysRange) -> bool {
        const PAGE: u64 = 4096;
        let first = range.start & !(PAGE - 1);
        let last = range.end.checked_next_multiple_of(PAGE).unwrap_or(u64::MAX);
        let pages = PhysRange::new(first, last);
        self.regions()
            .iter()
            .filter(|r| {
                matches!(
                    r.kind,
                    MemoryKind::Ram | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs
                )
            })
            .any(|r| r.range.overlaps(&pages))
    }

    /// Adds one raw entry, validating it against what is already there. Entries may come in any order. RAM and
    /// ACPI memory past [`DIRECT_MAP_LIMIT`] is cut off with a warning.
    pub fn insert(&mut self, start: u64, size: u64, ty: u32, warn: &mut dyn FnMut(Warning)) {
        self.insert_below(start, size, MemoryKind::from_e820(ty), DIRECT_MAP_LIMIT, warn);
    }

    /// Cuts RAM and ACPI memory (what the direct map covers) at `limit` (for example the CPU's physical address
    /// width, when that is below [`DIRECT_MAP_LIMIT`]), with a warning for each region cut or dropped.
    pub fn limit_direct_mapped(&mut self, limit: u64, warn: &mut dyn FnMut(Warning)) {
        let old = core::mem::take(self);
        for r in old.regions() {
            self.insert_below(r.range.start, r.range.len(), r.kind, limit, warn);
        }
    }

    fn insert_below(&mut self, start: u64, size: u64, kind: MemoryKind, limit: u64, warn: &mut dyn FnMut(Warning)) {
        if size == 0 {
            return warn(Warning::ZeroSizedRegion { start });
        }
        let mut end = match start.checked_add(size) {
            Some(end) if end <= PHYS_LIMIT => end,
            _ => return warn(Warning::AbsurdRegion { start, size }),
        };
        let direct_mapped = matches!(
            kind,
            MemoryKind::Ram | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs
        );
        if direct_mapped && end > limit {
            warn(Warning::BeyondDirectMap {
                range: PhysRange::new(start, end),
                limit,
            });
            if start >= limit {
                return;
            }
            end = limit;
        }
        let new = Region {
            range: PhysRange::new(start, end),
            kind,
        };
        if let Some(old) = self.regions().iter().find(|r| r.range.overlaps(&new.range)) {
            return warn(Warning::OverlappingRegion {
                range: new.range,
                with: old.range,
            });
        }
        let at = self.regions().partition_point(|r| r.range.start < start);
        // Merge with a touching neighbour of the same kind instead of taking a slot.
        if at > 0 && self.regions[at - 1].kind == new.kind && self.regions[at - 1].range.end == start {
            self.regions[at - 1].range.end = end;
            self.merge_forward(at - 1);
            return;
        }
        if at < self.len && self.regions[at].kind == new.kind && self.regions[at].range.start == end {
            self.regions[at].range.start = start;
            return;
        }
        if self.len == MAX_REGIONS {
            return warn(Warning::TooManyRegions {
                claimed: MAX_REGIONS as u64 + 1,
            });
        }
        self.regions.copy_within(at..self.len, at + 1);
        self.regions[at] = new;
        self.len += 1;
    }

    /// After region `i` grew at its end, absorbs the next region if they now touch and match.
    fn merge_forward(&mut self, i: usize) {
        if i + 1 < self.len
            && self.regions[i + 1].kind == self.regions[i].kind
            && self.regions[i + 1].range.start == self.regions[i].range.end
        {
            self.regions[i].range.end = self.regions[i + 1].range.end;
            self.regions.copy_within(i + 2..self.len, i + 1);
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(u64, u64, u32)]) -> (MemoryMap, Vec<Warning>) {
        let mut map = MemoryMap::new();
        let mut warnings = Vec::new();
        for &(s, n, t) in entries {
            map.insert(s, n, t, &mut |w| warnings.push(w));
        }
        (map, warnings)
    }

    #[test]
    fn firecracker_layout_is_kept() {
        let (map, w) = build(&[
            (0, 0x9fc00, 1),
            (0x9fc00, 0xe0000 - 0x9fc00, 2),
            (0xeec0_0000, 0x1000_0000, 2),
            (0x10_0000, 0x800_0000 - 0x10_0000, 1),
        ]);
        assert!(w.is_empty());
        let kinds: Vec<_> = map.regions().iter().map(|r| (r.range.start, r.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, MemoryKind::Ram),
                (0x9fc00, MemoryKind::Reserved),
                (0x10_0000, MemoryKind::Ram),
                (0xeec0_0000, MemoryKind::Reserved)
            ]
        );
        assert_eq!(map.ram_bytes(), 0x9fc00 + 0x800_0000 - 0x10_0000);
    }

    #[test]
    fn ram_above_4g_is_counted() {
        let (map, w) = build(&[(0x10_0000, 0xbff0_0000, 1), (0x1_0000_0000, 0x8000_0000, 1)]);
        assert!(w.is_empty());
        assert_eq!(map.ram_bytes(), 0xbff0_0000 + 0x8000_0000);
    }

    #[test]
    fn zero_sized_absurd_and_overlapping_entries_are_rejected() {
        let (map, w) = build(&[
            (0x10_0000, 0x10_0000, 1),
            (0x5000, 0, 1),
            (0xffff_ffff_ffff_f000, 0x2000, 1),
            (1 << 51, 1 << 52, 1),
            (0x18_0000, 0x10_0000, 2),
            (0x10_0000, 0x10_0000, 1),
        ]);
        assert_eq!(map.regions().len(), 1);
        assert_eq!(map.ram_bytes(), 0x10_0000);
        assert_eq!(w.len(), 5);
        assert_eq!(w[0], Warning::ZeroSizedRegion { start: 0x5000 });
        assert!(matches!(w[1], Warning::AbsurdRegion { .. }));
        assert!(matches!(w[2], Warning::AbsurdRegion { .. }));
        assert!(matches!(w[3], Warning::OverlappingRegion { .. }));
        assert!(matches!(w[4], Warning::OverlappingRegion { .. }));
    }

    #[test]
    fn memory_past_the_direct_map_is_cut() {
        let (map, w) = build(&[
            (0x10_0000, 0x10_0000, 1),
            (DIRECT_MAP_LIMIT - 0x1000, 0x2000, 1),
            (DIRECT_MAP_LIMIT, 1 << 40, 1),
            ((1 << 51) - 0x1000, 0x1000, 3),
            (1 << 50, 0x1000, 2),
        ]);
        assert_eq!(w.len(), 3);
        assert!(w.iter().all(|w| matches!(w, Warning::BeyondDirectMap { .. })));
        let ranges: Vec<_> = map.regions().iter().map(|r| (r.range, r.kind)).collect();
        assert_eq!(
            ranges,
            vec![
                (PhysRange::new(0x10_0000, 0x20_0000), MemoryKind::Ram),
                (
                    PhysRange::new(DIRECT_MAP_LIMIT - 0x1000, DIRECT_MAP_LIMIT),
                    MemoryKind::Ram
                ),
                // Reserved (device) space is not direct-mapped: it may lie anywhere.
                (PhysRange::new(1 << 50, (1 << 50) + 0x1000), MemoryKind::Reserved),
            ]
        );
        assert!(
            map.regions()
                .iter()
                .all(|r| r.kind != MemoryKind::Ram || r.range.end <= DIRECT_MAP_LIMIT)
        );
    }

    #[test]
    fn device_ranges_sharing_a_page_with_ram_are_seen() {
        let (map, _) = build(&[
            (0x10_0000, 0x10_0800, 1),
            (0x30_0000, 0x800, 4),
            (0xFEC0_0000, 0x1000, 2),
        ]);
        // Past RAM's last byte, in its last page.
        assert!(map.shares_a_page_with_direct_mapped(&PhysRange::new(0x20_0FF0, 0x20_1010)));
        assert!(map.shares_a_page_with_direct_mapped(&PhysRange::new(0x30_0FF0, 0x30_1000)));
        assert!(!map.shares_a_page_with_direct_mapped(&PhysRange::new(0x20_1000, 0x20_1010)));
        assert!(!map.shares_a_page_with_direct_mapped(&PhysRange::new(0xFEC0_0000, 0xFEC0_0020)));
        assert!(!map.shares_a_page_with_direct_mapped(&PhysRange::new(u64::MAX - 0x10, u64::MAX)));
    }

    #[test]
    fn a_narrower_cpu_cuts_further() {
        let (mut map, _) = build(&[
            (0x10_0000, 0x10_0000, 1),
            (0xff_0000_0000, 0x2_0000_0000, 1),
            (1 << 41, 0x1000, 2),
        ]);
        let mut w = Vec::new();
        map.limit_direct_mapped(1 << 40, &mut |x| w.push(x));
        assert_eq!(w.len(), 1);
        assert_eq!(map.ram_bytes(), 0x10_0000 + 0x1_0000_0000);
        assert_eq!(map.regions().len(), 3);
    }

    #[test]
    fn adjacent_regions_of_one_kind_merge_in_any_order() {
        let (map, w) = build(&[(0x3000, 0x1000, 1), (0x1000, 0x1000, 1), (0x2000, 0x1000, 1)]);
        assert!(w.is_empty());
        assert_eq!(map.regions().len(), 1);
        assert_eq!(map.regions()[0].range, PhysRange::new(0x1000, 0x4000));
    }

    #[test]
    fn too_many_regions_warns_and_keeps_the_first() {
        let entries: Vec<_> = (0..200u64).map(|i| (i * 0x2000, 0x1000, 1 + (i as u32 % 2))).collect();
        let (map, w) = build(&entries);
        assert_eq!(map.regions().len(), MAX_REGIONS);
        assert_eq!(w.len(), 200 - MAX_REGIONS);
    }

    #[test]
    fn overlaps_ram_sees_ram_only() {
        let (map, _) = build(&[(0, 0x9fc00, 1), (0x9fc00, 0x400, 2)]);
        assert!(map.overlaps_ram(&PhysRange::new(0x9f000, 0xa0000)));
        assert!(!map.overlaps_ram(&PhysRange::new(0x9fc00, 0xa0000)));
        assert!(!map.overlaps_ram(&PhysRange::new(0xfec0_0000, 0xfec0_1000)));
    }
}
