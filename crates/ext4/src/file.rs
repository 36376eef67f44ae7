//! File data: reading, writing (allocating blocks and extents), truncating, and freeing a whole inode.

use crate::blockmap::IndirectCache;
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::extent::{Extent, ExtentList, MAX_INIT_LEN};
use crate::fs::Fs;
use crate::inode::{FileType, INLINE_DATA_FL, Ino, Inode};
use crate::superblock::ro_compat;
use alloc::vec;

/// A file's block map, loaded for one operation.
pub(crate) enum FileMap {
    /// Extent-mapped, the whole list loaded (for changes); the flag says it changed.
    Extents(ExtentList, bool),
    /// Indirect-block mapped.
    Indirect(IndirectCache),
}

/// A block map for reading: extent trees are descended per lookup (remembering the last extent found)
/// instead of loaded whole.
pub(crate) enum ReadMap {
    /// Extent-mapped.
    Lookup(Option<Extent>),
    /// Indirect-block mapped.
    Indirect(IndirectCache),
}

/// Where a logical block lives.
#[derive(Clone, Copy)]
pub(crate) enum Mapped {
    /// Not allocated; reads as zeros.
    Hole,
    /// Allocated but unwritten at `pblk`; reads as zeros.
    Unwritten { pblk: u64 },
    /// Data at `pblk`, with `run` physically contiguous blocks from here.
    Data { pblk: u64, run: u32 },
}

/// Where `lblk` lives given the extent that may hold it.
fn mapped(e: Option<Extent>, lblk: u32) -> Mapped {
    match e {
        Some(e) if e.lblk <= lblk && (lblk as u64) < e.end() => {
            let off = lblk - e.lblk;
            let (pblk, run) = (e.pblk + off as u64, e.len - off);
            if e.uninit {
                Mapped::Unwritten { pblk }
            } else {
                Mapped::Data { pblk, run }
            }
        }
        _ => Mapped::Hole,
    }
}

impl<D: BlockDevice> Fs<D> {
    /// Loads the block map of `inode`.
    pub(crate) fn load_map(&mut self, inode: &Inode) -> Result<FileMap> {
        if inode.flags() & INLINE_DATA_FL != 0 {
            return Err(Error::Unsupported("inline data"));
        }
        if inode.has_extents() {
            Ok(FileMap::Extents(self.load_extents(inode)?, false))
        } else {
            Ok(FileMap::Indirect(IndirectCache::default()))
        }
    }

    /// A block map for reading.
    pub(crate) fn read_map(&self, inode: &Inode) -> Result<ReadMap> {
        if inode.flags() & INLINE_DATA_FL != 0 {
            return Err(Error::Unsupported("inline data"));
        }
        Ok(if inode.has_extents() {
            ReadMap::Lookup(None)
        } else {
            ReadMap::Indirect(IndirectCache::default())
        })
    }

    /// Maps logical block `lblk` for reading.
    pub(crate) fn map_read(&mut self, inode: &Inode, map: &mut ReadMap, lblk: u32) -> Result<Mapped> {
        match map {
            ReadMap::Lookup(last) => {
                if !last.is_some_and(|e| e.lblk <= lblk && (lblk as u64) < e.end()) {
                    *last = self.find_extent(inode, lblk)?;
                }
                Ok(mapped(*last, lblk))
            }
            ReadMap::Indirect(cache) => Ok(self
                .ind_map(inode, lblk, cache)?
                .map_or(Mapped::Hole, |pblk| Mapped::Data { pblk, run: 1 })),
        }
    }

    /// Maps logical block `lblk`.
    pub(crate) fn map_block(&mut self, inode: &Inode, map: &mut FileMap, lblk: u32) -> Result<Mapped> {
        match map {
            FileMap::Extents(list, _) => Ok(mapped(list.find(lblk).copied(), lblk)),
            FileMap::Indirect(cache) => Ok(self
                .ind_map(inode, lblk, cache)?
                .map_or(Mapped::Hole, |pblk| Mapped::Data { pblk, run: 1 })),
        }
    }

    /// Writes a changed extent list back into the inode (the caller writes the inode). If the tree cannot
    /// be stored (no space for a new tree block), the blocks allocated since the list was loaded are freed
    /// and the caller must not write the inode: the file stays as it was on disk.
    pub(crate) fn finish_map(&mut self, inode: &mut Inode, map: &mut FileMap) -> Result<()> {
        if let FileMap::Extents(list, dirty) = map
            && *dirty
        {
            if let Err(e) = self.store_extents(inode, list) {
                for (b, n) in core::mem::take(&mut list.fresh) {
                    self.free_blocks(b, n as u64)?;
                }
                return Err(e);
            }
            list.fresh.clear();
            *dirty = false;
        }
        Ok(())
    }

    /// Largest size a file may reach.
    fn max_size(&self, inode: &Inode) -> u64 {
        let bs = self.sb.block_size as u64;
        let blocks = if inode.has_extents() {
            (1u64 << 32) - 1
        } else {
            let p = bs / 4;
            12 + p + p * p + p * p * p
        };
        let limit = blocks * bs;
        if self.sb.has_ro_compat(ro_compat::LARGE_FILE) {
            limit
        } else {
            limit.min(i32::MAX as u64)
        }
    }

    /// Reads up to `buf.len()` bytes of file `ino` from byte `off`; returns how many were read (0 at or past
    /// the end).
    pub fn read_at(&mut self, ino: Ino, off: u64, buf: &mut [u8]) -> Result<usize> {
        let inode = self.read_live_inode(ino)?;
        match inode.kind() {
            Some(FileType::Regular) => {}
            Some(FileType::Directory) => return Err(Error::IsDir),
            _ => return Err(Error::InvalidArgument),
        }
        self.read_data(&inode, off, buf)
    }

    /// Reads file data through the block map.
    pub(crate) fn read_data(&mut self, inode: &Inode, off: u64, buf: &mut [u8]) -> Result<usize> {
        let size = inode.size();
        if off >= size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - off) as usize;
        let mut map = self.read_map(inode)?;
        let bs = self.bs();
        let mut done = 0usize;
        let mut tmp = vec![0u8; bs];
        while done < n {
            let pos = off + done as u64;
            let lblk = u32::try_from(pos / bs as u64).map_err(|_| Error::Corrupt("file size"))?;
            let boff = (pos % bs as u64) as usize;
            let chunk = (bs - boff).min(n - done);
            match self.map_read(inode, &mut map, lblk)? {
                Mapped::Hole | Mapped::Unwritten { .. } => buf[done..done + chunk].fill(0),
                Mapped::Data { pblk, run } => {
                    let full = (n - done) / bs;
                    if boff == 0 && full > 0 {
                        let k = full.min(run as usize);
                        self.read_data_blocks(pblk, &mut buf[done..done + k * bs])?;
                        done += k * bs;
                        continue;
                    }
                    self.read_blocks(pblk, &mut tmp)?;
                    buf[done..done + chunk].copy_from_slice(&tmp[boff..boff + chunk]);
                }
            }
            done += chunk;
        }
        Ok(n)
    }

    /// Writes `data` to file `ino` at byte `off`, allocating blocks as needed, and returns how many bytes were
    /// written (fewer than asked only when space ran out part-way).
    pub fn write_at(&mut self, ino: Ino, off: u64, data: &[u8]) -> Result<usize> {
        self.check_writable()?;
        let mut inode = self.read_live_inode(ino)?;
        match inode.kind() {
            Some(FileType::Regular) => {}
            Some(FileType::Directory) => return Err(Error::IsDir),
            _ => return Err(Error::InvalidArgument),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let end = off.checked_add(data.len() as u64).ok_or(Error::FileTooBig)?;
        if end > self.max_size(&inode) {
            return Err(Error::FileTooBig);
        }
        let mut map = self.load_map(&inode)?;
        let old_size = inode.size();
        if off > old_size {
            self.zero_tail(&inode, &mut map, old_size)?;
        }
        let (written, res) = self.write_data(&mut inode, &mut map, off, data);
        self.finish_map(&mut inode, &mut map)?;
        if written > 0 {
            inode.set_size(old_size.max(off + written as u64));
            let now = self.now();
            inode.set_mtime(now);
            inode.set_ctime(now);
        }
        self.write_inode(&mut inode)?;
        match res {
            Err(Error::NoSpace) if written > 0 => Ok(written),
            Err(e) => Err(e),
            Ok(()) => Ok(written),
        }
    }

    /// Writes through the map; returns the bytes written and how it ended.
    pub(crate) fn write_data(
        &mut self,
        inode: &mut Inode,
        map: &mut FileMap,
        off: u64,
        data: &[u8],
    ) -> (usize, Result<()>) {
        let bs = self.bs();
        let mut done = 0usize;
        let mut last_pblk = None;
        while done < data.len() {
            let pos = off + done as u64;
            let lblk = (pos / bs as u64) as u32;
            let boff = (pos % bs as u64) as usize;
            let step = self.write_step(inode, map, lblk, boff, &data[done..], &mut last_pblk);
            match step {
                Ok(n) => done += n,
                Err(e) => return (done, Err(e)),
            }
        }
        (done, Ok(()))
    }

    /// Writes from logical block `lblk` (byte `boff` in it); returns the bytes consumed from `data`.
    fn write_step(
        &mut self,
        inode: &mut Inode,
        map: &mut FileMap,
        lblk: u32,
        boff: usize,
        data: &[u8],
        last_pblk: &mut Option<u64>,
    ) -> Result<usize> {
        let bs = self.bs();
        let chunk = (bs - boff).min(data.len());
        match self.map_block(inode, map, lblk)? {
            Mapped::Data { pblk, run } => {
                *last_pblk = Some(pblk);
                let full = data.len() / bs;
                if boff == 0 && full > 0 {
                    let k = full.min(run as usize);
                    self.write_blocks(pblk, &data[..k * bs])?;
                    *last_pblk = Some(pblk + k as u64 - 1);
                    return Ok(k * bs);
                }
                let mut tmp = vec![0u8; bs];
                self.read_blocks(pblk, &mut tmp)?;
                tmp[boff..boff + chunk].copy_from_slice(&data[..chunk]);
                self.write_blocks(pblk, &tmp)?;
                Ok(chunk)
            }
            Mapped::Unwritten { pblk, .. } => {
                let mut tmp = vec![0u8; bs];
                tmp[boff..boff + chunk].copy_from_slice(&data[..chunk]);
                self.write_blocks(pblk, &tmp)?;
                if let FileMap::Extents(list, dirty) = map {
                    list.mark_written(lblk, 1);
                    *dirty = true;
                }
                *last_pblk = Some(pblk);
                Ok(chunk)
            }
            Mapped::Hole => {
                let blocks_needed = (boff + data.len()).div_ceil(bs) as u64;
                let (want, goal) = match map {
                    FileMap::Extents(list, _) => {
                        let i = list.extents.partition_point(|e| e.lblk < lblk);
                        let next = list.extents.get(i).map_or(u64::MAX, |e| e.lblk as u64);
                        let goal = match (i.checked_sub(1).map(|k| list.extents[k]), *last_pblk) {
                            (_, Some(p)) => p + 1,
                            (Some(p), None) => p.pblk + (lblk - p.lblk) as u64,
                            (None, None) => self.inode_goal(inode.ino),
                        };
                        (
                            blocks_needed.min(next - lblk as u64).min(MAX_INIT_LEN as u64) as u32,
                            goal,
                        )
                    }
                    FileMap::Indirect(_) => (1, last_pblk.map_or_else(|| self.inode_goal(inode.ino), |p| p + 1)),
                };
                let (pblk, n) = self.alloc_blocks(goal, want)?;
                let mut buf = crate::bytes::zeroed(n as usize * bs)?;
                let take = (n as usize * bs - boff).min(data.len());
                buf[boff..boff + take].copy_from_slice(&data[..take]);
                let s = inode.sectors(self.sb.block_size) + n as u64 * (bs as u64 / 512);
                inode.set_sectors(s);
                match map {
                    FileMap::Extents(list, dirty) => {
                        list.add_allocated(Extent {
                            lblk,
                            len: n,
                            pblk,
                            uninit: false,
                        });
                        *dirty = true;
                    }
                    FileMap::Indirect(cache) => {
                        let mut c = core::mem::take(cache);
                        let r = self.ind_set(inode, lblk, pblk, &mut c);
                        *cache = c;
                        r?;
                    }
                }
                self.write_blocks(pblk, &buf)?;
                *last_pblk = Some(pblk + n as u64 - 1);
                Ok(take)
            }
        }
    }

    /// Allocates blocks for `[off, off + len)` of regular file `ino` as unwritten extents (reading as zeros),
    /// like `fallocate` mode 0, or with `keep_size` like `FALLOC_FL_KEEP_SIZE`. Extent-mapped files only
    /// (ext2's block maps cannot mark blocks unwritten; Linux's ext2 refuses too).
    pub fn allocate(&mut self, ino: Ino, off: u64, len: u64, keep_size: bool) -> Result<()> {
        self.check_writable()?;
        let mut inode = self.read_live_inode(ino)?;
        match inode.kind() {
            Some(FileType::Regular) => {}
            Some(FileType::Directory) => return Err(Error::IsDir),
            _ => return Err(Error::InvalidArgument),
        }
        if !inode.has_extents() {
            return Err(Error::Unsupported("fallocate on a block-mapped file"));
        }
        let end = off.checked_add(len).filter(|_| len > 0).ok_or(Error::InvalidArgument)?;
        if end > self.max_size(&inode) {
            return Err(Error::FileTooBig);
        }
        let bs = self.bs() as u64;
        let mut map = self.load_map(&inode)?;
        let res = self.allocate_range(&mut inode, &mut map, (off / bs) as u32, end.div_ceil(bs) as u32);
        self.finish_map(&mut inode, &mut map)?;
        let now = self.now();
        if !keep_size && end > inode.size() {
            inode.set_size(end);
            inode.set_mtime(now);
        }
        inode.set_ctime(now);
        self.write_inode(&mut inode)?;
        res
    }

    /// Fills the holes among logical blocks `[first, end)` with unwritten extents.
    fn allocate_range(&mut self, inode: &mut Inode, map: &mut FileMap, first: u32, end: u32) -> Result<()> {
        let FileMap::Extents(list, dirty) = map else {
            return Err(Error::Unsupported("fallocate on a block-mapped file"));
        };
        let bs = self.bs() as u64;
        let mut lblk = first;
        while lblk < end {
            let i = list.extents.partition_point(|e| e.end() <= lblk as u64);
            let next = match list.extents.get(i) {
                Some(e) if e.lblk <= lblk => {
                    lblk = e.end().min(end as u64) as u32;
                    continue;
                }
                Some(e) => e.lblk.min(end),
                None => end,
            };
            let goal = i.checked_sub(1).map_or(self.inode_goal(inode.ino), |k| {
                let p = list.extents[k];
                p.pblk + p.len as u64
            });
            let (pblk, n) = self.alloc_blocks(goal, (next - lblk).min(MAX_INIT_LEN - 1))?;
            list.add_allocated(Extent {
                lblk,
                len: n,
                pblk,
                uninit: true,
            });
            *dirty = true;
            let s = inode.sectors(self.sb.block_size) + n as u64 * (bs / 512);
            inode.set_sectors(s);
            lblk += n;
        }
        Ok(())
    }

    /// Zeros the bytes of the block holding byte `from` that lie at or after it (no-op at a block boundary).
    fn zero_tail(&mut self, inode: &Inode, map: &mut FileMap, from: u64) -> Result<()> {
        let bs = self.bs() as u64;
        if from.is_multiple_of(bs) {
            return Ok(());
        }
        if let Mapped::Data { pblk, .. } = self.map_block(inode, map, (from / bs) as u32)? {
            let mut tmp = vec![0u8; bs as usize];
            self.read_blocks(pblk, &mut tmp)?;
            tmp[(from % bs) as usize..].fill(0);
            self.write_blocks(pblk, &tmp)?;
        }
        Ok(())
    }

    /// Sets the size of regular file `ino`, freeing blocks past a smaller size.
    pub fn truncate(&mut self, ino: Ino, size: u64) -> Result<()> {
        self.check_writable()?;
        let mut inode = self.read_live_inode(ino)?;
        match inode.kind() {
            Some(FileType::Regular) => {}
            Some(FileType::Directory) => return Err(Error::IsDir),
            _ => return Err(Error::InvalidArgument),
        }
        if size > self.max_size(&inode) {
            return Err(Error::FileTooBig);
        }
        let old = inode.size();
        let mut map = self.load_map(&inode)?;
        self.zero_tail(&inode, &mut map, size.min(old))?;
        if size < old {
            self.free_from(&mut inode, &mut map, size)?;
        }
        inode.set_size(size);
        let now = self.now();
        inode.set_mtime(now);
        inode.set_ctime(now);
        self.write_inode(&mut inode)
    }

    /// Frees all blocks from byte `size` (rounded up to a block) on and stores the map into `inode`.
    pub(crate) fn free_from(&mut self, inode: &mut Inode, map: &mut FileMap, size: u64) -> Result<()> {
        let bs = self.bs() as u64;
        let from = u32::try_from(size.div_ceil(bs)).map_err(|_| Error::FileTooBig)?;
        match map {
            FileMap::Extents(list, dirty) => {
                let runs = list.truncate(from);
                let mut freed = 0;
                for (b, n) in runs {
                    self.free_blocks(b, n)?;
                    freed += n;
                }
                let s = inode.sectors(self.sb.block_size).saturating_sub(freed * (bs / 512));
                inode.set_sectors(s);
                *dirty = true;
                self.finish_map(inode, map)
            }
            FileMap::Indirect(_) => self.ind_truncate(inode, from),
        }
    }

    /// Whether `inode`'s `i_block` is a block map (not a fast symlink's text or a device number).
    pub(crate) fn has_block_map(&self, inode: &Inode) -> bool {
        match inode.kind() {
            Some(FileType::Regular | FileType::Directory) => true,
            Some(FileType::Symlink) => !self.is_fast_symlink(inode),
            _ => false,
        }
    }

    /// Whether a symlink keeps its target in `i_block`.
    pub(crate) fn is_fast_symlink(&self, inode: &Inode) -> bool {
        let acl = if inode.file_acl() != 0 {
            self.sb.block_size as u64 / 512
        } else {
            0
        };
        inode.sectors(self.sb.block_size) <= acl && inode.size() < 60
    }

    /// Frees an unlinked inode: its blocks, its extended-attribute block, and the inode itself.
    pub(crate) fn free_inode_and_blocks(&mut self, ino: Ino) -> Result<()> {
        let mut inode = self.read_inode(ino)?;
        let dir = inode.is_dir();
        if self.has_block_map(&inode) {
            let mut map = self.load_map(&inode)?;
            self.free_from(&mut inode, &mut map, 0)?;
        }
        self.release_xattr_block(&mut inode)?;
        inode.set_size(0);
        inode.set_links(0);
        inode.set_dtime(self.now().sec as u32);
        self.write_inode(&mut inode)?;
        self.free_inode(ino, dir)
    }
}
