//! A write-back buffer cache of a sector device: 4 KiB blocks kept in memory up to a capacity, evicted least
//! recently used first, written back when evicted or at [`Cache::flush`].
//!
//! Reads and writes take any byte range inside the device. A read that misses fetches up to [`RUN`] absent
//! blocks in one device request (read-ahead, which makes sequential reads cheap); a write that covers a whole
//! block never reads it first. Dirty blocks are written in ascending order, adjacent ones coalesced into
//! requests of up to [`RUN`] blocks. A failed write-back keeps the block dirty (nothing is dropped on an error).
//! Memory is taken fallibly: when the heap cannot give a block, clean blocks are dropped to make room, and
//! failing that the request fails with [`Error::NoMemory`] (never an abort).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Bytes per cached block.
pub const BLOCK: usize = 4096;
/// Bytes per device sector.
pub const SECTOR: usize = 512;
/// The most blocks one device request moves (read-ahead and coalesced write-back).
pub const RUN: usize = 32;

/// The device under the cache: whole sectors of 512 bytes.
pub trait Device {
    /// Capacity in sectors.
    fn sectors(&self) -> u64;
    /// Fills `buf` (a whole number of sectors) from `sector` on.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Error>;
    /// Writes `buf` (a whole number of sectors) from `sector` on.
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), Error>;
    /// Makes completed writes durable.
    fn flush(&mut self) -> Result<(), Error>;
}

/// Why a cache operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The range is not inside the device.
    OutOfRange,
    /// The device failed the request.
    Io,
    /// No memory for a block, even after evicting.
    NoMemory,
}

/// An empty buffer with room for `len` bytes, or `None` when the heap has no room.
fn try_with_capacity(len: usize) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).ok()?;
    Some(v)
}

/// Counters of what the cache did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Block lookups served from memory.
    pub hits: u64,
    /// Block lookups that went to the device.
    pub misses: u64,
    /// Device read requests.
    pub reads: u64,
    /// Device write requests.
    pub writes: u64,
}

struct Entry {
    data: Vec<u8>,
    dirty: bool,
    stamp: u64,
}

/// The cache of device `D`.
pub struct Cache<D: Device> {
    dev: D,
    size: u64,
    blocks: BTreeMap<u64, Entry>,
    /// Last-use stamp to block number: the first entry is the least recently used.
    lru: BTreeMap<u64, u64>,
    clock: u64,
    capacity: usize,
    stats: Stats,
}

impl<D: Device> Cache<D> {
    /// A cache of at most `capacity` blocks (at least `2 * RUN`) over `dev`.
    pub fn new(dev: D, capacity: usize) -> Cache<D> {
        let size = dev.sectors().saturating_mul(SECTOR as u64);
        Cache {
            dev,
            size,
            blocks: BTreeMap::new(),
            lru: BTreeMap::new(),
            clock: 0,
            capacity: capacity.max(2 * RUN),
            stats: Stats::default(),
        }
    }

    /// The device's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// What the cache did so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Blocks held, and how many of them are dirty.
    pub fn occupancy(&self) -> (usize, usize) {
        (self.blocks.len(), self.blocks.values().filter(|e| e.dirty).count())
    }

    /// The bytes of block `b` (the last one may be shorter than [`BLOCK`]).
    fn block_len(&self, b: u64) -> usize {
        (self.size - b * BLOCK as u64).min(BLOCK as u64) as usize
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), Error> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::OutOfRange),
        }
    }

    /// Marks block `b` just used.
    fn touch(&mut self, b: u64) {
        self.clock += 1;
        let stamp = self.clock;
        if let Some(e) = self.blocks.get_mut(&b) {
            self.lru.remove(&e.stamp);
            e.stamp = stamp;
            self.lru.insert(stamp, b);
        }
    }

    /// A copy of `data` in a new buffer, evicting blocks while the heap has no room.
    fn copy(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(mut v) = try_with_capacity(data.len()) {
                v.extend_from_slice(data);
                return Ok(v);
            }
            if self.blocks.is_empty() {
                return Err(Error::NoMemory);
            }
            self.evict()?;
        }
    }

    /// A zeroed buffer of `len` bytes, evicting blocks while the heap has no room.
    fn buffer(&mut self, len: usize) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(mut v) = try_with_capacity(len) {
                v.resize(len, 0);
                return Ok(v);
            }
            if self.blocks.is_empty() {
                return Err(Error::NoMemory);
            }
            self.evict()?;
        }
    }

    /// Adds block `b` (absent) holding `data`, evicting first if the cache is full.
    fn insert(&mut self, b: u64, data: Vec<u8>, dirty: bool) -> Result<(), Error> {
        while self.blocks.len() >= self.capacity {
            self.evict()?;
        }
        self.clock += 1;
        self.lru.insert(self.clock, b);
        self.blocks.insert(
            b,
            Entry {
                data,
                dirty,
                stamp: self.clock,
            },
        );
        Ok(())
    }

    /// Drops the least recently used block, writing it back (with its dirty neighbours) first.
    fn evict(&mut self) -> Result<(), Error> {
        let Some((&stamp, &b)) = self.lru.iter().next() else {
            return Ok(());
        };
        if self.blocks.get(&b).is_some_and(|e| e.dirty) {
            let mut first = b;
            while first > 0 && b - first + 1 < RUN as u64 && self.blocks.get(&(first - 1)).is_some_and(|e| e.dirty) {
                first -= 1;
            }
            self.write_back(first, b)?;
        }
        self.lru.remove(&stamp);
        self.blocks.remove(&b);
        Ok(())
    }

    /// Writes the dirty run starting at `first` (up to [`RUN`] blocks, including `must`) in one request.
    fn write_back(&mut self, first: u64, must: u64) -> Result<(), Error> {
        let mut last = first;
        let mut len = 0;
        while last + 1 - first < RUN as u64 || last < must {
            match self.blocks.get(&(last + 1)) {
                Some(e) if e.dirty => len += e.data.len(),
                _ => break,
            }
            last += 1;
        }
        match self.blocks.get(&first) {
            Some(e) if e.dirty => len += e.data.len(),
            _ => return Ok(()),
        }
        // Without memory for the whole run, the blocks go one by one.
        let Some(mut buf) = try_with_capacity(len) else {
            for b in first..=last {
                self.write_one(b)?;
            }
            return Ok(());
        };
        for b in first..=last {
            if let Some(e) = self.blocks.get(&b) {
                buf.extend_from_slice(&e.data);
            }
        }
        self.stats.writes += 1;
        self.dev.write(first * (BLOCK / SECTOR) as u64, &buf)?;
        for b in first..=last {
            if let Some(e) = self.blocks.get_mut(&b) {
                e.dirty = false;
            }
        }
        Ok(())
    }

    /// Writes dirty block `b` back on its own.
    fn write_one(&mut self, b: u64) -> Result<(), Error> {
        if let Some(e) = self.blocks.get_mut(&b).filter(|e| e.dirty) {
            self.stats.writes += 1;
            self.dev.write(b * (BLOCK / SECTOR) as u64, &e.data)?;
            e.dirty = false;
        }
        Ok(())
    }

    /// Makes block `b` present, reading it and up to [`RUN`] - 1 absent blocks after it in one request.
    fn load(&mut self, b: u64) -> Result<(), Error> {
        if self.blocks.contains_key(&b) {
            self.stats.hits += 1;
            self.touch(b);
            return Ok(());
        }
        self.stats.misses += 1;
        let end = self.size.div_ceil(BLOCK as u64);
        let mut n = 1;
        while n < RUN as u64 && b + n < end && !self.blocks.contains_key(&(b + n)) {
            n += 1;
        }
        let bytes = (self.size - b * BLOCK as u64).min(n * BLOCK as u64) as usize;
        let mut buf = self.buffer(bytes)?;
        self.stats.reads += 1;
        self.dev.read(b * (BLOCK / SECTOR) as u64, &mut buf)?;
        // The block asked for goes in last, so that it is the most recently used.
        for i in (0..n).rev() {
            let start = (i as usize) * BLOCK;
            let len = self.block_len(b + i);
            let data = self.copy(&buf[start..start + len])?;
            self.insert(b + i, data, false)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.check(offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let b = pos / BLOCK as u64;
            let at = (pos % BLOCK as u64) as usize;
            self.load(b)?;
            let data = &self.blocks.get(&b).ok_or(Error::Io)?.data;
            let n = (data.len() - at).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&data[at..at + n]);
            done += n;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset` without keeping them, for data a cache above keeps (a file's pages):
    /// holding them here as well would keep them twice. The range goes to the device in one request (which the
    /// device may split and run in parallel), then the blocks this cache holds, newer than the device's copy
    /// when dirty, are copied over it. A range not in whole sectors is read through the cache instead.
    pub fn read_through(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.check(offset, buf.len())?;
        if !offset.is_multiple_of(SECTOR as u64) || !buf.len().is_multiple_of(SECTOR) {
            return self.read(offset, buf);
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.stats.reads += 1;
        self.dev.read(offset / SECTOR as u64, buf)?;
        let end = offset + buf.len() as u64;
        let first = offset / BLOCK as u64;
        let last = (end - 1) / BLOCK as u64;
        for (&b, e) in self.blocks.range(first..=last) {
            let start = (b * BLOCK as u64).max(offset);
            let stop = (b * BLOCK as u64 + e.data.len() as u64).min(end);
            let src = (start - b * BLOCK as u64) as usize..(stop - b * BLOCK as u64) as usize;
            buf[(start - offset) as usize..(stop - offset) as usize].copy_from_slice(&e.data[src]);
        }
        Ok(())
    }

    /// Writes `data` at `offset` (into the cache; the device gets it at eviction or [`Cache::flush`]).
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.check(offset, data.len())?;
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let b = pos / BLOCK as u64;
            let at = (pos % BLOCK as u64) as usize;
            let len = self.block_len(b);
            let n = (len - at).min(data.len() - done);
            if at == 0 && n == len && !self.blocks.contains_key(&b) {
                let copy = self.copy(&data[done..done + n])?;
                self.insert(b, copy, true)?;
            } else {
                self.load(b)?;
                let e = self.blocks.get_mut(&b).ok_or(Error::Io)?;
                e.data[at..at + n].copy_from_slice(&data[done..done + n]);
                e.dirty = true;
            }
            done += n;
        }
        Ok(())
    }

    /// Writes every dirty block back (adjacent ones together) and flushes the device.
    pub fn flush(&mut self) -> Result<(), Error> {
        let dirty: Vec<u64> = self.blocks.iter().filter(|(_, e)| e.dirty).map(|(&b, _)| b).collect();
        for b in dirty {
            // Already written as part of an earlier run?
            if self.blocks.get(&b).is_some_and(|e| e.dirty) {
                self.write_back(b, b)?;
            }
        }
        self.dev.flush()
    }
}

#[cfg(test)]
mod tests;
