//! virtio-mmio devices: where they are, bringing them up, and the drivers ember has (block, entropy, network, socket).
//!
//! Every device found is logged with its type, base, IRQ and transport version; a device ember has no driver
//! for is left untouched (its status is never written).

pub mod blk;
mod discovery;
mod glue;
pub mod net;
mod rng;
pub mod vsock;

use alloc::vec::Vec;
use ember_cmdline::Cmdline;
use ember_virtio::{DeviceType, Transport};

pub use discovery::Candidate;

/// The devices brought up at boot.
#[derive(Default)]
pub struct Devices {
    /// Block devices, in discovery order.
    pub blocks: Vec<blk::VirtioBlk>,
    /// Entropy devices (kept alive after seeding).
    pub entropy: Vec<rng::VirtioRng>,
    /// Network devices, for the network stack to take.
    pub nets: Vec<net::VirtioNet>,
    /// Socket (vsock) devices, for [`crate::net::vsock`] to take.
    pub vsocks: Vec<vsock::VirtioVsock>,
}

/// Finds every virtio-mmio device and brings up those ember drives.
pub fn init(cmdline: &Cmdline<'_>) -> Devices {
    let mut devices = Devices::default();
    for c in discovery::find(cmdline) {
        let Some(regs) = glue::Mmio::map(c.base, c.size) else {
            continue;
        };
        let transport = match Transport::probe(regs.clone()) {
            Ok(t) => t,
            // Probing QEMU's window expects empty slots: only named candidates deserve a line each.
            Err(e) if c.source == discovery::PROBE => {
                log::debug!("virtio: {:#x} (probe): {e}; skipped", c.base);
                continue;
            }
            Err(e) => {
                log::info!("virtio: {:#x} ({}): {e}; skipped", c.base, c.source);
                continue;
            }
        };
        let kind = transport.device_type();
        let version = match transport.version() {
            1 => "virtio-mmio v1 (legacy)",
            _ => "virtio-mmio v2",
        };
        log::info!(
            "virtio: {kind} at {:#x} irq {} ({version}, from {})",
            c.base,
            c.gsi,
            c.source
        );
        match kind {
            DeviceType::Block => match blk::VirtioBlk::new(transport, regs, &c) {
                Ok(b) => devices.blocks.push(b),
                Err(e) => log::warn!("virtio: block at {:#x}: {e}; failed", c.base),
            },
            DeviceType::Entropy => match rng::VirtioRng::new(transport, regs, &c) {
                Ok(r) => devices.entropy.push(r),
                Err(e) => log::warn!("virtio: entropy at {:#x}: {e}; failed", c.base),
            },
            DeviceType::Net => match net::VirtioNet::new(transport, regs, &c, crate::net::stack::device_interrupt) {
                Ok(n) => devices.nets.push(n),
                Err(e) => log::warn!("virtio: net at {:#x}: {e}; failed", c.base),
            },
            DeviceType::Vsock => {
                match vsock::VirtioVsock::new(transport, regs, &c, crate::net::vsock::device_interrupt) {
                    Ok(v) => devices.vsocks.push(v),
                    Err(e) => log::warn!("virtio: vsock at {:#x}: {e}; failed", c.base),
                }
            }
            _ => log::info!("virtio: no driver for {kind} yet; left alone"),
        }
    }
    devices
}
