//! Permission checks of the file calls, by the caller's file-system ids ([`ember_creds::Credentials::may`]):
//! search permission on every directory a path walks through, read/write on open, write and search on a
//! directory whose entries change, the sticky bit, ownership for `chmod`/`chown`, and who owns what a
//! process creates. Root (file-system uid 0) passes all of them but execute of a file without an execute bit.
//!
//! The checks sit in the system calls' paths, not in the tree's `insert`/`remove`: the kernel itself also
//! changes directories (procfs entries brought up to date during some process's lookup) and must not be held to
//! that process's rights.

use super::inode::Inode;
use crate::process::current;
use crate::syscall::errno::Errno;
use ember_creds::caps::{CAP_CHOWN, CAP_FSETID};
use ember_creds::{Access, Credentials};

/// Read access.
pub const READ: Access = Access {
    read: true,
    write: false,
    exec: false,
};
/// Write access.
pub const WRITE: Access = Access {
    read: false,
    write: true,
    exec: false,
};
/// Execute (search, for a directory).
pub const EXEC: Access = Access {
    read: false,
    write: false,
    exec: true,
};
/// What changing a directory's entries needs: write and search.
const CHANGE_DIR: Access = Access {
    read: false,
    write: true,
    exec: true,
};
const S_ISVTX: u32 = 0o1000;
const S_ISGID: u32 = 0o2000;

/// The caller's credentials.
pub fn caller() -> Credentials {
    current().creds()
}

/// `EACCES` unless `creds` may access `inode` as `want` says.
pub fn check(creds: &Credentials, inode: &Inode, want: Access) -> Result<(), Errno> {
    let m = *inode.meta.lock();
    if creds.may(want, m.mode & 0o7777, m.uid, m.gid, inode.is_dir()) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// The caller may add entries to `dir`.
pub fn may_create(dir: &Inode) -> Result<(), Errno> {
    check(&caller(), dir, CHANGE_DIR)
}

/// The caller may remove (or rename away) `victim` from `dir`: write and search on `dir`, and in a sticky
/// directory only the owner of the file or of the directory (or root) may (`EPERM` otherwise).
pub fn may_delete(dir: &Inode, victim: &Inode) -> Result<(), Errno> {
    let c = caller();
    check(&c, dir, CHANGE_DIR)?;
    let (d, v) = (*dir.meta.lock(), *victim.meta.lock());
    if d.mode & S_ISVTX != 0 && !c.owns(v.uid) && !c.owns(d.uid) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The owner a new file made in `dir` by the caller gets: the caller's file-system ids, or the group of a
/// set-group-id directory (and a new directory there inherits the bit, returned as extra mode bits), as Linux
/// does.
pub fn new_owner(dir: &Inode, is_dir: bool) -> (u32, u32, u32) {
    let c = caller();
    let d = *dir.meta.lock();
    if d.mode & S_ISGID != 0 {
        (c.uid.fs, d.gid, if is_dir { S_ISGID } else { 0 })
    } else {
        (c.uid.fs, c.gid.fs, 0)
    }
}

/// `chmod`: the owner or root (`EPERM`); a non-member who is not root loses the set-group-id bit.
pub fn may_chmod(inode: &Inode, mode: u32) -> Result<u32, Errno> {
    let c = caller();
    let m = *inode.meta.lock();
    if !c.owns(m.uid) {
        return Err(Errno::EPERM);
    }
    if !c.capable(CAP_FSETID) && !c.in_group(m.gid) {
        return Ok(mode & !S_ISGID);
    }
    Ok(mode)
}

/// `chown`: root may give any owner; the owner may only change the group, to one of its own (`EPERM`).
pub fn may_chown(inode: &Inode, uid: u32, gid: u32) -> Result<(), Errno> {
    let c = caller();
    if c.capable(CAP_CHOWN) {
        return Ok(());
    }
    let m = *inode.meta.lock();
    let uid_ok = uid == u32::MAX || uid == m.uid;
    let gid_ok = gid == u32::MAX || gid == m.gid || c.in_group(gid);
    if c.uid.fs == m.uid && uid_ok && gid_ok {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}
