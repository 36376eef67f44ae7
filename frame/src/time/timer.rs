//! Timer interrupts and waiting: the local APIC timer in TSC-deadline mode when the CPU has it, else in
//! one-shot mode calibrated against the TSC; when that timer does not count, the PIT's one-shot mode on the
//! IOAPIC. There is no periodic tick: the timer is armed only for the deadline someone is waiting for, and
//! the CPU halts in between.

use super::pit::{self, PIT_HZ};
use super::tsc::{now_ns, ns_to_tsc};
use crate::arch::regs::rdtsc;
use crate::cpu::current_index;
use crate::cpu::local::MAX_CPUS;
use crate::cpu::times::idle;
use crate::irq::lapic;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// APIC timer ticks per second (one-shot mode only; 0 in TSC-deadline mode).
static APIC_HZ: AtomicU64 = AtomicU64::new(0);

/// The APIC timer frequency in Hz (0 when the timer runs in TSC-deadline mode and needs none).
pub fn apic_timer_hz() -> u64 {
    APIC_HZ.load(Ordering::Relaxed)
}

/// Records the APIC timer frequency measured alongside the TSC against the PIT.
pub(super) fn set_apic_hz(hz: u64) {
    APIC_HZ.store(hz, Ordering::Relaxed);
}

/// Whether the PIT is the timer (the local APIC timer does not count).
static PIT_TIMER: AtomicBool = AtomicBool::new(false);

/// Whether the PIT stands in for the local APIC timer (whose calibration found it not counting).
pub fn pit_is_timer() -> bool {
    PIT_TIMER.load(Ordering::Relaxed)
}

/// Picks the timer mode. One-shot mode needs the APIC timer's frequency: measured with the TSC against the PIT
/// when that ran, else against the (known) TSC for 1 ms. `apic_timer_dead` (the test hook
/// `ember.lapic_timer=dead`) takes that measurement as 0, as on a platform whose APIC timer does not count.
pub(super) fn init(apic_timer_dead: bool) {
    let apic = lapic::get();
    if apic.has_tsc_deadline() && !apic_timer_dead {
        apic.start_timer();
        log::info!("timer: TSC-deadline mode (no calibration)");
        return;
    }
    if apic_timer_dead {
        APIC_HZ.store(0, Ordering::Relaxed);
        log::info!("timer: ember.lapic_timer=dead: the local APIC timer's calibration is taken as 0");
    }
    if let hz @ 1.. = apic_timer_hz() {
        apic.start_timer();
        log::info!(
            "timer: APIC one-shot mode at {}.{:03} MHz (measured against the PIT with the TSC)",
            hz / 1_000_000,
            hz / 1_000 % 1_000
        );
        return;
    }
    let tsc_hz = super::tsc_frequency_hz();
    let start_tsc = rdtsc();
    let current = apic.free_run();
    let start = current();
    let window = tsc_hz / 1000;
    while rdtsc() - start_tsc < window {
        core::hint::spin_loop();
    }
    let ticks = if apic_timer_dead { 0 } else { start - current() };
    let elapsed = rdtsc() - start_tsc;
    apic.stop_timer();
    let hz = ticks as u128 * tsc_hz as u128 / elapsed.max(1) as u128;
    if hz == 0 {
        return pit_fallback();
    }
    APIC_HZ.store(hz as u64, Ordering::Relaxed);
    apic.start_timer();
    log::info!(
        "timer: APIC one-shot mode at {}.{:03} MHz (calibrated against the TSC in {} us)",
        hz / 1_000_000,
        hz / 1_000 % 1_000,
        elapsed as u128 * 1_000_000 / tsc_hz as u128
    );
}

/// The local APIC timer does not count: the PIT's channel 0 in one-shot mode, its IRQ 0 routed through the
/// IOAPIC to the timer vector, takes its place. Without a PIT (or a route for its IRQ) every wait would sleep
/// for ever, so the boot is refused.
fn pit_fallback() {
    if !pit::present() {
        log::error!("cannot boot: the local APIC timer does not count and there is no PIT to take its place");
        crate::power::power_off(crate::power::ExitStatus::Failure);
    }
    let gsis = crate::irq::route_pit_to_timer();
    if gsis.is_empty() {
        log::error!("cannot boot: the local APIC timer does not count and the PIT's IRQ 0 has no IOAPIC route");
        crate::power::power_off(crate::power::ExitStatus::Failure);
    }
    PIT_TIMER.store(true, Ordering::Relaxed);
    log::warn!("timer: the local APIC timer does not count; using the PIT one-shot on GSI {gsis:?} instead");
}

/// Per CPU (each has its own local APIC timer): the deadline the timer is armed for and has not fired yet,
/// `u64::MAX` for none. Re-arming on every return to user mode for an unchanged deadline cost three 128-bit
/// divisions and an APIC write (a VM exit under KVM) per system call.
static ARMED_FOR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

/// The timer interrupt came: this CPU's timer is no longer armed (one-shot and TSC-deadline alike).
pub(crate) fn fired() {
    ARMED_FOR[current_index()].store(u64::MAX, Ordering::Relaxed);
}

/// Per CPU: the scheduler's next deadline (earliest sleeper or end of time slice), `u64::MAX` for none.
static TASK_DEADLINE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

/// Sets the scheduler's next deadline and arms the timer for it (the timer also serves [`wait_until`], which
/// arms for the earlier of the two).
pub(crate) fn set_task_deadline(deadline_ns: u64) {
    TASK_DEADLINE[current_index()].store(deadline_ns, Ordering::Relaxed);
    if deadline_ns != u64::MAX {
        arm(deadline_ns);
    }
}

/// Arms the timer to interrupt at `deadline_ns`, or at the scheduler's deadline when that is earlier (or
/// earlier still: callers re-check the time and re-arm).
fn arm(deadline_ns: u64) {
    let cpu = current_index();
    let deadline_ns = deadline_ns.min(TASK_DEADLINE[cpu].load(Ordering::Relaxed));
    // The kernel runs with interrupts off, so the timer cannot fire between this check and the return to user
    // mode or the halt: when it is armed for this deadline and has not fired, it still will.
    if ARMED_FOR[cpu].swap(deadline_ns, Ordering::Relaxed) == deadline_ns {
        return;
    }
    if PIT_TIMER.load(Ordering::Relaxed) {
        // At most 65535 ticks (55 ms): a later deadline gets an early interrupt, and the waiter re-arms.
        let left = deadline_ns.saturating_sub(now_ns()) as u128;
        let ticks = (left * PIT_HZ as u128 / 1_000_000_000).clamp(1, u16::MAX as u128);
        pit::arm(ticks as u16);
        return;
    }
    let apic = lapic::get();
    if apic.has_tsc_deadline() {
        apic.arm_deadline(ns_to_tsc(deadline_ns));
    } else {
        let left = deadline_ns.saturating_sub(now_ns()) as u128;
        let count = (left * apic_timer_hz() as u128 / 1_000_000_000).min(u32::MAX as u128);
        apic.arm_count(count as u32);
    }
}

/// Idles until `done()` holds or the monotonic clock passes `deadline_ns`; returns whether `done()` held.
/// Interrupts (device or timer) are taken only while idle, so `done()` sees the effects of their handlers.
pub fn wait_until(deadline_ns: Option<u64>, mut done: impl FnMut() -> bool) -> bool {
    crate::cpu::assert_may_sleep("time::wait_until");
    loop {
        if done() {
            return true;
        }
        if let Some(deadline) = deadline_ns {
            if now_ns() >= deadline {
                return false;
            }
            arm(deadline);
        } else if TASK_DEADLINE[current_index()].load(Ordering::Relaxed) != u64::MAX {
            arm(u64::MAX);
        }
        idle();
    }
}

/// Sleeps for `ns` nanoseconds, halted.
pub fn sleep_ns(ns: u64) {
    let deadline = now_ns().saturating_add(ns);
    wait_until(Some(deadline), || false);
}
