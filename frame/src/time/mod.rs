//! Time: the TSC and its frequency, a monotonic clock, the wall clock, and waiting on the APIC timer (or the PIT
//! when the APIC timer does not count).
//!
//! TSC frequency sources, in order: CPUID 0x15, CPUID 0x16, the hypervisor leaf 0x4000_0010, kvmclock, and only
//! then 1 ms measured against the PIT. Wall-clock time comes from kvmclock, else the CMOS RTC, else it starts at
//! the epoch with a warning.

mod kvmclock;
mod pit;
mod rtc;
mod timer;
mod tsc;

pub use timer::{apic_timer_hz, pit_is_timer, sleep_ns, wait_until};
pub(crate) use timer::{fired as timer_fired, set_task_deadline};
pub use tsc::{ClockParams, FrequencySource, clock_params, now_ns, tsc_frequency_hz};
pub(crate) use tsc::{set_entry_tsc, tsc_to_ns};

use core::sync::atomic::{AtomicU64, Ordering};

/// Wall-clock nanoseconds since the epoch at the first instruction.
static WALL_AT_ENTRY_NS: AtomicU64 = AtomicU64::new(0);

/// Wall-clock time: nanoseconds since the Unix epoch (counts from 0 when no source told the time).
pub fn wall_clock_ns() -> u64 {
    wall_offset_ns() + now_ns()
}

/// The wall clock's offset from the monotonic clock: wall time at monotonic time 0.
pub fn wall_offset_ns() -> u64 {
    WALL_AT_ENTRY_NS.load(Ordering::Relaxed)
}

/// Sets up the TSC, the wall clock and the timer. Needs the local APIC. `apic_timer_dead` is the test hook
/// `ember.lapic_timer=dead` (see [`timer`]).
pub(crate) fn init(apic_timer_dead: bool) {
    let wall = tsc::init().map(|ns| (ns, "kvmclock")).or_else(|| {
        let secs = rtc::read_unix_seconds()?;
        Some((secs * 1_000_000_000, "the CMOS RTC"))
    });
    match wall {
        Some((ns, source)) => {
            WALL_AT_ENTRY_NS.store(ns.saturating_sub(now_ns()), Ordering::Relaxed);
            let secs = ns / 1_000_000_000;
            let (y, m, d) = civil_from_days(secs / 86_400);
            let s = secs % 86_400;
            log::info!(
                "time: wall clock {y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC from {source}",
                s / 3600,
                s / 60 % 60,
                s % 60
            );
        }
        None => log::warn!("time: no kvmclock and no RTC; the wall clock starts at 1970-01-01"),
    }
    timer::init(apic_timer_dead);
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}
