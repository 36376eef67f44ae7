//! `AF_NETLINK` sockets of protocol `NETLINK_ROUTE`, enough for busybox `ip addr`, `ip link` and `ip route`:
//! a request datagram is answered at once into the socket's queue of datagrams. `RTM_GETLINK`,
//! `RTM_GETADDR` and `RTM_GETROUTE` dumps list [`super::stack::interfaces`] (addresses and routes of the
//! family asked for, IPv4 and IPv6); `RTM_NEWADDR`/`RTM_DELADDR`, `RTM_NEWROUTE`/`RTM_DELROUTE` and
//! `RTM_NEWLINK`/`RTM_SETLINK` change them ([`super::rtconfig`], privileged), answered by an `NLMSG_ERROR`
//! (0 when asked with `NLM_F_ACK`); anything else gets `EOPNOTSUPP`. The message formats are in
//! `ember_netconf::netlink` and `ember_netconf::rtchange`.

use crate::event::{timeout_deadline, wait_for_until};
use crate::fs::file::FileOps;
use crate::process::current;
use crate::syscall::errno::Errno;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use ember_creds::caps::CAP_NET_ADMIN;
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use ember_netconf::netlink::{self as nl, Header};
use linux_raw_sys::general::{POLLIN, POLLOUT, S_IFSOCK};

/// `AF_NETLINK`.
pub const AF_NETLINK: u16 = 16;
/// Bytes of `struct sockaddr_nl`.
pub const SOCKADDR_NL_LEN: usize = 12;
/// Most answer datagrams a socket holds before requests are refused (`ENOBUFS`).
const QUEUE: usize = 64;
/// `SO_RCVTIMEO`.
const SO_RCVTIMEO: u32 = 20;

/// A `NETLINK_ROUTE` socket.
pub struct NetlinkSocket {
    /// The port id (`nl_pid`): the process id, set at `bind` or the first send.
    port: Mutex<u32>,
    queue: Mutex<VecDeque<Vec<u8>>>,
    waiters: WaitQueue,
    options: Mutex<BTreeMap<u32, Vec<u8>>>,
}

/// `struct sockaddr_nl` for port `pid` (0: the kernel).
pub fn sockaddr(pid: u32) -> Vec<u8> {
    let mut a = alloc::vec![0u8; SOCKADDR_NL_LEN];
    a[..2].copy_from_slice(&AF_NETLINK.to_ne_bytes());
    a[4..8].copy_from_slice(&pid.to_ne_bytes());
    a
}

impl NetlinkSocket {
    /// A new socket, not yet bound.
    pub fn new() -> Arc<NetlinkSocket> {
        Arc::new(NetlinkSocket {
            port: Mutex::new(0),
            queue: Mutex::new(VecDeque::new()),
            waiters: WaitQueue::new(),
            options: Mutex::new(BTreeMap::new()),
        })
    }

    fn port(&self) -> u32 {
        let mut p = self.port.lock();
        if *p == 0 {
            *p = current().pid();
        }
        *p
    }

    /// `bind`: a `sockaddr_nl`; port 0 takes the process id. Multicast groups are not offered.
    pub fn bind(&self, raw: &[u8]) -> Result<(), Errno> {
        if raw.len() < SOCKADDR_NL_LEN || u16::from_ne_bytes([raw[0], raw[1]]) != AF_NETLINK {
            return Err(Errno::EINVAL);
        }
        let pid = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
        if pid != 0 {
            *self.port.lock() = pid;
        }
        self.port();
        Ok(())
    }

    /// Its own address.
    pub fn name(&self) -> Vec<u8> {
        sockaddr(*self.port.lock())
    }

    /// Keeps the value of option `name` (`setsockopt`).
    pub fn set_option(&self, name: u32, value: Vec<u8>) {
        self.options.lock().insert(name, value);
    }

    /// The value option `name` was set to.
    pub fn option(&self, name: u32) -> Option<Vec<u8>> {
        self.options.lock().get(&name).cloned()
    }

    /// Takes one request datagram and queues the answer.
    pub fn send(&self, data: &[u8]) -> Result<usize, Errno> {
        let msgs = nl::parse(data).map_err(|_| Errno::EINVAL)?;
        let pid = self.port();
        let mut answer = Vec::new();
        for (h, payload) in &msgs {
            self.answer(&mut answer, h, payload, pid);
        }
        if !answer.is_empty() {
            let mut q = self.queue.lock();
            if q.len() >= QUEUE {
                return Err(Errno::ENOBUFS);
            }
            q.push_back(answer);
        }
        self.waiters.wake_all();
        crate::fs::poll::notify();
        Ok(data.len())
    }

    fn answer(&self, out: &mut Vec<u8>, h: &Header, payload: &[u8], pid: u32) {
        if h.flags & nl::NLM_F_REQUEST == 0 {
            return;
        }
        if matches!(h.ty, nl::RTM_GETLINK | nl::RTM_GETADDR | nl::RTM_GETROUTE) {
            return dump(out, h, payload, pid);
        }
        let r = change(h.ty, payload);
        match r {
            Ok(()) if h.flags & nl::NLM_F_ACK == 0 => {}
            Ok(()) => nl::error(out, h, pid, 0),
            Err(e) => nl::error(out, h, pid, e.0 as i32),
        }
    }

    /// Takes the next answer datagram (up to `max` bytes; `peek` leaves it): the bytes and its whole length.
    pub fn recv(&self, max: usize, peek: bool, nonblock: bool) -> Result<(Vec<u8>, usize), Errno> {
        let deadline = timeout_deadline(self.options.lock().get(&SO_RCVTIMEO).map(|v| &v[..]));
        wait_for_until(&self.waiters, nonblock, deadline, || {
            let mut q = self.queue.lock();
            let d = if peek { q.front().cloned()? } else { q.pop_front()? };
            let len = d.len();
            Some(Ok((d[..len.min(max)].to_vec(), len)))
        })
    }
}

/// Answers a `RTM_GET*` request: a dump of every interface (of the family the request names, 0 for all).
fn dump(out: &mut Vec<u8>, h: &Header, payload: &[u8], pid: u32) {
    if h.flags & nl::NLM_F_DUMP == 0 {
        return nl::error(out, h, pid, Errno::EOPNOTSUPP.0 as i32);
    }
    let family = payload.first().copied().unwrap_or(0);
    for i in super::stack::interfaces() {
        match h.ty {
            nl::RTM_GETLINK => nl::link(out, h.seq, pid, &i),
            nl::RTM_GETADDR => nl::addr(out, h.seq, pid, &i, family),
            _ => nl::routes(out, h.seq, pid, &i, family),
        }
    }
    nl::done(out, h.seq, pid);
}

/// Carries out a change request; `EPERM` unprivileged, `EINVAL` malformed, `EOPNOTSUPP` for what is not
/// offered.
fn change(ty: u16, payload: &[u8]) -> Result<(), Errno> {
    use super::rtconfig;
    use ember_netconf::rtchange::{self as rc, RTM_DELADDR, RTM_DELROUTE, RTM_SETLINK};
    if !matches!(
        ty,
        nl::RTM_NEWADDR | RTM_DELADDR | nl::RTM_NEWROUTE | RTM_DELROUTE | nl::RTM_NEWLINK | RTM_SETLINK
    ) {
        return Err(Errno::EOPNOTSUPP);
    }
    if !current().creds().capable(CAP_NET_ADMIN) {
        return Err(Errno::EPERM);
    }
    let malformed = |_| Errno::EINVAL;
    match ty {
        nl::RTM_NEWADDR | RTM_DELADDR => {
            rtconfig::change_addr(rc::addr_change(payload).map_err(malformed)?, ty == nl::RTM_NEWADDR)
        }
        nl::RTM_NEWROUTE | RTM_DELROUTE => {
            rtconfig::change_route(rc::route_change(payload).map_err(malformed)?, ty == nl::RTM_NEWROUTE)
        }
        _ => rtconfig::change_link(rc::link_change(payload).map_err(malformed)?),
    }
}

impl FileOps for NetlinkSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let (d, _) = self.recv(buf.len(), false, nonblock)?;
        buf[..d.len()].copy_from_slice(&d);
        Ok(d.len())
    }

    fn write(&self, data: &[u8], _nonblock: bool) -> Result<usize, Errno> {
        self.send(data)
    }

    fn poll(&self) -> u32 {
        POLLOUT | if self.queue.lock().is_empty() { 0 } else { POLLIN }
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
