//! Block devices, as the filesystem layer will use them.

use core::fmt;

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The buffer is not a whole number of sectors, or the range runs past the end of the device.
    OutOfRange,
    /// The device is read-only.
    ReadOnly,
    /// The device reported an I/O error.
    Io,
    /// The device does not support the request.
    Unsupported,
    /// The device did not answer in time.
    Timeout,
    /// The device broke the protocol; it is out of service.
    Broken,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::OutOfRange => "request out of range",
            BlockError::ReadOnly => "device is read-only",
            BlockError::Io => "I/O error",
            BlockError::Unsupported => "unsupported request",
            BlockError::Timeout => "device timed out",
            BlockError::Broken => "device broke the protocol",
        })
    }
}

/// Bytes per sector in every call of [`BlockDevice`].
pub const SECTOR_SIZE: usize = 512;

/// A disk: sectors of 512 bytes, read and written in whole sectors.
pub trait BlockDevice {
    /// Capacity in sectors.
    fn sectors(&self) -> u64;
    /// The device's preferred block size in bytes.
    fn block_size(&self) -> u32;
    /// Whether writes are refused.
    fn read_only(&self) -> bool;
    /// Reads `buf.len() / 512` sectors starting at `sector`.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `buf.len() / 512` sectors starting at `sector`.
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Makes completed writes durable.
    fn flush(&mut self) -> Result<(), BlockError>;
}
