//! Connection requests seen on the wire: the destination port of a TCP SYN (without ACK), so that the kernel
//! can drop one aimed at a listening port whose backlog is full, as Linux does (the peer retransmits it),
//! instead of letting smoltcp answer it with a reset. Frames come from the network: smoltcp's checked parsers
//! take them apart, and anything malformed or not such a segment is `None` (smoltcp then judges it as usual).

use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

/// The destination port of a TCP SYN without ACK in an Ethernet `frame` (IPv4 unfragmented or IPv6 without
/// extension headers).
pub fn syn_port_ethernet(frame: &[u8]) -> Option<u16> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    match eth.ethertype() {
        EthernetProtocol::Ipv4 | EthernetProtocol::Ipv6 => syn_port_ip(eth.payload()),
        _ => None,
    }
}

/// [`syn_port_ethernet`] for a bare IPv4 or IPv6 `packet` (an IP-medium interface such as `lo`).
pub fn syn_port_ip(packet: &[u8]) -> Option<u16> {
    let segment = match packet.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(packet).ok()?;
            if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
                return None;
            }
            // `payload` is bounded by the header's total length.
            &packet[usize::from(ip.header_len())..usize::from(ip.total_len())]
        }
        6 => {
            let ip = Ipv6Packet::new_checked(packet).ok()?;
            if ip.next_header() != IpProtocol::Tcp {
                return None;
            }
            ip.payload()
        }
        _ => return None,
    };
    let tcp = TcpPacket::new_checked(segment).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| tcp.dst_port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetRepr, IpAddress, Ipv4Address, Ipv4Repr, Ipv6Address, Ipv6Repr, TcpControl, TcpRepr,
        TcpSeqNumber,
    };

    fn tcp(control: TcpControl, ack: bool, src: IpAddress, dst: IpAddress) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 8080,
            control,
            seq_number: TcpSeqNumber(1),
            ack_number: ack.then_some(TcpSeqNumber(9)),
            window_len: 1000,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut buf),
            &src,
            &dst,
            &ChecksumCapabilities::default(),
        );
        buf
    }

    fn ipv4(control: TcpControl, ack: bool) -> Vec<u8> {
        let (src, dst) = (Ipv4Address::new(10, 0, 2, 2), Ipv4Address::new(10, 0, 2, 15));
        let segment = tcp(control, ack, src.into(), dst.into());
        let repr = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: segment.len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; repr.buffer_len() + segment.len()];
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf),
            &ChecksumCapabilities::default(),
        );
        buf[repr.buffer_len()..].copy_from_slice(&segment);
        buf
    }

    fn ipv6(control: TcpControl, ack: bool) -> Vec<u8> {
        let (src, dst) = (Ipv6Address::new(0xfec0, 0, 0, 0, 0, 0, 0, 2), Ipv6Address::LOCALHOST);
        let segment = tcp(control, ack, src.into(), dst.into());
        let repr = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: segment.len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; repr.buffer_len() + segment.len()];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf));
        buf[repr.buffer_len()..].copy_from_slice(&segment);
        buf
    }

    fn ethernet(ethertype: EthernetProtocol, packet: &[u8]) -> Vec<u8> {
        let repr = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype,
        };
        let mut buf = vec![0u8; repr.buffer_len() + packet.len()];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf));
        buf[repr.buffer_len()..].copy_from_slice(packet);
        buf
    }

    #[test]
    fn finds_syns_only() {
        assert_eq!(syn_port_ip(&ipv4(TcpControl::Syn, false)), Some(8080));
        assert_eq!(syn_port_ip(&ipv6(TcpControl::Syn, false)), Some(8080));
        assert_eq!(
            syn_port_ethernet(&ethernet(EthernetProtocol::Ipv4, &ipv4(TcpControl::Syn, false))),
            Some(8080)
        );
        assert_eq!(
            syn_port_ethernet(&ethernet(EthernetProtocol::Ipv6, &ipv6(TcpControl::Syn, false))),
            Some(8080)
        );
        // A SYN-ACK, a plain segment, a reset: not connection requests.
        assert_eq!(syn_port_ip(&ipv4(TcpControl::Syn, true)), None);
        assert_eq!(syn_port_ip(&ipv4(TcpControl::None, true)), None);
        assert_eq!(syn_port_ip(&ipv6(TcpControl::Rst, false)), None);
        assert_eq!(
            syn_port_ethernet(&ethernet(EthernetProtocol::Arp, &ipv4(TcpControl::Syn, false))),
            None
        );
    }

    #[test]
    fn malformed_frames_are_none() {
        let syn = ethernet(EthernetProtocol::Ipv4, &ipv4(TcpControl::Syn, false));
        for len in 0..syn.len() {
            assert_eq!(syn_port_ethernet(&syn[..len]), None, "truncated to {len}");
        }
        let mut fragment = ipv4(TcpControl::Syn, false);
        fragment[6] |= 0x20; // more fragments
        assert_eq!(syn_port_ip(&fragment), None);
        let mut lying = ipv4(TcpControl::Syn, false);
        lying[0] = 0x4f; // a header longer than the packet holds
        assert_eq!(syn_port_ip(&lying), None);
        assert_eq!(syn_port_ip(&[0x60]), None);
        assert_eq!(syn_port_ip(&[]), None);
    }
}
