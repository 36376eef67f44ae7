//! The mounted file system: mount-time validation, block and inode I/O, sync and unmount, statfs.

use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::group::GroupTable;
use crate::inode::{FileType, Ino, Inode, Metadata, ROOT_INO, Timestamp};
use crate::superblock::{SB_OFFSET, SB_SIZE, STATE_VALID, Superblock, incompat, ro_compat};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

/// [`Fs::read_only_reason`] after a device error: the file system went read-only (`errors=remount-ro`).
pub const IO_ERROR_READ_ONLY: &str = "I/O error: remounted read-only (errors=remount-ro)";

/// How to mount.
#[derive(Clone, Copy)]
pub struct MountOptions {
    /// Mount read-only: nothing is written to the device (not even journal recovery).
    pub read_only: bool,
    /// The current time, for timestamps.
    pub clock: fn() -> Timestamp,
}

/// File system totals, as `statfs` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// Block size in bytes.
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free blocks available to unprivileged users (free minus the root reserve).
    pub avail_blocks: u64,
    /// Total inodes.
    pub inodes: u64,
    /// Free inodes.
    pub free_inodes: u64,
    /// Longest name.
    pub name_max: u32,
    /// File system id (from the UUID).
    pub fsid: u64,
}

/// A mounted ext2/ext3/ext4 file system on block device `D`.
pub struct Fs<D: BlockDevice> {
    pub(crate) dev: D,
    pub(crate) sb: Superblock,
    pub(crate) groups: GroupTable,
    ro_reason: Option<&'static str>,
    pub(crate) clock: fn() -> Timestamp,
    /// Inodes whose last link went while the caller still used them; freed by `release` or at unmount.
    pub(crate) orphans: BTreeSet<Ino>,
    pub(crate) next_generation: u32,
    /// Inode records read or written, by number (checksum verified once, when read from the device).
    icache: BTreeMap<Ino, Inode>,
    /// Directory blocks (block, directory inode) whose checksum was verified or written since the mount:
    /// read again without verifying (any other write to the block drops it).
    pub(crate) dir_ok: BTreeSet<(u64, Ino)>,
    /// Bitmaps (`true` for inodes, group) whose checksum was verified or that were written since the mount.
    pub(crate) bitmap_ok: BTreeSet<(bool, u32)>,
    /// Bitmaps written since their checksum in the group descriptor was computed (done at [`Fs::sync`]).
    pub(crate) bitmap_stale: BTreeSet<(bool, u32)>,
    /// Per bitmap (`true` for inodes, group): a bit below which every bit is set, so that searches start
    /// there (raised by allocations that found the first clear bit, lowered by every free).
    pub(crate) first_free: BTreeMap<(bool, u32), u32>,
    /// The CRC32C of the group descriptors and the superblock as [`Fs::sync`] last wrote them: a sync that
    /// finds them unchanged writes neither (nor a new write time), only flushes the device.
    synced: Option<u32>,
}

/// The most inode records [`Fs`] keeps (about 256 bytes each, so 4 MiB with 256-byte inodes).
const ICACHE_MAX: usize = 16384;
/// The read-only reason of a mount asked to be read-only.
const MOUNTED_RO: &str = "mounted read-only";
/// The read-only reason after [`Fs::remount`] made it so.
const REMOUNTED_RO: &str = "remounted read-only";

impl<D: BlockDevice> Fs<D> {
    /// Mounts the file system on `dev`.
    ///
    /// A superblock or group descriptor table that fails validation or its checksum, or an incompatible
    /// feature, refuses the mount. Unknown read-only-compatible features, or a journal that needs recovery on
    /// a read-only mount, give a read-only mount whose reason [`Fs::read_only_reason`] tells. On a read-write
    /// mount a journal that needs recovery is replayed, then the orphan list (inodes Linux unlinked or was
    /// truncating when it stopped) is processed as Linux does.
    pub fn mount(mut dev: D, opts: MountOptions) -> Result<Fs<D>> {
        let (sb, groups) = Self::load_metadata(&mut dev)?;
        let mut fs = Fs {
            dev,
            sb,
            groups,
            ro_reason: opts.read_only.then_some(MOUNTED_RO),
            clock: opts.clock,
            orphans: BTreeSet::new(),
            next_generation: 0,
            icache: BTreeMap::new(),
            dir_ok: BTreeSet::new(),
            bitmap_ok: BTreeSet::new(),
            bitmap_stale: BTreeSet::new(),
            first_free: BTreeMap::new(),
            synced: None,
        };
        fs.next_generation = (opts.clock)().sec as u32 ^ fs.sb.csum_seed;
        if opts.read_only {
            if fs.sb.has_incompat(incompat::RECOVER) {
                fs.ro_reason = Some("journal needs recovery; mounted read-only without replaying it");
            }
        } else if fs.sb.journal_inum() != 0 || fs.sb.has_incompat(incompat::RECOVER) {
            // Like Linux, replay whatever the journal holds, flagged or not.
            fs.replay_journal()?;
            let (sb, groups) = Self::load_metadata(&mut fs.dev)?;
            fs.sb = sb;
            fs.groups = groups;
            // The replay may have rewritten inode tables, directories and bitmaps.
            fs.icache.clear();
            fs.dir_ok.clear();
            fs.bitmap_ok.clear();
            fs.first_free.clear();
            fs.sb.set_incompat(incompat::RECOVER, false);
        }
        // Like Linux, refuse a root that is not a non-empty directory (a device or a file there would make
        // every path walk go astray).
        let root = fs.stat(ROOT_INO)?;
        if root.kind != FileType::Directory || root.size == 0 {
            return Err(Error::Corrupt("the root inode is not a directory"));
        }
        if fs.ro_reason.is_none() && fs.sb.ro_compat() & !ro_compat::WRITABLE != 0 {
            fs.ro_reason = Some("unsupported read-only-compatible feature");
        }
        if fs.ro_reason.is_none() {
            fs.process_orphans()?;
            let now = fs.now().sec as u32;
            fs.sb.note_mount(now);
            let state = fs.sb.state();
            fs.sb.set_state(state & !STATE_VALID);
            fs.write_superblock()?;
            fs.dev.flush().map_err(|_| Error::Io)?;
        }
        Ok(fs)
    }

    /// Reads and validates the superblock and the group descriptor table.
    fn load_metadata(dev: &mut D) -> Result<(Superblock, GroupTable)> {
        let size = dev.size();
        if size < SB_OFFSET + SB_SIZE as u64 {
            return Err(Error::Corrupt("device smaller than a superblock"));
        }
        let mut buf = vec![0u8; SB_SIZE];
        dev.read(SB_OFFSET, &mut buf).map_err(|_| Error::Io)?;
        let sb = Superblock::parse(&buf, size)?;
        let unsupported = sb.incompat() & !incompat::SUPPORTED;
        if unsupported != 0 {
            let bit = 1 << unsupported.trailing_zeros();
            return Err(Error::Unsupported(match bit {
                incompat::JOURNAL_DEV => "external journal device",
                incompat::META_BG => "meta_bg",
                incompat::MMP => "mmp",
                incompat::EA_INODE => "ea_inode",
                incompat::DIRDATA => "dirdata",
                incompat::INLINE_DATA => "inline_data",
                incompat::ENCRYPT => "encryption",
                incompat::CASEFOLD => "casefold",
                _ => "unknown incompatible feature",
            }));
        }
        let gdt_start = sb.first_data_block as u64 + 1;
        let gdt_blocks = sb.gdt_blocks() as u64;
        if gdt_start + gdt_blocks > sb.blocks_count {
            return Err(Error::Corrupt("group descriptor table outside the file system"));
        }
        let len = usize::try_from(gdt_blocks * sb.block_size as u64).map_err(|_| Error::NoMemory)?;
        let mut raw = crate::bytes::zeroed(len)?;
        dev.read(gdt_start * sb.block_size as u64, &mut raw)
            .map_err(|_| Error::Io)?;
        let groups = GroupTable::parse(&sb, raw)?;
        Ok((sb, groups))
    }

    /// `MS_REMOUNT`: makes a writable file system read-only (released inodes freed, marked clean and written
    /// back, as at unmount) or one mounted read-only on request writable again (marked in use, as at mount).
    /// A file system read-only for another reason (a journal to recover, an unknown feature) stays so:
    /// [`Error::ReadOnly`].
    pub fn remount(&mut self, read_only: bool) -> Result<()> {
        match (self.ro_reason, read_only) {
            (None, true) => {
                while let Some(ino) = self.orphans.pop_first() {
                    self.free_inode_and_blocks(ino)?;
                }
                let state = self.sb.state();
                self.sb.set_state(state | STATE_VALID);
                self.sync()?;
                self.ro_reason = Some(REMOUNTED_RO);
                Ok(())
            }
            (Some(why), false) if why == REMOUNTED_RO || why == MOUNTED_RO => {
                self.ro_reason = None;
                let now = self.now().sec as u32;
                self.sb.note_mount(now);
                let state = self.sb.state();
                self.sb.set_state(state & !STATE_VALID);
                self.write_superblock()?;
                self.dev.flush().map_err(|_| Error::Io)
            }
            (Some(_), false) => Err(Error::ReadOnly),
            _ => Ok(()),
        }
    }

    /// A device error: the file system goes read-only from now on (Linux's `errors=remount-ro`), so that
    /// nothing more is written over state that may be half on disk; the error to return.
    pub(crate) fn io_failed(&mut self) -> Error {
        self.ro_reason.get_or_insert(IO_ERROR_READ_ONLY);
        Error::Io
    }

    /// Why the file system is read-only, or `None` if it is writable.
    pub fn read_only_reason(&self) -> Option<&'static str> {
        self.ro_reason
    }

    /// The root directory's inode number.
    pub fn root(&self) -> Ino {
        ROOT_INO
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// The volume UUID.
    pub fn uuid(&self) -> [u8; 16] {
        self.sb.uuid()
    }

    pub(crate) fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.ro_reason.is_some() {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    pub(crate) fn bs(&self) -> usize {
        self.sb.block_size as usize
    }

    /// Reads `buf.len() / block_size` blocks starting at `block`.
    pub(crate) fn read_blocks(&mut self, block: u64, buf: &mut [u8]) -> Result<()> {
        let n = (buf.len() / self.bs()) as u64;
        if block < self.sb.first_data_block as u64 && block != 0 || block.saturating_add(n) > self.sb.blocks_count {
            return Err(Error::Corrupt("block number out of range"));
        }
        self.dev
            .read(block * self.sb.block_size as u64, buf)
            .map_err(|_| self.io_failed())
    }

    /// Reads whole blocks of file data starting at `block` (see [`BlockDevice::read_data`]).
    pub(crate) fn read_data_blocks(&mut self, block: u64, buf: &mut [u8]) -> Result<()> {
        let n = (buf.len() / self.bs()) as u64;
        if block < self.sb.first_data_block as u64 && block != 0 || block.saturating_add(n) > self.sb.blocks_count {
            return Err(Error::Corrupt("block number out of range"));
        }
        self.dev
            .read_data(block * self.sb.block_size as u64, buf)
            .map_err(|_| self.io_failed())
    }

    /// Writes whole blocks starting at `block`.
    pub(crate) fn write_blocks(&mut self, block: u64, buf: &[u8]) -> Result<()> {
        self.check_writable()?;
        let n = (buf.len() / self.bs()) as u64;
        if block <= self.sb.first_data_block as u64 || block.saturating_add(n) > self.sb.blocks_count {
            return Err(Error::Corrupt("block number out of range"));
        }
        let overwritten: Vec<_> = self.dir_ok.range((block, 0)..(block + n, 0)).copied().collect();
        for k in overwritten {
            self.dir_ok.remove(&k);
        }
        self.dev
            .write(block * self.sb.block_size as u64, buf)
            .map_err(|_| self.io_failed())
    }

    /// Where inode `ino` lives: (block, byte offset in the block).
    fn inode_location(&self, ino: Ino) -> Result<(u64, usize)> {
        if ino == 0 || ino > self.sb.inodes_count() {
            return Err(Error::Corrupt("inode number out of range"));
        }
        let g = (ino - 1) / self.sb.inodes_per_group;
        let idx = ((ino - 1) % self.sb.inodes_per_group) as u64;
        let byte = idx * self.sb.inode_size as u64;
        let block = self.groups.inode_table(g) + byte / self.sb.block_size as u64;
        Ok((block, (byte % self.sb.block_size as u64) as usize))
    }

    /// Inode `ino`: from the cache, or read from the device with its checksum verified.
    pub(crate) fn read_inode(&mut self, ino: Ino) -> Result<Inode> {
        if let Some(inode) = self.icache.get(&ino) {
            return Ok(inode.clone());
        }
        let (block, off) = self.inode_location(ino)?;
        let mut raw = vec![0u8; self.sb.inode_size as usize];
        self.read_blocks_at(block, off, &mut raw)?;
        let inode = Inode { ino, raw };
        if self.sb.metadata_csum() && inode.checksum(self.sb.csum_seed) != inode.stored_checksum() {
            return Err(Error::Corrupt("inode checksum mismatch"));
        }
        self.cache_inode(&inode);
        Ok(inode)
    }

    /// Keeps a copy of `inode` in the cache, first dropping the lowest-numbered records when it is full.
    fn cache_inode(&mut self, inode: &Inode) {
        if let Some(slot) = self.icache.get_mut(&inode.ino) {
            slot.raw.clone_from(&inode.raw);
            return;
        }
        while self.icache.len() >= ICACHE_MAX {
            self.icache.pop_first();
        }
        self.icache.insert(inode.ino, inode.clone());
    }

    /// The whole sectors of block `block` that hold bytes `off..off + len` of it: (device offset, length,
    /// where the bytes start in that range).
    fn sector_span(&self, block: u64, off: usize, len: usize) -> (u64, usize, usize) {
        let start = off & !511;
        let end = (off + len).next_multiple_of(512);
        (
            block * self.sb.block_size as u64 + start as u64,
            end - start,
            off - start,
        )
    }

    /// Reads `buf.len()` bytes at byte `off` of block `block` (inside that block), in whole sectors.
    fn read_blocks_at(&mut self, block: u64, off: usize, buf: &mut [u8]) -> Result<()> {
        if block < self.sb.first_data_block as u64 && block != 0
            || block >= self.sb.blocks_count
            || off + buf.len() > self.bs()
        {
            return Err(Error::Corrupt("block number out of range"));
        }
        let (at, len, skip) = self.sector_span(block, off, buf.len());
        let mut span = vec![0u8; len];
        self.dev.read(at, &mut span).map_err(|_| Error::Io)?;
        buf.copy_from_slice(&span[skip..skip + buf.len()]);
        Ok(())
    }

    /// Reads inode `ino` and requires it to be in use (a valid mode and a link, or an open orphan).
    pub(crate) fn read_live_inode(&mut self, ino: Ino) -> Result<Inode> {
        let inode = self.read_inode(ino)?;
        if inode.kind().is_none() || (inode.links() == 0 && !self.orphans.contains(&ino)) {
            return Err(Error::Corrupt("reference to an unused inode"));
        }
        Ok(inode)
    }

    /// Writes an inode record back (with its checksum) into the device (a buffer cache makes this write-back)
    /// and the inode cache.
    pub(crate) fn write_inode(&mut self, inode: &mut Inode) -> Result<()> {
        self.check_writable()?;
        if self.sb.metadata_csum() {
            inode.update_checksum(self.sb.csum_seed);
        }
        let (block, off) = self.inode_location(inode.ino)?;
        if block <= self.sb.first_data_block as u64 || block >= self.sb.blocks_count {
            return Err(Error::Corrupt("block number out of range"));
        }
        let (at, len, skip) = self.sector_span(block, off, inode.raw.len());
        let mut span = vec![0u8; len];
        self.dev.read(at, &mut span).map_err(|_| Error::Io)?;
        span[skip..skip + inode.raw.len()].copy_from_slice(&inode.raw);
        self.dev.write(at, &span).map_err(|_| Error::Io)?;
        self.cache_inode(inode);
        Ok(())
    }

    /// An inode's attributes.
    pub fn stat(&mut self, ino: Ino) -> Result<Metadata> {
        let inode = self.read_live_inode(ino)?;
        inode.metadata(self.sb.block_size).ok_or(Error::Corrupt("inode mode"))
    }

    /// File system totals.
    pub fn statfs(&self) -> StatFs {
        let free_blocks: u64 = (0..self.sb.group_count)
            .map(|g| self.groups.free_blocks(g) as u64)
            .sum();
        let free_inodes: u64 = (0..self.sb.group_count)
            .map(|g| self.groups.free_inodes(g) as u64)
            .sum();
        let u = self.sb.uuid();
        let fsid = u[..8]
            .iter()
            .zip(&u[8..])
            .fold(0u64, |acc, (a, b)| (acc << 8) | (a ^ b) as u64);
        StatFs {
            block_size: self.sb.block_size,
            blocks: self.sb.blocks_count,
            free_blocks,
            avail_blocks: free_blocks.saturating_sub(self.sb.r_blocks_count()),
            inodes: self.sb.inodes_count() as u64,
            free_inodes,
            name_max: 255,
            fsid,
        }
    }

    fn write_superblock(&mut self) -> Result<()> {
        // Written outside a sync (mount, unmount, remount): the next sync writes the summary again.
        self.synced = None;
        let bytes = self.sb.bytes_for_write();
        self.dev.write(SB_OFFSET, bytes).map_err(|_| self.io_failed())
    }

    /// Writes the group descriptors and the superblock (free counts, checksums) and flushes the device.
    /// Data and inodes are written as operations run; this makes the summary metadata match them.
    pub fn sync(&mut self) -> Result<()> {
        if self.ro_reason.is_some() {
            return Ok(());
        }
        for (inodes, g) in core::mem::take(&mut self.bitmap_stale) {
            self.update_bitmap_csum(inodes, g)?;
        }
        let st = self.statfs();
        self.sb.set_free_blocks(st.free_blocks);
        self.sb.set_free_inodes(st.free_inodes as u32);
        // The descriptors' checksums are computed once; the write time changes only the superblock.
        let now = self.now().sec as u32;
        let gdt_start = self.sb.first_data_block as u64 + 1;
        let bs = self.sb.block_size as u64;
        let gdt = self.groups.bytes_for_write(&self.sb);
        let gdt_crc = crate::csum::crc32c(!0, gdt);
        if self.synced != Some(crate::csum::crc32c(gdt_crc, self.sb.bytes_for_write())) {
            self.sb.set_wtime(now);
            if self.dev.write(gdt_start * bs, gdt).is_err() {
                return Err(self.io_failed());
            }
            self.write_superblock()?;
            self.synced = Some(crate::csum::crc32c(gdt_crc, self.sb.bytes_for_write()));
        }
        self.dev.flush().map_err(|_| self.io_failed())
    }

    /// Processes the on-disk orphan list: inodes without links are freed, others lose the blocks past their
    /// size.
    fn process_orphans(&mut self) -> Result<()> {
        let mut ino = self.sb.last_orphan();
        let mut seen = 0u32;
        while ino != 0 {
            seen += 1;
            if seen > self.sb.inodes_count() || ino < self.sb.first_ino() {
                return Err(Error::Corrupt("orphan list"));
            }
            let mut inode = self.read_inode(ino)?;
            if inode.kind().is_none() {
                return Err(Error::Corrupt("orphan list names an unused inode"));
            }
            let next = inode.dtime();
            if inode.links() == 0 {
                self.free_inode_and_blocks(ino)?;
            } else {
                if self.has_block_map(&inode) {
                    let mut map = self.load_map(&inode)?;
                    let size = inode.size();
                    self.free_from(&mut inode, &mut map, size)?;
                }
                inode.set_dtime(0);
                self.write_inode(&mut inode)?;
            }
            ino = next;
        }
        self.sb.set_last_orphan(0);
        Ok(())
    }

    /// Frees inodes still held as orphans, marks the file system clean, syncs, and returns the device.
    pub fn unmount(mut self) -> Result<D> {
        if self.ro_reason.is_none() {
            while let Some(ino) = self.orphans.pop_first() {
                self.free_inode_and_blocks(ino)?;
            }
            let state = self.sb.state();
            self.sb.set_state(state | STATE_VALID);
            self.sync()?;
        }
        Ok(self.dev)
    }
}
