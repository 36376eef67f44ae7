//! The CMOS real-time clock (QEMU with `rtc=on`; Firecracker has none): the wall clock, and a reference for
//! the TSC when there is no PIT (QEMU `microvm,pit=off`).

use crate::arch::port::{inb, outb};
use crate::arch::regs::rdtsc;

const REG_A: u8 = 0x0A;
const REG_B: u8 = 0x0B;
const REG_C: u8 = 0x0C;
/// Register A: periodic rate 6, 32768 Hz >> 5 = 1024 Hz.
const RATE_1024HZ: u8 = 6;
/// Register B: periodic interrupt enable (the flag in register C only rises while it is set).
const PIE: u8 = 1 << 6;
/// Register C: periodic flag (cleared by reading C).
const PF: u8 = 1 << 6;

fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index and data ports; reading a register touches no memory. Bit 7
    // of the index (NMI disable) is left clear.
    unsafe {
        outb(0x70, reg & 0x7F);
        inb(0x71)
    }
}

fn write_cmos(reg: u8, value: u8) {
    // SAFETY: as in `cmos`; the registers written here only set the periodic rate and its interrupt enable
    // (IRQ 8 stays masked at the IOAPIC and the PIC), and are restored by the caller.
    unsafe {
        outb(0x70, reg & 0x7F);
        outb(0x71, value);
    }
}

/// Measures the TSC against 16 periods of the RTC's 1024 Hz periodic flag (15.6 ms); the TSC frequency in Hz,
/// or `None` when there is no RTC or its flag once does not rise within `give_up_cycles` TSC cycles (so the
/// whole measurement stalls the boot for at most 17 times that).
///
/// A VMM may drop a tick (QEMU's timer thread, starved, skips a period rather than fire twice), so each period
/// is counted as the whole number of median periods it lasted.
pub(super) fn tsc_hz(give_up_cycles: u64) -> Option<u64> {
    const PERIODS: usize = 16;
    let (a, b) = (cmos(REG_A), cmos(REG_B));
    if a == 0xFF && b == 0xFF {
        return None;
    }
    write_cmos(REG_A, (a & 0x70) | RATE_1024HZ);
    write_cmos(REG_B, b | PIE);
    cmos(REG_C);
    let edge = |since: u64| {
        while cmos(REG_C) & PF == 0 {
            if rdtsc() - since > give_up_cycles {
                return None;
            }
        }
        Some(rdtsc())
    };
    // Start on an edge, so the measurement holds whole periods.
    let measured = edge(rdtsc()).and_then(|start| {
        let mut periods = [0u64; PERIODS];
        let mut last = start;
        for p in &mut periods {
            let now = edge(last)?;
            *p = now - last;
            last = now;
        }
        let mut sorted = periods;
        sorted.sort_unstable();
        let median = sorted[PERIODS / 2].max(1);
        let counted: u64 = periods.iter().map(|&p| ((p + median / 2) / median).max(1)).sum();
        Some((last - start) * 1024 / counted)
    });
    write_cmos(REG_B, b & !PIE);
    write_cmos(REG_A, a & 0x7F);
    cmos(REG_C);
    measured.filter(|&hz| hz > 0)
}

/// Seconds since the Unix epoch, or `None` when there is no plausible RTC.
pub(super) fn read_unix_seconds() -> Option<u64> {
    let (a, b) = (cmos(0x0A), cmos(0x0B));
    if a == 0xFF && b == 0xFF {
        return None;
    }
    // Wait out an update in progress (at most ~2 ms on real hardware; bounded here).
    for _ in 0..100_000 {
        if cmos(0x0A) & 0x80 == 0 {
            break;
        }
    }
    let bcd = b & 0x04 == 0;
    let conv = |v: u8| if bcd { (v & 0x0F) + (v >> 4) * 10 } else { v };
    let sec = conv(cmos(0x00));
    let min = conv(cmos(0x02));
    let hour_raw = cmos(0x04);
    let pm = b & 0x02 == 0 && hour_raw & 0x80 != 0;
    let mut hour = conv(hour_raw & 0x7F);
    if pm {
        hour = (hour % 12) + 12;
    } else if b & 0x02 == 0 && hour == 12 {
        hour = 0;
    }
    let day = conv(cmos(0x07));
    let month = conv(cmos(0x08));
    let year = 2000 + conv(cmos(0x09)) as u64;
    if sec > 59 || min > 59 || hour > 23 || !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return None;
    }
    let days = super::days_from_civil(year, month as u64, day as u64);
    Some(days * 86_400 + hour as u64 * 3600 + min as u64 * 60 + sec as u64)
}
