//! The virtio block protocol (virtio 1.2 §5.2): request headers, status codes and configuration.

use crate::{Registers, Transport};

/// The device is read-only.
pub const F_RO: u64 = 1 << 5;
/// The configuration holds the preferred block size.
pub const F_BLK_SIZE: u64 = 1 << 6;
/// The device has a write cache that FLUSH empties.
pub const F_FLUSH: u64 = 1 << 9;

/// Read sectors.
pub const T_IN: u32 = 0;
/// Write sectors.
pub const T_OUT: u32 = 1;
/// Flush the write cache.
pub const T_FLUSH: u32 = 4;

/// Success.
pub const S_OK: u8 = 0;
/// I/O error.
pub const S_IOERR: u8 = 1;
/// Unsupported request.
pub const S_UNSUPP: u8 = 2;

/// Sectors are always 512 bytes in the protocol, whatever the block size.
pub const SECTOR: u64 = 512;
/// Bytes of a request header.
pub const HEADER_LEN: usize = 16;

/// A request header: type, reserved, sector.
pub fn header(kind: u32, sector: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&kind.to_le_bytes());
    h[8..].copy_from_slice(&sector.to_le_bytes());
    h
}

/// What the configuration space says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Capacity in 512-byte sectors.
    pub sectors: u64,
    /// Preferred block size in bytes (512 when not given).
    pub block_size: u32,
    /// Writes are refused.
    pub read_only: bool,
}

/// Reads capacity and block size.
pub fn geometry<R: Registers>(t: &Transport<R>) -> Geometry {
    let sectors = u64::from_le_bytes(t.config::<8>(0));
    let block_size = if t.features() & F_BLK_SIZE != 0 {
        u32::from_le_bytes(t.config::<4>(20)).clamp(512, 1 << 16)
    } else {
        512
    };
    Geometry {
        sectors,
        block_size,
        read_only: t.features() & F_RO != 0,
    }
}
