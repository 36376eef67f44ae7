//! Disks: every virtio-blk device behind a write-back buffer cache ([`ember_bcache`]), named `vda`, `vdb`…
//! in discovery order, and the partitions of their MBR or GPT tables ([`ember_partition`]), `vda1`… (15 a
//! disk, as Linux's virtio-blk minors). Block file systems and the `/dev` nodes read and write through the
//! disk's one cache, so they agree; [`sync_all`] writes everything back (at `sync` and before power-off).

use super::diskstats::{DiskIo, Io, IoStats};
use super::sleeplock::SleepLock;
use crate::block::{BlockDevice, BlockError};
use crate::syscall::errno::Errno;
use crate::virtio::blk::VirtioBlk;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_bcache::{BLOCK, Cache, Device, Error};
use ember_frame::sync::Mutex;
use ember_partition::PartUuid;

/// The share of free memory (at registration) the disks' caches may fill together: one quarter.
const CACHE_SHARE: u64 = 4;

/// The virtio-blk driver as the cache's device, counting what it is asked (`/proc/diskstats`).
struct Virtio(VirtioBlk, Arc<DiskIo>);

impl Virtio {
    /// Runs `request` (at `sector`) and counts it when it succeeded.
    fn counted(
        &mut self,
        sector: u64,
        io: Io,
        request: impl FnOnce(&mut VirtioBlk) -> Result<(), BlockError>,
    ) -> Result<(), Error> {
        let start = ember_frame::time::now_ns();
        request(&mut self.0).map_err(io_error)?;
        self.1
            .add(sector, io, ember_frame::time::now_ns().saturating_sub(start));
        Ok(())
    }
}

impl Device for Virtio {
    fn sectors(&self) -> u64 {
        self.0.sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Error> {
        let n = (buf.len() / crate::block::SECTOR_SIZE) as u64;
        self.counted(sector, Io::Read(n), |d| d.read(sector, buf))
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), Error> {
        let n = (buf.len() / crate::block::SECTOR_SIZE) as u64;
        self.counted(sector, Io::Write(n), |d| d.write(sector, buf))
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.counted(0, Io::Flush, |d| d.flush())
    }
}

fn io_error(e: BlockError) -> Error {
    log::warn!("disk: {e}");
    match e {
        BlockError::OutOfRange => Error::OutOfRange,
        _ => Error::Io,
    }
}

/// Minor numbers a disk spans: the whole disk and partitions 1–15.
pub const MINORS: u32 = 16;

/// One disk, or one partition of a disk.
pub struct Disk {
    name: String,
    /// The minor device number: 16 per disk, plus the partition number.
    minor: u32,
    read_only: bool,
    /// The first byte on the device (0 for a whole disk).
    start: u64,
    /// Its size in bytes.
    size: u64,
    /// A partition's `PARTUUID`.
    partuuid: Option<PartUuid>,
    cache: Arc<SleepLock<Cache<Virtio>>>,
    /// Requests of this disk or partition that reached the device.
    io: Arc<IoStats>,
}

/// A disk's cache as the partition-table reader's disk.
struct TableReader<'a>(&'a mut Cache<Virtio>);

impl ember_partition::Disk for TableReader<'_> {
    fn sectors(&self) -> u64 {
        self.0.size() / ember_partition::SECTOR as u64
    }
    fn read(&mut self, lba: u64, buf: &mut [u8; ember_partition::SECTOR]) -> Result<(), ember_partition::IoError> {
        let offset = lba
            .checked_mul(ember_partition::SECTOR as u64)
            .ok_or(ember_partition::IoError)?;
        self.0.read(offset, buf).map_err(|_| ember_partition::IoError)
    }
}

static DISKS: Mutex<Vec<Arc<Disk>>> = Mutex::new(Vec::new());

/// Takes the block devices found at boot as disks `vda`, `vdb`…, sharing a quarter of free memory as cache,
/// and their partitions.
pub fn register(devices: Vec<VirtioBlk>) {
    if devices.is_empty() {
        return;
    }
    let blocks = ember_frame::mm::free_bytes() / CACHE_SHARE / BLOCK as u64 / devices.len() as u64;
    let mut disks = DISKS.lock();
    for (i, d) in devices.into_iter().take(26).enumerate() {
        let name = alloc::format!("vd{}", (b'a' + i as u8) as char);
        log::info!(
            "disk: {name}: {} MiB{}, cache of up to {} MiB",
            d.sectors() / 2048,
            if d.read_only() { ", read-only" } else { "" },
            (blocks * BLOCK as u64) >> 20
        );
        let read_only = d.read_only();
        let d_size = d.sectors() * 512;
        let io = Arc::new(DiskIo::default());
        let cache = Arc::new(SleepLock::new(Cache::new(Virtio(d, io.clone()), blocks as usize)));
        let whole = Disk {
            name,
            minor: i as u32 * MINORS,
            read_only,
            start: 0,
            size: d_size,
            partuuid: None,
            cache,
            io: io.whole(),
        };
        let parts = partitions(&whole, &io);
        disks.push(Arc::new(whole));
        disks.extend(parts.into_iter().map(Arc::new));
    }
}

/// The partitions of `disk`'s table, logged; none without a table or with a damaged one.
fn partitions(disk: &Disk, io: &DiskIo) -> Vec<Disk> {
    let table = match ember_partition::read(&mut TableReader(&mut disk.cache.lock())) {
        Ok(Some(t)) => t,
        Ok(None) => return Vec::new(),
        Err(e) => {
            log::error!("disk: {}: partition table ignored: {e}", disk.name);
            return Vec::new();
        }
    };
    let kind = match table.scheme {
        ember_partition::Scheme::Mbr { .. } => "MBR",
        ember_partition::Scheme::Gpt { from_backup: false } => "GPT",
        ember_partition::Scheme::Gpt { from_backup: true } => "GPT (primary header damaged: backup used)",
    };
    if table.dropped > 0 {
        log::warn!(
            "disk: {}: {} partition entries lie outside the disk; left out",
            disk.name,
            table.dropped
        );
    }
    let mut out = Vec::new();
    let mut names = String::new();
    for p in table.partitions {
        if p.number >= MINORS {
            log::warn!("disk: {}: partition {} left out (15 a disk)", disk.name, p.number);
            continue;
        }
        let name = alloc::format!("{}{}", disk.name, p.number);
        names.push(' ');
        names.push_str(&name);
        out.push(Disk {
            name,
            minor: disk.minor + p.number,
            read_only: disk.read_only,
            start: p.start * ember_partition::SECTOR as u64,
            size: p.sectors * ember_partition::SECTOR as u64,
            partuuid: Some(p.uuid),
            cache: disk.cache.clone(),
            io: io.partition(p.start, p.start.saturating_add(p.sectors)),
        });
    }
    log::info!("disk: {}: {kind} partition table:{names}", disk.name);
    out
}

/// The disk or partition with minor number `minor`.
pub fn get(minor: u32) -> Option<Arc<Disk>> {
    DISKS.lock().iter().find(|d| d.minor == minor).cloned()
}

/// The disk a block device node stands for.
pub fn get_for(device: super::devices::Device) -> Option<Arc<Disk>> {
    match device {
        super::devices::Device::Block(minor) => get(minor),
        _ => None,
    }
}

/// Every disk and partition, each disk followed by its partitions.
pub fn all() -> Vec<Arc<Disk>> {
    DISKS.lock().clone()
}

/// The partition whose `PARTUUID` is `text` (letter case aside).
pub fn by_partuuid(text: &str) -> Option<Arc<Disk>> {
    DISKS
        .lock()
        .iter()
        .find(|d| d.partuuid.is_some_and(|u| u.matches(text)))
        .cloned()
}

/// Writes every block file system's state and every disk's dirty blocks back (`sync`, power-off).
pub fn sync_all() {
    super::ext::sync_all();
    for d in all().into_iter().filter(|d| d.start == 0) {
        if let Err(e) = d.flush() {
            log::error!("disk: {}: write-back failed: {}", d.name, e.0);
        }
    }
}

/// `fsync`/`syncfs` of a file: its block file system's metadata and its disk's dirty blocks (or the disk a
/// block device node stands for); nothing for in-memory files.
pub fn sync_file(inode: Option<&super::inode::Inode>) -> Result<(), Errno> {
    let Some(inode) = inode else { return Ok(()) };
    if let Some(d) = inode.disk() {
        return d.mount().sync();
    }
    match &inode.kind {
        super::inode::Kind::Device(d) => get_for(*d).map_or(Ok(()), |disk| disk.flush()),
        _ => Ok(()),
    }
}

/// Before power-off: unmounts every block file system (marking it clean) and writes every disk back, so a
/// clean shutdown loses nothing.
pub fn shutdown() {
    super::ext::unmount_all();
    for d in all().into_iter().filter(|d| d.start == 0) {
        if let Err(e) = d.flush() {
            log::error!("disk: {}: write-back failed: {}", d.name, e.0);
        }
    }
}

fn errno(e: Error) -> Errno {
    match e {
        Error::OutOfRange => Errno::EINVAL,
        Error::Io => Errno::EIO,
        Error::NoMemory => Errno::ENOMEM,
    }
}

impl Disk {
    /// Its requests that reached the device (`/proc/diskstats`).
    pub fn io(&self) -> &IoStats {
        &self.io
    }

    /// Its name under `/dev`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its minor device number (`vda` is 0, `vda1` 1, `vdb` 16).
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// A partition's number (`vda1` is 1), or 0 for a whole disk.
    pub fn partition(&self) -> u32 {
        if self.partuuid.is_some() {
            self.minor % MINORS
        } else {
            0
        }
    }

    /// A partition's first sector on its disk (0 for a whole disk).
    pub fn start_sector(&self) -> u64 {
        self.start / ember_partition::SECTOR as u64
    }

    /// Whether the device refuses writes.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `offset..offset + len` on the device, or `EINVAL` when it runs past this disk or partition.
    fn on_device(&self, offset: u64, len: usize) -> Result<u64, Errno> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(self.start + offset),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Fills `buf` from byte `offset` (`EINVAL` past the end).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let at = self.on_device(offset, buf.len())?;
        self.cache.lock().read(at, buf).map_err(errno)
    }

    /// Reads `buf.len()` bytes at byte `offset` past the cache (file data the page cache keeps: see
    /// [`Cache::read_through`]), in one request that the driver splits and runs in parallel.
    pub fn read_through(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let at = self.on_device(offset, buf.len())?;
        self.cache.lock().read_through(at, buf).map_err(errno)
    }

    /// Writes `data` at byte `offset` (into the cache).
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        if self.read_only {
            return Err(Errno::EROFS);
        }
        let at = self.on_device(offset, data.len())?;
        self.cache.lock().write(at, data).map_err(errno)
    }

    /// Writes the dirty blocks back and flushes the device.
    pub fn flush(&self) -> Result<(), Errno> {
        self.cache.lock().flush().map_err(errno)
    }

    /// Reads like a file: up to the end of the disk, the number of bytes copied.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let size = self.size();
        let n = (buf.len() as u64).min(size.saturating_sub(offset)) as usize;
        self.read(offset, &mut buf[..n])?;
        Ok(n)
    }

    /// Writes like a file: `ENOSPC` at the end of the disk, a short write across it.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let size = self.size();
        let n = (data.len() as u64).min(size.saturating_sub(offset)) as usize;
        if n == 0 && !data.is_empty() {
            return Err(Errno::ENOSPC);
        }
        self.write(offset, &data[..n])?;
        Ok(n)
    }
}
