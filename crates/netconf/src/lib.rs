//! Network configuration formats of the Linux x86-64 ABI, as plain bytes and text: `struct ifreq` for the
//! interface ioctls `ifconfig` uses ([`ifreq`]) and the `/proc/net` tables ([`procnet`]). Bytes come from user
//! space: every malformed input is an error, never a panic. [`netlink`]: the `NETLINK_ROUTE` dumps `ip` reads.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod ifreq;
pub mod netlink;
pub mod procnet;

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
    /// The IPv4 address and prefix length.
    pub ipv4: Option<([u8; 4], u8)>,
    /// The default gateway through this interface.
    pub gateway: Option<[u8; 4]>,
    /// Packets received, bytes received, packets sent, bytes sent.
    pub stats: [u64; 4],
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
}
