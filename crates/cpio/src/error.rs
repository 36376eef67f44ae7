//! Why an archive could not be read.

use core::fmt;

use crate::Compression;

/// A malformed or unsupported archive. `offset` is a byte offset into the whole input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// The input holds a compressed image, which this reader does not unpack.
    Compressed {
        /// Where the compressed image starts.
        offset: usize,
        /// Its format.
        format: Compression,
    },
    /// A portable ASCII (`odc`, magic `070707`) archive; Linux only unpacks `newc` and `crc`.
    OldFormat {
        /// Where its header starts.
        offset: usize,
    },
    /// Neither a cpio magic nor a known compression magic.
    BadMagic {
        /// Where the magic was expected.
        offset: usize,
    },
    /// A header field that is not eight hex digits.
    BadHex {
        /// Where the field starts.
        offset: usize,
    },
    /// The input ends inside a header, name or file data.
    Truncated {
        /// Where the incomplete part starts.
        offset: usize,
    },
    /// A name of size zero, or one that does not end with its only NUL byte.
    BadName {
        /// Where the name starts.
        offset: usize,
    },
    /// A `crc` archive entry whose data does not sum to its check field.
    BadChecksum {
        /// Where the entry's header starts.
        offset: usize,
        /// The check field.
        expected: u32,
        /// The sum of the data bytes.
        actual: u32,
    },
    /// After a trailer and its zero padding, the next archive starts at an offset that is not a multiple of 4.
    BrokenPadding {
        /// Where the next archive starts.
        offset: usize,
    },
    /// The input ends after an entry without a `TRAILER!!!` entry.
    MissingTrailer {
        /// The end of the input.
        offset: usize,
    },
}

impl CpioError {
    /// The byte offset the error refers to.
    pub const fn offset(&self) -> usize {
        match *self {
            CpioError::Compressed { offset, .. }
            | CpioError::OldFormat { offset }
            | CpioError::BadMagic { offset }
            | CpioError::BadHex { offset }
            | CpioError::Truncated { offset }
            | CpioError::BadName { offset }
            | CpioError::BadChecksum { offset, .. }
            | CpioError::BrokenPadding { offset }
            | CpioError::MissingTrailer { offset } => offset,
        }
    }
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::Compressed { offset, format } => {
                write!(
                    f,
                    "compressed initramfs ({format}) at offset {offset} not supported yet"
                )
            }
            CpioError::OldFormat { offset } => {
                write!(
                    f,
                    "cpio at offset {offset} uses the odc format (070707); use newc (-H newc)"
                )
            }
            CpioError::BadMagic { offset } => write!(f, "no cpio magic at offset {offset}"),
            CpioError::BadHex { offset } => write!(f, "cpio header field at offset {offset} is not 8 hex digits"),
            CpioError::Truncated { offset } => write!(f, "cpio archive truncated (entry part at offset {offset})"),
            CpioError::BadName { offset } => write!(f, "cpio name at offset {offset} is not NUL-terminated"),
            CpioError::BadChecksum {
                offset,
                expected,
                actual,
            } => write!(
                f,
                "cpio entry at offset {offset}: data checksum {actual:#010x}, header says {expected:#010x}"
            ),
            CpioError::BrokenPadding { offset } => {
                write!(
                    f,
                    "cpio archive at offset {offset} is not 4-byte aligned (broken padding)"
                )
            }
            CpioError::MissingTrailer { offset } => {
                write!(f, "cpio archive ends at offset {offset} without TRAILER!!!")
            }
        }
    }
}
