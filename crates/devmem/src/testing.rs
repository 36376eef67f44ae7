//! DMA memory over a `Vec`, for host tests of drivers.

use crate::DmaMemory;
use alloc::vec::Vec;
use core::cell::RefCell;

/// Zeroed bytes posing as DMA memory at device address `base`.
pub struct VecMemory {
    bytes: RefCell<Vec<u8>>,
    base: u64,
}

impl VecMemory {
    /// `len` zero bytes at device address `base`.
    pub fn new(len: usize, base: u64) -> Self {
        Self {
            bytes: RefCell::new(alloc::vec![0; len]),
            base,
        }
    }

    fn get<const N: usize>(&self, off: usize) -> [u8; N] {
        self.bytes.borrow()[off..off + N].try_into().unwrap()
    }

    fn put(&self, off: usize, b: &[u8]) {
        self.bytes.borrow_mut()[off..off + b.len()].copy_from_slice(b);
    }
}

// SAFETY: host-test memory: its device addresses are never given to a device, and the bytes belong to the
// `Vec` this object owns.
#[allow(unsafe_code)]
unsafe impl DmaMemory for VecMemory {
    fn len(&self) -> usize {
        self.bytes.borrow().len()
    }
    fn device_base(&self) -> u64 {
        self.base
    }
    fn read16(&self, off: usize) -> u16 {
        u16::from_le_bytes(self.get(off))
    }
    fn write16(&self, off: usize, v: u16) {
        self.put(off, &v.to_le_bytes());
    }
    fn read32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.get(off))
    }
    fn write32(&self, off: usize, v: u32) {
        self.put(off, &v.to_le_bytes());
    }
    fn write64(&self, off: usize, v: u64) {
        self.put(off, &v.to_le_bytes());
    }
}

// SAFETY: the same memory as the `VecMemory` it borrows (see above); shared so that a test can play the device
// on rings a driver owns.
#[allow(unsafe_code)]
unsafe impl DmaMemory for &VecMemory {
    fn len(&self) -> usize {
        (*self).len()
    }
    fn device_base(&self) -> u64 {
        self.base
    }
    fn read16(&self, off: usize) -> u16 {
        (*self).read16(off)
    }
    fn write16(&self, off: usize, v: u16) {
        (*self).write16(off, v)
    }
    fn read32(&self, off: usize) -> u32 {
        (*self).read32(off)
    }
    fn write32(&self, off: usize, v: u32) {
        (*self).write32(off, v)
    }
    fn write64(&self, off: usize, v: u64) {
        (*self).write64(off, v)
    }
}
