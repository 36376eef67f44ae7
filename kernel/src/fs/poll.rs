//! The wait queue `poll` and `select` sleep on: every change of readiness (pipe data, pipe ends, terminal
//! input) wakes it, and each waiter re-checks its own files.

use ember_frame::task::WaitQueue;

/// Tasks in `poll`/`select`.
pub static POLLERS: WaitQueue = WaitQueue::new();

/// Wakes every poller: some file's readiness may have changed.
pub fn notify() {
    POLLERS.wake_all();
}
