//! The kernel's virtual address layout.
//!
//! | range                                   | what                                            |
//! |-----------------------------------------|-------------------------------------------------|
//! | `0xFFFF_8000_0000_0000` + phys          | direct map of RAM, ACPI tables and the first MiB |
//! | `0xFFFF_C000_0000_0000` …               | MMIO, mapped uncached on demand                  |
//! | `0xFFFF_D000_0000_0000` …               | task kernel stacks, each with a guard page       |
//! | `0xFFFF_E000_0000_0000` …               | heap blocks made of scattered frames             |
//! | `0xFFFF_FFFF_8000_0000` + phys          | the kernel image (linked at 1 MiB physical)      |
//!
//! The lower half is left for user space.

/// Virtual address of physical address 0 in the direct map.
pub const PHYS_OFFSET: u64 = 0xFFFF_8000_0000_0000;
/// Start of the MMIO mapping window.
pub const MMIO_BASE: u64 = 0xFFFF_C000_0000_0000;
/// Size of the MMIO mapping window.
pub const MMIO_SIZE: u64 = 1 << 40;
/// Start of the task kernel-stack window.
pub const KSTACK_BASE: u64 = 0xFFFF_D000_0000_0000;
/// Size of the task kernel-stack window (one top-level entry: room for four million stacks).
pub const KSTACK_SIZE: u64 = 1 << 39;
/// Start of the heap window (heap growth when no contiguous block of frames is free).
pub const HEAP_BASE: u64 = 0xFFFF_E000_0000_0000;
/// Size of the heap window (one top-level entry).
pub const HEAP_SIZE: u64 = 1 << 39;
/// Virtual address of physical address 0 in the kernel image mapping.
pub const KERNEL_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Size of a base page.
pub const PAGE_SIZE: u64 = 4096;

// The direct map must end before the MMIO window: the memory map cuts RAM at `DIRECT_MAP_LIMIT` for this.
const _: () = assert!(PHYS_OFFSET + ember_boot::DIRECT_MAP_LIMIT <= MMIO_BASE);

/// The direct-map virtual address of a physical address. `paddr` must lie below
/// [`ember_boot::DIRECT_MAP_LIMIT`] (the memory map guarantees that of RAM and ACPI memory); anything past it
/// would land in the MMIO window, so that is checked in every build.
pub const fn phys_to_virt(paddr: u64) -> u64 {
    assert!(
        paddr < ember_boot::DIRECT_MAP_LIMIT,
        "physical address past the direct map"
    );
    PHYS_OFFSET + paddr
}
