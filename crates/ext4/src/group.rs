//! Block group descriptors, kept as the raw descriptor table.

use crate::bytes::{le16, le32, put16};
use crate::csum::{crc16, crc32c};
use crate::error::{Error, Result};
use crate::superblock::Superblock;
use alloc::vec::Vec;

/// `bg_flags`: the inode bitmap is not initialised (all free).
pub const INODE_UNINIT: u16 = 1;
/// `bg_flags`: the block bitmap is not initialised (computed from the layout).
pub const BLOCK_UNINIT: u16 = 2;

/// The group descriptor table.
pub struct GroupTable {
    raw: Vec<u8>,
    desc_size: usize,
    wide: bool,
}

impl GroupTable {
    /// Wraps the table's blocks (at least `group_count * desc_size` bytes) and validates every descriptor.
    pub fn parse(sb: &Superblock, raw: Vec<u8>) -> Result<GroupTable> {
        let desc_size = sb.desc_size as usize;
        if raw.len() < sb.group_count as usize * desc_size {
            return Err(Error::Corrupt("short group descriptor table"));
        }
        let t = GroupTable {
            raw,
            desc_size,
            wide: sb.is_64bit(),
        };
        let itable_blocks = t.itable_blocks(sb);
        for g in 0..sb.group_count {
            if sb.has_group_csum() && t.checksum(sb, g) != le16(t.desc(g), 0x1E) {
                return Err(Error::Corrupt("group descriptor checksum mismatch"));
            }
            let in_fs = |b: u64, n: u64| b >= sb.first_data_block as u64 && b.saturating_add(n) <= sb.blocks_count;
            if !in_fs(t.block_bitmap(g), 1) || !in_fs(t.inode_bitmap(g), 1) || !in_fs(t.inode_table(g), itable_blocks) {
                return Err(Error::Corrupt("group metadata outside the file system"));
            }
            if t.free_blocks(g) > sb.group_block_count(g) || t.free_inodes(g) > sb.inodes_per_group {
                return Err(Error::Corrupt("group free counts"));
            }
        }
        Ok(t)
    }

    /// Blocks of one group's inode table.
    pub fn itable_blocks(&self, sb: &Superblock) -> u64 {
        (sb.inodes_per_group as u64 * sb.inode_size as u64).div_ceil(sb.block_size as u64)
    }

    fn desc(&self, g: u32) -> &[u8] {
        let o = g as usize * self.desc_size;
        &self.raw[o..o + self.desc_size]
    }

    fn desc_mut(&mut self, g: u32) -> &mut [u8] {
        let o = g as usize * self.desc_size;
        &mut self.raw[o..o + self.desc_size]
    }

    fn lo_hi32(&self, g: u32, lo: usize, hi: usize) -> u64 {
        let d = self.desc(g);
        let mut v = le32(d, lo) as u64;
        if self.wide {
            v |= (le32(d, hi) as u64) << 32;
        }
        v
    }

    fn lo_hi16(&self, g: u32, lo: usize, hi: usize) -> u32 {
        let d = self.desc(g);
        let mut v = le16(d, lo) as u32;
        if self.wide {
            v |= (le16(d, hi) as u32) << 16;
        }
        v
    }

    fn set_lo_hi16(&mut self, g: u32, lo: usize, hi: usize, v: u32) {
        let wide = self.wide;
        let d = self.desc_mut(g);
        put16(d, lo, v as u16);
        if wide {
            put16(d, hi, (v >> 16) as u16);
        }
    }

    /// Block bitmap location.
    pub fn block_bitmap(&self, g: u32) -> u64 {
        self.lo_hi32(g, 0x0, 0x20)
    }
    /// Inode bitmap location.
    pub fn inode_bitmap(&self, g: u32) -> u64 {
        self.lo_hi32(g, 0x4, 0x24)
    }
    /// Inode table location.
    pub fn inode_table(&self, g: u32) -> u64 {
        self.lo_hi32(g, 0x8, 0x28)
    }
    /// Free blocks in the group.
    pub fn free_blocks(&self, g: u32) -> u32 {
        self.lo_hi16(g, 0xC, 0x2C)
    }
    /// Sets the free block count.
    pub fn set_free_blocks(&mut self, g: u32, v: u32) {
        self.set_lo_hi16(g, 0xC, 0x2C, v)
    }
    /// Free inodes in the group.
    pub fn free_inodes(&self, g: u32) -> u32 {
        self.lo_hi16(g, 0xE, 0x2E)
    }
    /// Sets the free inode count.
    pub fn set_free_inodes(&mut self, g: u32, v: u32) {
        self.set_lo_hi16(g, 0xE, 0x2E, v)
    }
    /// Directories in the group.
    pub fn used_dirs(&self, g: u32) -> u32 {
        self.lo_hi16(g, 0x10, 0x30)
    }
    /// Sets the directory count.
    pub fn set_used_dirs(&mut self, g: u32, v: u32) {
        self.set_lo_hi16(g, 0x10, 0x30, v)
    }
    /// Inodes at the end of the table never used (with group checksums).
    pub fn itable_unused(&self, g: u32) -> u32 {
        self.lo_hi16(g, 0x1C, 0x32)
    }
    /// Sets `bg_itable_unused`.
    pub fn set_itable_unused(&mut self, g: u32, v: u32) {
        self.set_lo_hi16(g, 0x1C, 0x32, v)
    }
    /// `bg_flags`.
    pub fn flags(&self, g: u32) -> u16 {
        le16(self.desc(g), 0x12)
    }
    /// Sets `bg_flags`.
    pub fn set_flags(&mut self, g: u32, v: u16) {
        put16(self.desc_mut(g), 0x12, v)
    }
    /// Stored block bitmap checksum.
    pub fn block_bitmap_csum(&self, g: u32) -> u32 {
        self.lo_hi16(g, 0x18, 0x38)
    }
    /// Sets the block bitmap checksum.
    pub fn set_block_bitmap_csum(&mut self, g: u32, v: u32) {
        self.set_lo_hi16(g, 0x18, 0x38, v)
    }
    /// Stored inode bitmap checksum.
    pub fn inode_bitmap_csum(&self, g: u32) -> u32 {
        self.lo_hi16(g, 0x1A, 0x3A)
    }
    /// Sets the inode bitmap checksum.
    pub fn set_inode_bitmap_csum(&mut self, g: u32, v: u32) {
        self.set_lo_hi16(g, 0x1A, 0x3A, v)
    }
    /// Whether checksums are 32 bits wide (else the low 16 only).
    pub fn wide(&self) -> bool {
        self.wide
    }

    /// The descriptor checksum group `g` should carry.
    fn checksum(&self, sb: &Superblock, g: u32) -> u16 {
        let d = self.desc(g);
        let le_group = g.to_le_bytes();
        if sb.metadata_csum() {
            let mut c = crc32c(sb.csum_seed, &le_group);
            c = crc32c(c, &d[..0x1E]);
            c = crc32c(c, &[0, 0]);
            c = crc32c(c, &d[0x20..]);
            (c & 0xFFFF) as u16
        } else {
            let mut c = crc16(!0, &sb.uuid());
            c = crc16(c, &le_group);
            c = crc16(c, &d[..0x1E]);
            if self.wide {
                c = crc16(c, &d[0x20..]);
            }
            c
        }
    }

    /// The table's bytes with every descriptor checksum brought up to date.
    pub fn bytes_for_write(&mut self, sb: &Superblock) -> &[u8] {
        if sb.has_group_csum() {
            for g in 0..sb.group_count {
                let c = self.checksum(sb, g);
                put16(self.desc_mut(g), 0x1E, c);
            }
        }
        &self.raw
    }
}
