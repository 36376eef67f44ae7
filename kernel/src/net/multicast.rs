//! Multicast on `AF_INET`/`AF_INET6` sockets: group memberships (`IP_ADD_MEMBERSHIP`/`IP_DROP_MEMBERSHIP`,
//! `IPV6_JOIN_GROUP`/`IPV6_LEAVE_GROUP`) and the sending options (`IP_MULTICAST_TTL`/`LOOP`/`IF` and their
//! `IPV6_MULTICAST_*` twins), whose values [`ember_netconf::mcast`] parses.
//!
//! An interface takes a group's datagrams while any socket is a member there: smoltcp's interface joins the
//! group with the first member (sending an IGMPv2 membership report or an MLDv2 one) and leaves it with the
//! last (an IGMPv2 leave, an MLDv2 change-to-include). As with Linux's default `IP_MULTICAST_ALL`, every socket
//! bound to the port then gets them, member or not. smoltcp does not loop a host's own multicast back to
//! it: a membership on the device is taken on `lo` too, and a datagram sent to a group this host is a member
//! of is copied through `lo` while the sender's `*_MULTICAST_LOOP` is on (Linux's default).

use super::stack::{ETH, LO, Stack};
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use ember_frame::sync::Mutex;
use ember_netconf::mcast::{self, Iface};
use smoltcp::iface::MulticastError;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};

/// Members of each group on each interface (by [`Stack::nets`] index).
static MEMBERS: Mutex<BTreeMap<(usize, IpAddress), usize>> = Mutex::new(BTreeMap::new());

/// One socket's memberships and sending options.
pub struct Multicast {
    state: Mutex<Options>,
}

struct Options {
    /// The groups joined, with the interface each was joined on.
    groups: Vec<(usize, IpAddress)>,
    /// `IP_MULTICAST_TTL`, `IPV6_MULTICAST_HOPS`.
    ttl: u8,
    hops: u8,
    /// `IP_MULTICAST_LOOP`, `IPV6_MULTICAST_LOOP`.
    loop4: bool,
    loop6: bool,
    /// `IP_MULTICAST_IF`'s address (as `getsockopt` gives it back), `IPV6_MULTICAST_IF`'s index.
    if4: [u8; 4],
    if6: u32,
}

impl From<mcast::Invalid> for Errno {
    fn from(_: mcast::Invalid) -> Errno {
        Errno::EINVAL
    }
}

/// Which interface a request names: `ENODEV` for an index or address no interface has. Any: the device's
/// (`lo` without one).
fn pick(s: &Stack, iface: Iface) -> Result<usize, Errno> {
    match iface {
        Iface::Any => Ok(if s.nets.len() > ETH { ETH } else { LO }),
        Iface::Index(i) => {
            let i = usize::try_from(i).map_err(|_| Errno::ENODEV)?;
            (1..=s.nets.len()).contains(&i).then(|| i - 1).ok_or(Errno::ENODEV)
        }
        // `lo` also answers for the device's addresses: the device's interface is the one that has it.
        Iface::Address(a) => {
            let a = Ipv4Address::from_octets(a);
            (0..s.nets.len())
                .rev()
                .find(|&i| s.nets[i].iface.has_ip_addr(a) || (i == LO && a.is_loopback()))
                .ok_or(Errno::ENODEV)
        }
    }
}

/// One more member of `group` on interface `net` (and on `lo`, for the copies looped back).
fn add_member(s: &mut Stack, net: usize, group: IpAddress) -> Result<(), Errno> {
    let mut members = MEMBERS.lock();
    let nets: &[usize] = if net == LO { &[LO] } else { &[net, LO] };
    for (k, &n) in nets.iter().enumerate() {
        let count = members.entry((n, group)).or_insert(0);
        if *count == 0
            && let Err(e) = s.nets[n].iface.join_multicast_group(group)
        {
            members.remove(&(n, group));
            // Undo what this call did on the interfaces before.
            for &m in &nets[..k] {
                drop_member(s, &mut members, m, group);
            }
            return Err(match e {
                MulticastError::GroupTableFull => Errno::ENOBUFS,
                MulticastError::Unaddressable => Errno::EINVAL,
            });
        }
        *count += 1;
    }
    Ok(())
}

fn drop_member(s: &mut Stack, members: &mut BTreeMap<(usize, IpAddress), usize>, net: usize, group: IpAddress) {
    if let Some(count) = members.get_mut(&(net, group)) {
        *count -= 1;
        if *count == 0 {
            members.remove(&(net, group));
            let _ = s.nets[net].iface.leave_multicast_group(group);
        }
    }
}

/// One member fewer of `group` on `net` (and on `lo`).
fn remove_member(s: &mut Stack, net: usize, group: IpAddress) {
    let mut members = MEMBERS.lock();
    drop_member(s, &mut members, net, group);
    if net != LO {
        drop_member(s, &mut members, LO, group);
    }
}

/// Whether this host is a member of `group` on `net`.
fn is_member(net: usize, group: IpAddress) -> bool {
    MEMBERS.lock().contains_key(&(net, group))
}

impl Default for Multicast {
    /// No memberships, Linux's defaults (hop limit 1, loop on, any interface).
    fn default() -> Self {
        Multicast {
            state: Mutex::new(Options {
                groups: Vec::new(),
                ttl: mcast::DEFAULT_HOPS,
                hops: mcast::DEFAULT_HOPS,
                loop4: true,
                loop6: true,
                if4: [0; 4],
                if6: 0,
            }),
        }
    }
}

impl Multicast {
    /// Joins `group` on `iface` (`EADDRINUSE` when this socket is a member there already).
    fn join(&self, s: &mut Stack, group: IpAddress, iface: Iface) -> Result<(), Errno> {
        let net = pick(s, iface)?;
        let mut st = self.state.lock();
        if st.groups.contains(&(net, group)) {
            return Err(Errno::EADDRINUSE);
        }
        add_member(s, net, group)?;
        st.groups.push((net, group));
        Ok(())
    }

    /// Leaves `group` on `iface` (any: wherever this socket joined it); `EADDRNOTAVAIL` when not a member.
    fn leave(&self, s: &mut Stack, group: IpAddress, iface: Iface) -> Result<(), Errno> {
        let net = match iface {
            Iface::Any => None,
            other => Some(pick(s, other)?),
        };
        let mut st = self.state.lock();
        let at = st
            .groups
            .iter()
            .position(|&(n, g)| g == group && net.is_none_or(|net| net == n))
            .ok_or(Errno::EADDRNOTAVAIL)?;
        let (n, g) = st.groups.swap_remove(at);
        remove_member(s, n, g);
        Ok(())
    }

    /// `setsockopt` at `IPPROTO_IP` for option `name` with value `v`; `None` for an option not about multicast.
    pub fn set_ipv4(&self, name: u32, v: &[u8]) -> Option<Result<(), Errno>> {
        let r = match name {
            mcast::IP_ADD_MEMBERSHIP | mcast::IP_DROP_MEMBERSHIP => {
                mcast::membership4(v).map_err(Errno::from).and_then(|m| {
                    let group = IpAddress::Ipv4(Ipv4Address::from_octets(m.group));
                    super::stack::with(|s| {
                        if name == mcast::IP_ADD_MEMBERSHIP {
                            self.join(s, group, m.iface)
                        } else {
                            self.leave(s, group, m.iface)
                        }
                    })
                    .unwrap_or(Err(Errno::ENODEV))
                })
            }
            mcast::IP_MULTICAST_TTL => mcast::ttl(v).map(|t| self.state.lock().ttl = t).map_err(Errno::from),
            mcast::IP_MULTICAST_LOOP => mcast::loop4(v)
                .map(|l| self.state.lock().loop4 = l)
                .map_err(Errno::from),
            // An interface no one has is `EADDRNOTAVAIL` here (`ENODEV` for a membership), as on Linux.
            mcast::IP_MULTICAST_IF => mcast::multicast_if4(v).map_err(Errno::from).and_then(|iface| {
                super::stack::with(|s| pick(s, iface))
                    .unwrap_or(Err(Errno::ENODEV))
                    .map_err(|_| Errno::EADDRNOTAVAIL)
                    .map(|_| {
                        self.state.lock().if4 = match iface {
                            Iface::Address(a) => a,
                            Iface::Any | Iface::Index(_) => [0; 4],
                        }
                    })
            }),
            _ => return None,
        };
        Some(r)
    }

    /// `getsockopt` at `IPPROTO_IP` for a multicast option.
    pub fn ipv4(&self, name: u32) -> Option<Vec<u8>> {
        let st = self.state.lock();
        let int = |v: u32| v.to_ne_bytes().to_vec();
        match name {
            mcast::IP_MULTICAST_TTL => Some(int(st.ttl.into())),
            mcast::IP_MULTICAST_LOOP => Some(int(st.loop4.into())),
            mcast::IP_MULTICAST_IF => Some(st.if4.to_vec()),
            _ => None,
        }
    }

    /// `setsockopt` at `IPPROTO_IPV6` for option `name`; `None` for an option not about multicast.
    pub fn set_ipv6(&self, name: u32, v: &[u8]) -> Option<Result<(), Errno>> {
        let r = match name {
            mcast::IPV6_JOIN_GROUP | mcast::IPV6_LEAVE_GROUP => {
                mcast::membership6(v).map_err(Errno::from).and_then(|m| {
                    let group = IpAddress::Ipv6(Ipv6Address::from_octets(m.group));
                    let iface = if m.index == 0 {
                        Iface::Any
                    } else {
                        Iface::Index(m.index)
                    };
                    super::stack::with(|s| {
                        if name == mcast::IPV6_JOIN_GROUP {
                            self.join(s, group, iface)
                        } else {
                            self.leave(s, group, iface)
                        }
                    })
                    .unwrap_or(Err(Errno::ENODEV))
                })
            }
            mcast::IPV6_MULTICAST_HOPS => mcast::hops6(v).map(|h| self.state.lock().hops = h).map_err(Errno::from),
            mcast::IPV6_MULTICAST_LOOP => mcast::loop6(v)
                .map(|l| self.state.lock().loop6 = l)
                .map_err(Errno::from),
            mcast::IPV6_MULTICAST_IF => mcast::multicast_if6(v).map_err(Errno::from).and_then(|i| {
                if i != 0 {
                    super::stack::with(|s| pick(s, Iface::Index(i))).unwrap_or(Err(Errno::ENODEV))?;
                }
                self.state.lock().if6 = i;
                Ok(())
            }),
            _ => return None,
        };
        Some(r)
    }

    /// `getsockopt` at `IPPROTO_IPV6` for a multicast option.
    pub fn ipv6(&self, name: u32) -> Option<Vec<u8>> {
        let st = self.state.lock();
        let int = |v: u32| v.to_ne_bytes().to_vec();
        match name {
            mcast::IPV6_MULTICAST_HOPS => Some(int(st.hops.into())),
            mcast::IPV6_MULTICAST_LOOP => Some(int(st.loop6.into())),
            mcast::IPV6_MULTICAST_IF => Some(int(st.if6)),
            _ => None,
        }
    }

    /// How a datagram to multicast `group` goes out through `net`: its hop limit (0: not onto the wire), and
    /// whether a copy is looped back through `lo` (loop on, and this host a member there).
    pub fn sending(&self, net: usize, group: IpAddress) -> (u8, bool) {
        let st = self.state.lock();
        let (hops, looped) = match group {
            IpAddress::Ipv4(_) => (st.ttl, st.loop4),
            IpAddress::Ipv6(_) => (st.hops, st.loop6),
        };
        (hops, looped && net != LO && is_member(net, group))
    }

    /// Leaves every group (the socket is closing).
    pub fn leave_all(&self, s: &mut Stack) {
        for (net, group) in core::mem::take(&mut self.state.lock().groups) {
            remove_member(s, net, group);
        }
    }
}
