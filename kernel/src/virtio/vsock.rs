//! The virtio socket device (virtio 1.2 §5.10; Firecracker's vsock): receive, transmit and event queues,
//! the guest CID from the configuration. This is the transport only: the packets' meaning is
//! [`ember_vsock`]'s, driven by [`crate::net::vsock`]. What the device writes is checked (a used length past
//! the buffer costs the buffer, never the kernel); the interrupt wakes the vsock task.

use super::Candidate;
use super::glue::{self, Mmio};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use ember_frame::mm::DmaRegion;
use ember_virtio::{Buffer, SplitQueue, Transport};
use ember_vsock::{EVENT_LEN, HEADER_LEN, MAX_PAYLOAD};

const RX_QUEUE: u16 = 0;
const TX_QUEUE: u16 = 1;
const EVENT_QUEUE: u16 = 2;
/// Receive buffers posted at once.
const RX_BUFFERS: usize = 32;
/// Transmit buffers.
const TX_SLOTS: usize = 32;
/// Event buffers posted at once.
const EVENT_BUFFERS: usize = 4;
/// Bytes of each receive and transmit buffer: a header and the largest payload.
const BUF_LEN: usize = HEADER_LEN + MAX_PAYLOAD;

/// Buffers of one queue, each with the descriptor head it is posted under.
type Slots = Vec<(DmaRegion, Option<u16>)>;

/// A virtio socket device.
pub struct VirtioVsock {
    transport: Transport<Mmio>,
    rx: SplitQueue<DmaRegion>,
    tx: SplitQueue<DmaRegion>,
    event: SplitQueue<DmaRegion>,
    /// Kept for its routing (the vsock task waits for this device).
    _irq: glue::Interrupt,
    rx_bufs: Slots,
    tx_bufs: Slots,
    event_bufs: Slots,
    broken: bool,
}

fn alloc_slots(n: usize, len: usize) -> Result<Slots, String> {
    (0..n)
        .map(|_| DmaRegion::alloc(len).map(|d| (d, None)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| alloc::format!("no memory for buffers: {e:?}"))
}

impl VirtioVsock {
    /// Brings the device up; `wake` runs (in the interrupt) whenever the device signals.
    pub fn new(mut transport: Transport<Mmio>, regs: Mmio, c: &Candidate, wake: fn()) -> Result<Self, String> {
        transport.negotiate(0).map_err(|e| e.to_string())?;
        let rx = glue::queue(&mut transport, RX_QUEUE, RX_BUFFERS as u16)?;
        let tx = glue::queue(&mut transport, TX_QUEUE, TX_SLOTS as u16)?;
        let event = glue::queue(&mut transport, EVENT_QUEUE, EVENT_BUFFERS as u16)?;
        let irq = glue::interrupt_then(&regs, c, "vsock", wake)?;
        let rx_bufs = alloc_slots(RX_BUFFERS.min(rx.size() as usize), BUF_LEN)?;
        let tx_bufs = alloc_slots(TX_SLOTS.min(tx.size() as usize), BUF_LEN)?;
        let event_bufs = alloc_slots(EVENT_BUFFERS.min(event.size() as usize), EVENT_LEN)?;
        transport.finish();
        let mut dev = VirtioVsock {
            transport,
            rx,
            tx,
            event,
            _irq: irq,
            rx_bufs,
            tx_bufs,
            event_bufs,
            broken: false,
        };
        for i in 0..dev.rx_bufs.len() {
            post(&mut dev.rx, &mut dev.rx_bufs[i], BUF_LEN, &mut dev.broken);
        }
        for i in 0..dev.event_bufs.len() {
            post(&mut dev.event, &mut dev.event_bufs[i], EVENT_LEN, &mut dev.broken);
        }
        dev.transport.notify(RX_QUEUE);
        dev.transport.notify(EVENT_QUEUE);
        log::info!("virtio: vsock at {:#x}: guest CID {}", c.base, dev.cid());
        Ok(dev)
    }

    /// The guest's CID, as the configuration says now (it may change after a transport reset).
    pub fn cid(&self) -> u64 {
        u64::from_le_bytes(self.transport.config::<8>(0))
    }

    /// The next received buffer's bytes (exactly as many as the device says it wrote), if any.
    pub fn receive(&mut self) -> Option<Vec<u8>> {
        let (i, written) = take_used(&mut self.rx, &mut self.rx_bufs, &mut self.broken, "receive")?;
        let data = if written as usize > BUF_LEN {
            log::debug!("virtio-vsock: the device claims {written} bytes in a {BUF_LEN}-byte buffer; dropped");
            None
        } else {
            let mut b = alloc::vec![0u8; written as usize];
            self.rx_bufs[i].0.read_bytes(0, &mut b).ok().map(|()| b)
        };
        post(&mut self.rx, &mut self.rx_bufs[i], BUF_LEN, &mut self.broken);
        self.transport.notify(RX_QUEUE);
        // A dropped buffer still counts: the caller asks again.
        Some(data.unwrap_or_default())
    }

    /// The next used event buffer's bytes (as many as the device says it wrote, none when that is more than
    /// the buffer holds), if any. The buffer goes back to the device at once, with a notification: Firecracker
    /// takes that as the driver's acknowledgement of a transport reset and holds received packets back until
    /// then.
    pub fn event(&mut self) -> Option<Vec<u8>> {
        let (i, written) = take_used(&mut self.event, &mut self.event_bufs, &mut self.broken, "event")?;
        let mut bytes = alloc::vec![0u8; (written as usize).min(EVENT_LEN)];
        if written as usize > EVENT_LEN || self.event_bufs[i].0.read_bytes(0, &mut bytes).is_err() {
            log::debug!("virtio-vsock: the device claims {written} bytes in a {EVENT_LEN}-byte event buffer");
            bytes.clear();
        }
        post(&mut self.event, &mut self.event_bufs[i], EVENT_LEN, &mut self.broken);
        self.transport.notify(EVENT_QUEUE);
        Some(bytes)
    }

    /// Takes back the transmit buffers the device is done with; true when any came back.
    pub fn reclaim_tx(&mut self) -> bool {
        let mut any = false;
        while let Some(used) = self.tx.pop_used() {
            match used {
                Ok((head, _)) => {
                    if let Some(slot) = self.tx_bufs.iter_mut().find(|(_, h)| *h == Some(head)) {
                        slot.1 = None;
                        any = true;
                    }
                }
                Err(e) => {
                    log::warn!("virtio-vsock: transmit queue: {e}; the device is out of service");
                    self.broken = true;
                    break;
                }
            }
        }
        any
    }

    /// Sends a packet (header and payload, as two descriptors); false when no transmit buffer is free (or the
    /// device is out of service: the packet is then dropped, as on a dead link).
    pub fn send(&mut self, header: &[u8; HEADER_LEN], payload: &[u8]) -> bool {
        if self.broken {
            return true;
        }
        self.reclaim_tx();
        let Some(i) = self.tx_bufs.iter().position(|(_, h)| h.is_none()) else {
            return false;
        };
        let len = payload.len().min(MAX_PAYLOAD);
        let (dma, head) = &mut self.tx_bufs[i];
        if dma.write_bytes(0, header).is_err() || dma.write_bytes(HEADER_LEN, &payload[..len]).is_err() {
            return true;
        }
        let hdr = Buffer {
            mem: dma,
            offset: 0,
            len: HEADER_LEN as u32,
            device_writes: false,
        };
        let data = Buffer {
            mem: dma,
            offset: HEADER_LEN,
            len: len as u32,
            device_writes: false,
        };
        let chain: &[Buffer] = if len == 0 { &[hdr] } else { &[hdr, data] };
        match self.tx.add(chain) {
            Ok(h) => {
                *head = Some(h);
                self.transport.notify(TX_QUEUE);
                true
            }
            Err(e) => {
                log::debug!("virtio-vsock: cannot queue a packet: {e:?}");
                false
            }
        }
    }
}

/// Posts buffer `slot` (`len` bytes, device-writable) on `q`.
fn post(q: &mut SplitQueue<DmaRegion>, slot: &mut (DmaRegion, Option<u16>), len: usize, broken: &mut bool) {
    let buf = Buffer {
        mem: &slot.0,
        offset: 0,
        len: len as u32,
        device_writes: true,
    };
    match q.add(&[buf]) {
        Ok(h) => slot.1 = Some(h),
        Err(e) => {
            log::warn!("virtio-vsock: cannot post a buffer: {e:?}; the device is out of service");
            *broken = true;
        }
    }
}

/// The next used buffer of `q`: its index in `slots` and the bytes written.
fn take_used(q: &mut SplitQueue<DmaRegion>, slots: &mut Slots, broken: &mut bool, name: &str) -> Option<(usize, u32)> {
    while !*broken {
        let (head, written) = match q.pop_used()? {
            Ok(u) => u,
            Err(e) => {
                log::warn!("virtio-vsock: {name} queue: {e}; the device is out of service");
                *broken = true;
                return None;
            }
        };
        if let Some(i) = slots.iter().position(|(_, h)| *h == Some(head)) {
            slots[i].1 = None;
            return Some((i, written));
        }
    }
    None
}
