//! JBD2 journal recovery: the three passes of Linux's `jbd2_journal_recover` (scan for committed
//! transactions, collect revoke records, write the logged blocks home), with descriptor, commit, revoke and
//! data-block checksums (v2 and v3) verified. This crate writes in place and never logs new transactions.

use crate::bytes::{be32, put_be32};
use crate::csum::crc32c;
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::file::{Mapped, ReadMap};
use crate::fs::Fs;
use crate::inode::Inode;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

const MAGIC: u32 = 0xC03B_3998;
const DESCRIPTOR: u32 = 1;
const COMMIT: u32 = 2;
const SB_V1: u32 = 3;
const SB_V2: u32 = 4;
const REVOKE: u32 = 5;

const INCOMPAT_REVOKE: u32 = 0x1;
const INCOMPAT_64BIT: u32 = 0x2;
const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
const INCOMPAT_CSUM_V2: u32 = 0x8;
const INCOMPAT_CSUM_V3: u32 = 0x10;

const TAG_ESCAPE: u32 = 1;
const TAG_SAME_UUID: u32 = 2;
const TAG_LAST: u32 = 8;

/// The journal being recovered.
struct Journal {
    inode: Inode,
    map: ReadMap,
    bs: usize,
    maxlen: u32,
    first: u32,
    incompat: u32,
    seed: u32,
}

impl Journal {
    fn csum(&self) -> bool {
        self.incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0
    }
    fn tag_bytes(&self) -> usize {
        if self.incompat & INCOMPAT_CSUM_V3 != 0 {
            return 16;
        }
        let mut sz = 12;
        if self.incompat & INCOMPAT_CSUM_V2 != 0 {
            sz += 2;
        }
        if self.incompat & INCOMPAT_64BIT == 0 {
            sz -= 4;
        }
        sz
    }
    fn wrap(&self, b: u32) -> u32 {
        if b >= self.maxlen {
            self.first + (b - self.maxlen)
        } else {
            b
        }
    }
    /// Verifies a block whose checksum sits in a 4-byte tail (descriptor, revoke).
    fn tail_ok(&self, buf: &mut [u8]) -> bool {
        if !self.csum() {
            return true;
        }
        let t = self.bs - 4;
        let stored = be32(buf, t);
        put_be32(buf, t, 0);
        let c = crc32c(self.seed, buf);
        put_be32(buf, t, stored);
        c == stored
    }
    fn commit_ok(&self, buf: &mut [u8]) -> bool {
        if !self.csum() {
            return true;
        }
        let stored = be32(buf, 16);
        put_be32(buf, 16, 0);
        let c = crc32c(self.seed, buf);
        put_be32(buf, 16, stored);
        c == stored
    }
}

/// One tag of a descriptor block.
struct Tag {
    block: u64,
    flags: u32,
    csum: u32,
}

/// Parses the tags of a descriptor block.
fn parse_tags(j: &Journal, buf: &[u8]) -> Result<Vec<Tag>> {
    let tb = j.tag_bytes();
    let end = if j.csum() { j.bs - 4 } else { j.bs };
    let mut off = 12;
    let mut tags = Vec::new();
    while off + tb <= end {
        let (flags, csum) = if j.incompat & INCOMPAT_CSUM_V3 != 0 {
            (be32(buf, off + 4), be32(buf, off + 12))
        } else {
            ((be32(buf, off + 4) & 0xFFFF), be32(buf, off + 4) >> 16)
        };
        let mut block = be32(buf, off) as u64;
        if j.incompat & INCOMPAT_64BIT != 0 {
            block |= (be32(buf, off + 8) as u64) << 32;
        }
        tags.push(Tag { block, flags, csum });
        off += tb;
        if flags & TAG_SAME_UUID == 0 {
            off += 16;
        }
        if flags & TAG_LAST != 0 {
            return Ok(tags);
        }
    }
    if tags.is_empty() {
        return Err(Error::Corrupt("journal descriptor without tags"));
    }
    Ok(tags)
}

impl<D: BlockDevice> Fs<D> {
    fn journal_read(&mut self, j: &mut Journal, lblk: u32, buf: &mut [u8]) -> Result<()> {
        match self.map_read(&j.inode, &mut j.map, lblk)? {
            Mapped::Data { pblk, .. } => self.read_blocks(pblk, buf),
            _ => Err(Error::Corrupt("hole in the journal")),
        }
    }

    fn journal_write(&mut self, j: &mut Journal, lblk: u32, buf: &[u8]) -> Result<()> {
        match self.map_read(&j.inode, &mut j.map, lblk)? {
            Mapped::Data { pblk, .. } => self
                .dev
                .write(pblk * self.sb.block_size as u64, buf)
                .map_err(|_| Error::Io),
            _ => Err(Error::Corrupt("hole in the journal")),
        }
    }

    /// Replays the journal if it holds committed transactions, then marks it empty.
    pub(crate) fn replay_journal(&mut self) -> Result<()> {
        let ino = self.sb.journal_inum();
        if ino == 0 {
            return Err(Error::Corrupt("recovery flag without a journal"));
        }
        let inode = self.read_inode(ino)?;
        let map = self.read_map(&inode)?;
        let bs = self.bs();
        let mut sbuf = vec![0u8; bs];
        let mut j = Journal {
            inode,
            map,
            bs,
            maxlen: 0,
            first: 0,
            incompat: 0,
            seed: 0,
        };
        self.journal_read(&mut j, 0, &mut sbuf)?;
        let btype = be32(&sbuf, 4);
        if be32(&sbuf, 0) != MAGIC || (btype != SB_V1 && btype != SB_V2) {
            return Err(Error::Corrupt("journal superblock magic"));
        }
        let start = be32(&sbuf, 0x1C);
        if start == 0 {
            // Empty: nothing to replay, whatever features the journal has.
            return Ok(());
        }
        if be32(&sbuf, 0xC) as usize != bs {
            return Err(Error::Unsupported("journal block size differs from the file system's"));
        }
        j.maxlen = be32(&sbuf, 0x10);
        j.first = be32(&sbuf, 0x14);
        if btype == SB_V2 {
            j.incompat = be32(&sbuf, 0x28);
        }
        if j.incompat
            & !(INCOMPAT_REVOKE | INCOMPAT_64BIT | INCOMPAT_ASYNC_COMMIT | INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3)
            != 0
        {
            return Err(Error::Unsupported("journal feature (fast commit or unknown)"));
        }
        if (j.inode.size() / bs as u64) < j.maxlen as u64 || j.first == 0 || j.first >= j.maxlen {
            return Err(Error::Corrupt("journal geometry"));
        }
        if j.csum() {
            let stored = be32(&sbuf, 0xFC);
            put_be32(&mut sbuf, 0xFC, 0);
            if crc32c(!0, &sbuf[..1024]) != stored {
                return Err(Error::Corrupt("journal superblock checksum mismatch"));
            }
            put_be32(&mut sbuf, 0xFC, stored);
            j.seed = crc32c(!0, &sbuf[0x30..0x40]);
        }
        let first_seq = be32(&sbuf, 0x18);
        if start < j.first || start >= j.maxlen {
            return Err(Error::Corrupt("journal start"));
        }
        let end_seq = self.journal_pass(&mut j, start, first_seq, None, None)?;
        self.journal_pass(&mut j, start, first_seq, Some(end_seq), None)?;
        put_be32(&mut sbuf, 0x18, end_seq.wrapping_add(1));
        put_be32(&mut sbuf, 0x1C, 0);
        if j.csum() {
            put_be32(&mut sbuf, 0xFC, 0);
            let c = crc32c(!0, &sbuf[..1024]);
            put_be32(&mut sbuf, 0xFC, c);
        }
        self.journal_write(&mut j, 0, &sbuf)?;
        self.dev.flush().map_err(|_| Error::Io)
    }

    /// One pass over the log from `start`. Without `end` it scans and returns the first sequence that is not
    /// a complete, valid transaction. With `end` and `revoked` it collects revoke records; with `end` alone it
    /// collects them itself, then writes the logged blocks that are not revoked home.
    fn journal_pass(
        &mut self,
        j: &mut Journal,
        start: u32,
        mut seq: u32,
        end: Option<u32>,
        mut revoked: Option<&mut BTreeMap<u64, u32>>,
    ) -> Result<u32> {
        let bs = j.bs;
        let mut buf = vec![0u8; bs];
        let mut data = vec![0u8; bs];
        let mut next = start;
        let replay_revokes = revoked.is_none() && end.is_some();
        let mut revokes = BTreeMap::new();
        if replay_revokes {
            self.journal_pass(j, start, seq, end, Some(&mut revokes))?;
        }
        for _ in 0..j.maxlen as u64 * 2 {
            if end == Some(seq) {
                return Ok(seq);
            }
            self.journal_read(j, next, &mut buf)?;
            next = j.wrap(next + 1);
            if be32(&buf, 0) != MAGIC || be32(&buf, 8) != seq {
                return Ok(seq);
            }
            match be32(&buf, 4) {
                DESCRIPTOR => {
                    if end.is_none() && !j.tail_ok(&mut buf) {
                        return Ok(seq);
                    }
                    let tags = parse_tags(j, &buf)?;
                    for tag in tags {
                        let at = next;
                        next = j.wrap(next + 1);
                        if !replay_revokes {
                            continue;
                        }
                        if revokes
                            .get(&tag.block)
                            .is_some_and(|&r: &u32| r.wrapping_sub(seq) as i32 >= 0)
                        {
                            continue;
                        }
                        self.journal_read(j, at, &mut data)?;
                        if j.csum() {
                            let c = crc32c(crc32c(j.seed, &seq.to_be_bytes()), &data);
                            let want = if j.incompat & INCOMPAT_CSUM_V3 != 0 {
                                c
                            } else {
                                c & 0xFFFF
                            };
                            if want != tag.csum {
                                continue;
                            }
                        }
                        if tag.flags & TAG_ESCAPE != 0 {
                            put_be32(&mut data, 0, MAGIC);
                        }
                        if tag.block == 0 || tag.block >= self.sb.blocks_count {
                            return Err(Error::Corrupt("journal block outside the file system"));
                        }
                        self.dev.write(tag.block * bs as u64, &data).map_err(|_| Error::Io)?;
                    }
                }
                COMMIT => {
                    if end.is_none() && !j.commit_ok(&mut buf) {
                        return Ok(seq);
                    }
                    seq = seq.wrapping_add(1);
                }
                REVOKE => {
                    if end.is_none() && !j.tail_ok(&mut buf) {
                        return Ok(seq);
                    }
                    if let Some(map) = revoked.as_deref_mut() {
                        let count = be32(&buf, 12) as usize;
                        let limit = if j.csum() { bs - 4 } else { bs };
                        if count < 16 || count > limit {
                            return Err(Error::Corrupt("journal revoke block"));
                        }
                        let rec = if j.incompat & INCOMPAT_64BIT != 0 { 8 } else { 4 };
                        let mut off = 16;
                        while off + rec <= count {
                            let mut b = be32(&buf, off) as u64;
                            if rec == 8 {
                                b = b << 32 | be32(&buf, off + 4) as u64;
                            }
                            let e = map.entry(b).or_insert(seq);
                            if seq.wrapping_sub(*e) as i32 > 0 {
                                *e = seq;
                            }
                            off += rec;
                        }
                    }
                }
                _ => return Ok(seq),
            }
        }
        Err(Error::Corrupt("journal does not end"))
    }
}
