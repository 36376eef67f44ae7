//! Lookups in htree-indexed (`dir_index`) directories: the name's hash leads through the index (root block,
//! then up to two levels of interior blocks) to the one leaf block that can hold it, and on to the next leaves
//! while they continue the same hash (collisions), as Linux's `ext4_dx_find_entry`. Index blocks are checked
//! (counts, limits, block numbers, `metadata_csum` tails); a bad index fails the lookup with
//! [`Error::Corrupt`], which `e2fsck -fD` repairs.

use crate::bytes::{le16, le32};
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

/// One index block on the way down: its bytes, where its entries start, their count, and the one taken.
struct Level {
    buf: Vec<u8>,
    off: usize,
    count: usize,
    at: usize,
}

impl Level {
    /// The hash of entry `i` (entry 0 covers everything below entry 1's).
    fn hash(&self, i: usize) -> u32 {
        if i == 0 { 0 } else { le32(&self.buf, self.off + 8 * i) }
    }

    /// The directory block entry `i` points to.
    fn block(&self, i: usize) -> u32 {
        le32(&self.buf, self.off + 8 * i + 4) & 0x0fff_ffff
    }
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

    /// Checks the count and limit of the index entries at `off` (and their checksum) and descends by `hash`.
    fn dx_level(&self, dir: &Inode, buf: Vec<u8>, off: usize, hash: u32) -> Result<Level> {
        let bs = self.bs();
        let tail = if self.sb.metadata_csum() { 8 } else { 0 };
        let (limit, count) = (le16(&buf, off) as usize, le16(&buf, off + 2) as usize);
        if count == 0 || count > limit || off + limit * 8 + tail > bs {
            return Err(Error::Corrupt("htree node count"));
        }
        if tail != 0 {
            let t = off + limit * 8;
            let mut c = crc32c(dir.csum_seed(self.sb.csum_seed), &buf[..off + count * 8]);
            c = crc32c(c, &buf[t..t + 4]);
            c = crc32c(c, &[0; 4]);
            if c != le32(&buf, t + 4) {
                return Err(Error::Corrupt("htree node checksum mismatch"));
            }
        }
        let mut level = Level { buf, off, count, at: 0 };
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

    /// Reads the interior index block `lblk` and descends by `hash`.
    fn dx_node(&mut self, dir: &Inode, map: &mut ReadMap, lblk: u32, blocks: u32, hash: u32) -> Result<Level> {
        let (_, buf) = self.dx_read(dir, map, lblk, blocks)?;
        if le32(&buf, 0) != 0 || self.decode_rec_len(le16(&buf, 4)) != self.bs() {
            return Err(Error::Corrupt("htree node header"));
        }
        self.dx_level(dir, buf, 8, hash)
    }

    /// Looks `name` (not `.` or `..`) up in indexed directory `dir`.
    pub(crate) fn dx_lookup(&mut self, dir: &Inode, name: &[u8]) -> Result<Option<Ino>> {
        let blocks = self.dir_block_count(dir)?;
        let mut map = self.read_map(dir)?;
        let (_, root) = self.dx_read(dir, &mut map, 0, blocks)?;
        let (version, info_len, depth) = (root[28], root[29] as usize, root[30] as usize);
        let max_depth = if self.sb.has_incompat(incompat::LARGEDIR) { 3 } else { 2 };
        if le32(&root, 0) != dir.ino || le16(&root, 4) != 12 || info_len != 8 || depth >= max_depth {
            return Err(Error::Corrupt("htree root"));
        }
        let version = match version {
            v if v <= dxhash::TEA && self.sb.unsigned_hash() => v + dxhash::UNSIGNED,
            v => v,
        };
        let hash = dxhash::hash(name, version, self.sb.hash_seed()).ok_or(Error::Corrupt("htree hash version"))?;
        let mut path = vec![self.dx_level(dir, root, 24 + info_len, hash)?];
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
            if let Some(ino) = self.find_in_block(dir, lblk, pblk, name)? {
                return Ok(Some(ino));
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
