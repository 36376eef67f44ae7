//! `msgget`, `msgsnd`, `msgrcv`, `msgctl`.

use super::{IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, now, pid, read_perm_set, stat_at_index, write_ds};
use crate::process::{current, signal_pending};
use crate::syscall::errno::{Errno, SysResult};
use crate::syscall::uaccess;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ember_creds::caps::CAP_SYS_RESOURCE;
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use ember_sysvipc::msg::{MSGMAX, MSGMNB, MSGMNI, Queue};
use ember_sysvipc::{Error, IPC_NOWAIT, Table, Want};

const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;

/// Every message queue.
static QUEUES: Mutex<Table<Queue>> = Mutex::new(Table::new(MSGMNI));
/// Where blocked senders and receivers wait: woken at every change.
static CHANGED: WaitQueue = WaitQueue::new();

/// `msgget(key, flags)`.
pub fn msgget(key: i32, flags: i32) -> SysResult {
    let creds = current().creds();
    Ok(QUEUES
        .lock()
        .get(key, flags, &creds, |_| Ok(()), || Ok(Queue::new(now())))? as u64)
}

/// Runs `attempt` on queue `id` until it stops asking to wait (`EAGAIN`/`ENOMSG`), unless `IPC_NOWAIT`:
/// `EINTR` for a signal, `EIDRM` when the queue goes.
fn blocking<T>(
    id: i32,
    flags: i32,
    want: Want,
    mut attempt: impl FnMut(&mut Queue) -> Result<T, Error>,
) -> Result<T, Errno> {
    let creds = current().creds();
    let mut first = true;
    let r = CHANGED.wait_until(|| {
        let mut queues = QUEUES.lock();
        let e = match queues.lookup_mut(id) {
            Ok(e) => e,
            Err(err) => return Some(Err(if first { Errno::from(err) } else { Errno::EIDRM })),
        };
        if first && !e.perm.allows(&creds, want) {
            return Some(Err(Errno::EACCES));
        }
        first = false;
        match attempt(&mut e.obj) {
            Err(Error::Again | Error::NoMessage) if flags & IPC_NOWAIT == 0 => {
                signal_pending().then_some(Err(Errno::EINTR_NORESTART))
            }
            r => Some(r.map_err(Errno::from)),
        }
    });
    if r.is_ok() {
        CHANGED.wake_all();
    }
    r
}

/// `msgsnd(id, msgp, size, flags)`: `msgp` holds a `long` type and the text.
pub fn msgsnd(id: i32, msgp: u64, size: u64, flags: i32) -> SysResult {
    let size = usize::try_from(size as i64)
        .ok()
        .filter(|&s| s <= MSGMAX)
        .ok_or(Errno::EINVAL)?;
    let mtype = uaccess::read_u64(msgp)? as i64;
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let mut text = alloc::vec![0u8; size];
    uaccess::read_bytes(msgp + 8, &mut text)?;
    let me = pid();
    blocking(id, flags, Want::Write, |q| q.send(mtype, text.clone(), me, now())).map(|()| 0)
}

/// `msgrcv(id, msgp, size, type, flags)`: the length of the text received.
pub fn msgrcv(id: i32, msgp: u64, size: u64, mtype: i64, flags: i32) -> SysResult {
    let size = usize::try_from(size as i64).map_err(|_| Errno::EINVAL)?;
    let me = pid();
    let (t, text) = blocking(id, flags, Want::Read, |q| q.receive(mtype, size, flags, me, now()))?;
    uaccess::write_u64(msgp, t as u64)?;
    uaccess::write_bytes(msgp + 8, &text)?;
    Ok(text.len() as u64)
}

/// `msgctl(id, cmd, buf)`.
pub fn msgctl(id: i32, cmd: i32, buf: u64) -> SysResult {
    let creds = current().creds();
    let mut queues = QUEUES.lock();
    match cmd {
        IPC_INFO | MSG_INFO => {
            let (pool, map, tql) = if cmd == MSG_INFO {
                let n: usize = queues.iter().map(|(_, e)| e.obj.len()).sum();
                let bytes: usize = queues.iter().map(|(_, e)| e.obj.cbytes).sum();
                (queues.len(), n, bytes)
            } else {
                (MSGMNB * MSGMNI / 1024, MSGMNB, MSGMNB)
            };
            let info = [
                pool as i32,
                map as i32,
                MSGMAX as i32,
                MSGMNB as i32,
                MSGMNI as i32,
                16,
                tql as i32,
            ];
            let mut bytes: Vec<u8> = info.iter().flat_map(|v| v.to_ne_bytes()).collect();
            bytes.extend_from_slice(&0xffffu16.to_ne_bytes());
            uaccess::write_bytes(buf, &bytes)?;
            return Ok(queues.highest_index() as u64);
        }
        MSG_STAT | MSG_STAT_ANY => {
            return stat_at_index(&queues, id, cmd == MSG_STAT_ANY, &creds, |e| stat(buf, e));
        }
        _ => {}
    }
    let e = queues.lookup_mut(id)?;
    match cmd {
        IPC_STAT if !e.perm.allows(&creds, Want::Read) => Err(Errno::EACCES),
        IPC_STAT => stat(buf, e).map(|()| 0),
        IPC_SET | IPC_RMID if !e.perm.may_change(&creds) => Err(Errno::EPERM),
        IPC_SET => {
            let (uid, gid, mode) = read_perm_set(buf)?;
            let qbytes = usize::try_from(uaccess::read_u64(buf + 88)?).map_err(|_| Errno::EINVAL)?;
            if qbytes > MSGMNB && !creds.capable(CAP_SYS_RESOURCE) {
                return Err(Errno::EPERM);
            }
            e.perm.set(uid, gid, mode);
            e.obj.qbytes = qbytes;
            e.obj.ctime = now();
            drop(queues);
            CHANGED.wake_all();
            Ok(0)
        }
        IPC_RMID => {
            queues.remove(id)?;
            drop(queues);
            CHANGED.wake_all();
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Linux's `struct msqid64_ds` at `addr`.
fn stat(addr: u64, e: &ember_sysvipc::Entry<Queue>) -> Result<(), Errno> {
    let q = &e.obj;
    let pids = u64::from(q.lspid) | u64::from(q.lrpid) << 32;
    write_ds(
        addr,
        &e.perm,
        &[
            q.stime as u64,
            q.rtime as u64,
            q.ctime as u64,
            q.cbytes as u64,
            q.len() as u64,
            q.qbytes as u64,
            pids,
            0,
            0,
        ],
    )
}

/// `/proc/sysvipc/msg`.
pub fn proc_table() -> String {
    let mut out = String::from(
        "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
    );
    for (id, e) in QUEUES.lock().iter() {
        let (p, q) = (&e.perm, &e.obj);
        out += &format!(
            "{:10} {:10} {:5o} {:11} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}\n",
            p.key,
            id,
            p.mode,
            q.cbytes,
            q.len(),
            q.lspid,
            q.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            q.stime,
            q.rtime,
            q.ctime
        );
    }
    out
}
