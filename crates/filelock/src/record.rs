//! Byte-range record locks of one file.

use crate::Owner;
use alloc::vec::Vec;

/// A read (shared) or write (exclusive) lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `F_RDLCK`: any number of owners may hold overlapping read locks.
    Read,
    /// `F_WRLCK`: conflicts with every other owner's lock on an overlapping range.
    Write,
}

/// One held lock: `kind` over bytes `[start, end)` (`end == u64::MAX` reaches past any end of file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLock {
    /// Who holds it.
    pub owner: Owner,
    /// The process id `F_GETLK` reports (-1 for an open-file-description lock).
    pub pid: i32,
    /// Read or write.
    pub kind: LockKind,
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// The lock that stands in the way of a request.
pub type Conflict = RecordLock;

impl RecordLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }

    fn conflicts(&self, owner: Owner, kind: LockKind, start: u64, end: u64) -> bool {
        self.owner != owner && self.overlaps(start, end) && (kind == LockKind::Write || self.kind == LockKind::Write)
    }
}

/// The record locks held on one file.
#[derive(Debug, Default, Clone)]
pub struct RecordLocks {
    locks: Vec<RecordLock>,
}

impl RecordLocks {
    /// No locks.
    pub const fn new() -> RecordLocks {
        RecordLocks { locks: Vec::new() }
    }

    /// Whether no lock is held.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// The held locks, ordered by owner and start.
    pub fn locks(&self) -> &[RecordLock] {
        &self.locks
    }

    /// The first lock of another owner that a `kind` lock by `owner` over `[start, end)` would conflict with
    /// (what `F_GETLK` reports), if any. An empty range (`start >= end`) conflicts with nothing, as [`Self::set`]
    /// on it succeeds.
    pub fn conflict(&self, owner: Owner, kind: LockKind, start: u64, end: u64) -> Option<Conflict> {
        if start >= end {
            return None;
        }
        self.locks
            .iter()
            .find(|l| l.conflicts(owner, kind, start, end))
            .copied()
    }

    /// Sets a `kind` lock over `[start, end)` for `owner` (replacing what it held there), unless another owner's
    /// lock conflicts: then nothing changes and that lock is returned. An empty range (`start >= end`) is a
    /// no-op that succeeds.
    pub fn set(&mut self, owner: Owner, pid: i32, kind: LockKind, start: u64, end: u64) -> Result<(), Conflict> {
        if start >= end {
            return Ok(());
        }
        if let Some(c) = self.conflict(owner, kind, start, end) {
            return Err(c);
        }
        self.unlock(owner, start, end);
        let mut new = RecordLock {
            owner,
            pid,
            kind,
            start,
            end,
        };
        // Merge with the owner's adjacent locks of the same kind, as Linux does.
        self.locks.retain(|l| {
            let joins = l.owner == owner && l.kind == kind && (l.end == new.start || l.start == new.end);
            if joins {
                new.start = new.start.min(l.start);
                new.end = new.end.max(l.end);
            }
            !joins
        });
        let at = self
            .locks
            .partition_point(|l| (l.owner, l.start) < (new.owner, new.start));
        self.locks.insert(at, new);
        Ok(())
    }

    /// Releases `owner`'s locks over `[start, end)`, splitting a lock that reaches beyond the range.
    pub fn unlock(&mut self, owner: Owner, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut kept = Vec::with_capacity(self.locks.len() + 1);
        for l in self.locks.drain(..) {
            if l.owner != owner || !l.overlaps(start, end) {
                kept.push(l);
                continue;
            }
            if l.start < start {
                kept.push(RecordLock { end: start, ..l });
            }
            if l.end > end {
                kept.push(RecordLock { start: end, ..l });
            }
        }
        kept.sort_by_key(|l| (l.owner, l.start));
        self.locks = kept;
    }

    /// Releases every lock of `owner` (a close by a POSIX owner, or the last close of an open file
    /// description).
    pub fn release(&mut self, owner: Owner) {
        self.locks.retain(|l| l.owner != owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockKind::{Read, Write};

    #[test]
    fn an_empty_range_conflicts_with_nothing() {
        // Found by the filelock fuzz target: an inverted range overlapped a lock in `conflict` but not in `set`.
        let mut l = RecordLocks::new();
        l.set(1, 1, Write, 0, 10).unwrap();
        assert_eq!(l.conflict(2, Write, 5, 3), None);
        assert_eq!(l.set(2, 2, Write, 5, 3), Ok(()));
    }

    const END: u64 = u64::MAX;

    #[test]
    fn readers_share_writers_exclude() {
        let mut t = RecordLocks::new();
        t.set(1, 10, Read, 0, 100).unwrap();
        t.set(2, 20, Read, 50, 150).unwrap();
        let c = t.set(3, 30, Write, 120, 130).unwrap_err();
        assert_eq!((c.owner, c.pid, c.kind), (2, 20, Read));
        assert!(t.set(3, 30, Write, 150, END).is_ok());
        assert_eq!(t.conflict(1, Read, 200, 201).map(|c| c.owner), Some(3));
        assert_eq!(t.conflict(3, Write, 0, END).map(|c| c.owner), Some(1));
    }

    #[test]
    fn an_owner_never_conflicts_with_itself_and_converts_in_place() {
        let mut t = RecordLocks::new();
        t.set(1, 10, Read, 0, 100).unwrap();
        t.set(1, 10, Write, 40, 60).unwrap();
        assert_eq!(
            t.locks().iter().map(|l| (l.kind, l.start, l.end)).collect::<Vec<_>>(),
            [(Read, 0, 40), (Write, 40, 60), (Read, 60, 100)]
        );
        assert_eq!(t.conflict(2, Read, 45, 46).map(|c| c.kind), Some(Write));
        assert_eq!(t.conflict(2, Read, 0, 40), None);
    }

    #[test]
    fn unlock_splits_and_adjacent_locks_merge() {
        let mut t = RecordLocks::new();
        t.set(1, 10, Write, 0, 10).unwrap();
        t.set(1, 10, Write, 10, 20).unwrap();
        assert_eq!(t.locks().len(), 1);
        t.unlock(1, 5, 15);
        assert_eq!(
            t.locks().iter().map(|l| (l.start, l.end)).collect::<Vec<_>>(),
            [(0, 5), (15, 20)]
        );
        t.unlock(2, 0, END);
        assert_eq!(t.locks().len(), 2);
        t.release(1);
        assert!(t.is_empty());
    }

    #[test]
    fn empty_ranges_do_nothing() {
        let mut t = RecordLocks::new();
        assert!(t.set(1, 1, Write, 5, 5).is_ok());
        assert!(t.is_empty());
        t.set(1, 1, Write, 0, END).unwrap();
        t.unlock(1, 9, 3);
        assert_eq!(t.locks().len(), 1);
    }

    #[test]
    fn model_check_against_byte_map() {
        // A small deterministic walk compared against a per-byte model of who holds what.
        let mut t = RecordLocks::new();
        let mut model = [[None::<LockKind>; 3]; 32];
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..5000 {
            let owner = (next() % 3) as usize;
            let a = (next() % 33) as u64;
            let b = (next() % 33) as u64;
            let (s, e) = (a.min(b), a.max(b));
            match next() % 3 {
                0 => {
                    t.unlock(owner as u64, s, e);
                    for m in &mut model[s as usize..e as usize] {
                        m[owner] = None;
                    }
                }
                k => {
                    let kind = if k == 1 { Read } else { Write };
                    let blocked = (s..e).any(|i| {
                        (0..3).any(|o| o != owner && model[i as usize][o].is_some_and(|h| h == Write || kind == Write))
                    });
                    assert_eq!(t.set(owner as u64, 0, kind, s, e).is_err(), blocked);
                    if !blocked {
                        for m in &mut model[s as usize..e as usize] {
                            m[owner] = Some(kind);
                        }
                    }
                }
            }
            for (i, m) in model.iter().enumerate() {
                for (o, held) in m.iter().enumerate() {
                    let got = t
                        .locks()
                        .iter()
                        .find(|l| l.owner == o as u64 && l.start <= i as u64 && (i as u64) < l.end)
                        .map(|l| l.kind);
                    assert_eq!(got, *held, "byte {i} owner {o}");
                }
            }
            // An owner's locks never overlap each other.
            for w in t.locks().windows(2) {
                assert!(w[0].owner != w[1].owner || w[0].end <= w[1].start);
            }
        }
    }
}
