//! The lock-contention report (`/proc/lockstat`, and at power-off under `ember.lockstat`): the frame's
//! per-class counts ([`ember_frame::sync::lockstat`]) as a table, most waited-for first.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use ember_frame::sync::lockstat;

/// The report: a header, then one line per lock class that was taken (`file:line acquired contended
/// wait_us max_wait_us`), sorted by time waited, then by acquisitions.
pub fn report() -> String {
    // One class can have several `Location`s (one per codegen unit that made such a lock): merged by line.
    let mut classes: Vec<lockstat::ClassStat> = Vec::new();
    for c in lockstat::snapshot().filter(|c| c.acquired > 0) {
        let same = |k: &&mut lockstat::ClassStat| k.class.file() == c.class.file() && k.class.line() == c.class.line();
        match classes.iter_mut().find(same) {
            Some(k) => {
                k.acquired += c.acquired;
                k.contended += c.contended;
                k.wait_cycles += c.wait_cycles;
                k.max_wait_cycles = k.max_wait_cycles.max(c.max_wait_cycles);
            }
            None => classes.push(c),
        }
    }
    classes.sort_by_key(|c| core::cmp::Reverse((c.wait_cycles, c.acquired)));
    let mhz = (ember_frame::time::tsc_frequency_hz() / 1_000_000).max(1);
    let mut out = String::new();
    if !lockstat::enabled() {
        out.push_str("# off: boot with ember.lockstat to count\n");
    }
    out.push_str("# class acquired contended wait_us max_wait_us\n");
    for c in &classes {
        let _ = writeln!(
            out,
            "{}:{} {} {} {} {}",
            c.class.file(),
            c.class.line(),
            c.acquired,
            c.contended,
            c.wait_cycles / mhz,
            c.max_wait_cycles / mhz
        );
    }
    if lockstat::overflowed() > 0 {
        let _ = writeln!(
            out,
            "# {} acquisitions of classes beyond the table",
            lockstat::overflowed()
        );
    }
    out
}
