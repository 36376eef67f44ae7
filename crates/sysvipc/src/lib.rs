//! System V IPC as pure state, as Linux keeps it: the id tables with keys, `IPC_CREAT`/`IPC_EXCL` and the
//! permission check ([`Table`], [`Perm`]), semaphore sets with `SEM_UNDO` ([`sem`]), message queues ([`msg`])
//! and shared memory segments' bookkeeping ([`shm`]). The kernel keeps the memory, the waiting and the clock.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod msg;
pub mod sem;
pub mod shm;

use alloc::collections::BTreeMap;
use ember_creds::Credentials;
use ember_creds::caps::{CAP_IPC_OWNER, CAP_SYS_ADMIN};

/// `IPC_PRIVATE`: a key that always makes a new object.
pub const IPC_PRIVATE: i32 = 0;
/// `IPC_CREAT`: make the object when the key has none.
pub const IPC_CREAT: i32 = 0o1000;
/// `IPC_EXCL`: with `IPC_CREAT`, fail when the key has one.
pub const IPC_EXCL: i32 = 0o2000;
/// `IPC_NOWAIT`: fail with `EAGAIN` (`ENOMSG` for `msgrcv`) instead of waiting.
pub const IPC_NOWAIT: i32 = 0o4000;
/// Ids are `seq * SEQ_MULTIPLIER + index`, so a stale id of a reused index is refused.
const SEQ_MULTIPLIER: i32 = 32768;

/// Why an IPC operation failed (each is one errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `EINVAL`: a bad id, size, count or command.
    Invalid,
    /// `ENOENT`: no object has the key and `IPC_CREAT` was not given.
    NoEntry,
    /// `EEXIST`: `IPC_CREAT | IPC_EXCL` and the key has an object.
    Exists,
    /// `EACCES`: the mode bits refuse the access.
    Access,
    /// `EPERM`: neither owner, creator nor `CAP_SYS_ADMIN` (or a limit needs `CAP_SYS_RESOURCE`).
    NotPermitted,
    /// `ENOSPC`: the table is full.
    NoSpace,
    /// `EAGAIN`: the operation would wait and `IPC_NOWAIT` was given.
    Again,
    /// `E2BIG`: a message longer than the buffer without `MSG_NOERROR`, or too many semaphore operations.
    TooBig,
    /// `EFBIG`: a semaphore number past the set.
    FileTooBig,
    /// `ERANGE`: a semaphore value or adjustment out of range.
    Range,
    /// `ENOMSG`: no message of the type asked for (with `IPC_NOWAIT`).
    NoMessage,
}

/// Access a check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Read (`IPC_STAT`, `msgrcv`, a semaphore wait-for-zero, `SHM_RDONLY` attach).
    Read,
    /// Write (`msgsnd`, changing a semaphore).
    Write,
    /// Read and write (`shmat` without `SHM_RDONLY`).
    ReadWrite,
}

/// An object's `ipc_perm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    /// The key it was made with (`IPC_PRIVATE` once removed).
    pub key: i32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Creator's user id.
    pub cuid: u32,
    /// Creator's group id.
    pub cgid: u32,
    /// Permission bits (the low 9), plus object flags (`SHM_DEST`, `SHM_LOCKED`).
    pub mode: u32,
    /// The id's sequence number.
    pub seq: u16,
}

impl Perm {
    fn new(key: i32, mode: u32, c: &Credentials, seq: u16) -> Perm {
        Perm {
            key,
            uid: c.uid.effective,
            gid: c.gid.effective,
            cuid: c.uid.effective,
            cgid: c.gid.effective,
            mode: mode & 0o777,
            seq,
        }
    }

    /// Linux's `ipcperms`: the owner or creator bits for either's effective user id, else the group bits for
    /// a member, else the other bits; `CAP_IPC_OWNER` passes.
    pub fn allows(&self, c: &Credentials, want: Want) -> bool {
        let need = match want {
            Want::Read => 4,
            Want::Write => 2,
            Want::ReadWrite => 6,
        };
        let euid = c.uid.effective;
        let granted = if euid == self.uid || euid == self.cuid {
            self.mode >> 6
        } else if c.gid.effective == self.gid
            || c.gid.effective == self.cgid
            || c.groups().iter().any(|&g| g == self.gid || g == self.cgid)
        {
            self.mode >> 3
        } else {
            self.mode
        };
        need & !granted & 7 == 0 || c.capable(CAP_IPC_OWNER)
    }

    /// Whether the caller may `IPC_SET` or `IPC_RMID`: owner, creator, or `CAP_SYS_ADMIN`.
    pub fn may_change(&self, c: &Credentials) -> bool {
        c.uid.effective == self.uid || c.uid.effective == self.cuid || c.capable(CAP_SYS_ADMIN)
    }

    /// `IPC_SET`: new owner, group and permission bits (the object flags stay).
    pub fn set(&mut self, uid: u32, gid: u32, mode: u32) {
        self.uid = uid;
        self.gid = gid;
        self.mode = (self.mode & !0o777) | (mode & 0o777);
    }
}

/// One object of a [`Table`].
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// Its permissions.
    pub perm: Perm,
    /// The object.
    pub obj: T,
}

/// The objects of one kind (semaphore sets, queues or segments), by id.
#[derive(Debug, Clone)]
pub struct Table<T> {
    entries: BTreeMap<usize, Entry<T>>,
    next_seq: u16,
    /// The most objects (`SEMMNI`, `MSGMNI`, `SHMMNI`).
    pub max: usize,
}

impl<T> Table<T> {
    /// An empty table of at most `max` objects.
    pub const fn new(max: usize) -> Table<T> {
        Table {
            entries: BTreeMap::new(),
            next_seq: 0,
            max,
        }
    }

    /// The `*get` calls: the id of the object of `key`, made by `make` when there is none (or the key is
    /// `IPC_PRIVATE`) and `flags` say `IPC_CREAT`; an existing one must pass `IPC_EXCL`, the mode bits asked in
    /// `flags`, and `fits` (the size or count asked for).
    pub fn get(
        &mut self,
        key: i32,
        flags: i32,
        c: &Credentials,
        fits: impl FnOnce(&T) -> Result<(), Error>,
        make: impl FnOnce() -> Result<T, Error>,
    ) -> Result<i32, Error> {
        if key != IPC_PRIVATE
            && let Some((&index, e)) = self.entries.iter().find(|(_, e)| e.perm.key == key)
        {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(Error::Exists);
            }
            let asked = flags as u32 & 0o777;
            let want_read = asked & 0o444 != 0;
            let want_write = asked & 0o222 != 0;
            let want = match (want_read, want_write) {
                (true, true) => Some(Want::ReadWrite),
                (true, false) => Some(Want::Read),
                (false, true) => Some(Want::Write),
                (false, false) => None,
            };
            if want.is_some_and(|w| !e.perm.allows(c, w)) {
                return Err(Error::Access);
            }
            fits(&e.obj)?;
            return Ok(Self::id(index, e.perm.seq));
        }
        if key != IPC_PRIVATE && flags & IPC_CREAT == 0 {
            return Err(Error::NoEntry);
        }
        if self.entries.len() >= self.max {
            return Err(Error::NoSpace);
        }
        let index = (0..).find(|i| !self.entries.contains_key(i)).unwrap_or(0);
        let obj = make()?;
        let seq = self.next_seq;
        self.next_seq = (self.next_seq + 1) % (i32::MAX / SEQ_MULTIPLIER) as u16;
        let perm = Perm::new(key, flags as u32, c, seq);
        self.entries.insert(index, Entry { perm, obj });
        Ok(Self::id(index, seq))
    }

    fn id(index: usize, seq: u16) -> i32 {
        i32::from(seq) * SEQ_MULTIPLIER + index as i32
    }

    fn index_of(&self, id: i32) -> Result<usize, Error> {
        if id < 0 {
            return Err(Error::Invalid);
        }
        let index = (id % SEQ_MULTIPLIER) as usize;
        match self.entries.get(&index) {
            Some(e) if i32::from(e.perm.seq) == id / SEQ_MULTIPLIER => Ok(index),
            _ => Err(Error::Invalid),
        }
    }

    /// The object `id` (`EINVAL` for no such id, or a stale one).
    pub fn lookup(&self, id: i32) -> Result<&Entry<T>, Error> {
        self.index_of(id).map(|i| &self.entries[&i])
    }

    /// The object `id`, to change.
    pub fn lookup_mut(&mut self, id: i32) -> Result<&mut Entry<T>, Error> {
        let i = self.index_of(id)?;
        self.entries.get_mut(&i).ok_or(Error::Invalid)
    }

    /// The object at table index `index` and its id (`*_STAT`).
    pub fn at_index(&self, index: usize) -> Option<(i32, &Entry<T>)> {
        self.entries.get(&index).map(|e| (Self::id(index, e.perm.seq), e))
    }

    /// Removes object `id` (`IPC_RMID`).
    pub fn remove(&mut self, id: i32) -> Result<T, Error> {
        let i = self.index_of(id)?;
        self.entries.remove(&i).map(|e| e.obj).ok_or(Error::Invalid)
    }

    /// Every object with its id, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Entry<T>)> {
        self.entries.iter().map(|(&i, e)| (Self::id(i, e.perm.seq), e))
    }

    /// Every object with its id, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut Entry<T>)> {
        self.entries.iter_mut().map(|(&i, e)| (Self::id(i, e.perm.seq), e))
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The highest index in use (0 when empty), what `IPC_INFO` returns.
    pub fn highest_index(&self) -> usize {
        self.entries.keys().next_back().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32) -> Credentials {
        let mut c = Credentials::root();
        c.set_resgid(gid, gid, gid).unwrap();
        c.set_resuid(uid, uid, uid).unwrap();
        c
    }

    #[test]
    fn keys_creat_excl_and_private() {
        let root = Credentials::root();
        let mut t: Table<u32> = Table::new(3);
        let ok = |_: &u32| Ok(());
        assert_eq!(t.get(42, 0o600, &root, ok, || Ok(1)), Err(Error::NoEntry));
        let id = t.get(42, IPC_CREAT | 0o600, &root, ok, || Ok(1)).unwrap();
        assert_eq!(t.get(42, 0, &root, ok, || Ok(2)), Ok(id));
        assert_eq!(t.get(42, IPC_CREAT | IPC_EXCL, &root, ok, || Ok(2)), Err(Error::Exists));
        assert_eq!(
            t.get(42, 0, &root, |_| Err(Error::Invalid), || Ok(2)),
            Err(Error::Invalid)
        );
        let p1 = t.get(IPC_PRIVATE, 0o600, &root, ok, || Ok(3)).unwrap();
        let p2 = t.get(IPC_PRIVATE, 0o600, &root, ok, || Ok(4)).unwrap();
        assert!(p1 != p2 && p1 != id);
        assert_eq!(t.get(IPC_PRIVATE, 0, &root, ok, || Ok(5)), Err(Error::NoSpace));
        // A removed id stays invalid when its index is reused.
        assert_eq!(t.remove(p1), Ok(3));
        assert_eq!(t.lookup(p1).map(|e| e.obj), Err(Error::Invalid));
        let p3 = t.get(IPC_PRIVATE, 0, &root, ok, || Ok(6)).unwrap();
        assert_ne!(p3, p1);
        assert_eq!(t.lookup(p3).unwrap().obj, 6);
        assert_eq!(t.lookup(-1).map(|e| e.obj), Err(Error::Invalid));
        assert_eq!(t.highest_index(), 2);
    }

    #[test]
    fn permissions_owner_group_other_and_ipc_owner() {
        let root = Credentials::root();
        let mut t: Table<()> = Table::new(8);
        let id = t.get(7, IPC_CREAT | 0o640, &root, |_| Ok(()), || Ok(())).unwrap();
        let p = t.lookup(id).unwrap().perm;
        assert!(p.allows(&user(1000, 0), Want::Read));
        assert!(!p.allows(&user(1000, 0), Want::Write));
        assert!(!p.allows(&user(1000, 5), Want::Read));
        assert!(!p.may_change(&user(1000, 0)) && p.may_change(&root));
        assert_eq!(
            t.get(7, 0o600, &user(1000, 5), |_| Ok(()), || Ok(())),
            Err(Error::Access)
        );
        // Root without CAP_IPC_OWNER is held to the bits like anyone.
        let mut r = Credentials::root();
        let all = r.caps.permitted;
        r.caps
            .set(all & !ember_creds::caps::bit(CAP_IPC_OWNER), all, 0)
            .unwrap();
        let mut p2 = p;
        p2.set(5, 5, 0o600);
        // The creator's bits still count for the creator (root made it).
        assert!(p2.allows(&r, Want::Read));
        p2.cuid = 5;
        assert!(!p2.allows(&r, Want::Read));
        assert!(p2.allows(&Credentials::root(), Want::ReadWrite));
    }
}
