//! Powering the VM off, on every VMM ember runs on.
//!
//! 1. i8042 reset (0xFE to port 0x64): Firecracker exits on it (Linux's `reboot=k`). Firecracker handles the
//!    reset on its main thread while the vCPU runs on, and a triple fault that reaches it first makes Firecracker
//!    exit with an error ("Unexpected exit reason on vcpu run: Shutdown"; seen here). So when a controller
//!    answers at port 0x64, ember waits up to about a second for the VMM to stop it.
//! 2. On failure, `isa-debug-exit` (port 0xF4): QEMU exits with status `(1 << 1) | 1 = 3` when the test
//!    harness added the device; without it the write goes nowhere.
//! 3. A triple fault: QEMU with `-no-reboot` exits with status 0; every VMM stops the vCPU.

use crate::arch::port::{inb, outb};
use crate::arch::regs::rdtsc;
use crate::cpu;

/// How the VM ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything went as asked.
    Success,
    /// A panic, a fatal exception, or a failed self-test.
    Failure,
    /// A workload's exit status (init's), passed to QEMU's `isa-debug-exit` when it is not 0 (QEMU then
    /// exits with `2 * N + 1`); other VMMs just stop.
    Code(u8),
}

const I8042_COMMAND: u16 = 0x64;
const I8042_RESET: u8 = 0xFE;
const DEBUG_EXIT_PORT: u16 = 0xF4;
/// How long to wait for the VMM to act on the i8042 reset: about a second on any CPU that runs ember.
const RESET_WAIT_CYCLES: u64 = 3_000_000_000;

/// Powers the VM off. Never returns.
pub fn power_off(status: ExitStatus) -> ! {
    // SAFETY: the i8042 command port and the debug-exit port only act on the VM's power; neither reaches memory.
    // Reading the i8042 status has no side effect; with no controller the bus reads all ones.
    unsafe {
        if inb(I8042_COMMAND) != 0xFF {
            outb(I8042_COMMAND, I8042_RESET);
            let start = rdtsc();
            while rdtsc().wrapping_sub(start) < RESET_WAIT_CYCLES {
                core::hint::spin_loop();
            }
        }
        match status {
            ExitStatus::Failure => outb(DEBUG_EXIT_PORT, 1),
            ExitStatus::Code(n) if n != 0 => outb(DEBUG_EXIT_PORT, n),
            _ => {}
        }
    }
    cpu::triple_fault()
}
