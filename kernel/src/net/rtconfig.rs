//! Address, route and link changes that `NETLINK_ROUTE` requests ask for ([`super::netlink`]; decoded by
//! `ember_netconf::rtchange`): `ip addr add|del`, `ip route add|del`, `ip link set up|down`. The device takes
//! several addresses of both families ([`super::addr4`]: IPv4's primaries and secondaries), IPv4 one default
//! route, IPv6 routes through routers. `lo`'s addresses and the device's link-local one stay (smoltcp
//! solicits routers from the latter); an IPv6 address that failed duplicate address detection can be deleted.

use super::addr4::MAX_DEVICE_ADDRS;
use super::stack::{self, ETH, LO, Stack};
use crate::syscall::errno::Errno;
use ember_netconf::rtchange::{AddrChange, Ip, LinkChange, RouteChange};
use smoltcp::iface::Route;
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

/// The interface of a request: `ENODEV` when there is none.
fn net(s: &Stack, index: u32) -> Result<usize, Errno> {
    let i = (index as usize).wrapping_sub(1);
    if i < s.nets.len() { Ok(i) } else { Err(Errno::ENODEV) }
}

/// `RTM_NEWADDR` (`add`) or `RTM_DELADDR`.
pub fn change_addr(c: AddrChange, add: bool) -> Result<(), Errno> {
    match (c.addr, add) {
        (Ip::V4(a), add) => stack::with(|s| {
            let i = net(s, c.index)?;
            let n = &mut s.nets[i];
            let a = Ipv4Address::from(a);
            match (i == LO, add) {
                // `lo` has one address of its own (it answers for the device's).
                (true, true) => n.set_ipv4("lo", Some(a), Some(c.prefix)),
                (true, false) => Err(Errno::EOPNOTSUPP),
                (false, true) => n.add_ipv4(Ipv4Cidr::new(a, c.prefix), n.name()),
                (false, false) => n.del_ipv4(a),
            }
        })
        .unwrap_or(Err(Errno::ENODEV)),
        (Ip::V6(a), add) => stack::with(|s| {
            let i = net(s, c.index)?;
            let a = Ipv6Address::from(a);
            // `lo` keeps ::1 (and mirrors the device's); the device keeps its link-local address.
            if i == LO || (!add && a.is_unicast_link_local()) || a.is_unspecified() || a.is_multicast() {
                return Err(Errno::EOPNOTSUPP);
            }
            let n = &mut s.nets[i];
            let has = n.iface.has_ip_addr(a);
            match (add, has) {
                (true, true) => return Err(Errno::EEXIST),
                (true, false) if n.iface.ip_addrs().len() >= MAX_DEVICE_ADDRS => return Err(Errno::ENOSPC),
                // A failed address is listed but no longer the interface's: deleting it forgets it.
                (false, false) if n.dad.forget(a) => return Ok(()),
                (false, false) => return Err(Errno::EADDRNOTAVAIL),
                _ => {}
            }
            let iface = &mut n.iface;
            iface.update_ip_addrs(|addrs| {
                if add {
                    let _ = addrs.push(IpCidr::Ipv6(Ipv6Cidr::new(a, c.prefix)));
                } else {
                    addrs.retain(|c| c.address() != IpAddress::Ipv6(a));
                }
            });
            Ok(())
        })
        .unwrap_or(Err(Errno::ENODEV)),
    }
}

/// `RTM_NEWROUTE` (`add`) or `RTM_DELROUTE`: routes through a router on the device (IPv4: the default
/// route only); on-link routes come from the addresses' prefixes and cannot be added.
pub fn change_route(c: RouteChange, add: bool) -> Result<(), Errno> {
    stack::with(|s| {
        let i = net(s, c.index.unwrap_or(ETH as u32 + 1))?;
        if i == LO {
            return Err(Errno::EOPNOTSUPP);
        }
        let (cidr, via) = match (c.dst, c.gateway) {
            (Ip::V4(_), Some(Ip::V4(g))) if c.prefix == 0 => (
                IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 0)),
                Some(IpAddress::Ipv4(Ipv4Address::from(g))),
            ),
            (Ip::V4(_), None) if c.prefix == 0 && !add => {
                (IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 0)), None)
            }
            (Ip::V6(d), Some(Ip::V6(g))) => (
                IpCidr::Ipv6(Ipv6Cidr::new(
                    Ipv6Address::from(ember_netconf::prefix6(d, c.prefix)),
                    c.prefix,
                )),
                Some(IpAddress::Ipv6(Ipv6Address::from(g))),
            ),
            (Ip::V6(d), None) if !add => (
                IpCidr::Ipv6(Ipv6Cidr::new(
                    Ipv6Address::from(ember_netconf::prefix6(d, c.prefix)),
                    c.prefix,
                )),
                None,
            ),
            _ => return Err(Errno::EOPNOTSUPP),
        };
        let mut r = Ok(());
        s.nets[i].iface.routes_mut().update(|routes| {
            let matching = |x: &Route| x.cidr == cidr && via.is_none_or(|v| x.via_router == v);
            let found = routes.iter().any(matching);
            r = match (add, found, via) {
                (true, true, _) => Err(Errno::EEXIST),
                (true, false, Some(via)) => routes
                    .push(Route {
                        cidr,
                        via_router: via,
                        preferred_until: None,
                        expires_at: None,
                    })
                    .map_err(|_| Errno::ENOSPC),
                (false, true, _) => {
                    routes.retain(|x| !matching(x));
                    Ok(())
                }
                _ => Err(Errno::ESRCH),
            };
        });
        r
    })
    .unwrap_or(Err(Errno::ENODEV))
}

/// `RTM_NEWLINK`/`RTM_SETLINK`: up or down (other flags and attributes are not changed).
pub fn change_link(c: LinkChange) -> Result<(), Errno> {
    use ember_netconf::IFF_UP;
    if c.change & IFF_UP != 0 || c.change == 0 {
        stack::set_up(c.index, c.flags & IFF_UP != 0)
    } else {
        // Nothing this kernel changes; the interface must exist.
        stack::with(|s| net(s, c.index).map(|_| ())).unwrap_or(Err(Errno::ENODEV))
    }
}
