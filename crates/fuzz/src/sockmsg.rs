//! Socket ABI formats (`ember-sockmsg`).

use crate::input::Input;
use ember_sockmsg::{
    AF_INET, AF_INET6, AF_UNIX, Error, Inet6Addr, InetAddr, MSGHDR_LEN, MsgHdr, SCM_MAX_FD, SCM_RIGHTS,
    SOCKADDR_IN_LEN, SOCKADDR_IN6_MIN, SOCKADDR_UN_LEN, SOL_SOCKET, UnixAddr, encode_rights, family, parse_rights,
};

/// Input: a mode byte, then bytes. Modes:
/// - a `sockaddr_un`: accepted only from 2 to 110 bytes of family `AF_UNIX`; a path holds no NUL and is not
///   empty; its encoding parses back to the same address and is what Linux returns (family, path, NUL);
/// - a `sockaddr_in`: accepted only from 16 bytes of family `AF_INET`; encodes to the bytes it came from (up to
///   the zero padding); the same bytes as a `sockaddr_in6`: accepted only from 24 bytes of family `AF_INET6`,
///   encoding back to them, v4-mapped addresses mapping back;
/// - a `msghdr`: every field read where Linux puts it;
/// - a control buffer: the `SCM_RIGHTS` descriptors come out as a model walk of the same `cmsghdr` chain finds
///   them (or the same error), never more than 253;
/// - descriptors and a room size: the encoded message fits the room, holds the first n descriptors that fit,
///   and parses back to them.
pub fn sockmsg(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 5 {
        0 => unix(input.bytes(SOCKADDR_UN_LEN + 8)),
        1 => {
            let bytes = input.rest();
            inet(bytes);
            inet6(bytes);
        }
        2 => msghdr(input.rest()),
        3 => {
            let control = input.rest();
            assert_eq!(parse_rights(control), model_rights(control));
        }
        _ => {
            let room = input.below(8 + 16 + 4 * 300);
            let fds: Vec<i32> = (0..input.below(300)).map(|_| input.u32() as i32).collect();
            let (msg, n) = encode_rights(&fds, room);
            assert!(msg.len() <= room, "{} bytes in a room of {room}", msg.len());
            assert!(n <= fds.len());
            if n == 0 {
                assert!(msg.is_empty());
            } else {
                assert_eq!(n, fds.len().min((room - 16) / 4), "not every descriptor that fits");
                let back = parse_rights(&msg);
                if n <= SCM_MAX_FD {
                    assert_eq!(back.as_deref(), Ok(&fds[..n]), "the message does not parse back");
                } else {
                    assert_eq!(back, Err(Error::Invalid), "more than {SCM_MAX_FD} descriptors accepted");
                }
            }
        }
    }
}

fn unix(bytes: &[u8]) {
    let parsed = UnixAddr::parse(bytes);
    let ok_shape = (2..=SOCKADDR_UN_LEN).contains(&bytes.len());
    match &parsed {
        Ok(a) => {
            assert!(ok_shape && family(bytes) == Some(AF_UNIX));
            if let UnixAddr::Path(p) = a {
                assert!(!p.is_empty() && !p.contains(&0));
                assert!(bytes[2..].starts_with(p));
            }
            let enc = a.encode();
            assert!(enc.len() <= SOCKADDR_UN_LEN);
            assert_eq!(
                &UnixAddr::parse(&enc),
                &parsed,
                "the encoding of {a:?} parses differently"
            );
        }
        Err(Error::Invalid) => assert!(!ok_shape),
        Err(Error::Family) => assert!(ok_shape && family(bytes) != Some(AF_UNIX)),
    }
}

fn inet(bytes: &[u8]) {
    match InetAddr::parse(bytes) {
        Ok(a) => {
            assert!(bytes.len() >= SOCKADDR_IN_LEN && family(bytes) == Some(AF_INET));
            assert_eq!(a.encode()[..8], bytes[..8]);
            assert_eq!(InetAddr::parse(&a.encode()), Ok(a));
        }
        Err(Error::Invalid) => assert!(bytes.len() < SOCKADDR_IN_LEN),
        Err(Error::Family) => assert!(bytes.len() >= SOCKADDR_IN_LEN && family(bytes) != Some(AF_INET)),
    }
}

fn inet6(bytes: &[u8]) {
    match Inet6Addr::parse(bytes) {
        Ok(a) => {
            assert!(bytes.len() >= SOCKADDR_IN6_MIN && family(bytes) == Some(AF_INET6));
            assert_eq!(a.encode()[..24], bytes[..24]);
            assert_eq!(Inet6Addr::parse(&a.encode()), Ok(a));
            if let Some(v4) = a.v4_mapped() {
                assert_eq!(Inet6Addr::mapped(InetAddr { addr: v4, port: a.port }).addr, a.addr);
            }
        }
        Err(Error::Invalid) => assert!(bytes.len() < SOCKADDR_IN6_MIN),
        Err(Error::Family) => assert!(bytes.len() >= SOCKADDR_IN6_MIN && family(bytes) != Some(AF_INET6)),
    }
}

fn msghdr(bytes: &[u8]) {
    let mut b = [0u8; MSGHDR_LEN];
    b[..bytes.len().min(MSGHDR_LEN)].copy_from_slice(&bytes[..bytes.len().min(MSGHDR_LEN)]);
    let h = MsgHdr::parse(&b);
    let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    assert_eq!(
        (h.name, h.name_len, h.iov, h.iov_len, h.control, h.control_len, h.flags),
        (
            u64_at(0),
            u32_at(8),
            u64_at(16),
            u64_at(24),
            u64_at(32),
            u64_at(40),
            u32_at(48)
        )
    );
}

/// The `cmsghdr` walk written again from Linux's `__scm_send`/`CMSG_NXTHDR`: 16-byte headers, lengths from the
/// header up to the buffer's end, 8-byte alignment between messages, `SCM_RIGHTS` and `SCM_CREDENTIALS` at
/// `SOL_SOCKET` only, at most 253 descriptors.
fn model_rights(control: &[u8]) -> Result<Vec<i32>, Error> {
    let mut fds = Vec::new();
    let mut at = 0usize;
    while at + 16 <= control.len() {
        let len = u64::from_ne_bytes(control[at..at + 8].try_into().expect("8 bytes"));
        let level = i32::from_ne_bytes(control[at + 8..at + 12].try_into().expect("4 bytes"));
        let kind = i32::from_ne_bytes(control[at + 12..at + 16].try_into().expect("4 bytes"));
        if len < 16 || len > (control.len() - at) as u64 || level != SOL_SOCKET {
            return Err(Error::Invalid);
        }
        let len = len as usize;
        if kind == SCM_RIGHTS {
            let n = (len - 16) / 4;
            if fds.len() + n > SCM_MAX_FD {
                return Err(Error::Invalid);
            }
            for i in 0..n {
                let o = at + 16 + 4 * i;
                fds.push(i32::from_ne_bytes(control[o..o + 4].try_into().expect("4 bytes")));
            }
        } else if kind != 2 {
            return Err(Error::Invalid);
        }
        at += len.next_multiple_of(8);
    }
    Ok(fds)
}
