//! `eventfd`: a 64-bit counter that writes add to and reads take (all of it, or one in semaphore mode).

use super::wait_for;
use crate::fs::file::FileOps;
use crate::fs::poll;
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use core::any::Any;
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use linux_raw_sys::general::{POLLIN, POLLOUT};

/// The largest value the counter holds.
const MAX: u64 = u64::MAX - 1;

/// An eventfd's counter and its waiters.
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    /// Readers waiting for a non-zero count and writers waiting for room.
    waiters: WaitQueue,
}

impl EventFd {
    /// A counter starting at `initial`; `semaphore` makes each read take 1.
    pub fn new(initial: u64, semaphore: bool) -> EventFd {
        EventFd {
            count: Mutex::new(initial),
            semaphore,
            waiters: WaitQueue::new(),
        }
    }

    fn changed(&self) {
        self.waiters.wake_all();
        poll::notify();
    }
}

impl FileOps for EventFd {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        let v = wait_for(&self.waiters, nonblock, || {
            let mut c = self.count.lock();
            if *c == 0 {
                return None;
            }
            let v = if self.semaphore { 1 } else { *c };
            *c -= v;
            Some(Ok(v))
        })?;
        out.copy_from_slice(&v.to_ne_bytes());
        self.changed();
        Ok(8)
    }

    fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let v = u64::from_ne_bytes(
            data.get(..8)
                .ok_or(Errno::EINVAL)?
                .try_into()
                .map_err(|_| Errno::EINVAL)?,
        );
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        wait_for(&self.waiters, nonblock, || {
            let mut c = self.count.lock();
            if MAX - *c < v {
                return None;
            }
            *c += v;
            Some(Ok(()))
        })?;
        self.changed();
        Ok(8)
    }

    fn poll(&self) -> u32 {
        let c = *self.count.lock();
        let mut ev = 0;
        if c > 0 {
            ev |= POLLIN;
        }
        if c < MAX {
            ev |= POLLOUT;
        }
        ev
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
