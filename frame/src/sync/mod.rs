//! Spin locks with a contention profile: [`Mutex`] is `spin::Mutex` that, once [`lockstat::enable`] ran
//! (`ember.lockstat`), counts acquisitions, contended acquisitions and the TSC cycles spent waiting, per
//! *lock class*: the source line that made the lock (as Linux's lockdep names a class by its init site).

pub mod lockstat;

use core::panic::Location;
use core::sync::atomic::Ordering;
pub use spin::MutexGuard;

/// A spin lock (interrupts stay as they are: the kernel runs with them off) whose acquisitions are profiled
/// by [`lockstat`] when it is enabled. With profiling off, `lock` costs one relaxed load more than `spin`'s.
pub struct Mutex<T: ?Sized> {
    class: &'static Location<'static>,
    inner: spin::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A lock holding `value`; its class is the caller's source line.
    #[track_caller]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            class: Location::caller(),
            inner: spin::Mutex::new(value),
        }
    }

    /// The value, for an owner with the lock to itself.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, spinning while another CPU holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if !lockstat::ENABLED.load(Ordering::Relaxed) {
            return self.inner.lock();
        }
        if let Some(guard) = self.inner.try_lock() {
            lockstat::record(self.class, true, None);
            return guard;
        }
        let started = crate::arch::regs::rdtsc();
        let guard = self.inner.lock();
        lockstat::record(self.class, true, Some(crate::arch::regs::rdtsc().wrapping_sub(started)));
        guard
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    /// The value, through exclusive access to the lock (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Counts a wait for this lock's class that happened outside [`Mutex::lock`] (a sleeping lock built on
    /// this one waited `cycles` TSC cycles for its holder); the acquisition that follows counts as usual.
    pub fn record_wait(&self, cycles: u64) {
        if lockstat::ENABLED.load(Ordering::Relaxed) {
            lockstat::record(self.class, false, Some(cycles));
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + core::fmt::Debug> core::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

/// Reads the time-stamp counter (for callers timing waits they report with [`Mutex::record_wait`]).
pub fn cycles() -> u64 {
    crate::arch::regs::rdtsc()
}
