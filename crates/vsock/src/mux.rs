//! The listeners and connections of one guest CID: packets from the peer go to their connection (or
//! listener), calls from sockets act on theirs, and what either wants sent waits in one outgoing queue.

use crate::conn::{ConnError, Connection, Reply, State};
use crate::header::{Header, Op, TYPE_STREAM};
use crate::{BUF_ALLOC, PORT_ANY};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

/// Packets waiting for the device at most; a send waits beyond that, a control answer is dropped (the peer
/// retries or times out, as with a lost packet on any transport).
pub const MAX_OUT: usize = 512;
/// Ports below this are not handed out by `bind` to `PORT_ANY` (Linux's `LAST_RESERVED_PORT` + 1).
const FIRST_EPHEMERAL: u32 = 1024;

/// A connection's name: the local port and the peer's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnId {
    /// This side's port.
    pub local_port: u32,
    /// The peer's CID.
    pub peer_cid: u64,
    /// The peer's port.
    pub peer_port: u32,
}

/// A packet to send.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet {
    /// Its header (`len` is the payload's length).
    pub header: Header,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Why a socket call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The port is taken.
    AddrInUse,
    /// No such connection or listener (closed under the caller), or not connected.
    NotConnected,
    /// The peer refused the connection.
    Refused,
    /// The transport was reset.
    Reset,
    /// Sending is shut down, or the peer is gone.
    Pipe,
    /// Wait and retry.
    WouldBlock,
    /// Every ephemeral port is taken.
    NoPorts,
}

impl From<ConnError> for Error {
    fn from(e: ConnError) -> Error {
        match e {
            ConnError::NotConnected => Error::NotConnected,
            ConnError::Reset => Error::Reset,
            ConnError::Pipe => Error::Pipe,
            ConnError::WouldBlock => Error::WouldBlock,
        }
    }
}

struct Listener {
    backlog: usize,
    pending: VecDeque<ConnId>,
}

/// Every listener and connection of the guest.
pub struct Mux {
    cid: u64,
    conns: BTreeMap<ConnId, Connection>,
    listeners: BTreeMap<u32, Listener>,
    bound: BTreeSet<u32>,
    out: VecDeque<Packet>,
    next_port: u32,
    /// Answers dropped because [`MAX_OUT`] packets were waiting.
    dropped: u64,
}

impl Mux {
    /// An empty table for guest CID `cid`.
    pub fn new(cid: u64) -> Mux {
        Mux {
            cid,
            conns: BTreeMap::new(),
            listeners: BTreeMap::new(),
            bound: BTreeSet::new(),
            out: VecDeque::new(),
            next_port: FIRST_EPHEMERAL,
            dropped: 0,
        }
    }

    /// The guest's CID.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// Control answers dropped for want of room in the outgoing queue, ever.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Reserves `port` (`PORT_ANY`: a free one from 1024 up) and returns it.
    pub fn bind(&mut self, port: u32) -> Result<u32, Error> {
        if port != PORT_ANY {
            return if self.bound.insert(port) {
                Ok(port)
            } else {
                Err(Error::AddrInUse)
            };
        }
        for _ in 0..(PORT_ANY - FIRST_EPHEMERAL) {
            let p = self.next_port;
            self.next_port = if p >= PORT_ANY - 1 { FIRST_EPHEMERAL } else { p + 1 };
            if self.bound.insert(p) {
                return Ok(p);
            }
        }
        Err(Error::NoPorts)
    }

    /// Releases `port`.
    pub fn unbind(&mut self, port: u32) {
        self.bound.remove(&port);
    }

    /// Listens on (bound) `port` with room for `backlog` connections not yet accepted; again on a listening
    /// port changes the backlog.
    pub fn listen(&mut self, port: u32, backlog: usize) {
        self.listeners
            .entry(port)
            .or_insert_with(|| Listener {
                backlog: 0,
                pending: VecDeque::new(),
            })
            .backlog = backlog.max(1);
    }

    /// Stops listening on `port`; connections not accepted are reset.
    pub fn unlisten(&mut self, port: u32) {
        if let Some(l) = self.listeners.remove(&port) {
            for id in l.pending {
                self.close(id);
            }
        }
    }

    /// Takes the oldest connection waiting on listening `port`.
    pub fn accept(&mut self, port: u32) -> Option<ConnId> {
        self.listeners.get_mut(&port)?.pending.pop_front()
    }

    /// Connections waiting on listening `port`.
    pub fn pending(&self, port: u32) -> usize {
        self.listeners.get(&port).map_or(0, |l| l.pending.len())
    }

    /// Starts a connection from bound `local_port` to the peer at `peer_cid`:`peer_port`.
    pub fn connect(&mut self, local_port: u32, peer_cid: u64, peer_port: u32) -> Result<ConnId, Error> {
        let id = ConnId {
            local_port,
            peer_cid,
            peer_port,
        };
        if self.conns.contains_key(&id) {
            return Err(Error::AddrInUse);
        }
        self.conns.insert(id, Connection::connecting());
        self.push(id, Reply::control(Op::Request, 0));
        Ok(id)
    }

    /// The connection `id`.
    pub fn conn(&self, id: ConnId) -> Option<&Connection> {
        self.conns.get(&id)
    }

    /// Sends what of `data` the peer has room for; `WouldBlock` when it has none (or the queue is full).
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, Error> {
        if self.out.len() >= MAX_OUT {
            return Err(Error::WouldBlock);
        }
        let mut out = Vec::new();
        let r = self.conns.get_mut(&id).ok_or(Error::NotConnected)?.send(data, &mut out);
        self.push_all(id, out);
        Ok(r?)
    }

    /// Takes (or peeks at) up to `max` received bytes; empty at the end of the stream.
    pub fn recv(&mut self, id: ConnId, max: usize, peek: bool) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let conn = self.conns.get_mut(&id).ok_or(Error::NotConnected)?;
        let r = match conn.recv(max, peek, &mut out) {
            Err(ConnError::NotConnected) if conn.state() == State::Refused => Err(Error::Refused),
            r => r.map_err(Error::from),
        };
        self.push_all(id, out);
        r
    }

    /// Shuts connection `id` down (`SHUTDOWN_*` flags).
    pub fn shutdown(&mut self, id: ConnId, how: u32) -> Result<(), Error> {
        let mut out = Vec::new();
        let r = self
            .conns
            .get_mut(&id)
            .ok_or(Error::NotConnected)?
            .shutdown(how, &mut out);
        self.push_all(id, out);
        Ok(r?)
    }

    /// Forgets connection `id`, telling the peer.
    pub fn close(&mut self, id: ConnId) {
        if let Some(mut c) = self.conns.remove(&id)
            && let Some(r) = c.close()
        {
            self.out_packet(id, &mut c, r);
        }
    }

    /// Takes a packet from the peer. `Err` names why it was ignored (for a log line); a packet for no
    /// connection and no listener is answered with a reset, as the specification asks.
    pub fn receive(&mut self, h: &Header, payload: &[u8]) -> Result<(), &'static str> {
        if h.dst_cid != self.cid {
            return Err("addressed to another CID");
        }
        if h.ty != TYPE_STREAM {
            return Err("not a stream packet");
        }
        let id = ConnId {
            local_port: h.dst_port,
            peer_cid: h.src_cid,
            peer_port: h.src_port,
        };
        let mut out = Vec::new();
        if let Some(c) = self.conns.get_mut(&id) {
            c.receive(h, payload, &mut out);
            self.push_all(id, out);
            return Ok(());
        }
        if h.op == Op::Request
            && let Some(l) = self.listeners.get_mut(&h.dst_port)
            && l.pending.len() < l.backlog
        {
            l.pending.push_back(id);
            self.conns.insert(id, Connection::accepted(h));
            self.push(id, Reply::control(Op::Response, 0));
            return Ok(());
        }
        if h.op != Op::Rst {
            self.push_unattached(id, Op::Rst);
        }
        Ok(())
    }

    /// The transport was reset (after a snapshot restore, say): every connection fails with `Reset`,
    /// connections not yet accepted are dropped, nothing queued is sent, and the CID is now `cid`.
    pub fn transport_reset(&mut self, cid: u64) {
        self.cid = cid;
        self.out.clear();
        for l in self.listeners.values_mut() {
            for id in l.pending.drain(..) {
                self.conns.remove(&id);
            }
        }
        for c in self.conns.values_mut() {
            c.transport_reset();
        }
    }

    /// The next packet to send.
    pub fn pop_out(&mut self) -> Option<Packet> {
        self.out.pop_front()
    }

    /// Puts back a packet the device had no room for, to go first next time.
    pub fn unpop_out(&mut self, p: Packet) {
        self.out.push_front(p);
    }

    /// Whether packets wait to be sent.
    pub fn has_out(&self) -> bool {
        !self.out.is_empty()
    }

    fn push_all(&mut self, id: ConnId, replies: Vec<Reply>) {
        for r in replies {
            self.push(id, r);
        }
    }

    fn push(&mut self, id: ConnId, r: Reply) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        self.out_packet(id, &mut c, r);
        self.conns.insert(id, c);
    }

    fn out_packet(&mut self, id: ConnId, c: &mut Connection, r: Reply) {
        if r.op != Op::Rw && self.out.len() >= MAX_OUT {
            self.dropped += 1;
            return;
        }
        let fwd_cnt = c.tell_fwd_cnt();
        self.out.push_back(Packet {
            header: self.header(id, r.op, r.flags, r.payload.len() as u32, fwd_cnt),
            payload: r.payload,
        });
    }

    /// A reset for a packet that belongs to nothing.
    fn push_unattached(&mut self, id: ConnId, op: Op) {
        if self.out.len() >= MAX_OUT {
            self.dropped += 1;
            return;
        }
        let header = self.header(id, op, 0, 0, 0);
        self.out.push_back(Packet {
            header,
            payload: Vec::new(),
        });
    }

    fn header(&self, id: ConnId, op: Op, flags: u32, len: u32, fwd_cnt: u32) -> Header {
        Header {
            src_cid: self.cid,
            dst_cid: id.peer_cid,
            src_port: id.local_port,
            dst_port: id.peer_port,
            len,
            ty: TYPE_STREAM,
            op,
            flags,
            buf_alloc: BUF_ALLOC,
            fwd_cnt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CID_HOST, MAX_PAYLOAD, SHUTDOWN_BOTH, SHUTDOWN_SEND};

    const GUEST: u64 = 3;

    /// A packet from the host's port `from` to the guest's port `to`.
    fn from_host(from: u32, to: u32, op: Op, len: u32, buf_alloc: u32, fwd_cnt: u32) -> Header {
        Header {
            src_cid: CID_HOST,
            dst_cid: GUEST,
            src_port: from,
            dst_port: to,
            len,
            ty: TYPE_STREAM,
            op,
            flags: 0,
            buf_alloc,
            fwd_cnt,
        }
    }

    fn drain(m: &mut Mux) -> Vec<Packet> {
        core::iter::from_fn(|| m.pop_out()).collect()
    }

    fn ops(p: &[Packet]) -> Vec<Op> {
        p.iter().map(|p| p.header.op).collect()
    }

    fn connected(m: &mut Mux, peer_buf: u32) -> ConnId {
        let port = m.bind(PORT_ANY).unwrap();
        let id = m.connect(port, CID_HOST, 5000).unwrap();
        let out = drain(m);
        assert_eq!(ops(&out), [Op::Request]);
        let h = out[0].header;
        assert_eq!(
            (h.src_cid, h.dst_cid, h.src_port, h.dst_port),
            (GUEST, CID_HOST, port, 5000)
        );
        assert_eq!(h.buf_alloc, BUF_ALLOC);
        assert_eq!(m.conn(id).unwrap().state(), State::Connecting);
        m.receive(&from_host(5000, port, Op::Response, 0, peer_buf, 0), &[])
            .unwrap();
        assert_eq!(m.conn(id).unwrap().state(), State::Connected);
        id
    }

    #[test]
    fn connect_send_within_credit() {
        let mut m = Mux::new(GUEST);
        let id = connected(&mut m, 8192);
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        assert_eq!(m.send(id, &data), Ok(8192));
        let out = drain(&mut m);
        assert_eq!(ops(&out), [Op::Rw, Op::Rw]);
        assert!(
            out.iter()
                .all(|p| p.payload.len() == MAX_PAYLOAD && p.header.len == MAX_PAYLOAD as u32)
        );
        assert_eq!(out[1].payload[..], data[4096..8192]);
        // No credit left: one credit request, then waiting.
        assert_eq!(m.send(id, &data[8192..]), Err(Error::WouldBlock));
        assert_eq!(m.send(id, &data[8192..]), Err(Error::WouldBlock));
        assert_eq!(ops(&drain(&mut m)), [Op::CreditRequest]);
        assert!(!m.conn(id).unwrap().writable());
        let port = id.local_port;
        m.receive(&from_host(5000, port, Op::CreditUpdate, 0, 8192, 4096), &[])
            .unwrap();
        assert!(m.conn(id).unwrap().writable());
        assert_eq!(m.send(id, &data[8192..]), Ok(1808));
        assert_eq!(drain(&mut m)[0].payload[..], data[8192..]);
    }

    #[test]
    fn refused_and_reset_connects() {
        let mut m = Mux::new(GUEST);
        let port = m.bind(PORT_ANY).unwrap();
        let id = m.connect(port, CID_HOST, 1).unwrap();
        assert_eq!(m.connect(port, CID_HOST, 1), Err(Error::AddrInUse));
        drain(&mut m);
        m.receive(&from_host(1, port, Op::Rst, 0, 0, 0), &[]).unwrap();
        assert_eq!(m.conn(id).unwrap().state(), State::Refused);
        assert_eq!(m.recv(id, 10, false), Err(Error::Refused));
        assert_eq!(m.send(id, b"x"), Err(Error::NotConnected));
        // A packet to a refused connection gets a reset, a reset gets nothing.
        m.receive(&from_host(1, port, Op::Rw, 0, 0, 0), &[]).unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::Rst]);
        m.receive(&from_host(1, port, Op::Rst, 0, 0, 0), &[]).unwrap();
        assert!(drain(&mut m).is_empty());
    }

    #[test]
    fn listen_accept_receive_and_credit_updates() {
        let mut m = Mux::new(GUEST);
        let port = m.bind(6000).unwrap();
        assert_eq!(m.bind(6000), Err(Error::AddrInUse));
        // Nobody listens yet: a reset.
        m.receive(&from_host(40, port, Op::Request, 0, 65536, 0), &[]).unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::Rst]);
        m.listen(port, 1);
        m.receive(&from_host(41, port, Op::Request, 0, 65536, 0), &[]).unwrap();
        // The backlog is full: the second is refused.
        m.receive(&from_host(42, port, Op::Request, 0, 65536, 0), &[]).unwrap();
        let out = drain(&mut m);
        assert_eq!(ops(&out), [Op::Response, Op::Rst]);
        assert_eq!(out[1].header.dst_port, 42);
        assert_eq!(m.pending(port), 1);
        let id = m.accept(port).unwrap();
        assert_eq!(m.accept(port), None);
        assert_eq!(id.peer_port, 41);
        assert_eq!(m.recv(id, 100, false), Err(Error::WouldBlock));
        let data = [7u8; 3000];
        m.receive(&from_host(41, port, Op::Rw, 3000, 65536, 0), &data).unwrap();
        assert_eq!(m.conn(id).unwrap().available(), 3000);
        assert_eq!(m.recv(id, 1000, true).unwrap().len(), 1000);
        assert_eq!(m.recv(id, 1000, false).unwrap().len(), 1000);
        // Part of the buffer freed: not worth a packet yet.
        assert!(drain(&mut m).is_empty());
        assert_eq!(m.recv(id, 5000, false).unwrap().len(), 2000);
        let out = drain(&mut m);
        assert_eq!(ops(&out), [Op::CreditUpdate]);
        assert_eq!(out[0].header.fwd_cnt, 3000);
        // A credit request is answered.
        m.receive(&from_host(41, port, Op::CreditRequest, 0, 65536, 0), &[])
            .unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::CreditUpdate]);
    }

    #[test]
    fn a_peer_over_its_credit_is_reset() {
        let mut m = Mux::new(GUEST);
        let id = connected(&mut m, 65536);
        let chunk = alloc::vec![1u8; MAX_PAYLOAD];
        let port = id.local_port;
        for _ in 0..(BUF_ALLOC as usize / MAX_PAYLOAD) {
            m.receive(&from_host(5000, port, Op::Rw, MAX_PAYLOAD as u32, 65536, 0), &chunk)
                .unwrap();
        }
        assert!(drain(&mut m).is_empty());
        m.receive(&from_host(5000, port, Op::Rw, 1, 65536, 0), &[1]).unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::Rst]);
        assert_eq!(m.conn(id).unwrap().state(), State::Closed);
        // What arrived within the credit stays readable, then the end of the stream.
        let mut total = 0;
        loop {
            let d = m.recv(id, 100_000, false).unwrap();
            if d.is_empty() {
                break;
            }
            total += d.len();
        }
        assert_eq!(total, BUF_ALLOC as usize);
        assert_eq!(m.send(id, b"x"), Err(Error::Pipe));
    }

    #[test]
    fn shutdowns_both_ways() {
        let mut m = Mux::new(GUEST);
        let id = connected(&mut m, 65536);
        let port = id.local_port;
        m.shutdown(id, SHUTDOWN_SEND).unwrap();
        let out = drain(&mut m);
        assert_eq!(ops(&out), [Op::Shutdown]);
        assert_eq!(out[0].header.flags, SHUTDOWN_SEND);
        assert_eq!(m.send(id, b"x"), Err(Error::Pipe));
        // Shutting the same direction again sends nothing.
        m.shutdown(id, SHUTDOWN_SEND).unwrap();
        assert!(drain(&mut m).is_empty());
        m.receive(&from_host(5000, port, Op::Rw, 2, 65536, 0), b"hi").unwrap();
        let mut h = from_host(5000, port, Op::Shutdown, 0, 65536, 0);
        h.flags = SHUTDOWN_BOTH;
        m.receive(&h, &[]).unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::Rst]);
        assert_eq!(m.recv(id, 10, false).unwrap(), b"hi");
        assert_eq!(m.recv(id, 10, false).unwrap(), b"");
        m.close(id);
        assert!(drain(&mut m).is_empty());
        assert!(m.conn(id).is_none());
    }

    #[test]
    fn close_tells_the_peer() {
        let mut m = Mux::new(GUEST);
        let id = connected(&mut m, 65536);
        m.close(id);
        let out = drain(&mut m);
        assert_eq!(ops(&out), [Op::Shutdown]);
        assert_eq!(out[0].header.flags, SHUTDOWN_BOTH);
        // The peer's answer belongs to nothing now and is not answered.
        m.receive(&from_host(5000, id.local_port, Op::Rst, 0, 0, 0), &[])
            .unwrap();
        assert!(drain(&mut m).is_empty());
    }

    #[test]
    fn transport_reset() {
        let mut m = Mux::new(GUEST);
        let id = connected(&mut m, 65536);
        let port = id.local_port;
        m.receive(&from_host(5000, port, Op::Rw, 2, 65536, 0), b"hi").unwrap();
        m.listen(7000, 4);
        m.receive(&from_host(1, 7000, Op::Request, 0, 65536, 0), &[]).unwrap();
        assert_eq!(m.send(id, b"queued"), Ok(6));
        m.transport_reset(9);
        assert_eq!(m.cid(), 9);
        assert!(!m.has_out());
        assert_eq!(m.recv(id, 10, false), Err(Error::Reset));
        assert_eq!(m.send(id, b"x"), Err(Error::Reset));
        assert_eq!(m.shutdown(id, SHUTDOWN_BOTH), Err(Error::Reset));
        assert_eq!(m.accept(7000), None);
        // The old CID is no longer ours; the new one is, and the listener still listens.
        m.receive(&from_host(1, 7000, Op::Request, 0, 65536, 0), &[])
            .unwrap_err();
        let mut h = from_host(2, 7000, Op::Request, 0, 65536, 0);
        h.dst_cid = 9;
        m.receive(&h, &[]).unwrap();
        let out = drain(&mut m);
        assert_eq!(ops(&out), [Op::Response]);
        assert_eq!(out[0].header.src_cid, 9);
    }

    /// What a snapshot restore leaves: a connection being made fails too, ports stay taken by their sockets,
    /// the peer's late packets for the old connections are answered with resets, and closing a reset
    /// connection sends nothing.
    #[test]
    fn transport_reset_of_a_connecting_socket_and_late_packets() {
        let mut m = Mux::new(GUEST);
        let id = connected(&mut m, 65536);
        let port = m.bind(PORT_ANY).unwrap();
        let connecting = m.connect(port, CID_HOST, 5001).unwrap();
        drain(&mut m);
        m.transport_reset(GUEST);
        assert_eq!(m.conn(connecting).unwrap().state(), State::TransportReset);
        assert_eq!(m.conn(id).unwrap().state(), State::TransportReset);
        assert!(m.conn(id).unwrap().readable());
        assert_eq!(m.bind(port), Err(Error::AddrInUse));
        m.receive(&from_host(5001, port, Op::Response, 0, 65536, 0), &[])
            .unwrap();
        m.receive(&from_host(5000, id.local_port, Op::Rw, 1, 65536, 0), b"x")
            .unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::Rst, Op::Rst]);
        assert_eq!(m.recv(id, 10, false), Err(Error::Reset));
        m.close(id);
        m.close(connecting);
        assert!(drain(&mut m).is_empty());
        // A new connection from the same port works.
        m.unbind(port);
        assert_eq!(m.bind(port), Ok(port));
        m.connect(port, CID_HOST, 5001).unwrap();
        assert_eq!(ops(&drain(&mut m)), [Op::Request]);
    }

    #[test]
    fn ports() {
        let mut m = Mux::new(GUEST);
        let a = m.bind(PORT_ANY).unwrap();
        let b = m.bind(PORT_ANY).unwrap();
        assert!(a >= FIRST_EPHEMERAL && b >= FIRST_EPHEMERAL && a != b);
        m.unbind(a);
        assert_eq!(m.bind(a), Ok(a));
        assert_eq!(m.bind(0), Ok(0));
    }

    #[test]
    fn the_outgoing_queue_is_bounded() {
        let mut m = Mux::new(GUEST);
        for p in 0..(MAX_OUT as u32 + 10) {
            m.receive(&from_host(p, 1, Op::Rw, 0, 0, 0), &[]).unwrap();
        }
        assert_eq!(drain(&mut m).len(), MAX_OUT);
        assert_eq!(m.dropped(), 10);
    }

    /// Every operation, with any flags and credit, in every state, against a listener and a connection: no
    /// panic, and the queue only holds packets from the guest's CID.
    #[test]
    fn hostile_sequences() {
        let all = [
            Op::Request,
            Op::Response,
            Op::Rst,
            Op::Shutdown,
            Op::Rw,
            Op::CreditUpdate,
            Op::CreditRequest,
        ];
        for first in all {
            for second in all {
                for third in all {
                    let mut m = Mux::new(GUEST);
                    m.listen(6000, 2);
                    let id = m.connect(7000, CID_HOST, 5000).unwrap();
                    for (i, op) in [first, second, third].into_iter().enumerate() {
                        for (from, to) in [(5000, 7000), (5001, 6000)] {
                            let mut h = from_host(from, to, op, 3, u32::MAX - i as u32, u32::MAX);
                            h.flags = u32::MAX;
                            m.receive(&h, b"abc").unwrap();
                        }
                        let _ = m.send(id, &[0; 5000]);
                        let _ = m.recv(id, 2, false);
                    }
                    assert!(drain(&mut m).iter().all(|p| p.header.src_cid == GUEST));
                    if let Some(a) = m.accept(6000) {
                        let _ = m.recv(a, 10, false);
                        m.close(a);
                    }
                    m.close(id);
                }
            }
        }
    }
}
