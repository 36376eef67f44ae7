//! The `log` facade's backend: one line per record on the console, filtered by the command line's level.

use super::serial::COM1;
use core::fmt::Write;
use ember_cmdline::Cmdline;
use log::{Level, LevelFilter, Log, Metadata, Record};

struct Console;

static LOGGER: Console = Console;

impl Log for Console {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let tag = match record.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            Level::Info => "",
            Level::Debug => "debug: ",
            Level::Trace => "trace: ",
        };
        let mut port = COM1.lock();
        let _ = writeln!(port, "ember: {tag}{}", record.args());
    }

    fn flush(&self) {}
}

/// Initializes the UART and installs the logger at level `info`.
pub(crate) fn init() {
    COM1.lock().init();
    // Only fails when a logger is already set, which would be this same one.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Applies the command line's `loglevel=`, `quiet` or `debug` with Linux's meaning: a message shows when its
/// priority (error 3, warning 4, info 6, debug 7) is below the level. So `quiet` (4) shows errors only, 7 (the
/// default here) adds information, `debug` shows everything, and 0 shows nothing but the `ready` line.
pub fn set_level_from_cmdline(cmdline: &Cmdline<'_>) {
    if let Some(level) = cmdline.loglevel() {
        log::set_max_level(match level {
            0 => LevelFilter::Off,
            1..=4 => LevelFilter::Error,
            5..=6 => LevelFilter::Warn,
            7 => LevelFilter::Info,
            _ => LevelFilter::Debug,
        });
    }
}
