//! [`VmSpace`]: a user address space, the lower half of a page table whose upper half is the kernel's.
//!
//! It maps [`Frame`]s at page-aligned user addresses with user permissions; each mapped page holds one
//! reference to its frame. It knows nothing of regions, files or copy-on-write policy: the kernel's memory
//! manager decides what to map and asks through [`VmSpace::map`], [`VmSpace::unmap`], [`VmSpace::protect`]
//! and [`VmSpace::query`]. User memory is read and written only by copies that turn a fault into an error.
//!
//! TLB: a change flushes the page on this CPU when the space is loaded here, then shoots down the other CPUs
//! that have it loaded before any frame the change released can be freed or reused. The protocol (per CPU,
//! two flags in [`crate::cpu::local::CpuLocal`]): a CPU uses user translations only in user mode and in the
//! user copy, and around each such use it sets `tlb_using` and then flushes its whole TLB if `tlb_pending` is
//! set. The changing CPU sets `tlb_pending` of each other CPU with the space loaded, then reads its
//! `tlb_using`: when set, it kicks that CPU (out of user mode, into the kernel) and waits until the flag or
//! the request clears. Both sides write one flag and then read the other (sequentially consistent), so a CPU
//! that is not waited for flushes before its next use. The wait never depends on a lock: a CPU using user
//! translations is in user mode (interrupts on) or in the copy (which takes no lock and ends).
//!
//! The changes that may need a shootdown ([`VmSpace::map`] over a mapped page, [`VmSpace::update_range`])
//! return it as a [`TlbFlush`], so that the caller waits for the other CPUs after releasing its own locks (see
//! [`super::tlb_flush`]); [`VmSpace::unmap`] waits before it returns.

use super::KERNEL_PT;
use super::layout::{PAGE_SIZE, phys_to_virt};
use super::page::Frame;
use super::page_table::{ADDR_MASK, MapError, NO_EXECUTE, PRESENT, PageTable, USER, WRITABLE};
use super::tlb_flush::TlbFlush;
use crate::arch::regs;
use crate::cpu::local::{self, assert_may_sleep, this_cpu};
use crate::sync::Mutex;
use crate::user::USER_END;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Access rights of a user page (always readable when present).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageProt {
    /// Writes allowed.
    pub write: bool,
    /// Instruction fetches allowed.
    pub exec: bool,
}

/// A user address: below [`USER_END`], so never kernel memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserAddr(u64);

impl UserAddr {
    /// `addr` as a user address, or `None` when it lies at or above [`USER_END`].
    pub fn new(addr: u64) -> Option<UserAddr> {
        (addr < USER_END).then_some(UserAddr(addr))
    }

    /// The address.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Whether `[self, self + len)` stays in user space.
    pub fn range_ok(self, len: usize) -> bool {
        self.0.checked_add(len as u64).is_some_and(|end| end <= USER_END)
    }
}

/// Why a user memory access failed: the address the fault (or the missing page) was at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFault {
    /// The first user address that could not be accessed.
    pub addr: u64,
    /// Whether the access was a write.
    pub write: bool,
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmError {
    /// Not a page-aligned user address.
    BadAddress,
    /// No frame left for a page table.
    OutOfMemory,
}

/// A user address space. See the module documentation.
pub struct VmSpace {
    table: Mutex<PageTable>,
    root: u64,
    /// [`TlbFlush`]es made and not yet finished (their shootdown still to do or under way).
    pub(super) flushes_in_flight: AtomicUsize,
}

impl core::fmt::Debug for VmSpace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VmSpace({:#x})", self.root)
    }
}

fn page_addr(va: UserAddr) -> Result<u64, VmError> {
    let v = va.get();
    if v.is_multiple_of(PAGE_SIZE) {
        Ok(v)
    } else {
        Err(VmError::BadAddress)
    }
}

impl VmSpace {
    /// An empty user address space (the kernel's half is shared).
    pub fn new() -> Result<VmSpace, VmError> {
        let kernel = KERNEL_PT.lock();
        let kernel = kernel.as_ref().ok_or(VmError::OutOfMemory)?;
        let table = PageTable::new_user(kernel).map_err(|_| VmError::OutOfMemory)?;
        Ok(VmSpace {
            root: table.root(),
            table: Mutex::new(table),
            flushes_in_flight: AtomicUsize::new(0),
        })
    }

    fn flags(&self, table: &PageTable, prot: PageProt) -> u64 {
        let mut flags = PRESENT | USER;
        if prot.write {
            flags |= WRITABLE;
        }
        if !prot.exec {
            flags |= table.no_exec();
        }
        flags
    }

    fn prot_of(entry: u64) -> PageProt {
        PageProt {
            write: entry & WRITABLE != 0,
            exec: entry & NO_EXECUTE == 0,
        }
    }

    /// Whether this space is loaded on this CPU.
    pub fn is_active(&self) -> bool {
        this_cpu().active_root.load(Ordering::Relaxed) == self.root
    }

    fn flush(&self, va: u64) {
        if self.is_active() {
            regs::invlpg(va);
        }
    }

    /// Makes every other CPU with this space loaded drop its user translations before it uses them again,
    /// and waits for those using them now. Called after changing entries, before releasing their frames.
    pub(super) fn shootdown(&self) {
        core::sync::atomic::fence(Ordering::SeqCst);
        let me = crate::cpu::current_index();
        let mut waiting = 0u32;
        for i in (0..crate::cpu::online_count()).filter(|&i| i != me) {
            let cpu = local::cpu(i);
            if cpu.active_root.load(Ordering::SeqCst) != self.root {
                continue;
            }
            cpu.tlb_pending.store(true, Ordering::SeqCst);
            if cpu.tlb_using.load(Ordering::SeqCst) {
                crate::cpu::smp::kick(i);
                waiting |= 1 << i;
            }
        }
        while waiting != 0 {
            let i = waiting.trailing_zeros() as usize;
            let cpu = local::cpu(i);
            if !cpu.tlb_pending.load(Ordering::SeqCst) || !cpu.tlb_using.load(Ordering::SeqCst) {
                waiting &= !(1 << i);
            } else {
                core::hint::spin_loop();
            }
        }
    }

    /// Maps `frame` at the page `va` with `prot`. The frame mapped there before, if any, is released by the
    /// returned [`TlbFlush`] once the other CPUs dropped their translations of it.
    pub fn map(&self, va: UserAddr, frame: Frame, prot: PageProt) -> Result<TlbFlush<'_>, VmError> {
        let va = page_addr(va)?;
        let mut table = self.table.lock();
        let flags = self.flags(&table, prot);
        let paddr = frame.into_raw();
        // SAFETY: the entry takes over the reference `into_raw` released; the TLB is flushed below.
        match unsafe { table.set_user_page(va, paddr, flags) } {
            Ok(old) => {
                drop(table);
                if old.is_some() {
                    self.flush(va);
                }
                // SAFETY: the old entry held a reference, which is now ours (released after the shootdown).
                let old: alloc::vec::Vec<Frame> = old
                    .map(|e| unsafe { Frame::from_raw(e & ADDR_MASK) })
                    .into_iter()
                    .collect();
                Ok(TlbFlush::new(self, !old.is_empty(), old))
            }
            Err(MapError::OutOfMemory | MapError::AlreadyMapped(_)) => {
                // SAFETY: the entry was not written, so the reference is still ours.
                drop(unsafe { Frame::from_raw(paddr) });
                Err(VmError::OutOfMemory)
            }
        }
    }

    /// When the shootdown of another change to this space may still be under way (its entries are written,
    /// not every CPU has dropped its stale translations yet), shoots down now and waits: after this returns,
    /// no CPU uses a translation from before any change made so far. A range mapped anew (`mmap`) calls it
    /// before returning, so that a thread told of the new mapping never reaches the frames of an unmapping of
    /// the same range whose shootdown another CPU is still waiting for.
    pub fn flush_pending(&self) {
        if self.flushes_in_flight.load(Ordering::SeqCst) != 0 {
            self.shootdown();
        }
    }

    /// Unmaps the page `va`; returns its frame, if one was mapped.
    pub fn unmap(&self, va: UserAddr) -> Option<Frame> {
        let va = page_addr(va).ok()?;
        // SAFETY: we take over the entry's reference; the TLB is flushed below.
        let old = unsafe { self.table.lock().clear_user_page(va) }?;
        self.flush(va);
        self.shootdown();
        // SAFETY: the reference the entry held.
        Some(unsafe { Frame::from_raw(old & ADDR_MASK) })
    }

    /// The frame at page `va` and its rights, if mapped.
    pub fn query(&self, va: UserAddr) -> Option<(Frame, PageProt)> {
        let va = page_addr(va).ok()?;
        let table = &mut *self.table.lock();
        let entry = table.user_page(va)?;
        // SAFETY: the entry holds a reference while the table lock is held.
        Some((unsafe { Frame::clone_raw(entry & ADDR_MASK) }, Self::prot_of(entry)))
    }

    /// Calls `f(address, frame, rights)` for every mapped page in `[start, end)` and applies what it returns:
    /// `Some(rights)` keeps the page with those rights, `None` unmaps it. For `mprotect`, `munmap` and fork.
    /// This CPU's translations are flushed; the other CPUs' and the release of the unmapped frames are the
    /// returned [`TlbFlush`]'s to do.
    pub fn update_range(
        &self,
        start: UserAddr,
        end: u64,
        mut f: impl FnMut(u64, &Frame, PageProt) -> Option<PageProt>,
    ) -> TlbFlush<'_> {
        let end = end.min(USER_END);
        let mut table = self.table.lock();
        let nx = table.no_exec();
        let mut dropped = alloc::vec::Vec::new();
        let mut changed = false;
        // SAFETY: entries we clear hand their reference to `dropped` (released after the walk); entries we
        // rewrite keep theirs. The TLB is flushed for every page touched.
        unsafe {
            table.for_each_user_page(start.get(), end, |va, entry| {
                // SAFETY: the entry's reference keeps the frame alive; `ManuallyDrop` leaves the count alone.
                let frame = core::mem::ManuallyDrop::new(Frame::from_raw(entry & ADDR_MASK));
                let new = match f(va, &frame, Self::prot_of(entry)) {
                    Some(p) => {
                        let mut e = (entry & !(WRITABLE | NO_EXECUTE)) | if p.write { WRITABLE } else { 0 };
                        if !p.exec {
                            e |= nx;
                        }
                        e
                    }
                    None => {
                        dropped.push(core::mem::ManuallyDrop::into_inner(frame));
                        0
                    }
                };
                if new != entry {
                    changed = true;
                    if self.is_active() {
                        regs::invlpg(va);
                    }
                }
                new
            })
        };
        drop(table);
        TlbFlush::new(self, changed, dropped)
    }

    /// Loads this space on this CPU and records it as the current task's, so that switching back to the task
    /// loads it again.
    pub fn activate(self: &alloc::sync::Arc<Self>) {
        crate::task::set_current_vm_space(self.clone());
    }

    /// Loads the page table root. Called by the scheduler for the task that is about to run.
    pub(crate) fn load(&self) {
        let cpu = this_cpu();
        if cpu.active_root.swap(self.root, Ordering::Relaxed) != self.root {
            // SAFETY: the upper half is the kernel's (copied at creation, shared below the top level), so every
            // kernel code, data and stack mapping stays the same; the lower half holds only user pages.
            unsafe { regs::write_cr3(self.root) };
        }
    }

    /// Copies user memory at `va` into `buf`.
    pub fn read_bytes(&self, va: UserAddr, buf: &mut [u8]) -> Result<(), UserFault> {
        self.copy(va, buf.as_mut_ptr(), buf.len(), false)
    }

    /// Copies `data` into user memory at `va`, as the user could write it (read-only pages fault).
    pub fn write_bytes(&self, va: UserAddr, data: &[u8]) -> Result<(), UserFault> {
        self.copy(va, data.as_ptr() as *mut u8, data.len(), true)
    }

    /// Copies `len` bytes of `frame` from `offset` into user memory at `va` (a read from the page cache in one
    /// copy); `len` is cut at the page's end.
    pub fn write_from_frame(&self, va: UserAddr, frame: &Frame, offset: usize, len: usize) -> Result<(), UserFault> {
        let offset = offset.min(PAGE_SIZE as usize);
        let len = len.min(PAGE_SIZE as usize - offset);
        if !self.is_active() {
            // The walk makes a slice of its source: bounce, so that no slice points into a frame.
            let mut buf = [0u8; PAGE_SIZE as usize];
            frame.read_bytes(offset, &mut buf[..len]);
            return self.write_bytes(va, &buf[..len]);
        }
        let src = (phys_to_virt(frame.paddr()) + offset as u64) as *mut u8;
        // `copy` only reads `src` when it writes user memory: the `len` bytes lie inside the frame, which
        // `frame` keeps allocated for the call; its bytes are untyped and no Rust reference points into a frame,
        // so a concurrent writer (a shared mapping) can only change what is copied.
        self.copy(va, src, len, true)
    }

    fn copy(&self, va: UserAddr, kbuf: *mut u8, len: usize, write: bool) -> Result<(), UserFault> {
        if !va.range_ok(len) {
            return Err(UserFault {
                addr: va.get().max(USER_END),
                write,
            });
        }
        if len == 0 {
            return Ok(());
        }
        if self.is_active() {
            assert_may_sleep("user memory access");
            let user = va.get() as *mut u8;
            let cpu = this_cpu();
            begin_user_access();
            // SAFETY: the user range lies below USER_END in the active space, whose lower half holds only user
            // pages (untyped memory no Rust reference points into); `kbuf` is the caller's buffer of `len`
            // bytes. A fault ends the copy through the fixup. Kernel code runs with interrupts off, so no other
            // thread of this CPU changes the mappings meanwhile; another CPU that does waits for `tlb_using` to
            // clear before it frees a page this copy might still reach through a stale translation.
            let left = unsafe {
                if write {
                    crate::user::copy_raw(user, kbuf, len)
                } else {
                    crate::user::copy_raw(kbuf, user, len)
                }
            };
            cpu.tlb_using.store(false, Ordering::SeqCst);
            return match left {
                0 => Ok(()),
                left => Err(UserFault {
                    addr: va.get() + (len - left) as u64,
                    write,
                }),
            };
        }
        self.copy_by_walk(va.get(), kbuf, len, write)
    }

    /// The copy for a space that is not loaded: page by page through the page tables and the direct map.
    fn copy_by_walk(&self, va: u64, kbuf: *mut u8, len: usize, write: bool) -> Result<(), UserFault> {
        let mut table = self.table.lock();
        let mut done = 0usize;
        while done < len {
            let at = va + done as u64;
            let page = at & !(PAGE_SIZE - 1);
            let off = (at - page) as usize;
            let n = (PAGE_SIZE as usize - off).min(len - done);
            let entry = table
                .user_page(page)
                .filter(|e| !write || e & WRITABLE != 0)
                .ok_or(UserFault { addr: at, write })?;
            // SAFETY: the entry holds a reference while the lock is held; ManuallyDrop leaves the count alone.
            let frame = core::mem::ManuallyDrop::new(unsafe { Frame::from_raw(entry & ADDR_MASK) });
            // SAFETY: `kbuf` is the caller's buffer of `len` bytes and `done + n <= len`.
            let chunk = unsafe { core::slice::from_raw_parts_mut(kbuf.add(done), n) };
            let ok = if write {
                frame.write_bytes(off, chunk)
            } else {
                frame.read_bytes(off, chunk)
            };
            debug_assert!(ok);
            done += n;
        }
        Ok(())
    }
}

/// Marks this CPU as using user translations (until the caller clears `tlb_using`) and flushes its TLB when
/// another CPU changed the loaded space's mappings since it last did (see the module documentation).
pub(crate) fn begin_user_access() {
    let cpu = this_cpu();
    cpu.tlb_using.store(true, Ordering::SeqCst);
    if cpu.tlb_pending.swap(false, Ordering::SeqCst) {
        regs::flush_tlb();
    }
}

impl Drop for VmSpace {
    fn drop(&mut self) {
        let cpu = this_cpu();
        if cpu.active_root.load(Ordering::Relaxed) == self.root {
            let kernel_root = KERNEL_PT.lock().as_ref().map(|k| k.root()).expect("kernel page table");
            cpu.active_root.store(kernel_root, Ordering::Relaxed);
            // SAFETY: the kernel's own table maps everything the kernel uses, as every space's upper half does.
            unsafe { regs::write_cr3(kernel_root) };
        }
        let table = self.table.get_mut();
        // SAFETY: the table is no longer live on this CPU (just switched away) nor on any other: a CPU holds a
        // reference to the space it has loaded (the scheduler's), so the last one goes only after every CPU
        // loaded another table. Each leaf's reference is released here.
        unsafe { table.free_user_half(|e| drop(Frame::from_raw(e & ADDR_MASK))) };
        table.free_root();
    }
}
