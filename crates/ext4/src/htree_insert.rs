//! Keeping htree (`dir_index`) indexes when entries are added, as Linux's `fs/ext4/namei.c` does
//! (`ext4_dx_add_entry`, `do_split`, `make_indexed_dir`): the name's hash leads to its leaf; a full leaf is
//! split by hash (the upper half, by size, moves to a new block; the index entry for it gets the low
//! "continued" bit when the halves share a hash), a full index node is split in two, and a full root moves
//! its entries into a new interior node (one more level) while the depth allows (two levels of interior
//! nodes with `largedir`, else one); past that the directory is full (`ENOSPC`, as Linux). A one-block
//! directory that outgrows its block becomes indexed: its entries move to a new leaf and block 0 becomes the
//! root. Index blocks get their `metadata_csum` tails, leaves their entry-block tails.

use crate::bytes::{put16, put32};
use crate::device::BlockDevice;
use crate::dir::{Raw, rec_len_for};
use crate::dxhash;
use crate::error::{Error, Result};
use crate::file::FileMap;
use crate::fs::Fs;
use crate::htree::{Level, NODE_ENTRIES, ROOT_ENTRIES, dx_limit};
use crate::inode::{FileType, INDEX_FL, Ino, Inode};
use crate::superblock::compat;
use alloc::vec;
use alloc::vec::Vec;

/// An index block on the way to a leaf: where it is and its parsed contents.
struct Node {
    pblk: u64,
    level: Level,
}

/// The entry being added.
#[derive(Clone, Copy)]
pub(crate) struct NewEntry<'a> {
    /// Its name.
    pub(crate) name: &'a [u8],
    /// The inode it names.
    pub(crate) ino: Ino,
    /// That inode's type.
    pub(crate) kind: FileType,
}

/// Inserts index entry (`hash`, `block`) at position `at` (at least 1) of `level`, which has room.
fn dx_insert(level: &mut Level, at: usize, hash: u32, block: u32) {
    let (pos, end) = (level.off + 8 * at, level.off + 8 * level.count);
    level.buf.copy_within(pos..end, pos + 8);
    put32(&mut level.buf, pos, hash);
    put32(&mut level.buf, pos + 4, block);
    level.count += 1;
}

impl<D: BlockDevice> Fs<D> {
    /// The index blocks from the root down to the one pointing at `name`'s leaf, each with the entry taken;
    /// also the index's hash version and `name`'s hash.
    fn dx_path(&mut self, dir: &Inode, map: &mut FileMap, name: &[u8]) -> Result<(Vec<Node>, u8, u32)> {
        let blocks = self.dir_block_count(dir)?;
        let pblk = self.dir_pblk(dir, map, 0)?;
        let mut root = vec![0u8; self.bs()];
        self.read_blocks(pblk, &mut root)?;
        let (version, depth) = self.dx_root_info(dir, &root)?;
        let hash = self.name_hash(version, name)?;
        let level = self.dx_level(dir, root, ROOT_ENTRIES, hash)?;
        let mut path = vec![Node { pblk, level }];
        for _ in 0..depth {
            let up = &path[path.len() - 1].level;
            let lblk = up.block(up.at);
            if lblk == 0 || lblk >= blocks {
                return Err(Error::Corrupt("htree node block"));
            }
            let pblk = self.dir_pblk(dir, map, lblk)?;
            let mut buf = vec![0u8; self.bs()];
            self.read_blocks(pblk, &mut buf)?;
            let level = self.dx_node_level(dir, buf, hash)?;
            path.push(Node { pblk, level });
        }
        Ok((path, version, hash))
    }

    /// Adds `new` (absent) to indexed directory `dir`, keeping the index; the caller writes the map and the
    /// inode. A corrupt index refuses the change with [`Error::Corrupt`].
    pub(crate) fn dx_add(&mut self, dir: &mut Inode, map: &mut FileMap, new: NewEntry) -> Result<()> {
        // Each round inserts, or makes room one level up: at most one new level and one split per level.
        for _ in 0..2 * self.dx_max_depth() + 2 {
            let (mut path, version, hash) = self.dx_path(dir, map, new.name)?;
            let bottom = path.len() - 1;
            let leaf = path[bottom].level.block(path[bottom].level.at);
            if leaf == 0 || leaf >= self.dir_block_count(dir)? {
                return Err(Error::Corrupt("htree leaf block"));
            }
            let pblk = self.dir_pblk(dir, map, leaf)?;
            let mut buf = self.read_leaf(dir, pblk)?;
            if self.place_entry(&mut buf, new.name, new.ino, new.kind)? {
                return self.write_dir_block(dir, pblk, &mut buf);
            }
            match path.iter().rposition(|n| n.level.count < n.level.limit) {
                Some(k) if k == bottom => {
                    return self.dx_split_leaf(dir, map, &mut path[bottom], (pblk, buf), (version, hash), new);
                }
                Some(k) => {
                    let (upper, lower) = path.split_at_mut(k + 1);
                    self.dx_split_node(dir, map, &mut upper[k], &mut lower[0])?;
                }
                None if path.len() < self.dx_max_depth() => self.dx_add_level(dir, map, &mut path[0])?,
                None => return Err(Error::NoSpace),
            }
        }
        Err(Error::Corrupt("htree insert"))
    }

    /// A new entry block holding `entries` of block `src` packed from its start (an empty one if none).
    fn pack_leaf(&self, src: &[u8], entries: &[(u32, Raw)]) -> Vec<u8> {
        let limit = self.entries_limit();
        let mut out = vec![0u8; self.bs()];
        let mut off = 0;
        for (i, (_, e)) in entries.iter().enumerate() {
            let size = rec_len_for(e.name_len);
            out[off..off + 8 + e.name_len].copy_from_slice(&src[e.off..e.off + 8 + e.name_len]);
            let rec_len = if i + 1 == entries.len() { limit - off } else { size };
            put16(&mut out, off + 4, self.encode_rec_len(rec_len));
            off += size;
        }
        if entries.is_empty() {
            put16(&mut out, 4, self.encode_rec_len(limit));
        }
        out
    }

    /// Entry block `src` without `gone` (entries of it): each one's space joins the entry before it (the
    /// first entry of the block becomes unused instead), as a removal does.
    fn drop_entries(&self, src: &[u8], gone: &[(u32, Raw)]) -> Result<Vec<u8>> {
        let mut out = src.to_vec();
        let mut prev: Option<(usize, usize)> = None;
        for e in self.parse_block(src, self.entries_limit())? {
            if !gone.iter().any(|(_, g)| g.off == e.off) {
                prev = Some((e.off, e.rec_len));
                continue;
            }
            match prev {
                Some((off, len)) => {
                    put16(&mut out, off + 4, self.encode_rec_len(len + e.rec_len));
                    prev = Some((off, len + e.rec_len));
                }
                None => {
                    put32(&mut out, e.off, 0);
                    prev = Some((e.off, e.rec_len));
                }
            }
        }
        Ok(out)
    }

    /// Allocates the next block of `dir` (growing its size) and stores the map and the inode at once, so
    /// that no index block refers to a block the directory on disk does not have (the map's write-back can
    /// fail for want of a tree block); its logical and physical numbers.
    fn dx_grow(&mut self, dir: &mut Inode, map: &mut FileMap) -> Result<(u32, u64)> {
        let lblk = self.dir_block_count(dir)?;
        let pblk = self.append_dir_block(dir, map, lblk)?;
        self.finish_map(dir, map)?;
        dir.set_size(dir.size() + self.bs() as u64);
        self.write_inode(dir)?;
        Ok((lblk, pblk))
    }

    /// Splits full leaf `leaf` (at its block, with its contents) under `parent` (which has room) by hash and
    /// puts `new` (whose hash is `hash` under `version`) into the half it belongs to.
    fn dx_split_leaf(
        &mut self,
        dir: &mut Inode,
        map: &mut FileMap,
        parent: &mut Node,
        (pblk, buf): (u64, Vec<u8>),
        (version, hash): (u8, u32),
        new: NewEntry,
    ) -> Result<()> {
        let mut live = Vec::new();
        for e in self.parse_block(&buf, self.entries_limit())? {
            if e.ino != 0 {
                live.push((self.name_hash(version, &buf[e.off + 8..e.off + 8 + e.name_len])?, e));
            }
        }
        live.sort_by_key(|(h, _)| *h);
        let count = live.len();
        if count < 2 {
            return Err(Error::Corrupt("htree leaf cannot be split"));
        }
        // Move entries from the top while more than half of each lies in the upper half of the block
        // (by count if that moves all or all but one).
        let half = self.bs() / 2;
        let (mut size, mut moved) = (0, 0);
        for (_, e) in live.iter().rev() {
            let s = rec_len_for(e.name_len);
            if size + s / 2 > half {
                break;
            }
            size += s;
            moved += 1;
        }
        let split = if moved + 1 < count { count - moved } else { count / 2 };
        let hash2 = live[split].0;
        let continued = hash2 == live[split - 1].0;
        let (low, high) = live.split_at(split);
        let mut b = self.pack_leaf(&buf, high);
        // The entries that stay keep their offsets (listing positions), unless the new one fits only when
        // they are packed.
        let mut a = self.drop_entries(&buf, high)?;
        let placed = if hash >= hash2 {
            self.place_entry(&mut b, new.name, new.ino, new.kind)?
        } else if self.place_entry(&mut a, new.name, new.ino, new.kind)? {
            true
        } else {
            a = self.pack_leaf(&buf, low);
            self.place_entry(&mut a, new.name, new.ino, new.kind)?
        };
        if !placed {
            return Err(Error::NoSpace);
        }
        let (new_lblk, new_pblk) = self.dx_grow(dir, map)?;
        self.write_dir_block(dir, new_pblk, &mut b)?;
        self.write_dir_block(dir, pblk, &mut a)?;
        let at = parent.level.at + 1;
        dx_insert(&mut parent.level, at, hash2 | continued as u32, new_lblk);
        self.write_dx_block(dir, parent.pblk, &mut parent.level)
    }

    /// A new interior node holding the entries of `src` from `from` on (entry `from`'s block becomes its
    /// entry 0).
    fn dx_new_node(&self, src: &Level, from: usize) -> Level {
        let bs = self.bs();
        let limit = dx_limit(bs, false, self.sb.metadata_csum());
        let mut buf = vec![0u8; bs];
        put16(&mut buf, 4, self.encode_rec_len(bs));
        put16(&mut buf, NODE_ENTRIES, limit as u16);
        let s = src.off + 8 * from;
        buf[NODE_ENTRIES + 4..NODE_ENTRIES + 8].copy_from_slice(&src.buf[s + 4..s + 8]);
        let rest = &src.buf[s + 8..src.off + 8 * src.count];
        buf[NODE_ENTRIES + 8..NODE_ENTRIES + 8 + rest.len()].copy_from_slice(rest);
        Level {
            buf,
            off: NODE_ENTRIES,
            count: src.count - from,
            limit,
            at: 0,
        }
    }

    /// Splits full interior node `node` in two, adding the upper half's entry to `parent` (which has room).
    fn dx_split_node(&mut self, dir: &mut Inode, map: &mut FileMap, parent: &mut Node, node: &mut Node) -> Result<()> {
        let half = node.level.count / 2;
        let hash2 = node.level.hash(half);
        let mut upper = self.dx_new_node(&node.level, half);
        let (lblk, pblk) = self.dx_grow(dir, map)?;
        self.write_dx_block(dir, pblk, &mut upper)?;
        node.level.count = half;
        self.write_dx_block(dir, node.pblk, &mut node.level)?;
        let at = parent.level.at + 1;
        dx_insert(&mut parent.level, at, hash2, lblk);
        self.write_dx_block(dir, parent.pblk, &mut parent.level)
    }

    /// Moves the full root's entries into a new interior node, the root's only entry (one more level).
    fn dx_add_level(&mut self, dir: &mut Inode, map: &mut FileMap, root: &mut Node) -> Result<()> {
        let mut node = self.dx_new_node(&root.level, 0);
        let (lblk, pblk) = self.dx_grow(dir, map)?;
        self.write_dx_block(dir, pblk, &mut node)?;
        let r = &mut root.level;
        r.count = 1;
        put32(&mut r.buf, r.off + 4, lblk);
        r.buf[30] += 1;
        self.write_dx_block(dir, root.pblk, r)
    }

    /// Turns full one-block directory `dir` into an indexed one, as Linux's `make_indexed_dir`: its entries
    /// move to new leaf block 1 and block 0 becomes the root (`.`, `..`, one index entry). Whether it did:
    /// not without `dir_index`, a known default hash, and `.` and `..` where Linux puts them.
    pub(crate) fn make_indexed(&mut self, dir: &mut Inode, map: &mut FileMap) -> Result<bool> {
        let version = self.sb.def_hash_version();
        if !self.sb.has_compat(compat::DIR_INDEX) || version > dxhash::TEA || dir.flags() & INDEX_FL != 0 {
            return Ok(false);
        }
        let bs = self.bs();
        let pblk = self.dir_pblk(dir, map, 0)?;
        let buf = self.read_leaf(dir, pblk)?;
        let entries = self.parse_block(&buf, self.entries_limit())?;
        if entries.len() < 2
            || entries[0].rec_len != 12
            || entries[0].name_len != 1
            || buf[8] != b'.'
            || entries[0].ino != dir.ino
            || entries[1].name_len != 2
            || buf[20..22] != *b".."
        {
            return Ok(false);
        }
        let live: Vec<(u32, Raw)> = entries
            .into_iter()
            .skip(2)
            .filter(|e| e.ino != 0)
            .map(|e| (0, e))
            .collect();
        let mut leaf = self.pack_leaf(&buf, &live);
        let mut root = vec![0u8; bs];
        root[..24].copy_from_slice(&buf[..24]);
        put16(&mut root, 16, self.encode_rec_len(bs - 12));
        root[28] = version;
        root[29] = 8;
        let limit = dx_limit(bs, true, self.sb.metadata_csum());
        put16(&mut root, ROOT_ENTRIES, limit as u16);
        let (lblk, leaf_pblk) = self.dx_grow(dir, map)?;
        put32(&mut root, ROOT_ENTRIES + 4, lblk);
        self.write_dir_block(dir, leaf_pblk, &mut leaf)?;
        let mut level = Level {
            buf: root,
            off: ROOT_ENTRIES,
            count: 1,
            limit,
            at: 0,
        };
        self.write_dx_block(dir, pblk, &mut level)?;
        dir.set_flags(dir.flags() | INDEX_FL);
        Ok(true)
    }

    /// Writes root block `buf` (at `pblk`) of indexed directory `dir`, whose `.` or `..` changed, with its
    /// index checksum (the caller checked the root before the change).
    pub(crate) fn write_dx_root(&mut self, dir: &Inode, pblk: u64, buf: Vec<u8>) -> Result<()> {
        let (limit, count) = (
            u16::from_le_bytes([buf[ROOT_ENTRIES], buf[ROOT_ENTRIES + 1]]) as usize,
            u16::from_le_bytes([buf[ROOT_ENTRIES + 2], buf[ROOT_ENTRIES + 3]]) as usize,
        );
        let mut level = Level {
            buf,
            off: ROOT_ENTRIES,
            count,
            limit,
            at: 0,
        };
        self.write_dx_block(dir, pblk, &mut level)
    }
}
