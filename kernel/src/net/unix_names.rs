//! Where Unix sockets are found by name: paths in the file tree (a [`Kind::Socket`] inode made by `bind`,
//! matched to its socket here) and the abstract namespace.

use super::unix::UnixSocket;
use crate::fs::inode::{Inode, Kind, NewNode};
use crate::process::current_fs;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use ember_frame::sync::Mutex;
use ember_sockmsg::UnixAddr;

/// Bound abstract names.
static ABSTRACT: Mutex<BTreeMap<Vec<u8>, Weak<UnixSocket>>> = Mutex::new(BTreeMap::new());
/// Socket inodes of the tree and their sockets.
static PATHS: Mutex<Vec<(Weak<Inode>, Weak<UnixSocket>)>> = Mutex::new(Vec::new());
/// The next automatic abstract name.
static NEXT_AUTO: AtomicU32 = AtomicU32::new(0);

/// Resolves `path` from the caller's working directory (or root).
fn resolve(path: &[u8]) -> Result<(crate::fs::FsContext, Arc<Inode>), Errno> {
    let ctx = current_fs().lock().clone();
    let start = if path.first() == Some(&b'/') {
        ctx.root().clone()
    } else {
        ctx.cwd().clone()
    };
    Ok((ctx, start))
}

/// Gives `sock` the name `addr`: a new socket inode for a path (`EADDRINUSE` when the path exists), an
/// abstract name (`EADDRINUSE` when taken), or for [`UnixAddr::Unnamed`] a fresh abstract name (Linux's
/// autobind: five hex digits). Returns the name given.
pub fn bind(sock: &Arc<UnixSocket>, addr: UnixAddr) -> Result<UnixAddr, Errno> {
    match addr {
        UnixAddr::Unnamed => loop {
            let n = NEXT_AUTO.fetch_add(1, Ordering::Relaxed) & 0xfffff;
            let name = alloc::format!("{n:05x}").into_bytes();
            if bind_abstract(sock, &name).is_ok() {
                return Ok(UnixAddr::Abstract(name));
            }
        },
        UnixAddr::Abstract(name) => {
            bind_abstract(sock, &name)?;
            Ok(UnixAddr::Abstract(name))
        }
        UnixAddr::Path(path) => {
            let (ctx, start) = resolve(&path)?;
            let (dir, name) = ctx.resolver().lookup_parent(start, &path)?;
            if name.is_empty() || name == b"." || name == b".." || path.ends_with(b"/") {
                return Err(Errno::EINVAL);
            }
            if dir.lookup(&name).is_ok() {
                return Err(Errno::EADDRINUSE);
            }
            crate::fs::perm::may_create(&dir)?;
            let (uid, gid, _) = crate::fs::perm::new_owner(&dir, false);
            let inode = dir.create(&name, NewNode::Socket, 0o777 & !ctx.umask(), uid, gid)?;
            let mut paths = PATHS.lock();
            paths.retain(|(i, s)| i.strong_count() > 0 && s.strong_count() > 0);
            paths.push((Arc::downgrade(&inode), Arc::downgrade(sock)));
            Ok(UnixAddr::Path(path))
        }
    }
}

fn bind_abstract(sock: &Arc<UnixSocket>, name: &[u8]) -> Result<(), Errno> {
    let mut names = ABSTRACT.lock();
    if names.get(name).is_some_and(|w| w.strong_count() > 0) {
        return Err(Errno::EADDRINUSE);
    }
    names.insert(name.to_vec(), Arc::downgrade(sock));
    Ok(())
}

/// Forgets the abstract name of a socket going away (a path's inode stays, as on Linux, until unlinked).
pub fn unbind(addr: &UnixAddr) {
    if let UnixAddr::Abstract(name) = addr {
        let mut names = ABSTRACT.lock();
        if names.get(name).is_some_and(|w| w.strong_count() == 0) {
            names.remove(name);
        }
    }
}

/// The socket bound to `addr`: `ENOENT` for a missing path, `ECONNREFUSED` when nothing listens there.
pub fn lookup(addr: &UnixAddr) -> Result<Arc<UnixSocket>, Errno> {
    match addr {
        UnixAddr::Unnamed => Err(Errno::EINVAL),
        UnixAddr::Abstract(name) => ABSTRACT
            .lock()
            .get(name)
            .and_then(Weak::upgrade)
            .ok_or(Errno::ECONNREFUSED),
        UnixAddr::Path(path) => {
            let (ctx, start) = resolve(path)?;
            let inode = ctx.resolver().lookup(start, path, true)?;
            if !matches!(inode.kind, Kind::Socket) {
                return Err(Errno::ECONNREFUSED);
            }
            PATHS
                .lock()
                .iter()
                .find(|(i, _)| core::ptr::eq(i.as_ptr(), Arc::as_ptr(&inode)))
                .and_then(|(_, s)| s.upgrade())
                .ok_or(Errno::ECONNREFUSED)
        }
    }
}
