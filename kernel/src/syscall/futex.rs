//! `futex`: wait on and wake user-space words (WAIT, WAKE, WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE).
//!
//! A private futex (`FUTEX_PRIVATE_FLAG`, or any futex in private memory) is named by its address space and
//! user address; a futex in a shared mapping is named by the physical address of its word, so processes that
//! map the same page at different addresses meet on it (LTP's checkpoints wait this way across `fork`).
//!
//! The waiters are kept in [`BUCKETS`] hash buckets by name, each under its own lock, so that threads waiting
//! on and waking different futexes (every `pthread_mutex` and condition variable is one) rarely meet on a
//! lock; one global table's lock was the second most contended lock of the SMP profile.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::{current, signal_pending};
use crate::vm::Vm;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use ember_frame::time::{now_ns, wall_clock_ns};
use linux_raw_sys::general as nr;

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_CLOCK_REALTIME: u64 = 256;

const FUTEX_PRIVATE_FLAG: u64 = 128;

/// A futex's name: `(address space, user address)` for a private one, `(0, physical address)` for a shared one
/// (no address space is at address 0).
type Key = (usize, u64);

struct Waiter {
    woken: AtomicBool,
    bitset: u32,
    queue: WaitQueue,
    /// The futex it waits on now (`REQUEUE` moves it), changed only under the locks of both buckets; read
    /// under either (or its own lock) by a waiter that gives up.
    key: Mutex<Key>,
}

/// The waiters of the futexes that hash to one bucket, by futex.
type Bucket = Mutex<BTreeMap<Key, Vec<Arc<Waiter>>>>;

/// Number of hash buckets (a power of two).
const BUCKETS: usize = 64;

static FUTEXES: [Bucket; BUCKETS] = [const { Mutex::new(BTreeMap::new()) }; BUCKETS];

/// The bucket number of futex `k`: its address bits above the word (futexes of one page spread out), mixed
/// with the address space's.
fn bucket_of(k: Key) -> usize {
    let h = ((k.1 >> 2) ^ (k.0 as u64 >> 4)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 58) as usize % BUCKETS
}

/// The bucket holding futex `k`'s waiters.
fn bucket(k: Key) -> &'static Bucket {
    &FUTEXES[bucket_of(k)]
}

/// The futex at `addr`, named as the module documentation says.
fn key(vm: &Arc<Vm>, addr: u64, op: u64) -> Result<Key, Errno> {
    if op & FUTEX_PRIVATE_FLAG == 0
        && let Some(paddr) = vm.shared_paddr(addr)?
    {
        return Ok((0, paddr));
    }
    Ok((Arc::as_ptr(vm) as usize, addr))
}

/// Wakes up to `count` waiters on the futex at `addr` (in `vm`; `op` holds `FUTEX_PRIVATE_FLAG` or not)
/// whose bitset meets `bitset`; returns how many.
pub fn wake(vm: &Arc<Vm>, addr: u64, op: u64, count: u32, bitset: u32) -> Result<u64, Errno> {
    Ok(wake_key(key(vm, addr, op)?, count, bitset))
}

fn wake_key(k: Key, count: u32, bitset: u32) -> u64 {
    let mut woken: Vec<Arc<Waiter>> = Vec::new();
    {
        let mut table = bucket(k).lock();
        let Some(waiters) = table.get_mut(&k) else {
            return 0;
        };
        waiters.retain(|w| {
            if woken.len() < count as usize && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::Release);
                woken.push(w.clone());
                false
            } else {
                true
            }
        });
        if waiters.is_empty() {
            table.remove(&k);
        }
    }
    // Woken after the bucket's lock is released (a wake-up takes a run queue's lock and may send an IPI):
    // each was marked woken and taken off the futex under the lock, and its wait re-checks the mark after
    // registering on its queue, so no wake-up is lost.
    for w in &woken {
        w.queue.wake_all();
    }
    woken.len() as u64
}

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    (n as u32 == nr::__NR_futex).then(|| futex(a))
}

fn futex(a: [u64; 6]) -> SysResult {
    let [addr, op, val, timeout, addr2, val3] = a;
    if addr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let vm = current().vm();
    let cmd = op & 0x7F;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 as u32 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let deadline = if timeout == 0 {
                None
            } else {
                let t = uaccess::read_timespec(timeout)?;
                Some(if cmd == FUTEX_WAIT {
                    now_ns().saturating_add(t)
                } else if op & FUTEX_CLOCK_REALTIME != 0 {
                    now_ns().saturating_add(t.saturating_sub(wall_clock_ns()))
                } else {
                    t
                })
            };
            wait(key(&vm, addr, op)?, addr, val as u32, bitset, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 as u32 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            wake(&vm, addr, op, val as u32, bitset)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if cmd == FUTEX_CMP_REQUEUE && uaccess::read_u32(addr)? != val3 as u32 {
                return Err(Errno::EAGAIN);
            }
            let (from, to) = (key(&vm, addr, op)?, key(&vm, addr2, op)?);
            let woken = wake_key(from, val as u32, u32::MAX);
            Ok(woken + requeue(from, to, timeout as u32 as usize))
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Moves up to `max` waiters of futex `from` to futex `to`; returns how many. The two buckets are locked in
/// their order (one lock when they are the same), so two requeues the other way round cannot deadlock.
fn requeue(from: Key, to: Key, max: usize) -> u64 {
    let (bf, bt) = (bucket_of(from), bucket_of(to));
    let (mut first, second) = match bf.cmp(&bt) {
        core::cmp::Ordering::Equal => (FUTEXES[bf].lock(), None),
        core::cmp::Ordering::Less => {
            let f = FUTEXES[bf].lock();
            (f, Some(FUTEXES[bt].lock()))
        }
        core::cmp::Ordering::Greater => {
            let t = FUTEXES[bt].lock();
            (FUTEXES[bf].lock(), Some(t))
        }
    };
    let moved: Vec<Arc<Waiter>> = match first.get_mut(&from) {
        Some(w) => {
            let n = max.min(w.len());
            let moved: Vec<Arc<Waiter>> = w.drain(..n).collect();
            if w.is_empty() {
                first.remove(&from);
            }
            moved
        }
        None => Vec::new(),
    };
    for w in &moved {
        *w.key.lock() = to;
    }
    let count = moved.len() as u64;
    if !moved.is_empty() {
        second.unwrap_or(first).entry(to).or_default().extend(moved);
    }
    count
}

fn wait(k: Key, addr: u64, expected: u32, bitset: u32, deadline: Option<u64>) -> SysResult {
    let waiter = Arc::new(Waiter {
        woken: AtomicBool::new(false),
        bitset,
        queue: WaitQueue::new(),
        key: Mutex::new(k),
    });
    {
        // The value check and the registration happen under the bucket's lock, so a waker that changes the
        // value and then wakes cannot slip in between.
        let mut table = bucket(k).lock();
        if uaccess::read_u32(addr)? != expected {
            return Err(Errno::EAGAIN);
        }
        table.entry(k).or_default().push(waiter.clone());
    }
    let result = waiter.queue.wait_until_deadline(
        || {
            if waiter.woken.load(Ordering::Acquire) {
                Some(Ok(0))
            } else if signal_pending() {
                Some(Err(Errno::EINTR))
            } else {
                None
            }
        },
        deadline,
    );
    if !waiter.woken.load(Ordering::Acquire) && !unregister(&waiter) {
        // A waker took it off its futex after the wait ended and before it could leave: it was woken.
        return Ok(0);
    }
    result.unwrap_or(Err(Errno::ETIMEDOUT))
}

/// Takes a waiter that gave up (timeout, signal) off the futex it waits on; `false` when it was no longer
/// there (a waker took it). A `REQUEUE` may move it between the look at its key and the bucket's lock: the key
/// is looked at again under that lock, which every move holds.
fn unregister(waiter: &Arc<Waiter>) -> bool {
    loop {
        let k = *waiter.key.lock();
        let mut table = bucket(k).lock();
        if *waiter.key.lock() != k {
            continue;
        }
        let Some(waiters) = table.get_mut(&k) else {
            return false;
        };
        let before = waiters.len();
        waiters.retain(|w| !Arc::ptr_eq(w, waiter));
        let found = waiters.len() != before;
        if waiters.is_empty() {
            table.remove(&k);
        }
        return found;
    }
}
