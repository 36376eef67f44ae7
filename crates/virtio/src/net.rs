//! The virtio network protocol (virtio 1.2 §5.1), without offloads: the per-packet header, the MAC address
//! in the configuration, and checking what the device says it received.

use crate::{Registers, Transport, features};

/// The configuration holds the MAC address.
pub const F_MAC: u64 = 1 << 5;
/// The receive queue.
pub const RX_QUEUE: u16 = 0;
/// The transmit queue.
pub const TX_QUEUE: u16 = 1;
/// Largest Ethernet frame without offloads (1500 bytes of payload, 14 of header; no FCS through virtio).
pub const MAX_FRAME: usize = 1514;
/// Smallest frame worth handing up: an Ethernet header.
pub const MIN_FRAME: usize = 14;

/// Bytes of the header before each packet: 12 once VERSION_1 is agreed (`num_buffers` is always there),
/// 10 on a legacy device without mergeable receive buffers.
pub fn header_len(negotiated: u64) -> usize {
    if negotiated & features::VERSION_1 != 0 { 12 } else { 10 }
}

/// The MAC address in the configuration, when the device gives one (`F_MAC`).
pub fn mac<R: Registers>(t: &Transport<R>) -> Option<[u8; 6]> {
    (t.features() & F_MAC != 0).then(|| t.config::<6>(0))
}

/// Why a received buffer is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// The device wrote less than a header and an Ethernet header.
    Short(u32),
    /// The device claims more than the buffer holds or a frame can be.
    Long(u32),
}

/// The frame inside a receive buffer the device wrote `written` bytes into (header included): its offset and
/// length.
pub fn rx_frame(written: u32, negotiated: u64, buffer_len: usize) -> Result<(usize, usize), RxError> {
    let hdr = header_len(negotiated);
    let w = written as usize;
    if w < hdr + MIN_FRAME {
        return Err(RxError::Short(written));
    }
    if w > buffer_len || w - hdr > MAX_FRAME {
        return Err(RxError::Long(written));
    }
    Ok((hdr, w - hdr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        assert_eq!(header_len(0), 10);
        assert_eq!(header_len(features::VERSION_1), 12);
    }

    #[test]
    fn received_lengths() {
        let v1 = features::VERSION_1;
        assert_eq!(rx_frame(12 + 60, v1, 1526), Ok((12, 60)));
        assert_eq!(rx_frame(10 + 1514, 0, 1526), Ok((10, 1514)));
        assert_eq!(rx_frame(12 + 13, v1, 1526), Err(RxError::Short(25)));
        assert_eq!(rx_frame(0, v1, 1526), Err(RxError::Short(0)));
        assert_eq!(rx_frame(1527, v1, 1526), Err(RxError::Long(1527)));
        assert_eq!(rx_frame(10 + 1515, 0, 4096), Err(RxError::Long(1525)));
        assert_eq!(rx_frame(u32::MAX, v1, 1526), Err(RxError::Long(u32::MAX)));
    }
}
