//! Directories: entry blocks (with `metadata_csum` tails), lookup, listing, adding and removing entries.
//!
//! Lookups in htree-indexed directories go through the index ([`crate::htree`]); listings scan every block
//! (index blocks look like empty entries). Adding to an indexed directory keeps its index
//! ([`crate::htree_insert`]), as does removing (only the leaf holding the name changes); a one-block
//! directory that outgrows its block becomes indexed when the file system has `dir_index`, as Linux does.
//! A directory with the index flag on a file system without `dir_index` has its index dropped before a
//! change (index blocks become empty entry blocks, which Linux and e2fsck accept).

use crate::bytes::{le16, le32, put16, put32};
use crate::csum::crc32c;
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::extent::Extent;
use crate::file::{FileMap, Mapped};
use crate::fs::Fs;
use crate::htree::ROOT_ENTRIES;
use crate::htree_insert::NewEntry;
use crate::inode::{FileType, INDEX_FL, Ino, Inode};
use alloc::vec;
use alloc::vec::Vec;

/// One directory entry, as listed by [`Fs::read_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The inode it names.
    pub ino: Ino,
    /// The name (no NUL, no `/`).
    pub name: Vec<u8>,
    /// The type stored in the entry (`None` without the `filetype` feature: stat the inode).
    pub kind: Option<FileType>,
    /// The position to continue listing after this entry.
    pub next: u64,
}

/// Space an entry with a name of `len` bytes needs.
pub(crate) fn rec_len_for(len: usize) -> usize {
    (8 + len + 3) & !3
}

/// Validates a name for a new entry.
pub(crate) fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > 255 {
        return Err(Error::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&c| c == b'/' || c == 0) {
        return Err(Error::InvalidArgument);
    }
    Ok(())
}

/// A parsed entry inside a block.
pub(crate) struct Raw {
    /// Its offset in the block.
    pub(crate) off: usize,
    /// Its record length.
    pub(crate) rec_len: usize,
    /// The inode it names (0: unused).
    pub(crate) ino: Ino,
    /// Its name's length.
    pub(crate) name_len: usize,
    /// Its file type code.
    pub(crate) code: u8,
}

impl<D: BlockDevice> Fs<D> {
    pub(crate) fn decode_rec_len(&self, v: u16) -> usize {
        if self.bs() >= 65536 && (v == 65535 || v == 0) {
            65536
        } else {
            (v as usize & 65532) | ((v as usize & 3) << 16)
        }
    }

    pub(crate) fn encode_rec_len(&self, len: usize) -> u16 {
        if len >= 65536 {
            65535
        } else {
            (len & 65532) as u16 | ((len >> 16) & 3) as u16
        }
    }

    /// Where entries end in a block (before the checksum tail).
    pub(crate) fn entries_limit(&self) -> usize {
        if self.sb.metadata_csum() {
            self.bs() - 12
        } else {
            self.bs()
        }
    }

    /// Parses the entries of one block, validating each record.
    pub(crate) fn parse_block(&self, block: &[u8], limit: usize) -> Result<Vec<Raw>> {
        let mut out = Vec::new();
        let mut off = 0;
        while off < limit {
            if off + 8 > limit {
                return Err(Error::Corrupt("directory entry past the block"));
            }
            let rec_len = self.decode_rec_len(le16(block, off + 4));
            let name_len = block[off + 6] as usize;
            if rec_len < 12 || !rec_len.is_multiple_of(4) || off + rec_len > limit || 8 + name_len > rec_len {
                return Err(Error::Corrupt("directory entry length"));
            }
            let ino = le32(block, off);
            if ino > self.sb.inodes_count() {
                return Err(Error::Corrupt("directory entry inode out of range"));
            }
            // A used entry needs a name a path can hold (Linux's readdir refuses the others with EIO).
            let name = &block[off + 8..off + 8 + name_len];
            if ino != 0 && (name.is_empty() || name.iter().any(|&c| c == b'/' || c == 0)) {
                return Err(Error::Corrupt("directory entry name"));
            }
            let code = if self.sb.filetype() { block[off + 7] } else { 0 };
            out.push(Raw {
                off,
                rec_len,
                ino,
                name_len,
                code,
            });
            off += rec_len;
        }
        Ok(out)
    }

    fn dir_tail_csum(&self, dir: &Inode, block: &[u8]) -> u32 {
        crc32c(dir.csum_seed(self.sb.csum_seed), &block[..self.bs() - 12])
    }

    fn has_tail(&self, block: &[u8]) -> bool {
        let t = self.bs() - 12;
        le32(block, t) == 0 && le16(block, t + 4) == 12 && block[t + 6] == 0 && block[t + 7] == 0xDE
    }

    /// Whether a block of an indexed directory is an htree node (root or interior).
    fn is_dx_block(&self, dir: &Inode, lblk: u32, block: &[u8]) -> bool {
        dir.flags() & INDEX_FL != 0
            && (lblk == 0 || le32(block, 0) == 0 && self.decode_rec_len(le16(block, 4)) == self.bs())
    }

    /// The physical block of directory block `lblk` (directories have no holes).
    pub(crate) fn dir_pblk(&mut self, dir: &Inode, map: &mut FileMap, lblk: u32) -> Result<u64> {
        match self.map_block(dir, map, lblk)? {
            Mapped::Data { pblk, .. } => Ok(pblk),
            _ => Err(Error::Corrupt("hole in a directory")),
        }
    }

    /// Reads directory block `lblk` from `pblk`, verifying its checksum; returns its contents and where its
    /// entries end, or `None` for htree interior blocks.
    fn read_dir_block(&mut self, dir: &Inode, lblk: u32, pblk: u64) -> Result<Option<(Vec<u8>, usize)>> {
        let mut buf = vec![0u8; self.bs()];
        self.read_blocks(pblk, &mut buf)?;
        if self.is_dx_block(dir, lblk, &buf) {
            if lblk == 0 {
                // The root's "." and ".." are ordinary entries; the index follows inside "..".
                let bs = self.bs();
                return Ok(Some((buf, bs)));
            }
            return Ok(None);
        }
        self.check_leaf(dir, pblk, &buf)?;
        let limit = self.entries_limit();
        Ok(Some((buf, limit)))
    }

    /// Reads entry block `pblk` of `dir` (an htree leaf, which may look like an index node when empty),
    /// verifying its checksum; its entries end at [`Fs::entries_limit`].
    pub(crate) fn read_leaf(&mut self, dir: &Inode, pblk: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.bs()];
        self.read_blocks(pblk, &mut buf)?;
        self.check_leaf(dir, pblk, &buf)?;
        Ok(buf)
    }

    /// Reads directory block `pblk` unchecked.
    fn read_leaf_raw(&mut self, pblk: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.bs()];
        self.read_blocks(pblk, &mut buf)?;
        Ok(buf)
    }

    /// Verifies the `metadata_csum` tail of entry block `buf` (at `pblk`) unless it is trusted already.
    fn check_leaf(&mut self, dir: &Inode, pblk: u64, buf: &[u8]) -> Result<()> {
        if self.sb.metadata_csum() && !self.dir_ok.contains(&(pblk, dir.ino)) {
            if !self.has_tail(buf) {
                return Err(Error::Corrupt("directory block without checksum"));
            }
            if le32(buf, self.bs() - 4) != self.dir_tail_csum(dir, buf) {
                return Err(Error::Corrupt("directory block checksum mismatch"));
            }
            self.trust_dir_block(pblk, dir.ino);
        }
        Ok(())
    }

    /// Writes entry block `buf` of `dir` to `pblk` with its `metadata_csum` tail.
    pub(crate) fn write_dir_block(&mut self, dir: &Inode, pblk: u64, buf: &mut [u8]) -> Result<()> {
        if self.sb.metadata_csum() {
            let t = self.bs() - 12;
            buf[t..].fill(0);
            put16(buf, t + 4, 12);
            buf[t + 7] = 0xDE;
            let c = self.dir_tail_csum(dir, buf);
            put32(buf, t + 8, c);
        }
        self.write_blocks(pblk, buf)?;
        if self.sb.metadata_csum() {
            self.trust_dir_block(pblk, dir.ino);
        }
        Ok(())
    }

    /// Remembers that directory block `pblk` of `dir` is known good (forgetting all of them past 65,536).
    fn trust_dir_block(&mut self, pblk: u64, dir: Ino) {
        if self.dir_ok.len() >= 65536 {
            self.dir_ok.clear();
        }
        self.dir_ok.insert((pblk, dir));
    }

    pub(crate) fn dir_block_count(&self, dir: &Inode) -> Result<u32> {
        let size = dir.size();
        if !size.is_multiple_of(self.bs() as u64) || size / (self.bs() as u64) > u32::MAX as u64 {
            return Err(Error::Corrupt("directory size"));
        }
        Ok((size / self.bs() as u64) as u32)
    }

    fn read_dir_inode(&mut self, ino: Ino) -> Result<Inode> {
        let dir = self.read_live_inode(ino)?;
        if !dir.is_dir() {
            return Err(Error::NotDir);
        }
        Ok(dir)
    }

    /// Lists directory `dir` from position `pos` (0 for the start, else a [`DirEntry::next`]), calling `f`
    /// for each entry (`.` and `..` included) until it returns `false`.
    pub fn read_dir(&mut self, dir: Ino, pos: u64, mut f: impl FnMut(&DirEntry) -> bool) -> Result<()> {
        self.read_dir_names(dir, pos, |ino, kind, name, next| {
            f(&DirEntry {
                ino,
                name: name.to_vec(),
                kind,
                next,
            })
        })
    }

    /// [`Fs::read_dir`] without copying names: `f(inode, type, name, next position)` for each entry.
    pub fn read_dir_names(
        &mut self,
        dir: Ino,
        pos: u64,
        mut f: impl FnMut(Ino, Option<FileType>, &[u8], u64) -> bool,
    ) -> Result<()> {
        let dir = self.read_dir_inode(dir)?;
        let bs = self.bs() as u64;
        let count = self.dir_block_count(&dir)?;
        let mut map = self.read_map(&dir)?;
        for lblk in (pos / bs).min(count as u64) as u32..count {
            let pblk = match self.map_read(&dir, &mut map, lblk)? {
                Mapped::Data { pblk, .. } => pblk,
                _ => return Err(Error::Corrupt("hole in a directory")),
            };
            let Some((buf, limit)) = self.read_dir_block(&dir, lblk, pblk)? else {
                continue;
            };
            let base = lblk as u64 * bs;
            for e in self.parse_block(&buf, limit)? {
                if e.ino == 0 || base + (e.off as u64) < pos {
                    continue;
                }
                let name = &buf[e.off + 8..e.off + 8 + e.name_len];
                let next = base + (e.off + e.rec_len) as u64;
                if !f(e.ino, FileType::from_dirent_code(e.code), name, next) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// All entries of directory `dir`.
    pub fn dir_entries(&mut self, dir: Ino) -> Result<Vec<DirEntry>> {
        let mut v = Vec::new();
        self.read_dir(dir, 0, |e| {
            v.push(e.clone());
            true
        })?;
        Ok(v)
    }

    /// The inode `name` names in htree leaf `pblk` of `dir`, if any.
    pub(crate) fn find_in_leaf(&mut self, dir: &Inode, pblk: u64, name: &[u8]) -> Result<Option<Ino>> {
        let buf = self.read_leaf(dir, pblk)?;
        let limit = self.entries_limit();
        Ok(self
            .parse_block(&buf, limit)?
            .iter()
            .find(|e| e.ino != 0 && &buf[e.off + 8..e.off + 8 + e.name_len] == name)
            .map(|e| e.ino))
    }

    /// The inode named `name` in directory `dir` (through the htree index of an indexed directory).
    pub fn lookup(&mut self, dir: Ino, name: &[u8]) -> Result<Ino> {
        let d = self.read_dir_inode(dir)?;
        if self.is_indexed(&d) && name != b"." && name != b".." {
            return self.dx_lookup(&d, name)?.ok_or(Error::NotFound);
        }
        let mut found = None;
        self.read_dir(dir, 0, |e| {
            if e.name == name {
                found = Some(e.ino);
                return false;
            }
            true
        })?;
        found.ok_or(Error::NotFound)
    }

    /// Whether a directory holds only `.` and `..`.
    pub(crate) fn dir_is_empty(&mut self, dir: Ino) -> Result<bool> {
        let mut empty = true;
        self.read_dir(dir, 0, |e| {
            empty = e.name == b"." || e.name == b"..";
            empty
        })?;
        Ok(empty)
    }

    /// Drops the htree index of `dir` (in place): index blocks become empty entry blocks.
    fn deindex(&mut self, dir: &mut Inode, map: &mut FileMap) -> Result<()> {
        if dir.flags() & INDEX_FL == 0 {
            return Ok(());
        }
        let bs = self.bs();
        let limit = self.entries_limit();
        for lblk in 0..self.dir_block_count(dir)? {
            let pblk = self.dir_pblk(dir, map, lblk)?;
            let mut buf = vec![0u8; bs];
            self.read_blocks(pblk, &mut buf)?;
            if !self.is_dx_block(dir, lblk, &buf) {
                continue;
            }
            if lblk == 0 {
                let dot_len = self.decode_rec_len(le16(&buf, 4));
                if dot_len != 12 || le16(&buf, 12 + 6) & 0xFF != 2 {
                    return Err(Error::Corrupt("htree root"));
                }
                buf[24..].fill(0);
                let enc = self.encode_rec_len(limit - 12);
                put16(&mut buf, 16, enc);
            } else {
                buf.fill(0);
                let enc = self.encode_rec_len(limit);
                put16(&mut buf, 4, enc);
            }
            self.write_dir_block(dir, pblk, &mut buf)?;
        }
        dir.set_flags(dir.flags() & !INDEX_FL);
        Ok(())
    }

    pub(crate) fn put_entry(&self, buf: &mut [u8], off: usize, rec_len: usize, ino: Ino, name: &[u8], kind: FileType) {
        put32(buf, off, ino);
        let enc = self.encode_rec_len(rec_len);
        put16(buf, off + 4, enc);
        buf[off + 6] = name.len() as u8;
        buf[off + 7] = if self.sb.filetype() { kind.dirent_code() } else { 0 };
        buf[off + 8..off + 8 + name.len()].copy_from_slice(name);
    }

    /// Puts entry `name` → `ino` into the first room of entry block `buf`; whether it fitted.
    pub(crate) fn place_entry(&self, buf: &mut [u8], name: &[u8], ino: Ino, kind: FileType) -> Result<bool> {
        let needed = rec_len_for(name.len());
        for e in self.parse_block(buf, self.entries_limit())? {
            let used = if e.ino == 0 { 0 } else { rec_len_for(e.name_len) };
            if e.rec_len - used < needed {
                continue;
            }
            if used == 0 {
                self.put_entry(buf, e.off, e.rec_len, ino, name, kind);
            } else {
                let enc = self.encode_rec_len(used);
                put16(buf, e.off + 4, enc);
                self.put_entry(buf, e.off + used, e.rec_len - used, ino, name, kind);
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Adds entry `name` → `ino` to directory `dir` (which the caller has read and this writes back, with
    /// new times). A name that exists already gives [`Error::Exists`] (found through the index of an indexed
    /// directory before anything changes, else by the scan that looks for room, which reads every block).
    pub(crate) fn add_entry(&mut self, dir: &mut Inode, name: &[u8], ino: Ino, kind: FileType) -> Result<()> {
        let mut map = self.load_map(dir)?;
        if self.is_indexed(dir) {
            if self.dx_lookup(dir, name)?.is_some() {
                return Err(Error::Exists);
            }
            self.dx_add(dir, &mut map, NewEntry { name, ino, kind })?;
        } else {
            self.deindex(dir, &mut map)?;
            self.linear_add(dir, &mut map, name, ino, kind)?;
        }
        self.finish_map(dir, &mut map)?;
        let now = self.now();
        dir.set_mtime(now);
        dir.set_ctime(now);
        self.write_inode(dir)
    }

    /// Adds `name` to unindexed directory `dir` in the first block with room; when none has, a one-block
    /// directory becomes indexed (with `dir_index`), a bigger one gets a new block.
    fn linear_add(&mut self, dir: &mut Inode, map: &mut FileMap, name: &[u8], ino: Ino, kind: FileType) -> Result<()> {
        let needed = rec_len_for(name.len());
        let count = self.dir_block_count(dir)?;
        // The first block with room: (block, its contents).
        let mut room: Option<(u64, Vec<u8>)> = None;
        for lblk in 0..count {
            let pblk = self.dir_pblk(dir, map, lblk)?;
            let Some((buf, limit)) = self.read_dir_block(dir, lblk, pblk)? else {
                return Err(Error::Corrupt("htree block after deindexing"));
            };
            let mut fits = false;
            for e in self.parse_block(&buf, limit)? {
                if e.ino != 0 && &buf[e.off + 8..e.off + 8 + e.name_len] == name {
                    return Err(Error::Exists);
                }
                let used = if e.ino == 0 { 0 } else { rec_len_for(e.name_len) };
                fits |= e.rec_len - used >= needed;
            }
            if room.is_none() && fits {
                room = Some((pblk, buf));
            }
        }
        if let Some((pblk, mut buf)) = room {
            if !self.place_entry(&mut buf, name, ino, kind)? {
                return Err(Error::Corrupt("directory block room"));
            }
            return self.write_dir_block(dir, pblk, &mut buf);
        }
        if count == 1 && self.make_indexed(dir, map)? {
            return self.dx_add(dir, map, NewEntry { name, ino, kind });
        }
        let mut buf = vec![0u8; self.bs()];
        let limit = self.entries_limit();
        self.put_entry(&mut buf, 0, limit, ino, name, kind);
        let pblk = self.append_dir_block(dir, map, count)?;
        self.write_dir_block(dir, pblk, &mut buf)?;
        dir.set_size(dir.size() + self.bs() as u64);
        Ok(())
    }

    /// Allocates block `lblk` of a directory; the caller writes it and the inode.
    pub(crate) fn append_dir_block(&mut self, dir: &mut Inode, map: &mut FileMap, lblk: u32) -> Result<u64> {
        let prev = if lblk > 0 {
            self.map_block(dir, map, lblk - 1)?
        } else {
            Mapped::Hole
        };
        let goal = match prev {
            Mapped::Data { pblk, .. } => pblk + 1,
            _ => self.inode_goal(dir.ino),
        };
        let (pblk, _) = self.alloc_blocks(goal, 1)?;
        let s = dir.sectors(self.sb.block_size) + self.bs() as u64 / 512;
        dir.set_sectors(s);
        match map {
            FileMap::Extents(list, dirty) => {
                list.add_allocated(Extent {
                    lblk,
                    len: 1,
                    pblk,
                    uninit: false,
                });
                *dirty = true;
            }
            FileMap::Indirect(cache) => {
                let mut c = core::mem::take(cache);
                let r = self.ind_set(dir, lblk, pblk, &mut c);
                *cache = c;
                r?;
            }
        }
        Ok(pblk)
    }

    /// Finds `name` in `dir` and applies `edit` to its block: `Some((ino, kind))` re-points it, `None`
    /// removes it. Writes the block and the directory inode (new times); returns the inode it named.
    pub(crate) fn edit_entry(&mut self, dir: &mut Inode, name: &[u8], edit: Option<(Ino, FileType)>) -> Result<Ino> {
        self.edit_entry_checked(dir, name, edit, |_, _| Ok(()))
    }

    /// [`Fs::edit_entry`], first calling `check` with the inode the entry names: its error leaves the
    /// directory unchanged. In an indexed directory only the leaf the index leads to is searched (`.` and
    /// `..`: the root, whose index checksum covers them).
    pub(crate) fn edit_entry_checked(
        &mut self,
        dir: &mut Inode,
        name: &[u8],
        edit: Option<(Ino, FileType)>,
        check: impl FnOnce(&mut Self, Ino) -> Result<()>,
    ) -> Result<Ino> {
        let mut map = self.load_map(dir)?;
        let indexed = self.is_indexed(dir);
        let blocks = if !indexed {
            self.deindex(dir, &mut map)?;
            0..self.dir_block_count(dir)?
        } else if name == b"." || name == b".." {
            0..1
        } else {
            match self.dx_find(dir, name)? {
                Some((lblk, _)) => lblk..lblk + 1,
                None => return Err(Error::NotFound),
            }
        };
        for lblk in blocks {
            let pblk = self.dir_pblk(dir, &mut map, lblk)?;
            let (mut buf, limit) = if indexed && lblk != 0 {
                (self.read_leaf(dir, pblk)?, self.entries_limit())
            } else if indexed {
                if edit.is_none() {
                    return Err(Error::InvalidArgument);
                }
                let root = self.read_leaf_raw(pblk)?;
                // The root's index checksum is rewritten below: check it first.
                self.dx_level(dir, root.clone(), ROOT_ENTRIES, 0)?;
                let bs = self.bs();
                (root, bs)
            } else {
                match self.read_dir_block(dir, lblk, pblk)? {
                    Some(b) => b,
                    None => return Err(Error::Corrupt("htree block after deindexing")),
                }
            };
            let entries = self.parse_block(&buf, limit)?;
            for (k, e) in entries.iter().enumerate() {
                if e.ino == 0 || &buf[e.off + 8..e.off + 8 + e.name_len] != name {
                    continue;
                }
                check(self, e.ino)?;
                match edit {
                    Some((ino, kind)) => {
                        put32(&mut buf, e.off, ino);
                        if self.sb.filetype() {
                            buf[e.off + 7] = kind.dirent_code();
                        }
                    }
                    None if k > 0 => {
                        let p = &entries[k - 1];
                        let enc = self.encode_rec_len(p.rec_len + e.rec_len);
                        put16(&mut buf, p.off + 4, enc);
                    }
                    None => put32(&mut buf, e.off, 0),
                }
                if indexed && lblk == 0 {
                    self.write_dx_root(dir, pblk, buf)?;
                } else {
                    self.write_dir_block(dir, pblk, &mut buf)?;
                }
                let now = self.now();
                dir.set_mtime(now);
                dir.set_ctime(now);
                self.write_inode(dir)?;
                return Ok(e.ino);
            }
        }
        Err(Error::NotFound)
    }

    /// Fills a new directory's first block with `.` and `..`.
    pub(crate) fn init_dir_block(&self, buf: &mut [u8], ino: Ino, parent: Ino) {
        self.put_entry(buf, 0, 12, ino, b".", FileType::Directory);
        let rest = self.entries_limit() - 12;
        self.put_entry(buf, 12, rest, parent, b"..", FileType::Directory);
    }

    /// Writes a directory block with its checksum tail (for a new directory).
    pub(crate) fn write_new_dir_block(&mut self, dir: &Inode, pblk: u64, buf: &mut [u8]) -> Result<()> {
        self.write_dir_block(dir, pblk, buf)
    }
}
