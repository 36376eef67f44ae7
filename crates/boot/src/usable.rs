//! Usable RAM: the memory map's RAM, page-aligned, minus what the kernel must keep (its image, the initrd, …).

use crate::{MemoryMap, PhysRange};

/// Most free ranges kept. Each reservation splits at most one range in two, so this is the memory map's
/// capacity plus room for a few dozen reservations.
pub const MAX_FREE_RANGES: usize = crate::MAX_REGIONS + 32;

const PAGE: u64 = 4096;

/// Page-aligned free physical ranges, in address order.
#[derive(Clone, Debug)]
pub struct FreeRanges {
    ranges: [PhysRange; MAX_FREE_RANGES],
    len: usize,
}

impl FreeRanges {
    /// The ranges, in address order, none empty.
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Total free bytes.
    pub fn bytes(&self) -> u64 {
        self.as_slice().iter().map(|r| r.len()).sum()
    }

    /// Removes `hole` (rounded out to pages) from every range. Returns `false` when a split needed a slot there
    /// was no room for; the part that did not fit is then dropped, which only loses memory, never hands out
    /// memory that was reserved.
    pub fn remove(&mut self, hole: PhysRange) -> bool {
        let hole = PhysRange::new(
            hole.start & !(PAGE - 1),
            hole.end.saturating_add(PAGE - 1) & !(PAGE - 1),
        );
        let mut fitted = true;
        let mut i = 0;
        while i < self.len {
            let r = self.ranges[i];
            if !r.overlaps(&hole) {
                i += 1;
                continue;
            }
            let below = PhysRange::new(r.start, hole.start.max(r.start));
            let above = PhysRange::new(hole.end.min(r.end), r.end);
            match (below.is_empty(), above.is_empty()) {
                (true, true) => {
                    self.ranges.copy_within(i + 1..self.len, i);
                    self.len -= 1;
                    continue;
                }
                (false, true) => self.ranges[i] = below,
                (true, false) => self.ranges[i] = above,
                (false, false) => {
                    self.ranges[i] = below;
                    if self.len == MAX_FREE_RANGES {
                        fitted = false;
                    } else {
                        self.ranges.copy_within(i + 1..self.len, i + 2);
                        self.ranges[i + 1] = above;
                        self.len += 1;
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        fitted
    }

    /// Takes `bytes` (rounded up to pages) from the lowest range that holds them and lies entirely below
    /// `below`, and returns where they are.
    pub fn take(&mut self, bytes: u64, below: u64) -> Option<PhysRange> {
        let bytes = bytes.checked_add(PAGE - 1)? & !(PAGE - 1);
        let r = *self
            .as_slice()
            .iter()
            .find(|r| r.len() >= bytes && r.start + bytes <= below)?;
        let taken = PhysRange::new(r.start, r.start + bytes);
        self.remove(taken);
        Some(taken)
    }
}

/// The page-aligned RAM of `map`, minus `reserved`.
pub fn usable_ranges(map: &MemoryMap, reserved: &[PhysRange]) -> FreeRanges {
    let mut free = FreeRanges {
        ranges: [PhysRange::new(0, 0); MAX_FREE_RANGES],
        len: 0,
    };
    for ram in map.ram() {
        let start = ram.start.saturating_add(PAGE - 1) & !(PAGE - 1);
        let end = ram.end & !(PAGE - 1);
        if start < end {
            // The map holds at most MAX_REGIONS < MAX_FREE_RANGES regions, so there is always a slot.
            free.ranges[free.len] = PhysRange::new(start, end);
            free.len += 1;
        }
    }
    for &hole in reserved {
        free.remove(hole);
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(u64, u64, u32)]) -> MemoryMap {
        let mut m = MemoryMap::new();
        for &(s, n, t) in entries {
            m.insert(s, n, t, &mut |w| panic!("{w}"));
        }
        m
    }

    fn ranges(f: &FreeRanges) -> Vec<(u64, u64)> {
        f.as_slice().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn ram_is_page_aligned_inward() {
        let m = map(&[(0, 0x9fc00, 1), (0x9fc00, 0x400, 2), (0x10_0800, 0x1000, 1)]);
        assert_eq!(ranges(&usable_ranges(&m, &[])), vec![(0, 0x9f000)]);
    }

    #[test]
    fn reservations_split_trim_and_remove() {
        let m = map(&[(0, 0x9fc00, 1), (0x10_0000, 0x7f0_0000, 1)]);
        let kernel = PhysRange::new(0x10_0000, 0x14_0123);
        let initrd = PhysRange::new(0x7e0_0000, 0x800_0000);
        let page0 = PhysRange::new(0, 0x1000);
        let mid = PhysRange::new(0x40_0000, 0x40_0001);
        let f = usable_ranges(&m, &[kernel, initrd, page0, mid]);
        assert_eq!(
            ranges(&f),
            vec![(0x1000, 0x9f000), (0x14_1000, 0x40_0000), (0x40_1000, 0x7e0_0000)]
        );
        assert_eq!(f.bytes(), 0x9e000 + 0x2bf000 + 0x79ff000);
    }

    #[test]
    fn reservation_covering_everything_leaves_nothing() {
        let m = map(&[(0x10_0000, 0x10_0000, 1)]);
        let f = usable_ranges(&m, &[PhysRange::new(0, u64::MAX)]);
        assert!(f.as_slice().is_empty());
    }

    #[test]
    fn take_carves_from_the_lowest_fitting_range_below_a_limit() {
        let m = map(&[
            (0x1000, 0x2000, 1),
            (0x10_0000, 0x10_0000, 1),
            (0x1_0000_0000, 0x1000_0000, 1),
        ]);
        let mut f = usable_ranges(&m, &[]);
        assert_eq!(f.take(0x3000, u64::MAX), Some(PhysRange::new(0x10_0000, 0x10_3000)));
        assert_eq!(f.take(1, u64::MAX), Some(PhysRange::new(0x1000, 0x2000)));
        assert_eq!(f.take(0x20_0000, 0x1_0000_0000), None);
        assert_eq!(
            f.take(0x20_0000, u64::MAX),
            Some(PhysRange::new(0x1_0000_0000, 0x1_0020_0000))
        );
        assert_eq!(f.take(u64::MAX, u64::MAX), None);
    }

    #[test]
    fn splits_past_capacity_lose_memory_but_never_reserved_memory() {
        let m = map(&[(0, 1 << 30, 1)]);
        let mut f = usable_ranges(&m, &[]);
        let mut all_fitted = true;
        for i in 0..(MAX_FREE_RANGES as u64 + 10) {
            let hole = PhysRange::new(0x1000 + i * 0x2000, 0x2000 + i * 0x2000);
            all_fitted &= f.remove(hole);
            assert!(f.as_slice().iter().all(|r| !r.overlaps(&hole)));
        }
        assert!(!all_fitted);
        assert_eq!(f.as_slice().len(), MAX_FREE_RANGES);
    }
}
