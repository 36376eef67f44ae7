//! Processes and threads: the Linux model on top of the framework's tasks.

use crate::fs::{FdTable, FsContext};
use alloc::sync::Arc;
use spin::Mutex;

/// A thread of a process (one framework task each).
pub struct Thread {
    tid: u32,
    process: Arc<Process>,
    files: Mutex<Arc<Mutex<FdTable>>>,
    fs: Mutex<Arc<Mutex<FsContext>>>,
}

/// A process.
pub struct Process {
    pid: u32,
    vm: Mutex<Arc<crate::vm::Vm>>,
}

impl Thread {
    /// The thread's id.
    pub fn tid(&self) -> u32 {
        self.tid
    }
    /// The process the thread belongs to.
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// The process's address space.
    pub fn vm(&self) -> Arc<crate::vm::Vm> {
        self.vm.lock().clone()
    }
}

/// The calling thread.
pub fn current_thread() -> Arc<Thread> {
    unimplemented!()
}

/// The calling thread's open files (shared with the threads and processes it shares them with).
pub fn current_files() -> Arc<Mutex<FdTable>> {
    current_thread().files.lock().clone()
}

/// The calling thread's root, working directory and umask.
pub fn current_fs() -> Arc<Mutex<FsContext>> {
    current_thread().fs.lock().clone()
}

/// Whether the calling thread has a signal to handle: blocking waits end with `EINTR` when it does.
pub fn signal_pending() -> bool {
    false
}

/// The calling process's process group.
pub fn current_pgid() -> u32 {
    0
}

/// Sends signal `sig` to every process of process group `pgid` (the terminal's ^C, ^Z, ^\).
pub fn signal_process_group(pgid: u32, sig: u32) {
    let _ = (pgid, sig);
}

/// The calling process's executable, as an absolute path (`/proc/self/exe`).
pub fn current_exe_path() -> alloc::vec::Vec<u8> {
    b"/init".to_vec()
}

/// Sends signal `sig` to the calling thread (`SIGPIPE` on a write to a pipe nobody reads).
pub fn signal_current_thread(sig: u32) {
    let _ = sig;
}
