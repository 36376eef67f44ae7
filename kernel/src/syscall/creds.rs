//! Credentials and priority: `get*id`/`set*id` (user and group: real, effective, saved, file-system),
//! `getgroups`/`setgroups`, `getpriority`/`setpriority`. The rules are [`ember_creds`]'s.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::{self, Process, current};
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_creds::caps::{CAP_SETGID, CAP_SYS_NICE};
use ember_creds::{Denied, NGROUPS_MAX};
use linux_raw_sys::general as nr;

const PRIO_PROCESS: u64 = 0;
const PRIO_PGRP: u64 = 1;
const PRIO_USER: u64 = 2;

impl From<Denied> for Errno {
    fn from(d: Denied) -> Errno {
        match d {
            Denied::NotPermitted => Errno::EPERM,
            Denied::Invalid => Errno::EINVAL,
        }
    }
}

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    let p = current();
    let id = |i: usize| a[i] as u32;
    Some(match n as u32 {
        nr::__NR_getuid => Ok(p.creds().uid.real as u64),
        nr::__NR_geteuid => Ok(p.creds().uid.effective as u64),
        nr::__NR_getgid => Ok(p.creds().gid.real as u64),
        nr::__NR_getegid => Ok(p.creds().gid.effective as u64),
        nr::__NR_getresuid => {
            let u = p.creds().uid;
            write_three(a, [u.real, u.effective, u.saved])
        }
        nr::__NR_getresgid => {
            let g = p.creds().gid;
            write_three(a, [g.real, g.effective, g.saved])
        }
        nr::__NR_setuid => p.update_creds(|c| c.set_uid(id(0))).map(|()| 0).map_err(Errno::from),
        nr::__NR_setgid => p.update_creds(|c| c.set_gid(id(0))).map(|()| 0).map_err(Errno::from),
        nr::__NR_setreuid => p
            .update_creds(|c| c.set_reuid(id(0), id(1)))
            .map(|()| 0)
            .map_err(Errno::from),
        nr::__NR_setregid => p
            .update_creds(|c| c.set_regid(id(0), id(1)))
            .map(|()| 0)
            .map_err(Errno::from),
        nr::__NR_setresuid => p
            .update_creds(|c| c.set_resuid(id(0), id(1), id(2)))
            .map(|()| 0)
            .map_err(Errno::from),
        nr::__NR_setresgid => p
            .update_creds(|c| c.set_resgid(id(0), id(1), id(2)))
            .map(|()| 0)
            .map_err(Errno::from),
        nr::__NR_setfsuid => Ok(p.update_creds(|c| c.set_fsuid(id(0))) as u64),
        nr::__NR_setfsgid => Ok(p.update_creds(|c| c.set_fsgid(id(0))) as u64),
        nr::__NR_getgroups => getgroups(&p, a[0] as i32, a[1]),
        nr::__NR_setgroups => setgroups(&p, a[0] as i32, a[1]),
        nr::__NR_getpriority => getpriority(a[0], a[1] as u32),
        nr::__NR_setpriority => setpriority(a[0], a[1] as u32, a[2] as i32),
        _ => return None,
    })
}

fn write_three(a: [u64; 6], ids: [u32; 3]) -> SysResult {
    for (&at, id) in a.iter().zip(ids) {
        uaccess::write_u32(at, id)?;
    }
    Ok(0)
}

fn getgroups(p: &Process, size: i32, list: u64) -> SysResult {
    let creds = p.creds();
    let groups = creds.groups();
    let size = usize::try_from(size).map_err(|_| Errno::EINVAL)?;
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    uaccess::write_bytes(list, &bytes)?;
    Ok(groups.len() as u64)
}

fn setgroups(p: &Process, size: i32, list: u64) -> SysResult {
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= NGROUPS_MAX)
        .ok_or(Errno::EINVAL)?;
    if !p.creds().capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size * 4).map_err(|_| Errno::ENOMEM)?;
    bytes.resize(size * 4, 0);
    uaccess::read_bytes(list, &mut bytes)?;
    let groups = bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    p.update_creds(|c| c.set_groups(groups))?;
    Ok(0)
}

/// The processes `which`/`who` names (`who == 0`: the caller, its group, its user).
fn targets(which: u64, who: u32) -> Result<Vec<Arc<Process>>, Errno> {
    let me = current();
    let found: Vec<Arc<Process>> = match which {
        PRIO_PROCESS => {
            let pid = if who == 0 { me.pid() } else { who };
            process::find(pid).into_iter().collect()
        }
        PRIO_PGRP => {
            let pgid = if who == 0 { me.pgid() } else { who };
            process::all().into_iter().filter(|p| p.pgid() == pgid).collect()
        }
        PRIO_USER => {
            let uid = if who == 0 { me.creds().uid.real } else { who };
            process::all()
                .into_iter()
                .filter(|p| p.creds().uid.real == uid)
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    let live: Vec<Arc<Process>> = found.into_iter().filter(|p| !p.is_exiting()).collect();
    if live.is_empty() { Err(Errno::ESRCH) } else { Ok(live) }
}

/// `getpriority(2)`: the system call returns `20 - nice` of the most favoured target (1..=40).
fn getpriority(which: u64, who: u32) -> SysResult {
    let best = targets(which, who)?.iter().map(|p| p.nice()).min().unwrap_or(0);
    Ok((20 - best) as u64)
}

/// `setpriority(2)`: raising priority (a lower nice) needs privilege; changing another user's process too.
fn setpriority(which: u64, who: u32, nice: i32) -> SysResult {
    let nice = nice.clamp(-20, 19);
    let me = current().creds();
    for p in targets(which, who)? {
        let theirs = p.creds();
        if !me.capable(CAP_SYS_NICE) && me.uid.effective != theirs.uid.real && me.uid.effective != theirs.uid.effective
        {
            return Err(Errno::EPERM);
        }
        if nice < p.nice() && !me.capable(CAP_SYS_NICE) {
            return Err(Errno::EACCES);
        }
        p.set_nice(nice);
    }
    Ok(0)
}
