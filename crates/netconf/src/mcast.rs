//! The values of the multicast socket options, as `setsockopt` hands them over: `struct ip_mreq` (8 bytes:
//! group, interface address), `struct ip_mreqn` (12: group, interface address, `ifindex`), `struct ipv6_mreq`
//! (20: group, `ifindex`), and the integer options (`IP_MULTICAST_TTL`/`LOOP`, `IPV6_MULTICAST_HOPS`/`LOOP`/`IF`).
//! Each check is the one Linux makes (`net/ipv4/ip_sockglue.c`, `net/ipv6/ipv6_sockglue.c`); a value that
//! fails one is [`Invalid`] (`EINVAL`).

/// `IP_MULTICAST_IF`.
pub const IP_MULTICAST_IF: u32 = 32;
/// `IP_MULTICAST_TTL`.
pub const IP_MULTICAST_TTL: u32 = 33;
/// `IP_MULTICAST_LOOP`.
pub const IP_MULTICAST_LOOP: u32 = 34;
/// `IP_ADD_MEMBERSHIP`.
pub const IP_ADD_MEMBERSHIP: u32 = 35;
/// `IP_DROP_MEMBERSHIP`.
pub const IP_DROP_MEMBERSHIP: u32 = 36;
/// `IPV6_MULTICAST_IF`.
pub const IPV6_MULTICAST_IF: u32 = 17;
/// `IPV6_MULTICAST_HOPS`.
pub const IPV6_MULTICAST_HOPS: u32 = 18;
/// `IPV6_MULTICAST_LOOP`.
pub const IPV6_MULTICAST_LOOP: u32 = 19;
/// `IPV6_ADD_MEMBERSHIP` (`IPV6_JOIN_GROUP`).
pub const IPV6_JOIN_GROUP: u32 = 20;
/// `IPV6_DROP_MEMBERSHIP` (`IPV6_LEAVE_GROUP`).
pub const IPV6_LEAVE_GROUP: u32 = 21;
/// The hop limit of multicast datagrams when none is set (Linux's `IP_DEFAULT_MULTICAST_TTL`).
pub const DEFAULT_HOPS: u8 = 1;

/// A value Linux refuses with `EINVAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

/// The interface a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iface {
    /// Any (`INADDR_ANY`, index 0): the kernel picks.
    Any,
    /// The interface that has this IPv4 address.
    Address([u8; 4]),
    /// `ifindex`.
    Index(u32),
}

/// An IPv4 membership request (`IP_ADD_MEMBERSHIP`, `IP_DROP_MEMBERSHIP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership4 {
    /// The group (224.0.0.0/4).
    pub group: [u8; 4],
    /// Where to join it.
    pub iface: Iface,
}

/// An IPv6 membership request (`IPV6_JOIN_GROUP`, `IPV6_LEAVE_GROUP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership6 {
    /// The group (ff00::/8).
    pub group: [u8; 16],
    /// `ifindex`, 0 for any.
    pub index: u32,
}

fn array<const N: usize>(v: &[u8], at: usize) -> Result<[u8; N], Invalid> {
    v.get(at..at + N).and_then(|b| b.try_into().ok()).ok_or(Invalid)
}

/// `struct ip_mreqn`'s or `struct ip_mreq`'s interface: `ifindex` when non-zero (`ip_mreqn` only), else the
/// address.
fn iface4(v: &[u8], address_at: usize) -> Result<Iface, Invalid> {
    let address = array::<4>(v, address_at)?;
    let index = if v.len() >= address_at + 8 {
        u32::from_ne_bytes(array(v, address_at + 4)?)
    } else {
        0
    };
    Ok(if index != 0 {
        Iface::Index(index)
    } else if address == [0; 4] {
        Iface::Any
    } else {
        Iface::Address(address)
    })
}

/// `IP_ADD_MEMBERSHIP`'s or `IP_DROP_MEMBERSHIP`'s value: an `ip_mreq`, or an `ip_mreqn` when 12 bytes or more.
pub fn membership4(v: &[u8]) -> Result<Membership4, Invalid> {
    let group = array::<4>(v, 0)?;
    if group[0] & 0xf0 != 0xe0 {
        return Err(Invalid);
    }
    Ok(Membership4 {
        group,
        iface: iface4(v, 4)?,
    })
}

/// `IPV6_JOIN_GROUP`'s or `IPV6_LEAVE_GROUP`'s value.
pub fn membership6(v: &[u8]) -> Result<Membership6, Invalid> {
    if v.len() < 20 {
        return Err(Invalid);
    }
    let group = array::<16>(v, 0)?;
    if group[0] != 0xff {
        return Err(Invalid);
    }
    Ok(Membership6 {
        group,
        index: u32::from_ne_bytes(array(v, 16)?),
    })
}

/// `IP_MULTICAST_IF`'s value: an `in_addr` (4 bytes), `ip_mreq` (8) or `ip_mreqn` (12), whose interface
/// fields are those after the group's.
pub fn multicast_if4(v: &[u8]) -> Result<Iface, Invalid> {
    match v.len() {
        0..4 => Err(Invalid),
        4..8 => iface4(v, 0),
        _ => iface4(v, 4),
    }
}

/// An `int` option that Linux also takes as one byte (`IP_MULTICAST_TTL`, `IP_MULTICAST_LOOP`).
fn int_or_byte(v: &[u8]) -> Result<i32, Invalid> {
    match v.len() {
        0 => Err(Invalid),
        1..4 => Ok(i32::from(v[0])),
        _ => Ok(i32::from_ne_bytes(array(v, 0)?)),
    }
}

/// `IP_MULTICAST_TTL`'s value: 0–255, or -1 for [`DEFAULT_HOPS`].
pub fn ttl(v: &[u8]) -> Result<u8, Invalid> {
    match int_or_byte(v)? {
        -1 => Ok(DEFAULT_HOPS),
        t => u8::try_from(t).map_err(|_| Invalid),
    }
}

/// `IP_MULTICAST_LOOP`'s value: any non-zero turns it on.
pub fn loop4(v: &[u8]) -> Result<bool, Invalid> {
    Ok(int_or_byte(v)? != 0)
}

/// An IPv6 `int` option (exactly an `int` at least).
fn int6(v: &[u8]) -> Result<i32, Invalid> {
    Ok(i32::from_ne_bytes(array(v, 0)?))
}

/// `IPV6_MULTICAST_HOPS`'s value: 0–255, or -1 for [`DEFAULT_HOPS`].
pub fn hops6(v: &[u8]) -> Result<u8, Invalid> {
    match int6(v)? {
        -1 => Ok(DEFAULT_HOPS),
        h => u8::try_from(h).map_err(|_| Invalid),
    }
}

/// `IPV6_MULTICAST_LOOP`'s value: 0 or 1.
pub fn loop6(v: &[u8]) -> Result<bool, Invalid> {
    match int6(v)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Invalid),
    }
}

/// `IPV6_MULTICAST_IF`'s value: an `ifindex`, 0 for any.
pub fn multicast_if6(v: &[u8]) -> Result<u32, Invalid> {
    u32::try_from(int6(v)?).map_err(|_| Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_mreq_and_mreqn() {
        let mreq = [239, 1, 2, 3, 10, 0, 3, 2];
        assert_eq!(
            membership4(&mreq),
            Ok(Membership4 {
                group: [239, 1, 2, 3],
                iface: Iface::Address([10, 0, 3, 2])
            })
        );
        let mut mreqn = [0u8; 12];
        mreqn[..4].copy_from_slice(&[224, 0, 0, 251]);
        assert_eq!(membership4(&mreqn).map(|m| m.iface), Ok(Iface::Any));
        mreqn[8..].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(membership4(&mreqn).map(|m| m.iface), Ok(Iface::Index(2)));
        // Not a multicast group, too short.
        assert_eq!(membership4(&[10, 0, 0, 1, 0, 0, 0, 0]), Err(Invalid));
        assert_eq!(membership4(&[240, 0, 0, 1, 0, 0, 0, 0]), Err(Invalid));
        assert_eq!(membership4(&mreq[..7]), Err(Invalid));
        assert_eq!(membership4(&[]), Err(Invalid));
    }

    #[test]
    fn ipv6_mreq() {
        let mut v = [0u8; 20];
        v[0] = 0xff;
        v[1] = 0x12;
        v[15] = 0x34;
        v[16..].copy_from_slice(&2u32.to_ne_bytes());
        let m = membership6(&v).expect("valid");
        assert_eq!((m.group[1], m.group[15], m.index), (0x12, 0x34, 2));
        assert_eq!(membership6(&v[..19]), Err(Invalid));
        v[0] = 0xfe;
        assert_eq!(membership6(&v), Err(Invalid));
    }

    #[test]
    fn multicast_if_takes_three_shapes() {
        assert_eq!(multicast_if4(&[10, 0, 3, 1]), Ok(Iface::Address([10, 0, 3, 1])));
        assert_eq!(multicast_if4(&[0, 0, 0, 0]), Ok(Iface::Any));
        assert_eq!(
            multicast_if4(&[239, 1, 1, 1, 10, 0, 3, 1]),
            Ok(Iface::Address([10, 0, 3, 1]))
        );
        let mut mreqn = [0u8; 12];
        mreqn[8..].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(multicast_if4(&mreqn), Ok(Iface::Index(1)));
        assert_eq!(multicast_if4(&[1, 2, 3]), Err(Invalid));
        assert_eq!(multicast_if6(&2i32.to_ne_bytes()), Ok(2));
        assert_eq!(multicast_if6(&(-1i32).to_ne_bytes()), Err(Invalid));
    }

    #[test]
    fn integers() {
        assert_eq!(ttl(&5i32.to_ne_bytes()), Ok(5));
        assert_eq!(ttl(&[7]), Ok(7));
        assert_eq!(ttl(&(-1i32).to_ne_bytes()), Ok(DEFAULT_HOPS));
        assert_eq!(ttl(&256i32.to_ne_bytes()), Err(Invalid));
        assert_eq!(ttl(&(-2i32).to_ne_bytes()), Err(Invalid));
        assert_eq!(ttl(&[]), Err(Invalid));
        assert_eq!(loop4(&[0]), Ok(false));
        assert_eq!(loop4(&9i32.to_ne_bytes()), Ok(true));
        assert_eq!(hops6(&255i32.to_ne_bytes()), Ok(255));
        assert_eq!(hops6(&[1]), Err(Invalid));
        assert_eq!(loop6(&1i32.to_ne_bytes()), Ok(true));
        assert_eq!(loop6(&2i32.to_ne_bytes()), Err(Invalid));
    }
}
