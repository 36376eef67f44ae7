//! `AF_INET` and `AF_INET6` sockets over the smoltcp stack ([`super::stack`]): TCP (connect, listen with a
//! backlog of listening smoltcp sockets, accept, send, receive, shutdown), UDP (bind, connect, sendto,
//! recvfrom) and raw ICMP/ICMPv6 echo (`ping`). They work on `lo` without a network device; a peer only a
//! device reaches is then `ENETUNREACH`. A socket bound to the wildcard address listens for both families
//! in smoltcp; what its family does not take ([`Family::accepts`]: IPv6 for `AF_INET`, IPv4 for an
//! `IPV6_V6ONLY` socket) is reset or dropped when it arrives at the socket. A connection the peer resets
//! reports it once, as Linux does: the first read, write or `SO_ERROR` gives `ECONNRESET` (`poll`: `POLLERR`
//! until then), later reads the end of the stream and writes `EPIPE`. `SO_LINGER` with a zero time makes
//! `close` reset the connection.

use super::ipaddr::Family;
use super::multicast::Multicast;
use super::stack::{self, SOCKETS, Sock, Stack};
use crate::event::{timeout_deadline, wait_for_until};
use crate::fs::file::FileOps;
use crate::syscall::errno::Errno;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use ember_frame::sync::Mutex;
use linux_raw_sys::general::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, S_IFSOCK};
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

/// Bytes of each TCP socket's receive and send buffers.
const TCP_BUFFER: usize = 64 * 1024;
/// Bytes of each UDP socket's receive and send buffers, and datagrams they hold.
const UDP_BUFFER: usize = 64 * 1024;
const UDP_PACKETS: usize = 64;
/// Most listening smoltcp sockets behind one `listen` (per interface; each holds its buffers, 128 KiB). Linux
/// queues up to `somaxconn` (4096) connections; 16 slots reset the 17th of a burst of connections (std's
/// servers ask for 128, tokio's for 1024), and with full slots dropping SYNs instead, a burst of 40 still
/// waited for the peer's SYN retransmissions (seconds each) in the Rust load tests (`net-load-rust-*`).
const MAX_BACKLOG: usize = 64;
/// How long a listening slot stays half-open (SYN received, no ACK) before it is closed and listens again:
/// smoltcp retries its SYN-ACK without end, so a flood of SYNs from spoofed sources would hold every slot of
/// the backlog forever. A slot whose handshake completed loses the timeout at the stack's next poll, so a
/// connection waits unaccepted for as long as the server takes (the Rust load tests' servers, slow to accept
/// under load, had silent connections reset after 5 s).
const HALF_OPEN_TIMEOUT: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(5);
/// The first ephemeral port (Linux's `ip_local_port_range` starts at 32768; 49152 is IANA's).
const EPHEMERAL: u16 = 49152;

static NEXT_PORT: AtomicU16 = AtomicU16::new(EPHEMERAL);
/// Ports bound, by (is TCP, port).
static BOUND: Mutex<BTreeSet<(bool, u16)>> = Mutex::new(BTreeSet::new());
/// TCP ports a socket listens on.
static LISTENING: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The TCP ports a socket listens on: a SYN to one of them with no listening slot free is dropped
/// ([`super::stack`]), as Linux drops it when the accept queue is full, so the peer retries it; smoltcp
/// would answer it with a reset.
pub fn listening_ports() -> Vec<u16> {
    LISTENING.lock().iter().copied().collect()
}

/// The transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// `SOCK_STREAM`.
    Tcp,
    /// `SOCK_DGRAM`.
    Udp,
    /// `SOCK_RAW` with `IPPROTO_ICMP` (`ping`): ICMP messages out, IPv4 packets in; with `IPPROTO_ICMPV6`
    /// (`ping6`): ICMPv6 messages both ways.
    Icmp,
}

enum Conn {
    Idle,
    /// A TCP connection (or one being made).
    Tcp(Sock),
    /// Listening TCP sockets, on each interface the bound address is on.
    Listening(Vec<Sock>),
    /// A UDP socket on each interface the bound address is on.
    Udp(Vec<Sock>),
    /// An ICMP socket on each interface, taking the echo replies with the identifier of the first echo
    /// request sent.
    Icmp(Vec<Sock>),
}

struct State {
    /// The bound address (port 0: none yet).
    local: IpEndpoint,
    conn: Conn,
    /// UDP's default destination.
    peer: Option<IpEndpoint>,
    /// A TCP connection that reached ESTABLISHED at some point.
    established: bool,
    /// `shutdown` ended the writing side (our FIN): the connection may close cleanly after that.
    wr_shut: bool,
    /// The reset of the established connection was reported (`ECONNRESET` once, as Linux's `sk_err`).
    reset_reported: bool,
}

impl State {
    /// Whether a reset of this connection may still have to be reported: it reached ESTABLISHED, never sent
    /// its FIN, and has not reported one yet. Its smoltcp socket closed is then a reset (an RST, or smoltcp
    /// giving up): without our FIN a TCP connection closes in no other way.
    fn reset_reportable(&self) -> bool {
        self.established && !self.wr_shut && !self.reset_reported
    }

    /// Whether smoltcp socket `t` of this connection was reset and that is not reported yet (its unread data
    /// comes first).
    fn unreported_reset(&self, t: &tcp::Socket) -> bool {
        self.reset_reportable() && t.state() == tcp::State::Closed && !t.can_recv()
    }
}

/// An `AF_INET` or `AF_INET6` socket.
pub struct InetSocket {
    family: Family,
    proto: Proto,
    /// `IPV6_V6ONLY`: an `AF_INET6` socket without IPv4 (v4-mapped) traffic.
    v6only: AtomicBool,
    state: Mutex<State>,
    options: Mutex<BTreeMap<u32, Vec<u8>>>,
    /// Group memberships and multicast sending options.
    mcast: Multicast,
}

fn new_tcp() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0u8; TCP_BUFFER]),
    );
    s.set_nagle_enabled(false);
    s
}

/// A listening slot on `local`'s address and `port`.
fn listener(local: IpEndpoint, port: u16) -> Option<tcp::Socket<'static>> {
    let mut s = new_tcp();
    s.set_timeout(Some(HALF_OPEN_TIMEOUT));
    s.listen(listen_endpoint(local, port)).ok()?;
    Some(s)
}

/// Makes the closed slots of a listening socket listen again: a half-open connection that timed out, or a
/// connection reset before `accept`, closes its slot. (`accept` and `poll` call this: a server blocked in
/// either would otherwise never see its backlog again after a SYN flood.)
fn relisten(s: &mut Stack, handles: &[Sock], local: IpEndpoint, port: u16) {
    for &h in handles {
        let t = s.tcp_mut(h);
        if t.state() == tcp::State::Closed {
            t.set_timeout(Some(HALF_OPEN_TIMEOUT));
            let _ = t.listen(listen_endpoint(local, port));
        }
    }
}

fn new_udp() -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0u8; UDP_BUFFER]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0u8; UDP_BUFFER]),
    )
}

/// `SO_RCVTIMEO`.
const SO_RCVTIMEO: u32 = 20;
/// `IPPROTO_ICMPV6`'s `ICMP6_FILTER` (as [`level_key`] keeps it): 256 bits, a set one blocks that type.
const ICMP6_FILTER: u32 = (58 << 16) | 1;

/// The key the value of option `name` of a `level` other than `SOL_SOCKET` is kept under beside the
/// `SOL_SOCKET` ones (whose numbers are small).
pub fn level_key(level: u32, name: u32) -> u32 {
    (level << 16) | (name & 0xffff)
}
/// `SO_SNDTIMEO`.
const SO_SNDTIMEO: u32 = 21;
/// `SO_LINGER` (`struct linger`: `l_onoff`, `l_linger`): on with a zero time, `close` resets the connection.
const SO_LINGER: u32 = 13;

fn new_icmp() -> icmp::Socket<'static> {
    icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0u8; 16 * 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0u8; 16 * 1024]),
    )
}

/// A received ICMP message as a raw socket reads it: behind the IPv4 header it came with (rebuilt).
fn with_ipv4_header(icmp: &[u8], from: [u8; 4], to: [u8; 4]) -> Vec<u8> {
    let len = (20 + icmp.len()).min(u16::MAX as usize) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    p.extend_from_slice(&from);
    p.extend_from_slice(&to);
    let sum = p
        .chunks(2)
        .fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(icmp);
    p
}

/// Runs `f` on the stack, waiting (on [`SOCKETS`]) while it returns `None`, until `deadline` (then `EAGAIN`).
fn wait_stack<T>(
    nonblock: bool,
    deadline: Option<u64>,
    mut f: impl FnMut(&mut Stack) -> Option<Result<T, Errno>>,
) -> Result<T, Errno> {
    wait_for_until(&SOCKETS, nonblock, deadline, || {
        stack::with(&mut f).unwrap_or(Some(Err(Errno::ENETDOWN)))
    })
}

impl InetSocket {
    /// A new unbound socket.
    pub fn new(family: Family, proto: Proto) -> Arc<InetSocket> {
        Arc::new(InetSocket {
            family,
            proto,
            v6only: AtomicBool::new(false),
            state: Mutex::new(State {
                local: IpEndpoint::new(family.unspecified(), 0),
                conn: Conn::Idle,
                peer: None,
                established: false,
                wr_shut: false,
                reset_reported: false,
            }),
            options: Mutex::new(BTreeMap::new()),
            mcast: Multicast::default(),
        })
    }

    /// Its protocol.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Its address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Whether traffic of `peer`'s family is this socket's.
    fn accepts(&self, peer: IpAddress) -> bool {
        self.family.accepts(self.v6only.load(Ordering::Relaxed), peer)
    }

    /// `IPV6_V6ONLY`: `EINVAL` once bound (as Linux), `ENOPROTOOPT` on an `AF_INET` socket.
    pub fn set_v6only(&self, on: bool) -> Result<(), Errno> {
        if self.family != Family::V6 {
            return Err(Errno::ENOPROTOOPT);
        }
        if self.state.lock().local.port != 0 {
            return Err(Errno::EINVAL);
        }
        self.v6only.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Whether `ICMP6_FILTER` blocks ICMPv6 messages of type `ty`.
    fn icmp6_blocked(&self, ty: u8) -> bool {
        let opts = self.options.lock();
        let w = usize::from(ty >> 5) * 4;
        opts.get(&ICMP6_FILTER)
            .and_then(|f| f.get(w..w + 4))
            .is_some_and(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) & (1 << (ty & 31)) != 0)
    }

    /// Whether `IPV6_V6ONLY` is on.
    pub fn v6only(&self) -> bool {
        self.v6only.load(Ordering::Relaxed)
    }

    /// Its multicast memberships and options.
    pub fn multicast(&self) -> &Multicast {
        &self.mcast
    }

    /// Keeps the value of option `name` (`setsockopt`).
    pub fn set_option(&self, name: u32, value: Vec<u8>) {
        self.options.lock().insert(name, value);
    }

    /// When a wait bounded by timeout option `name` (`SO_RCVTIMEO`, `SO_SNDTIMEO`) ends, if it is set.
    fn deadline(&self, name: u32) -> Option<u64> {
        timeout_deadline(self.options.lock().get(&name).map(|v| &v[..]))
    }

    /// The value option `name` was set to.
    pub fn option(&self, name: u32) -> Option<Vec<u8>> {
        self.options.lock().get(&name).cloned()
    }

    /// `bind`: port 0 picks an ephemeral port; `EADDRINUSE` when taken, `EINVAL` when bound already (or to
    /// a v4-mapped address with `IPV6_V6ONLY`).
    pub fn bind(&self, addr: IpEndpoint) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if st.local.port != 0 || !self.accepts(addr.addr) {
            return Err(Errno::EINVAL);
        }
        let port = self.reserve(addr.port)?;
        st.local = IpEndpoint::new(addr.addr, port);
        drop(st);
        if self.proto == Proto::Udp {
            // Datagrams sent to the port from now on are kept, as Linux keeps them: the smoltcp sockets
            // are made here. An address the stack does not have is `EADDRNOTAVAIL`, the bind undone.
            if let Some(Err(e)) = stack::with(|s| self.udp_handles(s).map(|_| ())) {
                BOUND.lock().remove(&(false, port));
                self.state.lock().local = IpEndpoint::new(self.family.unspecified(), 0);
                return Err(e);
            }
        }
        Ok(())
    }

    fn reserve(&self, port: u16) -> Result<u16, Errno> {
        let tcp = self.proto == Proto::Tcp;
        let mut bound = BOUND.lock();
        if port != 0 {
            return if bound.insert((tcp, port)) {
                Ok(port)
            } else {
                Err(Errno::EADDRINUSE)
            };
        }
        for _ in 0..(u16::MAX - EPHEMERAL) {
            let p = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
            let p = if p < EPHEMERAL { EPHEMERAL + p % 1000 } else { p };
            if bound.insert((tcp, p)) {
                return Ok(p);
            }
        }
        Err(Errno::EADDRINUSE)
    }

    /// The bound port, binding an ephemeral one first if there is none.
    fn local_port(&self, st: &mut State) -> Result<u16, Errno> {
        if st.local.port == 0 {
            st.local.port = self.reserve(0)?;
        }
        Ok(st.local.port)
    }

    /// `connect`: TCP starts a connection (`EINPROGRESS` when `nonblock`), UDP sets the destination.
    pub fn connect(&self, to: IpEndpoint, nonblock: bool) -> Result<(), Errno> {
        if !self.accepts(to.addr) {
            return Err(Errno::ENETUNREACH);
        }
        let mut st = self.state.lock();
        if self.proto != Proto::Tcp {
            st.peer = Some(to);
            return Ok(());
        }
        match st.conn {
            Conn::Idle => {}
            Conn::Tcp(_) if st.established => return Err(Errno::EISCONN),
            Conn::Tcp(_) => return Err(Errno::EALREADY),
            _ => return Err(Errno::EINVAL),
        }
        let port = self.local_port(&mut st)?;
        // From the bound address when it is of the peer's family, else the one smoltcp picks.
        let from = IpListenEndpoint {
            addr: (!st.local.addr.is_unspecified() && st.local.addr.version() == to.addr.version())
                .then_some(st.local.addr),
            port,
        };
        let h = stack::with(|s| {
            let net = s.route(to.addr)?;
            let mut sock = new_tcp();
            match sock.connect(s.nets[net].iface.context(), to, from) {
                Ok(()) => Ok(s.add(net, sock)),
                Err(tcp::ConnectError::Unaddressable) => Err(Errno::ENETUNREACH),
                Err(tcp::ConnectError::InvalidState) => Err(Errno::EISCONN),
            }
        })
        .unwrap_or(Err(Errno::ENETDOWN))?;
        st.conn = Conn::Tcp(h);
        drop(st);
        if nonblock {
            return Err(Errno::EINPROGRESS);
        }
        let deadline = self.deadline(SO_SNDTIMEO);
        wait_stack(false, deadline, |s| match s.tcp(h).state() {
            tcp::State::SynSent | tcp::State::SynReceived => None,
            tcp::State::Closed => Some(Err(Errno::ECONNREFUSED)),
            _ => Some(Ok(())),
        })
        // (A connect that `SO_SNDTIMEO` cut short goes on, as Linux's does.)
        .map_err(|e| if e == Errno::EAGAIN { Errno::EINPROGRESS } else { e })?;
        self.state.lock().established = true;
        Ok(())
    }

    /// `listen`: `backlog` listening smoltcp sockets on the bound (or an ephemeral) port.
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        if self.proto != Proto::Tcp {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.state.lock();
        match st.conn {
            Conn::Idle => {}
            Conn::Listening(_) => return Ok(()),
            _ => return Err(Errno::EINVAL),
        }
        let port = self.local_port(&mut st)?;
        let local = st.local;
        let n = (backlog.max(1) as usize).min(MAX_BACKLOG);
        let handles = stack::with(|s| {
            let mut handles = Vec::new();
            for net in s.nets_for(local.addr)? {
                for _ in 0..n {
                    if let Some(sock) = listener(local, port) {
                        handles.push(s.add(net, sock));
                    }
                }
            }
            Ok(handles)
        })
        .unwrap_or(Err(Errno::ENETDOWN))?;
        st.conn = Conn::Listening(handles);
        LISTENING.lock().insert(port);
        Ok(())
    }

    /// Whether it listens.
    pub fn listening(&self) -> bool {
        matches!(self.state.lock().conn, Conn::Listening(_))
    }

    /// `accept`: the next established connection, its listening socket replaced by a fresh one.
    pub fn accept(&self, nonblock: bool) -> Result<(Arc<InetSocket>, IpEndpoint), Errno> {
        let (local, port) = {
            let st = self.state.lock();
            if !matches!(st.conn, Conn::Listening(_)) {
                return Err(Errno::EINVAL);
            }
            (st.local, st.local.port)
        };
        let (h, remote) = wait_stack(nonblock, self.deadline(SO_RCVTIMEO), |s| {
            let mut st = self.state.lock();
            let Conn::Listening(handles) = &mut st.conn else {
                return Some(Err(Errno::EINVAL));
            };
            relisten(s, handles, local, port);
            loop {
                let i = handles.iter().position(|&h| {
                    let t = s.tcp(h);
                    !matches!(
                        t.state(),
                        tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
                    )
                })?;
                let h = handles[i];
                s.tcp_mut(h).set_timeout(None);
                if let Some(fresh) = listener(local, port) {
                    handles[i] = s.add(h.net, fresh);
                } else {
                    handles.remove(i);
                }
                let remote = s.tcp(h).remote_endpoint();
                match remote {
                    // A connection of the family this socket does not take: reset it.
                    Some(r) if !self.family.accepts(self.v6only.load(Ordering::Relaxed), r.addr) => {
                        s.tcp_mut(h).abort();
                        s.orphans.push(h);
                    }
                    _ => {
                        let unknown = IpEndpoint::new(self.family.unspecified(), 0);
                        return Some(Ok((h, remote.unwrap_or(unknown))));
                    }
                }
            }
        })?;
        let conn = InetSocket::new(self.family, Proto::Tcp);
        conn.v6only.store(self.v6only(), Ordering::Relaxed);
        {
            let mut c = conn.state.lock();
            c.local = local;
            c.conn = Conn::Tcp(h);
            c.established = true;
        }
        Ok((conn, remote))
    }

    fn tcp_handle(&self) -> Result<Sock, Errno> {
        match self.state.lock().conn {
            Conn::Tcp(h) => Ok(h),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// The UDP socket on each interface the bound address is on (made and bound on first use).
    fn udp_handles(&self, s: &mut Stack) -> Result<Vec<Sock>, Errno> {
        let mut st = self.state.lock();
        if let Conn::Udp(hs) = &st.conn {
            return Ok(hs.clone());
        }
        let port = self.local_port(&mut st)?;
        let mut hs = Vec::new();
        for net in s.nets_for(st.local.addr)? {
            let mut sock = new_udp();
            sock.bind(listen_endpoint(st.local, port)).map_err(|_| Errno::EINVAL)?;
            hs.push(s.add(net, sock));
        }
        st.conn = Conn::Udp(hs.clone());
        Ok(hs)
    }

    /// The ICMP socket on each interface, made on the first send (`ident`: the echo identifier to take
    /// replies for); empty before that.
    fn icmp_handles(&self, s: &mut Stack, ident: Option<u16>) -> Result<Vec<Sock>, Errno> {
        let mut st = self.state.lock();
        if let Conn::Icmp(hs) = &st.conn {
            return Ok(hs.clone());
        }
        let Some(ident) = ident else {
            return Ok(Vec::new());
        };
        let mut hs = Vec::new();
        for net in 0..s.nets.len() {
            let mut sock = new_icmp();
            sock.bind(icmp::Endpoint::Ident(ident)).map_err(|_| Errno::EINVAL)?;
            hs.push(s.add(net, sock));
        }
        st.conn = Conn::Icmp(hs.clone());
        Ok(hs)
    }

    /// Sends `data` (UDP: to `to` or the connected destination).
    pub fn send(&self, data: &[u8], to: Option<IpEndpoint>, nonblock: bool) -> Result<usize, Errno> {
        match self.proto {
            Proto::Tcp => {
                let h = self.tcp_handle()?;
                let reportable = self.state.lock().reset_reportable();
                let mut sent = 0;
                let r = wait_stack(nonblock, self.deadline(SO_SNDTIMEO), |s| {
                    let t = s.tcp_mut(h);
                    if !t.may_send() {
                        return Some(if sent > 0 {
                            Ok(sent)
                        } else if reportable && t.state() == tcp::State::Closed {
                            Err(Errno::ECONNRESET)
                        } else {
                            Err(Errno::EPIPE)
                        });
                    }
                    if t.can_send() {
                        sent += t.send_slice(&data[sent..]).unwrap_or(0);
                    }
                    (sent == data.len() || (nonblock && sent > 0)).then_some(Ok(sent))
                });
                match r {
                    Err(_) if sent > 0 => Ok(sent),
                    Err(Errno::ECONNRESET) if !self.report_reset() => Err(Errno::EPIPE),
                    r => r,
                }
            }
            Proto::Icmp => {
                let dest = to.or(self.state.lock().peer).ok_or(Errno::EDESTADDRREQ)?;
                // An ICMP header at least; an echo request's identifier picks the replies to take.
                if data.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                if matches!(dest.addr, IpAddress::Ipv6(_)) != (self.family == Family::V6) {
                    return Err(Errno::EINVAL);
                }
                // Echo request: 8 for ICMP, 128 for ICMPv6 (whose checksum smoltcp computes over its
                // pseudo-header, as Linux does for raw ICMPv6 sockets).
                let echo = if self.family == Family::V6 { 128 } else { 8 };
                let ident = (data[0] == echo).then(|| u16::from_be_bytes([data[4], data[5]]));
                wait_stack(nonblock, self.deadline(SO_SNDTIMEO), |s| {
                    let h = match self.icmp_handles(s, ident.or(Some(0))).and_then(|hs| {
                        let net = s.route(dest.addr)?;
                        hs.into_iter().find(|h| h.net == net).ok_or(Errno::ENETUNREACH)
                    }) {
                        Ok(h) => h,
                        Err(e) => return Some(Err(e)),
                    };
                    match s.icmp_mut(h).send_slice(data, dest.addr) {
                        Ok(()) => Some(Ok(data.len())),
                        Err(icmp::SendError::BufferFull) => None,
                        Err(icmp::SendError::Unaddressable) => Some(Err(Errno::EINVAL)),
                    }
                })
            }
            Proto::Udp => {
                let dest = to.or(self.state.lock().peer).ok_or(Errno::EDESTADDRREQ)?;
                if data.len() > UDP_BUFFER {
                    return Err(Errno::EMSGSIZE);
                }
                if !self.accepts(dest.addr) {
                    return Err(Errno::ENETUNREACH);
                }
                wait_stack(nonblock, self.deadline(SO_SNDTIMEO), |s| {
                    let (h, lo) = match self.udp_handles(s).and_then(|hs| {
                        let net = s.route(dest.addr)?;
                        let lo = hs.iter().copied().find(|h| h.net == stack::LO);
                        Ok((hs.into_iter().find(|h| h.net == net).ok_or(Errno::ENETUNREACH)?, lo))
                    }) {
                        Ok(h) => h,
                        Err(e) => return Some(Err(e)),
                    };
                    if dest.addr.is_multicast() {
                        return self.send_multicast(s, h, lo, data, dest);
                    }
                    let u = s.udp_mut(h);
                    u.set_hop_limit(None);
                    match u.send_slice(data, dest) {
                        Ok(()) => Some(Ok(data.len())),
                        Err(udp::SendError::BufferFull) => None,
                        Err(udp::SendError::Unaddressable) => Some(Err(Errno::EINVAL)),
                    }
                })
            }
        }
    }

    /// Sends a UDP datagram to multicast `dest` through `h` with the socket's multicast hop limit (none onto
    /// the wire at 0), then a copy through `lo`'s socket `lo` when it loops back ([`Multicast::sending`]; a
    /// full `lo` drops the copy). `None`: `h`'s buffer is full, wait.
    fn send_multicast(
        &self,
        s: &mut Stack,
        h: Sock,
        lo: Option<Sock>,
        data: &[u8],
        dest: IpEndpoint,
    ) -> Option<Result<usize, Errno>> {
        let (hops, looped) = self.mcast.sending(h.net, dest.addr);
        if hops > 0 {
            let u = s.udp_mut(h);
            u.set_hop_limit(Some(hops));
            match u.send_slice(data, dest) {
                Ok(()) => {}
                Err(udp::SendError::BufferFull) => return None,
                Err(udp::SendError::Unaddressable) => return Some(Err(Errno::EINVAL)),
            }
        }
        if let Some(lo) = lo.filter(|_| looped) {
            let meta = udp::UdpMetadata {
                endpoint: dest,
                local_address: s.nets[h.net].iface.get_source_address(&dest.addr),
                meta: Default::default(),
            };
            let _ = s.udp_mut(lo).send_slice(data, meta);
        }
        Some(Ok(data.len()))
    }

    /// Receives up to `max` bytes (`peek` leaves them): the bytes, the datagram's whole length, the sender.
    pub fn recv(&self, max: usize, peek: bool, nonblock: bool) -> Result<(Vec<u8>, usize, IpEndpoint), Errno> {
        match self.proto {
            Proto::Tcp => {
                let h = self.tcp_handle()?;
                let remote = self
                    .peer_name()
                    .unwrap_or(IpEndpoint::new(self.family.unspecified(), 0));
                let reportable = self.state.lock().reset_reportable();
                let r = wait_stack(nonblock, self.deadline(SO_RCVTIMEO), |s| {
                    let t = s.tcp_mut(h);
                    if t.can_recv() {
                        // What is there, not `max`: a 64 KiB read of a few bytes zeroes 64 KiB otherwise.
                        let mut buf = vec![0u8; max.min(t.recv_queue())];
                        let n = if peek {
                            t.peek_slice(&mut buf)
                        } else {
                            t.recv_slice(&mut buf)
                        }
                        .unwrap_or(0);
                        buf.truncate(n);
                        Some(Ok((buf, n, remote)))
                    } else if reportable && max != 0 && t.state() == tcp::State::Closed {
                        Some(Err(Errno::ECONNRESET))
                    } else if !t.may_recv() || max == 0 {
                        Some(Ok((Vec::new(), 0, remote)))
                    } else {
                        None
                    }
                });
                match r {
                    // Another reader reported it first: the end of the stream now.
                    Err(Errno::ECONNRESET) if !self.report_reset() => Ok((Vec::new(), 0, remote)),
                    r => r,
                }
            }
            Proto::Icmp => wait_stack(nonblock, self.deadline(SO_RCVTIMEO), |s| {
                let hs = match self.icmp_handles(s, None) {
                    Ok(hs) => hs,
                    Err(e) => return Some(Err(e)),
                };
                loop {
                    let h = hs.iter().copied().find(|&h| s.icmp(h).can_recv())?;
                    let own = s.nets[h.net].iface.ipv4_addr().map_or([0; 4], |a| a.octets());
                    let (d, from) = s.icmp_mut(h).recv().ok()?;
                    let mut p = match (self.family, from) {
                        // IPv4 raw sockets read the IP header too; ICMPv6 ones the message only.
                        (Family::V4, IpAddress::Ipv4(from)) => with_ipv4_header(d, from.octets(), own),
                        (Family::V6, IpAddress::Ipv6(_)) if !self.icmp6_blocked(d[0]) => d.to_vec(),
                        // The other family's reply to the same identifier, or a type `ICMP6_FILTER` blocks
                        // (our own echo request, seen on `lo`, as Linux's raw sockets see it).
                        _ => continue,
                    };
                    let len = p.len();
                    p.truncate(max);
                    return Some(Ok((p, len, IpEndpoint::new(from, 0))));
                }
            }),
            Proto::Udp => wait_stack(nonblock, self.deadline(SO_RCVTIMEO), |s| {
                let hs = match self.udp_handles(s) {
                    Ok(hs) => hs,
                    Err(e) => return Some(Err(e)),
                };
                loop {
                    let h = hs.iter().copied().find(|&h| s.udp(h).can_recv())?;
                    let u = s.udp_mut(h);
                    let from = u.peek().ok()?.1.endpoint;
                    if !self.accepts(from.addr) {
                        // A datagram of the family this socket does not take.
                        let _ = u.recv();
                        continue;
                    }
                    let r = if peek {
                        u.peek().map(|(d, m)| (d.to_vec(), *m))
                    } else {
                        u.recv().map(|(d, m)| (d.to_vec(), m))
                    };
                    let (mut d, _) = r.ok()?;
                    let len = d.len();
                    d.truncate(max);
                    return Some(Ok((d, len, from)));
                }
            }),
        }
    }

    /// `shutdown`: writing ends the TCP stream (FIN); reading is not shut in the stack.
    pub fn shutdown(&self, how: u32) -> Result<(), Errno> {
        if how > 2 {
            return Err(Errno::EINVAL);
        }
        let h = self.tcp_handle()?;
        if how != 0 {
            self.state.lock().wr_shut = true;
            stack::with(|s| s.tcp_mut(h).close());
        }
        Ok(())
    }

    /// Marks the connection's reset reported; false when it was already.
    fn report_reset(&self) -> bool {
        !core::mem::replace(&mut self.state.lock().reset_reported, true)
    }

    /// Its own address.
    pub fn name(&self) -> IpEndpoint {
        let st = self.state.lock();
        let from_stack = match st.conn {
            Conn::Tcp(h) => stack::peek(|s| s.tcp(h).local_endpoint()).flatten(),
            _ => None,
        };
        from_stack.unwrap_or(st.local)
    }

    /// The peer's address; `ENOTCONN` when not connected.
    pub fn peer_name(&self) -> Result<IpEndpoint, Errno> {
        let st = self.state.lock();
        match st.conn {
            Conn::Tcp(h) => stack::peek(|s| s.tcp(h).remote_endpoint())
                .flatten()
                .ok_or(Errno::ENOTCONN),
            _ => st.peer.ok_or(Errno::ENOTCONN),
        }
    }

    /// `SO_ERROR`: a refused connection, or a reset one (reported once: reading `SO_ERROR` clears it).
    pub fn error(&self) -> Option<Errno> {
        let mut st = self.state.lock();
        match st.conn {
            Conn::Tcp(h) if !st.established => stack::peek(|s| s.tcp(h).state() == tcp::State::Closed)
                .unwrap_or(false)
                .then_some(Errno::ECONNREFUSED),
            Conn::Tcp(h) => {
                let reset = stack::peek(|s| st.unreported_reset(s.tcp(h))).unwrap_or(false);
                st.reset_reported |= reset;
                reset.then_some(Errno::ECONNRESET)
            }
            _ => None,
        }
    }
}

fn listen_endpoint(local: IpEndpoint, port: u16) -> IpListenEndpoint {
    let addr = (!local.addr.is_unspecified()).then_some(local.addr);
    IpListenEndpoint { addr, port }
}

impl FileOps for InetSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let (d, _, _) = self.recv(buf.len(), false, nonblock)?;
        buf[..d.len()].copy_from_slice(&d);
        Ok(d.len())
    }

    fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        self.send(data, None, nonblock)
    }

    fn poll(&self) -> u32 {
        let st = self.state.lock();
        let established = st.established;
        let r = stack::peek(|s| match &st.conn {
            Conn::Idle => POLLOUT,
            Conn::Listening(hs) => {
                relisten(s, hs, st.local, st.local.port);
                let ready = hs.iter().any(|&h| {
                    !matches!(
                        s.tcp(h).state(),
                        tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
                    )
                });
                if ready { POLLIN } else { 0 }
            }
            Conn::Tcp(h) => {
                let t = s.tcp(*h);
                let mut ev = 0;
                if t.can_recv() || (established && !t.may_recv()) {
                    ev |= POLLIN;
                }
                if established && !t.may_recv() {
                    ev |= POLLRDHUP;
                }
                if t.can_send() {
                    ev |= POLLOUT;
                }
                if t.state() == tcp::State::Closed {
                    ev |= POLLHUP | if established { 0 } else { POLLERR | POLLOUT };
                }
                if st.unreported_reset(t) {
                    ev |= POLLERR;
                }
                ev
            }
            Conn::Icmp(hs) => hs
                .iter()
                .fold(POLLOUT, |ev, &h| ev | if s.icmp(h).can_recv() { POLLIN } else { 0 }),
            Conn::Udp(hs) => hs.iter().fold(0, |ev, &h| {
                let u = s.udp(h);
                ev | (if u.can_recv() { POLLIN } else { 0 }) | if u.can_send() { POLLOUT } else { 0 }
            }),
        });
        r.unwrap_or(POLLOUT)
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

impl Drop for InetSocket {
    fn drop(&mut self) {
        let linger_zero = self
            .options
            .get_mut()
            .get(&SO_LINGER)
            .is_some_and(|v| v.len() == 8 && v[..4] != [0; 4] && v[4..] == [0; 4]);
        let st = self.state.get_mut();
        if st.local.port != 0 {
            BOUND.lock().remove(&(self.proto == Proto::Tcp, st.local.port));
        }
        let conn = core::mem::replace(&mut st.conn, Conn::Idle);
        if matches!(conn, Conn::Listening(_)) {
            LISTENING.lock().remove(&st.local.port);
        }
        let mcast = &self.mcast;
        stack::with(|s| {
            mcast.leave_all(s);
            match conn {
                Conn::Idle => {}
                Conn::Tcp(h) => {
                    let t = s.tcp_mut(h);
                    if linger_zero {
                        // Sends an RST; the orphan is removed once it is out.
                        t.abort();
                    } else {
                        t.close();
                    }
                    s.orphans.push(h);
                }
                Conn::Listening(hs) | Conn::Udp(hs) | Conn::Icmp(hs) => {
                    for h in hs {
                        s.remove(h);
                    }
                }
            }
        });
    }
}
