//! Where the devices are: every `virtio_mmio.device=` on the command line (Firecracker always announces its
//! devices there; QEMU microvm does with `acpi=off`) and every `LNRO0005` device in the ACPI DSDT, merged by base
//! address. Only when neither names a device, and there is no DSDT to say so, is QEMU microvm's fixed window
//! probed (QEMU with `acpi=off,auto-kernel-cmdline=off`).

use alloc::vec::Vec;
use ember_cmdline::{Cmdline, VirtioMmioDevice, names_equal};
use ember_frame::irq::{self, Polarity, Trigger};

/// QEMU microvm's virtio-mmio window: 0xFEB00000 + 512·n, IRQ 5 + n with one IOAPIC.
const QEMU_WINDOW: u64 = 0xFEB0_0000;
const QEMU_SLOT: u64 = 512;
const QEMU_SLOTS: u64 = 24;
const QEMU_FIRST_IRQ: u32 = 5;
/// The `source` of candidates from probing QEMU's window.
pub const PROBE: &str = "probe";

/// A place a virtio device may be.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Register window base.
    pub base: u64,
    /// Register window size.
    pub size: u64,
    /// Its interrupt (GSI).
    pub gsi: u32,
    /// Trigger mode (edge unless ACPI says otherwise, as Firecracker's DSDT does).
    pub trigger: Trigger,
    /// Polarity.
    pub polarity: Polarity,
    /// Where it was found.
    pub source: &'static str,
}

/// All candidates, without duplicates, in the order found.
pub fn find(cmdline: &Cmdline<'_>) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = Vec::new();
    for p in cmdline.params().filter(|p| names_equal(p.name, "virtio_mmio.device")) {
        let value = p.value.unwrap_or("");
        match VirtioMmioDevice::parse(value) {
            Ok(d) if found.iter().any(|c| c.base == d.base) => {}
            Ok(d) => found.push(Candidate {
                base: d.base,
                size: d.size,
                gsi: d.irq,
                trigger: Trigger::Edge,
                polarity: Polarity::High,
                source: "command line",
            }),
            Err(e) => log::warn!("virtio: ignoring virtio_mmio.device={value:?}: {e}"),
        }
    }
    let acpi = irq::acpi_virtio_mmio_devices();
    for d in acpi.iter().flat_map(|l| l.iter()) {
        match found.iter_mut().find(|c| c.base == d.base) {
            // Both name it: ACPI knows the trigger mode and polarity.
            Some(c) => {
                c.trigger = d.trigger;
                c.polarity = d.polarity;
            }
            None => found.push(Candidate {
                base: d.base,
                size: d.size,
                gsi: d.gsi,
                trigger: d.trigger,
                polarity: d.polarity,
                source: "ACPI",
            }),
        }
    }
    if found.is_empty() && acpi.is_some() {
        // A VMM with ACPI describes its virtio devices there (QEMU microvm, Firecracker): none means none.
        log::info!("virtio: no device on the command line or in the ACPI DSDT");
    } else if found.is_empty() {
        log::info!(
            "virtio: no device on the command line and no ACPI; probing QEMU microvm's window at {QEMU_WINDOW:#x}"
        );
        found.extend((0..QEMU_SLOTS).map(|n| Candidate {
            base: QEMU_WINDOW + n * QEMU_SLOT,
            size: QEMU_SLOT,
            gsi: QEMU_FIRST_IRQ + n as u32,
            trigger: Trigger::Edge,
            polarity: Polarity::High,
            source: PROBE,
        }));
    }
    found
}
