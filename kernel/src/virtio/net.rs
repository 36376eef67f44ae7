//! The virtio network driver: [`RX_BUFFERS`] receive buffers always posted, up to [`TX_SLOTS`] frames in
//! flight, the interrupt waking the network stack's task. Lengths the device reports are checked
//! ([`ember_virtio::net::rx_frame`]); a bad one costs the frame, never the kernel.

use super::Candidate;
use super::glue::{self, Mmio};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use ember_frame::mm::DmaRegion;
use ember_virtio::net::{self as vnet, MAX_FRAME, RX_QUEUE, TX_QUEUE};
use ember_virtio::{Buffer, SplitQueue, Transport};

/// Receive buffers posted at once. Firecracker takes a frame from its tap (or MMDS) only while the posted
/// buffers hold at least 65562 bytes (its `MAX_BUFFER_SIZE`), so 43 of 1526 bytes is the least that works
/// there; with 32 the device never delivered a frame.
pub const RX_BUFFERS: usize = 64;
/// Transmit buffers.
pub const TX_SLOTS: usize = 32;
/// Bytes of each buffer: the virtio header and a full frame.
const BUF_LEN: usize = 12 + MAX_FRAME;

/// A virtio network device.
pub struct VirtioNet {
    transport: Transport<Mmio>,
    rx: SplitQueue<DmaRegion>,
    tx: SplitQueue<DmaRegion>,
    /// Kept for its routing (the poll task, not `Interrupt::wait`, waits for this device).
    _irq: glue::Interrupt,
    rx_bufs: Vec<(DmaRegion, Option<u16>)>,
    tx_bufs: Vec<(DmaRegion, Option<u16>)>,
    mac: [u8; 6],
    features: u64,
    broken: bool,
}

impl VirtioNet {
    /// Brings the device up; `wake` runs (in the interrupt) whenever the device signals.
    pub fn new(mut transport: Transport<Mmio>, regs: Mmio, c: &Candidate, wake: fn()) -> Result<Self, String> {
        let features = transport.negotiate(vnet::F_MAC).map_err(|e| e.to_string())?;
        let rx = glue::queue(&mut transport, RX_QUEUE, RX_BUFFERS as u16)?;
        let tx = glue::queue(&mut transport, TX_QUEUE, TX_SLOTS as u16)?;
        let irq = glue::interrupt_then(&regs, c, "network", wake)?;
        let alloc_bufs = |n: usize| {
            (0..n)
                .map(|_| DmaRegion::alloc(BUF_LEN).map(|d| (d, None)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| alloc::format!("no memory for buffers: {e:?}"))
        };
        let rx_bufs = alloc_bufs(RX_BUFFERS.min(rx.size() as usize))?;
        let tx_bufs = alloc_bufs(TX_SLOTS.min(tx.size() as usize))?;
        // Without a unicast MAC from the device, a locally administered one.
        let mac = vnet::mac(&transport)
            .filter(|m| m[0] & 1 == 0 && *m != [0; 6])
            .unwrap_or([0x02, 0, 0, 0, 0, 0x01]);
        transport.finish();
        let mut nic = VirtioNet {
            transport,
            rx,
            tx,
            _irq: irq,
            rx_bufs,
            tx_bufs,
            mac,
            features,
            broken: false,
        };
        for i in 0..nic.rx_bufs.len() {
            nic.post_rx(i);
        }
        nic.transport.notify(RX_QUEUE);
        let m = mac;
        log::info!(
            "virtio: net at {:#x}: MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            c.base,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5]
        );
        Ok(nic)
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn post_rx(&mut self, i: usize) {
        let (dma, head) = &mut self.rx_bufs[i];
        let buf = Buffer {
            mem: dma,
            offset: 0,
            len: BUF_LEN as u32,
            device_writes: true,
        };
        match self.rx.add(&[buf]) {
            Ok(h) => *head = Some(h),
            Err(e) => {
                log::warn!("virtio-net: cannot post a receive buffer: {e:?}");
                self.broken = true;
            }
        }
    }

    /// The next frame the device received, if any.
    pub fn receive(&mut self) -> Option<Vec<u8>> {
        while !self.broken {
            let (head, written) = match self.rx.pop_used()? {
                Ok(u) => u,
                Err(e) => {
                    log::warn!("virtio-net: receive queue: {e}; the device is out of service");
                    self.broken = true;
                    return None;
                }
            };
            let Some(i) = self.rx_bufs.iter().position(|(_, h)| *h == Some(head)) else {
                continue;
            };
            self.rx_bufs[i].1 = None;
            let frame = match vnet::rx_frame(written, self.features, BUF_LEN) {
                Ok((at, len)) => {
                    let mut f = alloc::vec![0u8; len];
                    self.rx_bufs[i].0.read_bytes(at, &mut f).ok().map(|()| f)
                }
                Err(e) => {
                    log::debug!("virtio-net: dropped a received buffer: {e:?}");
                    None
                }
            };
            self.post_rx(i);
            // QEMU stops asking while it has receive buffers: an MMIO exit per frame saved.
            if self.rx.needs_notify() {
                self.transport.notify(RX_QUEUE);
            }
            if frame.is_some() {
                return frame;
            }
        }
        None
    }

    /// Takes back the transmit buffers the device is done with.
    fn reclaim_tx(&mut self) {
        while let Some(used) = self.tx.pop_used() {
            match used {
                Ok((head, _)) => {
                    if let Some(slot) = self.tx_bufs.iter_mut().find(|(_, h)| *h == Some(head)) {
                        slot.1 = None;
                    }
                }
                Err(e) => {
                    log::warn!("virtio-net: transmit queue: {e}; the device is out of service");
                    self.broken = true;
                    return;
                }
            }
        }
    }

    /// Whether a frame can be sent now.
    pub fn can_send(&mut self) -> bool {
        self.reclaim_tx();
        !self.broken && self.tx_bufs.iter().any(|(_, h)| h.is_none())
    }

    /// Sends a frame of `len` bytes that `fill` writes, returning what `fill` returns. A frame too long or
    /// without a free buffer is dropped (the protocols above retransmit).
    pub fn send<R>(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> R {
        let hdr = vnet::header_len(self.features);
        let mut frame = alloc::vec![0u8; hdr + len];
        let r = fill(&mut frame[hdr..]);
        if len > MAX_FRAME || !self.can_send() {
            log::debug!("virtio-net: dropped an outgoing frame of {len} bytes");
            return r;
        }
        if let Some(i) = self.tx_bufs.iter().position(|(_, h)| h.is_none()) {
            let (dma, head) = &mut self.tx_bufs[i];
            if dma.write_bytes(0, &frame).is_ok() {
                let buf = Buffer {
                    mem: dma,
                    offset: 0,
                    len: frame.len() as u32,
                    device_writes: false,
                };
                if let Ok(h) = self.tx.add(&[buf]) {
                    *head = Some(h);
                    // Not while the device is still working through the queue and said so.
                    if self.tx.needs_notify() {
                        self.transport.notify(TX_QUEUE);
                    }
                }
            }
        }
        r
    }
}
