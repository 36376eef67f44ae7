//! A process's file-system context: root, working directory, umask.

use super::inode::Inode;
use super::path::Resolver;
use alloc::sync::Arc;

/// A process's root, working directory and umask (shared by threads created with `CLONE_FS`).
#[derive(Clone)]
pub struct FsContext {
    root: Arc<Inode>,
    cwd: Arc<Inode>,
    umask: u32,
}

impl Default for FsContext {
    fn default() -> Self {
        FsContext::new()
    }
}

impl FsContext {
    /// Root and working directory at the root of the file system, umask 022.
    pub fn new() -> FsContext {
        let root = super::root();
        FsContext {
            cwd: root.clone(),
            root,
            umask: 0o022,
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Arc<Inode> {
        &self.root
    }

    /// The working directory.
    pub fn cwd(&self) -> &Arc<Inode> {
        &self.cwd
    }

    /// Changes the root directory (`chroot`; the caller checked it is a directory).
    pub fn set_root(&mut self, dir: Arc<Inode>) {
        self.root = dir;
    }

    /// Changes the working directory (the caller checked it is a directory).
    pub fn set_cwd(&mut self, dir: Arc<Inode>) {
        self.cwd = dir;
    }

    /// The file-creation mask.
    pub fn umask(&self) -> u32 {
        self.umask
    }

    /// Sets the file-creation mask; returns the old one.
    pub fn set_umask(&mut self, mask: u32) -> u32 {
        core::mem::replace(&mut self.umask, mask & 0o777)
    }

    /// A path lookup confined to this root.
    pub fn resolver(&self) -> Resolver {
        Resolver::new(self.root.clone())
    }
}
