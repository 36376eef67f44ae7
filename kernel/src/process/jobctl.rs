//! Job control: a process stops on `SIGSTOP`, `SIGTSTP`, `SIGTTIN` or `SIGTTOU` (default action), continues
//! on `SIGCONT`, and its parent learns of both through `SIGCHLD` (unless it set `SA_NOCLDSTOP`) and `wait`'s
//! `WUNTRACED`/`WCONTINUED` reports.
//!
//! A stop holds every thread of the process at its next return to user mode; `SIGCONT` (caught, ignored or
//! default) or `SIGKILL` lets them go. Pending stop signals are discarded when `SIGCONT` is sent and the other
//! way round, as on Linux.

use super::signal::{self, SIGCHLD, SIGKILL, bit};
use super::{Process, Thread};
use core::sync::atomic::{AtomicBool, Ordering};
use ember_frame::sync::Mutex;

/// `SIGCONT`
pub const SIGCONT: u32 = 18;
/// The stop signals: `SIGSTOP`, `SIGTSTP`, `SIGTTIN`, `SIGTTOU`.
const STOP_SIGNALS: u64 = bit(19) | bit(20) | bit(21) | bit(22);
/// `sigaction`'s "no SIGCHLD when a child stops or continues".
const SA_NOCLDSTOP: u64 = 1;

/// A process's job-control state.
#[derive(Debug, Default)]
pub struct JobState {
    /// Whether the process is stopped (read on every return to user mode, hence atomic; changed under
    /// `reports`' lock).
    stopped: AtomicBool,
    reports: Mutex<Reports>,
}

/// What the parent has not collected yet.
#[derive(Debug, Default)]
struct Reports {
    /// The stop signal of a stop not yet collected with `WUNTRACED`.
    stop: Option<u32>,
    /// A continue not yet collected with `WCONTINUED`.
    continued: bool,
}

impl JobState {
    /// Whether the process is stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// `sig` is being sent to `p`: `SIGCONT` continues it and discards pending stops; a stop signal discards a
/// pending `SIGCONT`. Runs before the signal is queued (even when `SIGCONT` is ignored).
pub fn on_send(p: &Process, sig: u32) {
    let discard = match sig {
        SIGCONT => STOP_SIGNALS,
        19..=22 => bit(SIGCONT),
        _ => return,
    };
    p.pending.fetch_and(!discard, Ordering::AcqRel);
    for t in p.threads.lock().iter() {
        t.pending.fetch_and(!discard, Ordering::AcqRel);
    }
    if sig == SIGCONT {
        let was_stopped = {
            let mut r = p.job.reports.lock();
            let was = p.job.stopped.swap(false, Ordering::AcqRel);
            if was {
                r.stop = None;
                r.continued = true;
            }
            was
        };
        if was_stopped {
            p.resume.wake_all();
            notify_parent(p);
        }
    }
}

/// The default action of stop signal `sig` for `t`'s process: stop it, tell the parent, and hold `t` until it
/// continues.
pub fn stop(t: &Thread, sig: u32) {
    let p = &t.process;
    {
        let mut r = p.job.reports.lock();
        if p.job.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        r.stop = Some(sig);
        r.continued = false;
    }
    for other in p.threads.lock().iter() {
        other.kick();
    }
    notify_parent(p);
    hold_while_stopped(t);
}

/// Holds `t` while its process is stopped (until `SIGCONT`, or `SIGKILL` or the process's end).
#[inline]
pub fn hold_while_stopped(t: &Thread) {
    // Checked inline: every return to user mode passes here.
    if t.process.job.stopped.load(Ordering::Acquire) {
        hold(t);
    }
}

#[cold]
fn hold(t: &Thread) {
    let p = &t.process;
    p.resume.wait_until(|| {
        let go = !p.job.stopped.load(Ordering::Acquire) || p.is_exiting() || signal::pending(t) & bit(SIGKILL) != 0;
        go.then_some(())
    });
}

/// Takes the report a `wait` for `child` may collect: `(sig << 8) | 0x7f` for a stop (`untraced`), `0xffff`
/// for a continue (`continued`); left in place when `keep` (`WNOWAIT`).
pub fn take_report(child: &Process, untraced: bool, continued: bool, keep: bool) -> Option<u32> {
    let mut r = child.job.reports.lock();
    if untraced && let Some(sig) = r.stop {
        if !keep {
            r.stop = None;
        }
        return Some((sig << 8) | 0x7f);
    }
    if continued && r.continued {
        if !keep {
            r.continued = false;
        }
        return Some(0xffff);
    }
    None
}

fn notify_parent(p: &Process) {
    let Some(parent) = p.parent.lock().upgrade() else {
        return;
    };
    if parent.actions.lock().get(SIGCHLD).flags & SA_NOCLDSTOP == 0 {
        signal::send_to_process(&parent, SIGCHLD);
    }
    parent.child_wait.wake_all();
}
