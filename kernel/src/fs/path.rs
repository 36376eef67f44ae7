//! Path resolution: components, `.` and `..` (never above the root), mount points (entered on the way down,
//! left at a mount's root on `..`), symbolic links (at most [`MAX_SYMLINKS`] per lookup, `ELOOP` past that),
//! trailing slashes.

use super::inode::{Inode, Kind, NAME_MAX};
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// The longest path a system call takes, with its NUL.
pub const PATH_MAX: usize = 4096;
/// Symbolic links followed in one lookup before `ELOOP` (Linux's limit).
pub const MAX_SYMLINKS: u32 = 40;

/// Where a file is: the directory holding it, its name there, and the file.
pub struct Located {
    /// The directory.
    pub dir: Arc<Inode>,
    /// The name in it.
    pub name: Vec<u8>,
    /// The file.
    pub inode: Arc<Inode>,
}

/// One lookup: the root it cannot climb above and the links followed so far.
pub struct Resolver {
    root: Arc<Inode>,
    links: u32,
    /// Whose search permission the walk needs.
    creds: ember_creds::Credentials,
}

impl Resolver {
    /// A lookup confined to `root`.
    pub fn new(root: Arc<Inode>) -> Resolver {
        Resolver {
            root,
            links: 0,
            creds: super::perm::caller(),
        }
    }

    /// Resolves `path` from directory `start`; a final symbolic link is followed when `follow` (or the path
    /// ends with `/`, which also requires a directory).
    pub fn lookup(&mut self, start: Arc<Inode>, path: &[u8], follow: bool) -> Result<Arc<Inode>, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let trailing_slash = path.ends_with(b"/");
        let mut cur = if path[0] == b'/' { self.root.clone() } else { start };
        let mut components = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).peekable();
        while let Some(name) = components.next() {
            let last = components.peek().is_none();
            cur = self.step(cur, name, !last || follow || trailing_slash)?;
        }
        if trailing_slash && !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// Resolves all but the last component of `path`: the directory and the last name (`.` for `/`).
    /// Trailing slashes are dropped; callers that create or remove check them against the kind.
    pub fn lookup_parent(&mut self, start: Arc<Inode>, path: &[u8]) -> Result<(Arc<Inode>, Vec<u8>), Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trimmed = &path[..end];
        if trimmed.is_empty() {
            return Ok((self.root.clone(), b".".to_vec()));
        }
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (self.lookup(start, &trimmed[..=i], true)?, &trimmed[i + 1..]),
            None => (start, trimmed),
        };
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok((dir, name.to_vec()))
    }

    /// Resolves `path`, following a final symbolic link to where it leads, and returns the directory holding
    /// the file, its name there and the file: a canonical location, as `/proc/self/exe` shows it.
    pub fn lookup_entry(&mut self, start: Arc<Inode>, path: &[u8]) -> Result<Located, Errno> {
        let (mut dir, mut name) = self.lookup_parent(start, path)?;
        loop {
            let inode = self.step(dir.clone(), &name, false)?;
            if !matches!(inode.kind, Kind::Symlink(_)) {
                if path.ends_with(b"/") && !inode.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                return Ok(Located { dir, name, inode });
            }
            self.count_link()?;
            let target = inode.link_target()?;
            (dir, name) = self.lookup_parent(dir, &target)?;
        }
    }

    /// The directory above `dir` (not the root): at the root of a mount, the one above its mount point.
    fn up(&self, dir: Arc<Inode>) -> Arc<Inode> {
        match super::mount::point_of(&dir).filter(|p| !Arc::ptr_eq(p, &dir)) {
            Some(point) if Arc::ptr_eq(&point, &self.root) => point,
            Some(point) => point.parent(),
            None => dir.parent(),
        }
    }

    fn count_link(&mut self) -> Result<(), Errno> {
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            Err(Errno::ELOOP)
        } else {
            Ok(())
        }
    }

    fn step(&mut self, dir: Arc<Inode>, name: &[u8], follow: bool) -> Result<Arc<Inode>, Errno> {
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        super::perm::check(&self.creds, &dir, super::perm::EXEC)?;
        match name {
            b"." => Ok(dir),
            b".." if Arc::ptr_eq(&dir, &self.root) => Ok(dir),
            b".." => Ok(self.up(dir)),
            _ if name.len() > NAME_MAX => Err(Errno::ENAMETOOLONG),
            _ => {
                super::proc::refresh(&dir);
                let child = super::mount::enter(dir.lookup(name)?);
                if follow && matches!(child.kind, Kind::Symlink(_)) {
                    self.count_link()?;
                    let target = child.link_target()?;
                    self.lookup(dir, &target, true)
                } else {
                    Ok(child)
                }
            }
        }
    }
}

/// The absolute path of directory `dir` as seen from `root`; `ENOENT` when it was removed.
pub fn path_of(root: &Arc<Inode>, dir: &Arc<Inode>) -> Result<Vec<u8>, Errno> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut cur = dir.clone();
    let mut steps = 0;
    while !Arc::ptr_eq(&cur, root) {
        steps += 1;
        if steps > PATH_MAX {
            // Longer than any path can be: a loop through bind mounts, from outside the caller's root.
            return Err(Errno::ENOENT);
        }
        if let Some(point) = super::mount::point_of(&cur).filter(|p| !Arc::ptr_eq(p, &cur)) {
            cur = point;
            continue;
        }
        let parent = cur.parent();
        if Arc::ptr_eq(&parent, &cur) {
            // A top other than our root: outside it (or detached).
            return Err(Errno::ENOENT);
        }
        let name = parent.name_of(&cur).ok_or(Errno::ENOENT)?;
        names.push(name);
        cur = parent;
    }
    let mut out = Vec::new();
    for n in names.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(n);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}
