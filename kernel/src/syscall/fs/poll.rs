//! Waiting for readiness: `poll`, `ppoll`, `select`, `pselect6`. The signal masks of `ppoll` and `pselect6`
//! are not applied (signal delivery is the process side's).

use super::{file, uaccess};
use crate::fs::OpenFile;
use crate::fs::fdtable::MAX_FDS;
use crate::fs::poll::POLLERS;
use crate::process::{current_files, signal_pending};
use crate::syscall::errno::{Errno, SysResult};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use ember_frame::time::now_ns;
use linux_raw_sys::general::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};

/// How long to wait: `None` forever, else the monotonic deadline.
pub type Deadline = Option<u64>;

/// A `poll` timeout in milliseconds (negative: forever).
pub fn timeout_ms(ms: i32) -> Deadline {
    u64::try_from(ms).ok().map(|ms| now_ns().saturating_add(ms * 1_000_000))
}

fn deadline_after(sec: i64, sub_ns: i64, unit_max: i64) -> Result<Deadline, Errno> {
    if sec < 0 || !(0..unit_max).contains(&sub_ns) {
        return Err(Errno::EINVAL);
    }
    let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(sub_ns as u64);
    Ok(Some(now_ns().saturating_add(ns)))
}

/// Reads the two 64-bit words of a `timespec` or `timeval`.
fn read_pair(addr: u64) -> Result<(i64, i64), Errno> {
    let mut b = [0u8; 16];
    uaccess::read_bytes(addr, &mut b)?;
    let word = |i: usize| i64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or_default());
    Ok((word(0), word(8)))
}

/// A `struct timespec *` timeout (null: forever).
pub fn timeout_timespec(addr: u64) -> Result<Deadline, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let (sec, nsec) = read_pair(addr)?;
    deadline_after(sec, nsec, 1_000_000_000)
}

/// A `struct timeval *` timeout (null: forever).
pub fn timeout_timeval(addr: u64) -> Result<Deadline, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let (sec, usec) = read_pair(addr)?;
    deadline_after(sec, usec.saturating_mul(1000), 1_000_000_000)
}

/// The events `file` has now, `POLLRDNORM`/`POLLWRNORM` included with `POLLIN`/`POLLOUT`.
fn events(file: &OpenFile) -> u32 {
    let mut ev = file.poll();
    if ev & POLLIN != 0 {
        ev |= POLLRDNORM;
    }
    if ev & POLLOUT != 0 {
        ev |= POLLWRNORM;
    }
    ev
}

/// Waits until `check` finds something ready (returns it), the deadline passes (`check` once more), or a
/// signal arrives (`EINTR`).
fn wait<T>(deadline: Deadline, mut check: impl FnMut() -> Option<T>) -> Result<Option<T>, Errno> {
    let r = POLLERS.wait_until_deadline(
        || match check() {
            Some(v) => Some(Ok(v)),
            None if signal_pending() => Some(Err(Errno::EINTR)),
            None => None,
        },
        deadline,
    );
    r.transpose()
}

/// `poll(2)` and `ppoll(2)`.
pub fn poll(fds_addr: u64, nfds: u64, deadline: Deadline) -> SysResult {
    if nfds > MAX_FDS as u64 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; nfds as usize * 8];
    uaccess::read_bytes(fds_addr, &mut raw)?;
    let entries: Vec<(i32, u32)> = raw
        .chunks_exact(8)
        .map(|c| {
            (
                i32::from_ne_bytes([c[0], c[1], c[2], c[3]]),
                u16::from_ne_bytes([c[4], c[5]]) as u32,
            )
        })
        .collect();
    let files: Vec<Option<Arc<OpenFile>>> = {
        let table = current_files();
        let table = table.lock();
        entries.iter().map(|&(fd, _)| table.get(fd)).collect()
    };
    let revents = |_: ()| -> Vec<u32> {
        entries
            .iter()
            .zip(&files)
            .map(|(&(fd, wanted), f)| match f {
                _ if fd < 0 => 0,
                None => POLLNVAL,
                Some(f) => events(f) & (wanted | POLLERR | POLLHUP),
            })
            .collect()
    };
    let ready = wait(deadline, || {
        let r = revents(());
        r.iter().any(|&e| e != 0).then_some(r)
    })?;
    let result = ready.unwrap_or_else(|| vec![0; entries.len()]);
    for (c, e) in raw.chunks_exact_mut(8).zip(&result) {
        c[6..8].copy_from_slice(&(*e as u16).to_ne_bytes());
    }
    uaccess::write_bytes(fds_addr, &raw)?;
    Ok(result.iter().filter(|&&e| e != 0).count() as u64)
}

/// `select(2)` and `pselect6(2)`: `sets` are the read, write and exception `fd_set` addresses (0: none).
pub fn select(nfds: i32, sets: [u64; 3], deadline: Deadline) -> SysResult {
    // Linux refuses a negative count and looks at no more descriptors than a table can hold.
    let nfds = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?.min(MAX_FDS);
    let words = nfds.div_ceil(64);
    let mut wanted = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut raw = vec![0u8; words * 8];
    for (set, &addr) in wanted.iter_mut().zip(&sets) {
        if addr != 0 {
            uaccess::read_bytes(addr, &mut raw)?;
            for (w, b) in set.iter_mut().zip(raw.chunks_exact(8)) {
                *w = u64::from_ne_bytes(b.try_into().unwrap_or_default());
            }
        }
    }
    let is_set = |set: &[u64], fd: usize| set[fd / 64] & (1 << (fd % 64)) != 0;
    let mut files: Vec<(usize, Arc<OpenFile>)> = Vec::new();
    for fd in 0..nfds {
        if wanted.iter().any(|s| is_set(s, fd)) {
            files.push((fd, file(fd as i32)?));
        }
    }
    // What counts as ready for each set.
    let masks = [POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI];
    let check = || {
        let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        let mut count = 0u64;
        for (fd, f) in &files {
            let ev = events(f);
            for k in 0..3 {
                if is_set(&wanted[k], *fd) && ev & masks[k] != 0 {
                    out[k][fd / 64] |= 1 << (fd % 64);
                    count += 1;
                }
            }
        }
        (count > 0).then_some((out, count))
    };
    let (out, count) = wait(deadline, check)?.unwrap_or_else(|| ([vec![0; words], vec![0; words], vec![0; words]], 0));
    for (set, &addr) in out.iter().zip(&sets) {
        if addr != 0 {
            let bytes: Vec<u8> = set.iter().flat_map(|w| w.to_ne_bytes()).collect();
            uaccess::write_bytes(addr, &bytes)?;
        }
    }
    Ok(count)
}
