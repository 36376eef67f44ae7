//! The file system calls: descriptors and I/O ([`io`]), names and attributes ([`names`]), extended
//! attributes ([`xattr`]), mounts and `chroot` ([`mount`]), waiting for readiness ([`poll`]).

mod io;
mod mount;
mod names;
mod poll;
mod xattr;

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::fs::inode::Inode;
use crate::fs::path::PATH_MAX;
use crate::fs::{FsContext, OpenFile};
use crate::process::{current_files, current_fs};
use alloc::sync::Arc;
use alloc::vec::Vec;
use linux_raw_sys::general::{self as linux, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_TRUNC, O_WRONLY};

/// Runs file system call `nr` with arguments `a`; `None` when `nr` is not one of them.
pub fn handle(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    use xattr::Target::{Fd, Path};
    let nr = u32::try_from(nr).ok()?;
    let fd = a[0] as i32;
    Some(match nr {
        linux::__NR_read => io::read(fd, a[1], a[2]),
        linux::__NR_write => io::write(fd, a[1], a[2]),
        linux::__NR_readv => io::readv(fd, a[1], a[2], None),
        linux::__NR_writev => io::writev(fd, a[1], a[2], None),
        linux::__NR_pread64 => io::pread(fd, a[1], a[2], a[3]),
        linux::__NR_pwrite64 => io::pwrite(fd, a[1], a[2], a[3]),
        linux::__NR_preadv => io::readv(fd, a[1], a[2], Some(a[3])),
        linux::__NR_pwritev => io::writev(fd, a[1], a[2], Some(a[3])),
        linux::__NR_preadv2 => rw2(fd, a[3], a[5]).and_then(|o| io::readv(fd, a[1], a[2], o)),
        linux::__NR_pwritev2 => rw2(fd, a[3], a[5]).and_then(|o| io::writev(fd, a[1], a[2], o)),
        linux::__NR_lseek => io::lseek(fd, a[1] as i64, a[2] as u32),
        linux::__NR_sendfile => io::sendfile(fd, a[1] as i32, a[2], a[3]),
        linux::__NR_close => io::close(fd),
        linux::__NR_close_range => io::close_range(a[0] as u32, a[1] as u32, a[2] as u32),
        linux::__NR_dup => io::dup(fd),
        linux::__NR_dup2 => io::dup2(fd, a[1] as i32),
        linux::__NR_dup3 => io::dup3(fd, a[1] as i32, a[2] as u32),
        linux::__NR_fcntl => io::fcntl(fd, a[1] as u32, a[2]),
        linux::__NR_ioctl => io::ioctl(fd, a[1] as u32, a[2]),
        linux::__NR_pipe => io::pipe2(a[0], 0),
        linux::__NR_pipe2 => io::pipe2(a[0], a[1] as u32),
        linux::__NR_fsync | linux::__NR_fdatasync | linux::__NR_syncfs => {
            file(fd).and_then(|f| crate::fs::disk::sync_file(f.inode().map(|i| &**i)).map(|()| 0))
        }
        linux::__NR_sync => {
            crate::fs::disk::sync_all();
            Ok(0)
        }
        // Whole-file locks: one process per file as far as locks go.
        linux::__NR_flock => file(fd).and_then(|f| crate::fs::lock::flock(&f, a[1] as u32)),
        // fadvise64: the advice is checked and taken as a hint that changes nothing here.
        linux::__NR_fadvise64 => file(fd).and_then(|f| match a[3] {
            _ if matches!(f.handle(), crate::fs::file::Handle::Pipe(_)) => Err(Errno::ESPIPE),
            0..=5 => Ok(0),
            _ => Err(Errno::EINVAL),
        }),
        linux::__NR_fallocate => io::fallocate(fd, a[1] as u32, a[2] as i64, a[3] as i64),
        linux::__NR_ftruncate => io::ftruncate(fd, a[1] as i64),

        linux::__NR_open => names::openat(AT_FDCWD, a[0], a[1] as u32, a[2] as u32),
        linux::__NR_openat => names::openat(fd, a[1], a[2] as u32, a[3] as u32),
        linux::__NR_creat => names::openat(AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1] as u32),
        linux::__NR_stat => names::fstatat(AT_FDCWD, a[0], a[1], 0),
        linux::__NR_lstat => names::fstatat(AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW),
        linux::__NR_fstat => names::fstat(fd, a[1]),
        linux::__NR_newfstatat => names::fstatat(fd, a[1], a[2], a[3] as u32),
        linux::__NR_statx => names::statx(fd, a[1], a[2] as u32, a[4]),
        linux::__NR_access => names::faccessat(AT_FDCWD, a[0], a[1] as u32, 0),
        linux::__NR_faccessat => names::faccessat(fd, a[1], a[2] as u32, 0),
        linux::__NR_faccessat2 => names::faccessat(fd, a[1], a[2] as u32, a[3] as u32),
        linux::__NR_getdents64 => names::getdents64(fd, a[1], a[2]),
        linux::__NR_getcwd => names::getcwd(a[0], a[1]),
        linux::__NR_chdir => names::chdir(a[0]),
        linux::__NR_fchdir => names::fchdir(fd),
        linux::__NR_mkdir => names::mkdirat(AT_FDCWD, a[0], a[1] as u32),
        linux::__NR_mkdirat => names::mkdirat(fd, a[1], a[2] as u32),
        linux::__NR_mknod => names::mknodat(AT_FDCWD, a[0], a[1] as u32),
        linux::__NR_mknodat => names::mknodat(fd, a[1], a[2] as u32),
        linux::__NR_rmdir => names::unlinkat(AT_FDCWD, a[0], AT_REMOVEDIR),
        linux::__NR_unlink => names::unlinkat(AT_FDCWD, a[0], 0),
        linux::__NR_unlinkat => names::unlinkat(fd, a[1], a[2] as u32),
        linux::__NR_rename => names::renameat2(AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        linux::__NR_renameat => names::renameat2(fd, a[1], a[2] as i32, a[3], 0),
        linux::__NR_renameat2 => names::renameat2(fd, a[1], a[2] as i32, a[3], a[4] as u32),
        linux::__NR_link => names::linkat(AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        linux::__NR_linkat => names::linkat(fd, a[1], a[2] as i32, a[3], a[4] as u32),
        linux::__NR_symlink => names::symlinkat(a[0], AT_FDCWD, a[1]),
        linux::__NR_symlinkat => names::symlinkat(a[0], a[1] as i32, a[2]),
        linux::__NR_readlink => names::readlinkat(AT_FDCWD, a[0], a[1], a[2]),
        linux::__NR_readlinkat => names::readlinkat(fd, a[1], a[2], a[3]),
        linux::__NR_chmod => names::fchmodat(AT_FDCWD, a[0], a[1] as u32, 0),
        linux::__NR_fchmod => names::fchmod(fd, a[1] as u32),
        linux::__NR_fchmodat => names::fchmodat(fd, a[1], a[2] as u32, 0),
        linux::__NR_fchmodat2 => names::fchmodat(fd, a[1], a[2] as u32, a[3] as u32),
        linux::__NR_chown => names::fchownat(AT_FDCWD, a[0], a[1] as u32, a[2] as u32, 0),
        linux::__NR_lchown => names::fchownat(AT_FDCWD, a[0], a[1] as u32, a[2] as u32, AT_SYMLINK_NOFOLLOW),
        linux::__NR_fchown => names::fchown(fd, a[1] as u32, a[2] as u32),
        linux::__NR_fchownat => names::fchownat(fd, a[1], a[2] as u32, a[3] as u32, a[4] as u32),
        linux::__NR_umask => Ok(current_fs().lock().set_umask(a[0] as u32) as u64),
        linux::__NR_truncate => names::truncate(a[0], a[1] as i64),
        linux::__NR_utimensat => names::utimensat(fd, a[1], a[2], a[3] as u32),
        linux::__NR_statfs => names::statfs(a[0], a[1]),
        linux::__NR_fstatfs => file(fd).and_then(|f| names::write_statfs(f.inode().map(|i| &**i), a[1])),
        linux::__NR_mount => mount::mount(a[0], a[1], a[2], a[3], a[4]),
        linux::__NR_umount2 => mount::umount2(a[0], a[1] as u32),
        linux::__NR_chroot => mount::chroot(a[0]),

        linux::__NR_setxattr => xattr::set(Path(a[0], true), a[1], a[2], a[3], a[4] as u32),
        linux::__NR_lsetxattr => xattr::set(Path(a[0], false), a[1], a[2], a[3], a[4] as u32),
        linux::__NR_fsetxattr => xattr::set(Fd(fd), a[1], a[2], a[3], a[4] as u32),
        linux::__NR_getxattr => xattr::get(Path(a[0], true), a[1], a[2], a[3]),
        linux::__NR_lgetxattr => xattr::get(Path(a[0], false), a[1], a[2], a[3]),
        linux::__NR_fgetxattr => xattr::get(Fd(fd), a[1], a[2], a[3]),
        linux::__NR_listxattr => xattr::list(Path(a[0], true), a[1], a[2]),
        linux::__NR_llistxattr => xattr::list(Path(a[0], false), a[1], a[2]),
        linux::__NR_flistxattr => xattr::list(Fd(fd), a[1], a[2]),
        linux::__NR_removexattr => xattr::remove(Path(a[0], true), a[1]),
        linux::__NR_lremovexattr => xattr::remove(Path(a[0], false), a[1]),
        linux::__NR_fremovexattr => xattr::remove(Fd(fd), a[1]),

        linux::__NR_poll => poll::poll(a[0], a[1], poll::timeout_ms(a[2] as i32)),
        linux::__NR_ppoll => poll::timeout_timespec(a[2]).and_then(|t| poll::poll(a[0], a[1], t)),
        linux::__NR_select => {
            poll::timeout_timeval(a[4]).and_then(|t| poll::select(a[0] as i32, [a[1], a[2], a[3]], t))
        }
        linux::__NR_pselect6 => {
            poll::timeout_timespec(a[4]).and_then(|t| poll::select(a[0] as i32, [a[1], a[2], a[3]], t))
        }
        _ => return None,
    })
}

/// The open file behind `fd`; `EBADF` when there is none.
fn file(fd: i32) -> Result<Arc<OpenFile>, Errno> {
    current_files().lock().get(fd).ok_or(Errno::EBADF)
}

/// `preadv2`/`pwritev2`'s offset and flags: offset -1 is the file position (as `readv`/`writev`); the flags
/// `RWF_HIPRI`, `RWF_DSYNC` and `RWF_SYNC` change nothing in memory, `RWF_NOWAIT` is taken on a regular file
/// (which never waits); any other flag (`RWF_APPEND` included, not implemented) is `EOPNOTSUPP`.
fn rw2(fd: i32, offset: u64, flags: u64) -> Result<Option<u64>, Errno> {
    const RWF_HIPRI: u64 = 1;
    const RWF_DSYNC: u64 = 2;
    const RWF_SYNC: u64 = 4;
    const RWF_NOWAIT: u64 = 8;
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & RWF_NOWAIT != 0 {
        let f = file(fd)?;
        let regular = f
            .inode()
            .is_some_and(|i| i.meta.lock().mode & linux::S_IFMT == linux::S_IFREG);
        if !regular {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    Ok((offset as i64 != -1).then_some(offset))
}

/// A path argument: `ENAMETOOLONG` past `PATH_MAX`.
fn user_path(addr: u64) -> Result<Vec<u8>, Errno> {
    let p = uaccess::read_cstring(addr, PATH_MAX - 1)?;
    if p.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(p)
}

/// A snapshot of the caller's root, working directory and umask.
fn context() -> FsContext {
    current_fs().lock().clone()
}

/// The directory a `*at` call's relative `path` starts from: the working directory for `AT_FDCWD`, else the
/// directory open as `dirfd` (`ENOTDIR` when it is not one). Absolute paths ignore it, as Linux does.
fn start_dir(ctx: &FsContext, dirfd: i32, path: &[u8]) -> Result<Arc<Inode>, Errno> {
    if path.first() == Some(&b'/') {
        return Ok(ctx.root().clone());
    }
    if dirfd == AT_FDCWD {
        return Ok(ctx.cwd().clone());
    }
    let f = file(dirfd)?;
    match f.inode() {
        Some(i) if i.is_dir() => Ok(i.clone()),
        _ => Err(Errno::ENOTDIR),
    }
}
