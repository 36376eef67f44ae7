//! The lock-contention report (`/proc/lockstat`, and at power-off under `ember.lockstat`): the frame's
//! per-class counts ([`ember_frame::sync::lockstat`]) as a table, most waited-for first.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use ember_frame::sync::lockstat;

/// The report: a header, then one line per lock class that was taken (`file:line acquired contended
/// wait_us`), sorted by time waited, then by acquisitions.
pub fn report() -> String {
    let mut classes: Vec<lockstat::ClassStat> = lockstat::snapshot().filter(|c| c.acquired > 0).collect();
    classes.sort_by(|a, b| (b.wait_cycles, b.acquired).cmp(&(a.wait_cycles, a.acquired)));
    let mhz = (ember_frame::time::tsc_frequency_hz() / 1_000_000).max(1);
    let mut out = String::new();
    if !lockstat::enabled() {
        out.push_str("# off: boot with ember.lockstat to count\n");
    }
    out.push_str("# class acquired contended wait_us\n");
    for c in &classes {
        let _ = writeln!(
            out,
            "{}:{} {} {} {}",
            c.class.file(),
            c.class.line(),
            c.acquired,
            c.contended,
            c.wait_cycles / mhz
        );
    }
    if lockstat::overflowed() > 0 {
        let _ = writeln!(out, "# {} acquisitions of classes beyond the table", lockstat::overflowed());
    }
    out
}
