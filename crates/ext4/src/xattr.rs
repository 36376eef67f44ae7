//! Extended attributes on disk, laid out as Linux's `fs/ext4/xattr.c` lays them out.
//!
//! An inode's attributes live in two places: the space after `i_extra_isize` in a large inode record (a
//! 4-byte magic `0xEA020000`, then the entries; value offsets count from the first entry) and one external
//! block named by `i_file_acl` (a 32-byte header with the magic, a reference count, `h_blocks` = 1, a hash of
//! the entries' hashes and a `metadata_csum` checksum seeded with the block number; entries from byte 32,
//! sorted by (name index, name length, name) since Linux binary-searches them; value offsets count from the
//! block's start). In both, an entry is 16 bytes and the name suffix padded to 4 bytes, the list ends with 4
//! zero bytes, and values (padded to 4 bytes) are packed from the end downwards. Names are a namespace index
//! (user 1, `system.posix_acl_access` 2, `system.posix_acl_default` 3, trusted 4, security 6) and a suffix.
//!
//! Writes follow Linux's placement: a value goes into the inode when it fits, else into the block; a block
//! shared by several inodes (reference count above 1) is copied before it changes; the block is freed with
//! its last entry (or its last user). Values kept in their own inodes (`ea_inode`) are refused as
//! [`Error::Unsupported`]; a value that fits neither place is [`Error::NoSpace`]. Every offset and size read
//! from the disk is checked: a bad one is [`Error::Corrupt`].

use crate::bytes::{le16, le32, put16, put32};
use crate::csum::crc32c;
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::inode::{Ino, Inode};
use alloc::vec::Vec;

/// The magic of the in-inode area and of an attribute block.
const MAGIC: u32 = 0xEA02_0000;
/// Size of an attribute block's header (entries start after it).
const BLOCK_HEADER: usize = 32;
/// Size of an entry without its name.
const ENTRY: usize = 16;
/// Offset of `h_checksum` in a block's header.
const CSUM_OFF: usize = 0x10;
/// The largest value Linux keeps (`XATTR_SIZE_MAX`).
const VALUE_MAX: u32 = 65536;

/// The name prefixes of the namespace indexes, and whether the suffix is the whole name (ACLs).
const PREFIXES: [(u8, &[u8], bool); 5] = [
    (1, b"user.", false),
    (2, b"system.posix_acl_access", true),
    (3, b"system.posix_acl_default", true),
    (4, b"trusted.", false),
    (6, b"security.", false),
];

/// How `setxattr` treats an existing attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XattrMode {
    /// Create it or replace it.
    Any,
    /// `XATTR_CREATE`: fail with [`Error::Exists`] if it exists.
    Create,
    /// `XATTR_REPLACE`: fail with [`Error::NoData`] unless it exists.
    Replace,
}

/// One attribute as stored: namespace index, name suffix, value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr {
    index: u8,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Attr {
    /// The full name (`user.foo`), or `None` for an index this crate does not name (or a name [`split`]
    /// would refuse: an ACL's with a suffix, another's without).
    fn full_name(&self) -> Option<Vec<u8>> {
        let (_, prefix, whole) = PREFIXES.iter().find(|(i, _, _)| *i == self.index)?;
        if *whole != self.name.is_empty() {
            return None;
        }
        let mut n = prefix.to_vec();
        n.extend_from_slice(&self.name);
        Some(n)
    }
    fn is(&self, index: u8, name: &[u8]) -> bool {
        self.index == index && self.name == name
    }
    /// Bytes it takes: the entry with its padded name, and its padded value.
    fn space(&self) -> usize {
        entry_len(self.name.len()) + pad(self.value.len())
    }
}

/// The stored form of a full name: (index, suffix). Unknown prefixes are [`Error::Unsupported`].
fn split(name: &[u8]) -> Result<(u8, &[u8])> {
    for (index, prefix, whole) in PREFIXES {
        if whole && name == prefix {
            return Ok((index, &[]));
        }
        if !whole && name.len() > prefix.len() && name.starts_with(prefix) {
            let suffix = &name[prefix.len()..];
            if suffix.len() > 255 || suffix.contains(&0) {
                return Err(Error::InvalidArgument);
            }
            return Ok((index, suffix));
        }
    }
    Err(Error::Unsupported("extended attribute namespace"))
}

/// `EXT4_XATTR_LEN`: an entry with its name, padded to 4 bytes.
fn entry_len(name_len: usize) -> usize {
    (ENTRY + name_len + 3) & !3
}

/// `EXT4_XATTR_SIZE`: a value padded to 4 bytes.
fn pad(len: usize) -> usize {
    (len + 3) & !3
}

/// Bytes `attrs` need in an area: entries, the 4-byte end marker and values.
fn needed(attrs: &[Attr]) -> usize {
    attrs.iter().map(Attr::space).sum::<usize>() + 4
}

/// `ext4_xattr_hash_entry`: the hash of a name and of the padded value's little-endian words.
fn entry_hash(name: &[u8], padded_value: &[u8]) -> u32 {
    let mut h = 0u32;
    for &b in name {
        h = (h << 5) ^ (h >> 27) ^ b as u32;
    }
    for w in padded_value.chunks_exact(4) {
        h = (h << 16) ^ (h >> 16) ^ le32(w, 0);
    }
    h
}

/// Parses the entries of an area: `area` holds the entries from `first` and the values (offsets from the
/// area's start), as Linux's `check_xattrs` checks them.
fn parse(area: &[u8], first: usize) -> Result<Vec<Attr>> {
    // The names first: every entry and the end marker inside the area.
    let mut pos = first;
    let mut heads = Vec::new();
    loop {
        if pos + 4 > area.len() {
            return Err(Error::Corrupt("extended attribute list runs out of its area"));
        }
        if le32(area, pos) == 0 {
            break;
        }
        if pos + ENTRY > area.len() {
            return Err(Error::Corrupt("extended attribute entry out of bounds"));
        }
        let next = pos + entry_len(area[pos] as usize);
        if next + 4 > area.len() {
            return Err(Error::Corrupt("extended attribute name out of bounds"));
        }
        heads.push(pos);
        pos = next;
    }
    let names_end = pos + 4;
    let mut attrs = Vec::new();
    attrs.try_reserve(heads.len()).map_err(|_| Error::NoMemory)?;
    for at in heads {
        let name = &area[at + ENTRY..at + ENTRY + area[at] as usize];
        if name.contains(&0) {
            return Err(Error::Corrupt("extended attribute name holds a NUL"));
        }
        if le32(area, at + 4) != 0 {
            return Err(Error::Unsupported(
                "extended attribute value in its own inode (ea_inode)",
            ));
        }
        let size = le32(area, at + 8);
        if size > VALUE_MAX {
            return Err(Error::Corrupt("extended attribute value too large"));
        }
        let value = if size == 0 {
            Vec::new()
        } else {
            let offs = le16(area, at + 2) as usize;
            let size = size as usize;
            if offs < names_end || offs + pad(size) > area.len() {
                return Err(Error::Corrupt("extended attribute value out of bounds"));
            }
            area[offs..offs + size].to_vec()
        };
        attrs.push(Attr {
            index: area[at + 1],
            name: name.to_vec(),
            value,
        });
    }
    Ok(attrs)
}

/// Writes `attrs` into `area` (zeroed first): entries from `first`, values packed from the end, offsets from
/// the area's start. With `hash`, entries get their hash (a block's), else 0 (the inode's, as Linux). The
/// caller checked that they fit.
fn lay_out(area: &mut [u8], first: usize, attrs: &[Attr], hash: bool) {
    area[first..].fill(0);
    let mut pos = first;
    let mut min = area.len();
    for a in attrs {
        let n = a.name.len();
        area[pos] = n as u8;
        area[pos + 1] = a.index;
        area[pos + ENTRY..pos + ENTRY + n].copy_from_slice(&a.name);
        if !a.value.is_empty() {
            min -= pad(a.value.len());
            area[min..min + a.value.len()].copy_from_slice(&a.value);
            put16(area, pos + 2, min as u16);
        }
        put32(area, pos + 8, a.value.len() as u32);
        if hash {
            let h = match a.value.len() {
                0 => entry_hash(&a.name, &[]),
                len => entry_hash(&a.name, &area[min..min + pad(len)]),
            };
            put32(area, pos + 12, h);
        }
        pos += entry_len(n);
    }
}

/// `ext4_xattr_rehash`: the block hash over the entries' hashes (0 if any entry's is 0).
fn block_hash(attrs_area: &[u8]) -> u32 {
    let mut h = 0u32;
    let mut pos = BLOCK_HEADER;
    while pos + ENTRY <= attrs_area.len() && le32(attrs_area, pos) != 0 {
        let e = le32(attrs_area, pos + 12);
        if e == 0 {
            return 0;
        }
        h = (h << 16) ^ (h >> 16) ^ e;
        pos += entry_len(attrs_area[pos] as usize);
    }
    h
}

/// Where an inode's attributes are and what they are.
struct Stored {
    /// The in-inode area (byte range of the record), if the record has room for one.
    body_range: Option<(usize, usize)>,
    /// The in-inode attributes, in their order.
    body: Vec<Attr>,
    /// The block (0 if none), its reference count and attributes (sorted).
    block: u64,
    refs: u32,
    in_block: Vec<Attr>,
}

/// Inserts `a` into `attrs` in the order Linux keeps in blocks: index, name length, name.
fn insert_sorted(attrs: &mut Vec<Attr>, a: Attr) {
    let key = |x: &Attr| (x.index, x.name.len(), x.name.clone());
    let k = key(&a);
    let at = attrs.iter().position(|x| key(x) >= k).unwrap_or(attrs.len());
    attrs.insert(at, a);
}

impl<D: BlockDevice> Fs<D> {
    /// The in-inode attribute area of `inode` (byte range of its record), if it has room for one, as Linux's
    /// `EXT4_INODE_HAS_XATTR_SPACE`.
    fn body_range(inode: &Inode) -> Result<Option<(usize, usize)>> {
        let len = inode.raw.len();
        if len <= 128 {
            return Ok(None);
        }
        let extra = le16(&inode.raw, 0x80) as usize;
        if extra == 0 {
            return Ok(None);
        }
        if !extra.is_multiple_of(4) || 128 + extra > len {
            return Err(Error::Corrupt("inode extra size"));
        }
        let start = 128 + extra;
        Ok((start + 4 + 3 < len).then_some((start, len)))
    }

    /// The checksum of attribute block `block` (its header's checksum field taken as 0).
    fn xattr_block_csum(&self, block: u64, buf: &[u8]) -> u32 {
        let c = crc32c(self.sb.csum_seed, &block.to_le_bytes());
        let c = crc32c(c, &buf[..CSUM_OFF]);
        let c = crc32c(c, &[0; 4]);
        crc32c(c, &buf[CSUM_OFF + 4..])
    }

    /// Reads and checks attribute block `block`.
    fn read_xattr_block(&mut self, block: u64) -> Result<Vec<u8>> {
        let mut buf = crate::bytes::zeroed(self.bs())?;
        self.read_blocks(block, &mut buf)?;
        if le32(&buf, 0) != MAGIC || le32(&buf, 8) != 1 {
            return Err(Error::Corrupt("extended attribute block header"));
        }
        if self.sb.metadata_csum() && le32(&buf, CSUM_OFF) != self.xattr_block_csum(block, &buf) {
            return Err(Error::Corrupt("extended attribute block checksum"));
        }
        Ok(buf)
    }

    /// Reads both places of `inode`'s attributes.
    fn load_xattrs(&mut self, inode: &Inode) -> Result<Stored> {
        let body_range = Self::body_range(inode)?;
        let body = match body_range {
            Some((start, end)) if le32(&inode.raw, start) == MAGIC => parse(&inode.raw[start + 4..end], 0)?,
            _ => Vec::new(),
        };
        let block = inode.file_acl();
        let (refs, in_block) = if block == 0 {
            (0, Vec::new())
        } else {
            let buf = self.read_xattr_block(block)?;
            (le32(&buf, 4), parse(&buf, BLOCK_HEADER)?)
        };
        Ok(Stored {
            body_range,
            body,
            block,
            refs,
            in_block,
        })
    }

    /// The names of `ino`'s extended attributes (in-inode ones first, as Linux lists them); attributes of
    /// namespaces this crate does not name are left out.
    pub fn xattr_names(&mut self, ino: Ino) -> Result<Vec<Vec<u8>>> {
        let inode = self.read_live_inode(ino)?;
        let s = self.load_xattrs(&inode)?;
        Ok(s.body.iter().chain(&s.in_block).filter_map(Attr::full_name).collect())
    }

    /// The value of `ino`'s attribute `name` ([`Error::NoData`] if it has none).
    pub fn xattr_get(&mut self, ino: Ino, name: &[u8]) -> Result<Vec<u8>> {
        let (index, suffix) = split(name)?;
        let inode = self.read_live_inode(ino)?;
        let s = self.load_xattrs(&inode)?;
        s.body
            .into_iter()
            .chain(s.in_block)
            .find(|a| a.is(index, suffix))
            .map(|a| a.value)
            .ok_or(Error::NoData)
    }

    /// Sets `ino`'s attribute `name` to `value` under `mode` (`setxattr`), updating the change time.
    pub fn xattr_set(&mut self, ino: Ino, name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        if value.len() > VALUE_MAX as usize {
            return Err(Error::NoSpace);
        }
        self.change_xattr(ino, name, Some(value), mode)
    }

    /// Removes `ino`'s attribute `name` (`removexattr`; [`Error::NoData`] if it has none), updating the
    /// change time.
    pub fn xattr_remove(&mut self, ino: Ino, name: &[u8]) -> Result<()> {
        self.change_xattr(ino, name, None, XattrMode::Replace)
    }

    /// Sets (`Some`) or removes (`None`) an attribute and writes what changed.
    fn change_xattr(&mut self, ino: Ino, name: &[u8], value: Option<&[u8]>, mode: XattrMode) -> Result<()> {
        self.check_writable()?;
        let (index, suffix) = split(name)?;
        let mut inode = self.read_live_inode(ino)?;
        let mut s = self.load_xattrs(&inode)?;
        let in_body = s.body.iter().position(|a| a.is(index, suffix));
        let in_block = s.in_block.iter().position(|a| a.is(index, suffix));
        match (mode, in_body.is_some() || in_block.is_some()) {
            (XattrMode::Create, true) => return Err(Error::Exists),
            (XattrMode::Replace, false) => return Err(Error::NoData),
            _ => {}
        }
        let (old_body, old_block) = (s.body.clone(), s.in_block.clone());
        if let Some(i) = in_body {
            s.body.remove(i);
        }
        if let Some(i) = in_block {
            s.in_block.remove(i);
        }
        if let Some(value) = value {
            let a = Attr {
                index,
                name: suffix.to_vec(),
                value: value.to_vec(),
            };
            // Linux tries the inode first, then the block.
            let body_room = s.body_range.map_or(0, |(start, end)| end - start - 4);
            if needed(&s.body) + a.space() <= body_room {
                s.body.insert(in_body.unwrap_or(s.body.len()), a);
            } else {
                insert_sorted(&mut s.in_block, a);
                if BLOCK_HEADER + needed(&s.in_block) > self.bs() {
                    return Err(Error::NoSpace);
                }
            }
        }
        if s.in_block != old_block {
            self.store_xattr_block(&mut inode, &s)?;
        }
        if s.body != old_body
            && let Some((start, end)) = s.body_range
        {
            let magic = if s.body.is_empty() { 0 } else { MAGIC };
            put32(&mut inode.raw, start, magic);
            lay_out(&mut inode.raw[start + 4..end], 0, &s.body, false);
        }
        let now = self.now();
        inode.set_ctime(now);
        self.write_inode(&mut inode)
    }

    /// Writes the block part of `s` for `inode`: in place when the block is its own, else into a new block
    /// (the shared one loses a reference); none when it is empty. The caller writes the inode.
    fn store_xattr_block(&mut self, inode: &mut Inode, s: &Stored) -> Result<()> {
        if s.in_block.is_empty() {
            return self.release_xattr_block(inode);
        }
        let mut buf = crate::bytes::zeroed(self.bs())?;
        lay_out(&mut buf, BLOCK_HEADER, &s.in_block, true);
        put32(&mut buf, 0, MAGIC);
        put32(&mut buf, 4, 1);
        put32(&mut buf, 8, 1);
        let h = block_hash(&buf);
        put32(&mut buf, 0xC, h);
        let own = s.block != 0 && s.refs <= 1;
        let block = if own {
            s.block
        } else {
            self.alloc_blocks(self.inode_goal(inode.ino), 1)?.0
        };
        if self.sb.metadata_csum() {
            let c = self.xattr_block_csum(block, &buf);
            put32(&mut buf, CSUM_OFF, c);
        }
        if let Err(e) = self.write_blocks(block, &buf) {
            if !own {
                let _ = self.free_blocks(block, 1);
            }
            return Err(e);
        }
        if !own {
            // Copy on write: the shared block (if any) loses this inode's reference.
            self.release_xattr_block(inode)?;
            inode.set_file_acl(block);
            let sectors = inode.sectors(self.sb.block_size) + self.bs() as u64 / 512;
            inode.set_sectors(sectors);
        }
        Ok(())
    }

    /// Drops `inode`'s reference to its attribute block, freeing the block with its last user (the caller
    /// writes the inode).
    pub(crate) fn release_xattr_block(&mut self, inode: &mut Inode) -> Result<()> {
        let b = inode.file_acl();
        if b == 0 {
            return Ok(());
        }
        let mut buf = crate::bytes::zeroed(self.bs())?;
        self.read_blocks(b, &mut buf)?;
        if le32(&buf, 0) != MAGIC {
            return Err(Error::Corrupt("extended attribute block magic"));
        }
        let refs = le32(&buf, 4);
        if refs <= 1 {
            self.free_blocks(b, 1)?;
        } else {
            put32(&mut buf, 4, refs - 1);
            if self.sb.metadata_csum() {
                let c = self.xattr_block_csum(b, &buf);
                put32(&mut buf, CSUM_OFF, c);
            }
            self.write_blocks(b, &buf)?;
        }
        inode.set_file_acl(0);
        let s = inode
            .sectors(self.sb.block_size)
            .saturating_sub(self.sb.block_size as u64 / 512);
        inode.set_sectors(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn attr(index: u8, name: &[u8], value: &[u8]) -> Attr {
        Attr {
            index,
            name: name.to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn names_split_into_indexes() {
        assert_eq!(split(b"user.a"), Ok((1, &b"a"[..])));
        assert_eq!(split(b"trusted.x"), Ok((4, &b"x"[..])));
        assert_eq!(split(b"security.capability"), Ok((6, &b"capability"[..])));
        assert_eq!(split(b"system.posix_acl_access"), Ok((2, &b""[..])));
        assert_eq!(split(b"system.posix_acl_default"), Ok((3, &b""[..])));
        assert!(split(b"system.other").is_err());
        assert!(split(b"user.").is_err());
        assert!(split(b"foo.bar").is_err());
        assert_eq!(
            attr(6, b"capability", b"").full_name(),
            Some(b"security.capability".to_vec())
        );
        assert_eq!(attr(2, b"", b"").full_name(), Some(b"system.posix_acl_access".to_vec()));
        assert_eq!(attr(7, b"data", b"").full_name(), None);
        assert_eq!(attr(1, b"", b"").full_name(), None);
        assert_eq!(attr(3, b"x", b"").full_name(), None);
    }

    #[test]
    fn layouts_parse_back_and_values_pack_from_the_end() {
        let attrs = vec![attr(1, b"a", b"hello"), attr(4, b"bb", b""), attr(6, b"ccc", &[7; 9])];
        let mut area = vec![0u8; 256];
        lay_out(&mut area, BLOCK_HEADER, &attrs, true);
        assert_eq!(parse(&area, BLOCK_HEADER).unwrap(), attrs);
        // The first value sits at the very end, padded: "hello" takes 8 bytes.
        assert_eq!(le16(&area, BLOCK_HEADER + 2), 248);
        assert_eq!(&area[248..253], b"hello");
        // An empty value has offset 0.
        assert_eq!(le16(&area, BLOCK_HEADER + entry_len(1) + 2), 0);
        assert_eq!(needed(&attrs), entry_len(1) + 8 + entry_len(2) + entry_len(3) + 12 + 4);
    }

    #[test]
    fn entry_hash_matches_linux() {
        // By hand: name "a" gives 0x61; then the word "hi\0\0" = 0x6968: (0x61 << 16) ^ 0 ^ 0x6968.
        assert_eq!(entry_hash(b"a", b"hi\0\0"), 0x0061_6968);
        assert_eq!(entry_hash(b"ab", &[]), (0x61 << 5) ^ 0x62);
    }

    #[test]
    fn hostile_areas_are_errors() {
        let attrs = vec![attr(1, b"name", b"value")];
        let mut area = vec![0u8; 128];
        lay_out(&mut area, 0, &attrs, false);
        // Value offset into the names, past the end, and a huge size.
        let mut bad = area.clone();
        put16(&mut bad, 2, 4);
        assert!(parse(&bad, 0).is_err());
        let mut bad = area.clone();
        put16(&mut bad, 2, 126);
        assert!(parse(&bad, 0).is_err());
        let mut bad = area.clone();
        put32(&mut bad, 8, u32::MAX);
        assert!(parse(&bad, 0).is_err());
        // A name running off the end, and no end marker.
        let mut bad = area.clone();
        bad[0] = 255;
        assert!(parse(&bad, 0).is_err());
        assert!(parse(&[1u8; 40], 0).is_err());
        // A value in its own inode.
        let mut bad = area.clone();
        put32(&mut bad, 4, 12);
        assert_eq!(
            parse(&bad, 0),
            Err(Error::Unsupported(
                "extended attribute value in its own inode (ea_inode)"
            ))
        );
        // Every single-byte change parses or fails, never panics.
        for i in 0..area.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = area.clone();
                b[i] = v;
                let _ = parse(&b, 0);
            }
        }
    }

    #[test]
    fn blocks_sort_entries_as_linux_searches_them() {
        let mut v = Vec::new();
        insert_sorted(&mut v, attr(6, b"a", b""));
        insert_sorted(&mut v, attr(1, b"zz", b""));
        insert_sorted(&mut v, attr(1, b"b", b""));
        insert_sorted(&mut v, attr(1, b"a", b""));
        let keys: Vec<_> = v.iter().map(|a| (a.index, a.name.clone())).collect();
        assert_eq!(
            keys,
            vec![
                (1, b"a".to_vec()),
                (1, b"b".to_vec()),
                (1, b"zz".to_vec()),
                (6, b"a".to_vec())
            ]
        );
    }
}
