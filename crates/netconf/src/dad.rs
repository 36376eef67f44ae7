//! IPv6 duplicate address detection (RFC 4862 §5.4), optimistic as RFC 4429 and Linux's `optimistic_dad`
//! have it: an address is usable at once but tentative; one Neighbor Solicitation from `::` to its
//! solicited-node group is sent ([`solicitation`]; Linux's `dad_transmits` 1), and when no Neighbor
//! Advertisement for it, nor another node's DAD solicitation for it ([`conflict`]), arrives within
//! [`RETRANS`], it becomes preferred; otherwise it has failed ([`Dad`], the per-address state machine). Frames
//! come from the network: they are read by smoltcp's checked parsers, and anything malformed is no conflict.

use alloc::vec::Vec;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Address,
    Ipv6Packet, Ipv6Repr, NdiscRepr,
};

/// How long a tentative address waits for a conflict after its solicitation (Linux's `retrans_time`, 1 s).
pub const RETRANS: Duration = Duration::from_secs(1);

/// `IFA_F_OPTIMISTIC`: tentative but usable (RFC 4429).
pub const IFA_F_OPTIMISTIC: u8 = 0x04;
/// `IFA_F_DADFAILED`: another node has the address.
pub const IFA_F_DADFAILED: u8 = 0x08;
/// `IFA_F_TENTATIVE`: DAD has not finished.
pub const IFA_F_TENTATIVE: u8 = 0x40;
/// `IFA_F_PERMANENT`: not from autoconfiguration with a lifetime.
pub const IFA_F_PERMANENT: u8 = 0x80;

/// The solicited-node multicast group of `a` (`ff02::1:ffXX:XXXX`, its last 24 bits).
pub fn solicited_node(a: Ipv6Address) -> Ipv6Address {
    let o = a.octets();
    Ipv6Address::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet frame of a DAD Neighbor Solicitation for `target` from the interface with `mac`: from `::`
/// (so with no source link-layer option), to `target`'s solicited-node group, hop limit 255.
pub fn solicitation(mac: [u8; 6], target: Ipv6Address) -> Vec<u8> {
    let src = Ipv6Address::UNSPECIFIED;
    let dst = solicited_node(target);
    let ns = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: None,
    });
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: ns.buffer_len(),
        hop_limit: 255,
    };
    let d = dst.octets();
    let eth = EthernetRepr {
        src_addr: EthernetAddress(mac),
        dst_addr: EthernetAddress([0x33, 0x33, d[12], d[13], d[14], d[15]]),
        ethertype: EthernetProtocol::Ipv6,
    };
    let mut buf = alloc::vec![0u8; eth.buffer_len() + ip.buffer_len() + ns.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut frame);
    let mut packet = Ipv6Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut packet);
    let mut icmp = Icmpv6Packet::new_unchecked(packet.payload_mut());
    ns.emit(&src, &dst, &mut icmp, &ChecksumCapabilities::default());
    buf
}

/// The address an Ethernet `frame` from another node (its source is not `own_mac`) says is taken: the target
/// of a Neighbor Advertisement, or of a DAD Neighbor Solicitation (from `::`), both with hop limit 255 and a
/// valid checksum; `None` for any other frame.
pub fn conflict(frame: &[u8], own_mac: [u8; 6]) -> Option<Ipv6Address> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv6 || eth.src_addr() == EthernetAddress(own_mac) {
        return None;
    }
    let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.next_header() != IpProtocol::Icmpv6 || ip.hop_limit() != 255 {
        return None;
    }
    let icmp = Icmpv6Packet::new_checked(ip.payload()).ok()?;
    match Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default()).ok()? {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { target_addr, .. }) => Some(target_addr),
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, .. }) if src.is_unspecified() => Some(target_addr),
        _ => None,
    }
}

/// Where one address is in its detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Usable, not yet known unique: its solicitation is to be sent (`None`) or was, and the address becomes
    /// preferred at the instant given.
    Tentative(Option<Instant>),
    /// Unique as far as DAD can tell.
    Preferred,
    /// Another node has it: the interface must not use it.
    Failed,
}

/// The detection state of an interface's IPv6 addresses.
#[derive(Clone, Debug, Default)]
pub struct Dad {
    addrs: Vec<(Ipv6Address, u8, State)>,
}

impl Dad {
    /// An empty table.
    pub const fn new() -> Self {
        Dad { addrs: Vec::new() }
    }

    /// Follows the interface's current addresses (with prefix lengths): a new one starts tentative, one gone
    /// is forgotten unless it failed (a failed address stays listed, as Linux keeps it `dadfailed`). Returns
    /// the failed addresses found on the interface again (autoconfiguration re-adds them), to be taken off.
    pub fn track(&mut self, current: &[(Ipv6Address, u8)]) -> Vec<Ipv6Address> {
        self.addrs
            .retain(|(a, _, s)| *s == State::Failed || current.iter().any(|(c, _)| c == a));
        let mut again = Vec::new();
        for &(a, prefix) in current {
            match self.addrs.iter().find(|(x, _, _)| *x == a) {
                Some((_, _, State::Failed)) => again.push(a),
                Some(_) => {}
                None => self.addrs.push((a, prefix, State::Tentative(None))),
            }
        }
        again
    }

    /// The addresses whose solicitation is due (each once), marked sent at `now`; tentative addresses whose
    /// wait is over become preferred.
    pub fn tick(&mut self, now: Instant) -> Vec<Ipv6Address> {
        let mut due = Vec::new();
        for (a, _, s) in &mut self.addrs {
            match *s {
                State::Tentative(None) => {
                    *s = State::Tentative(Some(now + RETRANS));
                    due.push(*a);
                }
                State::Tentative(Some(at)) if at <= now => *s = State::Preferred,
                _ => {}
            }
        }
        due
    }

    /// A conflict for `a` was seen: true when `a` was tentative and has now failed (a preferred address is
    /// kept, as on Linux: the other node's detection is the one that fails).
    pub fn conflict(&mut self, a: Ipv6Address) -> bool {
        match self.addrs.iter_mut().find(|(x, _, _)| *x == a) {
            Some((_, _, s @ State::Tentative(_))) => {
                *s = State::Failed;
                true
            }
            _ => false,
        }
    }

    /// Forgets a failed address (`ip addr del` of it); true when it was one.
    pub fn forget(&mut self, a: Ipv6Address) -> bool {
        let before = self.addrs.len();
        self.addrs.retain(|(x, _, s)| !(*x == a && *s == State::Failed));
        self.addrs.len() != before
    }

    /// Whether the addresses detected (those not failed) are exactly `current` (each given once): when they
    /// are, [`Dad::track`] has nothing to do.
    pub fn tracks(&self, current: impl Iterator<Item = Ipv6Address>) -> bool {
        let mut n = 0;
        for a in current {
            if !matches!(self.state(a), Some(State::Tentative(_) | State::Preferred)) {
                return false;
            }
            n += 1;
        }
        n == self.addrs.iter().filter(|(_, _, s)| *s != State::Failed).count()
    }

    /// When [`Dad::tick`] next has something to do.
    pub fn next_at(&self) -> Option<Instant> {
        self.addrs
            .iter()
            .filter_map(|(_, _, s)| match s {
                State::Tentative(Some(at)) => Some(*at),
                State::Tentative(None) => Some(Instant::ZERO),
                _ => None,
            })
            .min()
    }

    /// The state of `a`, if it is tracked.
    pub fn state(&self, a: Ipv6Address) -> Option<State> {
        self.addrs.iter().find(|(x, _, _)| *x == a).map(|(_, _, s)| *s)
    }

    /// The `IFA_F_*` flags of the detection of `a` (Linux's: tentative and optimistic while detecting,
    /// tentative and failed after a conflict, none once preferred or when untracked).
    pub fn flags(&self, a: Ipv6Address) -> u8 {
        match self.state(a) {
            Some(State::Tentative(_)) => IFA_F_TENTATIVE | IFA_F_OPTIMISTIC,
            Some(State::Failed) => IFA_F_TENTATIVE | IFA_F_DADFAILED,
            _ => 0,
        }
    }

    /// The failed addresses with their prefix lengths (no longer on the interface, still shown).
    pub fn failed(&self) -> impl Iterator<Item = (Ipv6Address, u8)> + '_ {
        self.addrs
            .iter()
            .filter(|(_, _, s)| *s == State::Failed)
            .map(|&(a, p, _)| (a, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::NdiscNeighborFlags;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn addr(last: u16) -> Ipv6Address {
        Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0xab, last)
    }

    /// A neighbor discovery message from `mac`.
    fn ndisc(mac: [u8; 6], src: Ipv6Address, dst: Ipv6Address, msg: NdiscRepr<'_>, hop_limit: u8) -> Vec<u8> {
        let msg = Icmpv6Repr::Ndisc(msg);
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: msg.buffer_len(),
            hop_limit,
        };
        let eth = EthernetRepr {
            src_addr: EthernetAddress(mac),
            dst_addr: EthernetAddress([0x33, 0x33, 0, 0, 0, 1]),
            ethertype: EthernetProtocol::Ipv6,
        };
        let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + msg.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        let mut packet = Ipv6Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet);
        let mut icmp = Icmpv6Packet::new_unchecked(packet.payload_mut());
        msg.emit(&src, &dst, &mut icmp, &ChecksumCapabilities::default());
        buf
    }

    fn advert(target: Ipv6Address, hop_limit: u8) -> Vec<u8> {
        let all_nodes = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        let na = NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: target,
            lladdr: Some(EthernetAddress(PEER).into()),
        };
        ndisc(
            PEER,
            Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
            all_nodes,
            na,
            hop_limit,
        )
    }

    #[test]
    fn solicitation_is_a_dad_probe() {
        let target = Ipv6Address::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456);
        let f = solicitation(MAC, target);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.dst_addr(), EthernetAddress([0x33, 0x33, 0xff, 0x12, 0x34, 0x56]));
        assert_eq!(eth.src_addr(), EthernetAddress(MAC));
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.src_addr(), Ipv6Address::UNSPECIFIED);
        assert_eq!(ip.dst_addr(), Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff12, 0x3456));
        assert_eq!(ip.hop_limit(), 255);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp, &ChecksumCapabilities::default());
        assert_eq!(
            repr,
            Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                target_addr: target,
                lladdr: None
            }))
        );
        // Our own probe, seen again (a hub, a loop), is no conflict; another node's is.
        assert_eq!(conflict(&f, MAC), None);
        assert_eq!(conflict(&f, PEER), Some(target));
    }

    #[test]
    fn conflicts() {
        assert_eq!(conflict(&advert(addr(1), 255), MAC), Some(addr(1)));
        // Forwarded from off the link: not to be believed.
        assert_eq!(conflict(&advert(addr(1), 64), MAC), None);
        // A solicitation from an address (address resolution) says nothing about the target's owner.
        let ns = NdiscRepr::NeighborSolicit {
            target_addr: addr(1),
            lladdr: Some(EthernetAddress(PEER).into()),
        };
        let resolution = ndisc(PEER, addr(2), solicited_node(addr(1)), ns, 255);
        assert_eq!(conflict(&resolution, MAC), None);
    }

    #[test]
    fn hostile_frames() {
        let good = advert(addr(1), 255);
        for n in 0..good.len() {
            assert_eq!(conflict(&good[..n], MAC), None, "truncated to {n}");
        }
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            // A flip in the checksummed ICMPv6 part or the pseudo-header's addresses is caught.
            if i / 8 >= 14 + 8 {
                assert_eq!(conflict(&bad, MAC), None, "bit {i} flipped");
            }
        }
        assert_eq!(conflict(&[], MAC), None);
        assert_eq!(conflict(&[0xff; 200], MAC), None);
    }

    #[test]
    fn state_machine() {
        let t0 = Instant::from_secs(10);
        let mut d = Dad::new();
        assert_eq!(d.next_at(), None);
        assert!(!d.tracks([addr(1)].into_iter()));
        assert!(d.track(&[(addr(1), 64), (addr(2), 64)]).is_empty());
        assert!(d.tracks([addr(2), addr(1)].into_iter()));
        assert!(!d.tracks([addr(1)].into_iter()));
        assert_eq!(d.flags(addr(1)), IFA_F_TENTATIVE | IFA_F_OPTIMISTIC);
        assert_eq!(d.next_at(), Some(Instant::ZERO));
        assert_eq!(d.tick(t0), vec![addr(1), addr(2)]);
        // Each solicitation goes once.
        assert!(d.tick(t0).is_empty());
        assert_eq!(d.next_at(), Some(t0 + RETRANS));
        assert!(d.conflict(addr(2)));
        assert_eq!(d.flags(addr(2)), IFA_F_TENTATIVE | IFA_F_DADFAILED);
        // Not yet: still tentative just before the wait ends.
        assert!(d.tick(t0 + RETRANS - Duration::from_millis(1)).is_empty());
        assert_eq!(d.state(addr(1)), Some(State::Tentative(Some(t0 + RETRANS))));
        d.tick(t0 + RETRANS);
        assert_eq!(d.state(addr(1)), Some(State::Preferred));
        assert_eq!(d.flags(addr(1)), 0);
        assert_eq!(d.next_at(), None);
        // A preferred address is kept when someone else claims it.
        assert!(!d.conflict(addr(1)));
        assert!(!d.conflict(addr(9)));
        // The failed one has left the interface and stays listed; put back, it is to be taken off again.
        assert!(d.track(&[(addr(1), 64)]).is_empty());
        // (A failed address is not one being detected.)
        assert!(d.tracks([addr(1)].into_iter()));
        assert!(!d.tracks([addr(1), addr(2)].into_iter()));
        assert_eq!(d.failed().collect::<Vec<_>>(), vec![(addr(2), 64)]);
        assert_eq!(d.track(&[(addr(1), 64), (addr(2), 64)]), vec![addr(2)]);
        // An address removed and added again is detected again.
        d.track(&[]);
        d.track(&[(addr(1), 64)]);
        assert_eq!(d.flags(addr(1)), IFA_F_TENTATIVE | IFA_F_OPTIMISTIC);
        assert!(d.forget(addr(2)));
        assert!(!d.forget(addr(1)));
        assert_eq!(d.failed().count(), 0);
    }
}
