//! Semaphore sets: Linux's atomic `semop` (all operations or none), `SEM_UNDO` adjustments kept per process
//! and applied at its exit, and the values `semctl` reads and writes.

use crate::{Error, IPC_NOWAIT};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

/// `SEMMSL`: the most semaphores in a set.
pub const SEMMSL: usize = 32000;
/// `SEMMNS`: the most semaphores in all sets.
pub const SEMMNS: usize = 1_024_000_000;
/// `SEMOPM`: the most operations in one `semop`.
pub const SEMOPM: usize = 500;
/// `SEMMNI`: the most sets.
pub const SEMMNI: usize = 32000;
/// `SEMVMX`: the largest semaphore value.
pub const SEMVMX: i32 = 32767;
/// `SEMAEM`: the largest adjustment an undo may hold.
pub const SEMAEM: i32 = SEMVMX;
/// `SEM_UNDO`: undo the operation when the process exits.
pub const SEM_UNDO: i16 = 0x1000;

/// One `struct sembuf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemBuf {
    /// The semaphore's number in the set.
    pub num: u16,
    /// Add this (negative: wait until it can be taken; zero: wait until the value is 0).
    pub op: i16,
    /// `IPC_NOWAIT`, `SEM_UNDO`.
    pub flags: i16,
}

/// One semaphore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sem {
    /// Its value (0..=`SEMVMX`).
    pub val: i32,
    /// The process of the last operation (`GETPID`).
    pub pid: u32,
    /// How many wait for it to grow (`GETNCNT`).
    pub ncnt: u32,
    /// How many wait for it to be 0 (`GETZCNT`).
    pub zcnt: u32,
}

/// What a `semop` that cannot complete now waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// The semaphore it waits on.
    pub num: u16,
    /// Whether it waits for zero (else for an increase).
    pub for_zero: bool,
}

/// A semaphore set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemSet {
    /// The semaphores.
    pub sems: Vec<Sem>,
    /// Time of the last `semop` (seconds since the epoch).
    pub otime: i64,
    /// Time of the last change by `semctl` or creation.
    pub ctime: i64,
    /// `SEM_UNDO` adjustments by process, one per semaphore.
    undo: BTreeMap<u32, Vec<i32>>,
}

impl SemSet {
    /// `semget`'s new set of `n` semaphores (1..=`SEMMSL`), all 0.
    pub fn new(n: usize, now: i64) -> Result<SemSet, Error> {
        if n == 0 || n > SEMMSL {
            return Err(Error::Invalid);
        }
        Ok(SemSet {
            sems: vec![Sem::default(); n],
            otime: 0,
            ctime: now,
            undo: BTreeMap::new(),
        })
    }

    /// Checks the operations against the set (`EFBIG` for a number past it): whether any changes a value
    /// (which needs write permission, else read).
    pub fn check(&self, ops: &[SemBuf]) -> Result<bool, Error> {
        if ops.iter().any(|o| usize::from(o.num) >= self.sems.len()) {
            return Err(Error::FileTooBig);
        }
        Ok(ops.iter().any(|o| o.op != 0))
    }

    /// `semop` by process `pid`: every operation at once, or none. `Ok(None)` when done, `Ok(Some(_))` when
    /// the caller must wait (then nothing changed); `EAGAIN` instead when the blocking operation has
    /// `IPC_NOWAIT`; `ERANGE` past `SEMVMX` or the undo limit.
    pub fn apply(&mut self, ops: &[SemBuf], pid: u32, now: i64) -> Result<Option<Blocked>, Error> {
        self.check(ops)?;
        let mut vals: Vec<i32> = self.sems.iter().map(|s| s.val).collect();
        let mut adj = self.undo.get(&pid).cloned().unwrap_or_else(|| vec![0; self.sems.len()]);
        for o in ops {
            let n = usize::from(o.num);
            let cur = vals[n];
            let blocked = (o.op == 0 && cur != 0) || cur + i32::from(o.op) < 0;
            if blocked {
                if i32::from(o.flags) & IPC_NOWAIT != 0 {
                    return Err(Error::Again);
                }
                return Ok(Some(Blocked {
                    num: o.num,
                    for_zero: o.op == 0,
                }));
            }
            let new = cur + i32::from(o.op);
            if new > SEMVMX {
                return Err(Error::Range);
            }
            if o.flags & SEM_UNDO != 0 {
                let a = adj[n] - i32::from(o.op);
                if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                    return Err(Error::Range);
                }
                adj[n] = a;
            }
            vals[n] = new;
        }
        for o in ops {
            self.sems[usize::from(o.num)].pid = pid;
        }
        for (s, v) in self.sems.iter_mut().zip(vals) {
            s.val = v;
        }
        if ops.iter().any(|o| o.flags & SEM_UNDO != 0) {
            self.undo.insert(pid, adj);
        }
        self.otime = now;
        Ok(None)
    }

    /// Counts (or, with `waiting` false, uncounts) a waiter as `GETNCNT`/`GETZCNT` report it.
    pub fn count_waiter(&mut self, b: Blocked, waiting: bool) {
        if let Some(s) = self.sems.get_mut(usize::from(b.num)) {
            let c = if b.for_zero { &mut s.zcnt } else { &mut s.ncnt };
            *c = if waiting { *c + 1 } else { c.saturating_sub(1) };
        }
    }

    /// `SETVAL`: `ERANGE` outside 0..=`SEMVMX`; every process's adjustment of that semaphore is cleared.
    pub fn set_val(&mut self, num: usize, val: i32, pid: u32, now: i64) -> Result<(), Error> {
        if num >= self.sems.len() {
            return Err(Error::Invalid);
        }
        if !(0..=SEMVMX).contains(&val) {
            return Err(Error::Range);
        }
        self.sems[num].val = val;
        self.sems[num].pid = pid;
        for adj in self.undo.values_mut() {
            adj[num] = 0;
        }
        self.ctime = now;
        Ok(())
    }

    /// `SETALL`: one value per semaphore; every adjustment is cleared.
    pub fn set_all(&mut self, vals: &[u16], pid: u32, now: i64) -> Result<(), Error> {
        if vals.len() != self.sems.len() {
            return Err(Error::Invalid);
        }
        if vals.iter().any(|&v| i32::from(v) > SEMVMX) {
            return Err(Error::Range);
        }
        for (s, &v) in self.sems.iter_mut().zip(vals) {
            s.val = i32::from(v);
            s.pid = pid;
        }
        self.undo.clear();
        self.ctime = now;
        Ok(())
    }

    /// The exit of process `pid`: its adjustments are added, each value kept within 0..=`SEMVMX`. Whether
    /// anything changed (waiters should look again).
    pub fn exit(&mut self, pid: u32) -> bool {
        let Some(adj) = self.undo.remove(&pid) else {
            return false;
        };
        let mut changed = false;
        for (s, a) in self.sems.iter_mut().zip(adj) {
            if a != 0 {
                s.val = (s.val + a).clamp(0, SEMVMX);
                s.pid = pid;
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(num: u16, op: i16, flags: i16) -> SemBuf {
        SemBuf { num, op, flags }
    }

    #[test]
    fn semop_is_all_or_nothing() {
        let mut s = SemSet::new(2, 1).unwrap();
        s.set_val(0, 1, 9, 2).unwrap();
        // The second operation blocks, so the first does not happen.
        assert_eq!(
            s.apply(&[op(0, -1, 0), op(1, -1, 0)], 5, 3),
            Ok(Some(Blocked {
                num: 1,
                for_zero: false
            }))
        );
        assert_eq!(s.sems[0].val, 1);
        assert_eq!(
            s.apply(&[op(0, -1, 0), op(1, -1, IPC_NOWAIT as i16)], 5, 3),
            Err(Error::Again)
        );
        assert_eq!(
            s.apply(&[op(0, 0, 0)], 5, 3),
            Ok(Some(Blocked { num: 0, for_zero: true }))
        );
        assert_eq!(s.apply(&[op(0, -1, 0), op(1, 2, 0)], 5, 4), Ok(None));
        assert_eq!((s.sems[0].val, s.sems[1].val, s.sems[1].pid, s.otime), (0, 2, 5, 4));
        assert_eq!(s.apply(&[op(0, 0, 0)], 5, 4), Ok(None));
        assert_eq!(s.apply(&[op(2, 1, 0)], 5, 4), Err(Error::FileTooBig));
        assert_eq!(s.apply(&[op(1, i16::MAX, 0)], 5, 4), Err(Error::Range));
        assert_eq!(SemSet::new(0, 0), Err(Error::Invalid));
    }

    #[test]
    fn undo_applies_at_exit_and_setval_clears_it() {
        let mut s = SemSet::new(2, 0).unwrap();
        s.apply(&[op(0, 3, SEM_UNDO), op(1, 1, SEM_UNDO)], 7, 1).unwrap();
        s.apply(&[op(0, -1, SEM_UNDO)], 7, 1).unwrap();
        s.apply(&[op(0, 5, 0)], 8, 1).unwrap();
        assert_eq!(s.sems[0].val, 7);
        s.set_val(1, 4, 8, 2).unwrap();
        assert!(s.exit(7));
        // Semaphore 0 loses the 2 that pid 7 left; semaphore 1's adjustment went with SETVAL.
        assert_eq!((s.sems[0].val, s.sems[1].val), (5, 4));
        assert!(!s.exit(7));
        // An adjustment never takes a value below 0.
        s.apply(&[op(1, 1, SEM_UNDO)], 9, 3).unwrap();
        s.set_all(&[0, 0], 1, 4).unwrap();
        assert!(!s.exit(9));
        s.apply(&[op(1, 2, SEM_UNDO)], 9, 5).unwrap();
        s.set_val(0, 0, 1, 6).unwrap();
        s.apply(&[op(1, -2, 0)], 10, 7).unwrap();
        assert!(s.exit(9));
        assert_eq!(s.sems[1].val, 0);
    }

    #[test]
    fn waiters_are_counted() {
        let mut s = SemSet::new(1, 0).unwrap();
        let b = Blocked {
            num: 0,
            for_zero: false,
        };
        s.count_waiter(b, true);
        s.count_waiter(Blocked { num: 0, for_zero: true }, true);
        assert_eq!((s.sems[0].ncnt, s.sems[0].zcnt), (1, 1));
        s.count_waiter(b, false);
        s.count_waiter(b, false);
        assert_eq!(s.sems[0].ncnt, 0);
        assert_eq!(s.set_all(&[40000], 1, 1), Err(Error::Range));
        assert_eq!(s.set_val(0, -1, 1, 1), Err(Error::Range));
    }
}
