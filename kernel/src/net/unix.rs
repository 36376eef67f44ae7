//! `AF_UNIX` sockets: stream (a byte stream), seqpacket (connected, message boundaries kept) and datagram.
//!
//! Each socket owns its receive queue of messages (bytes, passed descriptors, sender's name); a sender
//! appends to its peer's queue. Connected sockets know each other weakly, so that closing one is seen by the
//! other: its last reference going marks the peer shut down both ways (reads give end of file, writes
//! `EPIPE`). A listening socket holds the server ends of connections not accepted yet. Two socket locks are
//! never held together. Descriptors in flight are open files held by the queue; a socket sent over itself
//! stays alive until its queue is read (there is no garbage collector for such cycles, unlike Linux's).

use super::unix_names;
use crate::event::{timeout_deadline, wait_for_until};
use crate::fs::OpenFile;
use crate::fs::file::FileOps;
use crate::fs::poll;
use crate::syscall::errno::Errno;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use ember_sockmsg::UnixAddr;
use linux_raw_sys::general::{POLLHUP, POLLIN, POLLOUT, POLLRDHUP, S_IFSOCK};

/// Bytes a receive queue holds (Linux's default `SO_RCVBUF`).
pub const QUEUE_BYTES: usize = 212_992;
/// Most messages a datagram socket's queue holds (Linux's `max_dgram_qlen`).
const DGRAM_QUEUE: usize = 512;
/// `SO_RCVTIMEO`.
const SO_RCVTIMEO: u32 = 20;
/// `SO_SNDTIMEO`.
const SO_SNDTIMEO: u32 = 21;
/// Shut down for receiving: reads give end of file once the queue is empty.
const SHUT_RCV: u8 = 1;
/// Shut down for sending: writes give `EPIPE`.
const SHUT_SEND: u8 = 2;

/// A socket type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Dgram,
    /// `SOCK_SEQPACKET`.
    SeqPacket,
}

/// One queued message.
struct Message {
    data: Vec<u8>,
    /// How much of `data` a stream reader has taken.
    read: usize,
    fds: Vec<Arc<OpenFile>>,
    from: UnixAddr,
}

enum Conn {
    /// Neither listening nor connected.
    Idle,
    /// Listening: server ends of connections waiting for `accept`.
    Listening {
        backlog: usize,
        pending: VecDeque<Arc<UnixSocket>>,
    },
    /// Connected (a datagram socket: its default destination, and the only sender it accepts).
    Connected(Weak<UnixSocket>),
}

struct State {
    name: UnixAddr,
    conn: Conn,
    /// The name of the peer, kept for `getpeername`.
    peer_name: UnixAddr,
    rx: VecDeque<Message>,
    rx_bytes: usize,
    shutdown: u8,
}

/// What a receive got.
pub struct Received {
    /// The bytes (at most what was asked).
    pub data: Vec<u8>,
    /// The whole message's length (more than `data` when a datagram was cut).
    pub len: usize,
    /// Descriptors passed with it.
    pub fds: Vec<Arc<OpenFile>>,
    /// The sender's name.
    pub from: UnixAddr,
}

/// An `AF_UNIX` socket.
pub struct UnixSocket {
    ty: SockType,
    /// The inode number `/proc/net/unix` shows.
    inode: u64,
    me: Weak<UnixSocket>,
    state: Mutex<State>,
    /// Readers, writers waiting for room in this socket's queue, `accept` and `connect` waiting here.
    waiters: WaitQueue,
    /// `SOL_SOCKET` options set and kept for `getsockopt` (`SO_RCVTIMEO` and `SO_SNDTIMEO` bound the waits).
    options: Mutex<BTreeMap<u32, Vec<u8>>>,
}

impl UnixSocket {
    /// A new unnamed, unconnected socket.
    pub fn new(ty: SockType) -> Arc<UnixSocket> {
        let s = Arc::new_cyclic(|me| UnixSocket {
            ty,
            inode: super::unix_table::inode(),
            me: me.clone(),
            state: Mutex::new(State {
                name: UnixAddr::Unnamed,
                conn: Conn::Idle,
                peer_name: UnixAddr::Unnamed,
                rx: VecDeque::new(),
                rx_bytes: 0,
                shutdown: 0,
            }),
            waiters: WaitQueue::new(),
            options: Mutex::new(BTreeMap::new()),
        });
        super::unix_table::register(&s);
        s
    }

    /// The inode number `/proc/net/unix` shows.
    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// Keeps the value of option `name` (`setsockopt`).
    pub fn set_option(&self, name: u32, value: Vec<u8>) {
        self.options.lock().insert(name, value);
    }

    /// When a wait bounded by timeout option `name` ends, if it is set.
    fn deadline(&self, name: u32) -> Option<u64> {
        timeout_deadline(self.options.lock().get(&name).map(|v| &v[..]))
    }

    /// The value option `name` was set to.
    pub fn option(&self, name: u32) -> Option<Vec<u8>> {
        self.options.lock().get(&name).cloned()
    }

    /// Two sockets connected to each other (`socketpair`).
    pub fn pair(ty: SockType) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        let (a, b) = (UnixSocket::new(ty), UnixSocket::new(ty));
        a.state.lock().conn = Conn::Connected(Arc::downgrade(&b));
        b.state.lock().conn = Conn::Connected(Arc::downgrade(&a));
        (a, b)
    }

    /// Its type.
    pub fn ty(&self) -> SockType {
        self.ty
    }

    fn connection_oriented(&self) -> bool {
        self.ty != SockType::Dgram
    }

    fn changed(&self) {
        self.waiters.wake_all();
        poll::notify();
    }

    fn peer(&self) -> Option<Arc<UnixSocket>> {
        match &self.state.lock().conn {
            Conn::Connected(p) => p.upgrade(),
            _ => None,
        }
    }

    /// Its own name.
    pub fn name(&self) -> UnixAddr {
        self.state.lock().name.clone()
    }

    /// The peer's name; `ENOTCONN` when not connected.
    pub fn peer_name(&self) -> Result<UnixAddr, Errno> {
        let st = self.state.lock();
        match &st.conn {
            Conn::Connected(_) => Ok(st.peer_name.clone()),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// Whether it listens.
    pub fn listening(&self) -> bool {
        matches!(self.state.lock().conn, Conn::Listening { .. })
    }

    /// `bind`: `EINVAL` when it has a name already.
    pub fn bind(&self, addr: UnixAddr) -> Result<(), Errno> {
        let me = self.me.upgrade().ok_or(Errno::EINVAL)?;
        if self.state.lock().name != UnixAddr::Unnamed {
            return Err(Errno::EINVAL);
        }
        let name = unix_names::bind(&me, addr)?;
        let mut st = self.state.lock();
        if st.name != UnixAddr::Unnamed {
            // Another thread bound it meanwhile.
            drop(st);
            unix_names::unbind(&name);
            return Err(Errno::EINVAL);
        }
        st.name = name;
        Ok(())
    }

    /// `listen` (an unnamed socket gets an automatic name first).
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        if !self.connection_oriented() {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.name() == UnixAddr::Unnamed {
            self.bind(UnixAddr::Unnamed)?;
        }
        let backlog = backlog.clamp(1, 4096) as usize;
        let mut st = self.state.lock();
        match &mut st.conn {
            Conn::Idle => {
                st.conn = Conn::Listening {
                    backlog,
                    pending: VecDeque::new(),
                }
            }
            Conn::Listening { backlog: b, .. } => *b = backlog,
            Conn::Connected(_) => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    /// `connect`: a connection to the listener at `addr`, or for a datagram socket the default destination.
    pub fn connect(&self, addr: &UnixAddr, nonblock: bool) -> Result<(), Errno> {
        let target = unix_names::lookup(addr)?;
        if target.ty != self.ty {
            return Err(Errno::EPROTOTYPE);
        }
        if !self.connection_oriented() {
            let name = target.name();
            let mut st = self.state.lock();
            st.conn = Conn::Connected(Arc::downgrade(&target));
            st.peer_name = name;
            return Ok(());
        }
        match self.state.lock().conn {
            Conn::Idle => {}
            Conn::Connected(_) => return Err(Errno::EISCONN),
            Conn::Listening { .. } => return Err(Errno::EINVAL),
        }
        let me = self.me.upgrade().ok_or(Errno::EINVAL)?;
        let server = UnixSocket::new(self.ty);
        let my_name = self.name();
        wait_for_until(&target.waiters, nonblock, self.deadline(SO_SNDTIMEO), || {
            let mut t = target.state.lock();
            let listener_name = t.name.clone();
            match &mut t.conn {
                Conn::Listening { backlog, pending } if pending.len() < *backlog => {
                    {
                        let mut s = server.state.lock();
                        s.name = listener_name.clone();
                        s.peer_name = my_name.clone();
                        s.conn = Conn::Connected(Arc::downgrade(&me));
                    }
                    pending.push_back(server.clone());
                    Some(Ok(listener_name))
                }
                Conn::Listening { .. } => None,
                _ => Some(Err(Errno::ECONNREFUSED)),
            }
        })
        .map(|listener_name| {
            let mut st = self.state.lock();
            st.conn = Conn::Connected(Arc::downgrade(&server));
            st.peer_name = listener_name;
        })?;
        target.changed();
        Ok(())
    }

    /// A datagram socket's `connect` to `AF_UNSPEC`: no default destination any more.
    pub fn disconnect(&self) {
        let mut st = self.state.lock();
        if !self.connection_oriented() {
            st.conn = Conn::Idle;
            st.peer_name = UnixAddr::Unnamed;
        }
    }

    /// `accept`: the next connection; `EINVAL` when not listening.
    pub fn accept(&self, nonblock: bool) -> Result<Arc<UnixSocket>, Errno> {
        let s = wait_for_until(&self.waiters, nonblock, self.deadline(SO_RCVTIMEO), || {
            let mut st = self.state.lock();
            match &mut st.conn {
                Conn::Listening { pending, .. } => pending.pop_front().map(Ok),
                _ => Some(Err(Errno::EINVAL)),
            }
        })?;
        // `connect` may wait for room in the backlog.
        self.changed();
        Ok(s)
    }

    /// Sends `data` (with `fds` for the first byte) to the peer, or for a datagram socket to `to` or its
    /// default destination. Stream sends wait for room until all is sent (unless `nonblock`: what fits);
    /// messages go whole or not at all.
    pub fn send(
        &self,
        data: &[u8],
        fds: Vec<Arc<OpenFile>>,
        to: Option<&UnixAddr>,
        nonblock: bool,
    ) -> Result<usize, Errno> {
        let from = self.name();
        let target = match (self.ty, to) {
            (SockType::Dgram, Some(addr)) => {
                let t = unix_names::lookup(addr)?;
                if t.ty != SockType::Dgram {
                    return Err(Errno::EPROTOTYPE);
                }
                t
            }
            (SockType::Dgram, None) => match &self.state.lock().conn {
                Conn::Connected(p) => p.upgrade().ok_or(Errno::ECONNREFUSED)?,
                _ => return Err(Errno::ENOTCONN),
            },
            (_, Some(_)) => {
                return Err(if self.peer().is_some() {
                    Errno::EISCONN
                } else {
                    Errno::EOPNOTSUPP
                });
            }
            (_, None) => {
                let st = self.state.lock();
                if st.shutdown & SHUT_SEND != 0 {
                    return Err(Errno::EPIPE);
                }
                match &st.conn {
                    Conn::Connected(p) => p.upgrade().ok_or(Errno::EPIPE)?,
                    _ => return Err(Errno::ENOTCONN),
                }
            }
        };
        if self.ty == SockType::Stream {
            self.send_stream(&target, data, fds, from, nonblock)
        } else {
            self.send_message(&target, data, fds, from, nonblock)
        }
    }

    fn send_message(
        &self,
        target: &Arc<UnixSocket>,
        data: &[u8],
        fds: Vec<Arc<OpenFile>>,
        from: UnixAddr,
        nonblock: bool,
    ) -> Result<usize, Errno> {
        if data.len() > QUEUE_BYTES {
            return Err(Errno::EMSGSIZE);
        }
        let mut fds = Some(fds);
        let me = self.me.as_ptr();
        wait_for_until(&target.waiters, nonblock, self.deadline(SO_SNDTIMEO), || {
            let mut t = target.state.lock();
            if self.ty == SockType::Dgram {
                // A connected datagram socket takes messages from its peer only.
                if let Conn::Connected(p) = &t.conn
                    && !core::ptr::eq(p.as_ptr(), me)
                {
                    return Some(Err(Errno::EPERM));
                }
            } else if t.shutdown & SHUT_RCV != 0 {
                return Some(Err(Errno::EPIPE));
            }
            if t.rx_bytes + data.len() > QUEUE_BYTES || t.rx.len() >= DGRAM_QUEUE {
                return None;
            }
            t.rx_bytes += data.len();
            t.rx.push_back(Message {
                data: data.to_vec(),
                read: 0,
                fds: fds.take().unwrap_or_default(),
                from: from.clone(),
            });
            Some(Ok(data.len()))
        })
        .inspect(|_| target.changed())
    }

    fn send_stream(
        &self,
        target: &Arc<UnixSocket>,
        data: &[u8],
        fds: Vec<Arc<OpenFile>>,
        from: UnixAddr,
        nonblock: bool,
    ) -> Result<usize, Errno> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut sent = 0;
        let mut fds = Some(fds);
        let r = wait_for_until(&target.waiters, nonblock, self.deadline(SO_SNDTIMEO), || {
            let shut = self.state.lock().shutdown & SHUT_SEND != 0;
            let mut t = target.state.lock();
            if shut || t.shutdown & SHUT_RCV != 0 {
                return Some(if sent > 0 { Ok(sent) } else { Err(Errno::EPIPE) });
            }
            let room = QUEUE_BYTES.saturating_sub(t.rx_bytes);
            if room > 0 {
                let n = room.min(data.len() - sent);
                t.rx_bytes += n;
                t.rx.push_back(Message {
                    data: data[sent..sent + n].to_vec(),
                    read: 0,
                    fds: fds.take().unwrap_or_default(),
                    from: from.clone(),
                });
                sent += n;
                drop(t);
                target.changed();
            }
            if sent == data.len() || (nonblock && sent > 0) {
                Some(Ok(sent))
            } else {
                None
            }
        });
        match r {
            Err(_) if sent > 0 => Ok(sent),
            r => r,
        }
    }

    /// Receives up to `max` bytes: a stream reader takes what is there (waiting for `max` with
    /// `wait_all`), stopping before a message that carries descriptors and after one it took descriptors
    /// from; a message reader takes one message. `peek` leaves it queued. End of file is an empty result.
    pub fn recv(&self, max: usize, peek: bool, wait_all: bool, nonblock: bool) -> Result<Received, Errno> {
        let mut got = Received {
            data: Vec::new(),
            len: 0,
            fds: Vec::new(),
            from: UnixAddr::Unnamed,
        };
        let wait_all = wait_all && !peek && self.ty == SockType::Stream;
        let r = wait_for_until(&self.waiters, nonblock, self.deadline(SO_RCVTIMEO), || {
            let mut st = self.state.lock();
            if self.ty == SockType::Stream && !matches!(st.conn, Conn::Connected(_)) {
                return Some(Err(Errno::EINVAL));
            }
            let eof = st.shutdown & SHUT_RCV != 0;
            if !st.rx.is_empty() {
                if self.ty == SockType::Stream {
                    take_stream(&mut st, &mut got, max, peek);
                } else {
                    take_message(&mut st, &mut got, max, peek);
                    return Some(Ok(()));
                }
            }
            let enough = if wait_all {
                got.data.len() == max || !got.fds.is_empty()
            } else {
                !got.data.is_empty()
            };
            (enough || eof || max == 0).then_some(Ok(()))
        });
        match r {
            Err(_) if !got.data.is_empty() => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        if self.ty == SockType::Stream {
            got.len = got.data.len();
        }
        if !peek {
            // Writers may be waiting for room.
            self.changed();
        }
        Ok(got)
    }

    /// `shutdown`: `how` is 0 (reading), 1 (writing) or 2 (both).
    pub fn shutdown(&self, how: u32) -> Result<(), Errno> {
        let (mine, theirs) = match how {
            0 => (SHUT_RCV, SHUT_SEND),
            1 => (SHUT_SEND, SHUT_RCV),
            2 => (SHUT_RCV | SHUT_SEND, SHUT_RCV | SHUT_SEND),
            _ => return Err(Errno::EINVAL),
        };
        let peer = {
            let mut st = self.state.lock();
            if self.connection_oriented() && !matches!(st.conn, Conn::Connected(_)) {
                return Err(Errno::ENOTCONN);
            }
            st.shutdown |= mine;
            match &st.conn {
                Conn::Connected(p) => p.upgrade(),
                _ => None,
            }
        };
        if let Some(p) = peer.filter(|_| self.connection_oriented()) {
            p.state.lock().shutdown |= theirs;
            p.changed();
        }
        self.changed();
        Ok(())
    }

    /// Bytes waiting (FIONREAD: the next message's for a message socket).
    fn queued(&self) -> usize {
        let st = self.state.lock();
        match self.ty {
            SockType::Stream => st.rx_bytes,
            _ => st.rx.front().map_or(0, |m| m.data.len()),
        }
    }

    /// Whether a send to `target` would find room now.
    fn room_at(target: &UnixSocket) -> bool {
        let t = target.state.lock();
        t.rx_bytes < QUEUE_BYTES && t.rx.len() < DGRAM_QUEUE
    }
}

/// Takes (or with `peek` copies) stream bytes into `got`, up to `max` in all.
fn take_stream(st: &mut State, got: &mut Received, max: usize, peek: bool) {
    let mut i = 0;
    while got.data.len() < max {
        let Some(m) = st.rx.get_mut(i) else { break };
        if !m.fds.is_empty() && !got.data.is_empty() {
            break;
        }
        if got.data.is_empty() {
            got.from = m.from.clone();
        }
        let n = (max - got.data.len()).min(m.data.len() - m.read);
        got.data.extend_from_slice(&m.data[m.read..m.read + n]);
        let with_fds = !m.fds.is_empty();
        if peek {
            got.fds.extend(m.fds.iter().cloned());
            i += 1;
        } else {
            got.fds.append(&mut m.fds);
            m.read += n;
            st.rx_bytes -= n;
            if m.read == m.data.len() {
                st.rx.pop_front();
            }
        }
        if with_fds {
            break;
        }
    }
}

/// Takes (or with `peek` copies) the next message into `got`, its bytes cut to `max`.
fn take_message(st: &mut State, got: &mut Received, max: usize, peek: bool) {
    let m = if peek {
        match st.rx.front() {
            Some(m) => Message {
                data: m.data.clone(),
                read: 0,
                fds: m.fds.clone(),
                from: m.from.clone(),
            },
            None => return,
        }
    } else {
        let Some(m) = st.rx.pop_front() else { return };
        st.rx_bytes -= m.data.len();
        m
    };
    got.len = m.data.len();
    got.data = m.data;
    got.data.truncate(max);
    got.fds = m.fds;
    got.from = m.from;
}

impl FileOps for UnixSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let r = self.recv(buf.len(), false, false, nonblock)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }

    fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        self.send(data, Vec::new(), None, nonblock)
    }

    fn poll(&self) -> u32 {
        let (mut ev, peer) = {
            let st = self.state.lock();
            let mut ev = 0;
            if let Conn::Listening { pending, .. } = &st.conn {
                return if pending.is_empty() { 0 } else { POLLIN };
            }
            if !st.rx.is_empty() {
                ev |= POLLIN;
            }
            if st.shutdown & SHUT_RCV != 0 {
                ev |= POLLIN | POLLRDHUP;
            }
            if st.shutdown == SHUT_RCV | SHUT_SEND {
                ev |= POLLHUP;
            }
            let peer = match &st.conn {
                Conn::Connected(p) => p.upgrade(),
                _ => None,
            };
            if self.connection_oriented() && !matches!(st.conn, Conn::Connected(_)) {
                ev |= POLLHUP;
            }
            (ev, peer)
        };
        // Writable when a send would not wait (also when it would fail at once).
        if peer.as_deref().is_none_or(UnixSocket::room_at) {
            ev |= POLLOUT;
        }
        ev
    }

    fn available(&self) -> usize {
        self.queued()
    }

    fn mode(&self) -> u32 {
        S_IFSOCK | 0o777
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        unix_names::unbind(&st.name);
        if let Conn::Connected(p) = &st.conn
            && let Some(p) = p.upgrade().filter(|_| self.ty != SockType::Dgram)
        {
            p.state.lock().shutdown = SHUT_RCV | SHUT_SEND;
            p.changed();
        }
        // Pending connections and queued descriptors go with the state.
        poll::notify();
    }
}
