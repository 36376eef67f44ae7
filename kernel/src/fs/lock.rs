//! File locks: `flock(2)` and `fcntl(2)` record locks (POSIX, owned by a process, and open-file-description
//! `F_OFD_*` ones), kept per file in one table, with waiting for `LOCK_EX`/`F_SETLKW` and the releases Linux
//! does: a process's record locks on a file go when it closes any descriptor of the file or exits; `flock` and
//! OFD locks go with the last reference to their open file description. The sets themselves are
//! [`ember_filelock`]'s pure state.
//!
//! Deadlock detection (`EDEADLK` for a `F_SETLKW` that would wait on its own waiter) is not done: such a wait
//! is interruptible by a signal.

use super::OpenFile;
use crate::process::{current, signal_pending};
use crate::syscall::errno::{Errno, SysResult};
use crate::syscall::uaccess;
use alloc::collections::BTreeMap;
use ember_filelock::{FlockLocks, LockKind, Owner, RecordLocks};
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use linux_raw_sys::general::{
    F_GETLK, F_OFD_GETLK, F_OFD_SETLKW, F_RDLCK, F_SETLKW, F_UNLCK, F_WRLCK, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN,
    SEEK_CUR, SEEK_END, SEEK_SET,
};

/// The locks of one file.
#[derive(Default)]
struct FileLocks {
    records: RecordLocks,
    flocks: FlockLocks,
}

/// Every file with a lock, by [`file_key`].
static LOCKS: Mutex<BTreeMap<usize, FileLocks>> = Mutex::new(BTreeMap::new());
/// Tasks waiting for some lock; woken whenever any lock is released.
static WAITERS: WaitQueue = WaitQueue::new();

/// The file a lock is on: the inode (shared by every open of it), or the open file description for a file
/// outside the tree (a pipe).
fn file_key(f: &OpenFile) -> usize {
    match f.inode() {
        Some(inode) => alloc::sync::Arc::as_ptr(inode) as usize,
        None => f as *const OpenFile as usize,
    }
}

/// The owner value of an open file description (process ids stay below 2^32).
fn ofd_owner(f: &OpenFile) -> Owner {
    (1 << 63) | f as *const OpenFile as usize as u64
}

/// Runs `op` on the file's locks, dropping the entry when it ends up empty.
fn with_locks<T>(key: usize, op: impl FnOnce(&mut FileLocks) -> T) -> T {
    let mut table = LOCKS.lock();
    let locks = table.entry(key).or_default();
    let r = op(locks);
    if locks.records.is_empty() && locks.flocks.is_empty() {
        table.remove(&key);
    }
    r
}

/// Waits (interruptibly) until `attempt` succeeds; `attempt` says `None` when it must wait.
fn wait_for(mut attempt: impl FnMut() -> Option<SysResult>) -> SysResult {
    WAITERS.wait_until(|| match attempt() {
        Some(r) => Some(r),
        None if signal_pending() => Some(Err(Errno::EINTR)),
        None => None,
    })
}

/// `flock(2)` on `f` with operation `op`.
pub fn flock(f: &OpenFile, op: u32) -> SysResult {
    let (key, owner) = (file_key(f), ofd_owner(f));
    let exclusive = match op & !LOCK_NB {
        LOCK_SH => false,
        LOCK_EX => true,
        LOCK_UN => {
            with_locks(key, |l| l.flocks.unlock(owner));
            WAITERS.wake_all();
            return Ok(0);
        }
        _ => return Err(Errno::EINVAL),
    };
    let attempt = || with_locks(key, |l| l.flocks.try_lock(owner, exclusive)).then_some(Ok(0));
    if op & LOCK_NB != 0 {
        return attempt().unwrap_or(Err(Errno::EAGAIN));
    }
    wait_for(attempt)
}

/// `struct flock` as x86-64 Linux lays it out.
struct Flock {
    kind: u32,
    whence: u32,
    start: i64,
    len: i64,
    pid: i32,
}

impl Flock {
    const SIZE: usize = 32;

    fn read(addr: u64) -> Result<Flock, Errno> {
        let mut b = [0u8; Self::SIZE];
        uaccess::read_bytes(addr, &mut b)?;
        let word = |at: usize| i64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        Ok(Flock {
            kind: u16::from_ne_bytes([b[0], b[1]]) as u32,
            whence: u16::from_ne_bytes([b[2], b[3]]) as u32,
            start: word(8),
            len: word(16),
            pid: i32::from_ne_bytes(b[24..28].try_into().expect("4 bytes")),
        })
    }

    fn write(&self, addr: u64) -> Result<(), Errno> {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&(self.kind as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&(self.whence as u16).to_ne_bytes());
        b[8..16].copy_from_slice(&self.start.to_ne_bytes());
        b[16..24].copy_from_slice(&self.len.to_ne_bytes());
        b[24..28].copy_from_slice(&self.pid.to_ne_bytes());
        uaccess::write_bytes(addr, &b)
    }

    /// The byte range `[start, end)` it names in `f` (`end == u64::MAX`: to the end of any file).
    fn range(&self, f: &OpenFile) -> Result<(u64, u64), Errno> {
        let base = match self.whence {
            SEEK_SET => 0,
            SEEK_CUR => *f.offset().lock() as i64,
            SEEK_END => f.inode().map_or(0, |i| i.size()) as i64,
            _ => return Err(Errno::EINVAL),
        };
        let start = base.checked_add(self.start).ok_or(Errno::EOVERFLOW)?;
        let (start, end) = match self.len {
            0 => (start, None),
            len if len > 0 => (start, Some(start.checked_add(len).ok_or(Errno::EOVERFLOW)?)),
            len => (start.checked_add(len).ok_or(Errno::EINVAL)?, Some(start)),
        };
        if start < 0 {
            return Err(Errno::EINVAL);
        }
        Ok((start as u64, end.map_or(u64::MAX, |e| e as u64)))
    }
}

/// `fcntl(2)`'s lock commands (`F_GETLK`, `F_SETLK`, `F_SETLKW` and their `F_OFD_` forms) on `f`, with the
/// `struct flock` at `arg`.
pub fn fcntl_lock(f: &OpenFile, cmd: u32, arg: u64) -> SysResult {
    let req = Flock::read(arg)?;
    let ofd = matches!(cmd, F_OFD_GETLK..=F_OFD_SETLKW);
    if ofd && req.pid != 0 {
        return Err(Errno::EINVAL);
    }
    let process = current();
    let (owner, pid) = if ofd {
        (ofd_owner(f), -1)
    } else {
        (process.pid() as Owner, process.pid() as i32)
    };
    let kind = match req.kind {
        F_RDLCK => Some(LockKind::Read),
        F_WRLCK => Some(LockKind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    let (start, end) = req.range(f)?;
    let key = file_key(f);
    if cmd == F_GETLK || cmd == F_OFD_GETLK {
        let kind = kind.ok_or(Errno::EINVAL)?;
        let reply = match with_locks(key, |l| l.records.conflict(owner, kind, start, end)) {
            None => Flock { kind: F_UNLCK, ..req },
            Some(c) => Flock {
                kind: if c.kind == LockKind::Write { F_WRLCK } else { F_RDLCK },
                whence: SEEK_SET,
                start: c.start as i64,
                len: if c.end == u64::MAX { 0 } else { (c.end - c.start) as i64 },
                pid: c.pid,
            },
        };
        reply.write(arg)?;
        return Ok(0);
    }
    let Some(kind) = kind else {
        with_locks(key, |l| l.records.unlock(owner, start, end));
        WAITERS.wake_all();
        return Ok(0);
    };
    let allowed = match kind {
        LockKind::Read => f.readable(),
        LockKind::Write => f.writable(),
    };
    if !allowed {
        return Err(Errno::EBADF);
    }
    let attempt = || {
        with_locks(key, |l| l.records.set(owner, pid, kind, start, end))
            .is_ok()
            .then_some(Ok(0))
    };
    if cmd == F_SETLKW || cmd == F_OFD_SETLKW {
        wait_for(attempt)
    } else {
        attempt().unwrap_or(Err(Errno::EAGAIN))
    }
}

/// A process closed a descriptor of `f`: its POSIX record locks on the file go, as on Linux.
pub fn closed_by(pid: u32, f: &OpenFile) {
    release(file_key(f), pid as Owner);
}

/// The last reference to the open file description `f` is going: its `flock` and OFD locks go.
pub fn description_closed(f: &OpenFile) {
    let (key, owner) = (file_key(f), ofd_owner(f));
    if LOCKS.lock().contains_key(&key) {
        with_locks(key, |l| {
            l.flocks.unlock(owner);
            l.records.release(owner);
        });
        WAITERS.wake_all();
    }
}

/// A process ended: all its POSIX record locks go.
pub fn process_exited(pid: u32) {
    let mut table = LOCKS.lock();
    if table.is_empty() {
        return;
    }
    for locks in table.values_mut() {
        locks.records.release(pid as Owner);
    }
    table.retain(|_, l| !(l.records.is_empty() && l.flocks.is_empty()));
    drop(table);
    WAITERS.wake_all();
}

fn release(key: usize, owner: Owner) {
    if LOCKS.lock().contains_key(&key) {
        with_locks(key, |l| l.records.release(owner));
        WAITERS.wake_all();
    }
}
