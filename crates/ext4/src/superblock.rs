//! The superblock: validated geometry and feature flags, kept as its raw 1 KiB so that fields this crate does
//! not interpret are written back unchanged.

use crate::bytes::{le16, le32, put16, put32};
use crate::csum::crc32c;
use crate::error::{Error, Result};
use alloc::boxed::Box;

/// Byte offset of the superblock on the device.
pub const SB_OFFSET: u64 = 1024;
/// Size of the superblock.
pub const SB_SIZE: usize = 1024;

/// `s_feature_compat` bits.
pub mod compat {
    /// A journal exists (`s_journal_inum`).
    pub const HAS_JOURNAL: u32 = 0x4;
    /// Directories may carry an htree index.
    pub const DIR_INDEX: u32 = 0x20;
    /// Superblock backups only in the two groups of `s_backup_bgs`.
    pub const SPARSE_SUPER2: u32 = 0x200;
}

/// `s_feature_incompat` bits.
pub mod incompat {
    /// Directory entries carry a file type.
    pub const FILETYPE: u32 = 0x2;
    /// The journal needs recovery.
    pub const RECOVER: u32 = 0x4;
    /// The journal lives on another device.
    pub const JOURNAL_DEV: u32 = 0x8;
    /// Meta block groups.
    pub const META_BG: u32 = 0x10;
    /// Extent-mapped files.
    pub const EXTENTS: u32 = 0x40;
    /// 64-bit block numbers and group descriptors of `s_desc_size`.
    pub const BIT64: u32 = 0x80;
    /// Multi-mount protection.
    pub const MMP: u32 = 0x100;
    /// Flexible block groups.
    pub const FLEX_BG: u32 = 0x200;
    /// Extended attributes in inodes.
    pub const EA_INODE: u32 = 0x400;
    /// Data in directory entries.
    pub const DIRDATA: u32 = 0x1000;
    /// The checksum seed is stored in the superblock.
    pub const CSUM_SEED: u32 = 0x2000;
    /// Large directories (3-level htree, 2^32-byte directories).
    pub const LARGEDIR: u32 = 0x4000;
    /// Data inline in inodes.
    pub const INLINE_DATA: u32 = 0x8000;
    /// Encrypted inodes.
    pub const ENCRYPT: u32 = 0x10000;
    /// Case-folded names.
    pub const CASEFOLD: u32 = 0x20000;
    /// Everything this crate reads and writes correctly.
    pub const SUPPORTED: u32 = FILETYPE | RECOVER | EXTENTS | BIT64 | FLEX_BG | CSUM_SEED | LARGEDIR;
}

/// `s_feature_ro_compat` bits.
pub mod ro_compat {
    /// Superblock backups only in groups 0, 1 and powers of 3, 5, 7.
    pub const SPARSE_SUPER: u32 = 0x1;
    /// Files larger than 2 GiB.
    pub const LARGE_FILE: u32 = 0x2;
    /// Huge files (`i_blocks` in file-system blocks).
    pub const HUGE_FILE: u32 = 0x8;
    /// CRC16 group descriptor checksums.
    pub const GDT_CSUM: u32 = 0x10;
    /// Directories may have more than 65000 subdirectories (link count 1).
    pub const DIR_NLINK: u32 = 0x20;
    /// Large inodes reserve `s_min_extra_isize`.
    pub const EXTRA_ISIZE: u32 = 0x40;
    /// CRC32C checksums on all metadata.
    pub const METADATA_CSUM: u32 = 0x400;
    /// Features that allow writing.
    pub const WRITABLE: u32 =
        SPARSE_SUPER | LARGE_FILE | 0x4 | HUGE_FILE | GDT_CSUM | DIR_NLINK | EXTRA_ISIZE | METADATA_CSUM;
}

/// `s_state` bit: cleanly unmounted.
pub const STATE_VALID: u16 = 1;

/// The superblock with its derived geometry.
pub struct Superblock {
    raw: Box<[u8; SB_SIZE]>,
    /// Block size in bytes (1 KiB to 64 KiB).
    pub block_size: u32,
    /// Blocks in the file system.
    pub blocks_count: u64,
    /// First block of group 0 (1 for 1 KiB blocks, else 0).
    pub first_data_block: u32,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// On-disk inode record size.
    pub inode_size: u32,
    /// Group descriptor size (32, or `s_desc_size` with `64bit`).
    pub desc_size: u32,
    /// Number of block groups.
    pub group_count: u32,
    /// The CRC32C seed for metadata checksums.
    pub csum_seed: u32,
}

impl Superblock {
    /// Parses and validates a superblock read from a device of `dev_size` bytes.
    pub fn parse(bytes: &[u8], dev_size: u64) -> Result<Superblock> {
        let mut raw = Box::new([0u8; SB_SIZE]);
        raw.copy_from_slice(bytes.get(..SB_SIZE).ok_or(Error::Corrupt("short superblock"))?);
        if le16(&raw[..], 0x38) != 0xEF53 {
            return Err(Error::Corrupt("bad superblock magic"));
        }
        let mut sb = Superblock {
            raw,
            block_size: 0,
            blocks_count: 0,
            first_data_block: 0,
            blocks_per_group: 0,
            inodes_per_group: 0,
            inode_size: 128,
            desc_size: 32,
            group_count: 0,
            csum_seed: 0,
        };
        if sb.has_ro_compat(ro_compat::METADATA_CSUM) {
            if sb.raw[0x175] != 1 {
                return Err(Error::Corrupt("unknown checksum type"));
            }
            if sb.checksum() != le32(&sb.raw[..], 0x3FC) {
                return Err(Error::Corrupt("superblock checksum mismatch"));
            }
        }
        let log = le32(&sb.raw[..], 0x18);
        if log > 6 {
            return Err(Error::Corrupt("block size"));
        }
        sb.block_size = 1024 << log;
        if le32(&sb.raw[..], 0x1C) != log {
            return Err(Error::Unsupported("bigalloc"));
        }
        let bs = sb.block_size;
        sb.blocks_count = le32(&sb.raw[..], 0x4) as u64;
        if sb.is_64bit() {
            sb.blocks_count |= (le32(&sb.raw[..], 0x150) as u64) << 32;
        }
        sb.first_data_block = le32(&sb.raw[..], 0x14);
        if sb.first_data_block != u32::from(bs == 1024) {
            return Err(Error::Corrupt("first data block"));
        }
        if sb.blocks_count <= sb.first_data_block as u64 {
            return Err(Error::Corrupt("block count"));
        }
        if sb.blocks_count.checked_mul(bs as u64).is_none_or(|end| end > dev_size) {
            return Err(Error::Corrupt("file system larger than the device"));
        }
        sb.blocks_per_group = le32(&sb.raw[..], 0x20);
        sb.inodes_per_group = le32(&sb.raw[..], 0x28);
        if sb.blocks_per_group == 0 || sb.blocks_per_group > 8 * bs || !sb.blocks_per_group.is_multiple_of(8) {
            return Err(Error::Corrupt("blocks per group"));
        }
        if sb.inodes_per_group == 0 || sb.inodes_per_group > 8 * bs || !sb.inodes_per_group.is_multiple_of(8) {
            return Err(Error::Corrupt("inodes per group"));
        }
        let rev = le32(&sb.raw[..], 0x4C);
        if rev >= 1 {
            sb.inode_size = le16(&sb.raw[..], 0x58) as u32;
            if sb.inode_size < 128 || sb.inode_size > bs || !sb.inode_size.is_power_of_two() {
                return Err(Error::Corrupt("inode size"));
            }
            if sb.first_ino() < 11 {
                return Err(Error::Corrupt("first inode"));
            }
        }
        if sb.is_64bit() {
            sb.desc_size = le16(&sb.raw[..], 0xFE) as u32;
            if sb.desc_size < 64 || sb.desc_size > 1024 || !sb.desc_size.is_power_of_two() {
                return Err(Error::Corrupt("group descriptor size"));
            }
        }
        let groups = (sb.blocks_count - sb.first_data_block as u64).div_ceil(sb.blocks_per_group as u64);
        sb.group_count = u32::try_from(groups).map_err(|_| Error::Corrupt("group count"))?;
        if (sb.group_count as u64) * (sb.inodes_per_group as u64) != le32(&sb.raw[..], 0) as u64 {
            return Err(Error::Corrupt("inode count"));
        }
        if sb.has_incompat(incompat::CSUM_SEED) {
            sb.csum_seed = le32(&sb.raw[..], 0x270);
        } else {
            sb.csum_seed = crc32c(!0, &sb.raw[0x68..0x78]);
        }
        Ok(sb)
    }

    /// The checksum the superblock should carry.
    fn checksum(&self) -> u32 {
        crc32c(!0, &self.raw[..0x3FC])
    }

    /// The raw bytes with counts and the checksum brought up to date.
    pub fn bytes_for_write(&mut self) -> &[u8] {
        if self.metadata_csum() {
            let c = self.checksum();
            put32(&mut self.raw[..], 0x3FC, c);
        }
        &self.raw[..]
    }

    /// Whether `s_feature_compat` has `bit`.
    pub fn has_compat(&self, bit: u32) -> bool {
        le32(&self.raw[..], 0x5C) & bit != 0
    }
    /// Whether `s_feature_incompat` has `bit`.
    pub fn has_incompat(&self, bit: u32) -> bool {
        self.incompat() & bit != 0
    }
    /// Whether `s_feature_ro_compat` has `bit`.
    pub fn has_ro_compat(&self, bit: u32) -> bool {
        self.ro_compat() & bit != 0
    }
    /// `s_feature_incompat`.
    pub fn incompat(&self) -> u32 {
        le32(&self.raw[..], 0x60)
    }
    /// `s_feature_ro_compat`.
    pub fn ro_compat(&self) -> u32 {
        le32(&self.raw[..], 0x64)
    }
    /// Sets or clears an incompat bit.
    pub fn set_incompat(&mut self, bit: u32, on: bool) {
        let v = self.incompat();
        put32(&mut self.raw[..], 0x60, if on { v | bit } else { v & !bit });
    }
    /// `64bit` feature.
    pub fn is_64bit(&self) -> bool {
        self.has_incompat(incompat::BIT64)
    }
    /// `metadata_csum` feature.
    pub fn metadata_csum(&self) -> bool {
        self.has_ro_compat(ro_compat::METADATA_CSUM)
    }
    /// `gdt_csum` (CRC16 descriptors) without `metadata_csum`.
    pub fn gdt_csum(&self) -> bool {
        !self.metadata_csum() && self.has_ro_compat(ro_compat::GDT_CSUM)
    }
    /// Whether groups may carry the uninitialised flags.
    pub fn has_group_csum(&self) -> bool {
        self.metadata_csum() || self.gdt_csum()
    }
    /// `extents` feature.
    pub fn extents(&self) -> bool {
        self.has_incompat(incompat::EXTENTS)
    }
    /// `filetype` feature.
    pub fn filetype(&self) -> bool {
        self.has_incompat(incompat::FILETYPE)
    }
    /// The first non-reserved inode.
    pub fn first_ino(&self) -> u32 {
        if le32(&self.raw[..], 0x4C) == 0 {
            11
        } else {
            le32(&self.raw[..], 0x54)
        }
    }
    /// Total inodes.
    pub fn inodes_count(&self) -> u32 {
        le32(&self.raw[..], 0)
    }
    /// Blocks reserved for root.
    pub fn r_blocks_count(&self) -> u64 {
        let mut v = le32(&self.raw[..], 0x8) as u64;
        if self.is_64bit() {
            v |= (le32(&self.raw[..], 0x154) as u64) << 32;
        }
        v
    }
    /// Records the free block count.
    pub fn set_free_blocks(&mut self, v: u64) {
        put32(&mut self.raw[..], 0xC, v as u32);
        if self.is_64bit() {
            put32(&mut self.raw[..], 0x158, (v >> 32) as u32);
        }
    }
    /// Records the free inode count.
    pub fn set_free_inodes(&mut self, v: u32) {
        put32(&mut self.raw[..], 0x10, v);
    }
    /// Reserved GDT blocks after each descriptor-table copy.
    pub fn reserved_gdt_blocks(&self) -> u32 {
        le16(&self.raw[..], 0xCE) as u32
    }
    /// The journal inode (0 if none).
    pub fn journal_inum(&self) -> u32 {
        if self.has_compat(compat::HAS_JOURNAL) {
            le32(&self.raw[..], 0xE0)
        } else {
            0
        }
    }
    /// Head of the orphan inode list.
    pub fn last_orphan(&self) -> u32 {
        le32(&self.raw[..], 0xE8)
    }
    /// Empties the orphan list.
    pub fn set_last_orphan(&mut self, v: u32) {
        put32(&mut self.raw[..], 0xE8, v);
    }
    /// `s_state`.
    pub fn state(&self) -> u16 {
        le16(&self.raw[..], 0x3A)
    }
    /// Sets `s_state`.
    pub fn set_state(&mut self, v: u16) {
        put16(&mut self.raw[..], 0x3A, v);
    }
    /// Records a mount: mount time, mount count.
    pub fn note_mount(&mut self, now: u32) {
        put32(&mut self.raw[..], 0x2C, now);
        let c = le16(&self.raw[..], 0x34);
        put16(&mut self.raw[..], 0x34, c.wrapping_add(1));
    }
    /// Records a write time.
    pub fn set_wtime(&mut self, now: u32) {
        put32(&mut self.raw[..], 0x30, now);
    }

    /// The seed of directory hashes (`s_hash_seed`).
    pub fn hash_seed(&self) -> [u32; 4] {
        [0, 4, 8, 12].map(|i| le32(&self.raw[..], 0xEC + i))
    }

    /// The hash new htree indexes use (`s_def_hash_version`: 0 legacy, 1 half-MD4, 2 TEA).
    pub fn def_hash_version(&self) -> u8 {
        self.raw[0xFC]
    }

    /// Whether directory hashes treat name bytes as unsigned (`EXT2_FLAGS_UNSIGNED_HASH`).
    pub fn unsigned_hash(&self) -> bool {
        le32(&self.raw[..], 0x160) & 2 != 0
    }

    /// The volume UUID.
    pub fn uuid(&self) -> [u8; 16] {
        let mut u = [0; 16];
        u.copy_from_slice(&self.raw[0x68..0x78]);
        u
    }
    /// The extra inode size new inodes get.
    pub fn want_extra_isize(&self) -> u16 {
        let want = le16(&self.raw[..], 0x15E).max(le16(&self.raw[..], 0x15C));
        let room = self.inode_size.saturating_sub(128) as u16;
        if want == 0 || want > room { room.min(32) } else { want }
    }
    /// Whether group `g` holds a superblock and descriptor-table backup.
    pub fn group_has_super(&self, g: u32) -> bool {
        if g == 0 {
            return true;
        }
        if self.has_compat(compat::SPARSE_SUPER2) {
            return g == le32(&self.raw[..], 0x24C) || g == le32(&self.raw[..], 0x250);
        }
        if g <= 1 || !self.has_ro_compat(ro_compat::SPARSE_SUPER) {
            return true;
        }
        if g & 1 == 0 {
            return false;
        }
        [3u32, 5, 7].iter().any(|&p| {
            let mut n = g;
            while n.is_multiple_of(p) {
                n /= p;
            }
            n == 1
        })
    }
    /// Blocks occupied by the group descriptor table.
    pub fn gdt_blocks(&self) -> u32 {
        ((self.group_count as u64 * self.desc_size as u64).div_ceil(self.block_size as u64)) as u32
    }
    /// First block of group `g`.
    pub fn group_first_block(&self, g: u32) -> u64 {
        self.first_data_block as u64 + g as u64 * self.blocks_per_group as u64
    }
    /// Number of blocks in group `g` (the last group may be short).
    pub fn group_block_count(&self, g: u32) -> u32 {
        let start = self.group_first_block(g);
        (self.blocks_count - start).min(self.blocks_per_group as u64) as u32
    }
}
