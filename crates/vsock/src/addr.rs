//! `struct sockaddr_vm`.

/// `AF_VSOCK`.
pub const AF_VSOCK: u16 = 40;
/// Bytes of `struct sockaddr_vm`.
pub const SOCKADDR_VM_LEN: usize = 16;

/// An `AF_VSOCK` address: a context id and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockAddr {
    /// Context id (`svm_cid`).
    pub cid: u32,
    /// Port (`svm_port`).
    pub port: u32,
}

impl SockAddr {
    /// Decodes a caller's address: `None` when shorter than `sockaddr_vm` or of another family.
    pub fn parse(b: &[u8]) -> Option<SockAddr> {
        if b.len() < SOCKADDR_VM_LEN || u16::from_ne_bytes([b[0], b[1]]) != AF_VSOCK {
            return None;
        }
        let word = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Some(SockAddr {
            port: word(4),
            cid: word(8),
        })
    }

    /// The address as `getsockname` and `accept` return it.
    pub fn encode(&self) -> [u8; SOCKADDR_VM_LEN] {
        let mut b = [0u8; SOCKADDR_VM_LEN];
        b[0..2].copy_from_slice(&AF_VSOCK.to_ne_bytes());
        b[4..8].copy_from_slice(&self.port.to_ne_bytes());
        b[8..12].copy_from_slice(&self.cid.to_ne_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let a = SockAddr { cid: 2, port: 5000 };
        assert_eq!(SockAddr::parse(&a.encode()), Some(a));
        assert_eq!(SockAddr::parse(&a.encode()[..15]), None);
        let mut b = a.encode();
        b[0] = 1;
        assert_eq!(SockAddr::parse(&b), None);
        assert_eq!(SockAddr::parse(&[]), None);
    }
}
