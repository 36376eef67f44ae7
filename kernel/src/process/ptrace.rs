//! A minimal `ptrace`: a process may ask to be traced by its parent (`PTRACE_TRACEME`); from then on every
//! signal but `SIGKILL` stops it at delivery (signal-delivery-stop, even one whose action is to ignore it), the
//! parent's `wait` reports the stop (with or without `WUNTRACED`), and `PTRACE_CONT` resumes it with the signal
//! the tracer chooses (0: none), `PTRACE_DETACH` also ends the tracing, `PTRACE_KILL` kills it. The tracer's
//! end detaches its tracees. No `SIGTRAP` follows an `execve` of a tracee; attaching to other processes, register and memory access are not implemented
//! (`EIO` for a stopped tracee, `ESRCH` otherwise, as for any request on a process that is not one's stopped
//! tracee).

use super::signal::{self, SIGCHLD, SIGKILL, bit};
use super::{Process, Thread};
use crate::syscall::errno::Errno;
use ember_frame::sync::Mutex;

/// `PTRACE_TRACEME`
const PTRACE_TRACEME: u64 = 0;
/// `PTRACE_CONT`
const PTRACE_CONT: u64 = 7;
/// `PTRACE_KILL`
const PTRACE_KILL: u64 = 8;
/// `PTRACE_DETACH`
const PTRACE_DETACH: u64 = 17;

/// A process's tracing state.
#[derive(Debug, Default)]
pub struct TraceState(Mutex<Trace>);

#[derive(Debug, Default)]
struct Trace {
    /// The tracer's pid, while traced.
    tracer: Option<u32>,
    /// The signal of the signal-delivery-stop the tracee is in.
    stopped: Option<u32>,
    /// A stop the tracer's `wait` has not collected yet (its signal).
    report: Option<u32>,
    /// What the tracer resumed the tracee with: the signal to deliver (0: none).
    resume: Option<u32>,
}

impl TraceState {
    /// Whether the process is traced.
    pub fn is_traced(&self) -> bool {
        self.0.lock().tracer.is_some()
    }
}

/// `ptrace(request, pid, addr, data)` by `caller`.
pub fn ptrace(caller: &Process, request: u64, pid: u32, data: u64) -> Result<u64, Errno> {
    if request == PTRACE_TRACEME {
        let mut tr = caller.trace.0.lock();
        if tr.tracer.is_some() || caller.ppid() == 0 {
            return Err(Errno::EPERM);
        }
        tr.tracer = Some(caller.ppid());
        return Ok(0);
    }
    let tracee = super::find(pid).ok_or(Errno::ESRCH)?;
    let mut tr = tracee.trace.0.lock();
    if tr.tracer != Some(caller.pid()) {
        return Err(Errno::ESRCH);
    }
    if request == PTRACE_KILL {
        drop(tr);
        signal::send_to_process(&tracee, SIGKILL);
        return Ok(0);
    }
    if tr.stopped.is_none() {
        return Err(Errno::ESRCH);
    }
    let sig = u32::try_from(data)
        .ok()
        .filter(|&s| s as usize <= signal::NSIG)
        .ok_or(Errno::EIO)?;
    match request {
        PTRACE_CONT => {}
        PTRACE_DETACH => tr.tracer = None,
        _ => return Err(Errno::EIO),
    }
    tr.resume = Some(sig);
    tr.report = None;
    drop(tr);
    tracee.resume.wake_all();
    Ok(0)
}

/// Signal `sig` is about to be delivered to `t` of a traced process: stops it until the tracer resumes it, and
/// returns the signal to deliver instead (`None`: none). `sig` itself when the process is not traced or the
/// signal is `SIGKILL`.
pub fn signal_stop(t: &Thread, sig: u32) -> Option<u32> {
    let p = &t.process;
    {
        let mut tr = p.trace.0.lock();
        if tr.tracer.is_none() || sig == SIGKILL {
            return Some(sig);
        }
        tr.stopped = Some(sig);
        tr.report = Some(sig);
        tr.resume = None;
    }
    if let Some(parent) = p.parent.lock().upgrade() {
        signal::send_to_process(&parent, SIGCHLD);
        parent.child_wait.wake_all();
    }
    let resumed = p.resume.wait_until(|| {
        let mut tr = p.trace.0.lock();
        if let Some(s) = tr.resume.take() {
            return Some(Some(s));
        }
        // Killed, or the tracer went away: the stop ends with nothing to deliver.
        let gone = tr.tracer.is_none() || p.is_exiting() || signal::pending(t) & bit(SIGKILL) != 0;
        gone.then_some(None)
    });
    let mut tr = p.trace.0.lock();
    tr.stopped = None;
    tr.report = None;
    resumed.filter(|&s| s != 0)
}

/// The wait status of a stop of `child` its tracer has not collected (`(sig << 8) | 0x7f`), taken unless
/// `keep` (`WNOWAIT`).
pub fn take_report(child: &Process, keep: bool) -> Option<u32> {
    let mut tr = child.trace.0.lock();
    let sig = tr.report?;
    if !keep {
        tr.report = None;
    }
    Some((sig << 8) | 0x7f)
}

/// The tracer of `tracee` ended: the tracing ends, and a stopped tracee goes on.
pub fn tracer_gone(tracee: &Process) {
    let mut tr = tracee.trace.0.lock();
    if tr.tracer.take().is_some() {
        tr.report = None;
        drop(tr);
        tracee.resume.wake_all();
    }
}
