//! Disks: every virtio-blk device behind a write-back buffer cache ([`ember_bcache`]), named `vda`, `vdb`…
//! in discovery order. Block file systems and the `/dev/vdX` nodes read and write through the same cache, so
//! they agree; [`sync_all`] writes everything back (at `sync` and before power-off).

use super::sleeplock::SleepLock;
use crate::block::{BlockDevice, BlockError};
use crate::syscall::errno::Errno;
use crate::virtio::blk::VirtioBlk;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_bcache::{BLOCK, Cache, Device, Error};
use ember_frame::sync::Mutex;

/// The share of free memory (at registration) the disks' caches may fill together: one quarter.
const CACHE_SHARE: u64 = 4;

/// The virtio-blk driver as the cache's device.
struct Virtio(VirtioBlk);

impl Device for Virtio {
    fn sectors(&self) -> u64 {
        self.0.sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.0.read(sector, buf).map_err(io_error)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), Error> {
        self.0.write(sector, buf).map_err(io_error)
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.0.flush().map_err(io_error)
    }
}

fn io_error(e: BlockError) -> Error {
    log::warn!("disk: {e}");
    match e {
        BlockError::OutOfRange => Error::OutOfRange,
        _ => Error::Io,
    }
}

/// One disk.
pub struct Disk {
    name: String,
    index: u8,
    read_only: bool,
    cache: SleepLock<Cache<Virtio>>,
}

static DISKS: Mutex<Vec<Arc<Disk>>> = Mutex::new(Vec::new());

/// Takes the block devices found at boot as disks `vda`, `vdb`…, sharing a quarter of free memory as cache.
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
        disks.push(Arc::new(Disk {
            name,
            index: i as u8,
            read_only: d.read_only(),
            cache: SleepLock::new(Cache::new(Virtio(d), blocks as usize)),
        }));
    }
}

/// Disk number `index`.
pub fn get(index: u8) -> Option<Arc<Disk>> {
    DISKS.lock().get(index as usize).cloned()
}

/// The disk a block device node stands for.
pub fn get_for(device: super::devices::Device) -> Option<Arc<Disk>> {
    match device {
        super::devices::Device::Block(i) => get(i),
        _ => None,
    }
}

/// Every disk.
pub fn all() -> Vec<Arc<Disk>> {
    DISKS.lock().clone()
}

/// Writes every block file system's state and every disk's dirty blocks back (`sync`, power-off).
pub fn sync_all() {
    super::ext::sync_all();
    for d in all() {
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
    for d in all() {
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
    /// Its name under `/dev`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its number (`vda` is 0).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// Whether the device refuses writes.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.cache.lock().size()
    }

    /// Fills `buf` from byte `offset` (`EINVAL` past the end).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.cache.lock().read(offset, buf).map_err(errno)
    }

    /// Writes `data` at byte `offset` (into the cache).
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        if self.read_only {
            return Err(Errno::EROFS);
        }
        self.cache.lock().write(offset, data).map_err(errno)
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
