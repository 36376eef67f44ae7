//! The wait queue `poll` and `select` sleep on: every change of readiness (pipe data, pipe ends, terminal
//! input) wakes it, and each waiter re-checks its own files.

use core::sync::atomic::{AtomicU64, Ordering};
use ember_frame::task::WaitQueue;

/// Tasks in `poll`/`select`.
pub static POLLERS: WaitQueue = WaitQueue::new();

/// Counts [`notify`] calls: edge-triggered epoll reports a ready file again only once it has moved.
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// Wakes every poller: some file's readiness may have changed.
pub fn notify() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
    POLLERS.wake_all();
}

/// How many readiness changes there have been (see [`notify`]).
pub fn changes() -> u64 {
    CHANGES.load(Ordering::SeqCst)
}
