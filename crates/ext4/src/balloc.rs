//! Block and inode allocation through the group bitmaps (initialising `BLOCK_UNINIT`/`INODE_UNINIT` groups on
//! first use) with their checksums and the group free counts.

use crate::csum::crc32c;
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::group::{BLOCK_UNINIT, INODE_UNINIT};
use crate::inode::Ino;
use alloc::vec;
use alloc::vec::Vec;

fn bit(map: &[u8], i: usize) -> bool {
    map[i / 8] & (1 << (i % 8)) != 0
}

fn set_bit(map: &mut [u8], i: usize, on: bool) {
    if on {
        map[i / 8] |= 1 << (i % 8);
    } else {
        map[i / 8] &= !(1 << (i % 8));
    }
}

/// The first clear bit of `map` in `from..to`, a 64-bit word at a time where whole words lie in the range.
fn first_clear(map: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut i = from;
    while i < to {
        if i.is_multiple_of(64) && to - i >= 64 {
            let at = i / 8;
            let word = u64::from_le_bytes([
                map[at],
                map[at + 1],
                map[at + 2],
                map[at + 3],
                map[at + 4],
                map[at + 5],
                map[at + 6],
                map[at + 7],
            ]);
            if word == u64::MAX {
                i += 64;
                continue;
            }
            return Some(i + (!word).trailing_zeros() as usize);
        }
        if !bit(map, i) {
            return Some(i);
        }
        i += 1;
    }
    None
}

impl<D: BlockDevice> Fs<D> {
    fn bitmap_csum(&self, map: &[u8], bits: u32) -> u32 {
        let c = crc32c(self.sb.csum_seed, &map[..bits as usize / 8]);
        if self.groups.wide() { c } else { c & 0xFFFF }
    }

    /// Notes a bitmap just written: trusted from now on, its descriptor checksum computed at the next sync.
    fn bitmap_written(&mut self, inodes: bool, g: u32) {
        if self.sb.metadata_csum() {
            self.bitmap_ok.insert((inodes, g));
            self.bitmap_stale.insert((inodes, g));
        }
    }

    /// Computes the descriptor checksum of a bitmap from what the device holds.
    pub(crate) fn update_bitmap_csum(&mut self, inodes: bool, g: u32) -> Result<()> {
        let mut map = vec![0u8; self.bs()];
        if inodes {
            self.read_blocks(self.groups.inode_bitmap(g), &mut map)?;
            let c = self.bitmap_csum(&map, self.sb.inodes_per_group);
            self.groups.set_inode_bitmap_csum(g, c);
        } else {
            self.read_blocks(self.groups.block_bitmap(g), &mut map)?;
            let c = self.bitmap_csum(&map, self.sb.blocks_per_group);
            self.groups.set_block_bitmap_csum(g, c);
        }
        Ok(())
    }

    /// The block bitmap of group `g` (built from the layout if the group is `BLOCK_UNINIT`).
    fn load_block_bitmap(&mut self, g: u32) -> Result<Vec<u8>> {
        let bs = self.bs();
        let mut map = vec![0u8; bs];
        if self.sb.has_group_csum() && self.groups.flags(g) & BLOCK_UNINIT != 0 {
            let start = self.sb.group_first_block(g);
            if self.sb.group_has_super(g) {
                let meta = 1 + self.sb.gdt_blocks() as usize + self.sb.reserved_gdt_blocks() as usize;
                for i in 0..meta.min(bs * 8) {
                    set_bit(&mut map, i, true);
                }
            }
            let own = [
                (self.groups.block_bitmap(g), 1),
                (self.groups.inode_bitmap(g), 1),
                (self.groups.inode_table(g), self.groups.itable_blocks(&self.sb)),
            ];
            let count = self.sb.group_block_count(g) as u64;
            for (b, n) in own {
                for blk in b..b + n {
                    if blk >= start && blk - start < count {
                        set_bit(&mut map, (blk - start) as usize, true);
                    }
                }
            }
            for i in count as usize..bs * 8 {
                set_bit(&mut map, i, true);
            }
            return Ok(map);
        }
        let at = self.groups.block_bitmap(g);
        self.read_blocks(at, &mut map)?;
        if self.sb.metadata_csum() && !self.bitmap_ok.contains(&(false, g)) {
            if self.bitmap_csum(&map, self.sb.blocks_per_group) != self.groups.block_bitmap_csum(g) {
                return Err(Error::Corrupt("block bitmap checksum mismatch"));
            }
            self.bitmap_ok.insert((false, g));
        }
        Ok(map)
    }

    fn store_block_bitmap(&mut self, g: u32, map: &[u8]) -> Result<()> {
        let at = self.groups.block_bitmap(g);
        self.write_blocks(at, map)?;
        self.bitmap_written(false, g);
        let f = self.groups.flags(g);
        self.groups.set_flags(g, f & !BLOCK_UNINIT);
        Ok(())
    }

    fn load_inode_bitmap(&mut self, g: u32) -> Result<Vec<u8>> {
        let bs = self.bs();
        let mut map = vec![0u8; bs];
        if self.sb.has_group_csum() && self.groups.flags(g) & INODE_UNINIT != 0 {
            for i in self.sb.inodes_per_group as usize..bs * 8 {
                set_bit(&mut map, i, true);
            }
            return Ok(map);
        }
        let at = self.groups.inode_bitmap(g);
        self.read_blocks(at, &mut map)?;
        if self.sb.metadata_csum() && !self.bitmap_ok.contains(&(true, g)) {
            if self.bitmap_csum(&map, self.sb.inodes_per_group) != self.groups.inode_bitmap_csum(g) {
                return Err(Error::Corrupt("inode bitmap checksum mismatch"));
            }
            self.bitmap_ok.insert((true, g));
        }
        Ok(map)
    }

    fn store_inode_bitmap(&mut self, g: u32, map: &[u8]) -> Result<()> {
        let at = self.groups.inode_bitmap(g);
        self.write_blocks(at, map)?;
        self.bitmap_written(true, g);
        let f = self.groups.flags(g);
        self.groups.set_flags(g, f & !INODE_UNINIT);
        Ok(())
    }

    /// The first clear bit of bitmap `key` in `from..count`, else in `floor..from`, skipping the bits known to
    /// be set; with whether it is the lowest clear bit at or above `floor` (bits below `floor` are never
    /// searched: reserved inodes).
    fn search(&self, map: &[u8], key: (bool, u32), floor: usize, from: usize, count: usize) -> Option<(usize, bool)> {
        let known = (self.first_free.get(&key).copied().unwrap_or(0) as usize).clamp(floor, count);
        if from <= known {
            return first_clear(map, known, count).map(|i| (i, true));
        }
        first_clear(map, from, count)
            .map(|i| (i, false))
            .or_else(|| first_clear(map, known, from).map(|i| (i, true)))
    }

    /// Notes that bit `bit` of bitmap `key` was cleared.
    fn freed(&mut self, key: (bool, u32), bit: u32) {
        if let Some(known) = self.first_free.get_mut(&key) {
            *known = (*known).min(bit);
        }
    }

    /// Allocates up to `want` (at least 1) contiguous blocks, preferring `goal`; returns (first block, count).
    pub(crate) fn alloc_blocks(&mut self, goal: u64, want: u32) -> Result<(u64, u32)> {
        self.check_writable()?;
        let groups = self.sb.group_count;
        let goal = goal.clamp(self.sb.first_data_block as u64, self.sb.blocks_count - 1);
        let goal_group = ((goal - self.sb.first_data_block as u64) / self.sb.blocks_per_group as u64) as u32;
        for k in 0..groups {
            let g = (goal_group + k) % groups;
            if self.groups.free_blocks(g) == 0 {
                continue;
            }
            let mut map = self.load_block_bitmap(g)?;
            let start = self.sb.group_first_block(g);
            let count = self.sb.group_block_count(g) as usize;
            let from = if k == 0 { (goal - start) as usize } else { 0 };
            let Some((first, lowest)) = self.search(&map, (false, g), 0, from, count) else {
                continue;
            };
            let mut n = 0usize;
            while n < want as usize && first + n < count && !bit(&map, first + n) {
                set_bit(&mut map, first + n, true);
                n += 1;
            }
            let free = self.groups.free_blocks(g);
            if (n as u32) > free {
                return Err(Error::Corrupt("group free block count below its bitmap"));
            }
            self.store_block_bitmap(g, &map)?;
            self.groups.set_free_blocks(g, free - n as u32);
            if lowest {
                self.first_free.insert((false, g), (first + n) as u32);
            }
            return Ok((start + first as u64, n as u32));
        }
        Err(Error::NoSpace)
    }

    /// Frees `count` blocks starting at `first`.
    pub(crate) fn free_blocks(&mut self, first: u64, count: u64) -> Result<()> {
        let end = first.checked_add(count).ok_or(Error::Corrupt("block range"))?;
        if first <= self.sb.first_data_block as u64 || end > self.sb.blocks_count {
            return Err(Error::Corrupt("freeing blocks outside the file system"));
        }
        let mut b = first;
        while b < end {
            let g = ((b - self.sb.first_data_block as u64) / self.sb.blocks_per_group as u64) as u32;
            let start = self.sb.group_first_block(g);
            let group_end = start + self.sb.group_block_count(g) as u64;
            let stop = end.min(group_end);
            let mut map = self.load_block_bitmap(g)?;
            for blk in b..stop {
                let i = (blk - start) as usize;
                if !bit(&map, i) {
                    return Err(Error::Corrupt("freeing a free block"));
                }
                set_bit(&mut map, i, false);
            }
            self.store_block_bitmap(g, &map)?;
            let free = self.groups.free_blocks(g) + (stop - b) as u32;
            self.groups.set_free_blocks(g, free);
            self.freed((false, g), (b - start) as u32);
            b = stop;
        }
        Ok(())
    }

    /// Allocates an inode, preferring group `hint`. The caller writes the record.
    pub(crate) fn alloc_inode(&mut self, hint: u32, dir: bool) -> Result<Ino> {
        self.check_writable()?;
        let groups = self.sb.group_count;
        let ipg = self.sb.inodes_per_group;
        for k in 0..groups {
            let g = (hint % groups + k) % groups;
            if self.groups.free_inodes(g) == 0 {
                continue;
            }
            let mut map = self.load_inode_bitmap(g)?;
            let first = if g == 0 { self.sb.first_ino() - 1 } else { 0 };
            let Some((i, lowest)) = self.search(&map, (true, g), first as usize, first as usize, ipg as usize) else {
                continue;
            };
            let i = i as u32;
            set_bit(&mut map, i as usize, true);
            self.store_inode_bitmap(g, &map)?;
            if lowest {
                self.first_free.insert((true, g), i + 1);
            }
            let free = self.groups.free_inodes(g);
            self.groups.set_free_inodes(g, free - 1);
            if dir {
                let d = self.groups.used_dirs(g);
                self.groups.set_used_dirs(g, d + 1);
            }
            if self.sb.has_group_csum() {
                let unused = self.groups.itable_unused(g).min(ipg);
                if i >= ipg - unused {
                    self.groups.set_itable_unused(g, ipg - i - 1);
                }
            }
            return Ok(g * ipg + i + 1);
        }
        Err(Error::NoSpace)
    }

    /// Marks inode `ino` free in its bitmap.
    pub(crate) fn free_inode(&mut self, ino: Ino, dir: bool) -> Result<()> {
        let ipg = self.sb.inodes_per_group;
        let (g, i) = ((ino - 1) / ipg, ((ino - 1) % ipg) as usize);
        let mut map = self.load_inode_bitmap(g)?;
        if !bit(&map, i) {
            return Err(Error::Corrupt("freeing a free inode"));
        }
        set_bit(&mut map, i, false);
        self.store_inode_bitmap(g, &map)?;
        self.freed((true, g), i as u32);
        let free = self.groups.free_inodes(g);
        self.groups.set_free_inodes(g, free + 1);
        if dir {
            let d = self.groups.used_dirs(g);
            self.groups.set_used_dirs(g, d.saturating_sub(1));
        }
        Ok(())
    }

    /// The group an inode belongs to.
    pub(crate) fn inode_group(&self, ino: Ino) -> u32 {
        (ino - 1) / self.sb.inodes_per_group
    }

    /// A good first block to allocate near for inode `ino`: the start of its group.
    pub(crate) fn inode_goal(&self, ino: Ino) -> u64 {
        self.sb.group_first_block(self.inode_group(ino))
    }
}

#[cfg(test)]
mod tests {
    use super::first_clear;

    #[test]
    fn first_clear_skips_full_bytes_and_honours_the_range() {
        let mut map = [0xFFu8; 8];
        assert_eq!(first_clear(&map, 0, 64), None);
        map[5] = 0b1110_1111;
        assert_eq!(first_clear(&map, 0, 64), Some(44));
        assert_eq!(first_clear(&map, 3, 64), Some(44));
        assert_eq!(first_clear(&map, 45, 64), None);
        assert_eq!(first_clear(&map, 0, 44), None);
        map[0] = 0b0111_1111;
        assert_eq!(first_clear(&map, 1, 64), Some(7));
        assert_eq!(first_clear(&map, 0, 7), None);
    }

    #[test]
    fn first_clear_agrees_with_a_bit_by_bit_scan() {
        let mut map = [0xFFu8; 32];
        map[9] = 0b1011_1111;
        map[20] = 0b1111_1110;
        map[31] = 0b0111_1111;
        for from in 0..256 {
            for to in from..=256 {
                let slow = (from..to).find(|&i| map[i / 8] & (1 << (i % 8)) == 0);
                assert_eq!(first_clear(&map, from, to), slow, "{from}..{to}");
            }
        }
    }
}
