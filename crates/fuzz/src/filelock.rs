//! File locks (`ember-filelock`) against a model of every byte.

use crate::input::Input;
use ember_filelock::{FlockLocks, LockKind, Owner, RecordLocks};

/// Owners the input picks from.
const OWNERS: u64 = 3;
/// Byte positions the input picks from: 0 to 32, where the last cell stands for `[32, u64::MAX)`.
const CELLS: usize = 33;

/// Per owner and cell: no lock, a read lock or a write lock.
type Model = [[Option<LockKind>; CELLS]; OWNERS as usize];

/// Input: operations on one file's record locks and `flock` locks by three owners, over ranges whose ends are
/// 0 to 32 or `u64::MAX` (so a model of 33 cells is exact). Checks against the model after every step: `set`
/// fails exactly when another owner holds an overlapping lock and one of the two is a write lock, and the lock
/// it reports is such a lock; `conflict` agrees; a success replaces the owner's locks over the range; `unlock`
/// and `release` remove exactly what they name; the held list, expanded to cells, is the model, sorted by
/// owner and start, with no overlap and no adjacent locks of one owner and kind left unmerged. `flock`: shared
/// by any number of owners or exclusive to one, a refused request changes nothing.
pub fn filelock(data: &[u8]) {
    let mut input = Input::new(data);
    let mut locks = RecordLocks::new();
    let mut model: Model = [[None; CELLS]; OWNERS as usize];
    let mut flock = FlockLocks::new();
    let mut flock_model: Vec<(Owner, bool)> = Vec::new();
    while !input.is_empty() {
        let op = input.u8();
        let owner = u64::from(op >> 4) % OWNERS;
        let start = input.below(CELLS) as u64;
        let end = match input.below(CELLS + 1) {
            CELLS => u64::MAX,
            e => e as u64,
        };
        let kind = if op & 8 != 0 { LockKind::Write } else { LockKind::Read };
        match op % 5 {
            0 => {
                let expected = model_conflict(&model, owner, kind, start, end);
                let got = locks.set(owner, owner as i32 + 100, kind, start, end);
                match got {
                    Ok(()) => {
                        assert!(expected.is_none(), "set over a conflicting lock");
                        for c in cells(start, end) {
                            model[owner as usize][c] = Some(kind);
                        }
                    }
                    Err(c) => {
                        assert!(expected.is_some() && start < end, "set refused without a conflict");
                        assert!(c.owner != owner && c.start < end && start < c.end, "reported {c:?}");
                        assert!(kind == LockKind::Write || c.kind == LockKind::Write);
                        assert_eq!(c.pid, c.owner as i32 + 100);
                    }
                }
            }
            1 => {
                let got = locks.conflict(owner, kind, start, end);
                assert_eq!(got.is_some(), model_conflict(&model, owner, kind, start, end).is_some());
            }
            2 => {
                locks.unlock(owner, start, end);
                for c in cells(start, end) {
                    model[owner as usize][c] = None;
                }
            }
            3 => {
                locks.release(owner);
                model[owner as usize] = [None; CELLS];
            }
            _ => {
                let exclusive = op & 8 != 0;
                if input.bool() {
                    flock.unlock(owner);
                    flock_model.retain(|&(o, _)| o != owner);
                } else {
                    let blocked = flock_model.iter().any(|&(o, x)| o != owner && (exclusive || x));
                    assert_eq!(flock.try_lock(owner, exclusive), !blocked);
                    if !blocked {
                        flock_model.retain(|&(o, _)| o != owner);
                        flock_model.push((owner, exclusive));
                    }
                }
                assert_eq!(flock.is_empty(), flock_model.is_empty());
                let exclusives = flock_model.iter().filter(|h| h.1).count();
                assert!(exclusives == 0 || flock_model.len() == 1);
            }
        }
        check(&locks, &model);
    }
}

/// The cells `[start, end)` covers.
fn cells(start: u64, end: u64) -> std::ops::Range<usize> {
    let e = if end == u64::MAX { CELLS } else { end as usize };
    (start as usize)..e.max(start as usize)
}

fn model_conflict(model: &Model, owner: Owner, kind: LockKind, start: u64, end: u64) -> Option<Owner> {
    (0..OWNERS).filter(|&o| o != owner).find(|&o| {
        cells(start, end).any(|c| match model[o as usize][c] {
            Some(k) => kind == LockKind::Write || k == LockKind::Write,
            None => false,
        })
    })
}

fn check(locks: &RecordLocks, model: &Model) {
    let mut seen: Model = [[None; CELLS]; OWNERS as usize];
    let list = locks.locks();
    for (i, l) in list.iter().enumerate() {
        assert!(l.start < l.end && (l.end <= 32 || l.end == u64::MAX), "lock {l:?}");
        for c in cells(l.start, l.end) {
            assert!(
                seen[l.owner as usize][c].is_none(),
                "two locks of one owner over cell {c}: {list:?}"
            );
            seen[l.owner as usize][c] = Some(l.kind);
        }
        if let Some(next) = list.get(i + 1) {
            assert!((l.owner, l.start) < (next.owner, next.start), "not sorted: {list:?}");
            if next.owner == l.owner && next.kind == l.kind {
                assert!(l.end < next.start, "adjacent locks not merged: {list:?}");
            }
        }
    }
    assert_eq!(&seen, model, "the held locks differ from the model: {list:?}");
    assert_eq!(locks.is_empty(), list.is_empty());
}
