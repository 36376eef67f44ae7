//! The CMOS real-time clock (QEMU with `rtc=on`; Firecracker has none).

use crate::arch::port::{inb, outb};

fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index and data ports; reading a register touches no memory. Bit 7
    // of the index (NMI disable) is left clear.
    unsafe {
        outb(0x70, reg & 0x7F);
        inb(0x71)
    }
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
