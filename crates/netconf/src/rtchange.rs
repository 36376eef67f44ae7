//! `NETLINK_ROUTE` change requests (`RTM_NEWADDR`/`RTM_DELADDR`, `RTM_NEWROUTE`/`RTM_DELROUTE`,
//! `RTM_NEWLINK`/`RTM_SETLINK`), as `ip addr add`, `ip route add` and `ip link set` send them: the fixed header
//! of each, then `struct rtattr` attributes. Bytes come from user space: lengths that do not add up, short
//! headers and addresses of the wrong size are errors, never a panic.

use crate::netlink::{AF_INET, AF_INET6, Error};
use alloc::vec::Vec;

/// `RTM_DELLINK`.
pub const RTM_DELLINK: u16 = 17;
/// `RTM_SETLINK`.
pub const RTM_SETLINK: u16 = 19;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_DELROUTE`.
pub const RTM_DELROUTE: u16 = 25;

/// An IPv4 or IPv6 address in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    /// IPv4.
    V4([u8; 4]),
    /// IPv6.
    V6([u8; 16]),
}

/// The attributes after a fixed header: (type, value) each; the type without its flag bits.
pub fn attrs(mut buf: &[u8]) -> Result<Vec<(u16, &[u8])>, Error> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return Err(Error::Length);
        }
        out.push((ty, &buf[4..len]));
        buf = &buf[(len.saturating_add(3) & !3).min(buf.len())..];
    }
    Ok(out)
}

/// An address of `family` from an attribute's value.
fn ip(family: u8, v: &[u8]) -> Result<Ip, Error> {
    match (family, v.len()) {
        (AF_INET, 4) => Ok(Ip::V4([v[0], v[1], v[2], v[3]])),
        (AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            Ok(Ip::V6(a))
        }
        _ => Err(Error::Length),
    }
}

/// `RTM_NEWADDR`/`RTM_DELADDR`: an address and prefix length on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrChange {
    /// The interface index.
    pub index: u32,
    /// The prefix length.
    pub prefix: u8,
    /// The address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub addr: Ip,
}

/// Decodes the payload of an address request (`struct ifaddrmsg` and attributes).
pub fn addr_change(payload: &[u8]) -> Result<AddrChange, Error> {
    if payload.len() < 8 {
        return Err(Error::Length);
    }
    let family = payload[0];
    let prefix = payload[1];
    let index = u32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]]);
    let (mut local, mut address) = (None, None);
    for (ty, v) in attrs(&payload[8..])? {
        match ty {
            1 => address = Some(ip(family, v)?),
            2 => local = Some(ip(family, v)?),
            _ => {}
        }
    }
    let addr = local.or(address).ok_or(Error::Length)?;
    let max = if family == AF_INET { 32 } else { 128 };
    if prefix > max {
        return Err(Error::Length);
    }
    Ok(AddrChange { index, prefix, addr })
}

/// `RTM_NEWROUTE`/`RTM_DELROUTE`: a destination prefix, through a router or out of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteChange {
    /// The destination (all zeros of the family for the default route).
    pub dst: Ip,
    /// The destination's prefix length.
    pub prefix: u8,
    /// The router (`RTA_GATEWAY`).
    pub gateway: Option<Ip>,
    /// The interface (`RTA_OIF`).
    pub index: Option<u32>,
}

/// Decodes the payload of a route request (`struct rtmsg` and attributes).
pub fn route_change(payload: &[u8]) -> Result<RouteChange, Error> {
    if payload.len() < 12 {
        return Err(Error::Length);
    }
    let family = payload[0];
    let prefix = payload[1];
    let (dst, max) = match family {
        AF_INET => (Ip::V4([0; 4]), 32),
        AF_INET6 => (Ip::V6([0; 16]), 128),
        _ => return Err(Error::Length),
    };
    if prefix > max {
        return Err(Error::Length);
    }
    let mut r = RouteChange {
        dst,
        prefix,
        gateway: None,
        index: None,
    };
    for (ty, v) in attrs(&payload[12..])? {
        match ty {
            1 => r.dst = ip(family, v)?,
            5 => r.gateway = Some(ip(family, v)?),
            4 if v.len() == 4 => r.index = Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
            4 => return Err(Error::Length),
            _ => {}
        }
    }
    Ok(r)
}

/// `RTM_NEWLINK`/`RTM_SETLINK`: flags to change on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkChange {
    /// The interface index (0: named by `IFLA_IFNAME` only, which is not supported here).
    pub index: u32,
    /// The new flags.
    pub flags: u32,
    /// Which flags change (0 means all, as old `ip` sends).
    pub change: u32,
}

/// Decodes the payload of a link request (`struct ifinfomsg`; attributes are not looked at).
pub fn link_change(payload: &[u8]) -> Result<LinkChange, Error> {
    if payload.len() < 16 {
        return Err(Error::Length);
    }
    let u32_at = |i: usize| u32::from_ne_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]]);
    attrs(&payload[16..])?;
    Ok(LinkChange {
        index: u32_at(4),
        flags: u32_at(8),
        change: u32_at(12),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(v);
        a.resize((a.len() + 3) & !3, 0);
        a
    }

    #[test]
    fn address_requests() {
        let site = [0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
        let mut p = alloc::vec![AF_INET6, 64, 0, 0, 2, 0, 0, 0];
        p.extend(attr(1, &site));
        assert_eq!(
            addr_change(&p),
            Ok(AddrChange {
                index: 2,
                prefix: 64,
                addr: Ip::V6(site)
            })
        );
        // IFA_LOCAL wins over IFA_ADDRESS (a point-to-point peer).
        let mut q = alloc::vec![AF_INET, 24, 0, 0, 2, 0, 0, 0];
        q.extend(attr(1, &[10, 0, 0, 1]));
        q.extend(attr(2, &[10, 0, 0, 9]));
        assert_eq!(addr_change(&q).unwrap().addr, Ip::V4([10, 0, 0, 9]));
        // A 4-byte address for IPv6, a prefix too long, no address, a short header.
        let mut bad = alloc::vec![AF_INET6, 64, 0, 0, 2, 0, 0, 0];
        bad.extend(attr(1, &[1, 2, 3, 4]));
        assert_eq!(addr_change(&bad), Err(Error::Length));
        let mut long = p.clone();
        long[1] = 129;
        assert_eq!(addr_change(&long), Err(Error::Length));
        assert_eq!(addr_change(&p[..8]), Err(Error::Length));
        assert_eq!(addr_change(&p[..7]), Err(Error::Length));
    }

    #[test]
    fn route_requests() {
        let gw = [0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut p = alloc::vec![AF_INET6, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        p.extend(attr(5, &gw));
        p.extend(attr(4, &2u32.to_ne_bytes()));
        assert_eq!(
            route_change(&p),
            Ok(RouteChange {
                dst: Ip::V6([0; 16]),
                prefix: 0,
                gateway: Some(Ip::V6(gw)),
                index: Some(2)
            })
        );
        let mut q = alloc::vec![AF_INET, 8, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        q.extend(attr(1, &[10, 0, 0, 0]));
        assert_eq!(route_change(&q).unwrap().dst, Ip::V4([10, 0, 0, 0]));
        assert_eq!(route_change(&q[..11]), Err(Error::Length));
        let mut unknown = q.clone();
        unknown[0] = 7;
        assert_eq!(route_change(&unknown), Err(Error::Length));
    }

    #[test]
    fn link_requests_and_hostile_attributes() {
        let mut p = alloc::vec![0u8; 16];
        p[4] = 2;
        p[8] = 1;
        p[12] = 1;
        assert_eq!(
            link_change(&p),
            Ok(LinkChange {
                index: 2,
                flags: 1,
                change: 1
            })
        );
        assert_eq!(link_change(&p[..15]), Err(Error::Length));
        for len in [0u16, 3, 9, u16::MAX] {
            let mut a = attr(3, b"eth0");
            a[..2].copy_from_slice(&len.to_ne_bytes());
            assert_eq!(attrs(&a), Err(Error::Length), "rta_len {len}");
        }
        assert_eq!(attrs(&[1, 2]), Ok(Vec::new()));
    }
}
