//! Extent trees. A file's tree is read into a flat, sorted list of extents; after a change the list is written
//! back as the shallowest tree that holds it, reusing the old tree blocks.

use crate::bytes::{le16, le32, put16, put32};
use crate::csum::crc32c;
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::inode::Inode;
use alloc::vec;
use alloc::vec::Vec;

const MAGIC: u16 = 0xF30A;
/// Longest initialised extent.
pub const MAX_INIT_LEN: u32 = 32768;
const MAX_DEPTH: u16 = 5;

/// One extent: `len` blocks from logical `lblk` at physical `pblk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First logical block.
    pub lblk: u32,
    /// Length in blocks.
    pub len: u32,
    /// First physical block.
    pub pblk: u64,
    /// Allocated but unwritten (reads as zeros).
    pub uninit: bool,
}

impl Extent {
    /// One past the last logical block.
    pub fn end(&self) -> u64 {
        self.lblk as u64 + self.len as u64
    }
}

/// A block of the on-disk tree, as read.
pub struct Node {
    /// Its depth (0 for leaves).
    pub depth: u16,
    /// Where it is.
    pub block: u64,
    /// Its contents (a rewrite that would not change them is skipped).
    pub data: Vec<u8>,
}

/// A file's extents and the tree blocks that held them.
pub struct ExtentList {
    /// Sorted, non-overlapping extents.
    pub extents: Vec<Extent>,
    /// Index and leaf blocks of the on-disk tree, in tree order.
    pub nodes: Vec<Node>,
    /// Runs allocated since the list was loaded or stored, given back if storing it fails.
    pub fresh: Vec<(u64, u32)>,
}

impl ExtentList {
    /// The extent containing logical block `lblk`, if any.
    pub fn find(&self, lblk: u32) -> Option<&Extent> {
        let i = self.extents.partition_point(|e| e.end() <= lblk as u64);
        self.extents.get(i).filter(|e| e.lblk <= lblk)
    }

    /// Adds a freshly allocated run (which must not overlap an extent), merging with neighbours of the same
    /// kind.
    pub fn insert(&mut self, mut ext: Extent) {
        let max = |uninit: bool| if uninit { MAX_INIT_LEN - 1 } else { MAX_INIT_LEN };
        let i = self.extents.partition_point(|e| e.lblk < ext.lblk);
        if i > 0 {
            let p = &mut self.extents[i - 1];
            if p.uninit == ext.uninit && p.end() == ext.lblk as u64 && p.pblk + p.len as u64 == ext.pblk {
                let take = max(p.uninit).saturating_sub(p.len).min(ext.len);
                p.len += take;
                ext.lblk += take;
                ext.pblk += take as u64;
                ext.len -= take;
            }
        }
        if ext.len == 0 {
            return;
        }
        if let Some(n) = self.extents.get_mut(i)
            && n.uninit == ext.uninit
            && ext.end() == n.lblk as u64
            && ext.pblk + ext.len as u64 == n.pblk
            && ext.len + n.len <= max(n.uninit)
        {
            n.lblk = ext.lblk;
            n.pblk = ext.pblk;
            n.len += ext.len;
            return;
        }
        self.extents.insert(i, ext);
    }

    /// Adds a run this operation just allocated (see [`ExtentList::insert`]).
    pub fn add_allocated(&mut self, ext: Extent) {
        self.fresh.push((ext.pblk, ext.len));
        self.insert(ext);
    }

    /// Marks logical blocks `[lblk, lblk + n)`, which lie inside one unwritten extent, as written.
    pub fn mark_written(&mut self, lblk: u32, n: u32) {
        let i = self.extents.partition_point(|e| e.end() <= lblk as u64);
        let Some(&e) = self.extents.get(i) else { return };
        if !e.uninit || e.lblk > lblk || (lblk as u64 + n as u64) > e.end() {
            return;
        }
        self.extents.remove(i);
        let head = lblk - e.lblk;
        let tail = (e.end() - lblk as u64 - n as u64) as u32;
        let mut pieces = Vec::new();
        if head > 0 {
            pieces.push(Extent {
                lblk: e.lblk,
                len: head,
                pblk: e.pblk,
                uninit: true,
            });
        }
        if tail > 0 {
            pieces.push(Extent {
                lblk: lblk + n,
                len: tail,
                pblk: e.pblk + (head + n) as u64,
                uninit: true,
            });
        }
        for (k, p) in pieces.into_iter().enumerate() {
            self.extents.insert(i + k, p);
        }
        self.insert(Extent {
            lblk,
            len: n,
            pblk: e.pblk + head as u64,
            uninit: false,
        });
    }

    /// Drops every block at or after logical block `from`; returns the physical runs to free.
    pub fn truncate(&mut self, from: u32) -> Vec<(u64, u64)> {
        let mut freed = Vec::new();
        self.extents.retain_mut(|e| {
            if e.end() <= from as u64 {
                true
            } else if e.lblk >= from {
                freed.push((e.pblk, e.len as u64));
                false
            } else {
                let keep = from - e.lblk;
                freed.push((e.pblk + keep as u64, (e.len - keep) as u64));
                e.len = keep;
                true
            }
        });
        freed
    }
}

fn entries_per_block(bs: usize) -> usize {
    (bs - 12) / 12
}

impl<D: BlockDevice> Fs<D> {
    fn extent_block_csum(&self, inode: &Inode, block: &[u8], max: usize) -> u32 {
        crc32c(inode.csum_seed(self.sb.csum_seed), &block[..12 + 12 * max])
    }

    /// Reads an inode's extent tree.
    pub(crate) fn load_extents(&mut self, inode: &Inode) -> Result<ExtentList> {
        let mut list = ExtentList {
            extents: Vec::new(),
            nodes: Vec::new(),
            fresh: Vec::new(),
        };
        let root = inode.i_block().to_vec();
        let depth = Self::check_header(&root, 4)?;
        self.walk_node(inode, &root, depth, &mut list, 0)?;
        Ok(list)
    }

    /// Validates a node header; returns its depth.
    fn check_header(node: &[u8], max_allowed: usize) -> Result<u16> {
        if le16(node, 0) != MAGIC {
            return Err(Error::Corrupt("extent header magic"));
        }
        let (entries, max, depth) = (le16(node, 2) as usize, le16(node, 4) as usize, le16(node, 6));
        if max > max_allowed || entries > max || depth > MAX_DEPTH {
            return Err(Error::Corrupt("extent header counts"));
        }
        Ok(depth)
    }

    fn walk_node(&mut self, inode: &Inode, node: &[u8], depth: u16, list: &mut ExtentList, min: u64) -> Result<()> {
        let entries = le16(node, 2) as usize;
        let mut prev_end = min;
        for k in 0..entries {
            let e = &node[12 + 12 * k..24 + 12 * k];
            let lblk = le32(e, 0) as u64;
            if lblk < prev_end {
                return Err(Error::Corrupt("extents out of order"));
            }
            if depth == 0 {
                let raw_len = le16(e, 4) as u32;
                let (len, uninit) = if raw_len > MAX_INIT_LEN {
                    (raw_len - MAX_INIT_LEN, true)
                } else {
                    (raw_len, false)
                };
                let pblk = (le16(e, 6) as u64) << 32 | le32(e, 8) as u64;
                if len == 0 || lblk + len as u64 > 1 << 32 {
                    return Err(Error::Corrupt("extent length"));
                }
                if pblk <= self.sb.first_data_block as u64 || pblk + len as u64 > self.sb.blocks_count {
                    return Err(Error::Corrupt("extent outside the file system"));
                }
                list.extents.push(Extent {
                    lblk: lblk as u32,
                    len,
                    pblk,
                    uninit,
                });
                prev_end = lblk + len as u64;
            } else {
                let child = (le16(e, 8) as u64) << 32 | le32(e, 4) as u64;
                if list.nodes.len() as u64 > self.sb.blocks_count {
                    return Err(Error::Corrupt("extent tree too large"));
                }
                let mut buf = vec![0u8; self.bs()];
                self.read_blocks(child, &mut buf)?;
                let per = entries_per_block(self.bs());
                let child_depth = Self::check_header(&buf, per)?;
                if child_depth != depth - 1 {
                    return Err(Error::Corrupt("extent tree depth"));
                }
                if self.sb.metadata_csum() {
                    let max = le16(&buf, 4) as usize;
                    if le32(&buf, 12 + 12 * max) != self.extent_block_csum(inode, &buf, max) {
                        return Err(Error::Corrupt("extent block checksum mismatch"));
                    }
                }
                list.nodes.push(Node {
                    depth: child_depth,
                    block: child,
                    data: buf.clone(),
                });
                let before = list.extents.len();
                self.walk_node(inode, &buf, child_depth, list, lblk)?;
                if let Some(first) = list.extents.get(before)
                    && (first.lblk as u64) < lblk
                {
                    return Err(Error::Corrupt("extent index key"));
                }
                prev_end = list.extents.last().map_or(lblk, |e| e.end()).max(lblk);
            }
        }
        Ok(())
    }

    /// Writes `list` back as the shallowest tree that holds it, into `inode` (which the caller writes).
    /// Tree blocks are reused level by level (unchanged ones are not rewritten), allocated or freed as
    /// needed, and `inode`'s block count follows.
    pub(crate) fn store_extents(&mut self, inode: &mut Inode, list: &mut ExtentList) -> Result<()> {
        let bs = self.bs();
        let per = entries_per_block(bs);
        // Count the tree blocks the list needs and allocate the missing ones first, so that running out of
        // space changes nothing on disk.
        let (mut n, mut needed, mut levels) = (list.extents.len(), 0usize, 0u16);
        while n > 4 {
            if levels == MAX_DEPTH - 1 {
                return Err(Error::FileTooBig);
            }
            n = n.div_ceil(per);
            needed += n;
            levels += 1;
        }
        let mut fresh = Vec::new();
        let goal = list.extents.first().map_or(self.inode_goal(inode.ino), |e| e.pblk);
        while fresh.len() + list.nodes.len() < needed {
            match self.alloc_blocks(goal, (needed - list.nodes.len() - fresh.len()) as u32) {
                Ok((b, k)) => fresh.extend(b..b + k as u64),
                Err(e) => {
                    for b in fresh {
                        self.free_blocks(b, 1)?;
                    }
                    return Err(e);
                }
            }
        }
        let s = inode.sectors(self.sb.block_size) + fresh.len() as u64 * (bs as u64 / 512);
        inode.set_sectors(s);
        fresh.reverse();
        // Each level: the entries (first logical block, payload) the level above must index.
        let mut level: Vec<(u32, [u8; 12])> = list.extents.iter().map(|e| (e.lblk, encode_extent(e))).collect();
        let mut depth = 0u16;
        let mut old: Vec<Option<Node>> = core::mem::take(&mut list.nodes).into_iter().map(Some).collect();
        let mut new_nodes = Vec::new();
        while level.len() > 4 {
            let mut upper = Vec::new();
            for chunk in level.chunks(per) {
                let mut buf = vec![0u8; bs];
                write_node(&mut buf, chunk, per, depth);
                if self.sb.metadata_csum() {
                    let c = self.extent_block_csum(inode, &buf, per);
                    put32(&mut buf, 12 + 12 * per, c);
                }
                let reuse = old.iter().position(|n| n.as_ref().is_some_and(|n| n.depth == depth));
                let reuse = reuse.or_else(|| old.iter().position(Option::is_some));
                let blk = match reuse.and_then(|i| old[i].take()) {
                    Some(n) => {
                        if n.data != buf {
                            self.write_blocks(n.block, &buf)?;
                        }
                        n.block
                    }
                    None => {
                        let b = fresh.pop().ok_or(Error::NoSpace)?;
                        self.write_blocks(b, &buf)?;
                        b
                    }
                };
                let mut idx = [0u8; 12];
                put32(&mut idx, 0, chunk[0].0);
                put32(&mut idx, 4, blk as u32);
                put16(&mut idx, 8, (blk >> 32) as u16);
                upper.push((chunk[0].0, idx));
                new_nodes.push(Node {
                    depth,
                    block: blk,
                    data: buf,
                });
            }
            level = upper;
            depth += 1;
        }
        let root = inode.i_block_mut();
        root.fill(0);
        write_node(root, &level, 4, depth);
        for n in old.into_iter().flatten() {
            self.free_blocks(n.block, 1)?;
            let s = inode.sectors(self.sb.block_size).saturating_sub(bs as u64 / 512);
            inode.set_sectors(s);
        }
        list.nodes = new_nodes;
        Ok(())
    }

    /// The extent holding logical block `lblk`, found by descending the tree along `lblk` only.
    pub(crate) fn find_extent(&mut self, inode: &Inode, lblk: u32) -> Result<Option<Extent>> {
        let mut node = inode.i_block().to_vec();
        let mut depth = Self::check_header(&node, 4)?;
        let per = entries_per_block(self.bs());
        loop {
            let entries = le16(&node, 2) as usize;
            let entry = |k: usize| &node[12 + 12 * k..24 + 12 * k];
            if depth == 0 {
                for k in 0..entries {
                    let e = entry(k);
                    let start = le32(e, 0);
                    let raw_len = le16(e, 4) as u32;
                    let (len, uninit) = if raw_len > MAX_INIT_LEN {
                        (raw_len - MAX_INIT_LEN, true)
                    } else {
                        (raw_len, false)
                    };
                    if start <= lblk && (lblk as u64) < start as u64 + len as u64 {
                        let pblk = (le16(e, 6) as u64) << 32 | le32(e, 8) as u64;
                        if pblk <= self.sb.first_data_block as u64 || pblk + len as u64 > self.sb.blocks_count {
                            return Err(Error::Corrupt("extent outside the file system"));
                        }
                        return Ok(Some(Extent {
                            lblk: start,
                            len,
                            pblk,
                            uninit,
                        }));
                    }
                }
                return Ok(None);
            }
            let Some(k) = (0..entries).rev().find(|&k| le32(entry(k), 0) <= lblk) else {
                return Ok(None);
            };
            let e = entry(k);
            let child = (le16(e, 8) as u64) << 32 | le32(e, 4) as u64;
            let mut buf = vec![0u8; self.bs()];
            self.read_blocks(child, &mut buf)?;
            let child_depth = Self::check_header(&buf, per)?;
            if child_depth + 1 != depth {
                return Err(Error::Corrupt("extent tree depth"));
            }
            if self.sb.metadata_csum() {
                let max = le16(&buf, 4) as usize;
                if le32(&buf, 12 + 12 * max) != self.extent_block_csum(inode, &buf, max) {
                    return Err(Error::Corrupt("extent block checksum mismatch"));
                }
            }
            node = buf;
            depth = child_depth;
        }
    }
}

fn encode_extent(e: &Extent) -> [u8; 12] {
    let mut b = [0u8; 12];
    put32(&mut b, 0, e.lblk);
    put16(
        &mut b,
        4,
        if e.uninit {
            (e.len + MAX_INIT_LEN) as u16
        } else {
            e.len as u16
        },
    );
    put16(&mut b, 6, (e.pblk >> 32) as u16);
    put32(&mut b, 8, e.pblk as u32);
    b
}

/// Fills a node: header then entries.
fn write_node(buf: &mut [u8], entries: &[(u32, [u8; 12])], max: usize, depth: u16) {
    put16(buf, 0, MAGIC);
    put16(buf, 2, entries.len() as u16);
    put16(buf, 4, max as u16);
    put16(buf, 6, depth);
    for (k, (_, e)) in entries.iter().enumerate() {
        buf[12 + 12 * k..24 + 12 * k].copy_from_slice(e);
    }
}

/// An empty in-inode extent root.
pub fn init_root(i_block: &mut [u8]) {
    i_block.fill(0);
    write_node(i_block, &[], 4, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(extents: &[Extent]) -> ExtentList {
        ExtentList {
            extents: extents.to_vec(),
            nodes: Vec::new(),
            fresh: Vec::new(),
        }
    }

    fn ext(lblk: u32, len: u32, pblk: u64, uninit: bool) -> Extent {
        Extent {
            lblk,
            len,
            pblk,
            uninit,
        }
    }

    #[test]
    fn insert_merges_contiguous_runs_of_the_same_kind_up_to_the_limit() {
        let mut l = list(&[]);
        l.insert(ext(0, 10, 100, false));
        l.insert(ext(10, 5, 110, false));
        assert_eq!(l.extents, [ext(0, 15, 100, false)]);
        l.insert(ext(15, 5, 200, false));
        l.insert(ext(20, 5, 205, true));
        assert_eq!(l.extents.len(), 3);
        let mut big = list(&[ext(0, MAX_INIT_LEN - 2, 1000, false)]);
        big.insert(ext(MAX_INIT_LEN - 2, 5, 1000 + MAX_INIT_LEN as u64 - 2, false));
        assert_eq!(
            big.extents,
            [
                ext(0, MAX_INIT_LEN, 1000, false),
                ext(MAX_INIT_LEN, 3, 1000 + MAX_INIT_LEN as u64, false)
            ]
        );
        // Joining a following extent.
        let mut l = list(&[ext(10, 5, 510, false)]);
        l.insert(ext(5, 5, 505, false));
        assert_eq!(l.extents, [ext(5, 10, 505, false)]);
    }

    #[test]
    fn find_truncate_and_mark_written() {
        let mut l = list(&[ext(0, 4, 100, false), ext(10, 10, 200, true)]);
        assert_eq!(l.find(3), Some(&ext(0, 4, 100, false)));
        assert_eq!(l.find(4), None);
        assert_eq!(l.find(19).map(|e| e.pblk), Some(200));
        l.mark_written(12, 3);
        assert_eq!(
            l.extents,
            [
                ext(0, 4, 100, false),
                ext(10, 2, 200, true),
                ext(12, 3, 202, false),
                ext(15, 5, 205, true)
            ]
        );
        let freed = l.truncate(13);
        assert_eq!(freed, [(203, 2), (205, 5)]);
        assert_eq!(l.extents.last(), Some(&ext(12, 1, 202, false)));
        assert_eq!(l.truncate(0), [(100, 4), (200, 2), (202, 1)]);
        assert!(l.extents.is_empty());
    }
}
