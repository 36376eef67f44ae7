//! The socket addresses of `AF_INET` and `AF_INET6` sockets as the stack sees them: a smoltcp `IpEndpoint`.
//! An `AF_INET6` socket names IPv4 peers by their v4-mapped address (`::ffff:a.b.c.d`) and takes such an
//! address for an IPv4 one, unless `IPV6_V6ONLY` (Linux's default off) keeps it to IPv6; link-local
//! addresses carry their interface's index as `sin6_scope_id`.

use super::stack;
use crate::syscall::errno::Errno;
use alloc::vec::Vec;
use ember_sockmsg::{self as sm, Inet6Addr, InetAddr};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address, Ipv6Address};

/// A socket's address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `AF_INET`.
    V4,
    /// `AF_INET6`.
    V6,
}

impl Family {
    /// The unspecified address of the family (`0.0.0.0`, `::`).
    pub fn unspecified(self) -> IpAddress {
        match self {
            Family::V4 => IpAddress::Ipv4(Ipv4Address::UNSPECIFIED),
            Family::V6 => IpAddress::Ipv6(Ipv6Address::UNSPECIFIED),
        }
    }

    /// Whether a socket of this family takes traffic of `peer`'s family (`v6only`: `IPV6_V6ONLY`).
    pub fn accepts(self, v6only: bool, peer: IpAddress) -> bool {
        match (self, peer) {
            (Family::V4, IpAddress::Ipv4(_)) | (Family::V6, IpAddress::Ipv6(_)) => true,
            (Family::V6, IpAddress::Ipv4(_)) => !v6only,
            (Family::V4, IpAddress::Ipv6(_)) => false,
        }
    }

    /// Decodes a socket address of this family (`EAFNOSUPPORT` for another, `EINVAL` when short; `ENODEV`
    /// for a scope that names no interface).
    pub fn decode(self, raw: &[u8]) -> Result<IpEndpoint, Errno> {
        let err = |e| match e {
            sm::Error::Family => Errno::EAFNOSUPPORT,
            sm::Error::Invalid => Errno::EINVAL,
        };
        match self {
            Family::V4 => {
                let a = InetAddr::parse(raw).map_err(err)?;
                Ok(IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from(a.addr)), a.port))
            }
            Family::V6 => {
                let a = Inet6Addr::parse(raw).map_err(err)?;
                let interfaces = stack::peek(|s| s.nets.len()).unwrap_or(1);
                if a.scope_id as usize > interfaces {
                    return Err(Errno::ENODEV);
                }
                let ip = match a.v4_mapped() {
                    Some(v4) => IpAddress::Ipv4(Ipv4Address::from(v4)),
                    None => IpAddress::Ipv6(Ipv6Address::from(a.addr)),
                };
                Ok(IpEndpoint::new(ip, a.port))
            }
        }
    }

    /// Encodes `e` as this family's socket address.
    pub fn encode(self, e: IpEndpoint) -> Vec<u8> {
        match (self, e.addr) {
            (Family::V4, IpAddress::Ipv4(a)) => InetAddr {
                addr: a.octets(),
                port: e.port,
            }
            .encode()
            .to_vec(),
            // (Never asked: an IPv4 socket has no IPv6 peers.)
            (Family::V4, IpAddress::Ipv6(_)) => InetAddr {
                addr: [0; 4],
                port: e.port,
            }
            .encode()
            .to_vec(),
            (Family::V6, IpAddress::Ipv4(a)) if a.is_unspecified() => Inet6Addr {
                addr: [0; 16],
                port: e.port,
                flowinfo: 0,
                scope_id: 0,
            }
            .encode()
            .to_vec(),
            (Family::V6, IpAddress::Ipv4(a)) => Inet6Addr::mapped(InetAddr {
                addr: a.octets(),
                port: e.port,
            })
            .encode()
            .to_vec(),
            (Family::V6, IpAddress::Ipv6(a)) => Inet6Addr {
                addr: a.octets(),
                port: e.port,
                flowinfo: 0,
                // A link-local address is the device's link (the only one that has one).
                scope_id: if a.is_unicast_link_local() {
                    stack::ETH as u32 + 1
                } else {
                    0
                },
            }
            .encode()
            .to_vec(),
        }
    }
}
