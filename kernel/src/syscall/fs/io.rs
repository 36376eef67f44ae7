//! Descriptors and data: read, write and their vector and positioned forms, lseek, sendfile, dup, fcntl,
//! ioctl, pipe, close.

use super::{file, uaccess};
use crate::fs::OpenFile;
use crate::fs::devices::{Device, IOCTL_VM_SOCKETS_GET_LOCAL_CID};
use crate::fs::fdtable::MAX_FDS;
use crate::fs::file::Handle;
use crate::fs::inode::Kind;
use crate::fs::pipe::{CAPACITY as PIPE_CAPACITY, Pipe};
use crate::fs::tty;
use crate::process::{current_files, signal_current_thread};
use crate::syscall::errno::{Errno, SysResult};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use linux_raw_sys::general::{
    F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_GETLK, F_GETPIPE_SZ, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_SETFD,
    F_SETFL, F_SETLK, F_SETLKW, FD_CLOEXEC, O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY, SEEK_CUR, SEEK_DATA,
    SEEK_END, SEEK_HOLE, SEEK_SET,
};
use linux_raw_sys::ioctl::{FIOCLEX, FIONBIO, FIONCLEX, FIONREAD};

/// The most one call moves (Linux's `MAX_RW_COUNT`).
const MAX_RW: usize = 0x7fff_f000;
/// The kernel buffer size data moves through.
const CHUNK: usize = 64 * 1024;
/// Bytes of a regular file a direct read (page cache to user memory) takes per step.
const DIRECT: usize = 1 << 20;
/// The most `iovec`s one call takes (`UIO_MAXIOV`).
const MAX_IOV: u64 = 1024;
/// `close_range`: unshare the table first (it is never shared behind the caller's back here).
const CLOSE_RANGE_UNSHARE: u32 = 2;
/// `close_range`: mark close-on-exec instead of closing.
const CLOSE_RANGE_CLOEXEC: u32 = 4;
/// `SIGPIPE`.
const SIGPIPE: u32 = 13;

fn user_addr(base: u64, offset: usize) -> Result<u64, Errno> {
    base.checked_add(offset as u64).ok_or(Errno::EFAULT)
}

/// Transfers up to this size bounce through the stack, not the heap (a 1-byte read or write spent a sixth of
/// its instructions allocating and freeing its buffer).
const SMALL: usize = 256;

/// The bounce buffer of a transfer of `count` bytes: `small` when it fits, else `big`, grown to a chunk
/// (`ENOMEM` when the heap cannot give one).
fn bounce<'a>(small: &'a mut [u8; SMALL], big: &'a mut Vec<u8>, count: usize) -> Result<&'a mut [u8], Errno> {
    if count <= SMALL {
        Ok(&mut small[..])
    } else {
        chunk_buffer(big, count)?;
        Ok(&mut big[..])
    }
}

/// Grows `buf` to `count` bytes, at most a chunk, fallibly.
fn chunk_buffer(buf: &mut Vec<u8>, count: usize) -> Result<(), Errno> {
    let want = count.min(CHUNK);
    buf.try_reserve_exact(want.saturating_sub(buf.len()))
        .map_err(|_| Errno::ENOMEM)?;
    buf.resize(want, 0);
    Ok(())
}

/// Reads up to `count` bytes into user memory at `addr`, at `offset` or the file offset. Regular files are
/// read until `count` or the end; pipes and terminals return what one read gives.
fn read_into(f: &OpenFile, addr: u64, count: usize, offset: Option<u64>) -> Result<usize, Errno> {
    let count = count.min(MAX_RW);
    if count == 0 {
        return if f.readable() { Ok(0) } else { Err(Errno::EBADF) };
    }
    if let Some(r) = read_direct(f, addr, count, offset) {
        return r;
    }
    let (mut small, mut big) = ([0u8; SMALL], Vec::new());
    let buf = bounce(&mut small, &mut big, count)?;
    let mut done = 0;
    while done < count {
        let want = (count - done).min(CHUNK);
        let r = match offset {
            Some(o) => f.pread(o + done as u64, &mut buf[..want]),
            None => f.read(&mut buf[..want]),
        };
        let n = match r {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        uaccess::write_bytes(user_addr(addr, done)?, &buf[..n])?;
        done += n;
        if n < want || !f.seekable() {
            break;
        }
    }
    Ok(done)
}

/// A read of a regular file straight from its page-cache frames to user memory, [`DIRECT`] bytes at a time;
/// `None` for other files.
fn read_direct(f: &OpenFile, addr: u64, count: usize, offset: Option<u64>) -> Option<Result<usize, Errno>> {
    let mut done = 0;
    while done < count {
        let want = (count - done).min(DIRECT);
        let at = offset.map(|o| o + done as u64);
        let base = user_addr(addr, done);
        let r = f.read_pieces(want, at, |d, (frame, off, n)| {
            uaccess::write_frame(base? + d as u64, frame.as_ref(), *off, *n)
        })?;
        let n = match r {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Some(Err(e)),
        };
        done += n;
        if n < want {
            break;
        }
    }
    Some(Ok(done))
}

/// Writes `count` bytes from user memory at `addr`, at `offset` or the file offset.
fn write_from(f: &OpenFile, addr: u64, count: usize, offset: Option<u64>) -> Result<usize, Errno> {
    let count = count.min(MAX_RW);
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    // A pipe write of at most a page must be atomic, so it goes in one piece.
    let (mut small, mut big) = ([0u8; SMALL], Vec::new());
    let buf = bounce(&mut small, &mut big, count)?;
    let mut done = 0;
    while done < count {
        let want = (count - done).min(CHUNK);
        let chunk = &mut buf[..want];
        if let Err(e) = uaccess::read_bytes(user_addr(addr, done)?, chunk) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        let r = match offset {
            Some(o) => f.pwrite(o + done as u64, chunk),
            None => f.write(chunk),
        };
        let n = match r {
            Ok(n) => n,
            Err(Errno::EPIPE) => {
                signal_current_thread(SIGPIPE);
                return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
            }
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += n;
        if n < want {
            break;
        }
    }
    Ok(done)
}

/// `read(2)`.
pub fn read(fd: i32, buf: u64, count: u64) -> SysResult {
    read_into(&*file(fd)?, buf, count as usize, None).map(|n| n as u64)
}

/// `write(2)`.
pub fn write(fd: i32, buf: u64, count: u64) -> SysResult {
    write_from(&*file(fd)?, buf, count as usize, None).map(|n| n as u64)
}

fn check_offset(offset: u64) -> Result<u64, Errno> {
    if (offset as i64) < 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(offset)
    }
}

/// `pread64(2)`.
pub fn pread(fd: i32, buf: u64, count: u64, offset: u64) -> SysResult {
    let offset = check_offset(offset)?;
    read_into(&*file(fd)?, buf, count as usize, Some(offset)).map(|n| n as u64)
}

/// `pwrite64(2)`.
pub fn pwrite(fd: i32, buf: u64, count: u64, offset: u64) -> SysResult {
    let offset = check_offset(offset)?;
    write_from(&*file(fd)?, buf, count as usize, Some(offset)).map(|n| n as u64)
}

/// The `(base, length)` pairs of a user `iovec` array; `EINVAL` for too many or a negative length. As on Linux,
/// a total past [`MAX_RW`] is cut there (the later vectors get nothing), not refused.
fn iovecs(addr: u64, count: u64) -> Result<Vec<(u64, usize)>, Errno> {
    if count > MAX_IOV {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; count as usize * 16];
    uaccess::read_bytes(addr, &mut raw)?;
    let mut total = 0usize;
    raw.chunks_exact(16)
        .map(|c| {
            let base = u64::from_ne_bytes(c[..8].try_into().unwrap_or_default());
            let len = u64::from_ne_bytes(c[8..].try_into().unwrap_or_default());
            if (len as i64) < 0 {
                return Err(Errno::EINVAL);
            }
            let len = (len as usize).min(MAX_RW - total);
            total += len;
            Ok((base, len))
        })
        .collect()
}

/// `readv(2)` and `preadv(2)`.
pub fn readv(fd: i32, iov: u64, count: u64, offset: Option<u64>) -> SysResult {
    vectored(fd, iov, count, offset, read_into)
}

/// `writev(2)` and `pwritev(2)`.
pub fn writev(fd: i32, iov: u64, count: u64, offset: Option<u64>) -> SysResult {
    vectored(fd, iov, count, offset, write_from)
}

/// Runs `transfer` over each buffer of the iovec array in turn, until one comes up short; an error after some
/// bytes moved ends the call with the count so far.
fn vectored(
    fd: i32,
    iov: u64,
    count: u64,
    offset: Option<u64>,
    transfer: fn(&OpenFile, u64, usize, Option<u64>) -> Result<usize, Errno>,
) -> SysResult {
    let f = file(fd)?;
    let mut offset = offset.map(check_offset).transpose()?;
    let mut done = 0usize;
    for (base, len) in iovecs(iov, count)? {
        let n = match transfer(&f, base, len, offset) {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += n;
        offset = offset.map(|o| o + n as u64);
        if n < len {
            break;
        }
    }
    Ok(done as u64)
}

/// `lseek(2)`.
pub fn lseek(fd: i32, offset: i64, whence: u32) -> SysResult {
    let f = file(fd)?;
    if !f.seekable() {
        return Err(Errno::ESPIPE);
    }
    let size = f.inode().map_or(0, |i| i.size()) as i64;
    let mut pos = f.offset().lock();
    let new = match whence {
        SEEK_SET => Some(offset),
        SEEK_CUR => (*pos as i64).checked_add(offset),
        SEEK_END => size.checked_add(offset),
        SEEK_DATA if offset >= size => return Err(Errno::ENXIO),
        SEEK_DATA => Some(offset),
        SEEK_HOLE if offset >= size => return Err(Errno::ENXIO),
        SEEK_HOLE => Some(size),
        _ => return Err(Errno::EINVAL),
    };
    let new = new.filter(|&n| n >= 0).ok_or(Errno::EINVAL)?;
    *pos = new as u64;
    Ok(new as u64)
}

/// `sendfile(2)`: copies from `in_fd` (at `*offset_addr` when given, which is then advanced) to `out_fd`.
pub fn sendfile(out_fd: i32, in_fd: i32, offset_addr: u64, count: u64) -> SysResult {
    let (out, input) = (file(out_fd)?, file(in_fd)?);
    if !input.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    let mut offset = match offset_addr {
        0 => None,
        a => Some(check_offset(uaccess::read_u64(a)?)?),
    };
    if (count as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let count = (count as usize).min(MAX_RW);
    let mut buf = Vec::new();
    chunk_buffer(&mut buf, count)?;
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(CHUNK);
        let r = match offset {
            Some(o) => input.pread(o, &mut buf[..want]),
            None => input.read(&mut buf[..want]),
        };
        let n = match r {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        let w = match out.write(&buf[..n]) {
            Ok(w) => w,
            Err(e) if done == 0 => {
                if e == Errno::EPIPE {
                    signal_current_thread(SIGPIPE);
                }
                return Err(e);
            }
            Err(_) => break,
        };
        done += w;
        offset = offset.map(|o| o + w as u64);
        if w < n || !input.seekable() {
            break;
        }
    }
    if let (Some(o), a) = (offset, offset_addr) {
        uaccess::write_u64(a, o)?;
    }
    Ok(done as u64)
}

/// `close(2)`.
pub fn close(fd: i32) -> SysResult {
    let file = current_files().lock().remove(fd)?;
    crate::fs::lock::closed_by(crate::process::current().pid(), &file);
    // The last reference goes outside the table's lock (closing a pipe end wakes its peers).
    drop(file);
    Ok(0)
}

/// `close_range(2)`.
pub fn close_range(first: u32, last: u32, flags: u32) -> SysResult {
    if flags & !(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    let files = if flags & CLOSE_RANGE_UNSHARE != 0 {
        crate::process::unshare_files()
    } else {
        current_files()
    };
    let closed = files
        .lock()
        .close_range(first as usize, last as usize, flags & CLOSE_RANGE_CLOEXEC != 0);
    let pid = crate::process::current().pid();
    for f in &closed {
        crate::fs::lock::closed_by(pid, f);
    }
    drop(closed);
    Ok(0)
}

/// `dup(2)`.
pub fn dup(fd: i32) -> SysResult {
    let files = current_files();
    let mut table = files.lock();
    let f = table.get(fd).ok_or(Errno::EBADF)?;
    table.install(f, false).map(|fd| fd as u64)
}

/// `dup2(2)`.
pub fn dup2(old: i32, new: i32) -> SysResult {
    if old == new {
        return file(old).map(|_| new as u64);
    }
    dup3(old, new, 0)
}

/// `dup3(2)`.
pub fn dup3(old: i32, new: i32, flags: u32) -> SysResult {
    if old == new || flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let new_fd = usize::try_from(new).ok().filter(|&n| n < MAX_FDS).ok_or(Errno::EBADF)?;
    let files = current_files();
    let replaced = {
        let mut table = files.lock();
        let f = table.get(old).ok_or(Errno::EBADF)?;
        table.install_at(new_fd, f, flags & O_CLOEXEC != 0)
    };
    if let Some(old) = &replaced {
        crate::fs::lock::closed_by(crate::process::current().pid(), old);
    }
    drop(replaced);
    Ok(new as u64)
}

/// `fcntl(2)`: descriptor duplication and flags, pipe size, record locks ([`crate::fs::lock`]).
pub fn fcntl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let files = current_files();
    let mut table = files.lock();
    let f = table.get(fd).ok_or(Errno::EBADF)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(arg as i32).map_err(|_| Errno::EINVAL)?;
            table.install_from(min, f, cmd == F_DUPFD_CLOEXEC).map(|fd| fd as u64)
        }
        F_GETFD => Ok(if table.cloexec(fd) == Some(true) {
            FD_CLOEXEC as u64
        } else {
            0
        }),
        F_SETFD => table.set_cloexec(fd, arg as u32 & FD_CLOEXEC != 0).map(|()| 0),
        F_GETFL => Ok(f.flags() as u64),
        F_SETFL => {
            f.set_flags(arg as u32);
            Ok(0)
        }
        F_GETPIPE_SZ if matches!(f.handle(), Handle::Pipe(_)) => Ok(PIPE_CAPACITY as u64),
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            drop(table);
            crate::fs::lock::fcntl_lock(&f, cmd, arg)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `BLKGETSIZE64`: a disk's size in bytes (`_IOR(0x12, 114, size_t)`).
const BLKGETSIZE64: u32 = 0x8008_1272;
/// `BLKGETSIZE`: a disk's size in 512-byte sectors.
const BLKGETSIZE: u32 = 0x1260;
/// `BLKSSZGET`: a disk's logical sector size.
const BLKSSZGET: u32 = 0x1268;

/// `ioctl(2)`: the generic requests, a disk's size, then the terminal's; `ENOTTY` for anything else.
pub fn ioctl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let f = file(fd)?;
    match cmd {
        FIONBIO => {
            let on = uaccess::read_u32(arg)? != 0;
            let flags = f.flags();
            f.set_flags(if on { flags | O_NONBLOCK } else { flags & !O_NONBLOCK });
            Ok(0)
        }
        FIOCLEX | FIONCLEX => current_files().lock().set_cloexec(fd, cmd == FIOCLEX).map(|()| 0),
        BLKGETSIZE64 | BLKGETSIZE | BLKSSZGET => {
            let disk = f
                .inode()
                .and_then(|i| match &i.kind {
                    Kind::Device(d) => crate::fs::disk::get_for(*d),
                    _ => None,
                })
                .ok_or(Errno::ENOTTY)?;
            match cmd {
                BLKGETSIZE64 => uaccess::write_bytes(arg, &disk.size().to_ne_bytes())?,
                BLKGETSIZE => uaccess::write_bytes(arg, &(disk.size() / 512).to_ne_bytes())?,
                _ => uaccess::write_u32(arg, 512)?,
            }
            Ok(0)
        }
        _ if f.is_tty() => tty::console().ioctl(cmd, arg),
        IOCTL_VM_SOCKETS_GET_LOCAL_CID if f.device() == Some(Device::Vsock) => {
            // Linux answers VMADDR_CID_ANY without a transport.
            let cid = crate::net::vsock::local_cid().map_or(u32::MAX, |c| c as u32);
            uaccess::write_u32(arg, cid).map(|()| 0)
        }
        FIONREAD => {
            uaccess::write_u32(arg, f.available().min(i32::MAX as usize) as u32)?;
            Ok(0)
        }
        _ if crate::net::ifreq::is_ifreq(cmd) && crate::net::is_socket(&f) => crate::net::ifreq::ioctl(cmd, arg),
        _ => Err(Errno::ENOTTY),
    }
}

/// `pipe2(2)` (and `pipe(2)` with no flags).
pub fn pipe2(fds_addr: u64, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let pipe = Arc::new(Pipe::new());
    let status = flags & O_NONBLOCK;
    let reader = OpenFile::new(None, Handle::Pipe(pipe.open(true, false)), O_RDONLY | status);
    let writer = OpenFile::new(None, Handle::Pipe(pipe.open(false, true)), O_WRONLY | status);
    let cloexec = flags & O_CLOEXEC != 0;
    let files = current_files();
    let (r, w) = {
        let mut table = files.lock();
        let r = table.install(reader, cloexec)?;
        match table.install(writer, cloexec) {
            Ok(w) => (r, w),
            Err(e) => {
                let undone = table.remove(r);
                drop(table);
                drop(undone);
                return Err(e);
            }
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&r.to_ne_bytes());
    out[4..].copy_from_slice(&w.to_ne_bytes());
    if let Err(e) = uaccess::write_bytes(fds_addr, &out) {
        let undone = {
            let mut table = files.lock();
            (table.remove(r), table.remove(w))
        };
        drop(undone);
        return Err(e);
    }
    Ok(0)
}

/// `ftruncate(2)`.
pub fn ftruncate(fd: i32, len: i64) -> SysResult {
    let f = file(fd)?;
    if len < 0 || !f.writable() {
        return Err(Errno::EINVAL);
    }
    f.inode().ok_or(Errno::EINVAL)?.truncate(len as u64).map(|()| 0)
}

/// `fallocate(2)`: mode 0 (extend the file to cover the range); other modes are not supported.
pub fn fallocate(fd: i32, mode: u32, offset: i64, len: i64) -> SysResult {
    let f = file(fd)?;
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    // FALLOC_FL_KEEP_SIZE, and FALLOC_FL_PUNCH_HOLE (which requires it).
    const KEEP_SIZE: u32 = 1;
    const PUNCH_HOLE: u32 = 2;
    if mode & !(KEEP_SIZE | PUNCH_HOLE) != 0 || mode == PUNCH_HOLE {
        return Err(Errno::EOPNOTSUPP);
    }
    let inode = f.inode().filter(|_| f.seekable()).ok_or(Errno::ESPIPE)?;
    let end = offset.checked_add(len).ok_or(Errno::EFBIG)? as u64;
    if let Some(d) = inode.disk()
        && mode & PUNCH_HOLE == 0
    {
        return d.allocate(offset as u64, len as u64, mode & KEEP_SIZE != 0).map(|()| 0);
    }
    if mode & PUNCH_HOLE != 0 {
        // The hole reads as zeros; the size stays.
        let (start, end) = (offset as u64, end.min(inode.size()));
        let zeros = [0u8; 4096];
        let mut at = start;
        while at < end {
            let n = (end - at).min(zeros.len() as u64) as usize;
            inode.write_at(at, &zeros[..n])?;
            at += n as u64;
        }
    } else if mode & KEEP_SIZE == 0 && end > inode.size() {
        // Memory is taken as it is written: only the size changes (with KEEP_SIZE, nothing does).
        inode.truncate(end)?;
    }
    Ok(0)
}
