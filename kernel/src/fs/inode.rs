//! The file tree: [`Inode`]s of the in-memory tree (like Linux's ramfs: every file, directory and link lives
//! in the heap) and of block file systems ([`super::ext`]: the node names a disk inode and its data stays on
//! the disk). Every operation here works on both back ends, or fails with the errno Linux gives (`EXDEV`
//! for a link or rename from one file system to another).

use super::devices::Device;
use super::ext::DiskNode;
use super::pages::MemFile;
use super::pipe::Pipe;
use crate::syscall::errno::Errno;
use crate::vm::FileMaps;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use ember_frame::mm::Frame;
use ember_frame::sync::Mutex;
use linux_raw_sys::general::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK};

/// The longest file name.
pub const NAME_MAX: usize = 255;
/// The largest regular file (keeps a hostile `ftruncate` from exhausting memory in one call).
pub const MAX_FILE_SIZE: u64 = 1 << 32;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);
/// The next in-memory file system's id (each root made by [`Inode::new_dir`] without a parent starts one).
static NEXT_FS: AtomicU64 = AtomicU64::new(1);
/// The in-memory file systems mounted or remounted read-only (`MS_RDONLY`), by id.
static READ_ONLY_TREES: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

/// Open file descriptions writing files of each in-memory file system, by id (see [`Writer`]).
static TREE_WRITERS: Mutex<BTreeMap<u64, usize>> = Mutex::new(BTreeMap::new());

/// An open file description writing a regular file, counted by the file's file system while it lives: a
/// read-only remount is refused (`EBUSY`) while any is open, as Linux's.
pub enum Writer {
    /// A file of a disk's file system.
    Disk(Arc<super::ext::ExtMount>),
    /// A file of the in-memory file system with this id.
    Tree(u64),
}

impl Drop for Writer {
    fn drop(&mut self) {
        match self {
            Writer::Disk(m) => m.count_writer(false),
            Writer::Tree(id) => {
                let mut trees = TREE_WRITERS.lock();
                if let Some(n) = trees.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        trees.remove(id);
                    }
                }
            }
        }
    }
}

/// A point in time, as `struct timespec` holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: u32,
}

impl Timespec {
    /// The wall clock now.
    pub fn now() -> Timespec {
        let ns = ember_frame::time::wall_clock_ns();
        Timespec {
            sec: (ns / 1_000_000_000) as i64,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }
}

/// An inode's attributes.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Number of names (directories: 2 + subdirectories).
    pub nlink: u32,
    /// Last access.
    pub atime: Timespec,
    /// Last modification of the contents.
    pub mtime: Timespec,
    /// Last change of the attributes.
    pub ctime: Timespec,
}

/// A directory's entries and its parent.
pub struct Dir {
    /// Entries by name (never `.` or `..`).
    pub entries: BTreeMap<Vec<u8>, Arc<Inode>>,
    /// The directory holding this one (`None` for the root: its `..` is itself).
    pub parent: Option<Weak<Inode>>,
}

/// What a symbolic link points to.
pub enum LinkTarget {
    /// A stored path.
    Path(Vec<u8>),
    /// Made when read, from two arguments (`/proc`'s links: `self`, a process's `exe` and `cwd`, its fds).
    Generated(fn(u32, u32) -> Vec<u8>, u32, u32),
}

/// What an inode is.
pub enum Kind {
    /// A regular file in memory: its pages are its contents.
    File(Mutex<MemFile>),
    /// A directory.
    Dir(Mutex<Dir>),
    /// A regular file of a block file system (its data is on the disk).
    DiskFile,
    /// A directory of a block file system (its entries are on the disk).
    DiskDir,
    /// A symbolic link.
    Symlink(LinkTarget),
    /// A character device.
    Device(Device),
    /// A named pipe.
    Fifo(Arc<Pipe>),
    /// A Unix socket's name (the socket is found through [`crate::net::unix`]'s registry).
    Socket,
}

/// A file of any kind.
pub struct Inode {
    ino: u64,
    /// Attributes.
    pub meta: Mutex<Meta>,
    /// Contents.
    pub kind: Kind,
    /// The disk inode, for nodes of a block file system.
    disk: Option<DiskNode>,
    /// The in-memory file system (tree) it belongs to: set by its first directory, 0 until then.
    fs: AtomicU64,
    /// The address spaces that map it (a regular file's reverse mappings, for truncation).
    maps: FileMaps,
    /// Mounts whose mount point it is (see [`super::mount`]): a path walk looks in the mount table only when
    /// this is not 0.
    mounts: AtomicU32,
}

/// What [`Inode::create`] makes.
pub enum NewNode {
    /// An empty regular file.
    File,
    /// An empty directory.
    Dir,
    /// A named pipe.
    Fifo,
    /// A Unix socket's name.
    Socket,
    /// A symbolic link to the path.
    Symlink(Vec<u8>),
}

impl Inode {
    fn new(kind: Kind, mode: u32) -> Arc<Inode> {
        let t = match &kind {
            Kind::File(_) | Kind::DiskFile => S_IFREG,
            Kind::Dir(_) | Kind::DiskDir => S_IFDIR,
            Kind::Symlink(_) => S_IFLNK,
            Kind::Device(d) if d.is_block() => S_IFBLK,
            Kind::Device(_) => S_IFCHR,
            Kind::Fifo(_) => S_IFIFO,
            Kind::Socket => S_IFSOCK,
        };
        let now = Timespec::now();
        Arc::new(Inode {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(Meta {
                mode: t | (mode & 0o7777),
                uid: 0,
                gid: 0,
                // Directories count their `.` and their name; other files count names as they get them.
                nlink: if matches!(kind, Kind::Dir(_)) { 2 } else { 0 },
                atime: now,
                mtime: now,
                ctime: now,
            }),
            kind,
            disk: None,
            fs: AtomicU64::new(0),
            maps: FileMaps::new(),
            mounts: AtomicU32::new(0),
        })
    }

    /// The node of disk inode `disk` with attributes `meta` (made by [`super::ext`]).
    pub fn new_disk(kind: Kind, meta: Meta, disk: DiskNode) -> Arc<Inode> {
        Arc::new(Inode {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(meta),
            kind,
            disk: Some(disk),
            fs: AtomicU64::new(0),
            maps: FileMaps::new(),
            mounts: AtomicU32::new(0),
        })
    }

    /// Counts a mount over it (`true`) or one taken away (`false`).
    pub fn count_mount(&self, mounted: bool) {
        if mounted {
            self.mounts.fetch_add(1, Ordering::SeqCst);
        } else {
            self.mounts.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether something is mounted over it.
    pub fn is_mount_point(&self) -> bool {
        self.mounts.load(Ordering::SeqCst) != 0
    }

    /// The address spaces that map it (see [`FileMaps`]).
    pub fn maps(&self) -> &FileMaps {
        &self.maps
    }

    /// The disk inode, for a node of a block file system.
    pub fn disk(&self) -> Option<&DiskNode> {
        self.disk.as_ref()
    }

    /// `st_ino`: the disk inode number on a block file system, else [`Inode::ino`].
    pub fn st_ino(&self) -> u64 {
        self.disk.as_ref().map_or(self.ino, |d| d.ino() as u64)
    }

    /// Whether it is a regular file.
    pub fn is_regular(&self) -> bool {
        matches!(self.kind, Kind::File(_) | Kind::DiskFile)
    }

    /// Whether its file system is read-only (an ext4 mounted or remounted so, or refused writing; an
    /// in-memory tree remounted with `MS_RDONLY`).
    pub fn read_only_fs(&self) -> bool {
        match &self.disk {
            Some(d) => d.mount().read_only_reason().is_some(),
            None => READ_ONLY_TREES.lock().contains(&self.fs.load(Ordering::Relaxed)),
        }
    }

    /// `EROFS` when its file system is read-only: every call that changes a name, the contents or the
    /// attributes of a node checks this first, as Linux's `mnt_want_write`.
    pub fn check_writable(&self) -> Result<(), Errno> {
        if self.read_only_fs() { Err(Errno::EROFS) } else { Ok(()) }
    }

    /// Counts an open file description writing this regular file until the [`Writer`] is dropped.
    pub fn writer(&self) -> Writer {
        match &self.disk {
            Some(d) => {
                d.mount().count_writer(true);
                Writer::Disk(d.mount().clone())
            }
            None => {
                let id = self.fs.load(Ordering::Relaxed);
                *TREE_WRITERS.lock().entry(id).or_insert(0) += 1;
                Writer::Tree(id)
            }
        }
    }

    /// Makes the in-memory file system whose root this is read-only or writable again (`mount` with
    /// `MS_RDONLY`, `MS_REMOUNT`); `EBUSY` for read-only while one of its files is open for writing. A disk
    /// node's file system is changed through [`super::ext`] instead.
    pub fn set_tree_read_only(&self, read_only: bool) -> Result<(), Errno> {
        let id = self.fs.load(Ordering::Relaxed);
        // Held until the tree is marked, so that no writer comes between.
        let writers = TREE_WRITERS.lock();
        if read_only && writers.contains_key(&id) {
            return Err(Errno::EBUSY);
        }
        let mut trees = READ_ONLY_TREES.lock();
        if read_only {
            trees.insert(id);
        } else {
            trees.remove(&id);
        }
        Ok(())
    }

    /// Re-reads a disk node's attributes after the file system changed them.
    pub fn refresh(&self) {
        if let Some(d) = &self.disk
            && let Ok((m, _, _)) = d.stat()
        {
            *self.meta.lock() = m;
        }
    }

    /// Writes changed attributes (mode, owner, times) to the disk; nothing to do in memory.
    pub fn store_meta(&self) -> Result<(), Errno> {
        match &self.disk {
            Some(d) => {
                let m = *self.meta.lock();
                d.store(&m)
            }
            None => Ok(()),
        }
    }

    /// Makes `name` in this directory, owned by `uid`/`gid`; `EEXIST` when the name is taken.
    pub fn create(
        self: &Arc<Self>,
        name: &[u8],
        what: NewNode,
        perm: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Arc<Inode>, Errno> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        self.check_writable()?;
        if let Some(d) = &self.disk {
            if !self.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            let new = d.create(name, what, perm, uid, gid)?;
            self.refresh();
            return Ok(new);
        }
        let new = match what {
            NewNode::File => Inode::new_file(perm, &[])?,
            NewNode::Dir => Inode::new_dir(perm, Some(self)),
            NewNode::Fifo => Inode::new_fifo(perm),
            NewNode::Socket => Inode::new_socket(perm),
            NewNode::Symlink(target) => Inode::new_symlink(LinkTarget::Path(target)),
        };
        {
            let mut m = new.meta.lock();
            m.uid = uid;
            m.gid = gid;
        }
        self.insert(name, new.clone())?;
        Ok(new)
    }

    /// Adds `name` in this directory for the existing `child` (a hard link or a moved entry); `EXDEV` when
    /// they are on different file systems.
    pub fn link(self: &Arc<Self>, name: &[u8], child: &Arc<Inode>) -> Result<(), Errno> {
        self.check_writable()?;
        match (&self.disk, &child.disk) {
            (None, None) if self.same_tree(child) => self.insert(name, child.clone()),
            (Some(d), Some(c)) if d.same_fs(c) => {
                if name.len() > NAME_MAX {
                    return Err(Errno::ENAMETOOLONG);
                }
                d.link(name, c)?;
                child.refresh();
                self.refresh();
                Ok(())
            }
            _ => Err(Errno::EXDEV),
        }
    }

    /// Removes `name` (a directory only with `rmdir`, which the caller checked) and returns what it named.
    pub fn unlink(&self, name: &[u8], rmdir: bool) -> Result<Arc<Inode>, Errno> {
        self.check_writable()?;
        match &self.disk {
            None => self.remove(name),
            Some(d) => {
                let child = d.lookup(name)?;
                d.unlink(name, rmdir)?;
                child.refresh();
                self.refresh();
                Ok(child)
            }
        }
    }

    /// Moves `old_dir`'s `old_name` to `new_dir`'s `new_name` (or swaps them with `exchange`), replacing a
    /// `dst` the caller found there and checked. `EXDEV` across file systems.
    pub fn rename(
        old_dir: &Arc<Inode>,
        old_name: &[u8],
        new_dir: &Arc<Inode>,
        new_name: &[u8],
        src: Arc<Inode>,
        dst: Option<Arc<Inode>>,
        exchange: bool,
    ) -> Result<(), Errno> {
        old_dir.check_writable()?;
        new_dir.check_writable()?;
        match (&old_dir.disk, &new_dir.disk) {
            (None, None) if old_dir.same_tree(new_dir) => {
                if exchange {
                    let dst = dst.ok_or(Errno::ENOENT)?;
                    old_dir.remove(old_name)?;
                    new_dir.remove(new_name)?;
                    old_dir.insert(old_name, dst)?;
                    new_dir.insert(new_name, src)
                } else {
                    if dst.is_some() {
                        new_dir.remove(new_name)?;
                    }
                    old_dir.remove(old_name)?;
                    new_dir.insert(new_name, src)
                }
            }
            (Some(a), Some(b)) if a.same_fs(b) => {
                if new_name.len() > NAME_MAX {
                    return Err(Errno::ENAMETOOLONG);
                }
                a.rename(old_name, b, new_name, exchange)?;
                for i in [Some(old_dir), Some(new_dir), Some(&src), dst.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    i.refresh();
                }
                Ok(())
            }
            _ => Err(Errno::EXDEV),
        }
    }

    /// Lists a directory (`.` and `..` first) from position `pos` (0, or a `next` given earlier), calling
    /// `f(st_ino, d_type, name, next)` for each entry until it returns `false`; nothing is copied ahead.
    /// Positions are byte offsets on a disk (stable while entries come and go, as on Linux's ext4) and
    /// entry numbers in memory (in name order).
    pub fn read_dir(self: &Arc<Self>, pos: u64, mut f: impl FnMut(u64, u8, &[u8], u64) -> bool) -> Result<(), Errno> {
        if let (Kind::DiskDir, Some(d)) = (&self.kind, &self.disk) {
            return d.read_dir(pos, f);
        }
        let dir = self.dir()?;
        let parent = self.parent();
        for (at, ino, name) in [(0, self.st_ino(), &b"."[..]), (1, parent.st_ino(), &b".."[..])] {
            if pos <= at && !f(ino, 4, name, at + 1) {
                return Ok(());
            }
        }
        let d = dir.lock();
        for (i, (name, child)) in d.entries.iter().enumerate().skip(pos.saturating_sub(2) as usize) {
            let at = i as u64 + 2;
            if !f(child.st_ino(), child.dirent_type(), name, at + 1) {
                break;
            }
        }
        Ok(())
    }

    /// `d_type` of this inode.
    pub fn dirent_type(&self) -> u8 {
        match &self.kind {
            Kind::File(_) | Kind::DiskFile => 8,
            Kind::Dir(_) | Kind::DiskDir => 4,
            Kind::Symlink(_) => 10,
            Kind::Device(d) if d.is_block() => 6,
            Kind::Device(_) => 2,
            Kind::Fifo(_) => 1,
            Kind::Socket => 12,
        }
    }

    /// The name `child` has in this directory.
    pub fn name_of(&self, child: &Arc<Inode>) -> Option<Vec<u8>> {
        match (&self.disk, &child.disk) {
            (Some(d), Some(c)) => d.name_of(c.ino()),
            (Some(_), None) => None,
            _ => self
                .dir()
                .ok()?
                .lock()
                .entries
                .iter()
                .find(|(_, c)| Arc::ptr_eq(c, child))
                .map(|(n, _)| n.clone()),
        }
    }

    /// A Unix socket's name in the tree, made by `bind`.
    pub fn new_socket(mode: u32) -> Arc<Inode> {
        Inode::new(Kind::Socket, mode)
    }

    /// An in-memory file of `len` bytes of zeros, whose pages are made when first touched (a System V shared
    /// memory segment).
    pub fn new_zeroed_file(mode: u32, len: u64) -> Arc<Inode> {
        let mut data = MemFile::default();
        data.set_len(len);
        Inode::new(Kind::File(Mutex::new(data)), mode)
    }

    /// How many of an in-memory file's pages exist (0 for other kinds).
    pub fn resident_pages(&self) -> usize {
        match &self.kind {
            Kind::File(data) => data.lock().resident_pages(),
            _ => 0,
        }
    }

    /// A new regular file holding `data` (`ENOMEM` when frames run out).
    pub fn new_file(mode: u32, data: &[u8]) -> Result<Arc<Inode>, Errno> {
        Ok(Inode::new(Kind::File(Mutex::new(MemFile::with(data)?)), mode))
    }

    /// A new empty directory under `parent` (`None`: the root of a new in-memory file system).
    pub fn new_dir(mode: u32, parent: Option<&Arc<Inode>>) -> Arc<Inode> {
        let dir = Inode::new(
            Kind::Dir(Mutex::new(Dir {
                entries: BTreeMap::new(),
                parent: parent.map(Arc::downgrade),
            })),
            mode,
        );
        let fs = match parent {
            Some(p) => p.fs.load(Ordering::Relaxed),
            None => NEXT_FS.fetch_add(1, Ordering::Relaxed),
        };
        dir.fs.store(fs, Ordering::Relaxed);
        dir
    }

    /// Whether `other` is on the same in-memory file system (a node not yet in any directory is on none).
    pub fn same_tree(&self, other: &Inode) -> bool {
        self.fs.load(Ordering::Relaxed) == other.fs.load(Ordering::Relaxed)
    }

    /// A new symbolic link.
    pub fn new_symlink(target: LinkTarget) -> Arc<Inode> {
        Inode::new(Kind::Symlink(target), 0o777)
    }

    /// A new character device node.
    pub fn new_device(device: Device, mode: u32) -> Arc<Inode> {
        Inode::new(Kind::Device(device), mode)
    }

    /// A new named pipe.
    pub fn new_fifo(mode: u32) -> Arc<Inode> {
        Inode::new(Kind::Fifo(Arc::new(Pipe::new())), mode)
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_) | Kind::DiskDir)
    }

    /// The in-memory directory's state; `ENOTDIR` for anything else (a disk directory too).
    pub fn dir(&self) -> Result<&Mutex<Dir>, Errno> {
        match &self.kind {
            Kind::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The parent directory (the root's is itself).
    pub fn parent(self: &Arc<Self>) -> Arc<Inode> {
        match &self.kind {
            Kind::DiskDir => self.lookup(b"..").unwrap_or_else(|_| self.clone()),
            Kind::Dir(d) => d
                .lock()
                .parent
                .as_ref()
                .and_then(Weak::upgrade)
                .unwrap_or_else(|| self.clone()),
            _ => self.clone(),
        }
    }

    /// Looks `name` up in this directory.
    pub fn lookup(&self, name: &[u8]) -> Result<Arc<Inode>, Errno> {
        if let (Kind::DiskDir, Some(d)) = (&self.kind, &self.disk) {
            return d.lookup(name);
        }
        self.dir()?.lock().entries.get(name).cloned().ok_or(Errno::ENOENT)
    }

    /// The link's target (`EINVAL` for anything else).
    pub fn link_target(&self) -> Result<Vec<u8>, Errno> {
        match &self.kind {
            Kind::Symlink(LinkTarget::Path(p)) => Ok(p.clone()),
            Kind::Symlink(LinkTarget::Generated(f, a, b)) => Ok(f(*a, *b)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The size `stat` reports.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(data) => data.lock().len(),
            Kind::DiskFile | Kind::DiskDir => self.disk.as_ref().and_then(|d| d.stat().ok()).map_or(0, |s| s.1),
            Kind::Device(d) => d.size(),
            Kind::Symlink(_) => self.link_target().map_or(0, |t| t.len() as u64),
            _ => 0,
        }
    }

    /// Adds `child` as `name` to an in-memory directory; `EEXIST` when the name is taken. Counts links and
    /// records the parent of a directory.
    pub fn insert(self: &Arc<Self>, name: &[u8], child: Arc<Inode>) -> Result<(), Errno> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut dir = self.dir()?.lock();
        if dir.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        // A new node joins this directory's file system.
        let _ = child
            .fs
            .compare_exchange(0, self.fs.load(Ordering::Relaxed), Ordering::Relaxed, Ordering::Relaxed);
        if let Kind::Dir(d) = &child.kind {
            d.lock().parent = Some(Arc::downgrade(self));
            self.meta.lock().nlink += 1;
        } else {
            child.meta.lock().nlink += 1;
        }
        dir.entries.insert(name.to_vec(), child);
        drop(dir);
        self.touch_mtime();
        Ok(())
    }

    /// Removes the entry `name` of an in-memory directory and returns it, undoing what [`Inode::insert`] counted.
    pub fn remove(&self, name: &[u8]) -> Result<Arc<Inode>, Errno> {
        let child = self.dir()?.lock().entries.remove(name).ok_or(Errno::ENOENT)?;
        if child.is_dir() {
            let mut m = self.meta.lock();
            m.nlink = m.nlink.saturating_sub(1);
        } else {
            let mut m = child.meta.lock();
            m.nlink = m.nlink.saturating_sub(1);
            m.ctime = Timespec::now();
        }
        self.touch_mtime();
        Ok(child)
    }

    /// Whether the directory has no entries.
    pub fn is_empty_dir(self: &Arc<Self>) -> bool {
        let mut empty = true;
        let listed = self.read_dir(0, |_, _, name, _| {
            empty = name == b"." || name == b"..";
            empty
        });
        listed.is_ok() && empty
    }

    /// Marks the contents changed.
    pub fn touch_mtime(&self) {
        let now = Timespec::now();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    /// Sets a regular file's length (zero-filled when it grows). The pages past a new end leave the page
    /// cache and every mapping (a later access there gets `SIGBUS`, or zeros once the file grew again).
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        if self.is_regular() {
            self.check_writable()?;
        }
        match &self.kind {
            Kind::File(data) => {
                if len > MAX_FILE_SIZE {
                    return Err(Errno::EFBIG);
                }
                data.lock().set_len(len);
                self.touch_mtime();
            }
            Kind::DiskFile => {
                let d = self.disk.as_ref().ok_or(Errno::EIO)?;
                d.truncate(len)?;
                self.refresh();
            }
            Kind::Dir(_) | Kind::DiskDir => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
        self.maps.unmap_from(self, len.div_ceil(super::pages::PAGE));
        Ok(())
    }

    /// The frame of page `index` of a regular file, for a shared mapping: the page cache's own, so the
    /// mapping, `read` and `write` see the same bytes. [`super::pages::PAST_EOF`] past the end of the file;
    /// `write` (a write fault) marks a disk file's page dirty.
    pub fn map_page(&self, index: u64, write: bool) -> Result<Frame, Errno> {
        match (&self.kind, &self.disk) {
            (Kind::File(data), _) => data.lock().map_page(index),
            (Kind::DiskFile, Some(d)) => d.map_page(index, write),
            _ => Err(Errno::ENODEV),
        }
    }

    /// Whether writes through its shared mappings must be tracked (a disk file: they are written back).
    pub fn tracks_dirty(&self) -> bool {
        matches!(self.kind, Kind::DiskFile)
    }

    /// Writes a disk file's pages dirtied through mappings back to the disk; nothing to do in memory.
    pub fn write_back(&self) -> Result<(), Errno> {
        match &self.disk {
            Some(d) if self.tracks_dirty() => super::diskpages::write_back(d),
            _ => Ok(()),
        }
    }

    /// The page-cache pieces a read of a regular file at `offset` of up to `len` bytes returns (for a copy
    /// straight to user memory); `EINVAL` for anything else.
    pub fn pieces(&self, offset: u64, len: usize) -> Result<Vec<super::pages::Piece>, Errno> {
        match (&self.kind, &self.disk) {
            (Kind::File(data), _) => Ok(data.lock().pieces(offset, len)),
            (Kind::DiskFile, Some(d)) => d.pieces(offset, len),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Reads a regular file at `offset`; the number of bytes copied.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.kind {
            Kind::File(data) => Ok(data.lock().read_at(offset, buf)),
            Kind::DiskFile => self.disk.as_ref().ok_or(Errno::EIO)?.read_at(offset, buf),
            Kind::Device(d) => d.read_at(offset, buf),
            Kind::Dir(_) | Kind::DiskDir => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Writes a regular file at `offset` (zero-filling any gap); the number of bytes written.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let data = match &self.kind {
            Kind::File(data) => data,
            // The cached attributes are re-read when someone looks (`stat`).
            Kind::DiskFile => return self.disk.as_ref().ok_or(Errno::EIO)?.write_at(offset, buf),
            Kind::Device(d) => return d.write_at(offset, buf),
            _ => return Err(Errno::EINVAL),
        };
        let end = offset.checked_add(buf.len() as u64).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        data.lock().write_at(offset, buf).map_err(|_| Errno::ENOSPC)?;
        self.touch_mtime();
        Ok(buf.len())
    }

    /// A copy of a regular file's contents.
    pub fn contents(&self) -> Result<Vec<u8>, Errno> {
        match &self.kind {
            Kind::DiskFile | Kind::File(_) => {
                let size = usize::try_from(self.size()).map_err(|_| Errno::EFBIG)?;
                let mut copy = Vec::new();
                copy.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
                copy.resize(size, 0);
                let n = self.read_at(0, &mut copy)?;
                copy.truncate(n);
                Ok(copy)
            }
            Kind::Dir(_) | Kind::DiskDir => Err(Errno::EISDIR),
            _ => Err(Errno::EACCES),
        }
    }
}
