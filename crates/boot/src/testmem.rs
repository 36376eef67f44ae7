//! Fake guest-physical memory for the parsers' unit tests.

use crate::PhysMemory;

/// Guest memory `[0, len)` backed by a vector; reads past the end fail.
pub struct TestMem(pub Vec<u8>);

impl TestMem {
    pub fn new(len: usize) -> Self {
        Self(vec![0; len])
    }
    pub fn put_bytes(&mut self, at: usize, b: &[u8]) {
        self.0[at..at + b.len()].copy_from_slice(b);
    }
    pub fn put_u8(&mut self, at: usize, v: u8) {
        self.0[at] = v;
    }
    pub fn put_u16(&mut self, at: usize, v: u16) {
        self.put_bytes(at, &v.to_le_bytes());
    }
    pub fn put_u32(&mut self, at: usize, v: u32) {
        self.put_bytes(at, &v.to_le_bytes());
    }
    pub fn put_u64(&mut self, at: usize, v: u64) {
        self.put_bytes(at, &v.to_le_bytes());
    }
}

impl PhysMemory for TestMem {
    fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = paddr.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > self.0.len() as u64 {
            return false;
        }
        buf.copy_from_slice(&self.0[paddr as usize..end as usize]);
        true
    }
}
