//! Sockets. [`unix`]: `AF_UNIX` stream, datagram and seqpacket sockets, with descriptor passing; their names
//! ([`unix_names`]) live in the file tree or the abstract namespace. The system calls are in
//! [`crate::syscall::socket`].

pub mod unix;
pub mod unix_names;
