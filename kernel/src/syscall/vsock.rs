//! The socket calls on `AF_VSOCK` sockets ([`crate::net::vsock`]): `socket`, `bind`, `listen`, `accept`/
//! `accept4`, `connect`, `send*`/`recv*`, `shutdown`, `getsockname`, `getpeername`, `setsockopt`/
//! `getsockopt`. Calls on other sockets fall through to [`super::socket`].

use super::errno::{Errno, SysResult};
use super::socket::{MAX_RECV, MAX_RW, gather, iov_total, iovecs, read_msghdr, read_raw_addr, scatter, write_addr};
use super::uaccess;
use crate::fs::OpenFile;
use crate::fs::file::Handle;
use crate::net::vsock::VsockSocket;
use crate::process::{current_files, signal_current_thread};
use alloc::vec;
use alloc::vec::Vec;
use ember_vsock::{AF_VSOCK, BUF_ALLOC, SockAddr};
use linux_raw_sys::general::{self as nr, O_NONBLOCK, O_RDWR};

const SOCK_STREAM: u32 = 1;
const SOCK_TYPE_MASK: u32 = 0xf;
const SOCK_CLOEXEC: u32 = 0o2000000;
const MSG_OOB: u32 = 1;
const MSG_PEEK: u32 = 2;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_NOSIGNAL: u32 = 0x4000;
const SOL_SOCKET: u32 = 1;
const SO_TYPE: u32 = 3;
const SO_ERROR: u32 = 4;
const SO_ACCEPTCONN: u32 = 30;
const SO_PROTOCOL: u32 = 38;
const SO_DOMAIN: u32 = 39;
/// `SOL_VSOCK`, the level of the `SO_VM_SOCKETS_*` options.
const SOL_VSOCK: u32 = 287;
/// `SO_VM_SOCKETS_BUFFER_SIZE`, `_MIN_SIZE`, `_MAX_SIZE`: the receive buffer (a `u64`).
const SO_VM_SOCKETS_BUFFER_SIZES: [u32; 3] = [0, 1, 2];
/// The largest option value kept.
const OPT_MAX: u64 = 16;
const SIGPIPE: u32 = 13;

/// Runs socket call `n` when it is about `AF_VSOCK`; `None` otherwise.
pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    let n = u32::try_from(n).ok()?;
    let family = a[0] as u32;
    match n {
        nr::__NR_socket if family == u32::from(AF_VSOCK) => return Some(socket(a[1] as u32, a[2] as u32)),
        nr::__NR_socketpair if family == u32::from(AF_VSOCK) => return Some(Err(Errno::EOPNOTSUPP)),
        nr::__NR_bind
        | nr::__NR_listen
        | nr::__NR_accept
        | nr::__NR_accept4
        | nr::__NR_connect
        | nr::__NR_shutdown
        | nr::__NR_getsockname
        | nr::__NR_getpeername
        | nr::__NR_sendto
        | nr::__NR_recvfrom
        | nr::__NR_sendmsg
        | nr::__NR_recvmsg
        | nr::__NR_setsockopt
        | nr::__NR_getsockopt => {}
        _ => return None,
    }
    // A bad descriptor or another kind of socket: the general socket calls report it.
    let f = current_files().lock().get(a[0] as i32)?;
    let s = f.other_arc::<VsockSocket>()?;
    Some(match n {
        nr::__NR_bind => read_addr(a[1], a[2]).and_then(|addr| s.bind(addr)).map(|()| 0),
        nr::__NR_listen => s.listen(a[1] as i32).map(|()| 0),
        nr::__NR_accept => accept(&f, &s, a[1], a[2], 0),
        nr::__NR_accept4 => accept(&f, &s, a[1], a[2], a[3] as u32),
        nr::__NR_connect => read_addr(a[1], a[2])
            .and_then(|to| s.connect(to, f.flags() & O_NONBLOCK != 0))
            .map(|()| 0),
        nr::__NR_shutdown => s.shutdown(a[1] as u32).map(|()| 0),
        nr::__NR_getsockname => write_addr(a[1], a[2], &s.name().encode()).map(|()| 0),
        nr::__NR_getpeername => s
            .peer_name()
            .and_then(|p| write_addr(a[1], a[2], &p.encode()))
            .map(|()| 0),
        nr::__NR_sendto => {
            gather(&[(a[1], usize::try_from(a[2]).unwrap_or(MAX_RW))]).and_then(|data| send(&f, &s, &data, a[3] as u32))
        }
        nr::__NR_recvfrom => recvfrom(&f, &s, a[1], a[2], a[3] as u32, a[4], a[5]),
        nr::__NR_sendmsg => read_msghdr(a[1])
            .and_then(|m| iovecs(m.iov, m.iov_len))
            .and_then(|iov| gather(&iov))
            .and_then(|data| send(&f, &s, &data, a[2] as u32)),
        nr::__NR_recvmsg => recvmsg(&f, &s, a[1], a[2] as u32),
        nr::__NR_setsockopt => setsockopt(&s, a[1] as u32, a[2] as u32, a[3], a[4]),
        _ => getsockopt(&s, a[1] as u32, a[2] as u32, a[3], a[4]),
    })
}

fn socket(ty: u32, protocol: u32) -> SysResult {
    if ty & !(SOCK_TYPE_MASK | O_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if ty & SOCK_TYPE_MASK != SOCK_STREAM {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    if protocol != 0 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let file = OpenFile::new(None, Handle::Other(VsockSocket::new()?), O_RDWR | (ty & O_NONBLOCK));
    Ok(current_files().lock().install(file, ty & SOCK_CLOEXEC != 0)? as u64)
}

/// Reads a `sockaddr_vm` (`EINVAL` when short, `EAFNOSUPPORT` of another family, as Linux).
fn read_addr(addr: u64, len: u64) -> Result<SockAddr, Errno> {
    let raw = read_raw_addr(addr, len)?;
    if raw.len() >= 2 && u16::from_ne_bytes([raw[0], raw[1]]) != AF_VSOCK {
        return Err(Errno::EAFNOSUPPORT);
    }
    SockAddr::parse(&raw).ok_or(Errno::EINVAL)
}

fn accept(f: &OpenFile, s: &VsockSocket, addr: u64, len_addr: u64, flags: u32) -> SysResult {
    if flags & !(O_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let (conn, peer) = s.accept(f.flags() & O_NONBLOCK != 0)?;
    let file = OpenFile::new(None, Handle::Other(conn), O_RDWR | (flags & O_NONBLOCK));
    let new = current_files().lock().install(file, flags & SOCK_CLOEXEC != 0)?;
    if let Err(e) = write_addr(addr, len_addr, &peer.encode()) {
        let undone = current_files().lock().remove(new);
        drop(undone);
        return Err(e);
    }
    Ok(new as u64)
}

fn nonblocking(f: &OpenFile, flags: u32) -> bool {
    f.flags() & O_NONBLOCK != 0 || flags & MSG_DONTWAIT != 0
}

/// Sends `data`; `EPIPE` raises `SIGPIPE` unless `MSG_NOSIGNAL`.
fn send(f: &OpenFile, s: &VsockSocket, data: &[u8], flags: u32) -> SysResult {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    match s.send(data, nonblocking(f, flags)) {
        Err(Errno::EPIPE) if flags & MSG_NOSIGNAL == 0 => {
            signal_current_thread(SIGPIPE);
            Err(Errno::EPIPE)
        }
        r => r.map(|n| n as u64),
    }
}

fn recv(f: &OpenFile, s: &VsockSocket, max: usize, flags: u32) -> Result<Vec<u8>, Errno> {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    s.recv(max, flags & MSG_PEEK != 0, nonblocking(f, flags))
}

fn recvfrom(f: &OpenFile, s: &VsockSocket, buf: u64, len: u64, flags: u32, addr: u64, addr_len: u64) -> SysResult {
    let max = usize::try_from(len).unwrap_or(MAX_RECV).min(MAX_RECV);
    let data = recv(f, s, max, flags)?;
    uaccess::write_bytes(buf, &data)?;
    if let Ok(peer) = s.peer_name() {
        write_addr(addr, addr_len, &peer.encode())?;
    }
    Ok(data.len() as u64)
}

fn recvmsg(f: &OpenFile, s: &VsockSocket, msg_addr: u64, flags: u32) -> SysResult {
    let m = read_msghdr(msg_addr)?;
    let iov = iovecs(m.iov, m.iov_len)?;
    let data = recv(f, s, iov_total(&iov), flags)?;
    scatter(&iov, &data)?;
    let mut name_len = 0;
    if m.name != 0
        && let Ok(peer) = s.peer_name()
    {
        let peer = peer.encode();
        let n = peer.len().min(m.name_len as usize);
        uaccess::write_bytes(m.name, &peer[..n])?;
        name_len = peer.len() as u32;
    }
    uaccess::write_u32(msg_addr + 8, name_len)?;
    uaccess::write_u64(msg_addr + 40, 0)?;
    uaccess::write_u32(msg_addr + 48, 0)?;
    Ok(data.len() as u64)
}

fn setsockopt(s: &VsockSocket, level: u32, name: u32, val: u64, len: u64) -> SysResult {
    if level != SOL_SOCKET && level != SOL_VSOCK {
        return Err(Errno::ENOPROTOOPT);
    }
    if level == SOL_SOCKET && matches!(name, SO_TYPE | SO_ERROR | SO_ACCEPTCONN | SO_PROTOCOL | SO_DOMAIN) {
        return Err(Errno::ENOPROTOOPT);
    }
    if len > OPT_MAX || len == 0 {
        return Err(Errno::EINVAL);
    }
    let mut v = vec![0u8; len as usize];
    uaccess::read_bytes(val, &mut v)?;
    s.set_option(level, name, v);
    Ok(0)
}

fn getsockopt(s: &VsockSocket, level: u32, name: u32, val: u64, len_addr: u64) -> SysResult {
    let room = uaccess::read_u32(len_addr)? as i32;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let int = |v: u32| v.to_ne_bytes().to_vec();
    let value = match (level, name) {
        (SOL_SOCKET, SO_TYPE) => int(SOCK_STREAM),
        (SOL_SOCKET, SO_PROTOCOL) => int(0),
        (SOL_SOCKET, SO_DOMAIN) => int(AF_VSOCK.into()),
        (SOL_SOCKET, SO_ERROR) => int(s.error().map_or(0, |e| e.0)),
        (SOL_SOCKET, SO_ACCEPTCONN) => int(s.listening().into()),
        (SOL_SOCKET, _) => s.option(level, name).unwrap_or_else(|| int(0)),
        (SOL_VSOCK, n) if SO_VM_SOCKETS_BUFFER_SIZES.contains(&n) => s
            .option(level, name)
            .unwrap_or_else(|| u64::from(BUF_ALLOC).to_ne_bytes().to_vec()),
        (SOL_VSOCK, _) => s.option(level, name).ok_or(Errno::ENOPROTOOPT)?,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let n = value.len().min(room as usize);
    uaccess::write_bytes(val, &value[..n])?;
    uaccess::write_u32(len_addr, n as u32)?;
    Ok(0)
}
