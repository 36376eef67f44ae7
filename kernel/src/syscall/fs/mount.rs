//! `mount`, `umount2` and `chroot`.

use super::{context, start_dir, uaccess, user_path};
use crate::fs::inode::{Inode, Kind};
use crate::fs::{self, mount, path::path_of};
use crate::process::{current, current_fs};
use crate::syscall::errno::{Errno, SysResult};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_creds::caps::{CAP_SYS_ADMIN, CAP_SYS_CHROOT};
use linux_raw_sys::general::AT_FDCWD;

/// `MS_REMOUNT`: change the options of an existing mount.
const MS_REMOUNT: u64 = 32;
/// `MS_RDONLY`: mount read-only.
const MS_RDONLY: u64 = 1;
/// `MS_BIND`: mount a directory somewhere else too.
const MS_BIND: u64 = 4096;
/// `UMOUNT_NOFOLLOW`.
const UMOUNT_NOFOLLOW: u32 = 8;
/// `MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW`: the flags `umount2` knows.
const UMOUNT_FLAGS: u32 = 0xf;

/// Resolves `path` (from the working directory).
fn resolve(path: &[u8], follow: bool) -> Result<Arc<Inode>, Errno> {
    let ctx = context();
    let start = start_dir(&ctx, AT_FDCWD, path)?;
    ctx.resolver().lookup(start, path, follow)
}

/// A directory argument.
fn directory(addr: u64) -> Result<Arc<Inode>, Errno> {
    let dir = resolve(&user_path(addr)?, true)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(dir)
}

/// `mount(2)`: tmpfs and ramfs (a new empty tree), proc, devtmpfs and sysfs (the kernel's trees), ext2/3/4
/// from a disk's block device node, bind mounts of directories, `MS_RDONLY`, and remounts (read-only or back).
pub fn mount(source: u64, target: u64, fstype: u64, flags: u64, data: u64) -> SysResult {
    let point = directory(target)?;
    may_mount()?;
    if flags & MS_REMOUNT != 0 {
        return remount(&point, flags & MS_RDONLY != 0);
    }
    let source_name = if source == 0 {
        Vec::new()
    } else {
        uaccess::read_cstring(source, 4095)?
    };
    let options = if data == 0 {
        Vec::new()
    } else {
        uaccess::read_cstring(data, 4095)?
    };
    let options = String::from_utf8(options).map_err(|_| Errno::EINVAL)?;
    // Before anything is mounted, so that nothing is left mounted outside the table on an error.
    let path = path_of(context().root(), &point)?;
    let (root, fstype) = if flags & MS_BIND != 0 {
        (directory(source)?, "none")
    } else {
        let fstype = uaccess::read_cstring(fstype, 64)?;
        match fstype.as_slice() {
            b"tmpfs" | b"ramfs" => {
                let mode = option(&options, "mode")
                    .and_then(|m| u32::from_str_radix(m, 8).ok())
                    .unwrap_or(0o1777);
                let name = if fstype == b"tmpfs" { "tmpfs" } else { "ramfs" };
                (Inode::new_dir(mode & 0o7777, None), name)
            }
            b"proc" => (fs::proc::root().ok_or(Errno::ENODEV)?, "proc"),
            b"devtmpfs" => (fs::kernel_tree().lookup(b"dev")?, "devtmpfs"),
            b"sysfs" => (fs::kernel_tree().lookup(b"sys")?, "sysfs"),
            b"ext2" | b"ext3" | b"ext4" => (disk_root(&source_name, flags & MS_RDONLY != 0)?, "ext4"),
            _ => return Err(Errno::ENODEV),
        }
    };
    // A new tmpfs/ramfs becomes read-only; proc, devtmpfs, sysfs (parts of the kernel's tree) and bind mounts
    // (of another mount's tree) stay as they are, since read-only for one would be for all.
    if flags & MS_RDONLY != 0 && root.disk().is_none() && (fstype == "tmpfs" || fstype == "ramfs") {
        root.set_tree_read_only(true)?;
    }
    let mode = if root.read_only_fs() { "ro" } else { "rw" };
    let shown = if options.is_empty() {
        String::from(mode)
    } else {
        alloc::format!("{mode},{options}")
    };
    mount::mount(point, root, &source_name, path, fstype, shown);
    Ok(0)
}

/// `MS_REMOUNT`: makes the file system mounted at `root` read-only or writable again (tmpfs and ext2/3/4;
/// the kernel's trees, `/proc` among them, only keep their state). `EINVAL` when `root` is not a mount's root.
fn remount(root: &Arc<Inode>, read_only: bool) -> SysResult {
    if mount::point_of(root).is_none() && !Arc::ptr_eq(root, &fs::root()) {
        return Err(Errno::EINVAL);
    }
    match root.disk() {
        Some(d) => d.mount().remount(read_only)?,
        // The kernel's own tree (initramfs root, `/dev`, `/proc`, `/sys`) stays writable: kernel code adds to it.
        None if root.same_tree(&fs::kernel_tree()) => {}
        None => root.set_tree_read_only(read_only)?,
    }
    mount::set_read_only(root, root.read_only_fs());
    Ok(0)
}

/// Mounts the ext2/3/4 file system on the disk whose device node is `source`; its root.
fn disk_root(source: &[u8], read_only: bool) -> Result<Arc<Inode>, Errno> {
    let node = resolve(source, true)?;
    let disk = match &node.kind {
        Kind::Device(d) if d.is_block() => fs::disk::get_for(*d).ok_or(Errno::ENXIO)?,
        _ => return Err(Errno::ENOTBLK),
    };
    fs::ext::mount(&disk, read_only)
}

/// The value of `key=value` in a comma-separated option string.
fn option<'a>(options: &'a str, key: &str) -> Option<&'a str> {
    options.split(',').find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
}

/// `umount2(2)`.
pub fn umount2(target: u64, flags: u32) -> SysResult {
    if flags & !UMOUNT_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let root = resolve(&user_path(target)?, flags & UMOUNT_NOFOLLOW == 0)?;
    may_mount()?;
    mount::unmount(&root)?;
    // A block file system is written back and marked clean when its last mount (bind mounts of its
    // directories included) goes; the root file system stays.
    if let Some(d) = root.disk() {
        let fs = d.mount();
        let on_fs = |r: &Arc<Inode>| r.disk().is_some_and(|x| Arc::ptr_eq(x.mount(), fs));
        if !mount::any_root(on_fs) && !on_fs(&fs::root()) {
            fs.unmount()?;
        }
    }
    Ok(0)
}

/// `EPERM` without `CAP_SYS_ADMIN` (Linux's `may_mount`).
fn may_mount() -> Result<(), Errno> {
    if current().creds().capable(CAP_SYS_ADMIN) {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// `chroot(2)`: the caller's root becomes the directory (search permission on it, and `CAP_SYS_CHROOT`).
pub fn chroot(path: u64) -> SysResult {
    let dir = directory(path)?;
    crate::fs::perm::check(&crate::fs::perm::caller(), &dir, crate::fs::perm::EXEC)?;
    if !current().creds().capable(CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    current_fs().lock().set_root(dir);
    Ok(0)
}
