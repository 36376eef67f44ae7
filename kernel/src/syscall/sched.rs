//! Scheduling calls: `sched_yield`, affinity, the policy and priority calls (`sched_setscheduler`,
//! `sched_getscheduler`, `sched_setparam`, `sched_getparam`, `sched_get_priority_min/max`) and the I/O
//! priority calls (`ioprio_set`, `ioprio_get`).
//!
//! Policies and priorities are checked and recorded per process as Linux does (and inherited by `fork`,
//! `SCHED_RESET_ON_FORK` included); ember's scheduler runs every task alike, and its block I/O has no queue to
//! order.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::{self, Process, SCHED_RESET_ON_FORK, current};
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_creds::caps::CAP_SYS_NICE;
use linux_raw_sys::general as nr;

/// `SCHED_FIFO`
const SCHED_FIFO: u32 = 1;
/// `SCHED_RR`
const SCHED_RR: u32 = 2;

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match n as u32 {
        nr::__NR_sched_yield => {
            ember_frame::task::yield_now();
            Ok(0)
        }
        nr::__NR_sched_getaffinity => get_affinity(a[0], a[1] as usize, a[2]),
        nr::__NR_sched_setaffinity => set_affinity(a[0], a[1] as usize, a[2]),
        nr::__NR_sched_setscheduler => set(a[0] as i32, Some(a[1] as i32), a[2]),
        nr::__NR_sched_setparam => set(a[0] as i32, None, a[1]),
        nr::__NR_sched_getscheduler => target(a[0] as i32).map(|p| p.sched().0 as u64),
        nr::__NR_sched_getparam => {
            if a[1] == 0 {
                return Some(Err(Errno::EINVAL));
            }
            target(a[0] as i32).and_then(|p| uaccess::write_u32(a[1], p.sched().1).map(|()| 0))
        }
        nr::__NR_ioprio_set => ioprio_set(a[0] as u32, a[1] as u32, a[2] as u32),
        nr::__NR_ioprio_get => ioprio_targets(a[0] as u32, a[1] as u32).map(|ps| {
            ps.iter()
                .map(|p| p.ioprio())
                .min_by_key(|&v| ioprio_rank(v))
                .unwrap_or(0)
                .into()
        }),
        nr::__NR_sched_get_priority_max => priority_range(a[0]).map(|(_, max)| max.into()),
        nr::__NR_sched_get_priority_min => priority_range(a[0]).map(|(min, _)| min.into()),
        _ => return None,
    })
}

/// The static priorities a scheduling policy allows, as Linux's: 1..=99 for the real-time `SCHED_FIFO` and
/// `SCHED_RR`, 0 for the others (`SCHED_OTHER`, `SCHED_BATCH`, `SCHED_IDLE`, `SCHED_DEADLINE`).
fn priority_range(policy: u64) -> Result<(u32, u32), Errno> {
    match policy {
        1 | 2 => Ok((1, 99)),
        0 | 3 | 5 | 6 => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

/// The process a scheduling call names: the caller for 0, else the process (or the process of the thread)
/// with that id; `EINVAL` for a negative id, `ESRCH` for an unknown one.
fn target(pid: i32) -> Result<Arc<Process>, Errno> {
    let pid = u32::try_from(pid).map_err(|_| Errno::EINVAL)?;
    if pid == 0 {
        return Ok(current());
    }
    process::find(pid)
        .or_else(|| {
            process::all()
                .into_iter()
                .find(|p| p.threads().iter().any(|t| t.tid() == pid))
        })
        .filter(|p| p.exit_status().is_none())
        .ok_or(Errno::ESRCH)
}

/// `sched_setscheduler(pid, policy, param)`, or `sched_setparam(pid, param)` when `policy` is `None` (the
/// policy stays). Checks in Linux's order: arguments, the process, the priority for the policy, permission.
fn set(pid: i32, policy: Option<i32>, param: u64) -> SysResult {
    if param == 0 || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let policy = match policy {
        Some(p) => Some(u32::try_from(p).map_err(|_| Errno::EINVAL)?),
        None => None,
    };
    let priority = uaccess::read_u32(param)?;
    let p = target(pid)?;
    let (old_policy, old_priority) = p.sched();
    let new_policy = policy.unwrap_or(old_policy);
    let (min, max) = priority_range((new_policy & !SCHED_RESET_ON_FORK).into())?;
    if !(min..=max).contains(&priority) {
        return Err(Errno::EINVAL);
    }
    let me = current().creds();
    if !me.capable(CAP_SYS_NICE) {
        let theirs = p.creds();
        if me.uid.effective != theirs.uid.real && me.uid.effective != theirs.uid.effective {
            return Err(Errno::EPERM);
        }
        // Without CAP_SYS_NICE (and RLIMIT_RTPRIO 0): no real-time policy, no higher priority, and the
        // reset-on-fork flag cannot be cleared.
        let rt = matches!(new_policy & !SCHED_RESET_ON_FORK, SCHED_FIFO | SCHED_RR);
        let raises =
            rt && (!matches!(old_policy & !SCHED_RESET_ON_FORK, SCHED_FIFO | SCHED_RR) || priority > old_priority);
        if raises || (old_policy & SCHED_RESET_ON_FORK != 0 && new_policy & SCHED_RESET_ON_FORK == 0) {
            return Err(Errno::EPERM);
        }
    }
    p.set_sched(new_policy, priority);
    Ok(0)
}

/// `IOPRIO_WHO_PROCESS`, `IOPRIO_WHO_PGRP`, `IOPRIO_WHO_USER`.
const IOPRIO_WHO_PROCESS: u32 = 1;
const IOPRIO_WHO_PGRP: u32 = 2;
const IOPRIO_WHO_USER: u32 = 3;
/// The I/O priority classes: none (follows the nice value), real-time, best-effort, idle.
const IOPRIO_CLASS_NONE: u32 = 0;
const IOPRIO_CLASS_RT: u32 = 1;
const IOPRIO_CLASS_BE: u32 = 2;
const IOPRIO_CLASS_IDLE: u32 = 3;
/// Levels per class, 0 (highest) to 7.
const IOPRIO_LEVELS: u32 = 8;

/// How favoured an I/O priority is (lower first), for `ioprio_get` over several processes (Linux's
/// `ioprio_best`: real-time before best-effort before idle; none counts as best-effort level 4).
fn ioprio_rank(v: u32) -> u32 {
    match v >> 13 {
        IOPRIO_CLASS_NONE => (IOPRIO_CLASS_BE << 13) | 4,
        _ => v,
    }
}

/// The processes an `ioprio_*` call names (`who` 0: the caller's process, group or user).
fn ioprio_targets(which: u32, who: u32) -> Result<Vec<Arc<Process>>, Errno> {
    let me = current();
    let found: Vec<Arc<Process>> = match which {
        IOPRIO_WHO_PROCESS => alloc::vec![target(who as i32)?],
        IOPRIO_WHO_PGRP => {
            let pgid = if who == 0 { me.pgid() } else { who };
            process::all().into_iter().filter(|p| p.pgid() == pgid).collect()
        }
        IOPRIO_WHO_USER => {
            let uid = if who == 0 { me.creds().uid.real } else { who };
            process::all()
                .into_iter()
                .filter(|p| p.creds().uid.real == uid)
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    let live: Vec<Arc<Process>> = found.into_iter().filter(|p| p.exit_status().is_none()).collect();
    if live.is_empty() { Err(Errno::ESRCH) } else { Ok(live) }
}

/// `ioprio_set(which, who, ioprio)`: the class and level are checked as Linux does (real-time needs
/// privilege; none takes level 0 only), and changing another user's process needs privilege.
fn ioprio_set(which: u32, who: u32, ioprio: u32) -> SysResult {
    let (class, level) = (ioprio >> 13, ioprio & 0x1fff);
    let me = current().creds();
    match class {
        IOPRIO_CLASS_RT if !me.capable(CAP_SYS_NICE) => return Err(Errno::EPERM),
        IOPRIO_CLASS_RT | IOPRIO_CLASS_BE if level >= IOPRIO_LEVELS => return Err(Errno::EINVAL),
        IOPRIO_CLASS_RT | IOPRIO_CLASS_BE | IOPRIO_CLASS_IDLE => {}
        IOPRIO_CLASS_NONE if level != 0 => return Err(Errno::EINVAL),
        IOPRIO_CLASS_NONE => {}
        _ => return Err(Errno::EINVAL),
    }
    for p in ioprio_targets(which, who)? {
        let theirs = p.creds();
        if !me.capable(CAP_SYS_NICE) && me.uid.effective != theirs.uid.real && me.uid.effective != theirs.uid.effective
        {
            return Err(Errno::EPERM);
        }
        p.set_ioprio(ioprio);
    }
    Ok(0)
}

/// The task of the thread `tid` (0: the caller), for the affinity calls.
fn task_of(tid: u64) -> Result<alloc::sync::Arc<ember_frame::task::Task>, Errno> {
    if tid == 0 {
        return Ok(ember_frame::task::current());
    }
    crate::process::all()
        .into_iter()
        .flat_map(|p| p.threads())
        .find(|t| u64::from(t.tid()) == tid)
        .and_then(|t| t.task())
        .ok_or(Errno::ESRCH)
}

/// `sched_getaffinity`: the thread's CPU mask, one 64-bit word (ember runs at most 32 CPUs); returns its size,
/// as Linux does (libc clears the rest of the caller's set).
fn get_affinity(tid: u64, len: usize, at: u64) -> SysResult {
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let online = u64::MAX >> (64 - ember_frame::cpu::online_count().clamp(1, 64));
    let mask = u64::from(task_of(tid)?.affinity()) & online;
    uaccess::write_u64(at, mask).map(|()| 8)
}

/// `sched_setaffinity`: restricts the thread to the CPUs of the mask (bits past the first 64 ignored, as no
/// CPU has them); `EINVAL` when no CPU online is in it.
fn set_affinity(tid: u64, len: usize, at: u64) -> SysResult {
    let mut bytes = [0u8; 8];
    let n = len.min(8);
    uaccess::read_bytes(at, &mut bytes[..n])?;
    let mask = u64::from_le_bytes(bytes);
    let task = task_of(tid)?;
    if task.set_affinity(mask as u32) {
        Ok(0)
    } else {
        Err(Errno::EINVAL)
    }
}
