//! Inter-processor interrupts and the application processors' own local APIC setup.

use super::{APIC_ENABLE, Access, IA32_APIC_BASE, LVT_ERROR, LVT_LINT0, LVT_LINT1, LVT_TIMER, LocalApic, MASKED, SVR};
use super::{TPR, X2APIC_ENABLE};
use crate::arch::regs::{rdmsr, wrmsr};
use crate::irq::{ERROR_VECTOR, SPURIOUS_VECTOR, TIMER_VECTOR};

/// Interrupt command register, high half (xAPIC: the destination in bits 24..32).
const ICR_HIGH: u32 = 0x310;
/// The x2APIC's 64-bit interrupt command register.
const X2APIC_ICR: u32 = 0x830;
/// ICR delivery mode INIT, level assert.
const DELIVERY_INIT: u32 = 0b101 << 8 | 1 << 14;
/// ICR delivery mode start-up, level assert.
const DELIVERY_STARTUP: u32 = 0b110 << 8 | 1 << 14;
/// ICR delivery status (xAPIC): set while the previous IPI is being sent.
const SEND_PENDING: u32 = 1 << 12;

impl LocalApic {
    /// Enables this CPU's local APIC the way the boot CPU's is set up (same mode, spurious vector, every
    /// local interrupt masked). For an application processor, before it takes any interrupt.
    pub(crate) fn init_this_cpu(&self) {
        let extd = match self.access {
            Access::X2Apic => X2APIC_ENABLE,
            Access::XApic(_) => 0,
        };
        // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU; EN (and EXTD in the mode the boot CPU chose, which
        // the CPUs of one machine share) only changes how this CPU's APIC is reached, the base is kept.
        unsafe { wrmsr(IA32_APIC_BASE, rdmsr(IA32_APIC_BASE) | APIC_ENABLE | extd) };
        self.write(TPR, 0);
        self.write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
        self.write(LVT_TIMER, MASKED | TIMER_VECTOR as u32);
        self.write(LVT_LINT0, MASKED);
        self.write(LVT_LINT1, MASKED);
        self.write(LVT_ERROR, ERROR_VECTOR as u32);
        self.take_error();
    }

    /// Whether the APIC runs in x2APIC mode (32-bit APIC IDs; xAPIC reaches IDs up to 254).
    pub(crate) fn is_x2apic(&self) -> bool {
        matches!(self.access, Access::X2Apic)
    }

    /// Sends INIT to the CPU with APIC ID `apic_id`: it resets and waits for a start-up IPI.
    pub(crate) fn send_init(&self, apic_id: u32) {
        self.send(apic_id, DELIVERY_INIT);
    }

    /// Sends a start-up IPI: the CPU with APIC ID `apic_id` starts in real mode at `page << 12`.
    pub(crate) fn send_startup(&self, apic_id: u32, page: u8) {
        self.send(apic_id, DELIVERY_STARTUP | page as u32);
    }

    /// Sends interrupt `vector` (fixed delivery) to the CPU with APIC ID `apic_id`.
    pub(crate) fn send_fixed(&self, apic_id: u32, vector: u8) {
        self.send(apic_id, vector as u32);
    }

    /// Writes the interrupt command register: `low` (delivery mode, vector) to `apic_id`. Returns once the
    /// APIC has taken the command (bounded: a stuck xAPIC is not waited for forever).
    fn send(&self, apic_id: u32, low: u32) {
        match self.access {
            // SAFETY: x2APIC mode is on; the ICR only sends an interrupt.
            Access::X2Apic => unsafe { wrmsr(X2APIC_ICR, (apic_id as u64) << 32 | low as u64) },
            Access::XApic(_) => {
                self.write(ICR_HIGH, apic_id << 24);
                self.write(super::ICR_LOW, low);
                for _ in 0..100_000 {
                    if self.read(super::ICR_LOW) & SEND_PENDING == 0 {
                        break;
                    }
                    core::hint::spin_loop();
                }
            }
        }
    }
}
