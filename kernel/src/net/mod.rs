//! Networking. [`stack`]: the IP stack (smoltcp) on `lo` and virtio-net; [`inet`]: TCP and UDP sockets on it;
//! [`ifreq`]: the interface ioctls; [`netlink`]: `NETLINK_ROUTE` sockets for `ip`. [`unix`]: `AF_UNIX` stream, datagram and seqpacket sockets, with descriptor passing; their names
//! ([`unix_names`]) live in the file tree or the abstract namespace. [`vsock`]: `AF_VSOCK` streams over virtio-vsock. The system calls are in
//! [`crate::syscall::socket`].

pub mod ifreq;
pub mod inet;
pub mod ipaddr;
pub mod netlink;
pub mod rtconfig;
pub mod stack;
pub mod unix;
pub mod unix_names;
pub mod vsock;

/// Whether `f` is a socket (the interface ioctls work on any).
pub fn is_socket(f: &crate::fs::file::OpenFile) -> bool {
    f.other::<inet::InetSocket>().is_some()
        || f.other::<unix::UnixSocket>().is_some()
        || f.other::<netlink::NetlinkSocket>().is_some()
        || f.other::<vsock::VsockSocket>().is_some()
}
