//! `pidfd_open`: a file that refers to a process. It is readable (`POLLIN`) once the process has exited, is
//! what `waitid(P_PIDFD, …)` waits for, and `pidfd_getfd` copies the process's descriptors through it.
//! [`crate::process::exit`] calls [`crate::fs::poll::notify`] when a process ends.

use crate::fs::file::FileOps;
use crate::process::Process;
use crate::syscall::errno::Errno;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use linux_raw_sys::general::POLLIN;

/// A pidfd: the process it refers to (weakly: the file does not keep a reaped process alive).
pub struct PidFd {
    pid: u32,
    process: Weak<Process>,
}

impl PidFd {
    /// A pidfd for `p`.
    pub fn new(p: &Arc<Process>) -> PidFd {
        PidFd {
            pid: p.pid(),
            process: Arc::downgrade(p),
        }
    }

    /// The process's id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process, while it runs (`None` once it has exited or been reaped).
    pub fn running(&self) -> Option<Arc<Process>> {
        self.process
            .upgrade()
            .filter(|p| p.exit_status().is_none() && !p.is_exiting())
    }
}

impl FileOps for PidFd {
    fn read(&self, _: &mut [u8], _: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _: &[u8], _: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u32 {
        let exited = self.process.upgrade().is_none_or(|p| p.exit_status().is_some());
        if exited { POLLIN } else { 0 }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
