//! `AF_VSOCK` stream sockets over the virtio socket device ([`crate::virtio::vsock`]), with the protocol
//! of [`ember_vsock`]: one [`Mux`] holds every listener and connection. A kernel task takes what the device
//! received (packets, and the transport-reset event that Firecracker sends after a snapshot restore) when
//! it interrupts; socket calls act on the mux and send what it queued at once. Without a device,
//! `socket(AF_VSOCK, ...)` fails with `EAFNOSUPPORT`, as on a Linux without a vsock transport.

use crate::event::wait_for;
use crate::fs::file::FileOps;
use crate::fs::poll;
use crate::syscall::errno::Errno;
use crate::virtio::vsock::VirtioVsock;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};
use ember_frame::sync::Mutex;
use ember_frame::task::{Task, WaitQueue};
use ember_vsock::{self as vs, ConnId, Mux, SockAddr, State};
use linux_raw_sys::general::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, S_IFSOCK};

/// The device and the protocol state.
struct Vsock {
    dev: VirtioVsock,
    mux: Mux,
}

static VSOCK: Mutex<Option<Vsock>> = Mutex::new(None);
/// The vsock task waits here.
static SERVICE: WaitQueue = WaitQueue::new();
/// Set when the task should look at the device.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Socket calls waiting for a connection to change.
static WAITERS: WaitQueue = WaitQueue::new();

/// The device's interrupt: the task looks at it soon.
pub fn device_interrupt() {
    PENDING.store(true, Ordering::SeqCst);
    SERVICE.wake_all();
}

/// Takes the first vsock device (nothing without one) and starts its task.
pub fn start(dev: Option<VirtioVsock>) {
    let Some(dev) = dev else { return };
    let mux = Mux::new(dev.cid());
    *VSOCK.lock() = Some(Vsock { dev, mux });
    if Task::spawn(service_task, ()).is_err() {
        log::error!("vsock: no task for the device; vsock sockets will not work");
        *VSOCK.lock() = None;
    }
}

/// Whether there is a vsock device.
pub fn present() -> bool {
    VSOCK.lock().is_some()
}

/// The guest's CID (`IOCTL_VM_SOCKETS_GET_LOCAL_CID`), without a device none.
pub fn local_cid() -> Option<u64> {
    VSOCK.lock().as_ref().map(|v| v.mux.cid())
}

impl Vsock {
    /// Hands the device what the mux queued, as far as it has room; true when anything went.
    fn flush(&mut self) -> bool {
        let mut sent = false;
        while let Some(p) = self.mux.pop_out() {
            let h = &p.header;
            log::debug!(
                "vsock: out {:?} {} -> {} len {} flags {}",
                h.op,
                h.src_port,
                h.dst_port,
                h.len,
                h.flags
            );
            if !self.dev.send(&p.header.encode(), &p.payload) {
                self.mux.unpop_out(p);
                break;
            }
            sent = true;
        }
        sent
    }

    /// Takes everything the device has; true when sockets may have changed.
    fn service(&mut self) -> bool {
        let mut changed = self.dev.reclaim_tx();
        while let Some(bytes) = self.dev.receive() {
            changed = true;
            match vs::parse_packet(&bytes) {
                Ok((h, payload)) => {
                    log::debug!(
                        "vsock: in {:?} {}:{} -> {} len {} flags {} credit {}/{}",
                        h.op,
                        h.src_cid,
                        h.src_port,
                        h.dst_port,
                        h.len,
                        h.flags,
                        h.fwd_cnt,
                        h.buf_alloc
                    );
                    if let Err(why) = self.mux.receive(&h, payload) {
                        log::debug!("vsock: ignored a packet from {}:{}: {why}", h.src_cid, h.src_port);
                    }
                }
                Err(e) => log::debug!("vsock: dropped a received buffer: {e}"),
            }
        }
        // After the packets: Firecracker holds back what arrived after a transport reset until the event is
        // taken (acknowledged), so everything received before it belongs to the connections it ends.
        while let Some(bytes) = self.dev.event() {
            changed = true;
            match vs::parse_event(&bytes) {
                Some(vs::Event::TransportReset) => {
                    let cid = self.dev.cid();
                    log::info!(
                        "vsock: transport reset; connections reset, guest CID {cid} (was {})",
                        self.mux.cid()
                    );
                    self.mux.transport_reset(cid);
                }
                Some(vs::Event::Unknown(id)) => log::debug!("vsock: unknown event {id} ignored"),
                None => log::debug!("vsock: an event of {} bytes ignored", bytes.len()),
            }
        }
        changed | self.flush()
    }
}

fn service_task() {
    loop {
        let changed = match VSOCK.lock().as_mut() {
            Some(v) => v.service(),
            None => return,
        };
        if changed {
            WAITERS.wake_all();
            poll::notify();
        }
        SERVICE.wait_until(|| PENDING.swap(false, Ordering::SeqCst).then_some(()));
    }
}

/// Runs `f` on the mux and sends what it queued; `ENODEV` without a device. (Nothing a socket call does
/// changes another socket: only the peer's packets and the device's progress do, which the task reports.)
fn with<R>(f: impl FnOnce(&mut Mux) -> R) -> Result<R, Errno> {
    let mut guard = VSOCK.lock();
    let v = guard.as_mut().ok_or(Errno::ENODEV)?;
    let r = f(&mut v.mux);
    v.flush();
    Ok(r)
}

/// Runs `f` on the mux, waiting while it gives `WouldBlock`.
fn wait_mux<T>(nonblock: bool, mut f: impl FnMut(&mut Mux) -> Result<T, vs::Error>) -> Result<T, Errno> {
    wait_for(&WAITERS, nonblock, || match with(&mut f) {
        Ok(Err(vs::Error::WouldBlock)) => None,
        Ok(r) => Some(r.map_err(errno)),
        Err(e) => Some(Err(e)),
    })
}

fn errno(e: vs::Error) -> Errno {
    match e {
        vs::Error::AddrInUse => Errno::EADDRINUSE,
        vs::Error::NotConnected => Errno::ENOTCONN,
        // Linux's virtio transport reports a refused connection as a reset.
        vs::Error::Refused | vs::Error::Reset => Errno::ECONNRESET,
        vs::Error::Pipe => Errno::EPIPE,
        vs::Error::WouldBlock => Errno::EAGAIN,
        vs::Error::NoPorts => Errno::EADDRNOTAVAIL,
    }
}

enum Conn {
    Idle,
    Listening,
    Connected(ConnId),
}

struct SockState {
    /// The bound address (`PORT_ANY`: none yet).
    local: SockAddr,
    /// Whether this socket owns `local.port` (accepted ones share their listener's).
    owns_port: bool,
    conn: Conn,
}

/// An `AF_VSOCK` stream socket.
pub struct VsockSocket {
    state: Mutex<SockState>,
    options: Mutex<BTreeMap<(u32, u32), Vec<u8>>>,
}

impl VsockSocket {
    /// A new unbound socket; `EAFNOSUPPORT` without a vsock device.
    pub fn new() -> Result<Arc<VsockSocket>, Errno> {
        if !present() {
            return Err(Errno::EAFNOSUPPORT);
        }
        Ok(Self::with_state(SockState {
            local: SockAddr {
                cid: vs::CID_ANY,
                port: vs::PORT_ANY,
            },
            owns_port: false,
            conn: Conn::Idle,
        }))
    }

    fn with_state(st: SockState) -> Arc<VsockSocket> {
        Arc::new(VsockSocket {
            state: Mutex::new(st),
            options: Mutex::new(BTreeMap::new()),
        })
    }

    /// Keeps the value of option `name` at `level` (`setsockopt`).
    pub fn set_option(&self, level: u32, name: u32, value: Vec<u8>) {
        self.options.lock().insert((level, name), value);
    }

    /// The value option `name` at `level` was set to.
    pub fn option(&self, level: u32, name: u32) -> Option<Vec<u8>> {
        self.options.lock().get(&(level, name)).cloned()
    }

    /// `bind`: to `VMADDR_CID_ANY` or the guest's CID; `VMADDR_PORT_ANY` picks a port.
    pub fn bind(&self, addr: SockAddr) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if st.local.port != vs::PORT_ANY {
            return Err(Errno::EINVAL);
        }
        let cid = local_cid().ok_or(Errno::ENODEV)?;
        if addr.cid != vs::CID_ANY && u64::from(addr.cid) != cid {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let port = with(|m| m.bind(addr.port))?.map_err(errno)?;
        st.local = SockAddr { cid: addr.cid, port };
        st.owns_port = true;
        Ok(())
    }

    /// `listen` on the bound port (`EINVAL` when unbound or connected).
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        let mut st = self.state.lock();
        match st.conn {
            Conn::Idle if st.local.port != vs::PORT_ANY => {}
            Conn::Listening => {}
            _ => return Err(Errno::EINVAL),
        }
        let port = st.local.port;
        with(|m| m.listen(port, backlog.clamp(1, 128) as usize))?;
        st.conn = Conn::Listening;
        Ok(())
    }

    /// Whether it listens.
    pub fn listening(&self) -> bool {
        matches!(self.state.lock().conn, Conn::Listening)
    }

    /// `accept`: the next connection made to the listening port, and the peer's address.
    pub fn accept(&self, nonblock: bool) -> Result<(Arc<VsockSocket>, SockAddr), Errno> {
        let local = {
            let st = self.state.lock();
            if !matches!(st.conn, Conn::Listening) {
                return Err(Errno::EINVAL);
            }
            st.local
        };
        let id = wait_mux(nonblock, |m| m.accept(local.port).ok_or(vs::Error::WouldBlock))?;
        let peer = SockAddr {
            cid: id.peer_cid as u32,
            port: id.peer_port,
        };
        let conn = Self::with_state(SockState {
            local,
            owns_port: false,
            conn: Conn::Connected(id),
        });
        Ok((conn, peer))
    }

    /// `connect` to `to` (`EINPROGRESS` when `nonblock`); a refused connection gives `ECONNRESET`, as Linux.
    pub fn connect(&self, to: SockAddr, nonblock: bool) -> Result<(), Errno> {
        let id = {
            let mut st = self.state.lock();
            match st.conn {
                Conn::Idle => {}
                Conn::Listening => return Err(Errno::EINVAL),
                Conn::Connected(id) => {
                    match with(|m| m.conn(id).map(|c| c.state()))? {
                        Some(State::Connecting) => return Err(Errno::EALREADY),
                        Some(State::Connected) => return Err(Errno::EISCONN),
                        // A failed attempt: try again.
                        _ => with(|m| m.close(id))?,
                    }
                }
            }
            if st.local.port == vs::PORT_ANY {
                st.local.port = with(|m| m.bind(vs::PORT_ANY))?.map_err(errno)?;
                st.owns_port = true;
            }
            let port = st.local.port;
            let id = with(|m| m.connect(port, u64::from(to.cid), to.port))?.map_err(errno)?;
            st.conn = Conn::Connected(id);
            id
        };
        if nonblock {
            return Err(Errno::EINPROGRESS);
        }
        wait_mux(false, |m| match m.conn(id).map(|c| c.state()) {
            Some(State::Connecting) => Err(vs::Error::WouldBlock),
            Some(State::Connected) => Ok(()),
            Some(State::Refused) => Err(vs::Error::Refused),
            _ => Err(vs::Error::Reset),
        })
    }

    fn conn_id(&self) -> Result<ConnId, Errno> {
        match self.state.lock().conn {
            Conn::Connected(id) => Ok(id),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// Sends `data`: all of it unless `nonblock` (then what the peer has room for, or `EAGAIN`).
    pub fn send(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let id = self.conn_id()?;
        let mut done = 0;
        loop {
            match wait_mux(nonblock, |m| m.send(id, &data[done..])) {
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                // Part went: report it (the error comes again on the next call).
                Err(_) => return Ok(done),
            }
            if done >= data.len() || nonblock {
                return Ok(done);
            }
        }
    }

    /// Receives up to `max` bytes (`peek`: leaves them); empty at the end of the stream.
    pub fn recv(&self, max: usize, peek: bool, nonblock: bool) -> Result<Vec<u8>, Errno> {
        let id = self.conn_id()?;
        wait_mux(nonblock, |m| m.recv(id, max, peek))
    }

    /// `shutdown`: `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub fn shutdown(&self, how: u32) -> Result<(), Errno> {
        let flags = match how {
            0 => vs::SHUTDOWN_RCV,
            1 => vs::SHUTDOWN_SEND,
            2 => vs::SHUTDOWN_BOTH,
            _ => return Err(Errno::EINVAL),
        };
        let id = self.conn_id()?;
        with(|m| m.shutdown(id, flags))?.map_err(errno)
    }

    /// Its own address: the guest's CID once connected, else the bound one.
    pub fn name(&self) -> SockAddr {
        let st = self.state.lock();
        match st.conn {
            Conn::Connected(_) => SockAddr {
                cid: local_cid().map_or(vs::CID_ANY, |c| c as u32),
                port: st.local.port,
            },
            _ => st.local,
        }
    }

    /// The peer's address (`ENOTCONN` unless connected).
    pub fn peer_name(&self) -> Result<SockAddr, Errno> {
        let id = self.conn_id()?;
        match with(|m| m.conn(id).map(|c| c.state()))? {
            Some(State::Connected | State::Closed) => Ok(SockAddr {
                cid: id.peer_cid as u32,
                port: id.peer_port,
            }),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// The pending error `SO_ERROR` reports (a failed connection's).
    pub fn error(&self) -> Option<Errno> {
        let id = self.conn_id().ok()?;
        match with(|m| m.conn(id).map(|c| c.state())).ok()?? {
            State::Refused | State::TransportReset => Some(Errno::ECONNRESET),
            _ => None,
        }
    }
}

impl FileOps for VsockSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let data = self.recv(buf.len(), false, nonblock)?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        self.send(data, nonblock)
    }

    fn poll(&self) -> u32 {
        let st = self.state.lock();
        let guard = VSOCK.lock();
        let Some(v) = guard.as_ref() else {
            return POLLERR | POLLHUP;
        };
        match st.conn {
            Conn::Idle => POLLOUT | POLLHUP,
            Conn::Listening => {
                if v.mux.pending(st.local.port) > 0 {
                    POLLIN
                } else {
                    0
                }
            }
            Conn::Connected(id) => {
                let Some(c) = v.mux.conn(id) else {
                    return POLLERR | POLLHUP;
                };
                let mut ev = 0;
                if c.readable() {
                    ev |= POLLIN;
                }
                if c.writable() {
                    ev |= POLLOUT;
                }
                match c.state() {
                    State::Refused | State::TransportReset => ev |= POLLERR | POLLHUP,
                    State::Closed => ev |= POLLHUP | POLLRDHUP,
                    _ if c.peer_shutdown() & vs::SHUTDOWN_SEND != 0 => ev |= POLLRDHUP,
                    _ => {}
                }
                if c.local_shutdown() == vs::SHUTDOWN_BOTH {
                    ev |= POLLHUP;
                }
                ev
            }
        }
    }

    fn available(&self) -> usize {
        let Ok(id) = self.conn_id() else { return 0 };
        VSOCK
            .lock()
            .as_ref()
            .and_then(|v| v.mux.conn(id).map(|c| c.available()))
            .unwrap_or(0)
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

impl Drop for VsockSocket {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        let (conn, port, owns) = (
            core::mem::replace(&mut st.conn, Conn::Idle),
            st.local.port,
            st.owns_port,
        );
        let _ = with(|m| {
            match conn {
                Conn::Connected(id) => m.close(id),
                Conn::Listening => m.unlisten(port),
                Conn::Idle => {}
            }
            if owns {
                m.unbind(port);
            }
        });
    }
}
