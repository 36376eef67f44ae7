//! `signalfd`: a file whose reads take pending signals of a set, as `struct signalfd_siginfo` records.
//!
//! As in Linux, the file reads the signals of whichever thread uses it: its own and its process's pending
//! signals, blocked or not (the set's signals are normally blocked, so that they wait for the read). It is
//! readable (`POLLIN`) while one of them is pending; [`crate::process::signal`] calls
//! [`crate::fs::poll::notify`] whenever a signal becomes pending.

use super::wait_for;
use crate::fs::file::FileOps;
use crate::process::{current_thread, signal};
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};
use ember_frame::task::WaitQueue;
use linux_raw_sys::general::POLLIN;

/// Bytes of a `struct signalfd_siginfo`.
pub const SIGINFO_SIZE: usize = 128;

/// A signalfd: the set of signals it reads.
pub struct SignalFd {
    mask: AtomicU64,
}

impl SignalFd {
    /// A signalfd reading the signals of `mask` (SIGKILL and SIGSTOP are never read: they are dropped).
    pub fn new(mask: u64) -> SignalFd {
        SignalFd {
            mask: AtomicU64::new(mask & !signal::SigSet::UNBLOCKABLE),
        }
    }

    /// Replaces the set (`signalfd` on an existing signalfd).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !signal::SigSet::UNBLOCKABLE, Ordering::Relaxed);
        crate::fs::poll::notify();
    }

    fn mask(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }
}

/// The record of signal `sig` (`struct signalfd_siginfo`). ember keeps no sender information with pending
/// signals, so only the number is filled in (code `SI_USER`, pid and uid 0).
fn record(sig: u32) -> [u8; SIGINFO_SIZE] {
    let mut r = [0u8; SIGINFO_SIZE];
    r[0..4].copy_from_slice(&sig.to_ne_bytes());
    r
}

impl FileOps for SignalFd {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let room = buf.len() / SIGINFO_SIZE;
        if room == 0 {
            return Err(Errno::EINVAL);
        }
        let t = current_thread();
        // Waiting needs no queue of its own: a new signal kicks every thread of the process.
        let first = wait_for(&WaitQueue::new(), nonblock, || {
            signal::take_from(&t, self.mask()).map(Ok)
        })?;
        buf[..SIGINFO_SIZE].copy_from_slice(&record(first));
        let mut n = 1;
        while n < room {
            let Some(sig) = signal::take_from(&t, self.mask()) else {
                break;
            };
            buf[n * SIGINFO_SIZE..(n + 1) * SIGINFO_SIZE].copy_from_slice(&record(sig));
            n += 1;
        }
        Ok(n * SIGINFO_SIZE)
    }

    fn write(&self, _: &[u8], _: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u32 {
        if signal::pending(&current_thread()) & self.mask() != 0 {
            POLLIN
        } else {
            0
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
