//! Device addresses and DMA memory.
//!
//! Without an IOMMU (Firecracker and QEMU microvm have none) a device reaches any physical address it is given.
//! So a device address is a type of its own, [`DeviceAddr`], that only [`DmaMemory::device_addr`] makes, after
//! checking the bytes lie inside the DMA object it is called on. Drivers (`ember-virtio`) take memory as
//! `(DMA object, offset, length)` and compute device addresses themselves; kernel code never writes one.

use alloc::vec::Vec;

/// An address handed to a device for DMA: inside a [`DmaMemory`] object, which made it after a bounds check.
/// There is no other way to make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceAddr(u64);

impl DeviceAddr {
    /// The address, for writing into a descriptor or a device register.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Memory shared with a device: accessed through volatile, bounds-checked accessors (reads past the end give 0,
/// writes past it are dropped), and named to the device only through [`DmaMemory::device_addr`].
///
/// # Safety
///
/// An implementor promises that the `len()` bytes from device address `device_base()` are memory that belongs
/// to this object alone for as long as it lives, that nothing in the kernel holds a Rust reference into them
/// (the device may write them at any time), and that after the object is dropped those bytes are never handed
/// to anything but DMA memory while a device may still write them (see `ember-frame`'s `mm::dma` for the
/// quarantine rule). Only the framework can keep that promise; nothing else implements this trait.
#[allow(unsafe_code)]
pub unsafe trait DmaMemory {
    /// Length in bytes.
    fn len(&self) -> usize;
    /// Whether the memory is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The device address of the first byte. Called by [`DmaMemory::device_addr`]; implementors may note that
    /// the memory has now been given to a device.
    fn device_base(&self) -> u64;
    /// Reads a little-endian `u16` at `offset`.
    fn read16(&self, offset: usize) -> u16;
    /// Writes a little-endian `u16` at `offset`.
    fn write16(&self, offset: usize, value: u16);
    /// Reads a little-endian `u32` at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes a little-endian `u32` at `offset`.
    fn write32(&self, offset: usize, value: u32);
    /// Writes a little-endian `u64` at `offset`.
    fn write64(&self, offset: usize, value: u64);

    /// The device address of `len` bytes at `offset`, if they lie inside this memory (`len` may be 0 only at
    /// an offset inside it).
    fn device_addr(&self, offset: usize, len: usize) -> Option<DeviceAddr> {
        let end = offset.checked_add(len)?;
        if end > self.len() || offset >= self.len() {
            return None;
        }
        self.device_base().checked_add(offset as u64).map(DeviceAddr)
    }
}

/// Freed DMA regions (address, pages). A region that was never given to a device goes back to the pool for
/// reuse. One that was is quarantined: a device may still write it after its owner dropped it (a request in
/// flight, a device that ignores its reset), and reusing it at once would let that write land in the next
/// owner's data. Nothing the framework can check tells it when such a device has stopped, so quarantined
/// regions stay there.
#[derive(Debug, Default)]
pub struct DmaPool {
    free: Vec<(u64, usize)>,
    quarantined_pages: usize,
}

impl DmaPool {
    /// An empty pool.
    pub const fn new() -> Self {
        Self {
            free: Vec::new(),
            quarantined_pages: 0,
        }
    }

    /// A free region of exactly `pages` pages, if the pool has one.
    pub fn take(&mut self, pages: usize) -> Option<u64> {
        let i = self.free.iter().position(|&(_, p)| p == pages)?;
        Some(self.free.swap_remove(i).0)
    }

    /// Takes back a region; `given_to_device` says whether a device was ever given its address.
    pub fn give_back(&mut self, addr: u64, pages: usize, given_to_device: bool) {
        if given_to_device {
            self.quarantined_pages += pages;
        } else {
            self.free.push((addr, pages));
        }
    }

    /// Pages held in quarantine.
    pub fn quarantined_pages(&self) -> usize {
        self.quarantined_pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::VecMemory;

    #[test]
    fn device_addresses_stay_inside_the_memory() {
        let m = VecMemory::new(0x1000, 0x4000_0000);
        assert_eq!(m.device_addr(0, 0x1000).map(DeviceAddr::get), Some(0x4000_0000));
        assert_eq!(m.device_addr(0x10, 0x20).map(DeviceAddr::get), Some(0x4000_0010));
        assert_eq!(m.device_addr(0xFFF, 0).map(DeviceAddr::get), Some(0x4000_0FFF));
        assert_eq!(m.device_addr(0x1000, 0), None);
        assert_eq!(m.device_addr(0xFF0, 0x11), None);
        assert_eq!(m.device_addr(usize::MAX, 2), None);
        let top = VecMemory::new(0x1000, u64::MAX - 0x10);
        assert_eq!(top.device_addr(0x20, 1), None);
    }

    #[test]
    fn regions_a_device_had_are_never_reused() {
        let mut pool = DmaPool::new();
        pool.give_back(0x10_0000, 2, false);
        pool.give_back(0x20_0000, 2, true);
        assert_eq!(pool.take(1), None);
        assert_eq!(pool.take(2), Some(0x10_0000));
        assert_eq!(pool.take(2), None);
        assert_eq!(pool.quarantined_pages(), 2);
    }
}
