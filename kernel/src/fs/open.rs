//! `open`: finding or creating the file, then making its open-file description.

use super::context::FsContext;
use super::file::{Handle, OpenFile};
use super::inode::{Inode, Kind, NewNode};
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use linux_raw_sys::general::{
    O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR,
    O_TMPFILE, O_TRUNC, O_WRONLY,
};

/// Opens `path` (relative to directory `start`) with `open(2)`'s `flags`; a created file gets `mode` less
/// the umask.
pub fn open(ctx: &FsContext, start: Arc<Inode>, path: &[u8], flags: u32, mode: u32) -> Result<Arc<OpenFile>, Errno> {
    if flags & O_TMPFILE == O_TMPFILE {
        // Unnamed temporary files are not supported; C libraries then fall back to a named one.
        return Err(Errno::EOPNOTSUPP);
    }
    let mut resolver = ctx.resolver();
    let follow = flags & O_NOFOLLOW == 0;
    let inode = if flags & O_CREAT != 0 && flags & O_PATH == 0 {
        if flags & O_DIRECTORY != 0 {
            return Err(Errno::EINVAL);
        }
        let (dir, name) = resolver.lookup_parent(start, path)?;
        match resolver.lookup(dir.clone(), &name, false) {
            Ok(_) if flags & O_EXCL != 0 => return Err(Errno::EEXIST),
            Ok(existing) if matches!(existing.kind, Kind::Symlink(_)) && follow => resolver.lookup(dir, &name, true)?,
            Ok(existing) => {
                if path.ends_with(b"/") || existing.is_dir() {
                    return Err(Errno::EISDIR);
                }
                existing
            }
            Err(Errno::ENOENT) => {
                if path.ends_with(b"/") {
                    return Err(Errno::EISDIR);
                }
                dir.check_writable()?;
                super::perm::may_create(&dir)?;
                let (uid, gid, extra) = super::perm::new_owner(&dir, false);
                let file = dir.create(&name, NewNode::File, (mode & !ctx.umask() & 0o7777) | extra, uid, gid)?;
                // A file this call made opens whatever its mode says, and is not truncated (it is empty), as
                // on Linux.
                return open_inode(file, flags & !O_TRUNC);
            }
            Err(e) => return Err(e),
        }
    } else {
        resolver.lookup(start, path, follow)?
    };
    if flags & O_PATH == 0 {
        let access = flags & O_ACCMODE;
        let read = access == O_RDONLY || access == O_RDWR;
        let write = access == O_WRONLY || access == O_RDWR || flags & O_TRUNC != 0;
        let want = ember_creds::Access {
            read,
            write,
            exec: false,
        };
        if write && (inode.is_regular() || inode.is_dir()) {
            inode.check_writable()?;
        }
        super::perm::check(&super::perm::caller(), &inode, want)?;
    }
    open_inode(inode, flags)
}

/// Makes the open-file description of `inode` for `flags`.
pub fn open_inode(inode: Arc<Inode>, flags: u32) -> Result<Arc<OpenFile>, Errno> {
    super::proc::refresh(&inode);
    let access = flags & O_ACCMODE;
    if access == O_ACCMODE && flags & O_PATH == 0 {
        return Err(Errno::EINVAL);
    }
    let kept = flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if flags & O_PATH != 0 {
        return Ok(OpenFile::new(
            Some(inode),
            Handle::Inode,
            kept & (O_PATH | O_DIRECTORY | O_NOFOLLOW),
        ));
    }
    let write = access == O_WRONLY || access == O_RDWR;
    if (write || flags & O_TRUNC != 0) && (inode.is_regular() || inode.is_dir()) {
        inode.check_writable()?;
    }
    let handle = match &inode.kind {
        Kind::Symlink(_) => return Err(Errno::ELOOP),
        Kind::Dir(_) | Kind::DiskDir if write => return Err(Errno::EISDIR),
        Kind::Dir(_) | Kind::DiskDir => Handle::Inode,
        Kind::File(_) | Kind::DiskFile => {
            if flags & O_TRUNC != 0 && write {
                inode.truncate(0)?;
            }
            Handle::Inode
        }
        Kind::Device(d) => {
            d.open()?;
            if write && d.is_block() && super::disk::get_for(*d).is_some_and(|disk| disk.read_only()) {
                return Err(Errno::EROFS);
            }
            // A disk is read and written at the file offset, like a regular file.
            if d.is_block() {
                Handle::Inode
            } else {
                Handle::Device(*d)
            }
        }
        // Sockets are reached with `connect`, not `open`.
        Kind::Socket => return Err(Errno::ENXIO),
        Kind::Fifo(pipe) => {
            let read = access == O_RDONLY || access == O_RDWR;
            Handle::Pipe(pipe.open_fifo(read, write, flags & O_NONBLOCK != 0)?)
        }
    };
    Ok(OpenFile::new(Some(inode), handle, kept))
}
