//! Network configuration formats of the Linux x86-64 ABI, as plain bytes and text: `struct ifreq` for the
//! interface ioctls `ifconfig` uses ([`ifreq`]) and the `/proc/net` tables ([`procnet`], IPv6's in [`procnet6`]). Bytes come from user
//! space: every malformed input is an error, never a panic. [`netlink`]: the `NETLINK_ROUTE` dumps `ip` reads; [`rtchange`]: the changes it asks for. [`ra`]: IPv6 router advertisements; [`dad`]: duplicate address detection. [`mcast`]: the multicast socket options' values. [`syn`]: the TCP connection requests a full backlog drops.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

pub mod dad;
pub mod ifreq;
pub mod mcast;
pub mod netlink;
pub mod procnet;
pub mod procnet6;
pub mod ra;
pub mod rtchange;
pub mod syn;

/// An interface as the kernel describes it to user space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    /// `ifindex` (1 for `lo`).
    pub index: u32,
    /// Its name (`lo`, `eth0`).
    pub name: &'static str,
    /// `IFF_*` flags.
    pub flags: u32,
    /// The hardware address; none for `lo`.
    pub mac: Option<[u8; 6]>,
    /// The MTU in bytes.
    pub mtu: u32,
    /// The IPv4 addresses, in the order they were added (the first of a subnet is its primary).
    pub ipv4: Vec<Addr4>,
    /// The default gateway through this interface.
    pub gateway: Option<[u8; 4]>,
    /// The IPv6 addresses, prefix lengths and duplicate address detection's `IFA_F_*` flags ([`dad`]).
    pub ipv6: Vec<([u8; 16], u8, u8)>,
    /// The IPv6 routes through a router on this interface (the prefixes of its addresses are on-link).
    pub routes6: Vec<Route6>,
    /// Packets received, bytes received, packets sent, bytes sent.
    pub stats: [u64; 4],
}

/// An IPv4 address of an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Addr4 {
    /// The address.
    pub addr: [u8; 4],
    /// Its prefix length.
    pub prefix: u8,
    /// Its label: the interface's name, or an alias such as `eth0:1`.
    pub label: String,
}

/// `IFA_F_SECONDARY`: an IPv4 address in the subnet of an earlier one.
pub const IFA_F_SECONDARY: u8 = 0x01;

impl Interface {
    /// Whether IPv4 address `k` is secondary (Linux's rule: an earlier address has the same subnet).
    pub fn secondary4(&self, k: usize) -> bool {
        let same = |x: &Addr4, y: &Addr4| {
            let m = netmask(x.prefix);
            x.prefix == y.prefix && (0..4).all(|b| x.addr[b] & m[b] == y.addr[b] & m[b])
        };
        self.ipv4
            .get(k)
            .is_some_and(|a| self.ipv4[..k].iter().any(|e| same(e, a)))
    }

    /// The on-link IPv4 subnets, one for each primary address: network, prefix length, the address.
    pub fn subnets4(&self) -> Vec<([u8; 4], u8, [u8; 4])> {
        (0..self.ipv4.len())
            .filter(|&k| !self.secondary4(k))
            .map(|k| {
                let a = &self.ipv4[k];
                let m = netmask(a.prefix);
                (core::array::from_fn(|b| a.addr[b] & m[b]), a.prefix, a.addr)
            })
            .collect()
    }
}

/// An IPv6 route through a router.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route6 {
    /// The destination prefix.
    pub dst: [u8; 16],
    /// Its length (0: the default route).
    pub prefix: u8,
    /// The router.
    pub gateway: [u8; 16],
}

/// The IPv6 prefix of `a` that is `len` bits long (the rest zeros).
pub fn prefix6(a: [u8; 16], len: u8) -> [u8; 16] {
    let len = usize::from(len.min(128));
    core::array::from_fn(|k| {
        let bits = len.saturating_sub(k * 8).min(8);
        a[k] & !(0xffu8.checked_shr(bits as u32).unwrap_or(0))
    })
}

/// Linux's scope of an IPv6 address (`/proc/net/if_inet6`): host 0x10 (::1), link 0x20 (fe80::/10), site
/// 0x40 (fec0::/10), global 0.
pub fn scope6(a: [u8; 16]) -> u8 {
    if a == core::array::from_fn(|k| u8::from(k == 15)) {
        0x10
    } else if a[0] == 0xfe && a[1] & 0xc0 == 0x80 {
        0x20
    } else if a[0] == 0xfe && a[1] & 0xc0 == 0xc0 {
        0x40
    } else {
        0
    }
}

/// `IFF_UP`.
pub const IFF_UP: u32 = 0x1;
/// `IFF_BROADCAST`.
pub const IFF_BROADCAST: u32 = 0x2;
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_RUNNING`.
pub const IFF_RUNNING: u32 = 0x40;
/// `IFF_MULTICAST`.
pub const IFF_MULTICAST: u32 = 0x1000;

/// The netmask of a prefix length (above 32: all ones).
pub fn netmask(prefix: u8) -> [u8; 4] {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
    bits.to_be_bytes()
}

/// The prefix length of a netmask; `None` when its ones are not contiguous.
pub fn prefix_len(mask: [u8; 4]) -> Option<u8> {
    let m = u32::from_be_bytes(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(netmask(24), [255, 255, 255, 0]);
        assert_eq!(netmask(0), [0; 4]);
        assert_eq!(netmask(32), [255; 4]);
        assert_eq!(netmask(200), [255; 4]);
        assert_eq!(prefix_len([255, 255, 255, 0]), Some(24));
        assert_eq!(prefix_len([0; 4]), Some(0));
        assert_eq!(prefix_len([255; 4]), Some(32));
        assert_eq!(prefix_len([255, 0, 255, 0]), None);
        for p in 0..=32 {
            assert_eq!(prefix_len(netmask(p)), Some(p));
        }
    }

    #[test]
    fn ipv6_prefixes_and_scopes() {
        let a = [
            0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56,
        ];
        assert_eq!(prefix6(a, 64), [0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(prefix6(a, 10), [0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(prefix6(a, 9), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(prefix6(a, 0), [0; 16]);
        assert_eq!(prefix6(a, 128), a);
        assert_eq!(prefix6(a, 200), a);
        assert_eq!(scope6(a), 0x40);
        let mut lo = [0u8; 16];
        lo[15] = 1;
        assert_eq!(scope6(lo), 0x10);
        assert_eq!(scope6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0x20);
        assert_eq!(scope6([0x20, 0x01, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0);
    }
}
