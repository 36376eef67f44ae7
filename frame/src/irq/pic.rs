//! The legacy 8259 PICs: remapped away from the exception vectors and fully masked (ember uses the APICs).

use super::PIC_BASE;
use crate::arch::port::outb;

/// Remaps both PICs to `PIC_BASE..PIC_BASE + 16` and masks every line.
pub(super) fn disable() {
    // SAFETY: ports 0x20/0x21/0xA0/0xA1 belong to the PICs; the ICW sequence only reprograms them.
    unsafe {
        outb(0x20, 0x11); // ICW1: init, ICW4 follows
        outb(0xA0, 0x11);
        outb(0x21, PIC_BASE); // ICW2: vector base
        outb(0xA1, PIC_BASE + 8);
        outb(0x21, 0x04); // ICW3: slave on IRQ2
        outb(0xA1, 0x02);
        outb(0x21, 0x01); // ICW4: 8086 mode
        outb(0xA1, 0x01);
        outb(0x21, 0xFF); // mask everything
        outb(0xA1, 0xFF);
    }
}
