//! Time calls: clocks, sleeps, `times`, `getrusage`.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::signal_pending;
use ember_frame::task::WaitQueue;
use ember_frame::time::{now_ns, wall_clock_ns};
use linux_raw_sys::general as nr;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const TIMER_ABSTIME: u64 = 1;

/// Nanoseconds on clock `id`. CPU-time clocks count time since boot: ember keeps no per-thread CPU time yet.
fn clock_ns(id: u64) -> Result<u64, Errno> {
    match id {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(wall_clock_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => Ok(now_ns()),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => Ok(now_ns()),
        _ => Err(Errno::EINVAL),
    }
}

fn write_timespec(at: u64, ns: u64) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / 1_000_000_000).to_ne_bytes());
    b[8..].copy_from_slice(&(ns % 1_000_000_000).to_ne_bytes());
    uaccess::write_bytes(at, &b)
}

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match n as u32 {
        nr::__NR_clock_gettime => clock_ns(a[0]).and_then(|ns| write_timespec(a[1], ns)).map(|()| 0),
        nr::__NR_clock_getres => clock_ns(a[0])
            .and_then(|_| if a[1] != 0 { write_timespec(a[1], 1) } else { Ok(()) })
            .map(|()| 0),
        nr::__NR_gettimeofday => {
            let ns = wall_clock_ns();
            if a[0] != 0
                && let Err(e) = uaccess::write_u64(a[0], ns / 1_000_000_000)
                    .and_then(|()| uaccess::write_u64(a[0] + 8, ns % 1_000_000_000 / 1000))
            {
                return Some(Err(e));
            }
            if a[1] != 0
                && let Err(e) = uaccess::write_u64(a[1], 0)
            {
                return Some(Err(e));
            }
            Ok(0)
        }
        nr::__NR_time => {
            let s = wall_clock_ns() / 1_000_000_000;
            if a[0] != 0
                && let Err(e) = uaccess::write_u64(a[0], s)
            {
                return Some(Err(e));
            }
            Ok(s)
        }
        nr::__NR_nanosleep => uaccess::read_timespec(a[0]).and_then(|ns| sleep(now_ns().saturating_add(ns), a[1])),
        nr::__NR_clock_nanosleep => {
            let base = match clock_ns(a[0]) {
                Ok(_) if a[0] == CLOCK_THREAD_CPUTIME_ID => return Some(Err(Errno::EOPNOTSUPP)),
                Ok(_) => now_ns(),
                Err(e) => return Some(Err(e)),
            };
            uaccess::read_timespec(a[2]).and_then(|ns| {
                if a[1] & TIMER_ABSTIME != 0 {
                    let now_on_clock = clock_ns(a[0])?;
                    sleep(base.saturating_add(ns.saturating_sub(now_on_clock)), 0)
                } else {
                    sleep(base.saturating_add(ns), a[3])
                }
            })
        }
        nr::__NR_times => {
            if a[0] != 0
                && let Err(e) = uaccess::write_bytes(a[0], &[0u8; 32])
            {
                return Some(Err(e));
            }
            Ok(now_ns() / 10_000_000)
        }
        nr::__NR_getrusage => {
            if a[0] as i64 != 0 && a[0] as i64 != -1 && a[0] != 1 {
                return Some(Err(Errno::EINVAL));
            }
            uaccess::write_bytes(a[1], &[0u8; 144]).map(|()| 0)
        }
        _ => return None,
    })
}

/// Sleeps until `deadline` (monotonic ns); on a signal, writes what is left to `rem` and fails with EINTR.
fn sleep(deadline: u64, rem: u64) -> SysResult {
    let q = WaitQueue::new();
    match q.wait_until_deadline(|| signal_pending().then_some(()), Some(deadline)) {
        None => Ok(0),
        Some(()) => {
            if rem != 0 {
                write_timespec(rem, deadline.saturating_sub(now_ns()))?;
            }
            Err(Errno::EINTR_NORESTART)
        }
    }
}
