//! The socket calls: `socket`, `socketpair`, `bind`, `listen`, `accept`/`accept4`, `connect`, `send*`/
//! `recv*` (with iovecs and `SCM_RIGHTS`), `shutdown`, `getsockname`, `getpeername`, `setsockopt`/
//! `getsockopt`, for `AF_UNIX` ([`crate::net::unix`]), `AF_INET`/`AF_INET6` ([`crate::net::inet`]) and `AF_NETLINK`
//! ([`crate::net::netlink`]) (`AF_VSOCK` has its own, [`super::vsock`], which uses the helpers here); other
//! families give `EAFNOSUPPORT`.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::fs::OpenFile;
use crate::fs::file::FileOps;
use crate::fs::file::Handle;
use crate::net::inet::{InetSocket, Proto};
use crate::net::ipaddr::Family;
use crate::net::netlink::{self, NetlinkSocket};
use crate::net::unix::{SockType, UnixSocket};
use crate::process::{current, current_files, signal_current_thread};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use ember_creds::caps::CAP_NET_RAW;
use ember_sockmsg::{self as sm, MsgHdr, UnixAddr};
use linux_raw_sys::general::{self as nr, O_NONBLOCK, O_RDWR};

const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_RAW: u32 = 3;
const SOCK_SEQPACKET: u32 = 5;
const SOCK_TYPE_MASK: u32 = 0xf;
const SOCK_NONBLOCK: u32 = O_NONBLOCK;
const SOCK_CLOEXEC: u32 = 0o2000000;
const AF_UNIX: u32 = 1;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const AF_NETLINK: u32 = 16;
/// `IPPROTO_IP` (`SOL_IP`).
const IPPROTO_IP: u32 = 0;
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_IPV6: u32 = 41;
const IPPROTO_ICMPV6: u32 = 58;
/// `SOL_RAW` (raw sockets' `IPV6_CHECKSUM`).
const SOL_RAW: u32 = 255;
const IPV6_V6ONLY: u32 = 26;
/// Most bytes kept of an IPv6-level option's value (and read of an `IPPROTO_IP` one: `ip_mreqn` is 12).
const IPV6_OPT_MAX: usize = 64;
const MSG_OOB: u32 = 1;
const MSG_PEEK: u32 = 2;
const MSG_CTRUNC: u32 = 8;
const MSG_TRUNC: u32 = 0x20;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITALL: u32 = 0x100;
const MSG_NOSIGNAL: u32 = 0x4000;
const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;
const SOL_SOCKET: u32 = 1;
const SO_TYPE: u32 = 3;
const SO_ERROR: u32 = 4;
const SO_SNDBUF: u32 = 7;
const SO_RCVBUF: u32 = 8;
const SO_LINGER: u32 = 13;
const SO_PEERCRED: u32 = 17;
const SO_RCVTIMEO: u32 = 20;
const SO_SNDTIMEO: u32 = 21;
const SO_ACCEPTCONN: u32 = 30;
const SO_PROTOCOL: u32 = 38;
const SO_DOMAIN: u32 = 39;
/// The largest socket address a call takes (`struct sockaddr_storage`).
const SOCKADDR_MAX: u32 = 128;
/// The most bytes one call moves (Linux's `MAX_RW_COUNT`).
pub(super) const MAX_RW: usize = 0x7fff_f000;
/// The most bytes one send takes from the caller (a stream send moves the rest in later calls; larger
/// messages are too big for any queue anyway).
const MAX_SEND: usize = 256 * 1024;
/// The most bytes one receive asks a socket for.
pub(super) const MAX_RECV: usize = 256 * 1024;
/// The most `iovec`s one call takes (`UIO_MAXIOV`).
const MAX_IOV: u64 = 1024;
/// The most control bytes a `sendmsg` takes.
const MAX_CONTROL: u64 = 64 * 1024;
/// `SIGPIPE`.
const SIGPIPE: u32 = 13;

/// Runs socket call `n` with arguments `a`; `None` when `n` is not one of them.
pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    let fd = a[0] as i32;
    Some(match u32::try_from(n).ok()? {
        nr::__NR_socket => socket(a[0] as u32, a[1] as u32, a[2] as u32),
        nr::__NR_socketpair => socketpair(a[0] as u32, a[1] as u32, a[2] as u32, a[3]),
        nr::__NR_bind => bind(fd, a[1], a[2]),
        nr::__NR_listen => sock(fd).and_then(|(_, s)| s.listen(a[1] as i32).map(|()| 0)),
        nr::__NR_accept => accept(fd, a[1], a[2], 0),
        nr::__NR_accept4 => accept(fd, a[1], a[2], a[3] as u32),
        nr::__NR_connect => connect(fd, a[1], a[2]),
        nr::__NR_shutdown => sock(fd).and_then(|(_, s)| s.shutdown(a[1] as u32).map(|()| 0)),
        nr::__NR_getsockname => sock(fd).and_then(|(_, s)| write_addr(a[1], a[2], &s.name()).map(|()| 0)),
        nr::__NR_getpeername => sock(fd).and_then(|(_, s)| write_addr(a[1], a[2], &s.peer_name()?).map(|()| 0)),
        nr::__NR_sendto => sendto(fd, a[1], a[2], a[3] as u32, a[4], a[5]),
        nr::__NR_recvfrom => recvfrom(fd, a[1], a[2], a[3] as u32, a[4], a[5]),
        nr::__NR_sendmsg => sendmsg(fd, a[1], a[2] as u32),
        nr::__NR_sendmmsg => sendmmsg(fd, a[1], a[2] as u32, a[3] as u32),
        nr::__NR_recvmsg => recvmsg(fd, a[1], a[2] as u32),
        nr::__NR_setsockopt => setsockopt(fd, a[1] as u32, a[2] as u32, a[3], a[4]),
        nr::__NR_getsockopt => getsockopt(fd, a[1] as u32, a[2] as u32, a[3], a[4]),
        _ => return None,
    })
}

/// A socket of any family.
enum Sock {
    Unix(Arc<UnixSocket>),
    Inet(Arc<InetSocket>),
    Netlink(Arc<NetlinkSocket>),
}

impl Sock {
    fn listen(&self, backlog: i32) -> Result<(), Errno> {
        match self {
            Sock::Unix(s) => s.listen(backlog),
            Sock::Inet(s) => s.listen(backlog),
            Sock::Netlink(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    fn shutdown(&self, how: u32) -> Result<(), Errno> {
        match self {
            Sock::Unix(s) => s.shutdown(how),
            Sock::Inet(s) => s.shutdown(how),
            Sock::Netlink(_) => Ok(()),
        }
    }

    /// Its own address, encoded.
    fn name(&self) -> Vec<u8> {
        match self {
            Sock::Unix(s) => s.name().encode(),
            Sock::Inet(s) => s.family().encode(s.name()),
            Sock::Netlink(s) => s.name(),
        }
    }

    /// The peer's address, encoded.
    fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        match self {
            Sock::Unix(s) => s.peer_name().map(|a| a.encode()),
            Sock::Inet(s) => s.peer_name().map(|a| s.family().encode(a)),
            Sock::Netlink(_) => Ok(netlink::sockaddr(0)),
        }
    }

    fn set_option(&self, name: u32, v: Vec<u8>) {
        match self {
            Sock::Unix(s) => s.set_option(name, v),
            Sock::Inet(s) => s.set_option(name, v),
            Sock::Netlink(s) => s.set_option(name, v),
        }
    }

    fn option(&self, name: u32) -> Option<Vec<u8>> {
        match self {
            Sock::Unix(s) => s.option(name),
            Sock::Inet(s) => s.option(name),
            Sock::Netlink(s) => s.option(name),
        }
    }
}

/// The open file and socket behind `fd`: `EBADF`, or `ENOTSOCK` when it is another kind of file.
fn sock(fd: i32) -> Result<(Arc<OpenFile>, Sock), Errno> {
    let f = current_files().lock().get(fd).ok_or(Errno::EBADF)?;
    let s = match (f.other_arc::<UnixSocket>(), f.other_arc::<InetSocket>()) {
        (Some(u), _) => Sock::Unix(u),
        (_, Some(i)) => Sock::Inet(i),
        _ => Sock::Netlink(f.other_arc::<NetlinkSocket>().ok_or(Errno::ENOTSOCK)?),
    };
    Ok((f, s))
}

fn bind(fd: i32, addr: u64, len: u64) -> SysResult {
    match sock(fd)?.1 {
        Sock::Unix(s) => s.bind(read_addr(addr, len)?),
        Sock::Inet(s) => s.bind(s.family().decode(&read_raw_addr(addr, len)?)?),
        Sock::Netlink(s) => s.bind(&read_raw_addr(addr, len)?),
    }
    .map(|()| 0)
}

fn nonblocking(f: &OpenFile, flags: u32) -> bool {
    f.flags() & O_NONBLOCK != 0 || flags & MSG_DONTWAIT != 0
}

/// The type and descriptor flags of a `socket`/`socketpair` type argument.
fn sock_type(domain: u32, ty: u32, protocol: u32) -> Result<(SockType, u32), Errno> {
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if domain != AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    let kind = match ty & SOCK_TYPE_MASK {
        SOCK_STREAM => SockType::Stream,
        SOCK_DGRAM => SockType::Dgram,
        SOCK_SEQPACKET => SockType::SeqPacket,
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    if protocol != 0 && protocol != AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok((kind, ty & !SOCK_TYPE_MASK))
}

/// `socket(AF_INET or AF_INET6, ...)`: TCP (protocol 0 or 6) and UDP (0 or 17), raw ICMP (1) or ICMPv6 (58).
fn inet_socket(family: Family, ty: u32, protocol: u32) -> SysResult {
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let icmp = match family {
        Family::V4 => IPPROTO_ICMP,
        Family::V6 => IPPROTO_ICMPV6,
    };
    let proto = match (ty & SOCK_TYPE_MASK, protocol) {
        (SOCK_STREAM, 0 | IPPROTO_TCP) => Proto::Tcp,
        (SOCK_DGRAM, 0 | IPPROTO_UDP) => Proto::Udp,
        // Raw ICMP (what `ping` opens), privileged as Linux's `CAP_NET_RAW`.
        (SOCK_RAW, p) if p == icmp && current().creds().capable(CAP_NET_RAW) => Proto::Icmp,
        (SOCK_RAW, _) => return Err(Errno::EPERM),
        (SOCK_STREAM | SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    let flags = ty & !SOCK_TYPE_MASK;
    let file = OpenFile::new(
        None,
        Handle::Other(InetSocket::new(family, proto)),
        O_RDWR | (flags & SOCK_NONBLOCK),
    );
    Ok(current_files().lock().install(file, flags & SOCK_CLOEXEC != 0)? as u64)
}

/// `socket(AF_NETLINK, SOCK_RAW or SOCK_DGRAM, NETLINK_ROUTE)`.
fn netlink_socket(ty: u32, protocol: u32) -> SysResult {
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if !matches!(ty & SOCK_TYPE_MASK, SOCK_RAW | SOCK_DGRAM) {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    // NETLINK_ROUTE only.
    if protocol != 0 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let flags = ty & !SOCK_TYPE_MASK;
    let file = OpenFile::new(
        None,
        Handle::Other(NetlinkSocket::new()),
        O_RDWR | (flags & SOCK_NONBLOCK),
    );
    Ok(current_files().lock().install(file, flags & SOCK_CLOEXEC != 0)? as u64)
}

fn open_file(s: Arc<UnixSocket>, flags: u32) -> Arc<OpenFile> {
    OpenFile::new(None, Handle::Other(s), O_RDWR | (flags & SOCK_NONBLOCK))
}

fn socket(domain: u32, ty: u32, protocol: u32) -> SysResult {
    if domain == AF_INET {
        return inet_socket(Family::V4, ty, protocol);
    }
    if domain == AF_INET6 {
        return inet_socket(Family::V6, ty, protocol);
    }
    if domain == AF_NETLINK {
        return netlink_socket(ty, protocol);
    }
    let (kind, flags) = sock_type(domain, ty, protocol)?;
    let file = open_file(UnixSocket::new(kind), flags);
    Ok(current_files().lock().install(file, flags & SOCK_CLOEXEC != 0)? as u64)
}

fn socketpair(domain: u32, ty: u32, protocol: u32, sv: u64) -> SysResult {
    if domain == AF_INET || domain == AF_INET6 {
        return Err(Errno::EOPNOTSUPP);
    }
    let (kind, flags) = sock_type(domain, ty, protocol)?;
    let (a, b) = UnixSocket::pair(kind);
    let cloexec = flags & SOCK_CLOEXEC != 0;
    let files = current_files();
    let mut table = files.lock();
    let fa = table.install(open_file(a, flags), cloexec)?;
    let fb = match table.install(open_file(b, flags), cloexec) {
        Ok(fb) => fb,
        Err(e) => {
            let undone = table.remove(fa);
            drop(table);
            drop(undone);
            return Err(e);
        }
    };
    drop(table);
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&fa.to_ne_bytes());
    out[4..].copy_from_slice(&fb.to_ne_bytes());
    if let Err(e) = uaccess::write_bytes(sv, &out) {
        let mut table = files.lock();
        let undone = (table.remove(fa), table.remove(fb));
        drop(table);
        drop(undone);
        return Err(e);
    }
    Ok(0)
}

/// Reads the raw socket address of `len` bytes at `addr`.
pub(super) fn read_raw_addr(addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = u32::try_from(len)
        .ok()
        .filter(|&l| l <= SOCKADDR_MAX)
        .ok_or(Errno::EINVAL)?;
    let mut b = vec![0u8; len as usize];
    uaccess::read_bytes(addr, &mut b)?;
    Ok(b)
}

/// Reads a Unix socket address (`EINVAL` when malformed or of another family, as `AF_UNIX` calls say).
fn read_addr(addr: u64, len: u64) -> Result<UnixAddr, Errno> {
    UnixAddr::parse(&read_raw_addr(addr, len)?).map_err(|_| Errno::EINVAL)
}

/// Writes the encoded address `bytes` to a value-result address buffer (`addr`, `*len_addr`): cut to the
/// room given, the full length stored back. Null `addr` writes nothing.
pub(super) fn write_addr(addr: u64, len_addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let room = uaccess::read_u32(len_addr)?;
    if (room as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    uaccess::write_bytes(addr, &bytes[..bytes.len().min(room as usize)])?;
    uaccess::write_u32(len_addr, bytes.len() as u32)
}

fn accept(fd: i32, addr: u64, len_addr: u64, flags: u32) -> SysResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let (f, s) = sock(fd)?;
    let nonblock = nonblocking(&f, 0);
    let (ops, peer): (Arc<dyn FileOps>, Vec<u8>) = match s {
        Sock::Unix(s) => {
            if s.ty() == SockType::Dgram {
                return Err(Errno::EOPNOTSUPP);
            }
            let conn = s.accept(nonblock)?;
            let peer = conn.peer_name().unwrap_or(UnixAddr::Unnamed).encode();
            (conn, peer)
        }
        Sock::Inet(s) => {
            if s.proto() != Proto::Tcp {
                return Err(Errno::EOPNOTSUPP);
            }
            let (conn, peer) = s.accept(nonblock)?;
            (conn, s.family().encode(peer))
        }
        Sock::Netlink(_) => return Err(Errno::EOPNOTSUPP),
    };
    let file = OpenFile::new(None, Handle::Other(ops), O_RDWR | (flags & SOCK_NONBLOCK));
    let new = current_files().lock().install(file, flags & SOCK_CLOEXEC != 0)?;
    if let Err(e) = write_addr(addr, len_addr, &peer) {
        let undone = current_files().lock().remove(new);
        drop(undone);
        return Err(e);
    }
    Ok(new as u64)
}

fn connect(fd: i32, addr: u64, len: u64) -> SysResult {
    let (f, s) = sock(fd)?;
    let raw = read_raw_addr(addr, len)?;
    match s {
        Sock::Unix(s) => {
            if s.ty() == SockType::Dgram && sm::family(&raw) == Some(sm::AF_UNSPEC) {
                s.disconnect();
                return Ok(0);
            }
            let addr = UnixAddr::parse(&raw).map_err(|_| Errno::EINVAL)?;
            s.connect(&addr, nonblocking(&f, 0))
        }
        Sock::Inet(s) => s.connect(s.family().decode(&raw)?, nonblocking(&f, 0)),
        // Every message goes to the kernel anyway.
        Sock::Netlink(_) => Ok(()),
    }
    .map(|()| 0)
}

/// The (base, length) pairs of an iovec array; `EINVAL` past `UIO_MAXIOV` or when the total overflows.
pub(super) fn iovecs(iov: u64, count: u64) -> Result<Vec<(u64, usize)>, Errno> {
    if count > MAX_IOV {
        return Err(Errno::EMSGSIZE);
    }
    let mut raw = vec![0u8; count as usize * 16];
    uaccess::read_bytes(iov, &mut raw)?;
    let mut total = 0usize;
    let mut v = Vec::with_capacity(count as usize);
    for c in raw.chunks_exact(16) {
        let base = u64::from_ne_bytes(c[..8].try_into().map_err(|_| Errno::EFAULT)?);
        let len = u64::from_ne_bytes(c[8..].try_into().map_err(|_| Errno::EFAULT)?);
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l as i64 >= 0)
            .ok_or(Errno::EINVAL)?;
        total = total.saturating_add(len);
        v.push((base, len.min(MAX_RW)));
    }
    if total > isize::MAX as usize {
        return Err(Errno::EINVAL);
    }
    Ok(v)
}

/// Copies the iovecs' bytes in, up to [`MAX_SEND`].
pub(super) fn gather(iov: &[(u64, usize)]) -> Result<Vec<u8>, Errno> {
    let mut data = Vec::new();
    for &(base, len) in iov {
        let n = len.min(MAX_SEND - data.len());
        let at = data.len();
        data.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        data.resize(at + n, 0);
        uaccess::read_bytes(base, &mut data[at..])?;
    }
    Ok(data)
}

/// Copies `data` out over the iovecs.
pub(super) fn scatter(iov: &[(u64, usize)], mut data: &[u8]) -> Result<(), Errno> {
    for &(base, len) in iov {
        if data.is_empty() {
            break;
        }
        let n = len.min(data.len());
        uaccess::write_bytes(base, &data[..n])?;
        data = &data[n..];
    }
    Ok(())
}

pub(super) fn iov_total(iov: &[(u64, usize)]) -> usize {
    iov.iter().fold(0usize, |t, &(_, l)| t.saturating_add(l)).min(MAX_RECV)
}

/// Sends `data` with `fds` (descriptors of the caller's table) to the raw address `to`; `EPIPE` raises
/// `SIGPIPE` unless `MSG_NOSIGNAL`.
fn send(fd: i32, data: &[u8], fd_list: &[i32], to: Option<Vec<u8>>, flags: u32) -> SysResult {
    let (f, s) = sock(fd)?;
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = nonblocking(&f, flags);
    let r = match s {
        Sock::Unix(s) => {
            let files = {
                let table = current_files();
                let table = table.lock();
                fd_list
                    .iter()
                    .map(|&fd| table.get(fd).ok_or(Errno::EBADF))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let to = to
                .map(|raw| UnixAddr::parse(&raw).map_err(|_| Errno::EINVAL))
                .transpose()?;
            s.send(data, files, to.as_ref(), nonblock)
        }
        Sock::Inet(s) => {
            if !fd_list.is_empty() {
                return Err(Errno::EINVAL);
            }
            // A TCP socket ignores the address, as Linux does.
            let to = match (s.proto(), to) {
                (Proto::Udp | Proto::Icmp, Some(raw)) => Some(s.family().decode(&raw)?),
                _ => None,
            };
            s.send(data, to, nonblock)
        }
        Sock::Netlink(s) => s.send(data),
    };
    match r {
        Err(Errno::EPIPE) if flags & MSG_NOSIGNAL == 0 => {
            signal_current_thread(SIGPIPE);
            Err(Errno::EPIPE)
        }
        r => r.map(|n| n as u64),
    }
}

fn sendto(fd: i32, buf: u64, len: u64, flags: u32, addr: u64, addr_len: u64) -> SysResult {
    let data = gather(&[(buf, usize::try_from(len).unwrap_or(MAX_RW))])?;
    let to = if addr != 0 {
        Some(read_raw_addr(addr, addr_len)?)
    } else {
        None
    };
    send(fd, &data, &[], to, flags)
}

pub(super) fn read_msghdr(at: u64) -> Result<MsgHdr, Errno> {
    let mut b = [0u8; sm::MSGHDR_LEN];
    uaccess::read_bytes(at, &mut b)?;
    Ok(MsgHdr::parse(&b))
}

fn sendmsg(fd: i32, msg_addr: u64, flags: u32) -> SysResult {
    let m = read_msghdr(msg_addr)?;
    let iov = iovecs(m.iov, m.iov_len)?;
    let data = gather(&iov)?;
    let fds = if m.control != 0 && m.control_len > 0 {
        if m.control_len > MAX_CONTROL {
            return Err(Errno::ENOBUFS);
        }
        let mut c = Vec::new();
        c.try_reserve_exact(m.control_len as usize).map_err(|_| Errno::ENOMEM)?;
        c.resize(m.control_len as usize, 0);
        uaccess::read_bytes(m.control, &mut c)?;
        sm::parse_rights(&c).map_err(|_| Errno::EINVAL)?
    } else {
        Vec::new()
    };
    let to = if m.name != 0 && m.name_len != 0 {
        Some(read_raw_addr(m.name, m.name_len.into())?)
    } else {
        None
    };
    send(fd, &data, &fds, to, flags)
}

/// What a receive returns to the caller besides the bytes.
struct Got {
    len: usize,
    data: Vec<u8>,
    fds: Vec<Arc<OpenFile>>,
    from: Vec<u8>,
    truncated: bool,
}

fn recv(fd: i32, max: usize, flags: u32) -> Result<Got, Errno> {
    let (f, s) = sock(fd)?;
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let (peek, nonblock) = (flags & MSG_PEEK != 0, nonblocking(&f, flags));
    match s {
        Sock::Unix(s) => {
            let r = s.recv(max, peek, flags & MSG_WAITALL != 0, nonblock)?;
            Ok(Got {
                len: r.len,
                truncated: r.len > r.data.len(),
                data: r.data,
                fds: r.fds,
                from: r.from.encode(),
            })
        }
        Sock::Inet(s) => {
            let (data, len, from) = s.recv(max, peek, nonblock)?;
            Ok(Got {
                len,
                truncated: len > data.len(),
                data,
                fds: Vec::new(),
                from: s.family().encode(from),
            })
        }
        Sock::Netlink(s) => {
            let (data, len) = s.recv(max, peek, nonblock)?;
            Ok(Got {
                len,
                truncated: len > data.len(),
                data,
                fds: Vec::new(),
                from: netlink::sockaddr(0),
            })
        }
    }
}

/// The count a receive returns: the whole datagram's length with `MSG_TRUNC`.
fn received(got: &Got, flags: u32) -> u64 {
    if flags & MSG_TRUNC != 0 {
        got.len as u64
    } else {
        got.data.len() as u64
    }
}

fn recvfrom(fd: i32, buf: u64, len: u64, flags: u32, addr: u64, addr_len: u64) -> SysResult {
    let max = usize::try_from(len).unwrap_or(MAX_RECV).min(MAX_RECV);
    let got = recv(fd, max, flags)?;
    uaccess::write_bytes(buf, &got.data)?;
    write_addr(addr, addr_len, &got.from)?;
    // Descriptors sent to a reader that takes no control data are closed (dropped).
    Ok(received(&got, flags))
}

/// Bytes of a `struct mmsghdr`: a `msghdr`, the count sent (`msg_len`), padding.
const MMSGHDR_LEN: u64 = 64;
/// The most messages one `sendmmsg` sends (Linux's `UIO_MAXIOV`).
const MMSG_MAX: u32 = 1024;

/// `sendmmsg`: `sendmsg` of each of `vlen` messages, writing each one's byte count into its `msg_len`; the
/// number sent, or the first error when none was.
fn sendmmsg(fd: i32, vec: u64, vlen: u32, flags: u32) -> SysResult {
    let mut sent = 0u64;
    for i in 0..u64::from(vlen.min(MMSG_MAX)) {
        let entry = vec.checked_add(i * MMSGHDR_LEN).ok_or(Errno::EFAULT);
        let r = entry.and_then(|e| {
            let n = sendmsg(fd, e, flags)?;
            uaccess::write_u32(e + sm::MSGHDR_LEN as u64, n as u32)
        });
        match r {
            Ok(()) => sent += 1,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(sent)
}

fn recvmsg(fd: i32, msg_addr: u64, flags: u32) -> SysResult {
    let m = read_msghdr(msg_addr)?;
    let iov = iovecs(m.iov, m.iov_len)?;
    let got = recv(fd, iov_total(&iov), flags)?;
    scatter(&iov, &got.data)?;
    let mut out_flags = if got.truncated { MSG_TRUNC } else { 0 };
    if m.name != 0 {
        let n = got.from.len().min(m.name_len as usize);
        uaccess::write_bytes(m.name, &got.from[..n])?;
    }
    uaccess::write_u32(msg_addr + 8, if m.name != 0 { got.from.len() as u32 } else { 0 })?;
    let mut control_written = 0;
    if !got.fds.is_empty() {
        let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
        let room = if m.control != 0 {
            usize::try_from(m.control_len).unwrap_or(0)
        } else {
            0
        };
        let fit = (room.saturating_sub(16) / 4).min(got.fds.len());
        let mut numbers = Vec::with_capacity(fit);
        {
            let files = current_files();
            let mut table = files.lock();
            for f in got.fds.iter().take(fit) {
                match table.install(f.clone(), cloexec) {
                    Ok(n) => numbers.push(n),
                    Err(_) => break,
                }
            }
        }
        if numbers.len() < got.fds.len() {
            out_flags |= MSG_CTRUNC;
        }
        let (cmsg, _) = sm::encode_rights(&numbers, room);
        uaccess::write_bytes(m.control, &cmsg)?;
        control_written = cmsg.len();
    }
    uaccess::write_u64(msg_addr + 40, control_written as u64)?;
    uaccess::write_u32(msg_addr + 48, out_flags)?;
    Ok(received(&got, flags))
}

/// The stored value size of a `SOL_SOCKET` option.
fn opt_size(name: u32) -> usize {
    match name {
        SO_LINGER => 8,
        SO_RCVTIMEO | SO_SNDTIMEO => 16,
        SO_PEERCRED => 12,
        _ => 4,
    }
}

fn setsockopt(fd: i32, level: u32, name: u32, val: u64, len: u64) -> SysResult {
    let (_, s) = sock(fd)?;
    // TCP_NODELAY and the like: TCP sockets run without Nagle's algorithm already.
    if matches!(s, Sock::Inet(_)) && level == IPPROTO_TCP {
        return Ok(0);
    }
    // `IPPROTO_IP`: the multicast options ([`crate::net::multicast`]); no other is known.
    if let Sock::Inet(i) = &s
        && level == IPPROTO_IP
    {
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?.min(IPV6_OPT_MAX);
        let mut v = vec![0u8; len];
        uaccess::read_bytes(val, &mut v)?;
        return i.multicast().set_ipv4(name, &v).ok_or(Errno::ENOPROTOOPT)?.map(|()| 0);
    }
    if let Sock::Inet(i) = &s
        && i.family() == Family::V6
        && matches!(level, IPPROTO_IPV6 | IPPROTO_ICMPV6 | SOL_RAW)
    {
        return set_ipv6_option(i, level, name, val, len);
    }
    if level != SOL_SOCKET {
        return Err(Errno::ENOPROTOOPT);
    }
    let size = opt_size(name);
    if (len as usize) < size {
        return Err(Errno::EINVAL);
    }
    match name {
        SO_TYPE | SO_ERROR | SO_ACCEPTCONN | SO_PROTOCOL | SO_DOMAIN | SO_PEERCRED => Err(Errno::ENOPROTOOPT),
        _ => {
            let mut v = vec![0u8; size];
            uaccess::read_bytes(val, &mut v)?;
            s.set_option(name, v);
            Ok(0)
        }
    }
}

/// `setsockopt` at `IPPROTO_IPV6`, `IPPROTO_ICMPV6` or `SOL_RAW` on an `AF_INET6` socket: `IPV6_V6ONLY`,
/// `ICMP6_FILTER` and the multicast options ([`crate::net::multicast`]) take effect; the others (`ping6`'s
/// `IPV6_RECVHOPLIMIT`, `IPV6_CHECKSUM`) are kept for `getsockopt` only: no ancillary data is given,
/// checksums are computed.
fn set_ipv6_option(i: &InetSocket, level: u32, name: u32, val: u64, len: u64) -> SysResult {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?.min(IPV6_OPT_MAX);
    let mut v = vec![0u8; len];
    uaccess::read_bytes(val, &mut v)?;
    if level == IPPROTO_IPV6 && name == IPV6_V6ONLY {
        let on = v.get(..4).ok_or(Errno::EINVAL)?;
        i.set_v6only(on != [0; 4])?;
    }
    if level == IPPROTO_IPV6
        && let Some(r) = i.multicast().set_ipv6(name, &v)
    {
        return r.map(|()| 0);
    }
    i.set_option(crate::net::inet::level_key(level, name), v);
    Ok(0)
}

fn getsockopt(fd: i32, level: u32, name: u32, val: u64, len_addr: u64) -> SysResult {
    let (_, s) = sock(fd)?;
    let room = uaccess::read_u32(len_addr)? as i32;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    if let Sock::Inet(i) = &s
        && i.family() == Family::V6
        && matches!(level, IPPROTO_IPV6 | IPPROTO_ICMPV6 | SOL_RAW)
    {
        let value = if level == IPPROTO_IPV6 && name == IPV6_V6ONLY {
            u32::from(i.v6only()).to_ne_bytes().to_vec()
        } else if let Some(v) = i.multicast().ipv6(name).filter(|_| level == IPPROTO_IPV6) {
            v
        } else {
            i.option(crate::net::inet::level_key(level, name))
                .unwrap_or_else(|| vec![0u8; 4])
        };
        let n = value.len().min(room as usize);
        uaccess::write_bytes(val, &value[..n])?;
        uaccess::write_u32(len_addr, n as u32)?;
        return Ok(0);
    }
    if let Sock::Inet(i) = &s
        && level == IPPROTO_IP
    {
        let value = i.multicast().ipv4(name).ok_or(Errno::ENOPROTOOPT)?;
        let n = value.len().min(room as usize);
        uaccess::write_bytes(val, &value[..n])?;
        uaccess::write_u32(len_addr, n as u32)?;
        return Ok(0);
    }
    if level != SOL_SOCKET {
        return Err(Errno::ENOPROTOOPT);
    }
    let int = |v: u32| v.to_ne_bytes().to_vec();
    let (ty, domain, protocol) = match &s {
        Sock::Unix(u) => (
            match u.ty() {
                SockType::Stream => SOCK_STREAM,
                SockType::Dgram => SOCK_DGRAM,
                SockType::SeqPacket => SOCK_SEQPACKET,
            },
            AF_UNIX,
            0,
        ),
        Sock::Inet(i) => {
            let (domain, icmp) = match i.family() {
                Family::V4 => (AF_INET, IPPROTO_ICMP),
                Family::V6 => (AF_INET6, IPPROTO_ICMPV6),
            };
            match i.proto() {
                Proto::Tcp => (SOCK_STREAM, domain, IPPROTO_TCP),
                Proto::Udp => (SOCK_DGRAM, domain, IPPROTO_UDP),
                Proto::Icmp => (SOCK_RAW, domain, icmp),
            }
        }
        Sock::Netlink(_) => (3, AF_NETLINK, 0),
    };
    let value = match name {
        SO_TYPE => int(ty),
        SO_PROTOCOL => int(protocol),
        SO_DOMAIN => int(domain),
        SO_ERROR => int(match &s {
            Sock::Inet(i) => i.error().map_or(0, |e| e.0),
            Sock::Unix(_) | Sock::Netlink(_) => 0,
        }),
        SO_ACCEPTCONN => int(match &s {
            Sock::Unix(u) => u.listening().into(),
            Sock::Inet(i) => i.listening().into(),
            Sock::Netlink(_) => 0,
        }),
        SO_SNDBUF | SO_RCVBUF => s
            .option(name)
            .unwrap_or_else(|| int(crate::net::unix::QUEUE_BYTES as u32)),
        SO_PEERCRED => return Err(Errno::ENOPROTOOPT),
        _ => s.option(name).unwrap_or_else(|| vec![0u8; opt_size(name)]),
    };
    let n = value.len().min(room as usize);
    uaccess::write_bytes(val, &value[..n])?;
    uaccess::write_u32(len_addr, n as u32)?;
    Ok(0)
}
