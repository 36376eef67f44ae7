//! Shared memory segments' bookkeeping (the kernel keeps their pages and counts their attachments).

use crate::Error;

/// `SHMMIN`: the smallest segment.
pub const SHMMIN: u64 = 1;
/// `SHMMAX`: the largest segment (Linux's default, `ULONG_MAX - 2^24`).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
/// `SHMALL`: the most pages in all segments (Linux's default).
pub const SHMALL: u64 = u64::MAX - (1 << 24);
/// `SHMMNI`: the most segments.
pub const SHMMNI: usize = 4096;
/// `SHM_DEST` in the mode: removed, destroyed at the last detach.
pub const SHM_DEST: u32 = 0o1000;
/// `SHM_LOCKED` in the mode: `SHM_LOCK` was called.
pub const SHM_LOCKED: u32 = 0o2000;

/// A segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Size in bytes asked for.
    pub size: u64,
    /// Creator's pid.
    pub cpid: u32,
    /// Pid of the last attach or detach.
    pub lpid: u32,
    /// Time of the last attach.
    pub atime: i64,
    /// Time of the last detach.
    pub dtime: i64,
    /// Time of the last change.
    pub ctime: i64,
}

impl Segment {
    /// `shmget`'s new segment of `size` bytes (`SHMMIN..=SHMMAX`).
    pub fn new(size: u64, pid: u32, now: i64) -> Result<Segment, Error> {
        if !(SHMMIN..=SHMMAX).contains(&size) {
            return Err(Error::Invalid);
        }
        Ok(Segment {
            size,
            cpid: pid,
            lpid: 0,
            atime: 0,
            dtime: 0,
            ctime: now,
        })
    }

    /// An existing segment asked for with `size` bytes: `EINVAL` when it is smaller.
    pub fn fits(&self, size: u64) -> Result<(), Error> {
        if size > self.size { Err(Error::Invalid) } else { Ok(()) }
    }

    /// Its size in pages.
    pub fn pages(&self) -> u64 {
        self.size.div_ceil(4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(Segment::new(0, 1, 0), Err(Error::Invalid));
        assert_eq!(Segment::new(SHMMAX + 1, 1, 0), Err(Error::Invalid));
        let s = Segment::new(4097, 1, 0).unwrap();
        assert_eq!(s.pages(), 2);
        assert_eq!(s.fits(4097), Ok(()));
        assert_eq!(s.fits(8192), Err(Error::Invalid));
    }
}
