//! A decompression output buffer that grows with fallible allocation up to a limit.

use crate::DecompressError;
use alloc::vec::Vec;

/// Growth step of the output.
const STEP: usize = 256 * 1024;

/// The output of one decompression.
pub struct Output {
    /// The buffer: `len` valid bytes, then room.
    pub buf: Vec<u8>,
    /// Bytes written.
    pub len: usize,
    limit: usize,
}

impl Output {
    /// An empty output that may grow to `limit` bytes.
    pub fn new(limit: usize) -> Output {
        Output {
            buf: Vec::new(),
            len: 0,
            limit,
        }
    }

    /// Makes sure at least `want` bytes of room follow the valid data (or as many as the limit allows, at least
    /// one); `TooLarge` when the limit is reached, `OutOfMemory` when allocation fails.
    pub fn room(&mut self, want: usize) -> Result<(), DecompressError> {
        let spare = self.buf.len() - self.len;
        if spare >= want {
            return Ok(());
        }
        if self.buf.len() >= self.limit {
            return if spare > 0 {
                Ok(())
            } else {
                Err(DecompressError::TooLarge)
            };
        }
        // Powers of two: what the heap's buddy allocator hands out anyway.
        let new_len = self
            .buf
            .len()
            .saturating_add(want - spare)
            .max(STEP)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .min(self.limit);
        self.buf
            .try_reserve_exact(new_len - self.buf.len())
            .map_err(|_| DecompressError::OutOfMemory)?;
        self.buf.resize(new_len, 0);
        Ok(())
    }

    /// The room after the valid data.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// The valid data, with the unused room released.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf.shrink_to_fit();
        self.buf
    }
}
