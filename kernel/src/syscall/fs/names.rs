//! Names and attributes: open, stat, access, directories, links, renames, modes, owners, times.

use super::{context, file, start_dir, uaccess, user_path};
use crate::fs::inode::{Inode, NewNode, Timespec};
use crate::fs::path::path_of;
use crate::fs::stat::{self, Stat};
use crate::fs::{FsContext, open};
use crate::process::{current_files, current_fs};
use crate::syscall::errno::{Errno, SysResult};
use alloc::sync::Arc;
use alloc::vec::Vec;
use linux_raw_sys::general::{
    AT_EACCESS, AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_REMOVEDIR, AT_STATX_SYNC_TYPE, AT_SYMLINK_FOLLOW,
    AT_SYMLINK_NOFOLLOW, O_CLOEXEC, RENAME_EXCHANGE, RENAME_NOREPLACE, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT,
    S_IFREG, S_IFSOCK, UTIME_NOW, UTIME_OMIT,
};

/// `X_OK` for `access`.
const X_OK: u32 = 1;
/// Execute bits for owner, group, others.
const S_IXUGO: u32 = 0o111;

/// Resolves `path` from `dirfd`.
fn lookup(ctx: &FsContext, dirfd: i32, path: &[u8], follow: bool) -> Result<Arc<Inode>, Errno> {
    // An empty path names nothing (before `dirfd` is looked at), unless the caller handled AT_EMPTY_PATH.
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let start = start_dir(ctx, dirfd, path)?;
    ctx.resolver().lookup(start, path, follow)
}

/// Resolves all but the last component: the directory and the name.
fn lookup_parent(ctx: &FsContext, dirfd: i32, path: &[u8]) -> Result<(Arc<Inode>, Vec<u8>), Errno> {
    let start = start_dir(ctx, dirfd, path)?;
    ctx.resolver().lookup_parent(start, path)
}

/// The inode an `*at` call with `AT_EMPTY_PATH` and an empty path means: `dirfd`'s (the working directory's
/// for `AT_FDCWD`). `None` when the path is not empty; `ENOENT` for an empty path without the flag.
fn empty_path_target(ctx: &FsContext, dirfd: i32, path: &[u8], flags: u32) -> Result<Option<Stat>, Errno> {
    if !path.is_empty() {
        return Ok(None);
    }
    if flags & AT_EMPTY_PATH == 0 {
        return Err(Errno::ENOENT);
    }
    if dirfd == linux_raw_sys::general::AT_FDCWD {
        return Ok(Some(Stat::of_inode(ctx.cwd())));
    }
    Ok(Some(Stat::of_file(&*file(dirfd)?)))
}

/// `openat(2)` (and `open`, `creat`).
pub fn openat(dirfd: i32, path_addr: u64, flags: u32, mode: u32) -> SysResult {
    let path = user_path(path_addr)?;
    let ctx = context();
    let start = start_dir(&ctx, dirfd, &path)?;
    let f = open::open(&ctx, start, &path, flags, mode)?;
    current_files()
        .lock()
        .install(f, flags & O_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

fn stat_at(dirfd: i32, path_addr: u64, flags: u32) -> Result<Stat, Errno> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    let ctx = context();
    if let Some(st) = empty_path_target(&ctx, dirfd, &path, flags)? {
        return Ok(st);
    }
    Ok(Stat::of_inode(&*lookup(
        &ctx,
        dirfd,
        &path,
        flags & AT_SYMLINK_NOFOLLOW == 0,
    )?))
}

/// `newfstatat(2)` (and `stat`, `lstat`).
pub fn fstatat(dirfd: i32, path_addr: u64, buf: u64, flags: u32) -> SysResult {
    let st = stat_at(dirfd, path_addr, flags)?;
    uaccess::write_bytes(buf, &st.to_stat())?;
    Ok(0)
}

/// `fstat(2)`.
pub fn fstat(fd: i32, buf: u64) -> SysResult {
    let st = Stat::of_file(&*file(fd)?);
    uaccess::write_bytes(buf, &st.to_stat())?;
    Ok(0)
}

/// `statx(2)`: the basic fields, whatever the mask asks.
pub fn statx(dirfd: i32, path_addr: u64, flags: u32, buf: u64) -> SysResult {
    let st = stat_at(dirfd, path_addr, flags)?;
    uaccess::write_bytes(buf, &st.to_statx())?;
    Ok(0)
}

/// `faccessat2(2)` (and `access`, `faccessat`): everything runs as root, so only execute needs a bit.
pub fn faccessat(dirfd: i32, path_addr: u64, mode: u32, flags: u32) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    let ctx = context();
    let st = match empty_path_target(&ctx, dirfd, &path, flags)? {
        Some(st) => st,
        None => Stat::of_inode(&*lookup(&ctx, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?),
    };
    let m = st.mode();
    if mode & X_OK != 0 && m & S_IFMT != S_IFDIR && m & S_IXUGO == 0 {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

/// `getdents64(2)`: from the directory offset (a position of [`crate::fs::inode::Inode::read_dir`]), as many
/// entries as fit; each `d_off` is the position after it, which `lseek` (telldir/seekdir) can go back to.
pub fn getdents64(fd: i32, buf: u64, count: u64) -> SysResult {
    let f = file(fd)?;
    let dir = f.inode().filter(|i| i.is_dir()).ok_or(Errno::ENOTDIR)?.clone();
    // Linux's count is an `int`-sized `unsigned int`: the high half is dropped and a negative count fits no entry.
    let count = usize::try_from(count as u32 as i32).unwrap_or(0).min(1 << 20);
    let start = *f.offset().lock();
    let mut out = Vec::new();
    let mut pos = start;
    let mut failed = None;
    dir.read_dir(start, |ino, kind, name, next| {
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        if out.len() + reclen > count {
            if out.is_empty() {
                failed = Some(Errno::EINVAL);
            }
            return false;
        }
        if out.try_reserve(reclen).is_err() {
            failed = Some(Errno::ENOMEM);
            return false;
        }
        out.extend_from_slice(&ino.to_ne_bytes());
        out.extend_from_slice(&next.to_ne_bytes());
        out.extend_from_slice(&(reclen as u16).to_ne_bytes());
        out.push(kind);
        out.extend_from_slice(name);
        out.resize(out.len() + reclen - 19 - name.len(), 0);
        pos = next;
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    uaccess::write_bytes(buf, &out)?;
    *f.offset().lock() = pos;
    Ok(out.len() as u64)
}

/// `getcwd(2)`.
pub fn getcwd(buf: u64, size: u64) -> SysResult {
    let ctx = context();
    let mut path = path_of(ctx.root(), ctx.cwd())?;
    path.push(0);
    if path.len() as u64 > size {
        return Err(Errno::ERANGE);
    }
    uaccess::write_bytes(buf, &path)?;
    Ok(path.len() as u64)
}

/// `chdir(2)`.
pub fn chdir(path_addr: u64) -> SysResult {
    let path = user_path(path_addr)?;
    let dir = lookup(&context(), linux_raw_sys::general::AT_FDCWD, &path, true)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    current_fs().lock().set_cwd(dir);
    Ok(0)
}

/// `fchdir(2)`.
pub fn fchdir(fd: i32) -> SysResult {
    let dir = file(fd)?.inode().filter(|i| i.is_dir()).ok_or(Errno::ENOTDIR)?.clone();
    current_fs().lock().set_cwd(dir);
    Ok(0)
}

/// Makes `what` as the last component of `path`: `EEXIST` when it is taken.
fn create(ctx: &FsContext, dirfd: i32, path: &[u8], what: NewNode, perm: u32) -> SysResult {
    let (dir, name) = lookup_parent(ctx, dirfd, path)?;
    if name == b"." || name == b".." || dir.lookup(&name).is_ok() {
        return Err(Errno::EEXIST);
    }
    crate::fs::perm::may_create(&dir)?;
    let (uid, gid, extra) = crate::fs::perm::new_owner(&dir, matches!(what, NewNode::Dir));
    dir.create(&name, what, perm | extra, uid, gid).map(|_| 0)
}

/// `mkdirat(2)` (and `mkdir`).
pub fn mkdirat(dirfd: i32, path_addr: u64, mode: u32) -> SysResult {
    let path = user_path(path_addr)?;
    let ctx = context();
    let perm = mode & !ctx.umask() & 0o7777;
    create(&ctx, dirfd, &path, NewNode::Dir, perm)
}

/// `mknodat(2)` (and `mknod`): FIFOs and regular files; device nodes are refused.
pub fn mknodat(dirfd: i32, path_addr: u64, mode: u32) -> SysResult {
    let path = user_path(path_addr)?;
    let ctx = context();
    let perm = mode & !ctx.umask() & 0o7777;
    match mode & S_IFMT {
        S_IFIFO => create(&ctx, dirfd, &path, NewNode::Fifo, perm),
        0 | S_IFREG => create(&ctx, dirfd, &path, NewNode::File, perm),
        S_IFCHR | S_IFBLK | S_IFSOCK => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// `unlinkat(2)` (and `unlink`, `rmdir`).
pub fn unlinkat(dirfd: i32, path_addr: u64, flags: u32) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    let ctx = context();
    let (dir, name) = lookup_parent(&ctx, dirfd, &path)?;
    let rmdir = flags & AT_REMOVEDIR != 0;
    match (name.as_slice(), rmdir) {
        (b".", true) => return Err(Errno::EINVAL),
        (b"..", true) => return Err(Errno::ENOTEMPTY),
        (b"." | b"..", false) => return Err(Errno::EISDIR),
        _ => {}
    }
    let child = dir.lookup(&name)?;
    if rmdir {
        if !child.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if Arc::ptr_eq(&child, ctx.root()) {
            return Err(Errno::EBUSY);
        }
        if !child.is_empty_dir() {
            return Err(Errno::ENOTEMPTY);
        }
    } else if child.is_dir() {
        return Err(Errno::EISDIR);
    } else if path.ends_with(b"/") {
        return Err(Errno::ENOTDIR);
    }
    crate::fs::perm::may_delete(&dir, &child)?;
    dir.unlink(&name, rmdir).map(|_| 0)
}

/// Whether `dir` is `ancestor` or below it.
fn is_within(dir: &Arc<Inode>, ancestor: &Arc<Inode>) -> bool {
    let mut cur = dir.clone();
    loop {
        if Arc::ptr_eq(&cur, ancestor) {
            return true;
        }
        let parent = cur.parent();
        if Arc::ptr_eq(&parent, &cur) {
            return false;
        }
        cur = parent;
    }
}

/// `renameat2(2)` (and `rename`, `renameat`), with `RENAME_NOREPLACE` and `RENAME_EXCHANGE`.
pub fn renameat2(old_dirfd: i32, old_addr: u64, new_dirfd: i32, new_addr: u64, flags: u32) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 || flags == RENAME_NOREPLACE | RENAME_EXCHANGE {
        return Err(Errno::EINVAL);
    }
    let (old_path, new_path) = (user_path(old_addr)?, user_path(new_addr)?);
    let ctx = context();
    let (old_dir, old_name) = lookup_parent(&ctx, old_dirfd, &old_path)?;
    let (new_dir, new_name) = lookup_parent(&ctx, new_dirfd, &new_path)?;
    for n in [&old_name, &new_name] {
        if n.as_slice() == b"." || n.as_slice() == b".." {
            return Err(Errno::EBUSY);
        }
    }
    let src = old_dir.lookup(&old_name)?;
    let dst = new_dir.lookup(&new_name).ok();
    if !src.is_dir() && (old_path.ends_with(b"/") || new_path.ends_with(b"/")) {
        return Err(Errno::ENOTDIR);
    }
    if src.is_dir() && is_within(&new_dir, &src) {
        return Err(Errno::EINVAL);
    }
    crate::fs::perm::may_delete(&old_dir, &src)?;
    match &dst {
        Some(d) => crate::fs::perm::may_delete(&new_dir, d)?,
        None => crate::fs::perm::may_create(&new_dir)?,
    }
    if flags & RENAME_EXCHANGE != 0 {
        let dst = dst.ok_or(Errno::ENOENT)?;
        if dst.is_dir() && is_within(&old_dir, &dst) {
            return Err(Errno::EINVAL);
        }
        if Arc::ptr_eq(&src, &dst) {
            return Ok(0);
        }
        return Inode::rename(&old_dir, &old_name, &new_dir, &new_name, src, Some(dst), true).map(|()| 0);
    }
    if let Some(dst) = &dst {
        if Arc::ptr_eq(&src, dst) {
            return Ok(0);
        }
        if flags & RENAME_NOREPLACE != 0 {
            return Err(Errno::EEXIST);
        }
        match (src.is_dir(), dst.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !dst.is_empty_dir() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
    }
    Inode::rename(&old_dir, &old_name, &new_dir, &new_name, src, dst, false).map(|()| 0)
}

/// `linkat(2)` (and `link`).
pub fn linkat(old_dirfd: i32, old_addr: u64, new_dirfd: i32, new_addr: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (old_path, new_path) = (user_path(old_addr)?, user_path(new_addr)?);
    let ctx = context();
    let src = if old_path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        file(old_dirfd)?.inode().ok_or(Errno::ENOENT)?.clone()
    } else {
        lookup(&ctx, old_dirfd, &old_path, flags & AT_SYMLINK_FOLLOW != 0)?
    };
    if src.is_dir() {
        return Err(Errno::EPERM);
    }
    let (dir, name) = lookup_parent(&ctx, new_dirfd, &new_path)?;
    if name == b"." || name == b".." || dir.lookup(&name).is_ok() {
        return Err(Errno::EEXIST);
    }
    crate::fs::perm::may_create(&dir)?;
    dir.link(&name, &src).map(|()| 0)
}

/// `symlinkat(2)` (and `symlink`).
pub fn symlinkat(target_addr: u64, dirfd: i32, path_addr: u64) -> SysResult {
    let target = user_path(target_addr)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = user_path(path_addr)?;
    create(&context(), dirfd, &path, NewNode::Symlink(target), 0o777)
}

/// `readlinkat(2)` (and `readlink`).
pub fn readlinkat(dirfd: i32, path_addr: u64, buf: u64, size: u64) -> SysResult {
    if size as i64 <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    let ctx = context();
    let link = if path.is_empty() {
        file(dirfd)?.inode().ok_or(Errno::ENOENT)?.clone()
    } else {
        lookup(&ctx, dirfd, &path, false)?
    };
    let target = link.link_target()?;
    let n = target.len().min(size as usize);
    uaccess::write_bytes(buf, &target[..n])?;
    Ok(n as u64)
}

fn set_mode(inode: &Inode, mode: u32) -> SysResult {
    inode.check_writable()?;
    inode.refresh();
    let mode = crate::fs::perm::may_chmod(inode, mode)?;
    let mut m = inode.meta.lock();
    m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
    m.ctime = Timespec::now();
    drop(m);
    inode.store_meta().map(|()| 0)
}

/// `fchmodat2(2)` (and `fchmodat`, `chmod`).
pub fn fchmodat(dirfd: i32, path_addr: u64, mode: u32, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return fchmod(dirfd, mode);
    }
    set_mode(
        &*lookup(&context(), dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?,
        mode,
    )
}

/// `fchmod(2)`.
pub fn fchmod(fd: i32, mode: u32) -> SysResult {
    set_mode(file(fd)?.inode().ok_or(Errno::EINVAL)?, mode)
}

fn set_owner(inode: &Inode, uid: u32, gid: u32) -> SysResult {
    inode.check_writable()?;
    inode.refresh();
    crate::fs::perm::may_chown(inode, uid, gid)?;
    let mut m = inode.meta.lock();
    if uid != u32::MAX {
        m.uid = uid;
    }
    if gid != u32::MAX {
        m.gid = gid;
    }
    m.ctime = Timespec::now();
    drop(m);
    inode.store_meta().map(|()| 0)
}

/// `fchownat(2)` (and `chown`, `lchown`).
pub fn fchownat(dirfd: i32, path_addr: u64, uid: u32, gid: u32, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return fchown(dirfd, uid, gid);
    }
    set_owner(
        &*lookup(&context(), dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?,
        uid,
        gid,
    )
}

/// `fchown(2)`.
pub fn fchown(fd: i32, uid: u32, gid: u32) -> SysResult {
    set_owner(file(fd)?.inode().ok_or(Errno::EINVAL)?, uid, gid)
}

/// `truncate(2)`.
pub fn truncate(path_addr: u64, len: i64) -> SysResult {
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(path_addr)?;
    let inode = lookup(&context(), linux_raw_sys::general::AT_FDCWD, &path, true)?;
    inode.truncate(len as u64).map(|()| 0)
}

/// `utimensat(2)`: a null path means `dirfd` itself (`futimens`).
pub fn utimensat(dirfd: i32, path_addr: u64, times_addr: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let now = Timespec::now();
    let mut times = [Some(now), Some(now)];
    if times_addr != 0 {
        let mut raw = [0u8; 32];
        uaccess::read_bytes(times_addr, &mut raw)?;
        for (t, c) in times.iter_mut().zip(raw.chunks_exact(16)) {
            let sec = i64::from_ne_bytes(c[..8].try_into().unwrap_or_default());
            let nsec = i64::from_ne_bytes(c[8..].try_into().unwrap_or_default());
            *t = match nsec {
                n if n == UTIME_NOW as i64 => Some(now),
                n if n == UTIME_OMIT as i64 => None,
                0..=999_999_999 => Some(Timespec { sec, nsec: nsec as u32 }),
                _ => return Err(Errno::EINVAL),
            };
        }
    }
    let inode = if path_addr == 0 {
        file(dirfd)?.inode().ok_or(Errno::EINVAL)?.clone()
    } else {
        let path = user_path(path_addr)?;
        if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            file(dirfd)?.inode().ok_or(Errno::EINVAL)?.clone()
        } else {
            lookup(&context(), dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?
        }
    };
    inode.check_writable()?;
    inode.refresh();
    let mut m = inode.meta.lock();
    if let Some(a) = times[0] {
        m.atime = a;
    }
    if let Some(t) = times[1] {
        m.mtime = t;
    }
    m.ctime = now;
    drop(m);
    inode.store_meta().map(|()| 0)
}

/// Writes the `struct statfs` of the file system holding `inode` to `buf`.
pub fn write_statfs(inode: Option<&Inode>, buf: u64) -> SysResult {
    uaccess::write_bytes(buf, &stat::statfs(inode)?)?;
    Ok(0)
}

/// `statfs(2)`.
pub fn statfs(path_addr: u64, buf: u64) -> SysResult {
    let path = user_path(path_addr)?;
    let inode = lookup(&context(), linux_raw_sys::general::AT_FDCWD, &path, true)?;
    write_statfs(Some(&inode), buf)
}
