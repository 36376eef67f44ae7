//! `struct ifreq` (40 bytes: a 16-byte name, then a 24-byte union) and `struct ifconf`, for the `SIOCGIF*` and
//! `SIOCSIF*` ioctls.

/// Bytes of `struct ifreq`.
pub const IFREQ_LEN: usize = 40;
/// Bytes of the name (`IFNAMSIZ`).
pub const IFNAMSIZ: usize = 16;
/// Bytes of `struct ifconf` (an int, padding, a pointer).
pub const IFCONF_LEN: usize = 16;
/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `ARPHRD_ETHER`.
pub const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`.
pub const ARPHRD_LOOPBACK: u16 = 772;

/// A malformed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The name is not NUL-terminated within 16 bytes, or not UTF-8.
    Name,
    /// The address is not an `AF_INET` one.
    Family,
}

/// The interface name a request names.
pub fn name(req: &[u8; IFREQ_LEN]) -> Result<&str, Error> {
    let n = req[..IFNAMSIZ].iter().position(|&b| b == 0).ok_or(Error::Name)?;
    core::str::from_utf8(&req[..n]).map_err(|_| Error::Name)
}

/// A request naming `name` (truncated to 15 bytes) with an empty union.
pub fn named(name: &str) -> [u8; IFREQ_LEN] {
    let mut req = [0u8; IFREQ_LEN];
    let n = name.len().min(IFNAMSIZ - 1);
    req[..n].copy_from_slice(&name.as_bytes()[..n]);
    req
}

/// Puts an `AF_INET` `sockaddr_in` with address `addr` (port 0) in the union.
pub fn set_inet(req: &mut [u8; IFREQ_LEN], addr: [u8; 4]) {
    req[IFNAMSIZ..].fill(0);
    req[16..18].copy_from_slice(&AF_INET.to_ne_bytes());
    req[20..24].copy_from_slice(&addr);
}

/// The `sockaddr_in` address in the union.
pub fn inet(req: &[u8; IFREQ_LEN]) -> Result<[u8; 4], Error> {
    if u16::from_ne_bytes([req[16], req[17]]) != AF_INET {
        return Err(Error::Family);
    }
    Ok([req[20], req[21], req[22], req[23]])
}

/// Puts a hardware address (`sockaddr` with family `hw_type`) in the union.
pub fn set_hwaddr(req: &mut [u8; IFREQ_LEN], hw_type: u16, mac: [u8; 6]) {
    req[IFNAMSIZ..].fill(0);
    req[16..18].copy_from_slice(&hw_type.to_ne_bytes());
    req[18..24].copy_from_slice(&mac);
}

/// Puts an `int` (index, MTU, metric, queue length) in the union.
pub fn set_int(req: &mut [u8; IFREQ_LEN], v: i32) {
    req[IFNAMSIZ..].fill(0);
    req[16..20].copy_from_slice(&v.to_ne_bytes());
}

/// The `int` in the union.
pub fn int(req: &[u8; IFREQ_LEN]) -> i32 {
    i32::from_ne_bytes([req[16], req[17], req[18], req[19]])
}

/// Puts the `short` flags in the union.
pub fn set_flags(req: &mut [u8; IFREQ_LEN], flags: u16) {
    req[IFNAMSIZ..].fill(0);
    req[16..18].copy_from_slice(&flags.to_ne_bytes());
}

/// The `short` flags in the union.
pub fn flags(req: &[u8; IFREQ_LEN]) -> u16 {
    u16::from_ne_bytes([req[16], req[17]])
}

/// `struct ifconf`: the buffer's length and address.
pub fn ifconf(conf: &[u8; IFCONF_LEN]) -> (i32, u64) {
    let len = i32::from_ne_bytes([conf[0], conf[1], conf[2], conf[3]]);
    let mut p = [0u8; 8];
    p.copy_from_slice(&conf[8..16]);
    (len, u64::from_ne_bytes(p))
}

/// `struct ifconf` with `len` and `buf`.
pub fn encode_ifconf(len: i32, buf: u64) -> [u8; IFCONF_LEN] {
    let mut c = [0u8; IFCONF_LEN];
    c[..4].copy_from_slice(&len.to_ne_bytes());
    c[8..].copy_from_slice(&buf.to_ne_bytes());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let req = named("eth0");
        assert_eq!(name(&req), Ok("eth0"));
        assert_eq!(name(&named("a-very-long-interface-name")), Ok("a-very-long-int"));
        let mut bad = [b'x'; IFREQ_LEN];
        assert_eq!(name(&bad), Err(Error::Name));
        bad[..3].copy_from_slice(&[0xff, 0xfe, 0]);
        assert_eq!(name(&bad), Err(Error::Name));
    }

    #[test]
    fn union() {
        let mut req = named("lo");
        set_inet(&mut req, [127, 0, 0, 1]);
        assert_eq!(inet(&req), Ok([127, 0, 0, 1]));
        assert_eq!(name(&req), Ok("lo"));
        set_hwaddr(&mut req, ARPHRD_ETHER, [1, 2, 3, 4, 5, 6]);
        assert_eq!(inet(&req), Err(Error::Family));
        assert_eq!(&req[18..24], &[1, 2, 3, 4, 5, 6]);
        set_int(&mut req, 1500);
        assert_eq!(int(&req), 1500);
        set_flags(&mut req, 0x1043);
        assert_eq!(flags(&req), 0x1043);
        assert_eq!(ifconf(&encode_ifconf(80, 0x1234_5678_9abc)), (80, 0x1234_5678_9abc));
    }
}
