//! [`WaitQueue`]: tasks waiting for a condition that another task or an interrupt handler makes true.

use super::sched::{block_current, current};
use super::{State, Task};
use crate::sync::Mutex;
use alloc::collections::VecDeque;
use alloc::sync::Arc;

/// A queue of tasks waiting for something. Wakers change the state first, then call [`WaitQueue::wake_all`]
/// or [`WaitQueue::wake_one`]; waiters re-check their condition after every wake-up.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<VecDeque<Arc<Task>>>,
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> WaitQueue {
        WaitQueue {
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// Blocks until `cond` returns `Some`, and returns that.
    pub fn wait_until<T>(&self, mut cond: impl FnMut() -> Option<T>) -> T {
        loop {
            if let Some(v) = self.wait_until_deadline(&mut cond, None) {
                return v;
            }
        }
    }

    /// Blocks until `cond` returns `Some` (returns it) or the monotonic clock reaches `deadline_ns` (returns
    /// `None`; `cond` is checked once more first). Another task's [`Task::wake`] also makes it re-check.
    pub fn wait_until_deadline<T>(&self, mut cond: impl FnMut() -> Option<T>, deadline_ns: Option<u64>) -> Option<T> {
        let cur = current();
        loop {
            if let Some(v) = cond() {
                return Some(v);
            }
            if deadline_ns.is_some_and(|d| crate::time::now_ns() >= d) {
                return None;
            }
            cur.set_state(State::Blocked);
            {
                let mut waiters = self.waiters.lock();
                waiters.retain(|t| !Arc::ptr_eq(t, &cur));
                waiters.push_back(cur.clone());
            }
            // A waker that ran between the check above and the registration has changed the state already.
            if let Some(v) = cond() {
                super::sched::cancel_block(&cur);
                self.waiters.lock().retain(|t| !Arc::ptr_eq(t, &cur));
                return Some(v);
            }
            block_current(&cur, deadline_ns);
            self.waiters.lock().retain(|t| !Arc::ptr_eq(t, &cur));
        }
    }

    /// Wakes every waiting task.
    pub fn wake_all(&self) {
        let waiters = core::mem::take(&mut *self.waiters.lock());
        for t in waiters {
            t.wake();
        }
    }

    /// Wakes the task that has waited longest.
    pub fn wake_one(&self) {
        let t = self.waiters.lock().pop_front();
        if let Some(t) = t {
            t.wake();
        }
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }
}
