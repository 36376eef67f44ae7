//! Memory: physical frames, the kernel's page tables (direct map, image, MMIO), the heap and device memory.
//!
//! [`init`] runs once at boot while the boot page tables are live. It reserves what must be kept (page 0, the
//! kernel image, the initrd), gives everything else to the frame allocator, builds the final page tables,
//! switches to them, and then returns the image's boot section (entry code and boot page tables) to the
//! allocator.

mod dma;
mod frame;
mod heap;
mod io_mem;
pub mod layout;
mod page;
mod page_table;
pub(crate) mod stack;
mod tlb_flush;
mod vm_space;

pub use dma::{DmaError, DmaRegion, quarantined_dma_pages};
pub use ember_devmem::{DeviceAddr, DmaMemory};
pub use frame::free_bytes;
pub use heap::heap_bytes;
pub(crate) use io_mem::reserve_for_framework;
pub use io_mem::{IoMem, IoMemError};
pub use page::Frame;
pub use tlb_flush::TlbFlush;
pub(crate) use vm_space::begin_user_access;
pub use vm_space::{PageProt, UserAddr, UserFault, VmError, VmSpace};

use crate::arch::regs;
use crate::sync::Mutex;
use ember_boot::{BootInfo, MemoryKind, PhysRange, usable_ranges};
use layout::{KERNEL_BASE, KSTACK_BASE, MMIO_BASE, MMIO_SIZE, PAGE_SIZE, PHYS_OFFSET};
use page_table::{PageTable, WRITABLE};
use spin::Once;

/// The boot tables map the first 4 GiB in the direct map; everything allocated before the switch lies there.
const BOOT_DIRECT_MAP_END: u64 = 1 << 32;
/// The first MiB (BIOS area, MP table, RSDP) is always in the direct map, whatever the memory map says.
const LOW_MEMORY_END: u64 = 1 << 20;

static KERNEL_PT: Mutex<Option<PageTable>> = Mutex::new(None);
static USABLE_BYTES: Once<u64> = Once::new();
/// Physical address of the pages reserved below 1 MiB for starting the application processors.
static AP_TRAMPOLINE: Once<u64> = Once::new();
/// Bytes reserved for the application processors' start: the real-mode code and three page-table pages.
pub(crate) const AP_TRAMPOLINE_BYTES: u64 = 4 * PAGE_SIZE;

/// Where the application processors' start pages are (below 1 MiB, [`AP_TRAMPOLINE_BYTES`] long, owned by
/// [`crate::cpu`]), if memory there was free.
pub(crate) fn ap_trampoline() -> Option<u64> {
    AP_TRAMPOLINE.get().copied()
}

unsafe extern "C" {
    static __kernel_phys_start: u8;
    static __boot_end: u8;
    static __text_start: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static __kernel_end: u8;
}

/// The address of a linker-script symbol (only its address is meaningful; it is never read).
macro_rules! symbol {
    ($name:ident) => {
        (&raw const $name) as u64
    };
}

/// Bytes of RAM the VMM gave that ember can use: RAM minus page 0, the kernel image and the initrd.
pub fn usable_bytes() -> u64 {
    USABLE_BYTES.get().copied().unwrap_or(0)
}

/// Whether a page `range` touches holds anything the direct map covers as ordinary memory (RAM, ACPI, the
/// first MiB).
fn direct_mapped(info: &BootInfo, range: &PhysRange) -> bool {
    range.start < LOW_MEMORY_END || info.memory.shares_a_page_with_direct_mapped(range)
}

/// Whether all of `range` lies in the direct map (in one of the regions it covers, page-rounded).
pub(crate) fn in_direct_map(info: &BootInfo, range: &PhysRange) -> bool {
    direct_map_regions(info)
        .any(|r| r.start & !(PAGE_SIZE - 1) <= range.start && range.end <= r.end.next_multiple_of(PAGE_SIZE))
}

/// The regions the direct map covers, before page rounding.
fn direct_map_regions(info: &BootInfo) -> impl Iterator<Item = PhysRange> + '_ {
    let kept = |k: MemoryKind| matches!(k, MemoryKind::Ram | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs);
    core::iter::once(PhysRange::new(0, LOW_MEMORY_END)).chain(
        info.memory
            .regions()
            .iter()
            .filter(move |r| kept(r.kind))
            .map(|r| r.range),
    )
}

/// Maps into the kernel's address space.
///
/// # Safety
/// As for [`PageTable::map_range`].
unsafe fn kernel_map(virt: u64, phys: u64, len: u64, flags: u64) -> Result<(), page_table::MapError> {
    let mut pt = KERNEL_PT.lock();
    let pt = pt.as_mut().ok_or(page_table::MapError::OutOfMemory)?;
    let flags = flags | pt.no_exec();
    // SAFETY: forwarded from this function's contract.
    unsafe { pt.map_range(virt, phys, len, flags, false) }
}

/// Sets up all of memory. See the module documentation.
pub(crate) fn init(info: &BootInfo) {
    let image = PhysRange::new(symbol!(__kernel_phys_start), symbol!(__kernel_end) - KERNEL_BASE);
    let mut reserved = [PhysRange::new(0, PAGE_SIZE), image, PhysRange::default()];
    log::info!("reserved {} kernel image ({} KiB)", image, image.len() / 1024);
    if let Some(initrd) = *INITRD.call_once(|| checked_initrd(info, &image)) {
        log::info!("reserved {} initrd ({} KiB)", initrd, initrd.len() / 1024);
        reserved[2] = initrd;
    }
    let mut free = usable_ranges(&info.memory, &reserved);
    for r in free.as_slice() {
        log::debug!("free {} ({} KiB)", r, r.len() / 1024);
    }
    // The application processors start in real mode, in a page below 1 MiB: kept out of the allocator for good
    // (a CPU that answers late may still run there).
    match free.take(AP_TRAMPOLINE_BYTES, LOW_MEMORY_END) {
        Some(r) => {
            log::info!("reserved {r} for starting the other CPUs");
            AP_TRAMPOLINE.call_once(|| r.start);
        }
        None => log::warn!("no free memory below 1 MiB: only the boot CPU will run"),
    }
    let boot_section = PhysRange::new(image.start, symbol!(__boot_end));
    USABLE_BYTES.call_once(|| free.bytes() + boot_section.len());

    let frames = free.as_slice().last().map_or(0, |r| r.end / PAGE_SIZE) as usize;
    let bitmap_bytes = ember_frames::FrameBitmap::words_for(frames) as u64 * 8;
    let Some(bitmap) = free.take(bitmap_bytes, BOOT_DIRECT_MAP_END) else {
        panic!("no room below 4 GiB for the frame bitmap ({bitmap_bytes} bytes)");
    };
    frame::init(&free, bitmap);

    let pt = build_kernel_page_table(info);
    // SAFETY: the new tables map the kernel image at the same virtual addresses with at least the access it
    // needs (text executable, data and stacks writable), and the direct map covers all RAM at the same offset
    // as before, so every pointer in use stays valid. The identity map goes away: nothing uses it after the
    // boot description was copied.
    unsafe { regs::write_cr3(pt.root()) };
    crate::cpu::local::this_cpu()
        .active_root
        .store(pt.root(), core::sync::atomic::Ordering::Relaxed);
    *KERNEL_PT.lock() = Some(pt);
    frame::add_free(boot_section);
    page::init();
    log::info!(
        "memory: {} KiB usable of {} KiB RAM; page tables and frame bitmap ready",
        usable_bytes() >> 10,
        info.memory.ram_bytes() >> 10
    );
}

fn build_kernel_page_table(info: &BootInfo) -> PageTable {
    let mut pt = PageTable::new().expect("a frame for the top-level page table");
    let nx = pt.no_exec();

    // Direct map: page-rounded regions, merged where rounding makes them touch.
    let mut pending: Option<PhysRange> = None;
    let flush = |pt: &mut PageTable, r: PhysRange| {
        // SAFETY: the direct map covers RAM, ACPI memory and the first MiB at PHYS_OFFSET, non-executable; RAM
        // is reached there only by its owner (frame allocator, heap, page tables), and nothing else is mapped in
        // that window.
        unsafe { pt.map_range(PHYS_OFFSET + r.start, r.start, r.len(), WRITABLE | nx, true) }
            .expect("mapping the direct map");
    };
    for r in direct_map_regions(info) {
        let r = PhysRange::new(r.start & !(PAGE_SIZE - 1), r.end.next_multiple_of(PAGE_SIZE));
        pending = match pending {
            Some(p) if r.start <= p.end => Some(PhysRange::new(p.start, p.end.max(r.end))),
            Some(p) => {
                flush(&mut pt, p);
                Some(r)
            }
            None => Some(r),
        };
    }
    if let Some(p) = pending {
        flush(&mut pt, p);
    }

    // The windows filled after boot get their top-level entries now: user address spaces copy the kernel's
    // top level when they are made, and must see what is mapped there later.
    let mut window = MMIO_BASE;
    while window < MMIO_BASE + MMIO_SIZE {
        pt.ensure_top_level(window).expect("top-level table of the MMIO window");
        window += 1 << 39;
    }
    pt.ensure_top_level(KSTACK_BASE)
        .expect("top-level table of the stack window");
    pt.ensure_top_level(layout::HEAP_BASE)
        .expect("top-level table of the heap window");

    // Kernel image: text RX, rodata R, data and bss RW; stack guard pages left out.
    let text = symbol!(__text_start);
    let rodata = symbol!(__rodata_start);
    let data = symbol!(__data_start);
    let end = symbol!(__kernel_end);
    let guards = stack::guard_pages();
    let mut page = text;
    while page < end {
        let flags = if page < rodata {
            0
        } else if page < data {
            nx
        } else {
            WRITABLE | nx
        };
        if !guards.iter().any(|&(g, _)| g == page) {
            // SAFETY: the image's own pages, mapped where it was linked, with the access its sections need.
            unsafe { pt.map_range(page, page - KERNEL_BASE, PAGE_SIZE, flags, false) }.expect("mapping the image");
        }
        page += PAGE_SIZE;
    }
    pt
}

/// Loads the kernel's own page table on this CPU (no user half), for a CPU letting go of a user space.
pub(crate) fn load_kernel_table() {
    let root = KERNEL_PT.lock().as_ref().map(|k| k.root()).expect("kernel page table");
    let cpu = crate::cpu::local::this_cpu();
    if cpu.active_root.swap(root, core::sync::atomic::Ordering::SeqCst) != root {
        // SAFETY: the kernel's own table maps everything the kernel uses, as every space's upper half does.
        unsafe { crate::arch::regs::write_cr3(root) };
    }
}

/// Maps `len` bytes of fresh frames at `virt` in the task-stack window, writable and non-executable.
pub(crate) fn kernel_map_stack(virt: u64, len: u64) -> Result<(), page_table::MapError> {
    debug_assert!((layout::KSTACK_BASE..layout::KSTACK_BASE + layout::KSTACK_SIZE).contains(&virt));
    map_fresh_frames(virt, len)
}

/// Maps `len` bytes of fresh zeroed frames (one at a time, wherever they are) at `virt`, writable, not
/// executable. The caller owns the virtual range, in a window that nothing else maps. Zeroed because a frame
/// may last have held a user program's code: under QEMU's TCG every later store to such a page takes the slow
/// self-modifying-code path until a write has covered each translated block on it, and a kernel stack or heap
/// page is stored to constantly (see [`frame::alloc_zeroed_block`]).
fn map_fresh_frames(virt: u64, len: u64) -> Result<(), page_table::MapError> {
    let mut off = 0;
    while off < len {
        let paddr = frame::alloc_zeroed().ok_or(page_table::MapError::OutOfMemory)?;
        // SAFETY: the frame was just allocated for this mapping alone and is never freed (stacks are pooled,
        // heap memory is kept), and the virtual page is the caller's.
        unsafe { kernel_map(virt + off, paddr, PAGE_SIZE, WRITABLE) }?;
        off += PAGE_SIZE;
    }
    Ok(())
}

/// The next free address of the heap window.
static HEAP_WINDOW_NEXT: Mutex<u64> = Mutex::new(layout::HEAP_BASE);

/// Grows the heap by `bytes` (a power of two) of scattered frames mapped into the heap window, aligned to their
/// size; the block's address, or `None` when memory or the window runs out.
pub(crate) fn heap_window_grow(bytes: u64) -> Option<u64> {
    let pages = bytes / PAGE_SIZE;
    // Room for the block and its page tables, so that the mapping below does not fail half-way.
    if frame::free_bytes() / PAGE_SIZE < pages + 8 {
        return None;
    }
    let mut next = HEAP_WINDOW_NEXT.lock();
    let start = next.checked_next_multiple_of(bytes)?;
    let end = start
        .checked_add(bytes)
        .filter(|&e| e <= layout::HEAP_BASE + layout::HEAP_SIZE)?;
    // Past `next` even on failure: a page mapped before a failure must not be mapped again.
    *next = end;
    map_fresh_frames(start, bytes).ok()?;
    Some(start)
}

/// A zeroed page that the framework keeps for ever and shares with the hypervisor (kvmclock); returns its
/// physical address.
pub(crate) fn alloc_shared_page() -> Option<u64> {
    frame::alloc_zeroed()
}

/// The initrd the VMM announced, when it is safe to hand out (see [`checked_initrd`]); set by [`init`].
static INITRD: Once<Option<PhysRange>> = Once::new();

/// The announced initrd, unless it is not wholly inside one RAM region or shares a page with page 0 or the kernel
/// image (whose boot section returns to the frame allocator after boot): such an initrd is ignored with a
/// warning, never reserved or handed out.
fn checked_initrd(info: &BootInfo, image: &PhysRange) -> Option<PhysRange> {
    let r = info.initrd?;
    let pages = PhysRange::new(r.start & !(PAGE_SIZE - 1), r.end.next_multiple_of(PAGE_SIZE));
    let problem = if !info.memory.ram().any(|ram| ram.start <= r.start && r.end <= ram.end) {
        "is not wholly inside RAM"
    } else if pages.start < PAGE_SIZE {
        "overlaps page 0"
    } else if pages.start < image.end && image.start < pages.end {
        "overlaps the kernel image"
    } else {
        return Some(r);
    };
    log::warn!("initrd {r} ({} KiB) {problem}; ignored", r.len() / 1024);
    None
}

/// The initrd, owned: [`take_initrd`] hands it out once, and dropping it returns its memory to the frame
/// allocator (Linux's "Freeing initrd memory"), once the kernel has unpacked it.
#[derive(Debug)]
pub struct Initrd {
    range: PhysRange,
}

static INITRD_TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The initrd, if the VMM gave one that passed [`checked_initrd`]; `None` the second time.
pub fn take_initrd() -> Option<Initrd> {
    let r = (*INITRD.get()?)?;
    if INITRD_TAKEN.swap(true, core::sync::atomic::Ordering::AcqRel) {
        return None;
    }
    Some(Initrd { range: r })
}

impl Initrd {
    /// The contents.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the range lies in RAM, clear of the kernel image (`checked_initrd`), so the direct map covers
        // it; `init` reserved it from the frame allocator, and only this handle (there is at most one) frees it, after the borrow ends.
        unsafe {
            core::slice::from_raw_parts(
                layout::phys_to_virt(self.range.start) as *const u8,
                self.range.len() as usize,
            )
        }
    }
}

impl Drop for Initrd {
    fn drop(&mut self) {
        // Only whole pages: the partial pages at either end were never handed to the allocator.
        let start = self.range.start.next_multiple_of(PAGE_SIZE);
        let end = self.range.end & !(PAGE_SIZE - 1);
        if start < end {
            frame::add_free(PhysRange::new(start, end));
            log::info!("freed initrd memory: {} KiB", (end - start) / 1024);
        }
    }
}
