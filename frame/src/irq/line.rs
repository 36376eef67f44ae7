//! [`IrqLine`]: an owned interrupt vector, optionally fed by one GSI, with one handler.
//!
//! Ownership is what keeps lines apart: a vector and a GSI each belong to at most one live `IrqLine`, so no
//! safe code can replace another line's handler or reroute its GSI. Dropping the line masks its GSI and frees
//! both.

use super::{ERROR_VECTOR, KICK_VECTOR, PIC_BASE, SPURIOUS_VECTOR, TIMER_VECTOR, ioapic, lapic};
use crate::cpu::TrapFrame;
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use ember_platform::{Polarity, Trigger};

/// Vectors handed out to lines.
const FIRST_VECTOR: u8 = 0x30;
const LAST_VECTOR: u8 = 0xDF;

type Handler = Box<dyn Fn() + Send + Sync>;

struct Slot {
    handler: Option<Handler>,
    route: Option<Route>,
}

#[derive(Clone, Copy)]
struct Route {
    gsi: u32,
    trigger: Trigger,
    polarity: Polarity,
}

static LINES: Mutex<BTreeMap<u8, Slot>> = Mutex::new(BTreeMap::new());
/// GSIs routed to the timer vector (the PIT fallback); no line may take them. Locked after `LINES`.
static TIMER_GSIS: Mutex<alloc::vec::Vec<u32>> = Mutex::new(alloc::vec::Vec::new());
static TIMER_HANDLER: spin::Once<fn()> = spin::Once::new();

/// Sets the function the local APIC timer interrupt calls (the scheduler's; set once).
pub(crate) fn set_timer_handler(handler: fn()) {
    TIMER_HANDLER.call_once(|| handler);
}

/// Why an interrupt line could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqError {
    /// Every vector is taken.
    NoVector,
    /// Another line already owns this GSI.
    GsiBusy(u32),
    /// No IOAPIC serves this GSI.
    NoSuchGsi(u32),
    /// This line already has a GSI.
    AlreadyRouted,
}

/// An interrupt vector owned by one driver.
#[derive(Debug)]
pub struct IrqLine {
    vector: u8,
}

impl IrqLine {
    /// Takes a free vector.
    pub fn alloc() -> Result<IrqLine, IrqError> {
        let mut lines = LINES.lock();
        let vector = (FIRST_VECTOR..=LAST_VECTOR)
            .find(|v| !lines.contains_key(v))
            .ok_or(IrqError::NoVector)?;
        lines.insert(
            vector,
            Slot {
                handler: None,
                route: None,
            },
        );
        Ok(IrqLine { vector })
    }

    /// The vector number.
    pub fn vector(&self) -> u8 {
        self.vector
    }

    /// Sets the function called (on the trap stack, interrupts off) each time the interrupt arrives. It must be
    /// short (it runs while the kernel idles) and must not use `IrqLine` itself.
    pub fn on_active(&self, handler: impl Fn() + Send + Sync + 'static) {
        if let Some(slot) = LINES.lock().get_mut(&self.vector) {
            slot.handler = Some(Box::new(handler));
        }
    }

    /// Routes `gsi` to this line (masked until [`IrqLine::unmask`]).
    pub fn route_gsi(&self, gsi: u32, trigger: Trigger, polarity: Polarity) -> Result<(), IrqError> {
        let mut lines = LINES.lock();
        if lines.values().any(|s| s.route.is_some_and(|r| r.gsi == gsi)) || TIMER_GSIS.lock().contains(&gsi) {
            return Err(IrqError::GsiBusy(gsi));
        }
        let slot = lines.get_mut(&self.vector).ok_or(IrqError::NoVector)?;
        if slot.route.is_some() {
            return Err(IrqError::AlreadyRouted);
        }
        if !ioapic::route(gsi, self.vector, trigger, polarity, lapic::get().id(), true) {
            return Err(IrqError::NoSuchGsi(gsi));
        }
        slot.route = Some(Route { gsi, trigger, polarity });
        Ok(())
    }

    /// Routes ISA IRQ `irq` (0–15) to this line, with the GSI, trigger and polarity the platform tables give.
    pub fn route_isa(&self, irq: u8) -> Result<(), IrqError> {
        let r = super::platform()
            .isa_route(irq)
            .ok_or(IrqError::NoSuchGsi(irq as u32))?;
        self.route_gsi(r.gsi, r.trigger, r.polarity)
    }

    fn set_masked(&self, masked: bool) {
        let route = LINES.lock().get(&self.vector).and_then(|s| s.route);
        if let Some(r) = route {
            ioapic::route(r.gsi, self.vector, r.trigger, r.polarity, lapic::get().id(), masked);
        }
    }

    /// Raises this line's interrupt on the current CPU (a self-IPI), as if its device had signalled.
    pub fn raise_on_this_cpu(&self) {
        lapic::get().self_ipi(self.vector);
    }

    /// Lets the routed GSI's interrupts through.
    pub fn unmask(&self) {
        self.set_masked(false);
    }

    /// Holds the routed GSI's interrupts back.
    pub fn mask(&self) {
        self.set_masked(true);
    }
}

impl Drop for IrqLine {
    fn drop(&mut self) {
        self.mask();
        LINES.lock().remove(&self.vector);
    }
}

/// Routes the PIT's ISA IRQ 0 to the timer vector, unmasked, and keeps its GSIs from every [`IrqLine`]: the
/// timer fallback when the local APIC timer does not count. The platform tables' GSI, and also GSI 2 when they
/// name no override for IRQ 0 (PCs, QEMU's IOAPIC and KVM's wire the PIT to pin 2 whatever a table without an
/// override implies; Linux's `check_timer` tries both too). The GSIs routed (none when the platform has no
/// route for the IRQ, another line owns the GSI, or no IOAPIC serves it).
pub(crate) fn route_pit_to_timer() -> alloc::vec::Vec<u32> {
    let Some(r) = super::platform().isa_route(0) else {
        return alloc::vec::Vec::new();
    };
    let mut candidates = alloc::vec![(r.gsi, r.trigger, r.polarity)];
    if r.gsi == 0 {
        candidates.push((2, Trigger::Edge, Polarity::High));
    }
    let lines = LINES.lock();
    let mut routed = TIMER_GSIS.lock();
    for (gsi, trigger, polarity) in candidates {
        if lines.values().any(|s| s.route.is_some_and(|x| x.gsi == gsi)) || routed.contains(&gsi) {
            continue;
        }
        if ioapic::route(gsi, TIMER_VECTOR, trigger, polarity, lapic::get().id(), false) {
            routed.push(gsi);
        }
    }
    routed.clone()
}

/// Handles interrupt vectors (32 and up) for the trap dispatcher.
pub(crate) fn dispatch(frame: &TrapFrame) {
    let vector = frame.vector as u8;
    match vector {
        SPURIOUS_VECTOR => {}
        v if (PIC_BASE..PIC_BASE + 16).contains(&v) => {}
        TIMER_VECTOR => {
            crate::time::timer_fired();
            lapic::get().eoi();
            if let Some(handler) = TIMER_HANDLER.get() {
                handler();
            }
        }
        KICK_VECTOR => lapic::get().eoi(),
        ERROR_VECTOR => {
            let esr = lapic::get().take_error();
            log::warn!("lapic: error interrupt, ESR {esr:#x}");
            lapic::get().eoi();
        }
        v => {
            match LINES.lock().get(&v).and_then(|s| s.handler.as_ref()) {
                Some(h) => h(),
                None => log::warn!("unexpected interrupt, vector {v}; ignored"),
            }
            lapic::get().eoi();
        }
    }
}
