//! The framework's device memory, DMA regions and interrupt lines, shaped as `ember-virtio` wants them.

use super::Candidate;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use ember_frame::irq::IrqLine;
use ember_frame::mm::{DmaRegion, IoMem};
use ember_frame::time;
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

/// How long a waiter idles before it looks at the device again on its own, and how long it then gives an
/// interrupt that should be pending to arrive, before declaring that the device does not interrupt.
const IRQ_GRACE_NS: u64 = 10_000_000;
/// How often a device without a working interrupt is polled.
const POLL_NS: u64 = 200_000;

/// A device's interrupt line, with a count of the interrupts it delivered, and the wait for its completions.
pub struct Interrupt {
    _line: IrqLine,
    count: Arc<AtomicU64>,
    /// The device completes requests without interrupting: its completions are polled for.
    polling: bool,
    /// One of the device's interrupts has arrived: its line is wired as the tables say.
    irq_seen: bool,
    kind: &'static str,
    base: u64,
    gsi: u32,
}

impl Interrupt {
    /// Idles until `done()` holds (returns `true`) or the clock passes `deadline_ns` (`false`), looking at the
    /// device at least every [`IRQ_GRACE_NS`]. A completion that came with no interrupt, when none follows
    /// within [`IRQ_GRACE_NS`] either (a pending one is taken at the next idle), means the interrupt goes
    /// elsewhere (a wrong IRQ): the device is reported once and polled every [`POLL_NS`] from then on, so
    /// requests still complete quickly. Until the device's first interrupt has been seen, a request that was
    /// complete at once is checked the same way: a host fast enough to finish every request before the driver
    /// looks would otherwise hide a wrong IRQ for ever.
    pub fn wait(&mut self, deadline_ns: u64, mut done: impl FnMut() -> bool) -> bool {
        let before = self.count.load(Ordering::Relaxed);
        if done() {
            if !self.polling && !self.irq_seen {
                self.confirm_interrupt(before);
            }
            return true;
        }
        loop {
            let step = if self.polling { POLL_NS } else { IRQ_GRACE_NS };
            let until = time::now_ns().saturating_add(step).min(deadline_ns);
            if time::wait_until(Some(until), &mut done) {
                break;
            }
            if time::now_ns() >= deadline_ns {
                return false;
            }
        }
        if !self.polling {
            self.confirm_interrupt(before);
        }
        true
    }

    /// A request completed: gives its interrupt (counted past `before`) [`IRQ_GRACE_NS`] to arrive; without
    /// one, reports the device and polls it from then on.
    fn confirm_interrupt(&mut self, before: u64) {
        let count = &self.count;
        let later = time::now_ns() + IRQ_GRACE_NS;
        if time::wait_until(Some(later), || count.load(Ordering::Relaxed) != before) {
            self.irq_seen = true;
            return;
        }
        log::warn!(
            "virtio: {} at {:#x} completes requests without raising IRQ {}; polling it",
            self.kind,
            self.base,
            self.gsi
        );
        self.polling = true;
    }
}

/// Routes the device's interrupt to a handler that acknowledges it (waking the idle loop is all it needs) and
/// counts it. `kind` names the device in log lines.
pub fn interrupt(regs: &Mmio, c: &Candidate, kind: &'static str) -> Result<Interrupt, String> {
    interrupt_then(regs, c, kind, || {})
}

/// Like [`interrupt`], then runs `then` (short: it runs in the interrupt).
pub fn interrupt_then(regs: &Mmio, c: &Candidate, kind: &'static str, then: fn()) -> Result<Interrupt, String> {
    let line = IrqLine::alloc().map_err(|e| format!("no interrupt vector: {e:?}"))?;
    line.route_gsi(c.gsi, c.trigger, c.polarity)
        .map_err(|e| format!("cannot route GSI {}: {e:?}", c.gsi))?;
    let regs = regs.clone();
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    line.on_active(move || {
        ember_virtio::ack_interrupt(&regs);
        counter.fetch_add(1, Ordering::Relaxed);
        then();
    });
    line.unmask();
    Ok(Interrupt {
        _line: line,
        count,
        polling: false,
        irq_seen: false,
        kind,
        base: c.base,
        gsi: c.gsi,
    })
}
