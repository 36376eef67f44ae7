//! `struct virtio_vsock_hdr`: 44 little-endian bytes before each packet's payload.

/// Bytes of the header.
pub const HEADER_LEN: usize = 44;
/// `VIRTIO_VSOCK_TYPE_STREAM`, the only type ember speaks.
pub const TYPE_STREAM: u16 = 1;

/// A packet's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Connection request.
    Request = 1,
    /// Connection accepted.
    Response = 2,
    /// Reset: refused, or the connection is gone.
    Rst = 3,
    /// The sender will receive and/or send no more (`flags`).
    Shutdown = 4,
    /// Data.
    Rw = 5,
    /// The sender's `buf_alloc`/`fwd_cnt` changed.
    CreditUpdate = 6,
    /// The sender wants a credit update.
    CreditRequest = 7,
}

impl Op {
    fn from_u16(v: u16) -> Option<Op> {
        Some(match v {
            1 => Op::Request,
            2 => Op::Response,
            3 => Op::Rst,
            4 => Op::Shutdown,
            5 => Op::Rw,
            6 => Op::CreditUpdate,
            7 => Op::CreditRequest,
            _ => return None,
        })
    }
}

/// A packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Sender's CID.
    pub src_cid: u64,
    /// Receiver's CID.
    pub dst_cid: u64,
    /// Sender's port.
    pub src_port: u32,
    /// Receiver's port.
    pub dst_port: u32,
    /// Payload bytes.
    pub len: u32,
    /// Socket type (`TYPE_STREAM`).
    pub ty: u16,
    /// Operation.
    pub op: Op,
    /// Operation flags (`SHUTDOWN` flags).
    pub flags: u32,
    /// Receive buffer space of the sender.
    pub buf_alloc: u32,
    /// Bytes the sender's application has taken from that buffer, ever (wrapping).
    pub fwd_cnt: u32,
}

/// Why a received buffer is not a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Fewer bytes than a header.
    Short(usize),
    /// The header claims more payload than was written.
    Length {
        /// The header's `len`.
        claimed: u32,
        /// Payload bytes written.
        written: usize,
    },
    /// A socket type other than stream.
    Type(u16),
    /// An unknown operation.
    Op(u16),
}

impl core::fmt::Display for PacketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PacketError::Short(n) => write!(f, "{n} bytes, shorter than a header"),
            PacketError::Length { claimed, written } => {
                write!(f, "header claims {claimed} payload bytes, {written} written")
            }
            PacketError::Type(t) => write!(f, "socket type {t}"),
            PacketError::Op(o) => write!(f, "operation {o}"),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | u64::from(u32_at(b, at + 4)) << 32
}

impl Header {
    /// The header as it goes on the wire.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.src_cid.to_le_bytes());
        b[8..16].copy_from_slice(&self.dst_cid.to_le_bytes());
        b[16..20].copy_from_slice(&self.src_port.to_le_bytes());
        b[20..24].copy_from_slice(&self.dst_port.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..30].copy_from_slice(&self.ty.to_le_bytes());
        b[30..32].copy_from_slice(&(self.op as u16).to_le_bytes());
        b[32..36].copy_from_slice(&self.flags.to_le_bytes());
        b[36..40].copy_from_slice(&self.buf_alloc.to_le_bytes());
        b[40..44].copy_from_slice(&self.fwd_cnt.to_le_bytes());
        b
    }
}

/// The header and payload of a buffer the device wrote (`written`: exactly the bytes it said it wrote).
/// Bytes past the header's `len` are ignored.
pub fn parse_packet(written: &[u8]) -> Result<(Header, &[u8]), PacketError> {
    if written.len() < HEADER_LEN {
        return Err(PacketError::Short(written.len()));
    }
    let b = written;
    let len = u32_at(b, 24);
    let have = written.len() - HEADER_LEN;
    if len as usize > have {
        return Err(PacketError::Length {
            claimed: len,
            written: have,
        });
    }
    let ty = u16_at(b, 28);
    if ty != TYPE_STREAM {
        return Err(PacketError::Type(ty));
    }
    let op = u16_at(b, 30);
    let op = Op::from_u16(op).ok_or(PacketError::Op(op))?;
    let h = Header {
        src_cid: u64_at(b, 0),
        dst_cid: u64_at(b, 8),
        src_port: u32_at(b, 16),
        dst_port: u32_at(b, 20),
        len,
        ty,
        op,
        flags: u32_at(b, 32),
        buf_alloc: u32_at(b, 36),
        fwd_cnt: u32_at(b, 40),
    };
    Ok((h, &written[HEADER_LEN..HEADER_LEN + len as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(op: Op, len: u32) -> Header {
        Header {
            src_cid: 2,
            dst_cid: 0x1_0000_0003,
            src_port: 1234,
            dst_port: 52,
            len,
            ty: TYPE_STREAM,
            op,
            flags: 3,
            buf_alloc: 65536,
            fwd_cnt: 0xdead_beef,
        }
    }

    #[test]
    fn round_trip() {
        let h = header(Op::Rw, 5);
        let mut b = h.encode().to_vec();
        b.extend_from_slice(b"hello and more");
        let (got, payload) = parse_packet(&b).unwrap();
        assert_eq!(got, h);
        assert_eq!(payload, b"hello");
        // The layout of Linux's struct virtio_vsock_hdr.
        assert_eq!(&b[..8], &2u64.to_le_bytes());
        assert_eq!(&b[8..16], &0x1_0000_0003u64.to_le_bytes());
        assert_eq!(&b[30..32], &5u16.to_le_bytes());
        assert_eq!(&b[40..44], &0xdead_beefu32.to_le_bytes());
    }

    #[test]
    fn hostile_buffers() {
        assert_eq!(parse_packet(&[]), Err(PacketError::Short(0)));
        assert_eq!(parse_packet(&[0; 43]), Err(PacketError::Short(43)));
        let mut b = header(Op::Rw, 10).encode().to_vec();
        b.extend_from_slice(&[0; 9]);
        assert_eq!(
            parse_packet(&b),
            Err(PacketError::Length {
                claimed: 10,
                written: 9
            })
        );
        let b = header(Op::Rw, u32::MAX).encode();
        assert!(matches!(parse_packet(&b), Err(PacketError::Length { .. })));
        let mut b = header(Op::Request, 0).encode();
        b[28] = 2; // SOCK_SEQPACKET
        assert_eq!(parse_packet(&b), Err(PacketError::Type(2)));
        for op in [0u16, 8, 0xffff] {
            let mut b = header(Op::Request, 0).encode();
            b[30..32].copy_from_slice(&op.to_le_bytes());
            assert_eq!(parse_packet(&b), Err(PacketError::Op(op)));
        }
    }

    #[test]
    fn every_short_prefix_is_an_error() {
        let mut b = header(Op::Rw, 4).encode().to_vec();
        b.extend_from_slice(b"data");
        for n in 0..b.len() {
            assert!(parse_packet(&b[..n]).is_err(), "{n} bytes");
        }
        assert!(parse_packet(&b).is_ok());
    }
}
