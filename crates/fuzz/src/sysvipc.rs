//! System V IPC (`ember-sysvipc`): semaphore sets and message queues against models.

use crate::input::Input;
use ember_sysvipc::msg::{MSG_EXCEPT, MSG_NOERROR, Queue};
use ember_sysvipc::sem::{SEM_UNDO, SEMVMX, SemBuf, SemSet};
use ember_sysvipc::{Error, IPC_NOWAIT};
use std::collections::VecDeque;

/// Input: `semop`s of up to three operations by four processes on a set of three semaphores, `SETVAL`,
/// `SETALL` and exits, then sends and receives on a message queue with any types, sizes and flags.
/// Checks: values stay within 0..=`SEMVMX`; a `semop` that waits or fails changes no value; one that succeeds
/// adds exactly its operations; `EAGAIN` only with `IPC_NOWAIT`; after every process has exited with no
/// `SETVAL`/`SETALL` since the start, only the operations without `SEM_UNDO` remain. `msgrcv` returns what a
/// model queue selects (type 0, > 0, < 0, `MSG_EXCEPT`), `E2BIG` exactly when too long without `MSG_NOERROR`.
pub fn sysvipc(data: &[u8]) {
    let mut input = Input::new(data);
    semaphores(&mut input);
    messages(&mut input);
}

fn semaphores(input: &mut Input) {
    let mut set = SemSet::new(3, 0).expect("three semaphores");
    // What the operations without SEM_UNDO added, while no SETVAL/SETALL reset the values.
    let mut kept: Option<[i32; 3]> = Some([0; 3]);
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let before: Vec<i32> = set.sems.iter().map(|s| s.val).collect();
        let pid = 1 + input.below(4) as u32;
        match input.below(8) {
            0 => {
                let v = i32::from(input.u16()) - 100;
                let r = set.set_val(input.below(4), v, pid, 1);
                if r.is_ok() {
                    kept = None;
                }
            }
            1 => {
                let vals = [input.u16() % 40, input.u16() % 40, input.u16() % 40];
                set.set_all(&vals, pid, 1).expect("small values");
                kept = None;
            }
            2 => {
                set.exit(pid);
            }
            _ => {
                let ops: Vec<SemBuf> = (0..1 + input.below(3))
                    .map(|_| SemBuf {
                        num: input.below(4) as u16,
                        op: [-2, -1, 0, 1, 2, 3, i16::MAX][input.below(7)],
                        flags: if input.bool() { SEM_UNDO } else { 0 }
                            | if input.bool() { IPC_NOWAIT as i16 } else { 0 },
                    })
                    .collect();
                let after = |s: &SemSet| s.sems.iter().map(|s| s.val).collect::<Vec<i32>>();
                match set.apply(&ops, pid, 1) {
                    Ok(None) => {
                        let mut expect = before.clone();
                        for o in &ops {
                            expect[usize::from(o.num)] += i32::from(o.op);
                            if o.flags & SEM_UNDO == 0
                                && let Some(k) = kept.as_mut()
                            {
                                k[usize::from(o.num)] += i32::from(o.op);
                            }
                        }
                        assert_eq!(after(&set), expect, "{ops:?}");
                    }
                    Ok(Some(b)) => {
                        assert_eq!(after(&set), before);
                        assert!(ops.iter().any(|o| o.num == b.num && (o.op == 0) == b.for_zero));
                    }
                    Err(e) => {
                        assert_eq!(after(&set), before, "{e:?}");
                        if e == Error::Again {
                            assert!(ops.iter().any(|o| i32::from(o.flags) & IPC_NOWAIT != 0));
                        }
                    }
                }
            }
        }
        assert!(set.sems.iter().all(|s| (0..=SEMVMX).contains(&s.val)));
    }
    for pid in 1..=4 {
        set.exit(pid);
    }
    if let Some(k) = kept {
        // Undo clamps at 0, so each value is at least what the non-undo operations left.
        for (s, k) in set.sems.iter().zip(k) {
            assert!(s.val >= k.clamp(0, SEMVMX), "{} < {k}", s.val);
        }
    }
}

fn messages(input: &mut Input) {
    let mut q = Queue::new(0);
    let mut model: VecDeque<(i64, usize)> = VecDeque::new();
    while !input.is_empty() {
        let mtype = [-3, -1, 0, 1, 2, 3, i64::MIN, i64::MAX][input.below(8)];
        if input.bool() {
            let len = input.below(40);
            let r = q.send(mtype, vec![mtype as u8; len], 1, 1);
            if mtype >= 1 && r.is_ok() {
                model.push_back((mtype, len));
            } else {
                assert!(mtype < 1 || r == Err(Error::Again));
            }
        } else {
            let max = input.below(40);
            let flags = if input.bool() { MSG_EXCEPT } else { 0 } | if input.bool() { MSG_NOERROR } else { 0 };
            let pick = if mtype == 0 {
                (!model.is_empty()).then_some(0)
            } else if mtype > 0 && flags & MSG_EXCEPT != 0 {
                model.iter().position(|m| m.0 != mtype)
            } else if mtype > 0 {
                model.iter().position(|m| m.0 == mtype)
            } else {
                let limit = mtype.checked_neg().unwrap_or(i64::MAX);
                let low = model.iter().map(|m| m.0).filter(|&t| t <= limit).min();
                low.and_then(|l| model.iter().position(|m| m.0 == l))
            };
            let r = q.receive(mtype, max, flags, 2, 2);
            match pick {
                None => assert_eq!(r, Err(Error::NoMessage)),
                Some(i) if model[i].1 > max && flags & MSG_NOERROR == 0 => assert_eq!(r, Err(Error::TooBig)),
                Some(i) => {
                    let (t, len) = model.remove(i).expect("picked");
                    assert_eq!(r, Ok((t, vec![t as u8; len.min(max)])));
                }
            }
        }
        assert_eq!(q.len(), model.len());
        assert_eq!(q.cbytes, model.iter().map(|m| m.1).sum::<usize>());
    }
}
