//! Duplicate address detection and several IPv4 addresses per interface, against a peer of ours: the guest
//! (busybox) sits on QEMU's `-netdev dgram` backend, which carries its Ethernet frames as UDP datagrams to and
//! from this process. The peer answers the guest's DAD solicitation for one address ([`TAKEN`]) with a
//! Neighbor Advertisement, as a node that has it would, and ignores the others; it asks, by ARP, for the
//! guest's secondary IPv4 address ([`SECONDARY`]), and at each answer sends a UDP datagram there (received by
//! `clients/c/udpwait.c`). The guest
//! sees the taken address `dadfailed`, its other addresses usable at once and no longer tentative a second
//! later, the datagram received on its secondary address, and its aliases in `ip`, `ifconfig`, `/proc/net`.

use crate::boot_tests::{Case, On};
use crate::clients::{self, Initramfs, Libc};
use crate::qemu::{Boot, Vm};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv6Packet,
    Icmpv6Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags,
    NdiscRepr, UdpPacket, UdpRepr,
};
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// The peer's MAC and addresses.
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const PEER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
/// The address the peer says is its own.
const TAKEN: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xdad);
/// The guest's secondary IPv4 address, and the port its `nc` listens on there.
const SECONDARY: Ipv4Address = Ipv4Address::new(10, 0, 2, 16);
const PORT: u16 = 7777;
/// How long the peer runs after the guest's first frame (it waits for that as long as the xtask runs: the
/// case may run long after the peer starts, behind the other cases).
const LIFETIME: Duration = Duration::from_secs(120);

/// An Ethernet frame from the peer to `dst`, its payload written by `fill`.
fn frame(dst: [u8; 6], ethertype: EthernetProtocol, len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let eth = EthernetRepr {
        src_addr: EthernetAddress(PEER_MAC),
        dst_addr: EthernetAddress(dst),
        ethertype,
    };
    let mut buf = vec![0u8; eth.buffer_len() + len];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut f);
    fill(f.payload_mut());
    buf
}

/// The target of a DAD Neighbor Solicitation (from `::`) in `f`.
fn dad_target(f: &[u8]) -> Option<Ipv6Address> {
    let eth = EthernetFrame::new_checked(f).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.next_header() != IpProtocol::Icmpv6 || !src.is_unspecified() {
        return None;
    }
    let icmp = Icmpv6Packet::new_checked(ip.payload()).ok()?;
    match Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default()).ok()? {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, .. }) => Some(target_addr),
        _ => None,
    }
}

/// The Neighbor Advertisement a node that has `target` sends in answer to a DAD solicitation: to all nodes.
fn advert(target: Ipv6Address) -> Vec<u8> {
    let all_nodes = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags::OVERRIDE,
        target_addr: target,
        lladdr: Some(EthernetAddress(PEER_MAC).into()),
    });
    let ip = Ipv6Repr {
        src_addr: PEER_LL,
        dst_addr: all_nodes,
        next_header: IpProtocol::Icmpv6,
        payload_len: na.buffer_len(),
        hop_limit: 255,
    };
    frame(
        [0x33, 0x33, 0, 0, 0, 1],
        EthernetProtocol::Ipv6,
        ip.buffer_len() + na.buffer_len(),
        |p| {
            let mut packet = Ipv6Packet::new_unchecked(p);
            ip.emit(&mut packet);
            let mut icmp = Icmpv6Packet::new_unchecked(packet.payload_mut());
            na.emit(&PEER_LL, &all_nodes, &mut icmp, &ChecksumCapabilities::default());
        },
    )
}

/// An ARP request for `target`, broadcast.
fn arp_request(target: Ipv4Address) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(PEER_MAC),
        source_protocol_addr: PEER_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    frame([0xff; 6], EthernetProtocol::Arp, arp.buffer_len(), |p| {
        arp.emit(&mut ArpPacket::new_unchecked(p))
    })
}

/// The hardware address in an ARP reply for `target` in `f`.
fn arp_reply(f: &[u8], target: Ipv4Address) -> Option<[u8; 6]> {
    let eth = EthernetFrame::new_checked(f).ok()?;
    if eth.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    match ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()? {
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr,
            source_protocol_addr,
            ..
        } if source_protocol_addr == target => Some(source_hardware_addr.0),
        _ => None,
    }
}

/// A UDP datagram from the peer to `dst:PORT` through the guest's `mac`.
fn datagram(mac: [u8; 6], dst: Ipv4Address, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: 5555,
        dst_port: PORT,
    };
    let ip = Ipv4Repr {
        src_addr: PEER_IP,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let caps = ChecksumCapabilities::default();
    frame(mac, EthernetProtocol::Ipv4, ip.buffer_len() + ip.payload_len, |p| {
        let mut packet = Ipv4Packet::new_unchecked(p);
        ip.emit(&mut packet, &caps);
        let mut u = UdpPacket::new_unchecked(packet.payload_mut());
        udp.emit(
            &mut u,
            &PEER_IP.into(),
            &dst.into(),
            payload.len(),
            |b| b.copy_from_slice(payload),
            &caps,
        );
    })
}

/// The peer: answers DAD for [`TAKEN`], reaches the guest at [`SECONDARY`]; what it did, for the log.
fn peer(sock: UdpSocket, qemu: SocketAddr) -> String {
    let mut start = None::<Instant>;
    let (mut answered, mut sent, mut last_ask) = (0, 0, None::<Instant>);
    let mut buf = [0u8; 2048];
    while start.is_none_or(|t| t.elapsed() < LIFETIME) {
        if start.is_some() && last_ask.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            let _ = sock.send_to(&arp_request(SECONDARY), qemu);
            last_ask = Some(Instant::now());
        }
        let Ok(n) = sock.recv(&mut buf) else { continue };
        start.get_or_insert_with(Instant::now);
        let f = &buf[..n];
        if dad_target(f) == Some(TAKEN) {
            let _ = sock.send_to(&advert(TAKEN), qemu);
            answered += 1;
        } else if let Some(mac) = arp_reply(f, SECONDARY) {
            // (Again at each answer: the guest's `nc` may not listen yet.)
            let _ = sock.send_to(&datagram(mac, SECONDARY, b"reached-secondary\n"), qemu);
            sent += 1;
        }
    }
    format!("{answered} DAD solicitations answered, {sent} datagrams sent to {SECONDARY}")
}

/// The guest's script.
const SCRIPT: &str = "#!/bin/sh\n\
    ip -6 addr add fd00::dad/64 dev eth0 && ip -6 addr add fd00::1/64 dev eth0 && echo added6\n\
    ip -6 addr show dev eth0 | grep 'fd00::1/64' | grep -q tentative && echo optimistic-tentative-ok\n\
    ping6 -c 1 -W 2 fd00::1 | grep -q '1 packets received' && echo optimistic-usable-ok\n\
    ip addr add 10.0.2.16/24 dev eth0 && echo added4\n\
    ifconfig eth0:1 192.168.7.1 netmask 255.255.255.0 && echo alias-added\n\
    sleep 2\n\
    ip -6 addr show dev eth0; ip addr show dev eth0; ip route; ifconfig; cat /proc/net/route\n\
    ip -6 addr show dev eth0 | grep 'fd00::dad/64' | grep -q dadfailed && echo dadfailed-ok\n\
    ip -6 addr show dev eth0 | grep 'fd00::1/64' | grep -vq tentative && echo preferred-ok\n\
    ip -6 addr show dev eth0 | grep 'fe80::' | grep -vq tentative && echo link-local-preferred-ok\n\
    ! ping6 -c 1 -W 1 fd00::dad >/dev/null 2>&1 && echo failed-unusable-ok\n\
    ip -6 addr del fd00::dad/64 dev eth0 && ! ip -6 addr | grep -q fd00::dad && echo failed-deleted-ok\n\
    ip addr show dev eth0 | grep -q 'inet 10.0.2.16/24 .*secondary' && echo secondary-ok\n\
    ip addr show dev eth0 | grep -q 'inet 192.168.7.1/24 .*eth0:1' && echo alias-label-ok\n\
    ifconfig eth0:1 | grep -q 'inet addr:192.168.7.1' && ifconfig | grep -q '^eth0:1' && echo ifconfig-alias-ok\n\
    grep -q '^eth0\t0007A8C0\t' /proc/net/route && ip route | grep -q '^192.168.7.0/24 dev eth0' && echo alias-route-ok\n\
    ping -c 1 -W 2 192.168.7.1 | grep -q '1 packets received' && echo alias-ping-ok\n\
    /bin/udpwait 10.0.2.16 7777 20 | grep -q 'from 10.0.2.2:5555: reached-secondary' && echo secondary-reached-ok\n\
    ifconfig eth0:1 down && ! ip addr | grep -q 192.168.7.1 && ! grep -q 0007A8C0 /proc/net/route && echo alias-down-ok\n\
    ip addr del 10.0.2.16/24 dev eth0 && ! ip addr | grep -q 10.0.2.16 && ip addr | grep -q 'inet 10.0.2.15/24' && echo secondary-deleted-ok\n";

/// The case.
pub fn cases() -> Result<Vec<Case>, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp socket: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let host = sock.local_addr().map_err(|e| e.to_string())?;
    // QEMU's end: a port free now (QEMU binds it when it starts).
    let qemu = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("udp socket: {e}"))?;
    thread::spawn(move || println!("net-dad-peer: host side: {}", peer(sock, qemu)));
    let mut vm = Vm::new(
        Boot::Pvh,
        128,
        "console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off",
    );
    vm.initrd = Some(
        Initramfs::new("net-dad")
            .busybox()?
            .all_applets()?
            .file("/bin/udpwait", &clients::c_program(Libc::Musl, "udpwait")?)?
            .script("/init", SCRIPT)?
            .write()?,
    );
    vm.extra = crate::qemu::dgram_net(qemu.port(), host.port(), "");
    Ok(vec![Case {
        name: "net-dad-peer".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| {
            crate::user_tests::exited(
                o,
                0,
                &[
                    "added6",
                    "optimistic-tentative-ok",
                    "optimistic-usable-ok",
                    "added4",
                    "alias-added",
                    "net: eth0: IPv6 address fd00::dad is another node's",
                    "dadfailed-ok",
                    "preferred-ok",
                    "link-local-preferred-ok",
                    "failed-unusable-ok",
                    "failed-deleted-ok",
                    "secondary-ok",
                    "alias-label-ok",
                    "ifconfig-alias-ok",
                    "alias-route-ok",
                    "alias-ping-ok",
                    "secondary-reached-ok",
                    "alias-down-ok",
                    "secondary-deleted-ok",
                ],
            )
        }),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_frames_parse_back() {
        // The advertisement is a valid NDP message for the taken address.
        let na = advert(TAKEN);
        let eth = EthernetFrame::new_checked(&na[..]).unwrap();
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.hop_limit(), 255);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp, &ChecksumCapabilities::default());
        assert!(matches!(
            repr,
            Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { target_addr, .. })) if target_addr == TAKEN
        ));
        // An advertisement is no DAD solicitation; an ARP request is no reply.
        assert_eq!(dad_target(&na), None);
        assert_eq!(arp_reply(&arp_request(SECONDARY), SECONDARY), None);
        let d = datagram([2, 0, 0, 0, 0, 9], SECONDARY, b"x");
        let eth = EthernetFrame::new_checked(&d[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), SECONDARY);
    }
}
