//! `timerfd`: a timer whose expirations a read collects. A kernel task per arming sleeps until each
//! expiry and wakes readers and pollers; the count itself is computed from the clock when asked.

use super::wait_for;
use crate::fs::file::FileOps;
use crate::fs::poll;
use crate::syscall::errno::Errno;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use ember_frame::sync::Mutex;
use ember_frame::task::{Task, WaitQueue};
use ember_frame::time::{now_ns, wall_clock_ns};
use linux_raw_sys::general::POLLIN;

/// `CLOCK_REALTIME`.
pub const CLOCK_REALTIME: u32 = 0;
/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: u32 = 1;
/// `CLOCK_BOOTTIME`.
pub const CLOCK_BOOTTIME: u32 = 7;
/// `CLOCK_REALTIME_ALARM`.
pub const CLOCK_REALTIME_ALARM: u32 = 8;
/// `CLOCK_BOOTTIME_ALARM`.
pub const CLOCK_BOOTTIME_ALARM: u32 = 9;

#[derive(Default)]
struct State {
    /// The next expiry on the monotonic clock (ns), `None` when disarmed.
    next: Option<u64>,
    interval: u64,
    /// Expirations not read yet.
    ticks: u64,
    /// Counts armings, so that a sleeping task of an earlier one stops.
    generation: u64,
}

impl State {
    /// Counts the expirations up to `now`.
    fn advance(&mut self, now: u64) {
        let Some(next) = self.next else { return };
        if now < next {
            return;
        }
        match (now - next).checked_div(self.interval) {
            // One-shot (no interval): one expiration.
            None => {
                self.ticks = self.ticks.saturating_add(1);
                self.next = None;
            }
            Some(periods) => {
                let n = periods + 1;
                self.ticks = self.ticks.saturating_add(n);
                self.next = Some(next.saturating_add(n.saturating_mul(self.interval)));
            }
        }
    }
}

/// A timer file.
pub struct TimerFd {
    realtime: bool,
    state: Mutex<State>,
    /// Readers waiting for an expiry.
    readers: WaitQueue,
    /// The arming task, woken to notice a new arming or the timer's end.
    rearmed: Arc<WaitQueue>,
}

impl TimerFd {
    /// A disarmed timer on `clock` (one of the `CLOCK_*` above; the realtime ones take absolute times on
    /// the wall clock).
    pub fn new(clock: u32) -> TimerFd {
        TimerFd {
            realtime: matches!(clock, CLOCK_REALTIME | CLOCK_REALTIME_ALARM),
            state: Mutex::new(State::default()),
            readers: WaitQueue::new(),
            rearmed: Arc::new(WaitQueue::new()),
        }
    }

    /// `timerfd_gettime`: the time to the next expiry (0: disarmed) and the interval, in ns.
    pub fn get(&self) -> (u64, u64) {
        let now = now_ns();
        let mut st = self.state.lock();
        st.advance(now);
        (st.next.map_or(0, |n| n.saturating_sub(now).max(1)), st.interval)
    }

    /// `timerfd_settime`: arms for `value` ns from now (or at `value` on the timer's clock when
    /// `absolute`; 0 disarms), repeating every `interval` ns; returns the old setting as [`TimerFd::get`].
    pub fn set(self: &Arc<Self>, value: u64, interval: u64, absolute: bool) -> (u64, u64) {
        let old = self.get();
        let now = now_ns();
        let next = match value {
            0 => None,
            v if absolute => {
                let clock_now = if self.realtime { wall_clock_ns() } else { now };
                Some(now.saturating_add(v.saturating_sub(clock_now)))
            }
            v => Some(now.saturating_add(v)),
        };
        let generation = {
            let mut st = self.state.lock();
            st.generation += 1;
            *st = State {
                next,
                interval,
                ticks: 0,
                generation: st.generation,
            };
            st.generation
        };
        self.rearmed.wake_all();
        if next.is_some() {
            let weak = Arc::downgrade(self);
            let rearmed = self.rearmed.clone();
            if Task::spawn(move || expiry_task(weak, rearmed, generation), ()).is_err() {
                log::warn!("timerfd: no task for the timer; it fires only when read or polled");
            }
        }
        poll::notify();
        old
    }

    fn fired(&self) {
        self.readers.wake_all();
        poll::notify();
    }
}

/// Sleeps until each expiry of arming `generation`, waking readers and pollers; ends when the timer is
/// closed, disarmed or armed again. It holds no strong reference while asleep, so a closed timer goes.
fn expiry_task(timer: Weak<TimerFd>, rearmed: Arc<WaitQueue>, generation: u64) {
    let current = || {
        let t = timer.upgrade()?;
        let st = t.state.lock();
        (st.generation == generation).then_some(st.next).flatten()
    };
    while let Some(next) = current() {
        if rearmed
            .wait_until_deadline(|| current().is_none().then_some(()), Some(next))
            .is_some()
        {
            return;
        }
        let Some(t) = timer.upgrade() else { return };
        t.state.lock().advance(now_ns());
        t.fired();
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        self.rearmed.wake_all();
    }
}

impl FileOps for TimerFd {
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        let ticks = wait_for(&self.readers, nonblock, || {
            let mut st = self.state.lock();
            st.advance(now_ns());
            (st.ticks > 0).then(|| Ok(core::mem::take(&mut st.ticks)))
        })?;
        out.copy_from_slice(&ticks.to_ne_bytes());
        poll::notify();
        Ok(8)
    }

    fn write(&self, _: &[u8], _: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u32 {
        let mut st = self.state.lock();
        st.advance(now_ns());
        if st.ticks > 0 { POLLIN } else { 0 }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
