//! The virtio block driver: up to [`DEPTH`] requests of up to [`CHUNK`] bytes in flight, completion by
//! interrupt, every status and length the device returns checked.

use super::Candidate;
use super::glue::{self, Mmio};
use crate::block::{BlockDevice, BlockError, SECTOR_SIZE};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use ember_frame::mm::DmaRegion;
use ember_frame::time;
use ember_virtio::blk::{self, Geometry, HEADER_LEN};
use ember_virtio::{Buffer, SplitQueue, Transport};

/// Largest transfer of one request.
pub const CHUNK: usize = 128 * 1024;
/// Requests in flight at once.
pub const DEPTH: usize = 4;
/// How long one wait for a request lasts.
const TIMEOUT_NS: u64 = 10_000_000_000;
/// How many more waits a request that is not done after the first gets, each after notifying the device again
/// and busy-polling it (which also rides out a guest clock that jumps ahead while the CPU idles, as QEMU's
/// `-icount sleep=off` does), before the device is declared dead and the request fails with `EIO`.
const RETRIES: u32 = 3;
/// Offset of the status byte in a slot's DMA region.
const STATUS_AT: usize = HEADER_LEN + CHUNK;

/// One request's DMA memory: header, data, status.
struct Slot {
    dma: DmaRegion,
    head: Option<u16>,
}

/// A virtio block device.
pub struct VirtioBlk {
    transport: Transport<Mmio>,
    queue: SplitQueue<DmaRegion>,
    irq: glue::Interrupt,
    geometry: Geometry,
    slots: Vec<Slot>,
    broken: bool,
}

/// What one request does.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
    Flush,
}

impl VirtioBlk {
    /// Brings the device up. On error it is marked FAILED and left alone.
    pub fn new(mut transport: Transport<Mmio>, regs: Mmio, c: &Candidate) -> Result<Self, String> {
        transport
            .negotiate(blk::F_RO | blk::F_BLK_SIZE | blk::F_FLUSH)
            .map_err(|e| e.to_string())?;
        let queue = glue::queue(&mut transport, 0, 128)?;
        let irq = glue::interrupt(&regs, c, "block")?;
        let slots = (0..DEPTH)
            .map(|_| DmaRegion::alloc(STATUS_AT + 1).map(|dma| Slot { dma, head: None }))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| alloc::format!("no memory for requests: {e:?}"))?;
        transport.finish();
        let geometry = blk::geometry(&transport);
        log::info!(
            "virtio: block at {:#x}: {} MiB ({} sectors, {}-byte blocks){}",
            c.base,
            geometry.sectors * blk::SECTOR / (1 << 20),
            geometry.sectors,
            geometry.block_size,
            if geometry.read_only { ", read-only" } else { "" }
        );
        Ok(Self {
            transport,
            queue,
            irq,
            geometry,
            slots,
            broken: false,
        })
    }

    fn check_range(&self, sector: u64, len: usize) -> Result<(), BlockError> {
        let sectors = (len / SECTOR_SIZE) as u64;
        if !len.is_multiple_of(SECTOR_SIZE) || sector.checked_add(sectors).is_none_or(|e| e > self.geometry.sectors) {
            return Err(BlockError::OutOfRange);
        }
        Ok(())
    }

    /// Queues one request in slot `s`; for a write, `data` is copied into the slot first.
    fn submit(&mut self, s: usize, op: Op, sector: u64, len: usize, data: Option<&[u8]>) -> Result<(), BlockError> {
        let kind = match op {
            Op::Read => blk::T_IN,
            Op::Write => blk::T_OUT,
            Op::Flush => blk::T_FLUSH,
        };
        let dma = &self.slots[s].dma;
        dma.write_bytes(0, &blk::header(kind, sector))
            .map_err(|_| BlockError::Broken)?;
        if let Some(d) = data {
            dma.write_bytes(HEADER_LEN, d).map_err(|_| BlockError::Broken)?;
        }
        dma.write_bytes(STATUS_AT, &[0xFF]).map_err(|_| BlockError::Broken)?;
        let header = Buffer {
            mem: dma,
            offset: 0,
            len: HEADER_LEN as u32,
            device_writes: false,
        };
        let body = Buffer {
            mem: dma,
            offset: HEADER_LEN,
            len: len as u32,
            device_writes: matches!(op, Op::Read),
        };
        let status = Buffer {
            mem: dma,
            offset: STATUS_AT,
            len: 1,
            device_writes: true,
        };
        let head = match op {
            Op::Flush => self.queue.add(&[header, status]),
            _ => self.queue.add(&[header, body, status]),
        }
        .map_err(|_| BlockError::Broken)?;
        self.slots[s].head = Some(head);
        self.transport.notify(0);
        Ok(())
    }

    /// Waits for the next completion. Returns its slot and the request's own result (the device's status), or
    /// an error that takes the device out of service.
    fn complete(&mut self) -> Result<(usize, Result<(), BlockError>), BlockError> {
        let queue = &self.queue;
        let ready = || queue.has_used() || queue.is_broken();
        let mut done = self.irq.wait(time::now_ns() + TIMEOUT_NS, ready);
        for retry in 1..=RETRIES {
            if done {
                break;
            }
            log::warn!(
                "virtio-blk: a request is not done after {} s; notifying the device again (retry {retry} of {RETRIES})",
                TIMEOUT_NS * retry as u64 / 1_000_000_000
            );
            self.transport.notify(0);
            done = poll_until(time::now_ns() + TIMEOUT_NS, ready);
        }
        if !done {
            log::error!(
                "virtio-blk: a request did not complete in {} s ({RETRIES} retries); device taken out of service, \
                 its I/O fails with EIO",
                TIMEOUT_NS * (RETRIES as u64 + 1) / 1_000_000_000
            );
            self.broken = true;
            return Err(BlockError::Timeout);
        }
        let done = match self.queue.pop_used() {
            Some(Ok((head, _len))) => head,
            Some(Err(e)) => {
                log::error!("virtio-blk: {e}; device taken out of service");
                self.broken = true;
                return Err(BlockError::Broken);
            }
            None => {
                self.broken = true;
                return Err(BlockError::Broken);
            }
        };
        let s = self
            .slots
            .iter()
            .position(|s| s.head == Some(done))
            .ok_or(BlockError::Broken)?;
        self.slots[s].head = None;
        let mut status = [0u8];
        self.slots[s]
            .dma
            .read_bytes(STATUS_AT, &mut status)
            .map_err(|_| BlockError::Broken)?;
        Ok((
            s,
            match status[0] {
                blk::S_OK => Ok(()),
                blk::S_UNSUPP => Err(BlockError::Unsupported),
                _ => Err(BlockError::Io),
            },
        ))
    }

    /// Reads into `read_into` or writes `write_from` (`total` bytes from `sector`) in chunks, [`DEPTH`] in
    /// flight. The first failed request stops new submissions; those in flight are still collected.
    fn transfer(
        &mut self,
        op: Op,
        sector: u64,
        total: usize,
        mut read_into: Option<&mut [u8]>,
        write_from: Option<&[u8]>,
    ) -> Result<(), BlockError> {
        if self.broken {
            return Err(BlockError::Broken);
        }
        let mut offsets: [Option<usize>; DEPTH] = [None; DEPTH];
        let (mut next, mut outstanding, mut result) = (0, 0, Ok(()));
        loop {
            while next < total && outstanding < DEPTH && result.is_ok() {
                let s = offsets.iter().position(Option::is_none).unwrap_or(0);
                let len = CHUNK.min(total - next);
                let data = write_from.map(|b| &b[next..next + len]);
                result = self.submit(s, op, sector + (next / SECTOR_SIZE) as u64, len, data);
                if result.is_ok() {
                    offsets[s] = Some(next);
                    outstanding += 1;
                    next += len;
                }
            }
            if outstanding == 0 {
                return result;
            }
            let (s, outcome) = self.complete()?;
            outstanding -= 1;
            let at = offsets[s].take();
            match (outcome, at, read_into.as_deref_mut()) {
                (Ok(()), Some(at), Some(buf)) => {
                    let len = CHUNK.min(total - at);
                    self.slots[s]
                        .dma
                        .read_bytes(HEADER_LEN, &mut buf[at..at + len])
                        .map_err(|_| BlockError::Broken)?;
                }
                (Ok(()), _, _) => {}
                (Err(e), _, _) => result = result.and(Err(e)),
            }
        }
    }
}

/// Busy-polls `done` until it holds (`true`) or the clock passes `deadline_ns` (`false`).
fn poll_until(deadline_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    while time::now_ns() < deadline_ns {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    done()
}

impl BlockDevice for VirtioBlk {
    fn sectors(&self) -> u64 {
        self.geometry.sectors
    }

    fn block_size(&self) -> u32 {
        self.geometry.block_size
    }

    fn read_only(&self) -> bool {
        self.geometry.read_only
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.check_range(sector, buf.len())?;
        self.transfer(Op::Read, sector, buf.len(), Some(buf), None)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.geometry.read_only {
            return Err(BlockError::ReadOnly);
        }
        self.check_range(sector, buf.len())?;
        self.transfer(Op::Write, sector, buf.len(), None, Some(buf))
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if self.broken {
            return Err(BlockError::Broken);
        }
        if self.transport.features() & blk::F_FLUSH == 0 {
            return Ok(());
        }
        self.submit(0, Op::Flush, 0, 0, None)?;
        self.complete()?.1
    }
}
