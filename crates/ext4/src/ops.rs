//! Namespace operations: create, mkdir, symlink, link, unlink, rmdir, rename, setattr, readlink, release.

use crate::bytes::put16;
use crate::device::BlockDevice;
use crate::dir::check_name;
use crate::error::{Error, Result};
use crate::extent::init_root;
use crate::file::FileMap;
use crate::fs::Fs;
use crate::inode::{EXTENTS_FL, FileType, Ino, Inode, ROOT_INO, Timestamp};
use crate::superblock::ro_compat;
use alloc::vec;
use alloc::vec::Vec;

/// What an unlink (or a rename over an existing name) left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unlinked {
    /// The inode that lost a link.
    pub ino: Ino,
    /// Its remaining links. At 0 the inode is an orphan: still readable and writable through its number
    /// until the caller calls [`Fs::release`] (when no open file uses it), or until unmount frees it.
    pub nlink: u32,
}

/// Attribute changes for [`Fs::setattr`]; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits (the file type is kept).
    pub perm: Option<u16>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New access time.
    pub atime: Option<Timestamp>,
    /// New modification time.
    pub mtime: Option<Timestamp>,
    /// New change time (default: now, whenever anything changes).
    pub ctime: Option<Timestamp>,
}

impl<D: BlockDevice> Fs<D> {
    fn ensure_absent(&mut self, dir: Ino, name: &[u8]) -> Result<()> {
        check_name(name)?;
        match self.lookup(dir, name) {
            Ok(_) => Err(Error::Exists),
            Err(Error::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn link_max(&self) -> u16 {
        if self.sb.has_ro_compat(ro_compat::DIR_NLINK) {
            65000
        } else {
            32000
        }
    }

    /// Adds a link to `inode` (a directory past the limit gets the "many links" count 1 with `dir_nlink`).
    fn inc_links(&self, inode: &mut Inode) -> Result<()> {
        let n = inode.links();
        if inode.is_dir() && self.sb.has_ro_compat(ro_compat::DIR_NLINK) {
            if n == 1 || n + 1 >= self.link_max() {
                inode.set_links(1);
                return Ok(());
            }
        } else if n >= self.link_max() {
            return Err(Error::TooManyLinks);
        }
        inode.set_links(n + 1);
        Ok(())
    }

    /// Drops a link that a subdirectory's `..` held.
    fn dec_dir_links(inode: &mut Inode) {
        let n = inode.links();
        if n > 2 {
            inode.set_links(n - 1);
        }
    }

    /// Allocates and initialises a new inode near directory `parent`; the caller writes it.
    fn new_inode(&mut self, parent: Ino, kind: FileType, perm: u16, uid: u32, gid: u32) -> Result<Inode> {
        let dir = kind == FileType::Directory;
        let ino = self.alloc_inode(self.inode_group(parent), dir)?;
        let mut inode = Inode {
            ino,
            raw: vec![0u8; self.sb.inode_size as usize],
        };
        inode.set_mode(kind.mode_bits() | (perm & 0o7777));
        inode.set_uid(uid);
        inode.set_gid(gid);
        inode.set_links(if dir { 2 } else { 1 });
        if inode.raw.len() > 128 {
            put16(&mut inode.raw, 0x80, self.sb.want_extra_isize());
        }
        self.next_generation = self.next_generation.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let generation = self.next_generation;
        inode.raw[0x64..0x68].copy_from_slice(&generation.to_le_bytes());
        let now = self.now();
        inode.set_atime(now);
        inode.set_ctime(now);
        inode.set_mtime(now);
        inode.set_crtime(now);
        if self.sb.extents() && matches!(kind, FileType::Regular | FileType::Directory | FileType::Symlink) {
            inode.set_flags(EXTENTS_FL);
            init_root(inode.i_block_mut());
        }
        Ok(inode)
    }

    /// Writes a new inode and links it into `dir`, undoing the allocation if that fails.
    fn commit_new(&mut self, dir: Ino, name: &[u8], inode: &mut Inode) -> Result<()> {
        let kind = inode.kind().ok_or(Error::InvalidArgument)?;
        let res = self.write_inode(inode).and_then(|_| {
            let mut d = self.read_dir_inode_for_change(dir)?;
            if kind == FileType::Directory {
                self.inc_links(&mut d)?;
            }
            self.add_entry(&mut d, name, inode.ino, kind)
        });
        if res.is_err() {
            inode.set_links(0);
            if self.write_inode(inode).is_ok() {
                let _ = self.free_inode_and_blocks(inode.ino);
            }
        }
        res
    }

    fn read_dir_inode_for_change(&mut self, dir: Ino) -> Result<Inode> {
        let d = self.read_live_inode(dir)?;
        if !d.is_dir() {
            return Err(Error::NotDir);
        }
        if d.links() == 0 {
            return Err(Error::NotFound);
        }
        Ok(d)
    }

    /// Creates an empty regular file `name` in `dir`.
    pub fn create(&mut self, dir: Ino, name: &[u8], perm: u16, uid: u32, gid: u32) -> Result<Ino> {
        self.mknod(dir, name, FileType::Regular, perm, uid, gid, (0, 0))
    }

    /// Creates a regular file, device, FIFO or socket `name` in `dir` (`rdev` for devices).
    #[allow(clippy::too_many_arguments)]
    pub fn mknod(
        &mut self,
        dir: Ino,
        name: &[u8],
        kind: FileType,
        perm: u16,
        uid: u32,
        gid: u32,
        rdev: (u32, u32),
    ) -> Result<Ino> {
        self.check_writable()?;
        if matches!(kind, FileType::Directory | FileType::Symlink) {
            return Err(Error::InvalidArgument);
        }
        self.read_dir_inode_for_change(dir)?;
        // `add_entry` refuses a name that exists (the inode allocated here is then freed again).
        check_name(name)?;
        let mut inode = self.new_inode(dir, kind, perm, uid, gid)?;
        if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
            inode.set_rdev(rdev.0, rdev.1);
        }
        self.commit_new(dir, name, &mut inode)?;
        Ok(inode.ino)
    }

    /// Creates directory `name` in `dir`.
    pub fn mkdir(&mut self, dir: Ino, name: &[u8], perm: u16, uid: u32, gid: u32) -> Result<Ino> {
        self.check_writable()?;
        self.read_dir_inode_for_change(dir)?;
        self.ensure_absent(dir, name)?;
        let mut inode = self.new_inode(dir, FileType::Directory, perm, uid, gid)?;
        let res = self.fill_new_dir(&mut inode, dir);
        if res.is_err() {
            inode.set_links(0);
            if self.write_inode(&mut inode).is_ok() {
                let _ = self.free_inode_and_blocks(inode.ino);
            }
            return res.map(|_| 0);
        }
        self.commit_new(dir, name, &mut inode)?;
        Ok(inode.ino)
    }

    fn fill_new_dir(&mut self, inode: &mut Inode, parent: Ino) -> Result<()> {
        let mut map = self.load_map(inode)?;
        let pblk = self.append_dir_block(inode, &mut map, 0)?;
        self.finish_map(inode, &mut map)?;
        let mut buf = vec![0u8; self.bs()];
        self.init_dir_block(&mut buf, inode.ino, parent);
        self.write_new_dir_block(inode, pblk, &mut buf)?;
        inode.set_size(self.bs() as u64);
        Ok(())
    }

    /// Creates symbolic link `name` in `dir` pointing at `target` (fast, in the inode, below 60 bytes).
    pub fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8], uid: u32, gid: u32) -> Result<Ino> {
        self.check_writable()?;
        if target.is_empty() {
            return Err(Error::NotFound);
        }
        if target.len() >= self.bs() {
            return Err(Error::NameTooLong);
        }
        self.read_dir_inode_for_change(dir)?;
        self.ensure_absent(dir, name)?;
        let mut inode = self.new_inode(dir, FileType::Symlink, 0o777, uid, gid)?;
        if target.len() < 60 {
            inode.set_flags(inode.flags() & !EXTENTS_FL);
            let b = inode.i_block_mut();
            b.fill(0);
            b[..target.len()].copy_from_slice(target);
        } else {
            let mut map = if inode.has_extents() {
                self.load_map(&inode)?
            } else {
                FileMap::Indirect(Default::default())
            };
            let (_, res) = self.write_data(&mut inode, &mut map, 0, target);
            let fin = self.finish_map(&mut inode, &mut map);
            if let Err(e) = res.and(fin) {
                inode.set_links(0);
                if self.write_inode(&mut inode).is_ok() {
                    let _ = self.free_inode_and_blocks(inode.ino);
                }
                return Err(e);
            }
        }
        inode.set_size(target.len() as u64);
        self.commit_new(dir, name, &mut inode)?;
        Ok(inode.ino)
    }

    /// The target of symbolic link `ino`.
    pub fn readlink(&mut self, ino: Ino) -> Result<Vec<u8>> {
        let inode = self.read_live_inode(ino)?;
        if inode.kind() != Some(FileType::Symlink) {
            return Err(Error::InvalidArgument);
        }
        let size = inode.size();
        if self.is_fast_symlink(&inode) {
            return Ok(inode.i_block()[..size as usize].to_vec());
        }
        if size > self.bs() as u64 {
            return Err(Error::Corrupt("symlink size"));
        }
        let mut buf = vec![0u8; size as usize];
        let n = self.read_data(&inode, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Adds hard link `name` in `dir` to inode `ino` (not a directory).
    pub fn link(&mut self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()> {
        self.check_writable()?;
        let mut inode = self.read_live_inode(ino)?;
        if inode.is_dir() {
            return Err(Error::NotPermitted);
        }
        if inode.links() == 0 {
            return Err(Error::NotFound);
        }
        let mut d = self.read_dir_inode_for_change(dir)?;
        self.ensure_absent(dir, name)?;
        self.inc_links(&mut inode)?;
        let kind = inode.kind().ok_or(Error::Corrupt("inode mode"))?;
        self.add_entry(&mut d, name, ino, kind)?;
        inode.set_ctime(self.now());
        self.write_inode(&mut inode)
    }

    /// Drops one link of `inode` whose entry is gone; at zero it becomes an orphan.
    fn drop_link(&mut self, inode: &mut Inode) -> Result<Unlinked> {
        if inode.is_dir() {
            inode.set_links(0);
        } else {
            inode.set_links(inode.links().saturating_sub(1));
        }
        inode.set_ctime(self.now());
        self.write_inode(inode)?;
        if inode.links() == 0 {
            self.orphans.insert(inode.ino);
        }
        Ok(Unlinked {
            ino: inode.ino,
            nlink: inode.links() as u32,
        })
    }

    /// Removes entry `name` (not a directory) from `dir`.
    pub fn unlink(&mut self, dir: Ino, name: &[u8]) -> Result<Unlinked> {
        self.check_writable()?;
        let mut d = self.read_dir_inode_for_change(dir)?;
        let ino = self.edit_entry_checked(&mut d, name, None, |fs, ino| {
            if fs.read_live_inode(ino)?.is_dir() {
                return Err(Error::IsDir);
            }
            Ok(())
        })?;
        let mut inode = self.read_live_inode(ino)?;
        self.drop_link(&mut inode)
    }

    /// Removes empty directory `name` from `dir`.
    pub fn rmdir(&mut self, dir: Ino, name: &[u8]) -> Result<Unlinked> {
        self.check_writable()?;
        if name == b"." {
            return Err(Error::InvalidArgument);
        }
        if name == b".." {
            return Err(Error::NotEmpty);
        }
        let mut d = self.read_dir_inode_for_change(dir)?;
        let ino = self.lookup(dir, name)?;
        let mut inode = self.read_live_inode(ino)?;
        if !inode.is_dir() {
            return Err(Error::NotDir);
        }
        if !self.dir_is_empty(ino)? {
            return Err(Error::NotEmpty);
        }
        self.edit_entry(&mut d, name, None)?;
        Self::dec_dir_links(&mut d);
        self.write_inode(&mut d)?;
        self.drop_link(&mut inode)
    }

    /// Whether directory `dir` is `ancestor` or lies below it (a `..` chain longer than 65536 directories
    /// is taken for a loop).
    fn is_within(&mut self, mut dir: Ino, ancestor: Ino) -> Result<bool> {
        for _ in 0..self.sb.inodes_count().min(65536) {
            if dir == ancestor {
                return Ok(true);
            }
            if dir == ROOT_INO {
                return Ok(false);
            }
            dir = self.lookup(dir, b"..")?;
        }
        Err(Error::Corrupt("directory loop"))
    }

    /// Renames `sdir/sname` to `ddir/dname`, replacing a compatible existing target like rename(2). Returns
    /// what happened to a replaced target.
    pub fn rename(&mut self, sdir: Ino, sname: &[u8], ddir: Ino, dname: &[u8]) -> Result<Option<Unlinked>> {
        self.check_writable()?;
        check_name(dname)?;
        if sname == b"." || sname == b".." {
            return Err(Error::InvalidArgument);
        }
        self.read_dir_inode_for_change(sdir)?;
        self.read_dir_inode_for_change(ddir)?;
        let ino = self.lookup(sdir, sname)?;
        let mut src = self.read_live_inode(ino)?;
        let kind = src.kind().ok_or(Error::Corrupt("inode mode"))?;
        let is_dir = src.is_dir();
        if is_dir && sdir != ddir && self.is_within(ddir, ino)? {
            return Err(Error::InvalidArgument);
        }
        let target = match self.lookup(ddir, dname) {
            Ok(t) => Some(t),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        if target == Some(ino) {
            return Ok(None);
        }
        let mut replaced = None;
        if let Some(t) = target {
            let mut old = self.read_live_inode(t)?;
            match (is_dir, old.is_dir()) {
                (true, false) => return Err(Error::NotDir),
                (false, true) => return Err(Error::IsDir),
                (true, true) if !self.dir_is_empty(t)? => return Err(Error::NotEmpty),
                _ => {}
            }
            let mut d = self.read_dir_inode_for_change(ddir)?;
            self.edit_entry(&mut d, dname, Some((ino, kind)))?;
            if old.is_dir() {
                Self::dec_dir_links(&mut d);
                self.write_inode(&mut d)?;
            }
            replaced = Some(self.drop_link(&mut old)?);
        } else {
            let mut d = self.read_dir_inode_for_change(ddir)?;
            if is_dir && sdir != ddir {
                self.inc_links(&mut d)?;
            }
            self.add_entry(&mut d, dname, ino, kind)?;
        }
        let mut s = self.read_dir_inode_for_change(sdir)?;
        self.edit_entry(&mut s, sname, None)?;
        if is_dir && sdir != ddir {
            Self::dec_dir_links(&mut s);
            self.write_inode(&mut s)?;
            if target.is_some() {
                let mut d = self.read_dir_inode_for_change(ddir)?;
                self.inc_links(&mut d)?;
                self.write_inode(&mut d)?;
            }
            src = self.read_live_inode(ino)?;
            self.edit_entry(&mut src, b"..", Some((ddir, FileType::Directory)))?;
        }
        src.set_ctime(self.now());
        self.write_inode(&mut src)?;
        Ok(replaced)
    }

    /// Swaps `dir1/name1` and `dir2/name2` atomically with respect to other calls (rename(2)'s
    /// `RENAME_EXCHANGE`); both must exist.
    pub fn exchange(&mut self, dir1: Ino, name1: &[u8], dir2: Ino, name2: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.read_dir_inode_for_change(dir1)?;
        self.read_dir_inode_for_change(dir2)?;
        let a = self.lookup(dir1, name1)?;
        let b = self.lookup(dir2, name2)?;
        if a == b {
            return Ok(());
        }
        if [name1, name2].iter().any(|n| *n == b"." || *n == b"..") {
            return Err(Error::InvalidArgument);
        }
        let (ia, ib) = (self.read_live_inode(a)?, self.read_live_inode(b)?);
        let ka = ia.kind().ok_or(Error::Corrupt("inode mode"))?;
        let kb = ib.kind().ok_or(Error::Corrupt("inode mode"))?;
        if dir1 != dir2 && (ia.is_dir() && self.is_within(dir2, a)? || ib.is_dir() && self.is_within(dir1, b)?) {
            return Err(Error::InvalidArgument);
        }
        let mut d1 = self.read_dir_inode_for_change(dir1)?;
        self.edit_entry(&mut d1, name1, Some((b, kb)))?;
        let mut d2 = self.read_dir_inode_for_change(dir2)?;
        self.edit_entry(&mut d2, name2, Some((a, ka)))?;
        if dir1 != dir2 {
            for (ino, is_dir, new_parent) in [(a, ia.is_dir(), dir2), (b, ib.is_dir(), dir1)] {
                if is_dir {
                    let mut child = self.read_live_inode(ino)?;
                    self.edit_entry(&mut child, b"..", Some((new_parent, FileType::Directory)))?;
                }
            }
            if ia.is_dir() != ib.is_dir() {
                let (gains, loses) = if ia.is_dir() { (dir2, dir1) } else { (dir1, dir2) };
                let mut g = self.read_live_inode(gains)?;
                self.inc_links(&mut g)?;
                self.write_inode(&mut g)?;
                let mut l = self.read_live_inode(loses)?;
                Self::dec_dir_links(&mut l);
                self.write_inode(&mut l)?;
            }
        }
        let now = self.now();
        for ino in [a, b] {
            let mut i = self.read_live_inode(ino)?;
            i.set_ctime(now);
            self.write_inode(&mut i)?;
        }
        Ok(())
    }

    /// Changes attributes of `ino`; the change time becomes `attr.ctime` or now.
    pub fn setattr(&mut self, ino: Ino, attr: &SetAttr) -> Result<()> {
        self.check_writable()?;
        let mut inode = self.read_live_inode(ino)?;
        if let Some(p) = attr.perm {
            inode.set_mode((inode.mode() & 0xF000) | (p & 0o7777));
        }
        if let Some(u) = attr.uid {
            inode.set_uid(u);
        }
        if let Some(g) = attr.gid {
            inode.set_gid(g);
        }
        if let Some(t) = attr.atime {
            inode.set_atime(t);
        }
        if let Some(t) = attr.mtime {
            inode.set_mtime(t);
        }
        inode.set_ctime(attr.ctime.unwrap_or_else(|| self.now()));
        self.write_inode(&mut inode)
    }

    /// Whether `ino` lost its last link while still in use: [`Fs::release`] will free it.
    pub fn is_orphan(&self, ino: Ino) -> bool {
        self.orphans.contains(&ino)
    }

    /// Frees orphan `ino` (no links left, no longer used by the caller). A no-op for inodes that are not
    /// orphans.
    pub fn release(&mut self, ino: Ino) -> Result<()> {
        if self.orphans.remove(&ino) {
            self.free_inode_and_blocks(ino)?;
        }
        Ok(())
    }
}
