//! `semget`, `semop`/`semtimedop`, `semctl`, and `SEM_UNDO` at exit.

use super::{IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, now, pid, read_perm_set, stat_at_index, write_ds};
use crate::process::{current, signal_pending};
use crate::syscall::errno::{Errno, SysResult};
use crate::syscall::uaccess;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use ember_sysvipc::sem::{Blocked, SEMMNI, SEMMNS, SEMMSL, SEMOPM, SEMVMX, SemBuf, SemSet};
use ember_sysvipc::{Error, Table, Want};

const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;

/// Every semaphore set.
static SETS: Mutex<Table<SemSet>> = Mutex::new(Table::new(SEMMNI));
/// Where blocked `semop`s wait: woken at every change, each waiter tries again.
static CHANGED: WaitQueue = WaitQueue::new();

/// `semget(key, nsems, flags)`.
pub fn semget(key: i32, nsems: i32, flags: i32) -> SysResult {
    let n = usize::try_from(nsems)
        .ok()
        .filter(|&n| n <= SEMMSL)
        .ok_or(Errno::EINVAL)?;
    let creds = current().creds();
    let id = SETS.lock().get(
        key,
        flags,
        &creds,
        |s| if n > s.sems.len() { Err(Error::Invalid) } else { Ok(()) },
        || SemSet::new(n, now()),
    )?;
    Ok(id as u64)
}

/// `semtimedop(id, sops, nsops, timeout)` (`semop` without a timeout): every operation at once, waiting
/// until they can be done (`EINTR` for a signal, `EIDRM` when the set goes, `EAGAIN` at the timeout).
pub fn semtimedop(id: i32, sops: u64, nsops: u64, timeout: u64) -> SysResult {
    let count = usize::try_from(nsops).ok().filter(|&n| n >= 1).ok_or(Errno::EINVAL)?;
    if count > SEMOPM {
        return Err(Errno::E2BIG);
    }
    let mut raw = alloc::vec![0u8; count * 6];
    uaccess::read_bytes(sops, &mut raw)?;
    let ops: Vec<SemBuf> = raw
        .chunks_exact(6)
        .map(|c| SemBuf {
            num: u16::from_ne_bytes([c[0], c[1]]),
            op: i16::from_ne_bytes([c[2], c[3]]),
            flags: i16::from_ne_bytes([c[4], c[5]]),
        })
        .collect();
    let deadline = if timeout == 0 {
        None
    } else {
        Some(ember_frame::time::now_ns().saturating_add(uaccess::read_timespec(timeout)?))
    };
    let (me, creds) = (pid(), current().creds());
    {
        let sets = SETS.lock();
        let e = sets.lookup(id)?;
        let alters = e.obj.check(&ops)?;
        if !e.perm.allows(&creds, if alters { Want::Write } else { Want::Read }) {
            return Err(Errno::EACCES);
        }
    }
    // The waiter counted in GETNCNT/GETZCNT, while it waits.
    let mut counted: Option<Blocked> = None;
    let result = CHANGED.wait_until_deadline(
        || {
            let mut sets = SETS.lock();
            let Ok(e) = sets.lookup_mut(id) else {
                return Some(Err(Errno::EIDRM));
            };
            let set = &mut e.obj;
            if let Some(b) = counted.take() {
                set.count_waiter(b, false);
            }
            match set.apply(&ops, me, now()) {
                Ok(None) => Some(Ok(0)),
                Err(err) => Some(Err(Errno::from(err))),
                Ok(Some(_)) if signal_pending() => Some(Err(Errno::EINTR_NORESTART)),
                Ok(Some(b)) => {
                    set.count_waiter(b, true);
                    counted = Some(b);
                    None
                }
            }
        },
        deadline,
    );
    if let Some(b) = counted
        && let Ok(e) = SETS.lock().lookup_mut(id)
    {
        e.obj.count_waiter(b, false);
    }
    let r = result.unwrap_or(Err(Errno::EAGAIN));
    if r.is_ok() {
        CHANGED.wake_all();
    }
    r
}

/// `semctl(id, num, cmd, arg)`.
pub fn semctl(id: i32, num: i32, cmd: i32, arg: u64) -> SysResult {
    let creds = current().creds();
    let mut sets = SETS.lock();
    match cmd {
        IPC_INFO | SEM_INFO => {
            let used: usize = sets.iter().map(|(_, e)| e.obj.sems.len()).sum();
            let (semusz, semaem) = if cmd == SEM_INFO {
                (sets.len(), used)
            } else {
                (20, SEMVMX as usize)
            };
            let info = [
                SEMMNI as i32,
                SEMMNI as i32,
                SEMMNS as i32,
                SEMMNS as i32,
                SEMMSL as i32,
                SEMOPM as i32,
                SEMOPM as i32,
                semusz as i32,
                SEMVMX,
                semaem as i32,
            ];
            let bytes: Vec<u8> = info.iter().flat_map(|v| v.to_ne_bytes()).collect();
            uaccess::write_bytes(arg, &bytes)?;
            return Ok(sets.highest_index() as u64);
        }
        SEM_STAT | SEM_STAT_ANY => {
            return stat_at_index(&sets, id, cmd == SEM_STAT_ANY, &creds, |e| stat(arg, e));
        }
        _ => {}
    }
    let e = sets.lookup_mut(id)?;
    let n = e.obj.sems.len();
    let sem = || usize::try_from(num).ok().filter(|&i| i < n).ok_or(Errno::EINVAL);
    let need = match cmd {
        IPC_RMID | IPC_SET => None,
        SETVAL | SETALL => Some(Want::Write),
        _ => Some(Want::Read),
    };
    if let Some(w) = need
        && !e.perm.allows(&creds, w)
    {
        return Err(Errno::EACCES);
    }
    match cmd {
        IPC_STAT => stat(arg, e).map(|()| 0),
        IPC_SET | IPC_RMID if !e.perm.may_change(&creds) => Err(Errno::EPERM),
        IPC_SET => {
            let (uid, gid, mode) = read_perm_set(arg)?;
            e.perm.set(uid, gid, mode);
            e.obj.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            sets.remove(id)?;
            drop(sets);
            CHANGED.wake_all();
            Ok(0)
        }
        GETVAL => Ok(e.obj.sems[sem()?].val as u64),
        GETPID => Ok(u64::from(e.obj.sems[sem()?].pid)),
        GETNCNT => Ok(u64::from(e.obj.sems[sem()?].ncnt)),
        GETZCNT => Ok(u64::from(e.obj.sems[sem()?].zcnt)),
        GETALL => {
            let vals: Vec<u8> = e.obj.sems.iter().flat_map(|s| (s.val as u16).to_ne_bytes()).collect();
            uaccess::write_bytes(arg, &vals).map(|()| 0)
        }
        SETVAL => {
            let i = sem()?;
            e.obj.set_val(i, arg as i32, pid(), now())?;
            drop(sets);
            CHANGED.wake_all();
            Ok(0)
        }
        SETALL => {
            let mut raw = alloc::vec![0u8; n * 2];
            uaccess::read_bytes(arg, &mut raw)?;
            let vals: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect();
            e.obj.set_all(&vals, pid(), now())?;
            drop(sets);
            CHANGED.wake_all();
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Linux's `struct semid64_ds` at `addr`.
fn stat(addr: u64, e: &ember_sysvipc::Entry<SemSet>) -> Result<(), Errno> {
    let s = &e.obj;
    write_ds(
        addr,
        &e.perm,
        &[s.otime as u64, 0, s.ctime as u64, 0, s.sems.len() as u64, 0, 0],
    )
}

/// The exit of process `pid`: its `SEM_UNDO` adjustments are applied.
pub fn process_exited(pid: u32) {
    let mut changed = false;
    for (_, e) in SETS.lock().iter_mut() {
        changed |= e.obj.exit(pid);
    }
    if changed {
        CHANGED.wake_all();
    }
}

/// `/proc/sysvipc/sem`.
pub fn proc_table() -> String {
    let mut out =
        String::from("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n");
    for (id, e) in SETS.lock().iter() {
        let p = &e.perm;
        out += &format!(
            "{:10} {:10} {:5o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}\n",
            p.key,
            id,
            p.mode,
            e.obj.sems.len(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            e.obj.otime,
            e.obj.ctime
        );
    }
    out
}
