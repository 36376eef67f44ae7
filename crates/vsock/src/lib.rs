//! virtio-vsock's stream protocol (virtio 1.2 §5.10) as plain logic: the packet header ([`Header`], checked
//! against the bytes the device wrote by [`parse_packet`]), the `AF_VSOCK` address ([`SockAddr`]), one
//! connection with credit-based flow control ([`Connection`]) and the table of listeners and connections a
//! guest CID holds ([`Mux`]), which answers the peer and queues the packets to send, and the event queue's
//! events ([`parse_event`]).
//!
//! Everything the device or the peer says is distrusted: short buffers, lengths past what was written,
//! unknown types and operations are errors; a peer that overruns the credit it was given is reset. Nothing
//! here panics on input.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod addr;
mod conn;
mod event;
mod header;
mod mux;

pub use addr::{AF_VSOCK, SOCKADDR_VM_LEN, SockAddr};
pub use conn::{ConnError, Connection, State};
pub use event::{EVENT_LEN, Event, parse_event};
pub use header::{HEADER_LEN, Header, Op, PacketError, TYPE_STREAM, parse_packet};
pub use mux::{ConnId, Error, Mux, Packet};

/// Any CID (`VMADDR_CID_ANY`), as `bind` takes it.
pub const CID_ANY: u32 = u32::MAX;
/// The host (`VMADDR_CID_HOST`).
pub const CID_HOST: u64 = 2;
/// Any port (`VMADDR_PORT_ANY`): `bind` picks one.
pub const PORT_ANY: u32 = u32::MAX;
/// `SHUTDOWN` flag: the sender will receive no more.
pub const SHUTDOWN_RCV: u32 = 1;
/// `SHUTDOWN` flag: the sender will send no more.
pub const SHUTDOWN_SEND: u32 = 2;
/// Both `SHUTDOWN` flags.
pub const SHUTDOWN_BOTH: u32 = SHUTDOWN_RCV | SHUTDOWN_SEND;
/// The most payload bytes one packet carries, each way (Linux's receive buffers hold 4 KiB).
pub const MAX_PAYLOAD: usize = 4096;
/// Receive buffer space each connection offers its peer (`buf_alloc`; Linux's default is 256 KiB).
pub const BUF_ALLOC: u32 = 256 * 1024;
