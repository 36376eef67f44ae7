//! Networking. [`stack`]: the IP stack (smoltcp, IPv4 and IPv6) on `lo` and virtio-net, with several IPv4
//! addresses per interface ([`addr4`]); [`inet`]: TCP, UDP and raw ICMP sockets on it, `AF_INET` and
//! `AF_INET6` ([`ipaddr`]: their addresses; [`multicast`]: their group memberships and multicast options); [`ifreq`]: the interface
//! ioctls; [`netlink`]: `NETLINK_ROUTE` sockets for `ip`, whose changes [`rtconfig`] makes. [`unix`]: `AF_UNIX`
//! stream, datagram and seqpacket sockets, with descriptor passing; their names ([`unix_names`]) live in the
//! file tree or the abstract namespace, and [`unix_table`] lists them for `/proc/net/unix`. [`vsock`]:
//! `AF_VSOCK` streams over virtio-vsock. The system calls are in [`crate::syscall::socket`].

pub mod addr4;
pub mod ifreq;
pub mod inet;
pub mod ipaddr;
pub mod multicast;
pub mod netlink;
pub mod rtconfig;
pub mod stack;
pub mod unix;
pub mod unix_names;
pub mod unix_table;
pub mod vsock;

/// Whether `f` is a socket (the interface ioctls work on any).
pub fn is_socket(f: &crate::fs::file::OpenFile) -> bool {
    f.other::<inet::InetSocket>().is_some()
        || f.other::<unix::UnixSocket>().is_some()
        || f.other::<netlink::NetlinkSocket>().is_some()
        || f.other::<vsock::VsockSocket>().is_some()
}
