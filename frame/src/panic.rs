//! The panic handler: report, then power off with a failure status.

use crate::power::{ExitStatus, power_off};

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::console::emergency_print(format_args!("ember: PANIC: {info}\n"));
    power_off(ExitStatus::Failure)
}

/// The unwinding personality routine the precompiled `core` and `alloc` reference. With `panic = "abort"`
/// nothing unwinds, so it is never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// Referenced by landing pads in the precompiled `alloc`; with `panic = "abort"` nothing unwinds, so it is
/// never reached. Should it be, the machine stops rather than continue in an unknown state.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    power_off(ExitStatus::Failure)
}
