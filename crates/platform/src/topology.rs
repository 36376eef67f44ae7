//! The result: a small, fixed-capacity description of the interrupt hardware.

use core::fmt;

/// Most local APICs kept.
pub const MAX_CPUS: usize = 64;
/// Most IOAPICs kept.
pub const MAX_IOAPICS: usize = 8;
/// Most NMI wirings kept.
pub const MAX_NMIS: usize = 8;

/// Where the description came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The ACPI MADT.
    Acpi,
    /// The MultiProcessor table.
    MpTable,
    /// Nothing found: one IOAPIC at 0xFEC0_0000, identity ISA routing.
    Defaults,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Acpi => "ACPI MADT",
            Source::MpTable => "MP table",
            Source::Defaults => "defaults",
        })
    }
}

/// Interrupt signal polarity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// Active high (ISA's default).
    High,
    /// Active low.
    Low,
}

/// Interrupt trigger mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Edge-triggered (ISA's default).
    Edge,
    /// Level-triggered.
    Level,
}

/// One CPU's local APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApic {
    /// APIC ID (x2APIC IDs are 32-bit).
    pub apic_id: u32,
    /// Usable now.
    pub enabled: bool,
}

/// One IOAPIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// IOAPIC ID.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u64,
    /// First GSI it serves.
    pub gsi_base: u32,
}

/// How an ISA IRQ reaches a GSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    /// The GSI.
    pub gsi: u32,
    /// Its polarity.
    pub polarity: Polarity,
    /// Its trigger mode.
    pub trigger: Trigger,
}

/// An NMI wired to a local APIC's LINT pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nmi {
    /// ACPI processor UID it applies to (0xFF: all).
    pub processor: u32,
    /// LINT0 or LINT1.
    pub lint: u8,
    /// Its polarity.
    pub polarity: Polarity,
    /// Its trigger mode.
    pub trigger: Trigger,
}

/// The interrupt topology.
#[derive(Clone, Debug)]
pub struct Platform {
    /// Where it came from.
    pub source: Source,
    /// Physical address of the local APIC (xAPIC mode).
    pub local_apic_address: u64,
    /// Whether legacy 8259 PICs are present (and should be masked).
    pub has_8259: bool,
    cpus: [LocalApic; MAX_CPUS],
    cpu_count: usize,
    ioapics: [IoApic; MAX_IOAPICS],
    ioapic_count: usize,
    isa: [IsaRoute; 16],
    nmis: [Nmi; MAX_NMIS],
    nmi_count: usize,
    /// Entries that did not fit the fixed capacities.
    pub dropped: usize,
}

impl Platform {
    /// What a PC without tables looks like: one IOAPIC at 0xFEC0_0000, ISA IRQ *i* on GSI *i*, edge, high.
    pub const fn defaults() -> Self {
        let mut p = Self::empty(Source::Defaults);
        p.ioapics[0] = IoApic {
            id: 0,
            address: 0xFEC0_0000,
            gsi_base: 0,
        };
        p.ioapic_count = 1;
        p
    }

    /// A description with no CPUs or IOAPICs and identity ISA routing, to be filled by a parser.
    pub(crate) const fn empty(source: Source) -> Self {
        let mut isa = [IsaRoute {
            gsi: 0,
            polarity: Polarity::High,
            trigger: Trigger::Edge,
        }; 16];
        let mut i = 0;
        while i < 16 {
            isa[i].gsi = i as u32;
            i += 1;
        }
        Self {
            source,
            local_apic_address: 0xFEE0_0000,
            has_8259: true,
            cpus: [LocalApic {
                apic_id: 0,
                enabled: false,
            }; MAX_CPUS],
            cpu_count: 0,
            ioapics: [IoApic {
                id: 0,
                address: 0,
                gsi_base: 0,
            }; MAX_IOAPICS],
            ioapic_count: 0,
            isa,
            nmis: [Nmi {
                processor: 0,
                lint: 0,
                polarity: Polarity::High,
                trigger: Trigger::Edge,
            }; MAX_NMIS],
            nmi_count: 0,
            dropped: 0,
        }
    }

    /// The local APICs, in table order.
    pub fn cpus(&self) -> &[LocalApic] {
        &self.cpus[..self.cpu_count]
    }

    /// The IOAPICs, in table order.
    pub fn ioapics(&self) -> &[IoApic] {
        &self.ioapics[..self.ioapic_count]
    }

    /// The NMI wirings.
    pub fn nmis(&self) -> &[Nmi] {
        &self.nmis[..self.nmi_count]
    }

    /// How ISA IRQ `irq` (0–15) is delivered.
    pub fn isa_route(&self, irq: u8) -> Option<IsaRoute> {
        self.isa.get(irq as usize).copied()
    }

    /// The IOAPIC serving `gsi` and the pin on it (assuming 24 pins each unless the next base says fewer).
    pub fn ioapic_for(&self, gsi: u32) -> Option<(IoApic, u32)> {
        self.ioapics()
            .iter()
            .filter(|a| a.gsi_base <= gsi && gsi - a.gsi_base < 240)
            .max_by_key(|a| a.gsi_base)
            .map(|a| (*a, gsi - a.gsi_base))
    }

    pub(crate) fn add_cpu(&mut self, c: LocalApic) {
        if self.cpu_count < MAX_CPUS {
            self.cpus[self.cpu_count] = c;
            self.cpu_count += 1;
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn add_ioapic(&mut self, a: IoApic) {
        if self.ioapic_count < MAX_IOAPICS {
            self.ioapics[self.ioapic_count] = a;
            self.ioapic_count += 1;
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn add_nmi(&mut self, n: Nmi) {
        if self.nmi_count < MAX_NMIS {
            self.nmis[self.nmi_count] = n;
            self.nmi_count += 1;
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn set_isa(&mut self, irq: u8, route: IsaRoute) {
        match self.isa.get_mut(irq as usize) {
            Some(r) => *r = route,
            None => self.dropped += 1,
        }
    }
}

/// Decodes MPS INTI flags (ACPI and MP tables share them): bits 0–1 polarity, 2–3 trigger; 0 = bus default
/// (ISA: active high, edge).
pub(crate) fn inti_flags(flags: u16) -> (Polarity, Trigger) {
    let polarity = if flags & 3 == 3 { Polarity::Low } else { Polarity::High };
    let trigger = if (flags >> 2) & 3 == 3 {
        Trigger::Level
    } else {
        Trigger::Edge
    };
    (polarity, trigger)
}
