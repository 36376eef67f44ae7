//! A process's memory: regions (VMAs) over the framework's [`VmSpace`], demand paging, copy-on-write,
//! `brk`, `mmap` and friends.
//!
//! Pages are mapped lazily: a region records what belongs there (zeros, or pages of a file), and the first
//! touch (a user page fault, or a kernel copy that faults) maps a page. After `fork` both processes map the
//! same frames read-only; the first write to a private page copies it unless no one else maps it (a private
//! file page still the page cache's always has another user: the cache). Each file records the spaces that
//! map it ([`FileMaps`]), so that a truncation unmaps its pages past the new end everywhere.

mod region;
mod rmap;

use crate::fs::inode::Inode;
use crate::fs::pages::PAST_EOF;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use ember_frame::mm::{Frame, PageProt, TlbFlush, UserAddr, VmSpace};
use ember_frame::sync::Mutex;
use ember_frame::user::USER_END;
pub use region::{Backing, Prot, Region};
pub use rmap::FileMaps;

/// Page size.
pub const PAGE: u64 = 4096;
/// Top of the main thread's stack.
pub const STACK_TOP: u64 = 0x7FFF_FFFF_F000;
/// Size reserved for the main thread's stack (Linux's default `RLIMIT_STACK`).
pub const STACK_SIZE: u64 = 8 << 20;
/// `mmap` without a hint allocates downward from here (below the stack and a guard gap).
const MMAP_TOP: u64 = STACK_TOP - STACK_SIZE - (1 << 30);
/// Lowest address `mmap` hands out (Linux's default `mmap_min_addr`).
const MMAP_MIN: u64 = 0x10000;

fn page_down(a: u64) -> u64 {
    a & !(PAGE - 1)
}

fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE - 1).map(page_down)
}

/// A process's address space. See the module documentation.
pub struct Vm {
    space: Arc<VmSpace>,
    inner: Mutex<Inner>,
    /// Itself, for the reverse mappings of the files it maps ([`FileMaps`]).
    me: Weak<Vm>,
}

struct Inner {
    /// Regions by start address; they never overlap.
    regions: BTreeMap<u64, Region>,
    brk_start: u64,
    brk: u64,
}

impl Vm {
    /// Every region's start, end, rights and sharing, in address order (`/proc/PID/maps`).
    pub fn layout(&self) -> alloc::vec::Vec<(u64, u64, Prot, bool)> {
        let inner = self.inner.lock();
        inner
            .regions
            .values()
            .map(|r| (r.start, r.end, r.prot, r.shared))
            .collect()
    }

    /// Where the program break started and where it is.
    pub fn brk_range(&self) -> (u64, u64) {
        let inner = self.inner.lock();
        (inner.brk_start, inner.brk)
    }

    /// An empty address space.
    pub fn new() -> Result<Arc<Vm>, Errno> {
        let space = Arc::new(VmSpace::new().map_err(|_| Errno::ENOMEM)?);
        Ok(Arc::new_cyclic(|me| Vm {
            space,
            inner: Mutex::new(Inner {
                regions: BTreeMap::new(),
                brk_start: 0,
                brk: 0,
            }),
            me: me.clone(),
        }))
    }

    /// Records this space in the reverse mappings of the file `region` maps, if any (before any of its
    /// pages is mapped here).
    fn register(&self, region: &Region) {
        if let Some(file) = region.file() {
            file.maps().add(&self.me);
        }
    }

    /// Unmaps the pages that are file pages `index..` of `file` (or copies of them) from every region that
    /// maps `file` (see [`FileMaps::unmap_from`]).
    fn unmap_file(&self, file: &Inode, index: u64) {
        self.update_file_pages(file, |r| r.file_pages_from(index), |_| None);
    }

    /// Takes write access from the pages of every shared mapping of `file` (see [`FileMaps::write_protect`]).
    fn write_protect_file(&self, file: &Inode) {
        self.update_file_pages(
            file,
            |r| r.shared_page(r.start).is_some().then_some((r.start, r.end)),
            |p| Some(PageProt { write: false, ..p }),
        );
    }

    /// Rewrites (or, with `None`, unmaps) the mapped pages of the range `range` picks in each region mapping
    /// `file`, shooting the old translations down after the regions' lock is released.
    fn update_file_pages(
        &self,
        file: &Inode,
        range: impl Fn(&Region) -> Option<(u64, u64)>,
        prot: impl Fn(PageProt) -> Option<PageProt>,
    ) {
        let inner = self.inner.lock();
        let mut flushes = alloc::vec::Vec::new();
        for r in inner.regions.values() {
            if r.file().is_some_and(|f| core::ptr::eq(Arc::as_ptr(f), file))
                && let Some((s, e)) = range(r)
                && let Some(s) = UserAddr::new(s)
            {
                flushes.push(self.space.update_range(s, e, |_, _, p| prot(p)));
            }
        }
        // The shootdowns wait for other CPUs: after the regions' lock is released.
        drop(inner);
        drop(flushes);
    }

    /// The framework's page table for this space.
    pub fn space(&self) -> &Arc<VmSpace> {
        &self.space
    }

    /// Adds a region (after loading an executable, the stack); the range must be free.
    pub fn insert(&self, region: Region) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        if inner.overlaps(region.start, region.end) {
            return Err(Errno::EINVAL);
        }
        self.register(&region);
        inner.regions.insert(region.start, region);
        Ok(())
    }

    /// Sets where the heap (`brk`) starts.
    pub fn set_brk_start(&self, at: u64) {
        let mut inner = self.inner.lock();
        inner.brk_start = at;
        inner.brk = at;
    }

    /// Handles a fault at `addr`: maps the page if its region allows the access. `Err(EFAULT)` when it does
    /// not (the caller sends SIGSEGV or returns EFAULT).
    pub fn handle_fault(&self, addr: u64, write: bool, exec: bool) -> Result<(), Errno> {
        let inner = self.inner.lock();
        let done = self.fault_locked(&inner, addr, write, exec);
        // A copy-on-write replacement's shootdown waits for other CPUs: after the regions' lock is released.
        drop(inner);
        match done? {
            Fault::Mapped(flush) => drop(flush),
            Fault::Shared(va, file, index) => self.fault_shared(va, &file, index, write)?,
            Fault::PrivateFile(va, region) => self.fault_private_file(va, &region, write)?,
        }
        Ok(())
    }

    /// The part of [`Vm::handle_fault`] under the regions' lock.
    fn fault_locked(&self, inner: &Inner, addr: u64, write: bool, exec: bool) -> Result<Fault<'_>, Errno> {
        let region = inner.find(addr).ok_or(Errno::EFAULT)?;
        // x86 pages cannot be write- or execute-only: PROT_WRITE and PROT_EXEC imply reading, as on Linux.
        let p = region.prot;
        if (write && !p.write) || (exec && !p.exec) || !(p.read || p.write || p.exec) {
            return Err(Errno::EFAULT);
        }
        let page = page_down(addr);
        let va = UserAddr::new(page).ok_or(Errno::EFAULT)?;
        if let Some((file, index)) = region.shared_page(page) {
            return Ok(Fault::Shared(va, file.clone(), index));
        }
        let frame = match self.space.query(va) {
            Some((frame, prot)) if write && !prot.write => {
                // Copy-on-write: keep the frame when no one else maps it (or the region is shared). A private
                // file page still the page cache's counts the cache as a user: it is copied.
                if region.shared || frame.ref_count() <= 2 {
                    frame
                } else {
                    frame.duplicate().ok_or(Errno::ENOMEM)?
                }
            }
            Some(_) => return Ok(Fault::Mapped(None)),
            None if matches!(region.backing, Backing::File { .. }) => {
                return Ok(Fault::PrivateFile(va, region.clone()));
            }
            None => region.fill(page)?,
        };
        let flush = self
            .space
            .map(va, frame, region.page_prot())
            .map_err(|_| Errno::ENOMEM)?;
        Ok(Fault::Mapped(Some(flush)))
    }

    /// Maps the page at `va` of `region`, a private file mapping, for a fault there: the page cache's frame,
    /// read-only, when the page is a whole file page (a write fault maps a copy), else a copy of the file's
    /// bytes. The file is read outside the regions' lock (a disk read sleeps); the page is then mapped if
    /// the region is still there, the same, and no truncation came between (else the access faults again).
    fn fault_private_file(&self, va: UserAddr, region: &Region, write: bool) -> Result<(), Errno> {
        let Some(file) = region.file() else {
            return Ok(());
        };
        let generation = file.maps().generation();
        let (frame, cached) = match region.cache_page(va.get()) {
            Some((file, index)) => (file.map_page(index, false)?, true),
            None => (region.fill(va.get())?, false),
        };
        let inner = self.inner.lock();
        let Some(now) = inner.find(va.get()) else {
            return Ok(());
        };
        if !now.same_source(region) || file.maps().generation() != generation || self.space.query(va).is_some() {
            return Ok(());
        }
        let mut prot = now.page_prot();
        let frame = if !cached {
            frame
        } else if write && prot.write {
            frame.duplicate().ok_or(Errno::ENOMEM)?
        } else {
            prot.write = false;
            frame
        };
        let flush = self.space.map(va, frame, prot).map_err(|_| Errno::ENOMEM)?;
        drop(inner);
        drop(flush);
        Ok(())
    }

    /// Maps file page `index` of `file` at `va` for a fault in a shared file mapping. The page is found
    /// outside the regions' lock (a disk file's may be read from the disk, which sleeps), then mapped if the
    /// region still maps that page (else the access faults again). A disk file's page is mapped writable
    /// only on a write fault, which marks it dirty, so that writes through mappings reach the disk.
    fn fault_shared(&self, va: UserAddr, file: &Arc<Inode>, index: u64, write: bool) -> Result<(), Errno> {
        let generation = file.maps().generation();
        let frame = file.map_page(index, write)?;
        let inner = self.inner.lock();
        if file.maps().generation() != generation {
            // A truncation came between: the page may be gone from the file.
            return Ok(());
        }
        let Some(region) = inner.find(va.get()) else {
            return Ok(());
        };
        if region
            .shared_page(va.get())
            .is_none_or(|(f, i)| !Arc::ptr_eq(f, file) || i != index)
        {
            return Ok(());
        }
        let mut prot = region.page_prot();
        prot.write &= write || !file.tracks_dirty();
        if prot.write || self.space.query(va).is_none() {
            let flush = self.space.map(va, frame, prot).map_err(|_| Errno::ENOMEM)?;
            drop(inner);
            drop(flush);
        }
        Ok(())
    }

    /// Writes back the dirty pages of the disk files mapped shared in `[start, start + len)` (`msync`), and
    /// when `durable` their file systems and disks too, as `fsync` (`MS_SYNC`); `ENOMEM` when part of the
    /// range is not mapped.
    pub fn sync_range(&self, start: u64, len: u64, durable: bool) -> Result<(), Errno> {
        let end = page_up(start.checked_add(len).ok_or(Errno::ENOMEM)?).ok_or(Errno::ENOMEM)?;
        let files = {
            let inner = self.inner.lock();
            if !inner.covers(start, end) {
                return Err(Errno::ENOMEM);
            }
            inner.shared_files(start, end)
        };
        files.iter().try_for_each(|f| {
            f.write_back()?;
            if durable {
                crate::fs::disk::sync_file(Some(f))?;
            }
            Ok(())
        })
    }

    /// The physical address backing `addr` when it lies in a shared mapping (bringing the page in), else
    /// `None`: a process-shared futex there is named by that address, which every process mapping the page
    /// sees alike.
    pub fn shared_paddr(&self, addr: u64) -> Result<Option<u64>, Errno> {
        if !self.inner.lock().find(addr).ok_or(Errno::EFAULT)?.shared {
            return Ok(None);
        }
        self.handle_fault(addr, false, false)?;
        let va = UserAddr::new(page_down(addr)).ok_or(Errno::EFAULT)?;
        let (frame, _) = self.space.query(va).ok_or(Errno::EFAULT)?;
        Ok(Some(frame.paddr() + (addr - page_down(addr))))
    }

    /// Copies user memory at `addr` into `buf`, bringing pages in as needed.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        loop {
            let va = UserAddr::new(addr + done as u64).ok_or(Errno::EFAULT)?;
            match self.space.read_bytes(va, &mut buf[done..]) {
                Ok(()) => return Ok(()),
                Err(f) => {
                    self.handle_fault(f.addr, false, false).map_err(copy_errno)?;
                    done = resume_at(addr, f.addr, buf.len(), done);
                }
            }
        }
    }

    /// Copies `data` to user memory at `addr`, bringing pages in (and copying shared ones) as needed.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        loop {
            let va = UserAddr::new(addr + done as u64).ok_or(Errno::EFAULT)?;
            match self.space.write_bytes(va, &data[done..]) {
                Ok(()) => return Ok(()),
                Err(f) => {
                    self.handle_fault(f.addr, true, false).map_err(copy_errno)?;
                    done = resume_at(addr, f.addr, data.len(), done);
                }
            }
        }
    }

    /// Copies `len` bytes of `frame` from `offset` to user memory at `addr` (a page-cache read in one copy),
    /// bringing pages in as needed.
    pub fn write_frame(&self, addr: u64, frame: &Frame, offset: usize, len: usize) -> Result<(), Errno> {
        let mut done = 0;
        loop {
            let va = UserAddr::new(addr + done as u64).ok_or(Errno::EFAULT)?;
            match self.space.write_from_frame(va, frame, offset + done, len - done) {
                Ok(()) => return Ok(()),
                Err(f) => {
                    self.handle_fault(f.addr, true, false).map_err(copy_errno)?;
                    done = resume_at(addr, f.addr, len, done);
                }
            }
        }
    }

    /// The copy of this space that `fork` gives the child: the same regions; private pages shared
    /// read-only in both (copy-on-write), shared pages shared as they are.
    pub fn fork(&self) -> Result<Arc<Vm>, Errno> {
        let child = Vm::new()?;
        let inner = self.inner.lock();
        let mut failed = false;
        for region in inner.regions.values() {
            let Some(start) = UserAddr::new(region.start) else {
                continue;
            };
            // Before its pages are copied: a truncation unmapping the parent's then sees the child too.
            child.register(region);
            // The parent's pages turn read-only and every CPU forgets their writable translations before the
            // regions' lock is released (the flush is dropped at once): a thread that write-faults on one of
            // them afterwards copies it, and no other thread may still write to the original, now the child's.
            let flush = self.space.update_range(start, region.end, |va, frame, prot| {
                let keep = if region.shared {
                    prot
                } else {
                    PageProt { write: false, ..prot }
                };
                let mapped = UserAddr::new(va).map(|a| child.space.map(a, frame.clone(), keep));
                failed |= !matches!(mapped, Some(Ok(_)));
                Some(keep)
            });
            drop(flush);
            child.inner.lock().regions.insert(region.start, region.clone());
        }
        let mut ci = child.inner.lock();
        ci.brk_start = inner.brk_start;
        ci.brk = inner.brk;
        drop(ci);
        if failed { Err(Errno::ENOMEM) } else { Ok(child) }
    }

    /// `brk`: moves the end of the heap; returns the (new or unchanged) break.
    pub fn brk(&self, want: u64) -> u64 {
        let mut inner = self.inner.lock();
        let (start, old) = (inner.brk_start, inner.brk);
        if want < start || want >= MMAP_TOP {
            return old;
        }
        let (Some(old_end), Some(new_end)) = (page_up(old), page_up(want)) else {
            return old;
        };
        if new_end > old_end {
            if inner.overlaps(old_end, new_end) {
                return old;
            }
            match inner.regions.get_mut(&start).filter(|r| r.end == old_end) {
                Some(r) => r.end = new_end,
                None => {
                    inner
                        .regions
                        .insert(old_end, Region::anonymous(old_end, new_end, Prot::RW, false));
                }
            }
        } else if new_end < old_end {
            drop(inner);
            self.unmap(new_end, old_end - new_end);
            inner = self.inner.lock();
        }
        inner.brk = want;
        drop(inner);
        if new_end > old_end {
            self.space.flush_pending();
        }
        want
    }

    /// `mmap`: maps `len` bytes with `prot`, at `hint` when `fixed` (replacing what was there) or where
    /// there is room; returns the address.
    pub fn mmap(
        &self,
        hint: u64,
        len: u64,
        region: impl FnOnce(u64, u64) -> Region,
        fixed: bool,
        noreplace: bool,
    ) -> Result<u64, Errno> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(Errno::ENOMEM)?;
        // What `MAP_FIXED` replaced, shot down once the lock is released.
        let mut flush = None;
        // One critical section from choosing the range to inserting the region: another thread's `mmap` on
        // another CPU must not choose the same range.
        let mut inner = self.inner.lock();
        let start = if fixed || noreplace {
            if !hint.is_multiple_of(PAGE) || hint.checked_add(len).is_none_or(|e| e > USER_END) || hint < MMAP_MIN {
                return Err(Errno::EINVAL);
            }
            if noreplace && inner.overlaps(hint, hint + len) {
                return Err(Errno::EEXIST);
            }
            flush = self.unmap_locked(&mut inner, hint, hint + len);
            hint
        } else {
            let hinted = page_down(hint);
            if hinted >= MMAP_MIN
                && hinted.checked_add(len).is_some_and(|e| e <= MMAP_TOP)
                && !inner.overlaps(hinted, hinted + len)
            {
                hinted
            } else {
                inner.find_free(len).ok_or(Errno::ENOMEM)?
            }
        };
        let r = region(start, start + len);
        self.register(&r);
        let shared_anon = r.shared && matches!(r.backing, Backing::Anonymous);
        inner.regions.insert(start, r);
        drop(inner);
        drop(flush);
        self.space.flush_pending();
        if shared_anon {
            // Shared pages must exist before a fork can share them: map them now.
            let mut at = start;
            while at < start + len {
                self.handle_fault(at, false, false)?;
                at += PAGE;
            }
        }
        Ok(start)
    }

    /// A copy of the region that starts exactly at `addr`, if one does.
    pub fn region_starting_at(&self, addr: u64) -> Option<Region> {
        self.inner.lock().regions.get(&addr).cloned()
    }

    /// `munmap`: removes `[start, start + len)` (page-rounded) from every region.
    pub fn unmap(&self, start: u64, len: u64) {
        let Some(end) = page_up(start.saturating_add(len)) else {
            return;
        };
        let start = page_down(start);
        let mut inner = self.inner.lock();
        let files = inner.shared_files(start, end);
        let flush = self.unmap_locked(&mut inner, start, end);
        drop(inner);
        drop(flush);
        // Unmapped, the pages written through the mapping go to the disk (a failure is the file system's
        // to report; `munmap` itself succeeds, as on Linux).
        for f in files {
            if let Err(e) = f.write_back() {
                log::warn!("munmap: write-back of a shared file mapping failed: errno {}", e.0);
            }
        }
    }

    /// Removes `[start, end)` (page-aligned) from the regions and its pages from the page table, under the
    /// regions' lock: a fault or `mmap` on another CPU sees the range either mapped or free, never regions
    /// gone with pages left (which a new mapping's pages would then be unmapped with). The caller drops the
    /// returned flush after releasing the lock: the other CPUs' acknowledgements are waited for outside it,
    /// and the frames are freed only after they all came (see [`TlbFlush`]). A new mapping of the range made
    /// meanwhile calls [`VmSpace::flush_pending`] before it is used.
    fn unmap_locked(&self, inner: &mut Inner, start: u64, end: u64) -> Option<TlbFlush<'_>> {
        inner.split(start);
        inner.split(end);
        let doomed: alloc::vec::Vec<u64> = inner.regions.range(start..end).map(|(&s, _)| s).collect();
        for s in doomed {
            inner.regions.remove(&s);
        }
        UserAddr::new(start).map(|s| self.space.update_range(s, end, |_, _, _| None))
    }

    /// `mprotect`: every page of `[start, start + len)` must be mapped; sets its rights.
    pub fn protect(&self, start: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        if !start.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let end = page_up(start.checked_add(len).ok_or(Errno::ENOMEM)?).ok_or(Errno::ENOMEM)?;
        let mut inner = self.inner.lock();
        if !inner.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        inner.split(start);
        inner.split(end);
        let mut shared = false;
        let mut tracked = false;
        for (_, r) in inner.regions.range_mut(start..end) {
            r.prot = prot;
            shared |= r.shared;
            tracked |= r.shared_page(r.start).is_some_and(|(f, _)| f.tracks_dirty());
        }
        // The pages change under the regions' lock too (see `unmap_locked`).
        let page_prot = PageProt {
            write: prot.write,
            exec: prot.exec,
        };
        let flush = UserAddr::new(start).map(|s| {
            self.space.update_range(s, end, |_, frame, _| {
                if !prot.read && !prot.write && !prot.exec {
                    return None;
                }
                // A private page that another space also maps stays read-only: its next write copies it.
                // A disk file's shared page stays read-only too: its next write marks it dirty.
                let write = page_prot.write && !tracked && (shared || frame.ref_count() <= 1);
                Some(PageProt { write, ..page_prot })
            })
        });
        drop(inner);
        drop(flush);
        Ok(())
    }

    /// `madvise(MADV_DONTNEED)`: private anonymous pages read as zero again.
    pub fn discard(&self, start: u64, len: u64) -> Result<(), Errno> {
        let end = page_up(start.checked_add(len).ok_or(Errno::EINVAL)?).ok_or(Errno::EINVAL)?;
        let inner = self.inner.lock();
        let private: alloc::vec::Vec<(u64, u64)> = inner
            .regions
            .values()
            .filter(|r| !r.shared && r.start < end && start < r.end)
            .map(|r| (r.start.max(start), r.end.min(end)))
            .collect();
        let flushes: alloc::vec::Vec<TlbFlush<'_>> = private
            .into_iter()
            .filter_map(|(s, e)| UserAddr::new(s).map(|s| self.space.update_range(s, e, |_, _, _| None)))
            .collect();
        drop(inner);
        drop(flushes);
        Ok(())
    }

    /// `mremap`: resizes the mapping at `old` (in place when it can, else moves it when `may_move`).
    pub fn remap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        may_move: bool,
        fixed: Option<u64>,
    ) -> Result<u64, Errno> {
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).filter(|&l| l > 0).ok_or(Errno::EINVAL)?;
        if !old.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let template = {
            let inner = self.inner.lock();
            let r = inner.find(old).ok_or(Errno::EFAULT)?;
            if old + old_len > r.end {
                return Err(Errno::EFAULT);
            }
            r.clone()
        };
        if let Some(new) = fixed {
            // MREMAP_FIXED: exactly at `new`, replacing what is there; the two ranges may not overlap.
            let end = new
                .checked_add(new_len)
                .filter(|&e| e <= USER_END)
                .ok_or(Errno::EINVAL)?;
            if !new.is_multiple_of(PAGE) || new < MMAP_MIN || (new < old + old_len && old < end) {
                return Err(Errno::EINVAL);
            }
            let mut inner = self.inner.lock();
            let flush = self.unmap_locked(&mut inner, new, end);
            inner
                .regions
                .insert(new, template.slice(old, old + new_len).moved_to(new));
            drop(inner);
            drop(flush);
            self.space.flush_pending();
            return self.move_pages(old, old_len, new, new_len);
        }
        if new_len <= old_len {
            self.unmap(old + new_len, old_len - new_len);
            return Ok(old);
        }
        {
            let mut inner = self.inner.lock();
            if old + new_len <= MMAP_TOP.max(USER_END) && !inner.overlaps(old + old_len, old + new_len) {
                inner.split(old + old_len);
                let grown = template.slice(old + old_len, old + new_len);
                inner.regions.insert(old + old_len, grown);
                drop(inner);
                self.space.flush_pending();
                return Ok(old);
            }
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let new = {
            // Chosen and taken in one critical section (see `mmap`).
            let mut inner = self.inner.lock();
            let new = inner.find_free(new_len).ok_or(Errno::ENOMEM)?;
            inner
                .regions
                .insert(new, template.slice(old, old + new_len).moved_to(new));
            new
        };
        self.space.flush_pending();
        self.move_pages(old, old_len, new, new_len)
    }

    /// `mremap` with `MREMAP_DONTUNMAP`: the pages of private anonymous `[old, old + len)` move to a new
    /// range (at `fixed`, or one chosen), and the old range stays mapped without pages (it reads as zeros
    /// again). `EINVAL` for other memory.
    pub fn remap_keeping_old(&self, old: u64, len: u64, fixed: Option<u64>) -> Result<u64, Errno> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(Errno::EINVAL)?;
        if !old.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.inner.lock();
        let template = inner.find(old).ok_or(Errno::EFAULT)?.clone();
        if old + len > template.end {
            return Err(Errno::EFAULT);
        }
        if template.shared || !matches!(template.backing, Backing::Anonymous) {
            return Err(Errno::EINVAL);
        }
        let mut flush = None;
        let new = match fixed {
            Some(new) => {
                let end = new.checked_add(len).filter(|&e| e <= USER_END).ok_or(Errno::EINVAL)?;
                if !new.is_multiple_of(PAGE) || new < MMAP_MIN || (new < old + len && old < end) {
                    return Err(Errno::EINVAL);
                }
                flush = self.unmap_locked(&mut inner, new, end);
                new
            }
            None => inner.find_free(len).ok_or(Errno::ENOMEM)?,
        };
        inner.regions.insert(new, template.slice(old, old + len).moved_to(new));
        drop(inner);
        drop(flush);
        self.space.flush_pending();
        self.move_present(old, len, new)?;
        Ok(new)
    }

    /// Moves the present pages of `[old, old + len)` to the same offsets from `new` (the same frames at new
    /// addresses), leaving the old addresses without pages.
    fn move_present(&self, old: u64, len: u64, new: u64) -> Result<(), Errno> {
        if let Some(s) = UserAddr::new(old) {
            let mut moved = alloc::vec::Vec::new();
            drop(self.space.update_range(s, old + len, |va, frame, prot| {
                moved.push((va - old + new, frame.clone(), prot));
                None
            }));
            for (to, frame, prot) in moved {
                if let Some(to) = UserAddr::new(to) {
                    drop(self.space.map(to, frame, prot).map_err(|_| Errno::ENOMEM)?);
                }
            }
        }
        Ok(())
    }

    /// Moves the present pages of `[old, old + old_len)` to `[new, new + new_len)`, whose region the caller
    /// inserted (the same frames at new addresses); the old range is unmapped.
    fn move_pages(&self, old: u64, old_len: u64, new: u64, new_len: u64) -> Result<u64, Errno> {
        self.move_present(old, old_len.min(new_len), new)?;
        self.unmap(old, old_len);
        Ok(new)
    }
}

impl Inner {
    /// The disk files mapped shared in `[start, end)` (each once): those whose pages may be dirty.
    fn shared_files(&self, start: u64, end: u64) -> alloc::vec::Vec<Arc<Inode>> {
        let mut files: alloc::vec::Vec<Arc<Inode>> = alloc::vec::Vec::new();
        for r in self.regions.values().filter(|r| r.start < end && start < r.end) {
            if let Backing::Shared { file, .. } = &r.backing
                && file.tracks_dirty()
                && !files.iter().any(|f| Arc::ptr_eq(f, file))
            {
                files.push(file.clone());
            }
        }
        files
    }

    fn find(&self, addr: u64) -> Option<&Region> {
        self.regions
            .range(..=addr)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| addr < r.end)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.regions
            .range(..end)
            .next_back()
            .is_some_and(|(_, r)| r.end > start)
    }

    /// Whether `[start, end)` is mapped without holes.
    fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(r) => at = r.end,
                None => return false,
            }
        }
        true
    }

    /// Splits the region containing `at` (strictly inside) in two.
    fn split(&mut self, at: u64) {
        let Some((&s, r)) = self.regions.range(..at).next_back() else {
            return;
        };
        if r.end <= at {
            return;
        }
        let upper = r.slice(at, r.end);
        self.regions.get_mut(&s).expect("region just found").end = at;
        self.regions.insert(at, upper);
    }

    /// The highest free range of `len` bytes below `MMAP_TOP`.
    fn find_free(&self, len: u64) -> Option<u64> {
        let mut top = MMAP_TOP;
        for (_, r) in self.regions.range(..MMAP_TOP).rev() {
            if r.end <= top && top - r.end >= len {
                return Some(top - len);
            }
            top = top.min(r.start);
        }
        (top >= MMAP_MIN + len).then(|| top - len)
    }
}

/// What [`Vm::fault_locked`] leaves to do once the regions' lock is released.
enum Fault<'a> {
    /// The page is mapped (or was already); the shootdown of a copy-on-write replacement, if there was one.
    Mapped(Option<TlbFlush<'a>>),
    /// The page is file page `index` of a shared file mapping, which may have to be read (and sleep) first.
    Shared(UserAddr, Arc<Inode>, u64),
    /// The page is not mapped and lies in this private file mapping, whose file may have to be read first.
    PrivateFile(UserAddr, Region),
}

/// The errno of a user copy whose fault could not be handled: a shared file page past the end of the file
/// is `EFAULT` to a system call (`SIGBUS` only to user code).
fn copy_errno(e: Errno) -> Errno {
    if e == PAST_EOF { Errno::EFAULT } else { e }
}

/// Makes a region's frame at `page` (zeros, or bytes of the backing file). Used by [`Region::fill`].
fn zeroed_frame() -> Result<Frame, Errno> {
    Frame::alloc_zeroed().ok_or(Errno::ENOMEM)
}

/// Where a user copy of `len` bytes at `addr` resumes after a fault at `fault` was handled, `done` bytes in:
/// the bytes before the faulting page were copied (the copy runs forward), so it goes on from there instead of
/// from the start, which made a copy over N copy-on-write pages cost N times its length.
fn resume_at(addr: u64, fault: u64, len: usize, done: usize) -> usize {
    let page = fault & !0xfff;
    (page.saturating_sub(addr) as usize).clamp(done, len)
}
