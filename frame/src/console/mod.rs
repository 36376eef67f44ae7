//! The console: the 16550 UART at COM1, the `log` facade on top of it, and interrupt-driven input.

mod input;
mod logger;
mod serial;

pub(crate) use input::enable as enable_input;
pub use input::{read_byte, set_input_waker, try_read_byte};
pub(crate) use logger::init;
pub use logger::set_level_from_cmdline;

use core::fmt::{self, Write};

/// Writes formatted text to the console, whatever the log level (used for lines tools read, like `ready`).
pub fn print(args: fmt::Arguments<'_>) {
    let mut port = serial::COM1.lock();
    let _ = port.write_fmt(args);
}

/// Writes bytes to the console as they are, without turning `\n` into `\r\n` (a terminal's output
/// processing is the kernel's).
pub fn write_bytes(bytes: &[u8]) {
    serial::COM1.lock().write_raw(bytes);
}

/// Writes to the console without taking its lock: for fatal paths, where the lock may be held by the code that
/// just faulted. Output may interleave with that code's, which is better than none.
pub(crate) fn emergency_print(args: fmt::Arguments<'_>) {
    let _ = serial::Uart::com1().write_fmt(args);
}

/// Prints a line to the console, whatever the log level.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
