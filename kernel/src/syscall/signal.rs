//! Signal calls: `rt_sigaction`, `rt_sigprocmask`, `rt_sigpending`, `rt_sigsuspend`, `sigaltstack`,
//! `pause`, `alarm`, `setitimer`/`getitimer`.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::signal::{self, SigAction};
use crate::process::{Process, Thread, signal_pending};
use alloc::sync::Arc;
use ember_frame::task::{Task, WaitQueue};
use ember_frame::time::now_ns;
use linux_raw_sys::general as nr;

pub(super) fn handle(thread: &Thread, n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match n as u32 {
        nr::__NR_rt_sigaction => sigaction(thread, a),
        nr::__NR_rt_sigprocmask => sigprocmask(thread, a),
        nr::__NR_rt_sigpending => uaccess::write_u64(a[0], signal::pending(thread) & thread.mask()).map(|()| 0),
        nr::__NR_rt_sigsuspend => {
            if a[1] != 8 {
                return Some(Err(Errno::EINVAL));
            }
            match uaccess::read_u64(a[0]) {
                Ok(mask) => {
                    signal::suspend_mask(thread, mask);
                    WaitQueue::new().wait_until(|| signal_pending().then_some(()));
                    // The thread loop delivers the signal and restores the mask.
                    Err(Errno::EINTR_NORESTART)
                }
                Err(e) => Err(e),
            }
        }
        nr::__NR_pause => {
            WaitQueue::new().wait_until(|| signal_pending().then_some(()));
            Err(Errno::EINTR_NORESTART)
        }
        nr::__NR_alarm => {
            let left = set_alarm(thread.process(), a[0].saturating_mul(1_000_000_000), 0);
            Ok(left.0.div_ceil(1_000_000_000))
        }
        nr::__NR_setitimer => setitimer(thread.process(), a),
        nr::__NR_getitimer => {
            if a[0] != 0 {
                return Some(Err(Errno::EINVAL));
            }
            let (left, interval) = alarm_left(thread.process());
            write_itimerval(a[1], interval, left).map(|()| 0)
        }
        _ => return None,
    })
}

fn sigaction(thread: &Thread, a: [u64; 6]) -> SysResult {
    if a[3] != 8 {
        return Err(Errno::EINVAL);
    }
    let new = if a[1] != 0 {
        let mut b = [0u8; 32];
        uaccess::read_bytes(a[1], &mut b)?;
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Some(SigAction {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        })
    } else {
        None
    };
    let old = signal::set_action(thread.process(), a[0] as u32, new)?;
    if a[2] != 0 {
        let mut b = [0u8; 32];
        for (i, v) in [old.handler, old.flags, old.restorer, old.mask].iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        uaccess::write_bytes(a[2], &b)?;
    }
    Ok(0)
}

fn sigprocmask(thread: &Thread, a: [u64; 6]) -> SysResult {
    if a[3] != 8 {
        return Err(Errno::EINVAL);
    }
    let old = thread.mask();
    if a[1] != 0 {
        let set = uaccess::read_u64(a[1])?;
        let new = match a[0] {
            0 => old | set,
            1 => old & !set,
            2 => set,
            _ => return Err(Errno::EINVAL),
        };
        thread.set_mask(new);
    }
    if a[2] != 0 {
        uaccess::write_u64(a[2], old)?;
    }
    Ok(0)
}

/// `sigaltstack`; `rsp` is the caller's stack pointer (changing the stack while running on it is refused).
pub(super) fn sigaltstack(thread: &Thread, a: [u64; 6], rsp: u64) -> SysResult {
    let new = if a[0] != 0 {
        let sp = uaccess::read_u64(a[0])?;
        let flags = uaccess::read_u32(a[0] + 8)?;
        let size = uaccess::read_u64(a[0] + 16)?;
        Some((sp, size, flags))
    } else {
        None
    };
    let old = signal::altstack(thread, new, rsp)?;
    if a[1] != 0 {
        uaccess::write_u64(a[1], old.0)?;
        uaccess::write_u64(a[1] + 8, old.2 as u64)?;
        uaccess::write_u64(a[1] + 16, old.1)?;
    }
    Ok(0)
}

/// Arms (or with 0 disarms) the process's `ITIMER_REAL`; returns what was left of the old one and its
/// interval, in ns.
fn set_alarm(p: &Arc<Process>, after_ns: u64, interval_ns: u64) -> (u64, u64) {
    let old = alarm_left(p);
    let deadline = if after_ns == 0 {
        0
    } else {
        now_ns().saturating_add(after_ns)
    };
    let spawn = {
        let mut alarm = p.alarm.lock();
        alarm.deadline = deadline;
        alarm.interval = interval_ns;
        let spawn = deadline != 0 && !alarm.task;
        alarm.task |= spawn;
        spawn
    };
    // A running task re-reads the deadline.
    p.alarm_changed.wake_all();
    if spawn {
        let weak = Arc::downgrade(p);
        let changed = p.alarm_changed.clone();
        if Task::spawn(move || alarm_task(weak, changed), ()).is_err() {
            p.alarm.lock().task = false;
            log::warn!("alarm: no memory for the timer's task; pid {} gets no SIGALRM", p.pid());
        }
    }
    old
}

fn alarm_left(p: &Process) -> (u64, u64) {
    let alarm = *p.alarm.lock();
    (
        if alarm.deadline == 0 {
            0
        } else {
            alarm.deadline.saturating_sub(now_ns()).max(1)
        },
        alarm.interval,
    )
}

/// The process's alarm task: sleeps until the deadline and sends SIGALRM (re-arming for an interval timer);
/// woken through `changed` when the alarm is re-armed, it sleeps for the new deadline. It ends when it finds the
/// alarm disarmed or the process exiting or gone, and holds no strong reference to the process while asleep.
fn alarm_task(p: alloc::sync::Weak<Process>, changed: Arc<WaitQueue>) {
    loop {
        let Some(proc) = p.upgrade() else { return };
        let deadline = {
            let mut alarm = proc.alarm.lock();
            if alarm.deadline == 0 || proc.is_exiting() {
                alarm.task = false;
                return;
            }
            alarm.deadline
        };
        drop(proc);
        let moved = || {
            p.upgrade()
                .is_none_or(|p| p.is_exiting() || p.alarm.lock().deadline != deadline)
                .then_some(())
        };
        if changed.wait_until_deadline(moved, Some(deadline)).is_some() {
            continue;
        }
        let Some(proc) = p.upgrade() else { return };
        let mut alarm = proc.alarm.lock();
        if alarm.deadline != deadline {
            continue;
        }
        alarm.deadline = if alarm.interval == 0 {
            0
        } else {
            deadline.saturating_add(alarm.interval)
        };
        drop(alarm);
        signal::send_to_process(&proc, 14);
    }
}

fn setitimer(p: &Arc<Process>, a: [u64; 6]) -> SysResult {
    if a[0] != 0 {
        // ITIMER_VIRTUAL and ITIMER_PROF need CPU-time accounting, which ember does not keep yet.
        return Err(Errno::EINVAL);
    }
    let (interval, value) = if a[1] != 0 {
        let read_tv = |at: u64| -> Result<u64, Errno> {
            let s = uaccess::read_u64(at)?;
            let us = uaccess::read_u64(at + 8)?;
            if us >= 1_000_000 || (s as i64) < 0 {
                return Err(Errno::EINVAL);
            }
            Ok(s.saturating_mul(1_000_000_000).saturating_add(us * 1000))
        };
        (read_tv(a[1])?, read_tv(a[1] + 16)?)
    } else {
        (0, 0)
    };
    let (left, old_interval) = set_alarm(p, value, interval);
    if a[2] != 0 {
        write_itimerval(a[2], old_interval, left)?;
    }
    Ok(0)
}

fn write_itimerval(at: u64, interval: u64, value: u64) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, ns) in [interval, value].iter().enumerate() {
        b[i * 16..i * 16 + 8].copy_from_slice(&(ns / 1_000_000_000).to_ne_bytes());
        b[i * 16 + 8..i * 16 + 16].copy_from_slice(&(ns % 1_000_000_000 / 1000).to_ne_bytes());
    }
    uaccess::write_bytes(at, &b)
}
