//! Process and thread calls: `execve`, `clone`/`fork`/`vfork`, `wait4`/`waitid`, ids, groups, sessions,
//! `kill`, limits, `prctl`.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::clone::{CloneArgs, clone as do_clone};
use crate::process::wait::{Target, WCONTINUED, WEXITED, WNOHANG, WNOWAIT, WUNTRACED, wait};
use crate::process::{Thread, current, exec, find, signal};
use ember_creds::caps::CAP_SYS_RESOURCE;
use ember_frame::user::UserContext;
use linux_raw_sys::general as nr;

const SIGCHLD: u64 = 17;

pub(super) fn execve(thread: &Thread, ctx: &mut UserContext, a: [u64; 6]) -> Result<(), Errno> {
    let path = uaccess::read_cstring(a[0], 4096)?;
    // Arguments and environment share one budget, as on Linux.
    let mut budget = exec::MAX_ARG_BYTES;
    let argv = uaccess::read_cstring_array(a[1], 1 << 16, &mut budget)?;
    let envp = uaccess::read_cstring_array(a[2], 1 << 16, &mut budget)?;
    exec::execve(thread, ctx, &path, argv, envp)
}

pub(super) fn clone(ctx: &UserContext, a: [u64; 6]) -> SysResult {
    do_clone(
        ctx,
        CloneArgs {
            flags: a[0],
            stack: a[1],
            parent_tid: a[2],
            child_tid: a[3],
            tls: a[4],
        },
    )
}

pub(super) fn fork(ctx: &UserContext) -> SysResult {
    do_clone(
        ctx,
        CloneArgs {
            flags: SIGCHLD,
            stack: 0,
            parent_tid: 0,
            child_tid: 0,
            tls: 0,
        },
    )
}

pub(super) fn vfork(ctx: &UserContext) -> SysResult {
    do_clone(
        ctx,
        CloneArgs {
            flags: 0x100 | 0x4000 | SIGCHLD,
            stack: 0,
            parent_tid: 0,
            child_tid: 0,
            tls: 0,
        },
    )
}

fn target(pid: i64) -> Target {
    match pid {
        -1 => Target::Any,
        0 => Target::Group(current().pgid()),
        p if p < -1 => Target::Group(p.unsigned_abs() as u32),
        p => Target::Pid(p as u32),
    }
}

pub(super) fn handle(thread: &Thread, n: u64, a: [u64; 6]) -> Option<SysResult> {
    let p = thread.process();
    Some(match n as u32 {
        nr::__NR_wait4 => wait4(a),
        nr::__NR_waitid => waitid(a),
        nr::__NR_getpid => Ok(p.pid() as u64),
        nr::__NR_getppid => Ok(p.ppid() as u64),
        nr::__NR_gettid => Ok(thread.tid() as u64),
        nr::__NR_getpgrp => Ok(p.pgid() as u64),
        nr::__NR_getpgid => pid_arg(a[0]).map(|p| p.pgid() as u64),
        nr::__NR_getsid => pid_arg(a[0]).map(|p| p.sid() as u64),
        nr::__NR_setpgid => setpgid(a),
        nr::__NR_setsid => {
            if crate::process::all()
                .iter()
                .any(|q| q.pgid() == p.pid() && q.pid() != p.pid())
                || p.pgid() == p.pid()
            {
                Err(Errno::EPERM)
            } else {
                p.set_sid();
                Ok(p.pid() as u64)
            }
        }
        nr::__NR_kill => kill(a[0] as i32 as i64, a[1]),
        nr::__NR_ptrace => crate::process::ptrace::ptrace(thread.process(), a[0], a[1] as u32, a[3]),
        nr::__NR_tkill => tgkill(-1, a[0] as i32 as i64, a[1]),
        nr::__NR_tgkill => tgkill(a[0] as i32 as i64, a[1] as i32 as i64, a[2]),
        nr::__NR_set_tid_address => {
            thread_set_clear_tid(thread, a[0]);
            Ok(thread.tid() as u64)
        }
        nr::__NR_set_robust_list => {
            if a[1] != 24 {
                return Some(Err(Errno::EINVAL));
            }
            thread_set_robust(thread, a[0]);
            Ok(0)
        }
        nr::__NR_prlimit64 => prlimit(a[0] as u32, a[1] as usize, a[2], a[3]),
        nr::__NR_getrlimit => prlimit(0, a[0] as usize, 0, a[1]),
        nr::__NR_setrlimit => prlimit(0, a[0] as usize, a[1], 0),
        _ => return None,
    })
}

fn thread_set_clear_tid(t: &Thread, at: u64) {
    crate::process::set_clear_child_tid(t, at);
}

fn thread_set_robust(t: &Thread, at: u64) {
    crate::process::set_robust_list(t, at);
}

fn pid_arg(pid: u64) -> Result<alloc::sync::Arc<crate::process::Process>, Errno> {
    match pid as u32 {
        0 => Ok(current()),
        pid => find(pid).ok_or(Errno::ESRCH),
    }
}

fn wait4(a: [u64; 6]) -> SysResult {
    let options = a[2];
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | 0x4000_0000 | 0x8000_0000 | 0x2000_0000) != 0 {
        return Err(Errno::EINVAL);
    }
    match wait(&current(), target(a[0] as i32 as i64), options | WEXITED)? {
        Some((pid, status)) => {
            if a[1] != 0 {
                uaccess::write_u32(a[1], status)?;
            }
            if a[3] != 0 {
                uaccess::write_bytes(a[3], &[0u8; 144])?;
            }
            Ok(pid as u64)
        }
        None => Ok(0),
    }
}

fn waitid(a: [u64; 6]) -> SysResult {
    const P_ALL: u64 = 0;
    const P_PID: u64 = 1;
    const P_PGID: u64 = 2;
    const P_PIDFD: u64 = 3;
    let mut options = a[3];
    let mut nonblocking_pidfd = false;
    let t = match a[0] {
        P_PIDFD => {
            let (pid, nonblock) = super::event::pidfd_target(a[1] as i32)?;
            if nonblock && options & WNOHANG == 0 {
                options |= WNOHANG;
                nonblocking_pidfd = true;
            }
            Target::Pid(pid)
        }
        P_ALL => Target::Any,
        P_PID => Target::Pid(a[1] as u32),
        P_PGID if a[1] == 0 => Target::Group(current().pgid()),
        P_PGID => Target::Group(a[1] as u32),
        _ => return Err(Errno::EINVAL),
    };
    if options & (WEXITED | WUNTRACED | WCONTINUED) == 0
        || options & !(WNOHANG | WEXITED | WUNTRACED | WCONTINUED | WNOWAIT | 0x4000_0000 | 0x8000_0000 | 0x2000_0000)
            != 0
    {
        return Err(Errno::EINVAL);
    }
    let result = wait(&current(), t, options)?;
    // A non-blocking pidfd makes the wait fail with EAGAIN rather than report nothing.
    if result.is_none() && nonblocking_pidfd {
        return Err(Errno::EAGAIN);
    }
    if a[2] != 0 {
        let mut info = [0u8; 128];
        if let Some((pid, status)) = result {
            let (code, value): (i32, u32) = if status == 0xffff {
                (6, crate::process::jobctl::SIGCONT) // CLD_CONTINUED
            } else if status & 0xFF == 0x7F {
                (5, (status >> 8) & 0xFF) // CLD_STOPPED
            } else if status & 0x7F == 0 {
                (1, (status >> 8) & 0xFF) // CLD_EXITED
            } else if status & 0x80 != 0 {
                (3, status & 0x7F) // CLD_DUMPED
            } else {
                (2, status & 0x7F) // CLD_KILLED
            };
            info[0..4].copy_from_slice(&17i32.to_ne_bytes());
            info[8..12].copy_from_slice(&code.to_ne_bytes());
            info[16..20].copy_from_slice(&pid.to_ne_bytes());
            info[24..28].copy_from_slice(&value.to_ne_bytes());
        }
        uaccess::write_bytes(a[2], &info)?;
    }
    Ok(0)
}

fn setpgid(a: [u64; 6]) -> SysResult {
    let me = current();
    let p = match a[0] as u32 {
        0 => me.clone(),
        pid => find(pid).ok_or(Errno::ESRCH)?,
    };
    if p.pid() != me.pid() && p.ppid() != me.pid() {
        return Err(Errno::ESRCH);
    }
    let pgid = match a[1] as i64 {
        0 => p.pid(),
        g if g < 0 => return Err(Errno::EINVAL),
        g => g as u32,
    };
    p.set_pgid(pgid);
    Ok(0)
}

fn kill(pid: i64, sig: u64) -> SysResult {
    if sig > 64 {
        return Err(Errno::EINVAL);
    }
    let me = current();
    let targets: alloc::vec::Vec<_> = match pid {
        0 => crate::process::all()
            .into_iter()
            .filter(|p| p.pgid() == me.pgid())
            .collect(),
        -1 => crate::process::all()
            .into_iter()
            .filter(|p| p.pid() != 1 && p.pid() != me.pid())
            .collect(),
        p if p < 0 => crate::process::all()
            .into_iter()
            .filter(|q| q.pgid() as i64 == -p)
            .collect(),
        p => find(p as u32).into_iter().collect(),
    };
    let targets: alloc::vec::Vec<_> = targets.into_iter().filter(|p| !p.is_exiting() || sig == 0).collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    // Linux's check: a shared user, `CAP_KILL`, or `SIGCONT` within the session; a group signal succeeds when
    // any member may receive it, and `kill(-1)` skips the processes it may not signal without failing.
    let creds = me.creds();
    let allowed: alloc::vec::Vec<_> = targets
        .into_iter()
        .filter(|t| {
            creds.may_signal(&t.creds()) || (sig == u64::from(crate::process::jobctl::SIGCONT) && t.sid() == me.sid())
        })
        .collect();
    if allowed.is_empty() && pid != -1 {
        return Err(Errno::EPERM);
    }
    for t in allowed {
        signal::send_to_process(&t, sig as u32);
    }
    Ok(0)
}

fn tgkill(tgid: i64, tid: i64, sig: u64) -> SysResult {
    if sig > 64 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let t = crate::process::all()
        .into_iter()
        .filter(|p| tgid <= 0 || p.pid() as i64 == tgid)
        .flat_map(|p| p.threads())
        .find(|t| t.tid() as i64 == tid)
        .ok_or(Errno::ESRCH)?;
    let me = current();
    let same_session = sig == u64::from(crate::process::jobctl::SIGCONT) && t.process().sid() == me.sid();
    if !me.creds().may_signal(&t.process().creds()) && !same_session {
        return Err(Errno::EPERM);
    }
    signal::send_to_thread(&t, sig as u32);
    Ok(0)
}

/// `RLIMIT_NOFILE`.
const RLIMIT_NOFILE: usize = 7;
/// Linux's default `fs.nr_open`: the highest `RLIMIT_NOFILE` may go.
const NR_OPEN: u64 = 1 << 20;

fn prlimit(pid: u32, resource: usize, new: u64, old: u64) -> SysResult {
    let p = if pid == 0 {
        current()
    } else {
        find(pid).ok_or(Errno::ESRCH)?
    };
    let cur = p.limit(resource).ok_or(Errno::EINVAL)?;
    if new != 0 {
        let soft = uaccess::read_u64(new)?;
        let hard = uaccess::read_u64(new + 8)?;
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        // Raising a hard limit needs privilege; descriptors are capped at Linux's `nr_open`.
        if (hard > cur.1 && !current().creds().capable(CAP_SYS_RESOURCE))
            || (resource == RLIMIT_NOFILE && hard > NR_OPEN)
        {
            return Err(Errno::EPERM);
        }
        if old != 0 {
            uaccess::write_u64(old, cur.0)?;
            uaccess::write_u64(old + 8, cur.1)?;
        }
        p.set_limit(resource, (soft, hard));
        return Ok(0);
    }
    if old != 0 {
        uaccess::write_u64(old, cur.0)?;
        uaccess::write_u64(old + 8, cur.1)?;
    }
    Ok(0)
}
