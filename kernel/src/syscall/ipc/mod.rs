//! System V IPC calls: semaphores ([`sem`]), message queues ([`msg`]) and shared memory ([`shm`]). The
//! objects and their rules are [`ember_sysvipc`]'s; this is the glue: one table of each kind, the structures
//! user space reads and writes, and the waiting (interrupted by signals, ended by `IPC_RMID`).

mod msg;
mod sem;
mod shm;

use super::errno::{Errno, SysResult};
use super::uaccess;
use ember_sysvipc::{Error, Perm};
use linux_raw_sys::general as nr;

pub use sem::process_exited;

/// `IPC_RMID`.
const IPC_RMID: i32 = 0;
/// `IPC_SET`.
const IPC_SET: i32 = 1;
/// `IPC_STAT`.
const IPC_STAT: i32 = 2;
/// `IPC_INFO`.
const IPC_INFO: i32 = 3;
/// `IPC_64`: the flag libc adds to every command (the 64-bit structures, the only ones on x86-64).
const IPC_64: i32 = 0x100;

impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        match e {
            Error::Invalid => Errno::EINVAL,
            Error::NoEntry => Errno::ENOENT,
            Error::Exists => Errno::EEXIST,
            Error::Access => Errno::EACCES,
            Error::NotPermitted => Errno::EPERM,
            Error::NoSpace => Errno::ENOSPC,
            Error::Again => Errno::EAGAIN,
            Error::TooBig => Errno::E2BIG,
            Error::FileTooBig => Errno::EFBIG,
            Error::Range => Errno::ERANGE,
            Error::NoMessage => Errno::ENOMSG,
        }
    }
}

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match n as u32 {
        nr::__NR_semget => sem::semget(a[0] as i32, a[1] as i32, a[2] as i32),
        nr::__NR_semop => sem::semtimedop(a[0] as i32, a[1], a[2], 0),
        nr::__NR_semtimedop => sem::semtimedop(a[0] as i32, a[1], a[2], a[3]),
        nr::__NR_semctl => sem::semctl(a[0] as i32, a[1] as i32, command(a[2]), a[3]),
        nr::__NR_msgget => msg::msgget(a[0] as i32, a[1] as i32),
        nr::__NR_msgsnd => msg::msgsnd(a[0] as i32, a[1], a[2], a[3] as i32),
        nr::__NR_msgrcv => msg::msgrcv(a[0] as i32, a[1], a[2], a[3] as i64, a[4] as i32),
        nr::__NR_msgctl => msg::msgctl(a[0] as i32, command(a[1]), a[2]),
        nr::__NR_shmget => shm::shmget(a[0] as i32, a[1], a[2] as i32),
        nr::__NR_shmat => shm::shmat(a[0] as i32, a[1], a[2] as i32),
        nr::__NR_shmdt => shm::shmdt(a[0]),
        nr::__NR_shmctl => shm::shmctl(a[0] as i32, command(a[1]), a[2]),
        _ => return None,
    })
}

/// A `*ctl` command without `IPC_64`.
fn command(cmd: u64) -> i32 {
    cmd as i32 & !IPC_64
}

/// Seconds since the epoch (the `*_time` fields).
fn now() -> i64 {
    (ember_frame::time::wall_clock_ns() / 1_000_000_000) as i64
}

/// The caller's pid.
fn pid() -> u32 {
    crate::process::current().pid()
}

/// Linux's `struct ipc64_perm` (48 bytes).
fn encode_perm(p: &Perm) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[0..4].copy_from_slice(&p.key.to_ne_bytes());
    for (i, v) in [p.uid, p.gid, p.cuid, p.cgid, p.mode].into_iter().enumerate() {
        b[4 + i * 4..8 + i * 4].copy_from_slice(&v.to_ne_bytes());
    }
    b[24..26].copy_from_slice(&p.seq.to_ne_bytes());
    b
}

/// The owner, group and mode an `IPC_SET` gives (from the `ipc64_perm` at `addr`).
fn read_perm_set(addr: u64) -> Result<(u32, u32, u32), Errno> {
    Ok((
        uaccess::read_u32(addr + 4)?,
        uaccess::read_u32(addr + 8)?,
        uaccess::read_u32(addr + 20)?,
    ))
}

/// Writes `fields` (8 bytes each) after the `ipc64_perm` of a `*id_ds` at `addr`.
fn write_ds(addr: u64, perm: &Perm, fields: &[u64]) -> Result<(), Errno> {
    let mut out = alloc::vec::Vec::with_capacity(48 + fields.len() * 8);
    out.extend_from_slice(&encode_perm(perm));
    for f in fields {
        out.extend_from_slice(&f.to_ne_bytes());
    }
    uaccess::write_bytes(addr, &out)
}

/// `MSG_STAT`, `SEM_STAT`, `SHM_STAT` (and their `_ANY` forms, with `any`): the object at table position `index`,
/// written to user space by `stat`; returns its full id. The plain forms need read permission.
fn stat_at_index<T>(
    table: &ember_sysvipc::Table<T>,
    index: i32,
    any: bool,
    creds: &ember_creds::Credentials,
    stat: impl FnOnce(&ember_sysvipc::Entry<T>) -> Result<(), Errno>,
) -> SysResult {
    let index = usize::try_from(index).map_err(|_| Errno::EINVAL)?;
    let (full_id, e) = table.at_index(index).ok_or(Errno::EINVAL)?;
    if !any && !e.perm.allows(creds, ember_sysvipc::Want::Read) {
        return Err(Errno::EACCES);
    }
    stat(e)?;
    Ok(full_id as u64)
}

/// The `/proc/sysvipc/{sem,msg,shm}` tables and the `/proc/sys/kernel` limits.
pub mod proc {
    pub use super::msg::proc_table as msg;
    pub use super::sem::proc_table as sem;
    pub use super::shm::proc_table as shm;
}
