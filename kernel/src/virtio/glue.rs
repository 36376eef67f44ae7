//! The framework's device memory, DMA regions and interrupt lines, shaped as `ember-virtio` wants them.

use super::Candidate;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use ember_frame::irq::IrqLine;
use ember_frame::mm::{DmaRegion, IoMem};
use ember_virtio::{Registers, SplitQueue, Transport, ring_bytes};

/// A device's register window. Reads of a window that stopped answering give all ones, as on real buses.
#[derive(Clone)]
pub struct Mmio(Arc<IoMem>);

impl Mmio {
    /// Maps the window (at most one page of it: virtio-mmio registers and config fit there).
    pub fn map(base: u64, size: u64) -> Option<Mmio> {
        match IoMem::map(base, size.clamp(0x100, 0x1000) as usize) {
            Ok(m) => Some(Mmio(Arc::new(m))),
            Err(e) => {
                log::warn!("virtio: cannot map {base:#x}: {e:?}; skipped");
                None
            }
        }
    }
}

impl Registers for Mmio {
    fn read32(&self, offset: usize) -> u32 {
        self.0.read32(offset).unwrap_or(u32::MAX)
    }
    fn write32(&self, offset: usize, value: u32) {
        let _ = self.0.write32(offset, value);
    }
    fn read8(&self, offset: usize) -> u8 {
        self.0.read8(offset).unwrap_or(u8::MAX)
    }
}

/// Sets up queue `index` with at most `want` entries (a power of two the device allows).
pub fn queue(t: &mut Transport<Mmio>, index: u16, want: u16) -> Result<SplitQueue<DmaRegion>, String> {
    let max = t.queue_max(index);
    let size = want.min(max);
    if size == 0 {
        return Err(t.fail(ember_virtio::TransportError::NoQueue(index)).to_string());
    }
    let size = 1 << (15 - size.leading_zeros().min(15));
    let region = DmaRegion::alloc(ring_bytes(size).0).map_err(|e| format!("no memory for queue {index}: {e:?}"))?;
    let q = SplitQueue::new(region, size).map_err(|e| format!("queue {index}: {e:?}"))?;
    t.setup_queue(index, &q).map_err(|e| e.to_string())?;
    Ok(q)
}

/// Routes the device's interrupt to a handler that acknowledges it (waking the idle loop is all it needs).
pub fn interrupt(regs: &Mmio, c: &Candidate) -> Result<IrqLine, String> {
    interrupt_then(regs, c, || {})
}

/// Like [`interrupt`], then runs `then` (short: it runs in the interrupt).
pub fn interrupt_then(regs: &Mmio, c: &Candidate, then: fn()) -> Result<IrqLine, String> {
    let line = IrqLine::alloc().map_err(|e| format!("no interrupt vector: {e:?}"))?;
    line.route_gsi(c.gsi, c.trigger, c.polarity)
        .map_err(|e| format!("cannot route GSI {}: {e:?}", c.gsi))?;
    let regs = regs.clone();
    line.on_active(move || {
        ember_virtio::ack_interrupt(&regs);
        then();
    });
    line.unmask();
    Ok(line)
}
