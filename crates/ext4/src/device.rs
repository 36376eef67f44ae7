//! The block device the file system lives on.

/// A block device failed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError;

/// Storage addressed in bytes. The file system only issues requests whose offset and length are multiples of
/// 512 (whole sectors): the 1 KiB superblock at byte 1024, and whole file-system blocks elsewhere.
pub trait BlockDevice {
    /// Fills `buf` from the device starting at byte `offset`.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Fills `buf` with file data (whole blocks, possibly many) starting at byte `offset`: what the caller
    /// keeps in a cache of its own (a page cache), so that a device with a buffer cache may read it past that
    /// cache in one large request. The same bytes as [`BlockDevice::read`], which it defaults to.
    fn read_data(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.read(offset, buf)
    }
    /// Writes `buf` to the device starting at byte `offset`.
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError>;
    /// Makes earlier writes durable.
    fn flush(&mut self) -> Result<(), IoError>;
    /// The device's size in bytes.
    fn size(&self) -> u64;
}
