//! The mount table: a directory of the tree can have another tree's root mounted over it (tmpfs: a fresh
//! in-memory tree; proc, devtmpfs: the kernel's `/proc` and `/dev` trees; a bind mount: any directory). Path
//! resolution enters a mount when it steps onto its mount point and leaves it at its root on `..`.
//!
//! The in-memory file systems are one tree type, so `statfs` reports tmpfs figures for all of them, and tmpfs
//! `size=` is recorded (and shown in `/proc/mounts`) but not enforced; ext2/3/4 mounts report their own.

use super::inode::Inode;
use crate::syscall::errno::Errno;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use ember_frame::sync::Mutex;

/// One mount.
struct Mount {
    /// The directory mounted over.
    point: Arc<Inode>,
    /// The root of what is mounted there.
    root: Arc<Inode>,
    /// `mount`'s source argument.
    source: Vec<u8>,
    /// The mount point's absolute path when mounted (for `/proc/mounts`).
    path: Vec<u8>,
    /// The file-system type.
    fstype: &'static str,
    /// The options shown in `/proc/mounts`.
    options: String,
}

/// Mounts in the order they were made (a later one over the same point hides the earlier).
static MOUNTS: Mutex<Vec<Mount>> = Mutex::new(Vec::new());

/// What is mounted over `dir`, if anything (the latest mount, and whatever is mounted over its root in turn).
pub fn enter(dir: Arc<Inode>) -> Arc<Inode> {
    if !dir.is_mount_point() {
        return dir;
    }
    let mounts = MOUNTS.lock();
    let mut cur = dir;
    // Each step moves to a later mount, so this ends (even for a tree mounted over its own root).
    let mut from = 0;
    while let Some(i) = mounts
        .get(from..)
        .and_then(|m| m.iter().rposition(|m| Arc::ptr_eq(&m.point, &cur)))
    {
        cur = mounts[from + i].root.clone();
        from += i + 1;
    }
    cur
}

/// The mount point `dir` is the mounted root of, if it is one.
pub fn point_of(dir: &Arc<Inode>) -> Option<Arc<Inode>> {
    MOUNTS
        .lock()
        .iter()
        .rev()
        .find(|m| Arc::ptr_eq(&m.root, dir))
        .map(|m| m.point.clone())
}

/// Mounts `root` over directory `point` (at absolute `path`).
pub fn mount(point: Arc<Inode>, root: Arc<Inode>, source: &[u8], path: Vec<u8>, fstype: &'static str, options: String) {
    let mut mounts = MOUNTS.lock();
    point.count_mount(true);
    mounts.push(Mount {
        point,
        root,
        source: source.to_vec(),
        path,
        fstype,
        options,
    });
}

/// Unmounts the latest mount whose root is `root`; `EINVAL` when `root` is not the root of a mount.
pub fn unmount(root: &Arc<Inode>) -> Result<(), Errno> {
    let mut mounts = MOUNTS.lock();
    let i = mounts
        .iter()
        .rposition(|m| Arc::ptr_eq(&m.root, root))
        .ok_or(Errno::EINVAL)?;
    // Something mounted later at or below its mount point keeps it busy.
    let base = mounts[i].path.clone();
    let below = |p: &[u8]| p.starts_with(&base) && (p.len() == base.len() || p[base.len()] == b'/' || base == b"/");
    if mounts[i + 1..].iter().any(|m| below(&m.path)) {
        return Err(Errno::EBUSY);
    }
    mounts.remove(i).point.count_mount(false);
    Ok(())
}

/// Shows the mounts of `root` as read-only or read-write in `/proc/mounts` (after a remount).
pub fn set_read_only(root: &Arc<Inode>, read_only: bool) {
    for m in MOUNTS.lock().iter_mut().filter(|m| Arc::ptr_eq(&m.root, root)) {
        let rest = m.options.split_once(',').map(|(_, r)| String::from(r));
        let mode = if read_only { "ro" } else { "rw" };
        m.options = match rest {
            Some(r) => alloc::format!("{mode},{r}"),
            None => String::from(mode),
        };
    }
}

/// Whether some mount's root satisfies `f`.
pub fn any_root(f: impl Fn(&Arc<Inode>) -> bool) -> bool {
    MOUNTS.lock().iter().any(|m| f(&m.root))
}

/// `/proc/mounts`: the root, then every mount.
pub fn table() -> String {
    let mut t = super::rootfs::root_line();
    for m in MOUNTS.lock().iter() {
        let _ = writeln!(
            t,
            "{} {} {} {} 0 0",
            String::from_utf8_lossy(&m.source),
            String::from_utf8_lossy(&m.path),
            m.fstype,
            m.options
        );
    }
    t
}
