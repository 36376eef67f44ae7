//! The TSC: its frequency, from the cheapest source that knows it, and time since the first instruction.

use super::{kvmclock, pit, rtc};
use crate::arch::regs::{cpuid, rdtsc};
use crate::irq::lapic;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC cycle as a 32.32 fixed-point number: `ns = (cycles * NS_PER_CYCLE) >> 32`. The
/// monotonic clock uses it (one multiplication, no division), and so does the vDSO from the same value, so
/// that user space reading the clock without a system call sees exactly the kernel's time.
static NS_PER_CYCLE: AtomicU64 = AtomicU64::new(0);

/// Where the TSC frequency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrequencySource {
    /// CPUID leaf 0x15.
    CpuidCrystal,
    /// CPUID leaf 0x16.
    CpuidBase,
    /// Hypervisor CPUID leaf 0x4000_0010.
    Hypervisor,
    /// kvmclock's scale factors.
    KvmClock,
    /// Measured against the PIT.
    Pit,
    /// Measured against the CMOS RTC's periodic flag (no PIT).
    Rtc,
    /// Nothing worked; 1 GHz assumed.
    Assumed,
}

impl fmt::Display for FrequencySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrequencySource::CpuidCrystal => "CPUID 0x15",
            FrequencySource::CpuidBase => "CPUID 0x16",
            FrequencySource::Hypervisor => "hypervisor CPUID 0x40000010",
            FrequencySource::KvmClock => "kvmclock",
            FrequencySource::Pit => "PIT calibration",
            FrequencySource::Rtc => "the RTC's periodic flag (no PIT)",
            FrequencySource::Assumed => "a guess",
        })
    }
}

/// Records the TSC read by the entry assembly at the first instruction.
pub(crate) fn set_entry_tsc(tsc: u64) {
    ENTRY_TSC.store(tsc, Ordering::Relaxed);
}

/// The TSC frequency in Hz (0 before the time sources are set up).
pub fn tsc_frequency_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since the kernel's first instruction: the monotonic clock (0 before the time sources are set up).
pub fn now_ns() -> u64 {
    tsc_to_ns(rdtsc())
}

/// Converts a TSC value to nanoseconds since the first instruction.
pub(crate) fn tsc_to_ns(tsc: u64) -> u64 {
    let cycles = tsc.wrapping_sub(ENTRY_TSC.load(Ordering::Relaxed));
    ((cycles as u128 * NS_PER_CYCLE.load(Ordering::Relaxed) as u128) >> 32) as u64
}

/// How user space may compute the monotonic clock itself (the vDSO's parameters): `ns = ((tsc - tsc_at_zero)
/// * ns_per_cycle) >> 32`, exactly as [`now_ns`]. `ns_per_cycle` is 0 before the time sources are set up.
#[derive(Debug, Clone, Copy)]
pub struct ClockParams {
    /// The TSC value at monotonic time 0 (the first instruction).
    pub tsc_at_zero: u64,
    /// Nanoseconds per cycle, 32.32 fixed point.
    pub ns_per_cycle: u64,
}

/// The monotonic clock's parameters.
pub fn clock_params() -> ClockParams {
    ClockParams {
        tsc_at_zero: ENTRY_TSC.load(Ordering::Relaxed),
        ns_per_cycle: NS_PER_CYCLE.load(Ordering::Relaxed),
    }
}

/// Converts nanoseconds since the first instruction to a TSC value.
pub(super) fn ns_to_tsc(ns: u64) -> u64 {
    // The inverse of `tsc_to_ns` rounded up, so that `now_ns()` has reached `ns` once the TSC reaches the result
    // (a deadline timer armed for it never fires early and re-arms for the same instant).
    let per_cycle = NS_PER_CYCLE.load(Ordering::Relaxed).max(1) as u128;
    let cycles = ((ns as u128) << 32).div_ceil(per_cycle);
    ENTRY_TSC.load(Ordering::Relaxed).wrapping_add(cycles as u64)
}

/// Finds the TSC frequency, logs where it came from and what finding it cost, and returns the wall-clock time
/// kvmclock gave along the way (nanoseconds since the epoch), if it was the source.
pub(super) fn init() -> Option<u64> {
    let start = rdtsc();
    let mut wall = None;
    let (hz, source) = from_cpuid()
        .or_else(|| {
            let k = kvmclock::read()?;
            wall = Some(k.wall_ns);
            Some((k.tsc_hz, FrequencySource::KvmClock))
        })
        .unwrap_or_else(measure_with_pit);
    TSC_HZ.store(hz, Ordering::Relaxed);
    let per_cycle = (1_000_000_000u128 << 32) / hz.max(1) as u128;
    NS_PER_CYCLE.store(u64::try_from(per_cycle).unwrap_or(u64::MAX), Ordering::Relaxed);
    let cost_us = (rdtsc() - start) as u128 * 1_000_000 / hz as u128;
    log::info!(
        "time: TSC {}.{:03} MHz from {source} ({cost_us} us)",
        hz / 1_000_000,
        hz / 1_000 % 1_000
    );
    wall
}

fn from_cpuid() -> Option<(u64, FrequencySource)> {
    let max = cpuid(0, 0).eax;
    if max >= 0x15 {
        let l = cpuid(0x15, 0);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return Some((
                l.ecx as u64 * l.ebx as u64 / l.eax as u64,
                FrequencySource::CpuidCrystal,
            ));
        }
    }
    if max >= 0x16 {
        let mhz = cpuid(0x16, 0).eax & 0xFFFF;
        if mhz != 0 {
            return Some((mhz as u64 * 1_000_000, FrequencySource::CpuidBase));
        }
    }
    let hypervisor = cpuid(1, 0).ecx & (1 << 31) != 0;
    if hypervisor && cpuid(0x4000_0000, 0).eax >= 0x4000_0010 {
        let khz = cpuid(0x4000_0010, 0).eax;
        if khz != 0 {
            return Some((khz as u64 * 1_000, FrequencySource::Hypervisor));
        }
    }
    None
}

/// How long a reference (PIT, RTC) may keep the boot waiting for its next edge, in TSC cycles: 50 ms at
/// 1 GHz. A present PIT moves within a microsecond and its 1 ms window ends well inside it (a missing one is
/// seen at once); the RTC's flag rises every 977 us, later only when its VMM is starved.
const GIVE_UP_CYCLES: u64 = 50_000_000;

/// Measures the TSC against 1 ms of the PIT; when the APIC timer will run in one-shot mode, measures it in the
/// same window, so it costs nothing more. Without a PIT, against the RTC; without either, 1 GHz is assumed.
fn measure_with_pit() -> (u64, FrequencySource) {
    const TICKS: u16 = (pit::PIT_HZ / 1000) as u16; // 1 ms: ±1 tick is ±0.08%
    let apic = lapic::get();
    let apic_count: &dyn Fn() -> u32 = if apic.has_tsc_deadline() {
        &|| 0
    } else {
        &apic.free_run()
    };
    let measured = pit::tsc_cycles_over(TICKS, GIVE_UP_CYCLES, apic_count);
    apic.stop_timer();
    match measured {
        Some((cycles, apic_ticks)) if cycles > 0 => {
            if apic_ticks > 0 {
                super::timer::set_apic_hz(apic_ticks as u64 * pit::PIT_HZ / TICKS as u64);
            }
            (cycles * pit::PIT_HZ / TICKS as u64, FrequencySource::Pit)
        }
        _ => match rtc::tsc_hz(GIVE_UP_CYCLES) {
            Some(hz) => (hz, FrequencySource::Rtc),
            None => {
                log::warn!("time: no TSC frequency source, no PIT and no RTC; assuming 1 GHz");
                (1_000_000_000, FrequencySource::Assumed)
            }
        },
    }
}
