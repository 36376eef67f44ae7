//! [`SleepLock`]: a mutex whose waiters sleep instead of spinning, for state held across block I/O (a task
//! waiting for the disk must not leave another spinning on the only CPU).

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};
use ember_frame::sync::{Mutex, MutexGuard};
use ember_frame::task::WaitQueue;

/// A mutex for kernel tasks that may sleep while holding it.
pub struct SleepLock<T> {
    busy: AtomicBool,
    waiters: WaitQueue,
    inner: Mutex<T>,
}

/// Access to a [`SleepLock`]'s value; dropping it lets the next waiter in.
pub struct SleepGuard<'a, T> {
    lock: &'a SleepLock<T>,
    guard: MutexGuard<'a, T>,
}

impl<T> SleepLock<T> {
    /// A lock holding `value`; its lock class (see [`ember_frame::sync::lockstat`]) is the caller's line.
    #[track_caller]
    pub fn new(value: T) -> SleepLock<T> {
        SleepLock {
            busy: AtomicBool::new(false),
            waiters: WaitQueue::new(),
            inner: Mutex::new(value),
        }
    }

    /// Waits (sleeping) until the lock is free, then takes it.
    pub fn lock(&self) -> SleepGuard<'_, T> {
        let take = || {
            self.busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .ok()
        };
        if take().is_none() {
            let started = ember_frame::sync::cycles();
            self.waiters.wait_until(take);
            self.inner
                .record_wait(ember_frame::sync::cycles().wrapping_sub(started));
        }
        // `busy` admits one holder at a time, so the inner lock is free and taken at once.
        SleepGuard {
            lock: self,
            guard: self.inner.lock(),
        }
    }
}

impl<T> Deref for SleepGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for SleepGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for SleepGuard<'_, T> {
    fn drop(&mut self) {
        // The inner guard is released right after this body; a woken waiter that gets here first spins on it
        // for those few instructions only.
        self.lock.busy.store(false, Ordering::Release);
        self.lock.waiters.wake_one();
    }
}
