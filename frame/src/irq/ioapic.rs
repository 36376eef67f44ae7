//! IOAPICs: redirection of GSIs to vectors.

use crate::mm::IoMem;
use crate::sync::Mutex;
use alloc::vec::Vec;
use ember_platform::{Platform, Polarity, Trigger};

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_ID: u32 = 0x00;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const ACTIVE_LOW: u64 = 1 << 13;

struct IoApic {
    regs: IoMem,
    gsi_base: u32,
    pins: u32,
}

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        let _ = self.regs.write32(IOREGSEL, reg);
        self.regs.read32(IOWIN).unwrap_or(0)
    }

    fn write(&self, reg: u32, value: u32) {
        let _ = self.regs.write32(IOREGSEL, reg);
        let _ = self.regs.write32(IOWIN, value);
    }

    fn write_redirection(&self, pin: u32, entry: u64) {
        // Mask first, then the high half (destination), then the low half (which may unmask).
        self.write(REG_REDIRECTION + 2 * pin, MASKED as u32);
        self.write(REG_REDIRECTION + 2 * pin + 1, (entry >> 32) as u32);
        self.write(REG_REDIRECTION + 2 * pin, entry as u32);
    }
}

static IOAPICS: Mutex<Vec<IoApic>> = Mutex::new(Vec::new());

pub(super) fn init(platform: &Platform) {
    let mut all = IOAPICS.lock();
    for a in platform.ioapics() {
        let regs = match IoMem::map_reserved(a.address, 0x20) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("ioapic: cannot map IOAPIC {} at {:#x}: {e:?}; skipped", a.id, a.address);
                continue;
            }
        };
        let mut apic = IoApic {
            regs,
            gsi_base: a.gsi_base,
            pins: 0,
        };
        let version = apic.read(REG_VERSION);
        if version == u32::MAX {
            log::warn!("ioapic: nothing answers at {:#x}; skipped", a.address);
            continue;
        }
        apic.pins = ((version >> 16) & 0xFF) + 1;
        let Some(last_gsi) = apic.gsi_base.checked_add(apic.pins - 1) else {
            log::warn!(
                "ioapic: GSI base {:#x} of the IOAPIC at {:#x} leaves no room for its {} pins; skipped",
                apic.gsi_base,
                a.address,
                apic.pins
            );
            continue;
        };
        for pin in 0..apic.pins {
            apic.write_redirection(pin, MASKED);
        }
        log::info!(
            "ioapic: id {} at {:#x} version {:#x}, {} pins, GSI {}-{}",
            apic.read(REG_ID) >> 24,
            a.address,
            version & 0xFF,
            apic.pins,
            apic.gsi_base,
            last_gsi
        );
        all.push(apic);
    }
}

/// Points `gsi` at `vector` on CPU `apic_id` with the given trigger and polarity, masked or not.
/// Returns `false` when no IOAPIC serves that GSI.
pub(super) fn route(gsi: u32, vector: u8, trigger: Trigger, polarity: Polarity, apic_id: u32, masked: bool) -> bool {
    let all = IOAPICS.lock();
    let Some(a) = all.iter().find(|a| a.gsi_base <= gsi && gsi - a.gsi_base < a.pins) else {
        return false;
    };
    let mut entry = vector as u64 | (apic_id as u64 & 0xFF) << 56;
    if trigger == Trigger::Level {
        entry |= LEVEL;
    }
    if polarity == Polarity::Low {
        entry |= ACTIVE_LOW;
    }
    if masked {
        entry |= MASKED;
    }
    a.write_redirection(gsi - a.gsi_base, entry);
    true
}
