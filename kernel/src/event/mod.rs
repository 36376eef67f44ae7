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
    mut try_now: impl FnMut() -> Option<Result<T, Errno>>,
) -> Result<T, Errno> {
    queue.wait_until(|| match try_now() {
        Some(r) => Some(r),
        None if nonblock => Some(Err(Errno::EAGAIN)),
        None if signal_pending() => Some(Err(Errno::EINTR)),
        None => None,
    })
}
