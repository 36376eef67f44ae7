//! Networking. [`stack`]: the IP stack (smoltcp) over virtio-net; [`inet`]: TCP and UDP sockets on it. [`unix`]: `AF_UNIX` stream, datagram and seqpacket sockets, with descriptor passing; their names
//! ([`unix_names`]) live in the file tree or the abstract namespace. [`vsock`]: `AF_VSOCK` streams over virtio-vsock. The system calls are in
//! [`crate::syscall::socket`].

pub mod inet;
pub mod stack;
pub mod unix;
pub mod unix_names;
pub mod vsock;
