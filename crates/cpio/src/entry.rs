//! One archive member and its file type.

/// The two cpio formats Linux unpacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `070701`: no checksum.
    Newc,
    /// `070702`: the check field holds the sum of a regular file's data bytes.
    Crc,
}

/// The file type bits (`S_IFMT`) of a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// `S_IFLNK`; the entry's data is the link target.
    Symlink,
    /// `S_IFCHR`.
    CharDevice,
    /// `S_IFBLK`.
    BlockDevice,
    /// `S_IFIFO`.
    Fifo,
    /// `S_IFSOCK`.
    Socket,
    /// Any other value of the type bits (Linux skips such entries).
    Unknown(u32),
}

/// Mask of the file type bits of a mode.
pub const S_IFMT: u32 = 0o170_000;

impl FileType {
    /// The type named by a mode's `S_IFMT` bits.
    pub const fn from_mode(mode: u32) -> Self {
        match mode & S_IFMT {
            0o100_000 => FileType::Regular,
            0o040_000 => FileType::Directory,
            0o120_000 => FileType::Symlink,
            0o020_000 => FileType::CharDevice,
            0o060_000 => FileType::BlockDevice,
            0o010_000 => FileType::Fifo,
            0o140_000 => FileType::Socket,
            other => FileType::Unknown(other),
        }
    }
}

/// One member of an archive, borrowing its name and data from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The archive format the entry was read in.
    pub format: Format,
    /// Offset of the entry's header in the whole input.
    pub offset: usize,
    /// Inode number (hard links share one).
    pub ino: u32,
    /// File type and permission bits.
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Number of links.
    pub nlink: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    /// Major number of the device holding the file.
    pub dev_major: u32,
    /// Minor number of the device holding the file.
    pub dev_minor: u32,
    /// Major number of a character or block device entry.
    pub rdev_major: u32,
    /// Minor number of a character or block device entry.
    pub rdev_minor: u32,
    /// The check field (meaningful in the `crc` format only).
    pub check: u32,
    /// The path, without its terminating NUL. Usually relative (`bin/sh`), sometimes `.` or `./x`.
    pub name: &'a [u8],
    /// The file data; a symlink's target. Empty for all but the last of a set of hard links.
    pub data: &'a [u8],
}

impl<'a> Entry<'a> {
    /// The name as UTF-8, if it is.
    pub fn name_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.name).ok()
    }

    /// The file type from the mode.
    pub const fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }

    /// The permission bits, including set-user-id, set-group-id and sticky (`mode & 0o7777`).
    pub const fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// Whether this is a regular file.
    pub const fn is_file(&self) -> bool {
        matches!(self.file_type(), FileType::Regular)
    }

    /// Whether this is a directory.
    pub const fn is_dir(&self) -> bool {
        matches!(self.file_type(), FileType::Directory)
    }

    /// Whether this is a symbolic link.
    pub const fn is_symlink(&self) -> bool {
        matches!(self.file_type(), FileType::Symlink)
    }

    /// Whether this is a character device.
    pub const fn is_char(&self) -> bool {
        matches!(self.file_type(), FileType::CharDevice)
    }

    /// Whether this is a block device.
    pub const fn is_block(&self) -> bool {
        matches!(self.file_type(), FileType::BlockDevice)
    }
}
