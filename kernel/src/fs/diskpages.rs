//! Disk files in the page cache: each mount keeps the [`Pages`] of its regular files by inode number, so
//! that a second read of a file is served from memory and every shared mapping and `read` see the same
//! frames. Writes go to the disk (through the buffer cache) and into the cached pages at once; pages written
//! through a shared mapping are dirty until [`write_back`] (`msync`, `fsync`, `munmap`, `sync`, unmount,
//! power-off), which also takes write access from the mappings, so that the next store dirties the page again
//! (Linux's `page_mkclean`): a page is written once per time it was dirtied, not at every write-back. Clean
//! pages no mapping holds are evicted when the disk pages pass half of the memory that was free when the
//! first one was cached.

use super::ext::DiskNode;
use super::pages::{PAGE, PAST_EOF, Pages, Piece};
use super::sleeplock::SleepLock;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use ember_frame::mm::Frame;
use ember_frame::sync::Mutex;
use spin::Once;

/// The most pages one disk read brings in: 1 MiB, which the virtio-blk driver runs as several requests in
/// flight at once.
const RUN: u64 = 256;
/// The first read-ahead window of a sequential reader, in pages (128 KiB).
const AHEAD_FIRST: u64 = 32;

/// Sequential reading of a disk file. A read that starts where the last one ended is sequential: when it
/// misses, it reads on past its own end, up to a window that doubles with each sequential read from
/// [`AHEAD_FIRST`] to [`RUN`] pages, as Linux's readahead ramps up; the reads that follow then find their
/// pages present until the next miss. Any other read brings in only what it asks for.
#[derive(Default)]
pub struct Readahead {
    /// Where the last read ended.
    next: u64,
    /// The current window, in pages (0: not sequential).
    window: u64,
}

impl Readahead {
    /// Records a read of bytes `[offset, end)`; returns the end of the range a miss in it reads up to.
    fn extend(&mut self, offset: u64, end: u64) -> u64 {
        self.window = if offset == self.next {
            (self.window * 2).clamp(AHEAD_FIRST, RUN)
        } else {
            0
        };
        self.next = end;
        end.saturating_add(self.window * PAGE)
    }
}

/// A file's pages, behind a lock that may be held across disk I/O.
pub type FilePages = Arc<SleepLock<Pages>>;

/// The cached files of one mount, by inode number.
#[derive(Default)]
pub struct DiskPages {
    files: Mutex<BTreeMap<u32, FilePages>>,
}

/// Disk pages cached (approximately: recounted at each eviction).
static CACHED: AtomicUsize = AtomicUsize::new(0);
/// How many disk pages may be cached.
static BUDGET: Once<usize> = Once::new();

impl DiskPages {
    /// The pages of inode `ino` (empty at first).
    pub fn of(&self, ino: u32) -> FilePages {
        self.files
            .lock()
            .entry(ino)
            .or_insert_with(|| Arc::new(SleepLock::new(Pages::default())))
            .clone()
    }

    /// Forgets inode `ino`'s pages (the inode was freed on the disk).
    pub fn forget(&self, ino: u32) {
        self.files.lock().remove(&ino);
    }

    /// Every cached file.
    pub fn all(&self) -> Vec<(u32, FilePages)> {
        self.files.lock().iter().map(|(&i, p)| (i, p.clone())).collect()
    }

    /// Drops the clean, unmapped pages of files nobody is using; files left empty are forgotten. How many
    /// pages remain in the files it looked at.
    fn evict(&self) -> usize {
        let idle: Vec<(u32, FilePages)> = self
            .files
            .lock()
            .iter()
            .filter(|(_, p)| Arc::strong_count(p) == 1)
            .map(|(&i, p)| (i, p.clone()))
            .collect();
        let mut left = 0;
        for (ino, p) in idle {
            let mut pages = p.lock();
            pages.evict_clean();
            left += pages.count();
            if pages.count() == 0 {
                drop(pages);
                let mut files = self.files.lock();
                // Only the table and `p` hold it: nobody can be adding pages.
                if Arc::strong_count(&p) == 2 {
                    files.remove(&ino);
                }
            }
        }
        left
    }
}

/// Counts `n` new pages; over the budget, evicts the idle files' clean pages (every mount's), then
/// `current`'s own.
fn account(n: usize, current: &mut Pages) {
    let budget = *BUDGET.call_once(|| (ember_frame::mm::free_bytes() / 2 / PAGE) as usize);
    if CACHED.fetch_add(n, Ordering::Relaxed) + n <= budget {
        return;
    }
    let mut left = 0;
    for m in super::ext::mounts() {
        left += m.pages().evict();
    }
    if left > budget {
        current.evict_clean();
    }
    CACHED.store(left + current.count(), Ordering::Relaxed);
}

/// Reads pages `first..first + count` (all absent, all below the end of a file of `size` bytes) from the
/// disk into `pages`.
fn load(node: &DiskNode, pages: &mut Pages, first: u64, count: u64, size: u64) -> Result<(), Errno> {
    let start = first * PAGE;
    let len = (count * PAGE).min(size - start) as usize;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    buf.resize(len, 0);
    let n = node.read_disk(start, &mut buf)?;
    account(count as usize, pages);
    for (i, chunk) in buf[..n].chunks(PAGE as usize).enumerate() {
        let frame = Frame::alloc_zeroed().ok_or(Errno::ENOMEM)?;
        frame.write_bytes(0, chunk);
        pages.insert(first + i as u64, frame);
    }
    Ok(())
}

/// Makes sure the pages holding bytes `[offset, end)` of a file of `size` bytes are present, reading the
/// absent ones in runs of up to [`RUN`] pages; a run that starts there may go on up to byte `ahead`
/// (read-ahead).
fn fill(node: &DiskNode, pages: &mut Pages, offset: u64, end: u64, ahead: u64, size: u64) -> Result<(), Errno> {
    let last = end.min(size).div_ceil(PAGE);
    let limit = ahead.max(end).min(size).div_ceil(PAGE);
    let mut i = offset / PAGE;
    while i < last {
        if pages.has(i) {
            i += 1;
            continue;
        }
        let mut run = 1;
        while i + run < limit && run < RUN && !pages.has(i + run) {
            run += 1;
        }
        load(node, pages, i, run, size)?;
        i += run;
    }
    Ok(())
}

/// `read` of a disk file at `offset`: from the cached pages, reading the missing ones first.
pub fn read(node: &DiskNode, size: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let n = (buf.len() as u64).min(size.saturating_sub(offset)) as usize;
    if n == 0 {
        return Ok(0);
    }
    let file = node.pages();
    let mut pages = file.lock();
    let end = offset + n as u64;
    let ahead = pages.readahead.extend(offset, end);
    fill(node, &mut pages, offset, end, ahead, size)?;
    pages.read(offset, &mut buf[..n]);
    Ok(n)
}

/// The pieces a read of a disk file at `offset` of up to `len` bytes returns, reading missing pages first.
pub fn pieces(node: &DiskNode, size: u64, offset: u64, len: usize) -> Result<Vec<Piece>, Errno> {
    let n = (len as u64).min(size.saturating_sub(offset)) as usize;
    let file = node.pages();
    let mut pages = file.lock();
    let end = offset + n as u64;
    let ahead = pages.readahead.extend(offset, end);
    fill(node, &mut pages, offset, end, ahead, size)?;
    Ok(pages.pieces(offset, n))
}

/// `write` of a disk file at `offset`: to the disk, and into the pages cached.
pub fn write(node: &DiskNode, offset: u64, data: &[u8]) -> Result<usize, Errno> {
    let file = node.pages();
    let mut pages = file.lock();
    let n = node.write_disk(offset, data)?;
    pages.update(offset, &data[..n]);
    Ok(n)
}

/// Sets a disk file's length: on the disk, and the cached pages past it dropped (the tail of the last
/// zeroed).
pub fn truncate(node: &DiskNode, len: u64) -> Result<(), Errno> {
    let file = node.pages();
    let mut pages = file.lock();
    write_back_locked(node, &mut pages)?;
    node.truncate_disk(len)?;
    pages.truncate(len);
    Ok(())
}

/// The frame of page `index` for a shared mapping (read from the disk when absent); [`PAST_EOF`] past the
/// end of the file. A `write` fault marks it dirty.
pub fn map_page(node: &DiskNode, size: u64, index: u64, write: bool) -> Result<Frame, Errno> {
    if index >= size.div_ceil(PAGE) {
        return Err(PAST_EOF);
    }
    let file = node.pages();
    let mut pages = file.lock();
    fill(node, &mut pages, index * PAGE, (index + 1) * PAGE, 0, size)?;
    let frame = pages.get(index).ok_or(Errno::EIO)?;
    if write {
        pages.mark_dirty(index);
    }
    Ok(frame)
}

/// Marks page `index` written through a shared mapping.
pub fn mark_dirty(node: &DiskNode, index: u64) {
    node.pages().lock().mark_dirty(index);
}

/// Writes the file's dirty pages to the disk (no further than its end).
pub fn write_back(node: &DiskNode) -> Result<(), Errno> {
    let file = node.pages();
    let mut pages = file.lock();
    write_back_locked(node, &mut pages)
}

fn write_back_locked(node: &DiskNode, pages: &mut Pages) -> Result<(), Errno> {
    let dirty = pages.take_dirty();
    if dirty.is_empty() {
        return Ok(());
    }
    // Writable translations go before the bytes are read: a store from now on faults, waits for this lock
    // and dirties its page again, so it is neither lost nor written twice. (No inode in use: nothing maps it.)
    if let Some(inode) = node.in_use() {
        inode.maps().write_protect(&inode);
    }
    let size = node.stat()?.1;
    let mut buf = [0u8; PAGE as usize];
    for (n, (index, frame)) in dirty.iter().enumerate() {
        let start = index * PAGE;
        if start >= size {
            continue;
        }
        let len = (size - start).min(PAGE) as usize;
        frame.read_bytes(0, &mut buf[..len]);
        if let Err(e) = node.write_disk(start, &buf[..len]) {
            // What was not written stays dirty, for the next write-back.
            dirty[n..].iter().for_each(|(i, _)| pages.mark_dirty(*i));
            return Err(e);
        }
    }
    Ok(())
}
