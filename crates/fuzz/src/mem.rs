//! Guest-physical memory for the boot-structure and platform-table harnesses.

use ember_boot::PhysMemory;

/// The fuzz input placed at physical address `base`; reads of anything else fail.
pub struct FuzzMem {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their physical address.
    pub base: u64,
}

impl PhysMemory for FuzzMem {
    fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(off) = paddr.checked_sub(self.base) else {
            return false;
        };
        let Some(end) = off.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > self.bytes.len() as u64 {
            return false;
        }
        buf.copy_from_slice(&self.bytes[off as usize..end as usize]);
        true
    }
}

/// Sets the byte at `sum_at` so that `bytes[start..start + len]` sums to zero, when that range exists: the
/// platform tables are checksummed, and a fuzzer cannot find sums by mutation.
pub fn fix_checksum(bytes: &mut [u8], start: usize, len: usize, sum_at: usize) {
    let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len()) else {
        return;
    };
    if !(start..end).contains(&sum_at) {
        return;
    }
    bytes[sum_at] = 0;
    let s = bytes[start..end].iter().fold(0u8, |s, &b| s.wrapping_add(b));
    bytes[sum_at] = 0u8.wrapping_sub(s);
}
