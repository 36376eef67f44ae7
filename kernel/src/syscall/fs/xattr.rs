//! The extended-attribute calls: `setxattr`, `getxattr`, `listxattr`, `removexattr`, each by path (following
//! a final symbolic link), by path without following it (`l`) and by descriptor (`f`). The attributes and
//! their rules are in [`crate::fs::xattr`].

use super::{context, file, start_dir, user_path};
use crate::fs::inode::Inode;
use crate::fs::xattr;
use crate::syscall::errno::{Errno, SysResult};
use crate::syscall::uaccess;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use ember_xattr::{NAME_MAX, VALUE_MAX};
use linux_raw_sys::general::{AT_FDCWD, O_PATH};

/// Whose attributes a call is about.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A path, following a final symbolic link or not.
    Path(u64, bool),
    /// An open descriptor.
    Fd(i32),
}

impl Target {
    fn inode(self) -> Result<Arc<Inode>, Errno> {
        match self {
            Target::Path(addr, follow) => {
                let path = user_path(addr)?;
                if path.is_empty() {
                    return Err(Errno::ENOENT);
                }
                let ctx = context();
                let start = start_dir(&ctx, AT_FDCWD, &path)?;
                ctx.resolver().lookup(start, &path, follow)
            }
            Target::Fd(fd) => {
                let f = file(fd)?;
                if f.flags() & O_PATH != 0 {
                    return Err(Errno::EBADF);
                }
                // Pipes, sockets and the other files outside the tree keep no attributes.
                f.inode().cloned().ok_or(Errno::EOPNOTSUPP)
            }
        }
    }
}

/// An attribute name argument: `ERANGE` when longer than Linux's 255 bytes.
fn name(addr: u64) -> Result<Vec<u8>, Errno> {
    uaccess::read_cstring(addr, NAME_MAX).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::ERANGE } else { e })
}

/// `setxattr(target, name, value, size, flags)`.
pub fn set(target: Target, name_addr: u64, value: u64, size: u64, flags: u32) -> SysResult {
    let size = usize::try_from(size).map_err(|_| Errno::E2BIG)?;
    let inode = target.inode()?;
    inode.check_writable()?;
    ember_xattr::check_set_args(flags, size).map_err(xattr::errno)?;
    let name = name(name_addr)?;
    let mut buf = vec![0u8; size];
    uaccess::read_bytes(value, &mut buf)?;
    xattr::set(&inode, &name, &buf, flags)?;
    Ok(0)
}

/// `getxattr(target, name, value, size)`.
pub fn get(target: Target, name_addr: u64, value: u64, size: u64) -> SysResult {
    let inode = target.inode()?;
    let name = name(name_addr)?;
    let size = usize::try_from(size).unwrap_or(usize::MAX).min(VALUE_MAX);
    let (v, len) = xattr::get(&inode, &name, size)?;
    uaccess::write_bytes(value, &v)?;
    Ok(len as u64)
}

/// `listxattr(target, list, size)`.
pub fn list(target: Target, list: u64, size: u64) -> SysResult {
    let inode = target.inode()?;
    let size = usize::try_from(size).unwrap_or(usize::MAX).min(VALUE_MAX);
    let (names, len) = xattr::list(&inode, size)?;
    uaccess::write_bytes(list, &names)?;
    Ok(len as u64)
}

/// `removexattr(target, name)`.
pub fn remove(target: Target, name_addr: u64) -> SysResult {
    let inode = target.inode()?;
    inode.check_writable()?;
    let name = name(name_addr)?;
    xattr::remove(&inode, &name)?;
    Ok(0)
}
