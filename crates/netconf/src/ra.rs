//! IPv6 router advertisements seen on the wire, for the default route they announce. smoltcp's SLAAC takes
//! the advertised prefix, but its route update skips the router whenever the table holds an IPv4 route (its
//! `all` over the table answers false for the IPv4 entry), so the kernel takes the router from here. Frames
//! come from the network: everything is parsed by smoltcp's checked parsers (lengths, options, the ICMPv6
//! checksum), and anything malformed is simply not an advertisement.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Duration;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Address, Ipv6Packet, NdiscRepr,
};

/// The router and router lifetime of an Ethernet `frame` holding a valid router advertisement (ICMPv6 type
/// 134 from a link-local address with hop limit 255, as RFC 4861 asks); `None` for any other frame.
pub fn router_advert(frame: &[u8]) -> Option<(Ipv6Address, Duration)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.next_header() != IpProtocol::Icmpv6 || ip.hop_limit() != 255 || !src.is_unicast_link_local() {
        return None;
    }
    let icmp = Icmpv6Packet::new_checked(ip.payload()).ok()?;
    match Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default()).ok()? {
        Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert { router_lifetime, .. }) => Some((src, router_lifetime)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{EthernetAddress, EthernetRepr, Ipv6Repr, NdiscRouterFlags};

    fn advert(hop_limit: u8, lifetime: u64) -> Vec<u8> {
        let src = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let dst = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        let ra = Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
            hop_limit: 64,
            flags: NdiscRouterFlags::empty(),
            router_lifetime: Duration::from_secs(lifetime),
            reachable_time: Duration::from_millis(0),
            retrans_time: Duration::from_millis(0),
            lladdr: None,
            mtu: None,
            prefix_info: None,
        });
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: ra.buffer_len(),
            hop_limit,
        };
        let eth = EthernetRepr {
            src_addr: EthernetAddress([0x52, 0x55, 10, 0, 2, 2]),
            dst_addr: EthernetAddress([0x33, 0x33, 0, 0, 0, 1]),
            ethertype: EthernetProtocol::Ipv6,
        };
        let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + ra.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        let mut packet = Ipv6Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet);
        let mut icmp = Icmpv6Packet::new_unchecked(packet.payload_mut());
        ra.emit(&src, &dst, &mut icmp, &ChecksumCapabilities::default());
        buf
    }

    #[test]
    fn advertisements() {
        let router = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        assert_eq!(
            router_advert(&advert(255, 1800)),
            Some((router, Duration::from_secs(1800)))
        );
        assert_eq!(router_advert(&advert(255, 0)), Some((router, Duration::from_secs(0))));
        // Forwarded from off the link: not to be believed.
        assert_eq!(router_advert(&advert(64, 1800)), None);
    }

    #[test]
    fn hostile_frames() {
        let good = advert(255, 1800);
        // Every truncation, and every single-bit flip: never a panic; a flip in the checked ICMPv6 part is
        // caught by the checksum.
        for n in 0..good.len() {
            assert_eq!(router_advert(&good[..n]), None, "truncated to {n}");
        }
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let r = router_advert(&bad);
            if i / 8 >= 14 + 40 {
                assert_eq!(r, None, "bit {i} flipped");
            }
        }
        assert_eq!(router_advert(&[]), None);
        assert_eq!(router_advert(&[0xff; 200]), None);
    }
}
