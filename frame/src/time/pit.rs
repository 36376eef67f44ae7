//! The 8254 PIT: used to measure the TSC when nothing tells its frequency, and as the one-shot timer when the
//! local APIC timer does not count. For the measurement, channel 0 is programmed for a one-shot count and its
//! counter is read back with latch commands, so no interrupt is needed (the seed report's lesson: Firecracker
//! routes the PIT's interrupt elsewhere than QEMU does) and neither is the speaker gate at port 0x61, which
//! QEMU microvm does not have. As a timer, its IRQ 0 goes through the IOAPIC as the platform tables say.

use crate::arch::port::{inb, outb};
use crate::arch::regs::rdtsc;

/// The PIT's input clock.
pub(super) const PIT_HZ: u64 = 1_193_182;
const CHANNEL0: u16 = 0x40;
const COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 0 (interrupt on terminal count: fires once, then stays quiet), binary.
const ONE_SHOT: u8 = 0b0011_0000;
/// Channel 0, latch the count.
const LATCH: u8 = 0b0000_0000;

fn read_count() -> u16 {
    // SAFETY: ports 0x40 and 0x43 belong to the PIT; latching and reading the count reaches no memory.
    unsafe {
        outb(COMMAND, LATCH);
        let low = inb(CHANNEL0);
        let high = inb(CHANNEL0);
        u16::from_le_bytes([low, high])
    }
}

/// Whether a PIT answers: a count it was given reads back as something other than all ones.
pub(super) fn present() -> bool {
    arm(0xFFFE);
    !(read_count() == 0xFFFF && read_count() == 0xFFFF)
}

/// Starts a one-shot count of `ticks` PIT cycles on channel 0: IRQ 0 rises once when it runs out.
pub(super) fn arm(ticks: u16) {
    // SAFETY: ports 0x40 and 0x43 belong to the PIT; programming channel 0 reaches no memory.
    unsafe {
        outb(COMMAND, ONE_SHOT);
        outb(CHANNEL0, ticks as u8);
        outb(CHANNEL0, (ticks >> 8) as u8);
    }
}

/// Lets `ticks` PIT cycles (fewer than 65534) pass and returns how many TSC cycles that took and how far
/// `counter` (a down-counter such as the APIC timer's, sampled at both ends) moved, or `None` when there is no
/// PIT (its ports read all ones, a count it was never given) or it did not move within `give_up_cycles` TSC
/// cycles.
pub(super) fn tsc_cycles_over(ticks: u16, give_up_cycles: u64, counter: &dyn Fn() -> u32) -> Option<(u64, u32)> {
    /// Below 0xFFFF, so that an absent PIT, whose ports read 0xFF, shows at the first read.
    const START: u16 = 0xFFFE;
    // The one-shot mode raises IRQ 0 once at terminal count, which stays masked unless the PIT is the timer.
    arm(START);
    // Start on a counter edge, so the measurement does not include a partial tick.
    let first = read_count();
    if first == 0xFFFF && read_count() == 0xFFFF {
        return None;
    }
    let begin = rdtsc();
    let start = loop {
        let c = read_count();
        if c != first {
            break (c, rdtsc(), counter());
        }
        if rdtsc() - begin > give_up_cycles {
            return None;
        }
    };
    loop {
        let count = read_count();
        let now = rdtsc();
        let counted = start.2.wrapping_sub(counter());
        let elapsed = start.0.wrapping_sub(count);
        if elapsed >= ticks {
            // Scale to exactly `ticks` so the caller's arithmetic stays simple.
            let scale = |n: u64| n * ticks as u64 / elapsed as u64;
            return Some((scale(now - start.1), scale(counted as u64) as u32));
        }
        if now - start.1 > give_up_cycles {
            return None;
        }
    }
}
