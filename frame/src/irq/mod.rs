//! Interrupts: the platform description, the local APIC, the IOAPICs, the legacy PIC, and [`IrqLine`], the safe
//! way for drivers to receive an interrupt.
//!
//! Interrupts are enabled only while the CPU idles (`sti; hlt; cli`), so a handler never runs on top of Rust
//! code that may be using the red zone; handlers run on the trap IST stack and must be short.

mod ioapic;
pub(crate) mod lapic;
mod line;
mod pic;
mod platform;

pub use ember_platform::{MmioDevice, Polarity, Trigger};
pub use line::{IrqError, IrqLine};
pub(crate) use line::{dispatch, route_pit_to_timer, set_timer_handler};
pub use platform::{acpi_virtio_mmio_devices, platform, vm_generation_id};

/// Vector of the local APIC timer.
pub(crate) const TIMER_VECTOR: u8 = 0xEC;
/// Vector of the kick another CPU sends: a reschedule (a task became ready while this CPU idles) or a TLB
/// shootdown (its user translations are stale). The handler only acknowledges it: leaving `hlt` or user mode
/// is the point, and the scheduler and the return to user mode do the rest.
pub(crate) const KICK_VECTOR: u8 = 0xED;
/// Vector of the local APIC error interrupt.
pub(crate) const ERROR_VECTOR: u8 = 0xFE;
/// Vector the local APIC uses for spurious interrupts.
pub(crate) const SPURIOUS_VECTOR: u8 = 0xFF;
/// The legacy PICs are remapped here (and masked), so their spurious interrupts cannot look like exceptions.
pub(crate) const PIC_BASE: u8 = 0x20;

/// Finds the interrupt hardware and sets it up: PIC masked, local APIC enabled, every IOAPIC pin masked.
pub(crate) fn init(boot: &ember_boot::BootInfo) {
    let platform = platform::init(boot);
    pic::disable();
    // The interrupt controllers and the interrupt address window are the framework's: no `IoMem` reaches them
    // (`lapic::init` reserves the local APIC where the CPU has it, whatever the tables say).
    crate::mm::reserve_for_framework(lapic::INTERRUPT_WINDOW, 0x10_0000, "the interrupt address window");
    for a in platform.ioapics() {
        crate::mm::reserve_for_framework(a.address, 0x20, "an IOAPIC");
    }
    lapic::init(platform);
    ioapic::init(platform);
}
