//! The 16550 UART at I/O port 0x3F8: polled transmit, interrupt-driven receive.

use crate::arch::port::{inb, outb};
use crate::sync::Mutex;
use core::fmt;

const COM1_BASE: u16 = 0x3F8;
const THR: u16 = 0; // transmit holding register
const IER: u16 = 1; // interrupt enable
const FCR: u16 = 2; // FIFO control
const LCR: u16 = 3; // line control
const MCR: u16 = 4; // modem control
const LSR: u16 = 5; // line status
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const IER_RECEIVED_DATA: u8 = 1 << 0;
/// A 16550A's transmit FIFO: after THRE, this many bytes may be written without polling again. Each port
/// access is a VM exit, so this halves the cost of console output.
const FIFO_DEPTH: usize = 16;

/// The console UART, shared by the logger and `print`.
pub(super) static COM1: Mutex<Uart> = Mutex::new(Uart::com1());

/// A 16550 UART.
pub(crate) struct Uart {
    base: u16,
    room: usize,
}

impl Uart {
    /// COM1, assumed initialized (the VMM's UART works without it; [`Uart::init`] sets the format).
    pub(crate) const fn com1() -> Self {
        Self {
            base: COM1_BASE,
            room: 0,
        }
    }

    /// Sets 115200 8N1 with FIFOs, interrupts off.
    pub(crate) fn init(&mut self) {
        let b = self.base;
        // SAFETY: these are the UART's own registers; writing them affects only the UART.
        unsafe {
            outb(b + IER, 0x00);
            outb(b + LCR, 0x80); // DLAB on: divisor follows
            outb(b + THR, 0x01); // divisor 1 = 115200 baud
            outb(b + IER, 0x00);
            outb(b + LCR, 0x03); // 8N1, DLAB off
            outb(b + FCR, 0x07); // FIFOs on and cleared, interrupt at every received byte
            outb(b + MCR, 0x0B); // DTR, RTS, OUT2 (gates the interrupt line on PCs)
        }
    }

    /// Raises IRQ 4 when a byte arrives.
    pub(crate) fn enable_receive_interrupt(&mut self) {
        // SAFETY: the UART's interrupt enable register; it affects only the UART.
        unsafe { outb(self.base + IER, IER_RECEIVED_DATA) };
    }

    /// The next received byte, if one is waiting.
    pub(crate) fn receive(&mut self) -> Option<u8> {
        // SAFETY: reading the UART's status and receive registers only consumes the received byte.
        unsafe { (inb(self.base + LSR) & LSR_DATA_READY != 0).then(|| inb(self.base + THR)) }
    }

    /// Sends `bytes` unchanged.
    pub(super) fn write_raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.put(b);
        }
    }

    fn put(&mut self, byte: u8) {
        if self.room == 0 {
            // SAFETY: reading the UART's line status register has no side effect beyond the UART.
            while unsafe { inb(self.base + LSR) } & LSR_THR_EMPTY == 0 {
                core::hint::spin_loop();
            }
            self.room = FIFO_DEPTH;
        }
        // SAFETY: writing the transmit register only sends the byte.
        unsafe { outb(self.base + THR, byte) };
        self.room -= 1;
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
        Ok(())
    }
}
