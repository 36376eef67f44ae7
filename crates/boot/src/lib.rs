//! The boot description: what a VMM told the kernel, in one shape whatever the entry path.
//!
//! Firecracker and QEMU enter ember either through the 64-bit Linux boot protocol (a zero page) or through PVH
//! (an `hvm_start_info`). Both are parsed here into one [`BootInfo`]: protocol, command line, memory map,
//! initrd and ACPI RSDP hint. The structures are read through [`PhysMemory`], so everything here is plain code
//! that runs in host unit tests against fake guest memory. Every pointer and count in a boot structure is
//! treated as hostile: it is bounds-checked by the reader, clamped, and reported through a [`Warning`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod info;
mod linux;
mod memmap;
mod pvh;
mod usable;

pub use info::{BootError, BootInfo, CMDLINE_MAX, PhysMemory, Protocol, Warning};
pub use linux::parse_linux;
pub use memmap::{DIRECT_MAP_LIMIT, MAX_REGIONS, MemoryKind, MemoryMap, Region};
pub use pvh::parse_pvh;
pub use usable::{FreeRanges, MAX_FREE_RANGES, usable_ranges};

/// A half-open range of physical addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl PhysRange {
    /// The range `[start, end)`.
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl core::fmt::Display for PhysRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[{:#012x}-{:#012x})", self.start, self.end)
    }
}

#[cfg(test)]
mod testmem;
