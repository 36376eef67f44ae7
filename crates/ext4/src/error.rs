//! The crate's error type.

use core::fmt;

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The block device reported an error.
    Io,
    /// On-disk metadata is inconsistent or fails its checksum; the text names what.
    Corrupt(&'static str),
    /// No such directory entry.
    NotFound,
    /// The name already exists.
    Exists,
    /// A directory was needed.
    NotDir,
    /// A directory was not allowed here.
    IsDir,
    /// The directory is not empty.
    NotEmpty,
    /// No free blocks or inodes.
    NoSpace,
    /// The file system is mounted read-only.
    ReadOnly,
    /// A name is longer than 255 bytes (or a symlink target longer than a block).
    NameTooLong,
    /// An argument is invalid (bad name, rename into own subtree, wrong inode kind...).
    InvalidArgument,
    /// The operation is not permitted on this kind of inode (hard link to a directory).
    NotPermitted,
    /// The link count would overflow.
    TooManyLinks,
    /// The offset or size is beyond what the file's block mapping can address.
    FileTooBig,
    /// The image uses a feature this crate does not implement; the text names it.
    Unsupported(&'static str),
    /// No extended attribute of that name (`ENODATA`).
    NoData,
    /// The heap could not hold a structure whose size the image sets (e.g. its group descriptor table).
    NoMemory,
}

impl Error {
    /// The Linux errno value (positive) that corresponds to this error; `Corrupt` maps to `EUCLEAN`
    /// (Linux's `EFSCORRUPTED`).
    pub fn errno(self) -> i32 {
        match self {
            Error::Io => 5,
            Error::Corrupt(_) => 117,
            Error::NotFound => 2,
            Error::Exists => 17,
            Error::NotDir => 20,
            Error::IsDir => 21,
            Error::NotEmpty => 39,
            Error::NoSpace => 28,
            Error::ReadOnly => 30,
            Error::NameTooLong => 36,
            Error::InvalidArgument => 22,
            Error::NotPermitted => 1,
            Error::TooManyLinks => 31,
            Error::FileTooBig => 27,
            Error::Unsupported(_) => 95,
            Error::NoData => 61,
            Error::NoMemory => 12,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io => write!(f, "block device I/O error"),
            Error::Corrupt(what) => write!(f, "corrupt file system: {what}"),
            Error::NotFound => write!(f, "no such entry"),
            Error::Exists => write!(f, "entry exists"),
            Error::NotDir => write!(f, "not a directory"),
            Error::IsDir => write!(f, "is a directory"),
            Error::NotEmpty => write!(f, "directory not empty"),
            Error::NoSpace => write!(f, "no space left"),
            Error::ReadOnly => write!(f, "read-only file system"),
            Error::NameTooLong => write!(f, "name too long"),
            Error::InvalidArgument => write!(f, "invalid argument"),
            Error::NotPermitted => write!(f, "operation not permitted"),
            Error::TooManyLinks => write!(f, "too many links"),
            Error::FileTooBig => write!(f, "file too big"),
            Error::Unsupported(what) => write!(f, "unsupported feature: {what}"),
            Error::NoData => write!(f, "no such extended attribute"),
            Error::NoMemory => write!(f, "out of memory for the image's metadata"),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T> = core::result::Result<T, Error>;
