//! The local APIC, in x2APIC mode (MSRs) when the CPU offers it, else xAPIC (MMIO).

use super::{ERROR_VECTOR, SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::arch::regs::{cpuid, rdmsr, wrmsr};
use crate::mm::IoMem;
use ember_platform::{Platform, Polarity, Trigger};
use spin::Once;

mod ipi;

const IA32_APIC_BASE: u32 = 0x1B;
const APIC_ENABLE: u64 = 1 << 11;
const X2APIC_ENABLE: u64 = 1 << 10;
const IA32_TSC_DEADLINE: u32 = 0x6E0;

// Register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16).
const ID: u32 = 0x20;
const VERSION: u32 = 0x30;
const TPR: u32 = 0x80;
const EOI: u32 = 0xB0;
/// Interrupt command register (low half; writing it sends).
const ICR_LOW: u32 = 0x300;
/// ICR destination shorthand: this CPU.
const SHORTHAND_SELF: u32 = 1 << 18;
const SVR: u32 = 0xF0;
const ESR: u32 = 0x280;
const LVT_TIMER: u32 = 0x320;
const LVT_LINT0: u32 = 0x350;
const LVT_LINT1: u32 = 0x360;
const LVT_ERROR: u32 = 0x370;
const TIMER_INITIAL: u32 = 0x380;
const TIMER_CURRENT: u32 = 0x390;
const TIMER_DIVIDE: u32 = 0x3E0;

const MASKED: u32 = 1 << 16;
const DELIVERY_NMI: u32 = 0b100 << 8;
const LEVEL: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;
const TIMER_TSC_DEADLINE: u32 = 0b10 << 17;
const DIVIDE_BY_1: u32 = 0b1011;

enum Access {
    X2Apic,
    XApic(IoMem),
}

/// The boot CPU's local APIC.
pub(crate) struct LocalApic {
    access: Access,
    tsc_deadline: bool,
}

static LAPIC: Once<LocalApic> = Once::new();

/// The local APIC (after [`init`]).
pub(crate) fn get() -> &'static LocalApic {
    LAPIC.get().expect("lapic::init ran at boot")
}

impl LocalApic {
    fn read(&self, reg: u32) -> u32 {
        match &self.access {
            // SAFETY: x2APIC mode is on, so the MSR for every architectural register exists.
            Access::X2Apic => unsafe { rdmsr(0x800 + reg / 16) as u32 },
            Access::XApic(m) => m.read32(reg as usize).unwrap_or(0),
        }
    }

    fn write(&self, reg: u32, value: u32) {
        match &self.access {
            // SAFETY: as in `read`; APIC registers control interrupt delivery only, never memory.
            Access::X2Apic => unsafe { wrmsr(0x800 + reg / 16, value as u64) },
            Access::XApic(m) => {
                let _ = m.write32(reg as usize, value);
            }
        }
    }

    /// Sends interrupt `vector` to this CPU (taken when it next enables interrupts).
    pub(crate) fn self_ipi(&self, vector: u8) {
        // ICR: fixed delivery, "self" destination shorthand.
        self.write(ICR_LOW, SHORTHAND_SELF | vector as u32);
    }

    /// Signals the end of the interrupt being handled.
    pub(crate) fn eoi(&self) {
        self.write(EOI, 0);
    }

    /// Reads and clears the error status.
    pub(crate) fn take_error(&self) -> u32 {
        self.write(ESR, 0);
        self.read(ESR)
    }

    /// Whether the timer has TSC-deadline mode.
    pub(crate) fn has_tsc_deadline(&self) -> bool {
        self.tsc_deadline
    }

    /// Arms a one-shot timer interrupt at TSC value `deadline` (TSC-deadline mode).
    pub(crate) fn arm_deadline(&self, deadline: u64) {
        // SAFETY: the CPU has TSC-deadline mode (checked by the caller through `has_tsc_deadline`) and the LVT
        // is in that mode; the MSR only schedules an interrupt.
        unsafe { wrmsr(IA32_TSC_DEADLINE, deadline.max(1)) };
    }

    /// Arms a one-shot timer interrupt after `count` APIC timer ticks (one-shot mode).
    pub(crate) fn arm_count(&self, count: u32) {
        self.write(TIMER_INITIAL, count.max(1));
    }

    /// Sets the timer's mode: TSC-deadline when available, else one-shot with divide-by-1. Unmasked.
    pub(crate) fn start_timer(&self) {
        if self.tsc_deadline {
            self.write(LVT_TIMER, TIMER_TSC_DEADLINE | TIMER_VECTOR as u32);
        } else {
            self.write(TIMER_DIVIDE, DIVIDE_BY_1);
            self.write(LVT_TIMER, TIMER_VECTOR as u32);
        }
    }

    /// Counts down from the maximum with the timer masked; returns the current count, for calibration.
    pub(crate) fn free_run(&self) -> impl Fn() -> u32 + '_ {
        self.write(TIMER_DIVIDE, DIVIDE_BY_1);
        self.write(LVT_TIMER, MASKED | TIMER_VECTOR as u32);
        self.write(TIMER_INITIAL, u32::MAX);
        || self.read(TIMER_CURRENT)
    }

    /// Stops the timer.
    pub(crate) fn stop_timer(&self) {
        self.write(TIMER_INITIAL, 0);
    }

    /// The APIC ID of this CPU.
    pub(crate) fn id(&self) -> u32 {
        match self.access {
            Access::X2Apic => self.read(ID),
            Access::XApic(_) => self.read(ID) >> 24,
        }
    }
}

/// The interrupt address window (MSI and the local APIC's default page): 0xFEE0_0000, 1 MiB.
pub(super) const INTERRUPT_WINDOW: u64 = 0xFEE0_0000;

pub(super) fn init(platform: &Platform) {
    let features = cpuid(1, 0).ecx;
    let x2apic = features & (1 << 21) != 0;
    let tsc_deadline = features & (1 << 24) != 0;
    // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU. Setting EN (and EXTD when x2APIC is offered) only
    // changes how the APIC is reached; the base address is kept.
    let base = unsafe { rdmsr(IA32_APIC_BASE) };
    let access = if x2apic {
        // SAFETY: as above.
        unsafe { wrmsr(IA32_APIC_BASE, base | APIC_ENABLE | X2APIC_ENABLE) };
        Access::X2Apic
    } else {
        // SAFETY: as above.
        unsafe { wrmsr(IA32_APIC_BASE, base | APIC_ENABLE) };
        // Where the APIC really is: the CPU says so. A table that names another address (in RAM, at empty
        // MMIO) is wrong, and following it would panic or leave the timer silent.
        let phys = base & 0x000F_FFFF_FFFF_F000;
        crate::mm::reserve_for_framework(phys, 0x1000, "the local APIC (IA32_APIC_BASE)");
        if platform.local_apic_address != phys {
            log::warn!(
                "lapic: the {} puts the local APIC at {:#x}, the CPU at {phys:#x} (IA32_APIC_BASE); using the CPU's",
                platform.source,
                platform.local_apic_address
            );
        }
        match IoMem::map_reserved(phys, 0x400) {
            Ok(m) => Access::XApic(m),
            Err(e) => {
                log::error!("cannot boot: the local APIC at {phys:#x} cannot be mapped: {e:?}");
                crate::power::power_off(crate::power::ExitStatus::Failure);
            }
        }
    };
    let apic = LAPIC.call_once(|| LocalApic { access, tsc_deadline });
    apic.write(TPR, 0);
    apic.write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
    apic.write(LVT_TIMER, MASKED | TIMER_VECTOR as u32);
    apic.write(LVT_LINT0, MASKED);
    apic.write(LVT_LINT1, MASKED);
    for nmi in platform.nmis() {
        let mut lvt = DELIVERY_NMI;
        if nmi.polarity == Polarity::Low {
            lvt |= ACTIVE_LOW;
        }
        if nmi.trigger == Trigger::Level {
            lvt |= LEVEL;
        }
        apic.write(if nmi.lint == 0 { LVT_LINT0 } else { LVT_LINT1 }, lvt);
    }
    apic.write(LVT_ERROR, ERROR_VECTOR as u32);
    apic.take_error();
    let version = apic.read(VERSION);
    log::info!(
        "lapic: {} id {} version {:#x} max LVT {}; timer {}",
        if x2apic { "x2APIC" } else { "xAPIC" },
        apic.id(),
        version & 0xFF,
        (version >> 16) & 0xFF,
        if tsc_deadline { "TSC-deadline" } else { "one-shot" }
    );
}
