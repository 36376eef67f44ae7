//! A bitmap allocator of physical page frames.
//!
//! Two bits per 4 KiB frame from frame 0 up to the highest usable frame: one says whether the frame is in use
//! (set for frames that are not RAM, too), the other whether it is RAM that was handed over with
//! [`FrameBitmap::add_free`]. It hands out runs of contiguous, aligned frames with a next-fit cursor, and refuses
//! to free what is not allocated RAM (a double free, or a frame that never was RAM). The storage is borrowed, so
//! the kernel can place it in RAM it found at boot; the logic runs in host unit tests. For the small guests
//! ember targets the bitmap is tiny (1 KiB for 16 MiB, 384 KiB for 6 GiB) and this is simpler and denser than a
//! buddy allocator.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Why a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// Some frame in the run is already free (double free), or never was RAM.
    NotAllocated(usize),
    /// The run reaches past the last frame.
    OutOfRange,
}

/// The allocator over a borrowed bitmap.
#[derive(Debug)]
pub struct FrameBitmap<'a> {
    /// One bit per frame, set when the frame is in use or not RAM.
    used: &'a mut [u64],
    /// One bit per frame, set when the frame was handed over as RAM.
    ram: &'a mut [u64],
    frames: usize,
    free: usize,
    cursor: usize,
}

fn bit(words: &[u64], frame: usize) -> bool {
    words[frame / 64] & (1 << (frame % 64)) != 0
}

impl<'a> FrameBitmap<'a> {
    /// How many `u64` words of storage `frames` frames need (two bits per frame).
    pub const fn words_for(frames: usize) -> usize {
        frames.div_ceil(64) * 2
    }

    /// An allocator for `frames` frames, none of them RAM yet (so all in use). Returns `None` when `words` is
    /// too small.
    pub fn new(words: &'a mut [u64], frames: usize) -> Option<Self> {
        if words.len() < Self::words_for(frames) {
            return None;
        }
        let (used, ram) = words[..Self::words_for(frames)].split_at_mut(frames.div_ceil(64));
        used.fill(u64::MAX);
        ram.fill(0);
        Some(Self {
            used,
            ram,
            frames,
            free: 0,
            cursor: 0,
        })
    }

    /// Number of frames the bitmap covers.
    pub const fn frames(&self) -> usize {
        self.frames
    }

    /// Number of free frames.
    pub const fn free_frames(&self) -> usize {
        self.free
    }

    fn is_used(&self, frame: usize) -> bool {
        bit(self.used, frame)
    }

    fn set_used(&mut self, frame: usize, used: bool) {
        let bit = 1 << (frame % 64);
        if used {
            self.used[frame / 64] |= bit;
        } else {
            self.used[frame / 64] &= !bit;
        }
    }

    /// Marks `[start, start + count)` as free RAM: memory handed over at boot, or later (the boot section).
    /// Frames already free, and frames past the end, are left alone.
    pub fn add_free(&mut self, start: usize, count: usize) {
        let end = start.saturating_add(count).min(self.frames);
        let mut f = start.min(end);
        // Whole words at a time: boot hands over gigabytes here.
        while f < end {
            let bit = f % 64;
            let n = (64 - bit).min(end - f);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << bit };
            let word = &mut self.used[f / 64];
            self.free += (*word & mask).count_ones() as usize;
            *word &= !mask;
            self.ram[f / 64] |= mask;
            f += n;
        }
    }
    /// Allocates `count` contiguous frames whose first frame number is a multiple of `align` (a power of two;
    /// anything else is treated as 1). Returns the first frame number.
    pub fn alloc(&mut self, count: usize, align: usize) -> Option<usize> {
        if count == 0 || count > self.free {
            return None;
        }
        let align = if align.is_power_of_two() { align } else { 1 };
        let start = self.find(self.cursor, self.frames, count, align).or_else(|| {
            let end = self.cursor.saturating_add(count).min(self.frames);
            self.find(0, end, count, align)
        })?;
        for f in start..start + count {
            self.set_used(f, true);
        }
        self.free -= count;
        self.cursor = start + count;
        Some(start)
    }

    /// First aligned run of `count` free frames starting in `[from, limit)`.
    fn find(&self, from: usize, limit: usize, count: usize, align: usize) -> Option<usize> {
        let mut start = from.checked_next_multiple_of(align)?;
        while start < limit && start.checked_add(count)? <= self.frames {
            // Skip whole used words quickly: they are the common case in a full region.
            if start % 64 == 0 && self.used[start / 64] == u64::MAX {
                start = (start + 64).checked_next_multiple_of(align)?;
                continue;
            }
            match (start..start + count).find(|&f| self.is_used(f)) {
                None => return Some(start),
                Some(used) => start = (used + 1).checked_next_multiple_of(align)?,
            }
        }
        None
    }

    /// Frees `count` frames starting at `start`, all of which must be allocated RAM. Nothing is freed when one
    /// is not.
    pub fn free(&mut self, start: usize, count: usize) -> Result<(), FreeError> {
        let end = start
            .checked_add(count)
            .filter(|&e| e <= self.frames)
            .ok_or(FreeError::OutOfRange)?;
        if let Some(f) = (start..end).find(|&f| !self.is_used(f) || !bit(self.ram, f)) {
            return Err(FreeError::NotAllocated(f));
        }
        for f in start..end {
            self.set_used(f, false);
        }
        self.free += count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitmap(storage: &mut Vec<u64>, frames: usize) -> FrameBitmap<'_> {
        storage.resize(FrameBitmap::words_for(frames), 0);
        FrameBitmap::new(storage, frames).unwrap()
    }

    #[test]
    fn starts_full_and_hands_out_only_what_was_added() {
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 1000);
        assert_eq!(b.alloc(1, 1), None);
        b.add_free(10, 5);
        b.add_free(12, 5);
        assert_eq!(b.free_frames(), 7);
        let got: Vec<_> = (0..7).map(|_| b.alloc(1, 1).unwrap()).collect();
        assert_eq!(got, (10..17).collect::<Vec<_>>());
        assert_eq!(b.alloc(1, 1), None);
    }

    #[test]
    fn too_small_storage_is_refused() {
        let mut s = vec![0u64; 2];
        assert!(FrameBitmap::new(&mut s, 65).is_none());
        assert!(FrameBitmap::new(&mut s, 64).is_some());
    }

    #[test]
    fn contiguous_and_aligned_runs() {
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 4096);
        b.add_free(3, 4000);
        assert_eq!(b.alloc(512, 512), Some(512));
        assert_eq!(b.alloc(1, 1), Some(1024));
        assert_eq!(b.alloc(3, 0), Some(1025));
        assert_eq!(b.alloc(3, 3), Some(1028));
        // A hole of 2 frames does not satisfy a run of 3.
        b.free(512, 2).unwrap();
        assert_eq!(b.alloc(3, 1), Some(1031));
        assert_eq!(b.alloc(2, 1), Some(1034));
    }

    #[test]
    fn next_fit_wraps_around_to_freed_frames() {
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 128);
        b.add_free(0, 128);
        assert_eq!(b.alloc(100, 1), Some(0));
        assert_eq!(b.alloc(28, 1), Some(100));
        b.free(10, 5).unwrap();
        assert_eq!(b.alloc(5, 1), Some(10));
        assert_eq!(b.free_frames(), 0);
    }

    #[test]
    fn double_free_and_out_of_range_are_refused() {
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 100);
        b.add_free(0, 50);
        let f = b.alloc(4, 1).unwrap();
        assert_eq!(b.free(f, 4), Ok(()));
        assert_eq!(b.free(f, 4), Err(FreeError::NotAllocated(f)));
        assert_eq!(b.free(98, 3), Err(FreeError::OutOfRange));
        assert_eq!(b.free(usize::MAX, 2), Err(FreeError::OutOfRange));
        assert_eq!(b.free_frames(), 50);
    }

    #[test]
    fn frames_that_never_were_ram_cannot_be_freed() {
        // Issue 14, defect 8: frames 64..128 are covered by the bitmap but were never handed over as RAM.
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 128);
        b.add_free(0, 64);
        assert_eq!(b.free(100, 4), Err(FreeError::NotAllocated(100)));
        assert_eq!(b.free(62, 4), Err(FreeError::NotAllocated(62)));
        let all: Vec<_> = core::iter::from_fn(|| b.alloc(1, 1)).collect();
        assert_eq!(all, (0..64).collect::<Vec<_>>());
        // Partly RAM: refused at the first frame that is not, and nothing of the run is freed.
        assert_eq!(b.free(60, 8), Err(FreeError::NotAllocated(64)));
        assert_eq!(b.free_frames(), 0);
        // Memory handed over later (the boot section) becomes RAM like the rest.
        b.add_free(100, 4);
        assert_eq!(b.alloc(4, 1), Some(100));
        assert_eq!(b.free(100, 4), Ok(()));
    }

    #[test]
    fn absurd_requests_fail_cleanly() {
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 64);
        b.add_free(1, 63);
        b.add_free(usize::MAX - 1, 10);
        assert_eq!(b.free_frames(), 63);
        assert_eq!(b.alloc(0, 1), None);
        assert_eq!(b.alloc(64, 1), None);
        assert_eq!(b.alloc(1, 1 << 63), None);
        assert_eq!(b.alloc(63, 1), Some(1));
    }

    #[test]
    fn free_count_matches_a_reference_model() {
        // A deterministic pseudo-random walk against a Vec<bool> model.
        let mut s = Vec::new();
        let mut b = bitmap(&mut s, 300);
        b.add_free(0, 300);
        let mut model = vec![false; 300];
        let mut held: Vec<(usize, usize)> = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if !x.is_multiple_of(3) || held.is_empty() {
                let count = 1 + (x >> 8) as usize % 9;
                let align = 1 << ((x >> 16) % 4);
                if let Some(f) = b.alloc(count, align) {
                    assert_eq!(f % align, 0);
                    assert!(model[f..f + count].iter().all(|u| !u));
                    model[f..f + count].fill(true);
                    held.push((f, count));
                }
            } else {
                let (f, count) = held.swap_remove((x >> 20) as usize % held.len());
                b.free(f, count).unwrap();
                model[f..f + count].fill(false);
            }
            assert_eq!(b.free_frames(), model.iter().filter(|u| !**u).count());
        }
    }
}
