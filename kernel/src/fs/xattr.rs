//! Extended attributes. Those of the in-memory tree are an [`ember_xattr::Xattrs`] per inode that has any,
//! kept in a table beside the tree (keyed by inode number, holding a weak reference so that an inode's
//! attributes go when it does) rather than in every inode. Those of ext2/3/4 files are on the disk
//! ([`ember_ext4`]'s in-inode area and attribute block), read and written through the file's [`DiskNode`];
//! `system.` names there (POSIX ACLs, which ember does not enforce) are neither listed nor reachable.
//!
//! Who may do what, as Linux: `user.` attributes only on regular files and directories (writing one needs
//! write permission, and in a sticky directory ownership; reading needs read permission), `trusted.` only for
//! privileged callers (others neither see nor read them), `security.` readable by anyone and writable by
//! privileged callers only (the capability rule when no security module runs).

use super::ext::DiskNode;
use super::inode::Inode;
use super::perm;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use ember_creds::caps::CAP_SYS_ADMIN;
use ember_ext4::XattrMode;
use ember_frame::sync::Mutex;
use ember_xattr::{Error, Namespace, XATTR_CREATE, XATTR_REPLACE, Xattrs};
use linux_raw_sys::general::{S_IFDIR, S_IFMT, S_IFREG};

/// The attributes of every inode that has some.
static TABLE: Mutex<BTreeMap<u64, (Weak<Inode>, Xattrs)>> = Mutex::new(BTreeMap::new());

/// Linux's errno for an attribute error.
pub fn errno(e: Error) -> Errno {
    match e {
        Error::Range => Errno::ERANGE,
        Error::TooBig => Errno::E2BIG,
        Error::NotSupported => Errno::EOPNOTSUPP,
        Error::Exists => Errno::EEXIST,
        Error::NoData => Errno::ENODATA,
        Error::Invalid => Errno::EINVAL,
        Error::NoSpace => Errno::ENOSPC,
    }
}

/// Whether the caller may `write` (else read) attribute `name` of `inode` (Linux's `xattr_permission` and the
/// capability module's check of `security.`).
fn permitted(inode: &Inode, name: &[u8], write: bool) -> Result<(), Errno> {
    let ns = Namespace::of(name).map_err(errno)?;
    let creds = perm::caller();
    let meta = *inode.meta.lock();
    match ns {
        Namespace::Security if write && !creds.capable(CAP_SYS_ADMIN) => Err(Errno::EPERM),
        Namespace::Security => Ok(()),
        Namespace::Trusted if creds.capable(CAP_SYS_ADMIN) => Ok(()),
        Namespace::Trusted if write => Err(Errno::EPERM),
        Namespace::Trusted => Err(Errno::ENODATA),
        Namespace::User => {
            let kind = meta.mode & S_IFMT;
            if kind != S_IFREG && kind != S_IFDIR {
                return Err(if write { Errno::EPERM } else { Errno::ENODATA });
            }
            let sticky_other = kind == S_IFDIR && meta.mode & 0o1000 != 0 && creds.uid.fs != meta.uid;
            if write && sticky_other && !creds.capable(CAP_SYS_ADMIN) {
                return Err(Errno::EPERM);
            }
            perm::check(&creds, inode, if write { perm::WRITE } else { perm::READ })
        }
    }
}

/// Runs `f` on the attributes of `inode` (an empty set when it has none; a set left empty is dropped).
fn with<T>(inode: &Arc<Inode>, f: impl FnOnce(&mut Xattrs) -> T) -> T {
    let mut table = TABLE.lock();
    let live = |w: &Weak<Inode>| w.upgrade().is_some_and(|i| Arc::ptr_eq(&i, inode));
    let entry = table.get_mut(&inode.ino()).filter(|(w, _)| live(w));
    let (r, empty) = match entry {
        Some((_, x)) => {
            let r = f(x);
            (r, x.is_empty())
        }
        None => {
            let mut x = Xattrs::new();
            let r = f(&mut x);
            if !x.is_empty() {
                // A new entry: first drop those whose inodes are gone, so that the table stays bounded by
                // the live inodes.
                table.retain(|_, (w, _)| w.strong_count() > 0);
                table.insert(inode.ino(), (Arc::downgrade(inode), x));
            }
            return r;
        }
    };
    if empty {
        table.remove(&inode.ino());
    }
    r
}

/// `setxattr`: sets `name` of `inode` to `value` under `flags`.
pub fn set(inode: &Arc<Inode>, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
    permitted(inode, name, true)?;
    if let Some(d) = inode.disk() {
        disk_set(d, name, value, flags)?;
        inode.refresh();
        return Ok(());
    }
    with(inode, |x| x.set(name, value, flags)).map_err(errno)?;
    inode.meta.lock().ctime = super::inode::Timespec::now();
    Ok(())
}

/// `getxattr`: the value of `name` for a buffer of `size` bytes (empty with size 0) and its length.
pub fn get(inode: &Arc<Inode>, name: &[u8], size: usize) -> Result<(Vec<u8>, usize), Errno> {
    permitted(inode, name, false)?;
    if let Some(d) = inode.disk() {
        let v = d.xattr_get(name)?;
        let len = v.len();
        let copy = ember_xattr::fits(len, size).map_err(errno)?;
        return Ok((if copy { v } else { Vec::new() }, len));
    }
    with(inode, |x| x.read(name, size).map(|(v, len)| (v.to_vec(), len))).map_err(errno)
}

/// `listxattr`: the names the caller may see, for a buffer of `size` bytes (empty with size 0), and the
/// length of the list.
pub fn list(inode: &Arc<Inode>, size: usize) -> Result<(Vec<u8>, usize), Errno> {
    let privileged = perm::caller().capable(CAP_SYS_ADMIN);
    let visible = |ns| privileged || ns != Namespace::Trusted;
    if let Some(d) = inode.disk() {
        let names = d.xattr_names()?;
        return ember_xattr::list_names(names.iter().map(Vec::as_slice), size, visible).map_err(errno);
    }
    with(inode, |x| x.list(size, visible)).map_err(errno)
}

/// `removexattr`: removes `name` of `inode`.
pub fn remove(inode: &Arc<Inode>, name: &[u8]) -> Result<(), Errno> {
    permitted(inode, name, true)?;
    if let Some(d) = inode.disk() {
        d.xattr_remove(name)?;
        inode.refresh();
        return Ok(());
    }
    with(inode, |x| x.remove(name)).map_err(errno)?;
    inode.meta.lock().ctime = super::inode::Timespec::now();
    Ok(())
}

/// `setxattr` on a disk file: `flags` as the file system's mode (both flags: `EEXIST` if the attribute exists,
/// else `ENODATA`, as Linux checks them one after the other).
fn disk_set(d: &DiskNode, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
    let mode = match flags & (XATTR_CREATE | XATTR_REPLACE) {
        0 => XattrMode::Any,
        XATTR_CREATE => XattrMode::Create,
        XATTR_REPLACE => XattrMode::Replace,
        _ => {
            return Err(match d.xattr_get(name) {
                Ok(_) => Errno::EEXIST,
                Err(e) => e,
            });
        }
    };
    d.xattr_set(name, value, mode)
}
