//! Port I/O. Crate-private: some ports (DMA controllers, PCI configuration) can write to memory, so raw port
//! access is never exported to safe code.

use core::arch::asm;

/// Writes a byte to an I/O port.
///
/// # Safety
/// The caller must know that writing `value` to `port` cannot corrupt memory (e.g. it is a UART or PIT port).
pub(crate) unsafe fn outb(port: u16, value: u8) {
    // SAFETY: the caller vouches for the port; `out` touches no memory and no stack.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) }
}

/// Reads a byte from an I/O port.
///
/// # Safety
/// The caller must know that reading `port` has no effect that could corrupt memory.
pub(crate) unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: the caller vouches for the port; `in` touches no memory and no stack.
    unsafe { asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags)) }
    value
}
