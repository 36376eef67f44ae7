//! Lookups in htree-indexed (`dir_index`) directories: the name's hash leads through the index (root block,
//! then up to two levels of interior blocks) to the one leaf block that can hold it, and on to the next leaves
//! while they continue the same hash (collisions), as Linux's `ext4_dx_find_entry`. Index blocks are checked
//! (counts, limits, block numbers, `metadata_csum` tails); a bad index fails the lookup with
//! [`Error::Corrupt`], which `e2fsck -fD` repairs. The layout helpers here are shared with
//! [`crate::htree_insert`], which keeps the index on insert.

use crate::bytes::{le16, le32, put32};
use crate::csum::crc32c;
use crate::device::BlockDevice;
use crate::dxhash;
use crate::error::{Error, Result};
use crate::file::{Mapped, ReadMap};
use crate::fs::Fs;
use crate::inode::{INDEX_FL, Ino, Inode};
use crate::superblock::{compat, incompat};
use alloc::vec;
use alloc::vec::Vec;

/// Where the root's index entries start (after `.`, `..` and the 8-byte `dx_root_info`).
pub(crate) const ROOT_ENTRIES: usize = 32;
/// Where an interior node's index entries start (after its empty 8-byte entry header).
pub(crate) const NODE_ENTRIES: usize = 8;

/// One index block on the way down: its bytes, where its entries start, their count and limit, and the one
/// taken.
pub(crate) struct Level {
    pub(crate) buf: Vec<u8>,
    pub(crate) off: usize,
    pub(crate) count: usize,
    pub(crate) limit: usize,
    pub(crate) at: usize,
}

impl Level {
    /// The hash of entry `i` (entry 0 covers everything below entry 1's).
    pub(crate) fn hash(&self, i: usize) -> u32 {
        if i == 0 { 0 } else { le32(&self.buf, self.off + 8 * i) }
    }

    /// The directory block entry `i` points to.
    pub(crate) fn block(&self, i: usize) -> u32 {
        le32(&self.buf, self.off + 8 * i + 4) & 0x0fff_ffff
    }
}

/// The number of index entries a root (`root` true) or interior node of a `bs`-byte block holds, less the
/// `metadata_csum` tail (`csum`), as Linux's `dx_root_limit`/`dx_node_limit`.
pub(crate) fn dx_limit(bs: usize, root: bool, csum: bool) -> usize {
    let start = if root { ROOT_ENTRIES } else { NODE_ENTRIES };
    (bs - start - if csum { 8 } else { 0 }) / 8
}

impl<D: BlockDevice> Fs<D> {
    /// Whether lookups in `dir` go through its htree index.
    pub(crate) fn is_indexed(&self, dir: &Inode) -> bool {
        dir.flags() & INDEX_FL != 0 && self.sb.has_compat(compat::DIR_INDEX)
    }

    /// Reads directory block `lblk` (below `blocks`) without checks.
    fn dx_read(&mut self, dir: &Inode, map: &mut ReadMap, lblk: u32, blocks: u32) -> Result<(u64, Vec<u8>)> {
        if lblk >= blocks {
            return Err(Error::Corrupt("htree block past the directory"));
        }
        let Mapped::Data { pblk, .. } = self.map_read(dir, map, lblk)? else {
            return Err(Error::Corrupt("hole in a directory"));
        };
        let mut buf = vec![0u8; self.bs()];
        self.read_blocks(pblk, &mut buf)?;
        Ok((pblk, buf))
    }

    /// The `metadata_csum` checksum of the index block `buf` whose `count` entries (of `limit`) start at
    /// `off`: over the block up to the last entry, then the tail's reserved word and a zero checksum.
    fn dx_csum(&self, dir: &Inode, buf: &[u8], off: usize, count: usize, limit: usize) -> u32 {
        let t = off + limit * 8;
        let c = crc32c(dir.csum_seed(self.sb.csum_seed), &buf[..off + count * 8]);
        crc32c(crc32c(c, &buf[t..t + 4]), &[0; 4])
    }

    /// Writes index block `level` of `dir` to `pblk`, with its count and (`metadata_csum`) tail checksum.
    pub(crate) fn write_dx_block(&mut self, dir: &Inode, pblk: u64, level: &mut Level) -> Result<()> {
        let (off, count, limit) = (level.off, level.count, level.limit);
        level.buf[off + 2..off + 4].copy_from_slice(&(count as u16).to_le_bytes());
        if self.sb.metadata_csum() {
            let c = self.dx_csum(dir, &level.buf, off, count, limit);
            put32(&mut level.buf, off + limit * 8, 0);
            put32(&mut level.buf, off + limit * 8 + 4, c);
        }
        self.write_blocks(pblk, &level.buf)
    }

    /// Checks the count and limit of the index entries at `off` (and their checksum) and descends by `hash`.
    pub(crate) fn dx_level(&self, dir: &Inode, buf: Vec<u8>, off: usize, hash: u32) -> Result<Level> {
        let csum = self.sb.metadata_csum();
        let (limit, count) = (le16(&buf, off) as usize, le16(&buf, off + 2) as usize);
        if count == 0 || count > limit || limit != dx_limit(self.bs(), off == ROOT_ENTRIES, csum) {
            return Err(Error::Corrupt("htree node count"));
        }
        if csum && self.dx_csum(dir, &buf, off, count, limit) != le32(&buf, off + limit * 8 + 4) {
            return Err(Error::Corrupt("htree node checksum mismatch"));
        }
        let mut level = Level {
            buf,
            off,
            count,
            limit,
            at: 0,
        };
        // The last entry whose hash is at most `hash`.
        let (mut lo, mut hi) = (1, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if level.hash(mid) > hash {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        level.at = lo - 1;
        Ok(level)
    }

    /// Checks the header of interior index block `buf` and descends by `hash`.
    pub(crate) fn dx_node_level(&self, dir: &Inode, buf: Vec<u8>, hash: u32) -> Result<Level> {
        if le32(&buf, 0) != 0 || self.decode_rec_len(le16(&buf, 4)) != self.bs() || buf[6] != 0 {
            return Err(Error::Corrupt("htree node header"));
        }
        self.dx_level(dir, buf, NODE_ENTRIES, hash)
    }

    /// Reads the interior index block `lblk` and descends by `hash`.
    fn dx_node(&mut self, dir: &Inode, map: &mut ReadMap, lblk: u32, blocks: u32, hash: u32) -> Result<Level> {
        let (_, buf) = self.dx_read(dir, map, lblk, blocks)?;
        self.dx_node_level(dir, buf, hash)
    }

    /// The deepest index depth (`indirect_levels` + 1) the file system allows: 3 with `largedir`, else 2.
    pub(crate) fn dx_max_depth(&self) -> usize {
        if self.sb.has_incompat(incompat::LARGEDIR) { 3 } else { 2 }
    }

    /// Checks the htree root block `root` of `dir`; returns its hash version (with the superblock's
    /// signedness) and the number of interior levels.
    pub(crate) fn dx_root_info(&self, dir: &Inode, root: &[u8]) -> Result<(u8, usize)> {
        let (version, info_len, depth) = (root[28], root[29] as usize, root[30] as usize);
        if le32(root, 0) != dir.ino || le16(root, 4) != 12 || info_len != 8 || depth >= self.dx_max_depth() {
            return Err(Error::Corrupt("htree root"));
        }
        let version = match version {
            v if v <= dxhash::TEA && self.sb.unsigned_hash() => v + dxhash::UNSIGNED,
            v => v,
        };
        if version > dxhash::TEA + dxhash::UNSIGNED {
            return Err(Error::Corrupt("htree hash version"));
        }
        Ok((version, depth))
    }

    /// The hash of `name` under hash `version` (as [`Fs::dx_root_info`] gives it) and the superblock's seed.
    pub(crate) fn name_hash(&self, version: u8, name: &[u8]) -> Result<u32> {
        dxhash::hash(name, version, self.sb.hash_seed()).ok_or(Error::Corrupt("htree hash version"))
    }

    /// Looks `name` (not `.` or `..`) up in indexed directory `dir`.
    pub(crate) fn dx_lookup(&mut self, dir: &Inode, name: &[u8]) -> Result<Option<Ino>> {
        Ok(self.dx_find(dir, name)?.map(|(_, ino)| ino))
    }

    /// Finds `name` (not `.` or `..`) in indexed directory `dir`: the leaf block that holds it and its inode.
    pub(crate) fn dx_find(&mut self, dir: &Inode, name: &[u8]) -> Result<Option<(u32, Ino)>> {
        let blocks = self.dir_block_count(dir)?;
        let mut map = self.read_map(dir)?;
        let (_, root) = self.dx_read(dir, &mut map, 0, blocks)?;
        let (version, depth) = self.dx_root_info(dir, &root)?;
        let hash = self.name_hash(version, name)?;
        let mut path = vec![self.dx_level(dir, root, ROOT_ENTRIES, hash)?];
        for _ in 0..depth {
            let lblk = path[path.len() - 1].block(path[path.len() - 1].at);
            let level = self.dx_node(dir, &mut map, lblk, blocks, hash)?;
            path.push(level);
        }
        // Each leaf is visited at most once.
        for _ in 0..blocks {
            let last = &path[path.len() - 1];
            let lblk = last.block(last.at);
            if lblk == 0 || lblk >= blocks {
                return Err(Error::Corrupt("htree leaf block"));
            }
            let Mapped::Data { pblk, .. } = self.map_read(dir, &mut map, lblk)? else {
                return Err(Error::Corrupt("hole in a directory"));
            };
            if let Some(ino) = self.find_in_leaf(dir, pblk, name)? {
                return Ok(Some((lblk, ino)));
            }
            // Move to the next leaf, if it continues this hash.
            let Some(up) = path.iter().rposition(|l| l.at + 1 < l.count) else {
                return Ok(None);
            };
            path[up].at += 1;
            if path[up].hash(path[up].at) & !1 != hash {
                return Ok(None);
            }
            for k in up + 1..path.len() {
                let lblk = path[k - 1].block(path[k - 1].at);
                // The leftmost entry of the next node: hash 0 takes entry 0.
                path[k] = self.dx_node(dir, &mut map, lblk, blocks, 0)?;
            }
        }
        Err(Error::Corrupt("htree loop"))
    }
}
