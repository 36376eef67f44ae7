//! Inode records: field access, timestamps, checksums.

use crate::bytes::{le16, le32, put16, put32};
use crate::csum::crc32c;
use alloc::vec::Vec;

/// An inode number: the handle callers use for files.
pub type Ino = u32;

/// The root directory's inode.
pub const ROOT_INO: Ino = 2;

/// `i_flags`: the directory has an htree index.
pub const INDEX_FL: u32 = 0x1000;
/// `i_flags`: `i_blocks` counts file-system blocks.
pub const HUGE_FILE_FL: u32 = 0x40000;
/// `i_flags`: the file is mapped by extents.
pub const EXTENTS_FL: u32 = 0x80000;
/// `i_flags`: data inline in the inode.
pub const INLINE_DATA_FL: u32 = 0x1000_0000;

/// What kind of file an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// A symbolic link.
    Symlink,
}

impl FileType {
    /// The type from the high bits of `i_mode`.
    pub fn from_mode(mode: u16) -> Option<FileType> {
        Some(match mode & 0xF000 {
            0x8000 => FileType::Regular,
            0x4000 => FileType::Directory,
            0x2000 => FileType::CharDevice,
            0x6000 => FileType::BlockDevice,
            0x1000 => FileType::Fifo,
            0xC000 => FileType::Socket,
            0xA000 => FileType::Symlink,
            _ => return None,
        })
    }
    /// The `i_mode` type bits.
    pub fn mode_bits(self) -> u16 {
        match self {
            FileType::Regular => 0x8000,
            FileType::Directory => 0x4000,
            FileType::CharDevice => 0x2000,
            FileType::BlockDevice => 0x6000,
            FileType::Fifo => 0x1000,
            FileType::Socket => 0xC000,
            FileType::Symlink => 0xA000,
        }
    }
    /// The directory-entry type code (`filetype` feature).
    pub fn dirent_code(self) -> u8 {
        match self {
            FileType::Regular => 1,
            FileType::Directory => 2,
            FileType::CharDevice => 3,
            FileType::BlockDevice => 4,
            FileType::Fifo => 5,
            FileType::Socket => 6,
            FileType::Symlink => 7,
        }
    }
    /// The type from a directory-entry type code.
    pub fn from_dirent_code(code: u8) -> Option<FileType> {
        Some(match code {
            1 => FileType::Regular,
            2 => FileType::Directory,
            3 => FileType::CharDevice,
            4 => FileType::BlockDevice,
            5 => FileType::Fifo,
            6 => FileType::Socket,
            7 => FileType::Symlink,
            _ => return None,
        })
    }
}

/// A point in time: seconds since the epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Seconds since 1970 (ext4 stores 34 bits: 1901 to 2446).
    pub sec: i64,
    /// Nanoseconds (stored only in inodes with room for the extra fields).
    pub nsec: u32,
}

/// An inode's attributes, as `stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Inode number.
    pub ino: Ino,
    /// File type.
    pub kind: FileType,
    /// Permission bits (including setuid, setgid, sticky).
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hard links.
    pub nlink: u32,
    /// Space used, in 512-byte sectors.
    pub blocks: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Creation (zero when the inode has no room for it).
    pub crtime: Timestamp,
    /// Device number (major, minor) of a device inode.
    pub rdev: (u32, u32),
}

/// An inode record read from the table.
#[derive(Clone)]
pub struct Inode {
    /// Its number.
    pub ino: Ino,
    /// The on-disk record (`inode_size` bytes).
    pub raw: Vec<u8>,
}

impl Inode {
    /// `i_mode`.
    pub fn mode(&self) -> u16 {
        le16(&self.raw, 0)
    }
    /// Sets `i_mode`.
    pub fn set_mode(&mut self, v: u16) {
        put16(&mut self.raw, 0, v)
    }
    /// The file type, if the mode names one.
    pub fn kind(&self) -> Option<FileType> {
        FileType::from_mode(self.mode())
    }
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == Some(FileType::Directory)
    }
    /// Owner.
    pub fn uid(&self) -> u32 {
        le16(&self.raw, 2) as u32 | (le16(&self.raw, 0x78) as u32) << 16
    }
    /// Sets the owner.
    pub fn set_uid(&mut self, v: u32) {
        put16(&mut self.raw, 2, v as u16);
        put16(&mut self.raw, 0x78, (v >> 16) as u16);
    }
    /// Group.
    pub fn gid(&self) -> u32 {
        le16(&self.raw, 0x18) as u32 | (le16(&self.raw, 0x7A) as u32) << 16
    }
    /// Sets the group.
    pub fn set_gid(&mut self, v: u32) {
        put16(&mut self.raw, 0x18, v as u16);
        put16(&mut self.raw, 0x7A, (v >> 16) as u16);
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        le32(&self.raw, 4) as u64 | (le32(&self.raw, 0x6C) as u64) << 32
    }
    /// Sets the size.
    pub fn set_size(&mut self, v: u64) {
        put32(&mut self.raw, 4, v as u32);
        put32(&mut self.raw, 0x6C, (v >> 32) as u32);
    }
    /// Link count.
    pub fn links(&self) -> u16 {
        le16(&self.raw, 0x1A)
    }
    /// Sets the link count.
    pub fn set_links(&mut self, v: u16) {
        put16(&mut self.raw, 0x1A, v)
    }
    /// `i_flags`.
    pub fn flags(&self) -> u32 {
        le32(&self.raw, 0x20)
    }
    /// Sets `i_flags`.
    pub fn set_flags(&mut self, v: u32) {
        put32(&mut self.raw, 0x20, v)
    }
    /// Whether the file is extent-mapped.
    pub fn has_extents(&self) -> bool {
        self.flags() & EXTENTS_FL != 0
    }
    /// Space used in 512-byte sectors (a `HUGE_FILE_FL` inode counts blocks; converted with `block_size`).
    pub fn sectors(&self, block_size: u32) -> u64 {
        let v = le32(&self.raw, 0x1C) as u64 | (le16(&self.raw, 0x74) as u64) << 32;
        if self.flags() & HUGE_FILE_FL != 0 {
            v * (block_size as u64 / 512)
        } else {
            v
        }
    }
    /// Sets the space used in 512-byte sectors (clearing `HUGE_FILE_FL`).
    pub fn set_sectors(&mut self, v: u64) {
        put32(&mut self.raw, 0x1C, v as u32);
        put16(&mut self.raw, 0x74, (v >> 32) as u16);
        let f = self.flags();
        self.set_flags(f & !HUGE_FILE_FL);
    }
    /// The 60-byte `i_block` area.
    pub fn i_block(&self) -> &[u8] {
        &self.raw[0x28..0x64]
    }
    /// The 60-byte `i_block` area, writable.
    pub fn i_block_mut(&mut self) -> &mut [u8] {
        &mut self.raw[0x28..0x64]
    }
    /// `i_generation`.
    pub fn generation(&self) -> u32 {
        le32(&self.raw, 0x64)
    }
    /// The extended-attribute block (0 if none).
    pub fn file_acl(&self) -> u64 {
        le32(&self.raw, 0x68) as u64 | (le16(&self.raw, 0x76) as u64) << 32
    }
    /// Sets the extended-attribute block.
    pub fn set_file_acl(&mut self, v: u64) {
        put32(&mut self.raw, 0x68, v as u32);
        put16(&mut self.raw, 0x76, (v >> 32) as u16);
    }
    /// `i_dtime` (deletion time; in an orphan, the next orphan's number).
    pub fn dtime(&self) -> u32 {
        le32(&self.raw, 0x14)
    }
    /// Sets `i_dtime`.
    pub fn set_dtime(&mut self, v: u32) {
        put32(&mut self.raw, 0x14, v)
    }
    /// `i_extra_isize`, clamped to what the record holds.
    fn extra_isize(&self) -> usize {
        if self.raw.len() <= 128 {
            0
        } else {
            (le16(&self.raw, 0x80) as usize).min(self.raw.len() - 128)
        }
    }
    /// Whether the extra field ending at record offset `end` exists.
    fn has_extra(&self, end: usize) -> bool {
        128 + self.extra_isize() >= end
    }
    fn time(&self, base: usize, extra: usize) -> Timestamp {
        let mut t = Timestamp {
            sec: le32(&self.raw, base) as i32 as i64,
            nsec: 0,
        };
        if self.has_extra(extra + 4) {
            let e = le32(&self.raw, extra);
            t.sec += ((e & 3) as i64) << 32;
            t.nsec = (e >> 2).min(999_999_999);
        }
        t
    }
    fn set_time(&mut self, base: usize, extra: usize, t: Timestamp) {
        put32(&mut self.raw, base, t.sec as u32);
        if self.has_extra(extra + 4) {
            let epoch = ((t.sec - (t.sec as i32 as i64)) >> 32) as u32 & 3;
            put32(&mut self.raw, extra, epoch | (t.nsec.min(999_999_999) << 2));
        }
    }
    /// Last access time.
    pub fn atime(&self) -> Timestamp {
        self.time(0x8, 0x8C)
    }
    /// Sets the access time.
    pub fn set_atime(&mut self, t: Timestamp) {
        self.set_time(0x8, 0x8C, t)
    }
    /// Last change time.
    pub fn ctime(&self) -> Timestamp {
        self.time(0xC, 0x84)
    }
    /// Sets the change time.
    pub fn set_ctime(&mut self, t: Timestamp) {
        self.set_time(0xC, 0x84, t)
    }
    /// Modification time.
    pub fn mtime(&self) -> Timestamp {
        self.time(0x10, 0x88)
    }
    /// Sets the modification time.
    pub fn set_mtime(&mut self, t: Timestamp) {
        self.set_time(0x10, 0x88, t)
    }
    /// Creation time (zero if the record has no room for it).
    pub fn crtime(&self) -> Timestamp {
        if self.has_extra(0x94) {
            self.time(0x90, 0x94)
        } else {
            Timestamp::default()
        }
    }
    /// Sets the creation time if the record has room for it.
    pub fn set_crtime(&mut self, t: Timestamp) {
        if self.has_extra(0x94) {
            self.set_time(0x90, 0x94, t)
        }
    }
    /// The device number of a device inode, as Linux's ext4 encodes it.
    pub fn rdev(&self) -> (u32, u32) {
        let b = self.i_block();
        let old = le32(b, 0);
        if old != 0 {
            ((old >> 8) & 0xFF, old & 0xFF)
        } else {
            let new = le32(b, 4);
            ((new & 0xFFF00) >> 8, (new & 0xFF) | ((new >> 12) & 0xFFF00))
        }
    }
    /// Stores a device number.
    pub fn set_rdev(&mut self, major: u32, minor: u32) {
        let b = self.i_block_mut();
        b.fill(0);
        if major < 256 && minor < 256 {
            put32(b, 0, (major << 8) | minor);
        } else {
            put32(b, 4, (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & !0xFF) << 12));
        }
    }

    /// The metadata checksum of this record (`seed` is the file system's seed).
    pub fn checksum(&self, seed: u32) -> u32 {
        let r = &self.raw;
        let mut c = crc32c(seed, &self.ino.to_le_bytes());
        c = crc32c(c, &self.generation().to_le_bytes());
        let ino_seed = c;
        c = crc32c(ino_seed, &r[..0x7C]);
        c = crc32c(c, &[0, 0]);
        c = crc32c(c, &r[0x7E..128]);
        if r.len() > 128 {
            c = crc32c(c, &r[128..0x82]);
            let mut off = 0x82;
            if self.has_extra(0x84) {
                c = crc32c(c, &[0, 0]);
                off += 2;
            }
            c = crc32c(c, &r[off..]);
        }
        if self.has_extra(0x84) { c } else { c & 0xFFFF }
    }
    /// The checksum stored in the record.
    pub fn stored_checksum(&self) -> u32 {
        let mut c = le16(&self.raw, 0x7C) as u32;
        if self.has_extra(0x84) {
            c |= (le16(&self.raw, 0x82) as u32) << 16;
        }
        c
    }
    /// Stores the checksum for `seed`.
    pub fn update_checksum(&mut self, seed: u32) {
        let c = self.checksum(seed);
        put16(&mut self.raw, 0x7C, c as u16);
        if self.has_extra(0x84) {
            put16(&mut self.raw, 0x82, (c >> 16) as u16);
        }
    }
    /// The per-inode seed other checksums of this file (extent blocks, directory blocks) start from.
    pub fn csum_seed(&self, fs_seed: u32) -> u32 {
        let c = crc32c(fs_seed, &self.ino.to_le_bytes());
        crc32c(c, &self.generation().to_le_bytes())
    }

    /// This inode's attributes (`kind` must be valid: callers check [`Inode::kind`] when reading).
    pub fn metadata(&self, block_size: u32) -> Option<Metadata> {
        let kind = self.kind()?;
        let rdev = match kind {
            FileType::CharDevice | FileType::BlockDevice => self.rdev(),
            _ => (0, 0),
        };
        Some(Metadata {
            ino: self.ino,
            kind,
            perm: self.mode() & 0o7777,
            uid: self.uid(),
            gid: self.gid(),
            size: self.size(),
            nlink: self.links() as u32,
            blocks: self.sectors(block_size),
            atime: self.atime(),
            mtime: self.mtime(),
            ctime: self.ctime(),
            crtime: self.crtime(),
            rdev,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_epoch_bits_and_nanoseconds() {
        let mut i = Inode {
            ino: 12,
            raw: alloc::vec![0u8; 256],
        };
        put16(&mut i.raw, 0x80, 32);
        for sec in [0i64, -1, 1_700_000_000, (1 << 31) + 5, (1 << 33) + 7, -(1 << 31)] {
            let t = Timestamp { sec, nsec: 999_999_999 };
            i.set_mtime(t);
            assert_eq!(i.mtime(), t, "{sec}");
        }
        let mut small = Inode {
            ino: 12,
            raw: alloc::vec![0u8; 128],
        };
        small.set_mtime(Timestamp { sec: 5, nsec: 7 });
        assert_eq!(small.mtime(), Timestamp { sec: 5, nsec: 0 });
    }

    #[test]
    fn device_numbers_use_linux_encodings() {
        let mut i = Inode {
            ino: 12,
            raw: alloc::vec![0u8; 256],
        };
        for (ma, mi) in [(4, 1), (259, 300), (8, 70000), (0, 0)] {
            i.set_rdev(ma, mi);
            assert_eq!(i.rdev(), (ma, mi));
        }
        i.set_rdev(4, 1);
        assert_eq!(le32(i.i_block(), 0), 0x401);
    }
}
