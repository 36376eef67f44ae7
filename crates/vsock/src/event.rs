//! The event queue's one structure, `struct virtio_vsock_event` (virtio 1.2 §5.10.6.7): a 32-bit id.

/// `VIRTIO_VSOCK_EVENT_TRANSPORT_RESET`.
const TRANSPORT_RESET: u32 = 0;
/// Bytes of `struct virtio_vsock_event`.
pub const EVENT_LEN: usize = 4;

/// An event from the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The transport was reset (Firecracker: after a snapshot restore): every connection is gone, listeners
    /// stay, and the guest CID must be read again from the configuration.
    TransportReset,
    /// An id no driver knows (ignored).
    Unknown(u32),
}

/// The event in the bytes the device says it wrote into an event buffer; `None` unless exactly
/// [`EVENT_LEN`] bytes (Linux ignores any other length too).
pub fn parse_event(written: &[u8]) -> Option<Event> {
    let id = u32::from_le_bytes(written.try_into().ok()?);
    Some(match id {
        TRANSPORT_RESET => Event::TransportReset,
        other => Event::Unknown(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events() {
        assert_eq!(parse_event(&[0, 0, 0, 0]), Some(Event::TransportReset));
        assert_eq!(parse_event(&[1, 0, 0, 0]), Some(Event::Unknown(1)));
        assert_eq!(parse_event(&[0, 0, 0, 0x80]), Some(Event::Unknown(0x8000_0000)));
    }

    #[test]
    fn a_buffer_of_another_length_is_no_event() {
        for len in [0, 1, 3, 5, 8] {
            assert_eq!(parse_event(&alloc::vec![0; len]), None, "{len} bytes");
        }
    }
}
