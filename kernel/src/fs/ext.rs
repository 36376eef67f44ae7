//! ext2/ext3/ext4 file systems on disks ([`ember_ext4`] over a [`Disk`]'s buffer cache), as a back end of the
//! tree: a node of a mounted file system is an [`Inode`] whose [`DiskNode`] names (mount, inode number).
//!
//! Each mount keeps one [`Inode`] per disk inode while anything uses it, so identity (`Arc::ptr_eq`, mount
//! points, the working directory) works as in the in-memory tree, and keeps the nodes it made alive for a
//! while after their last user (see [`ExtMount::pinned`]). Attributes are cached in the [`Inode`], and a
//! [`DiskNode`] re-reads them only after the file system changed (see [`ExtMount::changes`]). An inode whose last name went while it was open is
//! freed on disk when its [`Inode`] goes (Linux's orphan rule). The file system's lock is a [`SleepLock`]:
//! operations sleep on the disk while holding it.
//!
//! Name lookups go through a directory-entry cache ([`ember_dcache`]): a miss lists the whole directory once
//! into it, so later lookups there (hits and misses) do not read the disk. Every change to a directory
//! updates the cache under the file system's lock, right after the change (a failed change forgets the
//! directories involved). Parsed inodes are cached by [`ember_ext4`] itself.

use super::devices::Device;
use super::disk::Disk;
use super::diskpages::{self, DiskPages, FilePages};
use super::inode::{Inode, Kind, LinkTarget, Meta, NewNode, Timespec};
use super::pipe::Pipe;
use super::sleeplock::SleepLock;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use ember_dcache::{Dcache, Lookup};
use ember_ext4::{FileType, Fs, IoError, Metadata, MountOptions, SetAttr, Timestamp, XattrMode};
use ember_frame::sync::Mutex;
use hashbrown::HashMap;

/// `EXT4_SUPER_MAGIC`, what `statfs` reports.
const EXT4_MAGIC: u64 = 0xef53;
/// The major device number of virtio disks (`st_dev` of their file systems; the minor is 16 per disk).
pub const VIRTIO_BLK_MAJOR: u32 = 254;

/// The most names the directory-entry cache of one mount holds.
const DCACHE_NAMES: usize = 65536;
/// The most nodes one mount keeps alive after their last user went (see [`ExtMount::pinned`]), on a machine
/// with memory to spare: [`pinned_max`] gives fewer on a small one.
const PINNED_NODES: usize = 16384;

/// How many nodes a mount made now may keep alive: as many as fit in 1/32 of the free memory (an [`Inode`]
/// and its table entries each), between 256 and [`PINNED_NODES`]: a microVM with 128 MiB spends at most
/// 4 MiB on them. Nothing reclaims them under memory pressure, so the share is kept small.
fn pinned_max() -> usize {
    let cost = core::mem::size_of::<Inode>() + 128;
    (ember_frame::mm::free_bytes() as usize / 32 / cost).clamp(256, PINNED_NODES)
}

/// A disk as [`ember_ext4`]'s device.
struct DiskDev(Arc<Disk>);

impl ember_ext4::BlockDevice for DiskDev {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read(offset, buf).map_err(|_| IoError)
    }
    fn read_data(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read_through(offset, buf).map_err(|_| IoError)
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        self.0.write(offset, buf).map_err(|_| IoError)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.0.flush().map_err(|_| IoError)
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
}

/// One mounted file system.
pub struct ExtMount {
    /// `None` once unmounted (nodes still held then fail with `EIO`).
    fs: SleepLock<Option<Fs<DiskDev>>>,
    disk: Arc<Disk>,
    nodes: Mutex<HashMap<u32, Weak<Inode>>>,
    /// Nodes kept alive after their last user went, as Linux's inode cache keeps them, so that a path walked
    /// again finds its [`Inode`]s instead of reading and building them anew (at most `pinned_max`, the
    /// lowest inode numbers dropped first). A name's removal unpins the node it named, so an unlinked file
    /// is still freed when its last user goes; unmount unpins them all (they hold the mount).
    pinned: Mutex<BTreeMap<u32, Arc<Inode>>>,
    /// The most nodes [`ExtMount::pinned`] holds ([`pinned_max`] at mount).
    pinned_max: usize,
    /// Inodes whose last user went: freed on disk (if orphans) at the next operation.
    released: Mutex<Vec<u32>>,
    /// Directory entries: changed only while holding `fs`.
    dcache: Mutex<Dcache>,
    /// The regular files' pages in the page cache.
    pages: DiskPages,
    /// Open file descriptions writing its files: a read-only remount is refused while any is open.
    writers: AtomicUsize,
    /// Bumped after every operation that may change the file system (everything but the reads of
    /// [`ExtMount::read`]): a node's attributes read at an earlier count are stale.
    changes: AtomicU64,
}

/// Every mounted file system, for [`sync_all`].
static MOUNTED: Mutex<Vec<Arc<ExtMount>>> = Mutex::new(Vec::new());

/// A node of a mounted file system: the link from an [`Inode`] to the disk.
pub struct DiskNode {
    mount: Arc<ExtMount>,
    ino: u32,
    /// The attributes, size and sectors [`DiskNode::stat`] last read, with the mount's change count then.
    attrs: Mutex<Option<(u64, Meta, u64, u64)>>,
}

impl Drop for DiskNode {
    fn drop(&mut self) {
        self.mount.released.lock().push(self.ino);
    }
}

fn errno(e: ember_ext4::Error) -> Errno {
    if let ember_ext4::Error::Corrupt(what) = e {
        log::warn!("ext4: corrupt file system: {what}");
    }
    Errno(e.errno() as u32)
}

fn clock() -> Timestamp {
    let t = Timespec::now();
    Timestamp {
        sec: t.sec,
        nsec: t.nsec,
    }
}

fn to_timespec(t: Timestamp) -> Timespec {
    Timespec {
        sec: t.sec,
        nsec: t.nsec,
    }
}

fn to_timestamp(t: Timespec) -> Timestamp {
    Timestamp {
        sec: t.sec,
        nsec: t.nsec,
    }
}

fn meta_of(m: &Metadata) -> Meta {
    Meta {
        mode: m.kind.mode_bits() as u32 | m.perm as u32,
        uid: m.uid,
        gid: m.gid,
        nlink: m.nlink,
        atime: to_timespec(m.atime),
        mtime: to_timespec(m.mtime),
        ctime: to_timespec(m.ctime),
    }
}

/// Mounts the ext2/3/4 file system on `disk`; its root directory. A refused mount is logged with its reason;
/// a disk already mounted gives `EBUSY` (two instances would overwrite each other's metadata).
pub fn mount(disk: &Arc<Disk>, read_only: bool) -> Result<Arc<Inode>, Errno> {
    if MOUNTED.lock().iter().any(|m| Arc::ptr_eq(&m.disk, disk)) {
        return Err(Errno::EBUSY);
    }
    if let Some(crc) = ember_frame::cpu::crc32c_accelerated()
        && ember_ext4::set_crc32c(crc)
    {
        log::info!("ext4: checksums with SSE4.2 crc32");
    }
    let opts = MountOptions {
        read_only: read_only || disk.read_only(),
        clock,
    };
    let fs = Fs::mount(DiskDev(disk.clone()), opts).map_err(|e| {
        log::error!("ext4: {}: mount refused: {e}", disk.name());
        Errno(e.errno() as u32)
    })?;
    match fs.read_only_reason() {
        Some(why) => log::info!("ext4: {}: mounted read-only ({why})", disk.name()),
        None => log::info!("ext4: {}: mounted read-write", disk.name()),
    }
    let root = fs.root();
    let mount = Arc::new(ExtMount {
        fs: SleepLock::new(Some(fs)),
        disk: disk.clone(),
        nodes: Mutex::new(HashMap::new()),
        pinned: Mutex::new(BTreeMap::new()),
        pinned_max: pinned_max(),
        released: Mutex::new(Vec::new()),
        dcache: Mutex::new(Dcache::new(DCACHE_NAMES)),
        pages: DiskPages::default(),
        writers: AtomicUsize::new(0),
        changes: AtomicU64::new(0),
    });
    MOUNTED.lock().push(mount.clone());
    mount.node(root)
}

/// Every mounted file system.
pub fn mounts() -> Vec<Arc<ExtMount>> {
    MOUNTED.lock().clone()
}

/// Syncs every mounted file system, dirty file pages first (the disks' caches are flushed by the caller).
pub fn sync_all() {
    let mounts = MOUNTED.lock().clone();
    for m in mounts {
        if let Err(e) = m.sync() {
            log::error!("ext4: {}: sync failed (error {})", m.disk.name(), e.0);
        }
    }
}

/// Unmounts every mounted file system (before power-off).
pub fn unmount_all() {
    let mounts = MOUNTED.lock().clone();
    for m in mounts {
        // A failure is logged by `unmount`.
        let _ = m.unmount();
    }
}

impl ExtMount {
    /// Runs `f`, which may change the file system, on it (see [`ExtMount::run`]); then counts a change, so
    /// attributes read before are read again.
    fn with<T>(&self, f: impl FnOnce(&mut Fs<DiskDev>) -> ember_ext4::Result<T>) -> Result<T, Errno> {
        self.run(f, true)
    }

    /// Runs `f`, which only reads (no inode, name or data changes), on the file system (see
    /// [`ExtMount::run`]).
    fn read<T>(&self, f: impl FnOnce(&mut Fs<DiskDev>) -> ember_ext4::Result<T>) -> Result<T, Errno> {
        self.run(f, false)
    }

    /// Runs `f` on the file system, first freeing inodes released since the last call; with `changes`,
    /// bumps [`ExtMount::changes`] after it, still under the lock.
    fn run<T>(&self, f: impl FnOnce(&mut Fs<DiskDev>) -> ember_ext4::Result<T>, changes: bool) -> Result<T, Errno> {
        let mut guard = self.fs.lock();
        let fs = guard.as_mut().ok_or(Errno::EIO)?;
        let released = core::mem::take(&mut *self.released.lock());
        for ino in released {
            let live = {
                let mut nodes = self.nodes.lock();
                let live = nodes.get(&ino).is_some_and(|w| w.strong_count() > 0);
                if !live {
                    nodes.remove(&ino);
                }
                live
            };
            // A file nobody uses keeps its cached pages (a later open reads them; eviction bounds them),
            // unless it is freed on the disk now, where its number may be reused.
            if !live && fs.is_orphan(ino) {
                self.pages.forget(ino);
                self.changes.fetch_add(1, Ordering::SeqCst);
                fs.release(ino).map_err(errno)?;
            }
        }
        let was_writable = fs.read_only_reason().is_none();
        let result = f(fs);
        if changes {
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
        if was_writable && fs.read_only_reason() == Some(ember_ext4::IO_ERROR_READ_ONLY) {
            log::error!(
                "ext4: {}: I/O error: remounted read-only (errors=remount-ro)",
                self.disk.name()
            );
        }
        result.map_err(errno)
    }

    /// The inode `name` names in directory `dir`: from the directory-entry cache, or else the whole directory
    /// is listed into the cache.
    fn lookup_ino(&self, dir: u32, name: &[u8]) -> Result<u32, Errno> {
        match self.dcache.lock().lookup(dir, name) {
            Lookup::Found(ino) => return Ok(ino),
            Lookup::Absent => return Err(Errno::ENOENT),
            Lookup::Unknown => {}
        }
        self.read(|fs| {
            let mut all = Vec::new();
            fs.read_dir_names(dir, 0, |ino, _, name, _| {
                all.push((name.to_vec(), ino));
                true
            })?;
            let found = all.iter().find(|(n, _)| n == name).map(|(_, ino)| *ino);
            self.dcache.lock().fill(dir, all);
            found.ok_or(ember_ext4::Error::NotFound)
        })
    }

    /// The [`Inode`] of disk inode `ino` (the one in use, or a new one).
    fn node(self: &Arc<Self>, ino: u32) -> Result<Arc<Inode>, Errno> {
        if let Some(n) = self.nodes.lock().get(&ino).and_then(Weak::upgrade) {
            return Ok(n);
        }
        let (meta, target) = self.read(|fs| {
            let m = fs.stat(ino)?;
            let target = if m.kind == FileType::Symlink {
                Some(fs.readlink(ino)?)
            } else {
                None
            };
            Ok((m, target))
        })?;
        let kind = match meta.kind {
            FileType::Regular => Kind::DiskFile,
            FileType::Directory => Kind::DiskDir,
            FileType::Symlink => Kind::Symlink(LinkTarget::Path(target.unwrap_or_default())),
            FileType::CharDevice | FileType::BlockDevice => {
                Kind::Device(Device::from_rdev(meta.kind == FileType::BlockDevice, meta.rdev))
            }
            FileType::Fifo => Kind::Fifo(Arc::new(Pipe::new())),
            FileType::Socket => Kind::Socket,
        };
        let disk = DiskNode {
            mount: self.clone(),
            ino,
            attrs: Mutex::new(None),
        };
        let mut nodes = self.nodes.lock();
        // Someone else may have made it meanwhile: theirs wins.
        if let Some(n) = nodes.get(&ino).and_then(Weak::upgrade) {
            return Ok(n);
        }
        let inode = Inode::new_disk(kind, meta_of(&meta), disk);
        nodes.insert(ino, Arc::downgrade(&inode));
        drop(nodes);
        self.pin(&inode, ino);
        Ok(inode)
    }

    /// Keeps `inode` (disk inode `ino`) alive in [`ExtMount::pinned`], dropping the lowest-numbered pinned
    /// node when full.
    fn pin(&self, inode: &Arc<Inode>, ino: u32) {
        let evicted = {
            let mut pinned = self.pinned.lock();
            let evicted = if pinned.len() >= self.pinned_max {
                pinned.pop_first()
            } else {
                None
            };
            pinned.insert(ino, inode.clone());
            evicted
        };
        // Dropped without the lock: the last reference's drop queues the inode for release.
        drop(evicted);
    }

    /// Stops keeping disk inode `ino`'s node alive (a name of it went).
    fn unpin(&self, ino: u32) {
        let node = self.pinned.lock().remove(&ino);
        drop(node);
    }

    /// `st_dev` of its files.
    pub fn dev(&self) -> (u32, u32) {
        (VIRTIO_BLK_MAJOR, self.disk.minor())
    }

    /// The disk's name (`/dev/vda` is `vda`).
    pub fn disk_name(&self) -> &str {
        self.disk.name()
    }

    /// Writes the files' dirty pages, the file system's metadata and the disk's dirty blocks back
    /// (`syncfs`, `fsync`, `sync`).
    pub fn sync(self: &Arc<Self>) -> Result<(), Errno> {
        self.write_back_pages()?;
        self.with(|fs| fs.sync())
    }

    /// Writes every file's dirty pages to the disk.
    fn write_back_pages(self: &Arc<Self>) -> Result<(), Errno> {
        for (ino, _) in self.pages.all() {
            let node = DiskNode {
                mount: self.clone(),
                ino,
                attrs: Mutex::new(None),
            };
            diskpages::write_back(&node)?;
        }
        Ok(())
    }

    /// Its files' pages in the page cache.
    pub fn pages(&self) -> &DiskPages {
        &self.pages
    }

    /// `struct statfs` figures: magic, block size, blocks, free, available, inodes, free inodes, fsid.
    pub fn statfs(&self) -> Result<[u64; 8], Errno> {
        self.read(|fs| {
            let s = fs.statfs();
            Ok([
                EXT4_MAGIC,
                s.block_size as u64,
                s.blocks,
                s.free_blocks,
                s.avail_blocks,
                s.inodes,
                s.free_inodes,
                s.fsid,
            ])
        })
    }

    /// Counts an open file description writing one of its files (`opened`), or one closed.
    pub fn count_writer(&self, opened: bool) {
        if opened {
            self.writers.fetch_add(1, Ordering::SeqCst);
        } else {
            self.writers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// `MS_REMOUNT`: read-only (written back and marked clean first) or writable again. `EBUSY` for
    /// read-only while a file is open for writing (Linux).
    pub fn remount(self: &Arc<Self>, read_only: bool) -> Result<(), Errno> {
        if read_only && self.read_only_reason().is_none() && self.writers.load(Ordering::SeqCst) > 0 {
            return Err(Errno::EBUSY);
        }
        if read_only {
            self.write_back_pages()?;
        }
        self.with(|fs| fs.remount(read_only))?;
        self.disk.flush()
    }

    /// Why the file system is read-only, if it is.
    pub fn read_only_reason(&self) -> Option<&'static str> {
        self.fs.lock().as_ref().and_then(|fs| fs.read_only_reason())
    }

    /// Unmounts: frees orphans, marks the file system clean, writes everything back. Later operations on
    /// its nodes fail with `EIO`.
    pub fn unmount(self: &Arc<Self>) -> Result<(), Errno> {
        // Write the mapped files' pages, free what was released, then take the file system out.
        self.write_back_pages()?;
        self.with(|_| Ok(()))?;
        let fs = self.fs.lock().take().ok_or(Errno::EINVAL)?;
        MOUNTED.lock().retain(|m| !Arc::ptr_eq(m, self));
        let pinned = core::mem::take(&mut *self.pinned.lock());
        drop(pinned);
        let name = String::from(self.disk.name());
        fs.unmount().map_err(|e| {
            log::error!("ext4: {name}: unmount failed: {e}");
            errno(e)
        })?;
        self.disk.flush()?;
        log::info!("ext4: {name}: unmounted clean");
        Ok(())
    }
}

impl DiskNode {
    /// The file system it is on.
    pub fn mount(&self) -> &Arc<ExtMount> {
        &self.mount
    }

    /// The disk inode number.
    pub fn ino(&self) -> u32 {
        self.ino
    }

    /// Whether `other` is on the same file system.
    pub fn same_fs(&self, other: &DiskNode) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount)
    }

    /// The attributes on disk now, the size, and the space used in 512-byte sectors: as last read while
    /// nothing changed the file system since, else read again.
    pub fn stat(&self) -> Result<(Meta, u64, u64), Errno> {
        // Loaded before the read: a change that comes between makes the count stale, not the attributes.
        let count = self.mount.changes.load(Ordering::SeqCst);
        if let Some((at, meta, size, blocks)) = *self.attrs.lock()
            && at == count
        {
            return Ok((meta, size, blocks));
        }
        let m = self.mount.read(|fs| fs.stat(self.ino))?;
        let attrs = (meta_of(&m), m.size, m.blocks);
        *self.attrs.lock() = Some((count, attrs.0, attrs.1, attrs.2));
        Ok(attrs)
    }

    /// Writes mode, owner and times from `m`.
    pub fn store(&self, m: &Meta) -> Result<(), Errno> {
        let attr = SetAttr {
            perm: Some((m.mode & 0o7777) as u16),
            uid: Some(m.uid),
            gid: Some(m.gid),
            atime: Some(to_timestamp(m.atime)),
            mtime: Some(to_timestamp(m.mtime)),
            ctime: Some(to_timestamp(m.ctime)),
        };
        self.mount.with(|fs| fs.setattr(self.ino, &attr))
    }

    /// Looks `name` up in this directory.
    pub fn lookup(&self, name: &[u8]) -> Result<Arc<Inode>, Errno> {
        let ino = self.mount.lookup_ino(self.ino, name)?;
        self.mount.node(ino)
    }

    /// Lists this directory (`.` and `..` included) from position `pos` (0, or a `next` given earlier),
    /// calling `f(inode number, d_type, name, next)` for each entry until it returns `false`. Positions are
    /// byte offsets in the directory, so they stay valid while entries come and go.
    pub fn read_dir(&self, pos: u64, mut f: impl FnMut(u64, u8, &[u8], u64) -> bool) -> Result<(), Errno> {
        self.mount.read(|fs| {
            fs.read_dir_names(self.ino, pos, |ino, kind, name, next| {
                f(ino as u64, kind.map_or(0, dirent_type), name, next)
            })
        })
    }

    /// The name of disk inode `ino` in this directory.
    pub fn name_of(&self, ino: u32) -> Option<Vec<u8>> {
        let mut found = None;
        self.read_dir(0, |i, _, name, _| {
            if i == ino as u64 && name != b"." && name != b".." {
                found = Some(name.to_vec());
            }
            found.is_none()
        })
        .ok()?;
        found
    }

    /// Makes `name` here.
    pub fn create(&self, name: &[u8], what: NewNode, perm: u32, uid: u32, gid: u32) -> Result<Arc<Inode>, Errno> {
        let perm = (perm & 0o7777) as u16;
        let ino = self.mount.with(|fs| {
            let r = match &what {
                NewNode::File => fs.create(self.ino, name, perm, uid, gid),
                NewNode::Dir => fs.mkdir(self.ino, name, perm, uid, gid),
                NewNode::Fifo => fs.mknod(self.ino, name, FileType::Fifo, perm, uid, gid, (0, 0)),
                NewNode::Socket => fs.mknod(self.ino, name, FileType::Socket, perm, uid, gid, (0, 0)),
                NewNode::Symlink(target) => fs.symlink(self.ino, name, target, uid, gid),
            };
            let mut dc = self.mount.dcache.lock();
            match &r {
                Ok(ino) => dc.set(self.ino, name, Some(*ino)),
                Err(_) => dc.forget_dir(self.ino),
            }
            r
        })?;
        self.mount.node(ino)
    }

    /// Adds `name` here for `child` (on the same file system).
    pub fn link(&self, name: &[u8], child: &DiskNode) -> Result<(), Errno> {
        self.mount.with(|fs| {
            let r = fs.link(child.ino, self.ino, name);
            let mut dc = self.mount.dcache.lock();
            match &r {
                Ok(()) => dc.set(self.ino, name, Some(child.ino)),
                Err(_) => dc.forget_dir(self.ino),
            }
            r
        })
    }

    /// Removes `name` (a directory with `rmdir`).
    pub fn unlink(&self, name: &[u8], rmdir: bool) -> Result<(), Errno> {
        self.mount.with(|fs| {
            let r = if rmdir {
                fs.rmdir(self.ino, name)
            } else {
                fs.unlink(self.ino, name)
            };
            let mut dc = self.mount.dcache.lock();
            match &r {
                Ok(gone) => {
                    dc.set(self.ino, name, None);
                    if rmdir {
                        dc.forget_dir(gone.ino);
                    }
                    self.mount.unpin(gone.ino);
                }
                Err(_) => dc.forget_dir(self.ino),
            }
            r.map(|_| ())
        })
    }

    /// Renames `name` here to `new_name` in `new_dir` (or swaps the two with `exchange`).
    pub fn rename(&self, name: &[u8], new_dir: &DiskNode, new_name: &[u8], exchange: bool) -> Result<(), Errno> {
        let (dir, to) = (self.ino, new_dir.ino);
        self.mount.with(|fs| {
            let r = (|| {
                let moved = fs.lookup(dir, name)?;
                let target = match fs.lookup(to, new_name) {
                    Ok(t) => Some(t),
                    Err(ember_ext4::Error::NotFound) => None,
                    Err(e) => return Err(e),
                };
                if exchange {
                    fs.exchange(dir, name, to, new_name)?;
                } else {
                    fs.rename(dir, name, to, new_name)?;
                }
                Ok((moved, target))
            })();
            let mut dc = self.mount.dcache.lock();
            match &r {
                // Two names of one inode: rename(2) changes nothing.
                Ok((moved, target)) if !exchange && *target == Some(*moved) => {}
                Ok((moved, target)) => {
                    dc.set(dir, name, if exchange { *target } else { None });
                    dc.set(to, new_name, Some(*moved));
                    // A moved directory's `..` changed; a replaced one is gone.
                    dc.forget_dir(*moved);
                    if let Some(t) = target {
                        dc.forget_dir(*t);
                        if !exchange {
                            self.mount.unpin(*t);
                        }
                    }
                }
                Err(_) => {
                    dc.forget_dir(dir);
                    dc.forget_dir(to);
                }
            }
            r.map(|_| ())
        })
    }

    /// Its [`Inode`], while one is in use (every mapping of the file holds it).
    pub fn in_use(&self) -> Option<Arc<Inode>> {
        self.mount.nodes.lock().get(&self.ino).and_then(Weak::upgrade)
    }

    /// Reads file data at `offset` (through the page cache).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let size = self.stat()?.1;
        diskpages::read(self, size, offset, buf)
    }

    /// The page-cache pieces of a read at `offset` of up to `len` bytes.
    pub fn pieces(&self, offset: u64, len: usize) -> Result<Vec<super::pages::Piece>, Errno> {
        let size = self.stat()?.1;
        diskpages::pieces(self, size, offset, len)
    }

    /// Writes file data at `offset` (to the disk and the page cache).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        diskpages::write(self, offset, data)
    }

    /// Sets the file's length (on the disk and in the page cache).
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        diskpages::truncate(self, len)
    }

    /// The frame of file page `index` for a shared mapping (see [`diskpages::map_page`]).
    pub fn map_page(&self, index: u64, write: bool) -> Result<ember_frame::mm::Frame, Errno> {
        let size = self.stat()?.1;
        diskpages::map_page(self, size, index, write)
    }

    /// Its pages in the page cache.
    pub fn pages(&self) -> FilePages {
        self.mount.pages.of(self.ino)
    }

    /// Reads file data at `offset` from the file system (under the page cache).
    pub fn read_disk(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.mount.read(|fs| fs.read_at(self.ino, offset, buf))
    }

    /// Writes file data at `offset` to the file system (under the page cache).
    pub fn write_disk(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.mount.with(|fs| fs.write_at(self.ino, offset, data))
    }

    /// Sets the file's length in the file system (under the page cache).
    pub fn truncate_disk(&self, len: u64) -> Result<(), Errno> {
        self.mount.with(|fs| fs.truncate(self.ino, len))
    }

    /// The names of its extended attributes (every namespace the disk names).
    pub fn xattr_names(&self) -> Result<Vec<Vec<u8>>, Errno> {
        self.mount.read(|fs| fs.xattr_names(self.ino))
    }

    /// The value of extended attribute `name` (`ENODATA` if it has none).
    pub fn xattr_get(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.mount.read(|fs| fs.xattr_get(self.ino, name))
    }

    /// Sets extended attribute `name` to `value` (`EEXIST`/`ENODATA` as `mode` says, `ENOSPC` when it fits
    /// neither the inode nor its attribute block).
    pub fn xattr_set(&self, name: &[u8], value: &[u8], mode: XattrMode) -> Result<(), Errno> {
        self.mount.with(|fs| fs.xattr_set(self.ino, name, value, mode))
    }

    /// Removes extended attribute `name` (`ENODATA` if it has none).
    pub fn xattr_remove(&self, name: &[u8]) -> Result<(), Errno> {
        self.mount.with(|fs| fs.xattr_remove(self.ino, name))
    }

    /// Allocates the range (`fallocate`).
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool) -> Result<(), Errno> {
        self.mount.with(|fs| fs.allocate(self.ino, offset, len, keep_size))
    }
}

/// `d_type` of an entry type.
pub fn dirent_type(t: FileType) -> u8 {
    match t {
        FileType::Fifo => 1,
        FileType::CharDevice => 2,
        FileType::Directory => 4,
        FileType::BlockDevice => 6,
        FileType::Regular => 8,
        FileType::Symlink => 10,
        FileType::Socket => 12,
    }
}
