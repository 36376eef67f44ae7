//! Readiness files: [`eventfd`] counters, [`epoll`] instances, [`timerfd`] timers, [`signalfd`] signal readers and
//! [`pidfd`] process references. They are
//! [`FileOps`](crate::fs::file::FileOps) files, and every change of their readiness goes through
//! [`crate::fs::poll::notify`], the one wake-up `poll`, `select` and `epoll_wait` share.
//!
//! The system calls on top are in [`crate::syscall::event`].

pub mod epoll;
pub mod eventfd;
pub mod pidfd;
pub mod signalfd;
pub mod timerfd;

use crate::process::signal_pending;
use crate::syscall::errno::Errno;
use ember_frame::task::WaitQueue;

/// Waits on `queue` until `try_now` gives a result: `EAGAIN` at once when `nonblock` and nothing is there,
/// `EINTR` on a signal. `try_now` returns `None` while the caller must wait.
pub fn wait_for<T>(
    queue: &WaitQueue,
    nonblock: bool,
    try_now: impl FnMut() -> Option<Result<T, Errno>>,
) -> Result<T, Errno> {
    wait_for_until(queue, nonblock, None, try_now)
}

/// [`wait_for`], giving up with `EAGAIN` when the monotonic clock reaches `deadline_ns` (a socket's
/// `SO_RCVTIMEO`/`SO_SNDTIMEO`).
pub fn wait_for_until<T>(
    queue: &WaitQueue,
    nonblock: bool,
    deadline_ns: Option<u64>,
    mut try_now: impl FnMut() -> Option<Result<T, Errno>>,
) -> Result<T, Errno> {
    let step = || match try_now() {
        Some(r) => Some(r),
        None if nonblock => Some(Err(Errno::EAGAIN)),
        None if signal_pending() => Some(Err(Errno::EINTR)),
        None => None,
    };
    match deadline_ns {
        None => queue.wait_until(step),
        Some(d) => queue.wait_until_deadline(step, Some(d)).unwrap_or(Err(Errno::EAGAIN)),
    }
}

/// The deadline a socket timeout option (`struct timeval`, 16 bytes) sets from now; `None` for no timeout
/// (zero, absent, or malformed).
pub fn timeout_deadline(timeval: Option<&[u8]>) -> Option<u64> {
    let t = timeval?;
    let sec = i64::from_ne_bytes(t.get(..8)?.try_into().ok()?);
    let usec = i64::from_ne_bytes(t.get(8..16)?.try_into().ok()?);
    if sec < 0 || !(0..1_000_000).contains(&usec) || (sec == 0 && usec == 0) {
        return None;
    }
    let ns = (sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(usec as u64 * 1000);
    Some(ember_frame::time::now_ns().saturating_add(ns))
}
