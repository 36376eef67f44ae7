//! Socket message formats of the Linux x86-64 ABI, decoded from and encoded to plain bytes: Unix socket
//! addresses ([`UnixAddr`]), `struct msghdr` ([`MsgHdr`]) and the `SCM_RIGHTS` control messages that carry
//! descriptors ([`parse_rights`], [`encode_rights`]). Bytes come from user space: every malformed input is an
//! error, never a panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

/// `AF_UNIX`.
pub const AF_UNIX: u16 = 1;
/// `AF_UNSPEC` (a datagram `connect` to it dissolves the association).
pub const AF_UNSPEC: u16 = 0;
/// Bytes of `sun_path`.
pub const SUN_PATH_LEN: usize = 108;
/// Bytes of `struct sockaddr_un`.
pub const SOCKADDR_UN_LEN: usize = 2 + SUN_PATH_LEN;
/// Bytes of `struct msghdr`.
pub const MSGHDR_LEN: usize = 56;
/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 1;
/// `SCM_RIGHTS`.
pub const SCM_RIGHTS: i32 = 1;
/// `SCM_CREDENTIALS`.
pub const SCM_CREDENTIALS: i32 = 2;
/// The most descriptors one message carries (Linux's `SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;
/// Bytes of `struct cmsghdr` (`cmsg_len` as a `size_t`, level, type).
const CMSG_HDR: usize = 16;

/// Why bytes are not a valid message part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Malformed (Linux's `EINVAL`).
    Invalid,
    /// Another address family (`EAFNOSUPPORT`, or `EINVAL` where Linux says so).
    Family,
}

/// A Unix socket address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnixAddr {
    /// No name (`addrlen` just the family): unbound, or bind's request for an automatic name.
    Unnamed,
    /// A path in the file tree.
    Path(Vec<u8>),
    /// A name in the abstract namespace (the bytes after the leading NUL, exactly `addrlen - 3` of them).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// Decodes the `len` bytes of a `sockaddr_un` a call was given.
    pub fn parse(bytes: &[u8]) -> Result<UnixAddr, Error> {
        if bytes.len() < 2 || bytes.len() > SOCKADDR_UN_LEN {
            return Err(Error::Invalid);
        }
        if u16::from_ne_bytes([bytes[0], bytes[1]]) != AF_UNIX {
            return Err(Error::Family);
        }
        let path = &bytes[2..];
        match path.first() {
            None => Ok(UnixAddr::Unnamed),
            Some(0) => Ok(UnixAddr::Abstract(path[1..].to_vec())),
            Some(_) => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                Ok(UnixAddr::Path(path[..end].to_vec()))
            }
        }
    }

    /// The `sockaddr_un` bytes Linux returns for it (`getsockname`, `accept`, `recvfrom`): the family, then
    /// the path with its NUL, or the NUL and the abstract name.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(SOCKADDR_UN_LEN);
        v.extend_from_slice(&AF_UNIX.to_ne_bytes());
        match self {
            UnixAddr::Unnamed => {}
            UnixAddr::Path(p) => {
                v.extend_from_slice(p);
                v.push(0);
            }
            UnixAddr::Abstract(n) => {
                v.push(0);
                v.extend_from_slice(n);
            }
        }
        v.truncate(SOCKADDR_UN_LEN);
        v
    }
}

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// Bytes of `struct sockaddr_in`.
pub const SOCKADDR_IN_LEN: usize = 16;

/// An IPv4 socket address: address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InetAddr {
    /// The address.
    pub addr: [u8; 4],
    /// The port.
    pub port: u16,
}

impl InetAddr {
    /// Decodes the `len` bytes of a `sockaddr_in` a call was given (at least 16, as Linux asks).
    pub fn parse(bytes: &[u8]) -> Result<InetAddr, Error> {
        if bytes.len() < SOCKADDR_IN_LEN {
            return Err(Error::Invalid);
        }
        if family(bytes) != Some(AF_INET) {
            return Err(Error::Family);
        }
        Ok(InetAddr {
            port: u16::from_be_bytes([bytes[2], bytes[3]]),
            addr: [bytes[4], bytes[5], bytes[6], bytes[7]],
        })
    }

    /// The 16 bytes of its `sockaddr_in`.
    pub fn encode(&self) -> [u8; SOCKADDR_IN_LEN] {
        let mut b = [0u8; SOCKADDR_IN_LEN];
        b[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        b[2..4].copy_from_slice(&self.port.to_be_bytes());
        b[4..8].copy_from_slice(&self.addr);
        b
    }
}

/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// Bytes of `struct sockaddr_in6`.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// The shortest `sockaddr_in6` Linux takes (RFC 2133's, without `sin6_scope_id`).
pub const SOCKADDR_IN6_MIN: usize = 24;

/// An IPv6 socket address: address, port, flow information and scope (interface index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inet6Addr {
    /// The address.
    pub addr: [u8; 16],
    /// The port.
    pub port: u16,
    /// `sin6_flowinfo`, as given (network order).
    pub flowinfo: u32,
    /// `sin6_scope_id`: the interface of a link-local address (0: none).
    pub scope_id: u32,
}

impl Inet6Addr {
    /// Decodes the `len` bytes of a `sockaddr_in6` a call was given (at least 24, as Linux asks; the scope
    /// is 0 when they stop before it).
    pub fn parse(bytes: &[u8]) -> Result<Inet6Addr, Error> {
        if bytes.len() < SOCKADDR_IN6_MIN {
            return Err(Error::Invalid);
        }
        if family(bytes) != Some(AF_INET6) {
            return Err(Error::Family);
        }
        let mut addr = [0u8; 16];
        addr.copy_from_slice(&bytes[8..24]);
        let scope_id = match bytes.get(24..28) {
            Some(s) => u32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
            None => 0,
        };
        Ok(Inet6Addr {
            addr,
            port: u16::from_be_bytes([bytes[2], bytes[3]]),
            flowinfo: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            scope_id,
        })
    }

    /// The 28 bytes of its `sockaddr_in6`.
    pub fn encode(&self) -> [u8; SOCKADDR_IN6_LEN] {
        let mut b = [0u8; SOCKADDR_IN6_LEN];
        b[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
        b[2..4].copy_from_slice(&self.port.to_be_bytes());
        b[4..8].copy_from_slice(&self.flowinfo.to_be_bytes());
        b[8..24].copy_from_slice(&self.addr);
        b[24..28].copy_from_slice(&self.scope_id.to_ne_bytes());
        b
    }

    /// The IPv4 address of a v4-mapped address (`::ffff:a.b.c.d`).
    pub fn v4_mapped(&self) -> Option<[u8; 4]> {
        (self.addr[..10] == [0; 10] && self.addr[10..12] == [0xff, 0xff])
            .then(|| [self.addr[12], self.addr[13], self.addr[14], self.addr[15]])
    }

    /// An IPv4 address as a dual-stack socket names it: `::ffff:a.b.c.d`.
    pub fn mapped(a: InetAddr) -> Inet6Addr {
        let mut addr = [0u8; 16];
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12..].copy_from_slice(&a.addr);
        Inet6Addr {
            addr,
            port: a.port,
            flowinfo: 0,
            scope_id: 0,
        }
    }
}

/// The family of a socket address (its first two bytes); `None` when shorter.
pub fn family(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// A decoded `struct msghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHdr {
    /// `msg_name`.
    pub name: u64,
    /// `msg_namelen`.
    pub name_len: u32,
    /// `msg_iov`.
    pub iov: u64,
    /// `msg_iovlen`.
    pub iov_len: u64,
    /// `msg_control`.
    pub control: u64,
    /// `msg_controllen`.
    pub control_len: u64,
    /// `msg_flags`.
    pub flags: u32,
}

impl MsgHdr {
    /// Decodes the 56 bytes of a `struct msghdr`.
    pub fn parse(b: &[u8; MSGHDR_LEN]) -> MsgHdr {
        let u64_at = |i: usize| {
            u64::from_ne_bytes([
                b[i],
                b[i + 1],
                b[i + 2],
                b[i + 3],
                b[i + 4],
                b[i + 5],
                b[i + 6],
                b[i + 7],
            ])
        };
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        MsgHdr {
            name: u64_at(0),
            name_len: u32_at(8),
            iov: u64_at(16),
            iov_len: u64_at(24),
            control: u64_at(32),
            control_len: u64_at(40),
            flags: u32_at(48),
        }
    }
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The descriptors of the `SCM_RIGHTS` messages in a control buffer, in order. Credentials are skipped;
/// any other message, a length that runs past the buffer, or more than [`SCM_MAX_FD`] descriptors is
/// [`Error::Invalid`].
pub fn parse_rights(control: &[u8]) -> Result<Vec<i32>, Error> {
    let mut fds = Vec::new();
    let mut at = 0;
    while control.len().saturating_sub(at) >= CMSG_HDR {
        let h = &control[at..at + CMSG_HDR];
        let len = u64::from_ne_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        let level = i32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        let kind = i32::from_ne_bytes([h[12], h[13], h[14], h[15]]);
        let len = usize::try_from(len).map_err(|_| Error::Invalid)?;
        if len < CMSG_HDR || len > control.len() - at {
            return Err(Error::Invalid);
        }
        if level != SOL_SOCKET {
            return Err(Error::Invalid);
        }
        match kind {
            SCM_RIGHTS => {
                for c in control[at + CMSG_HDR..at + len].chunks_exact(4) {
                    fds.push(i32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
                }
                if fds.len() > SCM_MAX_FD {
                    return Err(Error::Invalid);
                }
            }
            SCM_CREDENTIALS => {}
            _ => return Err(Error::Invalid),
        }
        at += align8(len);
    }
    Ok(fds)
}

/// An `SCM_RIGHTS` control message for `fds`, cut to the whole descriptors that fit in `room` bytes; also
/// returns how many fit (fewer than `fds.len()` means `MSG_CTRUNC`).
pub fn encode_rights(fds: &[i32], room: usize) -> (Vec<u8>, usize) {
    if room < CMSG_HDR + 4 || fds.is_empty() {
        return (Vec::new(), 0);
    }
    let n = fds.len().min((room - CMSG_HDR) / 4);
    let len = CMSG_HDR + 4 * n;
    let mut v = Vec::with_capacity(align8(len));
    v.extend_from_slice(&(len as u64).to_ne_bytes());
    v.extend_from_slice(&SOL_SOCKET.to_ne_bytes());
    v.extend_from_slice(&SCM_RIGHTS.to_ne_bytes());
    for fd in &fds[..n] {
        v.extend_from_slice(&fd.to_ne_bytes());
    }
    if align8(len) <= room {
        v.resize(align8(len), 0);
    }
    (v, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockaddr(path: &[u8]) -> Vec<u8> {
        let mut v = AF_UNIX.to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn addresses() {
        assert_eq!(UnixAddr::parse(&sockaddr(b"")), Ok(UnixAddr::Unnamed));
        assert_eq!(
            UnixAddr::parse(&sockaddr(b"/tmp/s\0junk")),
            Ok(UnixAddr::Path(b"/tmp/s".to_vec()))
        );
        assert_eq!(
            UnixAddr::parse(&sockaddr(b"/tmp/s")),
            Ok(UnixAddr::Path(b"/tmp/s".to_vec()))
        );
        assert_eq!(
            UnixAddr::parse(&sockaddr(b"\0ab\0c")),
            Ok(UnixAddr::Abstract(b"ab\0c".to_vec()))
        );
        assert_eq!(UnixAddr::parse(&[1]), Err(Error::Invalid));
        assert_eq!(UnixAddr::parse(&[2, 0, b'x']), Err(Error::Family));
        assert_eq!(UnixAddr::parse(&[0u8; SOCKADDR_UN_LEN + 1]), Err(Error::Invalid));
        let full = sockaddr(&[b'a'; SUN_PATH_LEN]);
        assert_eq!(
            UnixAddr::parse(&full),
            Ok(UnixAddr::Path(alloc::vec![b'a'; SUN_PATH_LEN]))
        );
        // A full-length path has no room for the NUL: the encoding is cut to the structure.
        assert_eq!(
            UnixAddr::Path(alloc::vec![b'a'; SUN_PATH_LEN]).encode().len(),
            SOCKADDR_UN_LEN
        );
        assert_eq!(UnixAddr::Path(b"/s".to_vec()).encode(), sockaddr(b"/s\0"));
        assert_eq!(UnixAddr::Abstract(b"n".to_vec()).encode(), sockaddr(b"\0n"));
        assert_eq!(UnixAddr::Unnamed.encode(), sockaddr(b""));
        assert_eq!(family(&[1]), None);
    }

    #[test]
    fn inet_addresses() {
        let a = InetAddr {
            addr: [10, 0, 2, 2],
            port: 8080,
        };
        let b = a.encode();
        assert_eq!(&b[2..4], &[0x1f, 0x90]);
        assert_eq!(InetAddr::parse(&b), Ok(a));
        assert_eq!(InetAddr::parse(&b[..15]), Err(Error::Invalid));
        let mut u = b;
        u[0] = 1;
        assert_eq!(InetAddr::parse(&u), Err(Error::Family));
    }

    #[test]
    fn inet6_addresses() {
        let mut a = Inet6Addr {
            addr: [0; 16],
            port: 8080,
            flowinfo: 0x1234,
            scope_id: 2,
        };
        a.addr[0] = 0xfe;
        a.addr[1] = 0x80;
        a.addr[15] = 1;
        let b = a.encode();
        assert_eq!(Inet6Addr::parse(&b), Ok(a));
        // RFC 2133's 24 bytes: no scope.
        assert_eq!(Inet6Addr::parse(&b[..24]), Ok(Inet6Addr { scope_id: 0, ..a }));
        assert_eq!(Inet6Addr::parse(&b[..23]), Err(Error::Invalid));
        let v4 = InetAddr {
            addr: [10, 0, 2, 15],
            port: 80,
        };
        assert_eq!(Inet6Addr::parse(&v4.encode()), Err(Error::Invalid));
        let mut long = v4.encode().to_vec();
        long.resize(28, 0);
        assert_eq!(Inet6Addr::parse(&long), Err(Error::Family));
        let m = Inet6Addr::mapped(v4);
        assert_eq!(m.v4_mapped(), Some([10, 0, 2, 15]));
        assert_eq!(m.port, 80);
        assert_eq!(a.v4_mapped(), None);
        assert_eq!(Inet6Addr { addr: [0; 16], ..a }.v4_mapped(), None);
    }

    #[test]
    fn msghdr() {
        let mut b = [0u8; MSGHDR_LEN];
        b[0..8].copy_from_slice(&0x1000u64.to_ne_bytes());
        b[8..12].copy_from_slice(&110u32.to_ne_bytes());
        b[16..24].copy_from_slice(&0x2000u64.to_ne_bytes());
        b[24..32].copy_from_slice(&3u64.to_ne_bytes());
        b[32..40].copy_from_slice(&0x3000u64.to_ne_bytes());
        b[40..48].copy_from_slice(&24u64.to_ne_bytes());
        b[48..52].copy_from_slice(&8u32.to_ne_bytes());
        let m = MsgHdr::parse(&b);
        assert_eq!(
            m,
            MsgHdr {
                name: 0x1000,
                name_len: 110,
                iov: 0x2000,
                iov_len: 3,
                control: 0x3000,
                control_len: 24,
                flags: 8
            }
        );
    }

    #[test]
    fn rights_round_trip() {
        let (c, n) = encode_rights(&[3, 4, 5], 64);
        assert_eq!(n, 3);
        assert_eq!(c.len(), 32);
        assert_eq!(parse_rights(&c), Ok(alloc::vec![3, 4, 5]));
        // Room for one descriptor only.
        let (c, n) = encode_rights(&[3, 4], 20);
        assert_eq!((c.len(), n), (20, 1));
        assert_eq!(encode_rights(&[3], 19).1, 0);
        assert_eq!(parse_rights(&[]), Ok(alloc::vec![]));
    }

    #[test]
    fn hostile_control() {
        let (mut c, _) = encode_rights(&[3], 64);
        c[0..8].copy_from_slice(&1000u64.to_ne_bytes());
        assert_eq!(parse_rights(&c), Err(Error::Invalid));
        c[0..8].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(parse_rights(&c), Err(Error::Invalid));
        c[0..8].copy_from_slice(&3u64.to_ne_bytes());
        assert_eq!(parse_rights(&c), Err(Error::Invalid));
        let (mut c, _) = encode_rights(&[3], 64);
        c[8] = 7;
        assert_eq!(parse_rights(&c), Err(Error::Invalid));
        let many: Vec<i32> = (0..300).collect();
        let (c, n) = encode_rights(&many, 4096);
        assert_eq!(n, 300);
        assert_eq!(parse_rights(&c), Err(Error::Invalid));
    }
}
