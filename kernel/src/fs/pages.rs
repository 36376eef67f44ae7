//! The page cache: a regular file's data in page frames, by page index. An in-memory file's pages are the
//! file itself ([`MemFile`]); a disk file's are a cache of its disk blocks kept by its mount
//! ([`super::ext`]). `read`, `write`, `mmap(MAP_SHARED)` and exec's loader all use the same frames, so a
//! write is seen at once by every reader and every shared mapping, in every process.

use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use ember_frame::mm::Frame;

/// Bytes in a page.
pub const PAGE: u64 = 4096;

/// What a fault on a shared file page past the end of the file gets: the fault handler sends `SIGBUS`
/// for it, a kernel copy fails with `EFAULT`.
pub const PAST_EOF: Errno = Errno::ENXIO;

/// A piece of a read: a page's frame (`None`: a hole, zeros), the offset in it and the length.
pub type Piece = (Option<Frame>, usize, usize);

/// One cached page.
struct Page {
    frame: Frame,
    /// Written through a shared mapping since it was last written to the disk.
    dirty: bool,
}

/// A file's pages by index. Absent pages of an in-memory file read as zeros (a hole).
#[derive(Default)]
pub struct Pages {
    map: BTreeMap<u64, Page>,
    /// A disk file's sequential-read state ([`super::diskpages::Readahead`]).
    pub(super) readahead: super::diskpages::Readahead,
}

/// The page index and in-page offset of byte `at`, and how many of `left` bytes lie in that page.
fn split(at: u64, left: usize) -> (u64, usize, usize) {
    let index = at / PAGE;
    let off = (at % PAGE) as usize;
    (index, off, left.min(PAGE as usize - off))
}

impl Pages {
    /// The frame of page `index`, if present.
    pub fn get(&self, index: u64) -> Option<Frame> {
        self.map.get(&index).map(|p| p.frame.clone())
    }

    /// Whether page `index` is present.
    pub fn has(&self, index: u64) -> bool {
        self.map.contains_key(&index)
    }

    /// The frame of page `index`; a zeroed one is added when it is absent.
    pub fn get_or_zero(&mut self, index: u64) -> Result<Frame, Errno> {
        if let Some(p) = self.map.get(&index) {
            return Ok(p.frame.clone());
        }
        let frame = Frame::alloc_zeroed().ok_or(Errno::ENOMEM)?;
        self.insert(index, frame.clone());
        Ok(frame)
    }

    /// Adds page `index` (clean).
    pub fn insert(&mut self, index: u64, frame: Frame) {
        self.map.insert(index, Page { frame, dirty: false });
    }

    /// Copies the bytes at `offset` into `buf`; absent pages read as zeros.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let (index, off, n) = split(offset + done as u64, buf.len() - done);
            let out = &mut buf[done..done + n];
            match self.map.get(&index) {
                Some(p) => {
                    p.frame.read_bytes(off, out);
                }
                None => out.fill(0),
            }
            done += n;
        }
    }

    /// The pieces of bytes `[offset, offset + len)`: (frame, or `None` for a hole; offset in it; length).
    pub fn pieces(&self, offset: u64, len: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut done = 0;
        while done < len {
            let (index, off, n) = split(offset + done as u64, len - done);
            out.push((self.get(index), off, n));
            done += n;
        }
        out
    }

    /// Copies `data` to `offset`, adding zeroed pages where absent (`ENOMEM` when none is left).
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < data.len() {
            let (index, off, n) = split(offset + done as u64, data.len() - done);
            self.get_or_zero(index)?.write_bytes(off, &data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Copies `data` to `offset` in the pages present only (a disk file's cache after a write to the disk).
    pub fn update(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let (index, off, n) = split(offset + done as u64, data.len() - done);
            if let Some(p) = self.map.get(&index) {
                p.frame.write_bytes(off, &data[done..done + n]);
            }
            done += n;
        }
    }

    /// Drops the pages wholly at or past byte `len` and zeroes the rest of the page holding it.
    pub fn truncate(&mut self, len: u64) {
        let keep = len.div_ceil(PAGE);
        drop(self.map.split_off(&keep));
        if !len.is_multiple_of(PAGE)
            && let Some(p) = self.map.get(&(len / PAGE))
        {
            let off = (len % PAGE) as usize;
            p.frame.write_bytes(off, &[0; PAGE as usize][off..]);
        }
    }

    /// Marks page `index` written through a mapping.
    pub fn mark_dirty(&mut self, index: u64) {
        if let Some(p) = self.map.get_mut(&index) {
            p.dirty = true;
        }
    }

    /// The dirty pages, by index, marked clean: the caller writes them back (and marks again those it could
    /// not write). Their mappings must lose write access before their bytes are read, so that a later store
    /// faults and dirties the page again ([`crate::vm::FileMaps::write_protect`]).
    pub fn take_dirty(&mut self) -> Vec<(u64, Frame)> {
        self.map
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .map(|(&i, p)| {
                p.dirty = false;
                (i, p.frame.clone())
            })
            .collect()
    }

    /// Drops the clean pages no mapping holds; how many.
    pub fn evict_clean(&mut self) -> usize {
        let before = self.map.len();
        self.map.retain(|_, p| p.dirty || p.frame.ref_count() > 1);
        before - self.map.len()
    }

    /// How many pages are present.
    pub fn count(&self) -> usize {
        self.map.len()
    }
}

/// An in-memory (tmpfs, initramfs) file: its length and its pages, which are never evicted.
#[derive(Default)]
pub struct MemFile {
    len: u64,
    pages: Pages,
}

impl MemFile {
    /// A file holding `data` (`ENOMEM` when frames run out).
    pub fn with(data: &[u8]) -> Result<MemFile, Errno> {
        let mut f = MemFile::default();
        f.write_at(0, data)?;
        Ok(f)
    }

    /// Its length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads at `offset`; the number of bytes copied.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let n = (buf.len() as u64).min(self.len.saturating_sub(offset)) as usize;
        self.pages.read(offset, &mut buf[..n]);
        n
    }

    /// The pieces a read at `offset` of up to `len` bytes returns (see [`Pages::pieces`]).
    pub fn pieces(&self, offset: u64, len: usize) -> Vec<Piece> {
        let n = (len as u64).min(self.len.saturating_sub(offset)) as usize;
        self.pages.pieces(offset, n)
    }

    /// Writes at `offset`, growing the file (the gap reads as zeros).
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        if offset > self.len {
            // Bytes of the last page past the old end may hold what a mapping wrote there: zero them.
            self.pages.truncate(self.len);
        }
        self.pages.write(offset, data)?;
        self.len = self.len.max(offset + data.len() as u64);
        Ok(())
    }

    /// How many of its pages exist (were written or touched).
    pub fn resident_pages(&self) -> usize {
        self.pages.count()
    }

    /// Sets the length (a shrink drops the pages past the end; a growth reads as zeros).
    pub fn set_len(&mut self, len: u64) {
        self.pages.truncate(len.min(self.len));
        self.len = len;
    }

    /// Replaces the contents (`/proc`'s generated files).
    pub fn set(&mut self, data: &[u8]) -> Result<(), Errno> {
        self.set_len(0);
        self.write_at(0, data)
    }

    /// The frame of page `index` for a shared mapping; [`PAST_EOF`] past the end of the file.
    pub fn map_page(&mut self, index: u64) -> Result<Frame, Errno> {
        if index >= self.len.div_ceil(PAGE) {
            return Err(PAST_EOF);
        }
        self.pages.get_or_zero(index)
    }
}
