//! Why an initramfs could not be unpacked to its end.

use core::fmt;
use ember_cpio::{Compression, CpioError};

/// Why a compressed stream could not be decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The input ends inside the stream.
    Truncated,
    /// The stream is malformed; the text says how.
    Corrupt(&'static str),
    /// The output (or a window or dictionary the stream asks for) would exceed the limit.
    TooLarge,
    /// Memory ran out before the limit was reached.
    OutOfMemory,
    /// A format Linux knows that this kernel does not decompress (bzip2, lzo).
    Unsupported,
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::Truncated => f.write_str("truncated"),
            DecompressError::Corrupt(why) => write!(f, "corrupt ({why})"),
            DecompressError::TooLarge => f.write_str("larger than the memory limit"),
            DecompressError::OutOfMemory => f.write_str("out of memory"),
            DecompressError::Unsupported => f.write_str("format not supported"),
        }
    }
}

/// Where and why unpacking stopped. Offsets are into the whole input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A plain archive is malformed.
    Cpio {
        /// Where the archive (or run of archives) starts.
        offset: usize,
        /// What is wrong; its offset is relative to `offset`.
        error: CpioError,
    },
    /// A compressed piece could not be decompressed.
    Decompress {
        /// Where it starts.
        offset: usize,
        /// Its format.
        format: Compression,
        /// Why.
        error: DecompressError,
    },
    /// The archive inside a compressed piece is malformed.
    InCompressed {
        /// Where the compressed piece starts.
        offset: usize,
        /// Its format.
        format: Compression,
        /// What is wrong; its offset is into the decompressed data.
        error: CpioError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cpio { offset, error } => write!(f, "archive at byte {offset}: {error}"),
            Error::Decompress { offset, format, error } => write!(f, "{format} data at byte {offset}: {error}"),
            Error::InCompressed { offset, format, error } => {
                write!(
                    f,
                    "archive in the {format} data at byte {offset}: {error} (decompressed offsets)"
                )
            }
        }
    }
}
