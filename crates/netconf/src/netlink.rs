//! `NETLINK_ROUTE` messages: the requests `ip` sends (`struct nlmsghdr` and its payload) and the dumps the
//! kernel answers with (`RTM_NEWLINK`, `RTM_NEWADDR`, `RTM_NEWROUTE`, then `NLMSG_DONE`), and `NLMSG_ERROR`
//! acknowledgements. A request whose lengths do not add up is an error, never a panic.

use crate::{IFF_LOOPBACK, Interface, netmask};
use alloc::vec::Vec;

/// Bytes of `struct nlmsghdr`.
pub const HDR_LEN: usize = 16;
/// `NLMSG_ERROR` (an error or, with 0, an acknowledgement).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;
/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a dump.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: the sender wants an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `IFF_LOWER_UP`: the carrier is there.
pub const IFF_LOWER_UP: u32 = 0x10000;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The whole message's length, header included.
    pub len: u32,
    /// The message type.
    pub ty: u16,
    /// `NLM_F_*`.
    pub flags: u16,
    /// The sequence number, echoed in the answer.
    pub seq: u32,
    /// The sender's port id.
    pub pid: u32,
}

/// A malformed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A header shorter than itself or longer than what remains.
    Length,
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// The messages in one datagram: each header and its payload.
pub fn parse(mut buf: &[u8]) -> Result<Vec<(Header, &[u8])>, Error> {
    let mut out = Vec::new();
    while buf.len() >= HDR_LEN {
        let u32_at = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let h = Header {
            len: u32_at(0),
            ty: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32_at(8),
            pid: u32_at(12),
        };
        let len = h.len as usize;
        if len < HDR_LEN || len > buf.len() {
            return Err(Error::Length);
        }
        out.push((h, &buf[HDR_LEN..len]));
        buf = &buf[align4(len).min(buf.len())..];
    }
    if buf.is_empty() { Ok(out) } else { Err(Error::Length) }
}

/// A message being built: header, then payload and attributes, each 4-byte aligned.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> Msg {
        let mut v = Vec::with_capacity(128);
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        Msg(v)
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Msg {
        self.0.extend_from_slice(b);
        self.0.resize(align4(self.0.len()), 0);
        self
    }

    /// A `struct rtattr`: length, type, value.
    fn attr(&mut self, ty: u16, value: &[u8]) -> &mut Msg {
        let len = (4 + value.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.bytes(value)
    }

    fn finish(mut self, out: &mut Vec<u8>) {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&self.0);
    }
}

/// Appends the `RTM_NEWLINK` message describing `i` (part of a dump answering `seq` to `pid`).
pub fn link(out: &mut Vec<u8>, seq: u32, pid: u32, i: &Interface) {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_MULTI, seq, pid);
    let loopback = i.flags & IFF_LOOPBACK != 0;
    // struct ifinfomsg: family, pad, type, index, flags, change.
    let mut info = [0u8; 16];
    info[2..4].copy_from_slice(&(if loopback { 772u16 } else { 1 }).to_ne_bytes());
    info[4..8].copy_from_slice(&(i.index as i32).to_ne_bytes());
    // With IFF_LOWER_UP (the carrier) when up: 32 bits here, where the ioctls' flags have 16.
    let flags = i.flags | if i.flags & crate::IFF_UP != 0 { IFF_LOWER_UP } else { 0 };
    info[8..12].copy_from_slice(&flags.to_ne_bytes());
    m.bytes(&info);
    let mut name = Vec::from(i.name.as_bytes());
    name.push(0);
    m.attr(3, &name); // IFLA_IFNAME
    m.attr(4, &i.mtu.to_ne_bytes()); // IFLA_MTU
    m.attr(13, &(if loopback { 1000u32 } else { 32 }).to_ne_bytes()); // IFLA_TXQLEN
    // IFLA_OPERSTATE: IF_OPER_UP (6), IF_OPER_DOWN (2), IF_OPER_UNKNOWN (0) for lo, as Linux says.
    let up = i.flags & crate::IFF_UP != 0;
    m.attr(
        16,
        &[if !up {
            2
        } else if loopback {
            0
        } else {
            6
        }],
    );
    let mac = i.mac.unwrap_or([0; 6]);
    m.attr(1, &mac); // IFLA_ADDRESS
    m.attr(2, &(if loopback { [0; 6] } else { [0xff; 6] })); // IFLA_BROADCAST
    m.finish(out);
}

/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// Appends the `RTM_NEWADDR` messages of `i`'s addresses of `family` (0: all): IPv4, then IPv6.
pub fn addr(out: &mut Vec<u8>, seq: u32, pid: u32, i: &Interface, family: u8) {
    if family != AF_INET6 {
        addr4(out, seq, pid, i);
    }
    if family != AF_INET {
        for &(a, prefix, dad) in &i.ipv6 {
            let mut m = Msg::new(RTM_NEWADDR, NLM_F_MULTI, seq, pid);
            // Scope: host 254 (::1), link 253 (fe80::/10), site 200 (fec0::/10), universe 0.
            let scope = match crate::scope6(a) {
                0x10 => 254,
                0x20 => 253,
                0x40 => 200,
                _ => 0,
            };
            // Flags: permanent, and duplicate address detection's (tentative, optimistic, dadfailed).
            let flags = crate::dad::IFA_F_PERMANENT | dad;
            let mut info = [AF_INET6, prefix, flags, scope, 0, 0, 0, 0];
            info[4..8].copy_from_slice(&i.index.to_ne_bytes());
            m.bytes(&info);
            m.attr(1, &a); // IFA_ADDRESS
            m.attr(8, &u32::from(flags).to_ne_bytes()); // IFA_FLAGS
            m.finish(out);
        }
    }
}

/// The `RTM_NEWADDR` messages of `i`'s IPv4 addresses (`IFA_F_SECONDARY` on those in an earlier one's subnet).
fn addr4(out: &mut Vec<u8>, seq: u32, pid: u32, i: &Interface) {
    let loopback = i.flags & IFF_LOOPBACK != 0;
    for (k, a4) in i.ipv4.iter().enumerate() {
        let (a, prefix) = (a4.addr, a4.prefix);
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_MULTI, seq, pid);
        // struct ifaddrmsg: family, prefix length, flags (IFA_F_PERMANENT, IFA_F_SECONDARY), scope (host 254,
        // universe 0), index.
        let flags = 0x80 | if i.secondary4(k) { crate::IFA_F_SECONDARY } else { 0 };
        let mut info = [2u8, prefix, flags, if loopback { 254 } else { 0 }, 0, 0, 0, 0];
        info[4..8].copy_from_slice(&i.index.to_ne_bytes());
        m.bytes(&info);
        m.attr(1, &a); // IFA_ADDRESS
        m.attr(2, &a); // IFA_LOCAL
        if !loopback {
            let mask = netmask(prefix);
            let brd: [u8; 4] = core::array::from_fn(|k| a[k] | !mask[k]);
            m.attr(4, &brd); // IFA_BROADCAST
        }
        let mut label = Vec::from(a4.label.as_bytes());
        label.push(0);
        m.attr(3, &label); // IFA_LABEL
        m.attr(8, &u32::from(flags).to_ne_bytes()); // IFA_FLAGS
        m.finish(out);
    }
}

/// Appends the `RTM_NEWROUTE` messages of `i`'s main-table routes of `family` (0: all): its subnet, and the
/// default route when it has a gateway; for IPv6, its addresses' prefixes and its routes through routers.
/// (`lo`'s IPv4 routes live in the local table, which `ip route` does not show.)
pub fn routes(out: &mut Vec<u8>, seq: u32, pid: u32, i: &Interface, family: u8) {
    if family != AF_INET6 {
        routes4(out, seq, pid, i);
    }
    if family != AF_INET {
        routes6(out, seq, pid, i);
    }
}

/// The IPv6 routes of `i`: on-link prefixes (`lo`: ::1/128), then routes through routers.
fn routes6(out: &mut Vec<u8>, seq: u32, pid: u32, i: &Interface) {
    let route = |out: &mut Vec<u8>, dst: [u8; 16], len: u8, gateway: Option<[u8; 16]>, metric: u32| {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_MULTI, seq, pid);
        // Protocol: kernel (2) for a prefix, boot (3) for a route through a router; scope universe.
        let protocol = if gateway.is_some() { 3 } else { 2 };
        m.bytes(&[AF_INET6, len, 0, 0, 254, protocol, 0, 1, 0, 0, 0, 0]);
        m.attr(15, &254u32.to_ne_bytes()); // RTA_TABLE
        if len > 0 {
            m.attr(1, &dst); // RTA_DST
        }
        if let Some(g) = gateway {
            m.attr(5, &g); // RTA_GATEWAY
        }
        m.attr(6, &metric.to_ne_bytes()); // RTA_PRIORITY
        m.attr(4, &i.index.to_ne_bytes()); // RTA_OIF
        m.finish(out);
    };
    let mut prefixes: Vec<([u8; 16], u8)> = Vec::new();
    // An address that failed duplicate address detection has no route.
    for &(a, len, _) in i.ipv6.iter().filter(|a| a.2 & crate::dad::IFA_F_DADFAILED == 0) {
        let p = (crate::prefix6(a, len), len);
        if !prefixes.contains(&p) {
            prefixes.push(p);
        }
    }
    for (dst, len) in prefixes {
        route(out, dst, len, None, 256);
    }
    for r in &i.routes6 {
        route(out, crate::prefix6(r.dst, r.prefix), r.prefix, Some(r.gateway), 1024);
    }
}

/// The IPv4 routes of `i`: the default through its gateway, the subnet of each primary address.
fn routes4(out: &mut Vec<u8>, seq: u32, pid: u32, i: &Interface) {
    if i.flags & IFF_LOOPBACK != 0 {
        return;
    }
    // struct rtmsg: family, dst len, src len, tos, table (main 254), protocol, scope, type (unicast 1), flags.
    let route = |out: &mut Vec<u8>, dst: [u8; 4], len: u8, gateway: Option<[u8; 4]>, a: [u8; 4]| {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_MULTI, seq, pid);
        // Protocol: kernel (2) for the subnet, boot (3) for the default; scope: link (253) or universe (0).
        let (protocol, scope) = if gateway.is_some() { (3, 0) } else { (2, 253) };
        m.bytes(&[2, len, 0, 0, 254, protocol, scope, 1, 0, 0, 0, 0]);
        m.attr(15, &254u32.to_ne_bytes()); // RTA_TABLE
        if len > 0 {
            m.attr(1, &dst); // RTA_DST
        }
        match gateway {
            Some(g) => {
                m.attr(5, &g); // RTA_GATEWAY
            }
            None => {
                m.attr(7, &a); // RTA_PREFSRC
            }
        }
        m.attr(4, &i.index.to_ne_bytes()); // RTA_OIF
        m.finish(out);
    };
    if let (Some(g), Some(first)) = (i.gateway, i.ipv4.first()) {
        route(out, [0; 4], 0, Some(g), first.addr);
    }
    for (net, prefix, a) in i.subnets4() {
        route(out, net, prefix, None, a);
    }
}

/// Appends `NLMSG_DONE`, the end of a dump.
pub fn done(out: &mut Vec<u8>, seq: u32, pid: u32) {
    let mut m = Msg::new(NLMSG_DONE, NLM_F_MULTI, seq, pid);
    m.bytes(&0i32.to_ne_bytes());
    m.finish(out);
}

/// Appends `NLMSG_ERROR` for request `req`: `errno` 0 acknowledges it, otherwise the (positive) error.
pub fn error(out: &mut Vec<u8>, req: &Header, pid: u32, errno: i32) {
    let mut m = Msg::new(NLMSG_ERROR, 0, req.seq, pid);
    m.bytes(&(-errno).to_ne_bytes());
    // The request's header, as Linux echoes it.
    let mut h = [0u8; HDR_LEN];
    h[..4].copy_from_slice(&req.len.to_ne_bytes());
    h[4..6].copy_from_slice(&req.ty.to_ne_bytes());
    h[6..8].copy_from_slice(&req.flags.to_ne_bytes());
    h[8..12].copy_from_slice(&req.seq.to_ne_bytes());
    h[12..16].copy_from_slice(&req.pid.to_ne_bytes());
    m.bytes(&h);
    m.finish(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Msg::new(ty, flags, seq, 0);
        m.bytes(payload);
        let mut v = Vec::new();
        m.finish(&mut v);
        v
    }

    #[test]
    fn requests() {
        let mut two = request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 7, &[17, 0, 0, 0]);
        two.extend(request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 8, &[2]));
        let msgs = parse(&two).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].0.ty, msgs[0].0.seq, msgs[0].1.len()), (RTM_GETLINK, 7, 4));
        assert_eq!((msgs[1].0.ty, msgs[1].0.seq, msgs[1].1.len()), (RTM_GETADDR, 8, 4));
        assert_eq!(parse(&[]), Ok(Vec::new()));
    }

    #[test]
    fn hostile_lengths() {
        let good = request(RTM_GETLINK, NLM_F_REQUEST, 1, &[0; 16]);
        for len in [0u32, 15, good.len() as u32 + 1, u32::MAX] {
            let mut bad = good.clone();
            bad[..4].copy_from_slice(&len.to_ne_bytes());
            assert_eq!(parse(&bad), Err(Error::Length), "length {len}");
        }
        // Trailing bytes too few for a header.
        let mut tail = good.clone();
        tail.extend_from_slice(&[1, 2, 3]);
        assert_eq!(parse(&tail), Err(Error::Length));
    }

    #[test]
    fn dump_messages_parse_back() {
        let eth = Interface {
            index: 2,
            name: "eth0",
            flags: crate::IFF_UP,
            mac: Some([2, 0, 0, 0, 0, 1]),
            mtu: 1500,
            ipv4: alloc::vec![a4([10, 0, 2, 15], 24, "eth0")],
            gateway: Some([10, 0, 2, 2]),
            stats: [0; 4],
            ..Default::default()
        };
        let mut out = Vec::new();
        link(&mut out, 5, 99, &eth);
        addr(&mut out, 5, 99, &eth, 0);
        routes(&mut out, 5, 99, &eth, 0);
        done(&mut out, 5, 99);
        let msgs = parse(&out).unwrap();
        let types: Vec<u16> = msgs.iter().map(|(h, _)| h.ty).collect();
        assert_eq!(
            types,
            [RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWROUTE, NLMSG_DONE]
        );
        assert_eq!(&msgs[1].1[..3], &[2, 24, 0x80]);
        assert!(msgs.iter().all(|(h, _)| h.seq == 5 && h.pid == 99));
        // The address message: ifaddrmsg, then IFA_ADDRESS 10.0.2.15.
        let a = msgs[1].1;
        assert_eq!(&a[..2], &[2, 24]);
        assert_eq!(&a[8..16], &[8, 0, 1, 0, 10, 0, 2, 15]);
        // The link's name attribute, NUL-terminated and padded.
        let l = msgs[0].1;
        assert_eq!(&l[16..25], &[9, 0, 3, 0, b'e', b't', b'h', b'0', 0]);
        let mut e = Vec::new();
        error(&mut e, &msgs[0].0, 99, 95);
        let (h, p) = parse(&e).unwrap()[0];
        assert_eq!((h.ty, i32::from_ne_bytes([p[0], p[1], p[2], p[3]])), (NLMSG_ERROR, -95));
    }

    fn a4(addr: [u8; 4], prefix: u8, label: &str) -> crate::Addr4 {
        crate::Addr4 {
            addr,
            prefix,
            label: label.into(),
        }
    }

    #[test]
    fn several_ipv4_addresses() {
        let eth = Interface {
            index: 2,
            name: "eth0",
            ipv4: alloc::vec![
                a4([10, 0, 2, 15], 24, "eth0"),
                a4([10, 0, 2, 16], 24, "eth0"),
                a4([192, 168, 7, 1], 24, "eth0:1"),
            ],
            gateway: Some([10, 0, 2, 2]),
            ..Default::default()
        };
        let mut out = Vec::new();
        addr(&mut out, 1, 1, &eth, AF_INET);
        let msgs = parse(&out).unwrap();
        // The second address of 10.0.2.0/24 is secondary; 192.168.7.1 is the primary of its own subnet.
        let flags: Vec<u8> = msgs.iter().map(|m| m.1[2]).collect();
        assert_eq!(flags, [0x80, 0x81, 0x80]);
        // Its label: the alias.
        assert!(msgs[2].1.windows(7).any(|w| w == b"eth0:1\0"));
        let mut out = Vec::new();
        routes(&mut out, 1, 1, &eth, AF_INET);
        let msgs = parse(&out).unwrap();
        // The default route, then one on-link route per subnet.
        let dsts: Vec<&[u8]> = msgs.iter().map(|m| &m.1[..2]).collect();
        assert_eq!(dsts, [&[2, 0][..], &[2, 24], &[2, 24]]);
        assert!(msgs[2].1.windows(4).any(|w| w == [192, 168, 7, 0]));
    }

    #[test]
    fn dad_flags_and_failed_addresses() {
        use crate::dad::{IFA_F_DADFAILED, IFA_F_OPTIMISTIC, IFA_F_TENTATIVE};
        let a = |last| [0xfd, 0, 0, 0, 0, 0, 0, last, 0, 0, 0, 0, 0, 0, 0, 1];
        let eth = Interface {
            index: 2,
            name: "eth0",
            ipv6: alloc::vec![
                (a(1), 64, IFA_F_TENTATIVE | IFA_F_OPTIMISTIC),
                (a(2), 64, IFA_F_TENTATIVE | IFA_F_DADFAILED),
            ],
            ..Default::default()
        };
        let mut out = Vec::new();
        addr(&mut out, 1, 1, &eth, AF_INET6);
        let msgs = parse(&out).unwrap();
        assert_eq!(msgs[0].1[2], 0x80 | 0x40 | 0x04);
        assert_eq!(msgs[1].1[2], 0x80 | 0x40 | 0x08);
        // IFA_FLAGS, 32 bits, after IFA_ADDRESS.
        assert_eq!(&msgs[1].1[28..36], &[8, 0, 8, 0, 0xc8, 0, 0, 0]);
        // The failed address's prefix has no route.
        let mut out = Vec::new();
        routes(&mut out, 1, 1, &eth, AF_INET6);
        let msgs = parse(&out).unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].1.windows(16).any(|w| w == crate::prefix6(a(1), 64)));
    }

    #[test]
    fn ipv6_dumps() {
        let ll = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        let eth = Interface {
            index: 2,
            name: "eth0",
            ipv4: alloc::vec![a4([10, 0, 2, 15], 24, "eth0")],
            ipv6: alloc::vec![(ll, 64, 0)],
            routes6: alloc::vec![crate::Route6 {
                dst: [0; 16],
                prefix: 0,
                gateway: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        addr(&mut out, 1, 1, &eth, AF_INET6);
        routes(&mut out, 1, 1, &eth, AF_INET6);
        let msgs = parse(&out).unwrap();
        assert_eq!(msgs.len(), 3);
        // ifaddrmsg: AF_INET6, /64, permanent, link scope, index 2; IFA_ADDRESS of 16 bytes.
        assert_eq!(&msgs[0].1[..8], &[10, 64, 0x80, 253, 2, 0, 0, 0]);
        assert_eq!(&msgs[0].1[8..12], &[20, 0, 1, 0]);
        assert_eq!(&msgs[0].1[12..28], &ll);
        // The prefix route fe80::/64, then the default route.
        assert_eq!(&msgs[1].1[..2], &[10, 64]);
        assert_eq!(&msgs[2].1[..2], &[10, 0]);
        let mut all = Vec::new();
        addr(&mut all, 1, 1, &eth, 0);
        assert_eq!(parse(&all).unwrap().len(), 2);
        let mut v4 = Vec::new();
        addr(&mut v4, 1, 1, &eth, AF_INET);
        assert_eq!(parse(&v4).unwrap().len(), 1);
    }
}
