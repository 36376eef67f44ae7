//! The readiness calls: `eventfd`/`eventfd2`, `epoll_*`, `timerfd_*`, `signalfd`/`signalfd4`, `pidfd_open` and
//! `pidfd_getfd` (the objects are in [`crate::event`]).

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::event::epoll::Epoll;
use crate::event::eventfd::EventFd;
use crate::event::pidfd::PidFd;
use crate::event::signalfd::SignalFd;
use crate::event::timerfd::{self, TimerFd};
use crate::fs::OpenFile;
use crate::fs::file::{FileOps, Handle};
use crate::fs::poll::POLLERS;
use crate::process::{current_files, signal_pending};
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_creds::caps::CAP_SYS_PTRACE;
use ember_frame::time::now_ns;
use linux_raw_sys::general::{
    self as nr, EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD,
    EPOLLEXCLUSIVE, O_NONBLOCK, O_RDWR, TFD_CLOEXEC, TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET,
};

/// Bytes of a `struct epoll_event` (packed on x86-64).
const EPOLL_EVENT_SIZE: usize = 12;
/// `signalfd4`'s flags: the open flags of the same values.
const SFD_NONBLOCK: u32 = O_NONBLOCK;
const SFD_CLOEXEC: u32 = nr::O_CLOEXEC;
/// The size of the signal set `epoll_pwait` takes.
const SIGSET_SIZE: u64 = 8;

/// Runs readiness call `n` with arguments `a`; `None` when `n` is not one of them.
pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match u32::try_from(n).ok()? {
        nr::__NR_eventfd => eventfd2(a[0] as u32, 0),
        nr::__NR_eventfd2 => eventfd2(a[0] as u32, a[1] as u32),
        nr::__NR_epoll_create => match a[0] as i32 {
            size if size <= 0 => Err(Errno::EINVAL),
            _ => epoll_create1(0),
        },
        nr::__NR_epoll_create1 => epoll_create1(a[0] as u32),
        nr::__NR_epoll_ctl => epoll_ctl(a[0] as i32, a[1] as u32, a[2] as i32, a[3]),
        nr::__NR_epoll_wait => epoll_wait(a[0] as i32, a[1], a[2] as i32, timeout_ms(a[3] as i32)),
        nr::__NR_epoll_pwait => {
            check_sigset(a[4], a[5]).and_then(|()| epoll_wait(a[0] as i32, a[1], a[2] as i32, timeout_ms(a[3] as i32)))
        }
        nr::__NR_epoll_pwait2 => check_sigset(a[4], a[5])
            .and_then(|()| timeout_timespec(a[3]))
            .and_then(|t| epoll_wait(a[0] as i32, a[1], a[2] as i32, t)),
        nr::__NR_signalfd => signalfd4(a[0] as i32, a[1], a[2], 0),
        nr::__NR_signalfd4 => signalfd4(a[0] as i32, a[1], a[2], a[3] as u32),
        nr::__NR_pidfd_open => pidfd_open(a[0] as i32, a[1] as u32),
        nr::__NR_pidfd_getfd => pidfd_getfd(a[0] as i32, a[1] as i32, a[2] as u32),
        nr::__NR_timerfd_create => timerfd_create(a[0] as u32, a[1] as u32),
        nr::__NR_timerfd_settime => timerfd_settime(a[0] as i32, a[1] as u32, a[2], a[3]),
        nr::__NR_timerfd_gettime => timerfd_gettime(a[0] as i32, a[1]),
        _ => return None,
    })
}

/// Installs a new file outside the tree as the lowest free descriptor.
fn install(ops: Arc<dyn FileOps>, flags: u32, cloexec: bool) -> SysResult {
    let file = OpenFile::new(None, Handle::Other(ops), O_RDWR | (flags & O_NONBLOCK));
    Ok(current_files().lock().install(file, cloexec)? as u64)
}

fn file(fd: i32) -> Result<Arc<OpenFile>, Errno> {
    current_files().lock().get(fd).ok_or(Errno::EBADF)
}

/// The signal mask of `epoll_pwait` is not applied (as with `ppoll`), but its size and address are checked.
fn check_sigset(mask: u64, size: u64) -> Result<(), Errno> {
    if mask != 0 {
        if size != SIGSET_SIZE {
            return Err(Errno::EINVAL);
        }
        uaccess::read_u64(mask)?;
    }
    Ok(())
}

/// A millisecond timeout (negative: forever) as a monotonic deadline.
fn timeout_ms(ms: i32) -> Option<u64> {
    u64::try_from(ms).ok().map(|ms| now_ns().saturating_add(ms * 1_000_000))
}

fn write_timespec(buf: &mut Vec<u8>, ns: u64) {
    buf.extend_from_slice(&(ns / 1_000_000_000).to_ne_bytes());
    buf.extend_from_slice(&(ns % 1_000_000_000).to_ne_bytes());
}

/// A `struct timespec *` timeout (null: forever) as a monotonic deadline.
fn timeout_timespec(addr: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    Ok(Some(now_ns().saturating_add(uaccess::read_timespec(addr)?)))
}

fn eventfd2(initial: u32, flags: u32) -> SysResult {
    if flags & !(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Arc::new(EventFd::new(initial.into(), flags & EFD_SEMAPHORE != 0));
    install(ops, flags, flags & EFD_CLOEXEC != 0)
}

fn epoll_create1(flags: u32) -> SysResult {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    install(Arc::new(Epoll::new()), 0, flags & EPOLL_CLOEXEC != 0)
}

fn epoll_ctl(epfd: i32, op: u32, fd: i32, event: u64) -> SysResult {
    let (events, data) = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let mut b = [0u8; EPOLL_EVENT_SIZE];
        uaccess::read_bytes(event, &mut b)?;
        let events = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        let data = u64::from_ne_bytes(b[4..12].try_into().map_err(|_| Errno::EFAULT)?);
        (events, data)
    };
    let ep_file = file(epfd)?;
    let target = file(fd)?;
    // Files of the tree are always ready: Linux refuses to watch them.
    if matches!(target.handle(), Handle::Inode) {
        return Err(Errno::EPERM);
    }
    let ep = ep_file.other::<Epoll>().ok_or(Errno::EINVAL)?;
    if Arc::ptr_eq(&ep_file, &target) {
        return Err(Errno::EINVAL);
    }
    let exclusive = events & EPOLLEXCLUSIVE != 0;
    match op {
        EPOLL_CTL_ADD if exclusive && target.other::<Epoll>().is_some() => Err(Errno::EINVAL),
        EPOLL_CTL_ADD => ep.add(fd, &target, events, data),
        EPOLL_CTL_MOD if exclusive => Err(Errno::EINVAL),
        EPOLL_CTL_MOD => ep.modify(fd, &target, events, data),
        EPOLL_CTL_DEL => ep.remove(fd, &target),
        _ => Err(Errno::EINVAL),
    }?;
    Ok(0)
}

fn epoll_wait(epfd: i32, events: u64, max: i32, deadline: Option<u64>) -> SysResult {
    let max = usize::try_from(max)
        .ok()
        .filter(|&m| m > 0 && m <= i32::MAX as usize / EPOLL_EVENT_SIZE)
        .ok_or(Errno::EINVAL)?;
    let ep_file = file(epfd)?;
    let ep = ep_file.other::<Epoll>().ok_or(Errno::EINVAL)?;
    let ready = POLLERS
        .wait_until_deadline(
            || {
                let r = ep.collect(max);
                if !r.is_empty() {
                    Some(Ok(r))
                } else if signal_pending() {
                    Some(Err(Errno::EINTR))
                } else {
                    None
                }
            },
            deadline,
        )
        .transpose()?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ready.len() * EPOLL_EVENT_SIZE);
    for (ev, data) in &ready {
        out.extend_from_slice(&ev.to_ne_bytes());
        out.extend_from_slice(&data.to_ne_bytes());
    }
    uaccess::write_bytes(events, &out)?;
    Ok(ready.len() as u64)
}

/// `signalfd4(fd, mask, size, flags)`: a new signalfd when `fd` is -1, else a new set for signalfd `fd`.
fn signalfd4(fd: i32, mask: u64, size: u64, flags: u32) -> SysResult {
    if flags & !(SFD_NONBLOCK | SFD_CLOEXEC) != 0 || size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = uaccess::read_u64(mask)?;
    if fd == -1 {
        return install(Arc::new(SignalFd::new(set)), flags, flags & SFD_CLOEXEC != 0);
    }
    let existing = file(fd)?;
    existing.other::<SignalFd>().ok_or(Errno::EINVAL)?.set_mask(set);
    Ok(fd as u64)
}

/// `pidfd_open(pid, flags)`: a pidfd (always close-on-exec) for the process `pid` leads.
fn pidfd_open(pid: i32, flags: u32) -> SysResult {
    if flags & !O_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = crate::process::find(pid as u32).ok_or(Errno::ESRCH)?;
    install(Arc::new(PidFd::new(&p)), flags, true)
}

/// The process id behind pidfd `fd` and whether the pidfd is non-blocking (`waitid(P_PIDFD, …)`).
pub(super) fn pidfd_target(fd: i32) -> Result<(u32, bool), Errno> {
    let f = file(fd)?;
    let pidfd = f.other::<PidFd>().ok_or(Errno::EBADF)?;
    Ok((pidfd.pid(), f.flags() & O_NONBLOCK != 0))
}

/// `pidfd_getfd(pidfd, targetfd, flags)`: a copy (close-on-exec) of descriptor `targetfd` of the process,
/// which the caller must be allowed to trace (same real and saved ids as its own, or privilege).
fn pidfd_getfd(pidfd: i32, target: i32, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let f = file(pidfd)?;
    let p = f.other::<PidFd>().ok_or(Errno::EBADF)?.running().ok_or(Errno::ESRCH)?;
    let (me, them) = (crate::process::current().creds(), p.creds());
    let same_user = [them.uid.real, them.uid.effective, them.uid.saved]
        .iter()
        .all(|&u| u == me.uid.real)
        && [them.gid.real, them.gid.effective, them.gid.saved]
            .iter()
            .all(|&g| g == me.gid.real);
    if !same_user && !me.capable(CAP_SYS_PTRACE) {
        return Err(Errno::EPERM);
    }
    let theirs = p
        .threads()
        .first()
        .and_then(|t| t.open_file(target))
        .ok_or(Errno::EBADF)?;
    Ok(current_files().lock().install(theirs, true)? as u64)
}

fn timerfd_create(clock: u32, flags: u32) -> SysResult {
    if flags & !(TFD_NONBLOCK | TFD_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    match clock {
        timerfd::CLOCK_REALTIME
        | timerfd::CLOCK_MONOTONIC
        | timerfd::CLOCK_BOOTTIME
        | timerfd::CLOCK_REALTIME_ALARM
        | timerfd::CLOCK_BOOTTIME_ALARM => {}
        _ => return Err(Errno::EINVAL),
    }
    install(Arc::new(TimerFd::new(clock)), flags, flags & TFD_CLOEXEC != 0)
}

/// The timer behind `fd`: `EBADF` when none is open, `EINVAL` when it is not a timer.
fn timer(fd: i32) -> Result<Arc<TimerFd>, Errno> {
    file(fd)?.other_arc().ok_or(Errno::EINVAL)
}

fn write_itimerspec(addr: u64, (value, interval): (u64, u64)) -> Result<(), Errno> {
    let mut b = Vec::with_capacity(32);
    write_timespec(&mut b, interval);
    write_timespec(&mut b, value);
    uaccess::write_bytes(addr, &b)
}

fn timerfd_settime(fd: i32, flags: u32, new: u64, old: u64) -> SysResult {
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let interval = uaccess::read_timespec(new)?;
    let value = uaccess::read_timespec(new + 16)?;
    let t = timer(fd)?;
    let previous = t.set(value, interval, flags & TFD_TIMER_ABSTIME != 0);
    if old != 0 {
        write_itimerspec(old, previous)?;
    }
    Ok(0)
}

fn timerfd_gettime(fd: i32, cur: u64) -> SysResult {
    write_itimerspec(cur, timer(fd)?.get())?;
    Ok(0)
}
