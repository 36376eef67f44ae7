//! The virtio entropy device (Firecracker's "entropy"): asked once at boot for a seed for [`crate::random`].

use super::Candidate;
use super::glue::{self, Mmio};
use alloc::string::{String, ToString};
use ember_frame::mm::DmaRegion;
use ember_frame::time;
use ember_virtio::{Buffer, SplitQueue, Transport};

const SEED_LEN: usize = 32;
const TIMEOUT_NS: u64 = 2_000_000_000;

/// A live entropy device.
pub struct VirtioRng {
    _transport: Transport<Mmio>,
    _queue: SplitQueue<DmaRegion>,
    _irq: glue::Interrupt,
}

impl VirtioRng {
    /// Brings the device up and seeds the kernel's generator from it.
    pub fn new(mut transport: Transport<Mmio>, regs: Mmio, c: &Candidate) -> Result<Self, String> {
        transport.negotiate(0).map_err(|e| e.to_string())?;
        let mut queue = glue::queue(&mut transport, 0, 8)?;
        let mut irq = glue::interrupt(&regs, c, "entropy")?;
        transport.finish();
        let dma = DmaRegion::alloc(SEED_LEN).map_err(|e| alloc::format!("no memory: {e:?}"))?;
        queue
            .add(&[Buffer {
                mem: &dma,
                offset: 0,
                len: SEED_LEN as u32,
                device_writes: true,
            }])
            .map_err(|e| alloc::format!("{e:?}"))?;
        transport.notify(0);
        let deadline = time::now_ns() + TIMEOUT_NS;
        if !irq.wait(deadline, || queue.has_used()) {
            return Err("no entropy within 2 s".into());
        }
        let len = match queue.pop_used() {
            Some(Ok((_, len))) => len as usize,
            Some(Err(e)) => return Err(e.to_string()),
            None => 0,
        };
        if len < SEED_LEN {
            return Err(alloc::format!("the device gave {len} of {SEED_LEN} bytes"));
        }
        let mut seed = [0u8; SEED_LEN];
        dma.read_bytes(0, &mut seed).map_err(|e| alloc::format!("{e:?}"))?;
        crate::random::seed(seed);
        log::info!("random: seeded with {SEED_LEN} bytes from virtio-rng at {:#x}", c.base);
        Ok(Self {
            _transport: transport,
            _queue: queue,
            _irq: irq,
        })
    }
}
