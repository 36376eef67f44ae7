//! Device models for the unit tests.
//!
//! [`FirecrackerDevice`] accepts exactly the register accesses Firecracker's `MmioTransport` accepts
//! (`devices/virtio/transport/mmio.rs`, read for this model): status only along 0 → 1 → 3 → 0xB → 0xF, reset,
//! or FAILED; driver features only with DRIVER set and FEATURES_OK clear; queue registers only with FEATURES_OK
//! set and DRIVER_OK clear; interrupt acknowledgement only after DRIVER_OK; no legacy registers. Everything
//! else is recorded as a violation, which the tests require to be empty.

use crate::regs::*;
use std::cell::RefCell;

#[derive(Default)]
struct Queue {
    size: u32,
    ready: bool,
    desc: u64,
    avail: u64,
    used: u64,
}

#[derive(Default)]
struct State {
    magic: u32,
    version: u32,
    device_id: u32,
    offered: u64,
    acked: u64,
    features_sel: u32,
    acked_sel: u32,
    queue_sel: u32,
    max_queue: u32,
    queues: [Queue; 2],
    status: u32,
    status_writes: Vec<u32>,
    refuse_features_ok: bool,
    violations: Vec<String>,
    interrupt_status: u32,
    // Legacy only.
    page_size: u32,
    pfn: u32,
}

/// A strict model of a Firecracker virtio-mmio device.
pub struct FirecrackerDevice(RefCell<State>);

impl FirecrackerDevice {
    pub fn new(device_id: u32, offered: u64, max_queue: u32) -> Self {
        Self(RefCell::new(State {
            magic: MAGIC_VALUE,
            version: 2,
            device_id,
            offered,
            max_queue,
            ..State::default()
        }))
    }
    pub fn violations(&self) -> Vec<String> {
        self.0.borrow().violations.clone()
    }
    pub fn status(&self) -> u32 {
        self.0.borrow().status
    }
    pub fn status_writes(&self) -> Vec<u32> {
        self.0.borrow().status_writes.clone()
    }
    pub fn acked_features(&self) -> u64 {
        self.0.borrow().acked
    }
    pub fn queue_ready(&self, q: usize) -> bool {
        self.0.borrow().queues[q].ready
    }
    pub fn refuse_features_ok(&self) {
        self.0.borrow_mut().refuse_features_ok = true;
    }
    pub fn set_magic(&self, m: u32) {
        self.0.borrow_mut().magic = m;
    }
}

impl State {
    fn has(&self, set: u32, clear: u32) -> bool {
        self.status & set == set && self.status & clear == 0
    }

    fn set_status(&mut self, v: u32) {
        use status::*;
        self.status_writes.push(v);
        const VALID: [(u32, u32); 4] = [
            (0, ACKNOWLEDGE),
            (ACKNOWLEDGE, ACKNOWLEDGE | DRIVER),
            (ACKNOWLEDGE | DRIVER, ACKNOWLEDGE | DRIVER | FEATURES_OK),
            (
                ACKNOWLEDGE | DRIVER | FEATURES_OK,
                ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK,
            ),
        ];
        if v & FAILED != 0 {
            self.status |= FAILED;
        } else if v == 0 {
            self.status = 0;
        } else if VALID.iter().any(|&(from, to)| self.status == from && v == to) {
            if v & FEATURES_OK != 0 && self.refuse_features_ok {
                return;
            }
            self.status = v;
        } else {
            self.violations.push(format!(
                "invalid virtio driver status transition: {:#x} -> {v:#x}",
                self.status
            ));
        }
    }
}

impl Registers for &FirecrackerDevice {
    fn read32(&self, offset: usize) -> u32 {
        let mut s = self.0.borrow_mut();
        let q = s.queue_sel as usize;
        match offset {
            MAGIC => s.magic,
            VERSION => s.version,
            DEVICE_ID => s.device_id,
            VENDOR_ID => 0,
            DEVICE_FEATURES => (s.offered >> (32 * s.features_sel.min(1))) as u32,
            QUEUE_NUM_MAX => {
                if q == 0 {
                    s.max_queue
                } else {
                    0
                }
            }
            QUEUE_READY => s.queues.get(q).map_or(0, |q| q.ready as u32),
            INTERRUPT_STATUS => s.interrupt_status,
            STATUS => s.status,
            CONFIG_GENERATION => 0,
            _ => {
                s.violations
                    .push(format!("unknown virtio mmio register read: {offset:#x}"));
                0
            }
        }
    }

    fn write32(&self, offset: usize, v: u32) {
        let mut s = self.0.borrow_mut();
        let queue_ok = s.has(status::FEATURES_OK, status::DRIVER_OK | status::FAILED);
        let q = s.queue_sel as usize;
        let queue = |s: &mut State, f: &dyn Fn(&mut Queue)| {
            if !queue_ok {
                let msg = format!("queue register {offset:#x} written in state {:#x}", s.status);
                s.violations.push(msg);
            } else if let Some(q) = s.queues.get_mut(q) {
                f(q);
            }
        };
        match offset {
            DEVICE_FEATURES_SEL => s.features_sel = v,
            DRIVER_FEATURES => {
                if s.has(status::DRIVER, status::FEATURES_OK | status::FAILED) {
                    let shift = 32 * s.acked_sel.min(1);
                    let word = (v as u64) << shift;
                    if word & !s.offered != 0 {
                        s.violations.push(format!("acked unoffered features {word:#x}"));
                    }
                    s.acked = (s.acked & !(0xffff_ffffu64 << shift)) | word;
                } else {
                    let msg = format!("ack virtio features in invalid state {:#x}", s.status);
                    s.violations.push(msg);
                }
            }
            DRIVER_FEATURES_SEL => s.acked_sel = v,
            QUEUE_SEL => s.queue_sel = v,
            QUEUE_NUM => queue(&mut s, &|q| q.size = v & 0xffff),
            QUEUE_READY => queue(&mut s, &|q| q.ready = v == 1),
            QUEUE_DESC_LOW => queue(&mut s, &|q| q.desc = (q.desc & !0xffff_ffff) | v as u64),
            QUEUE_DESC_HIGH => queue(&mut s, &|q| q.desc = (q.desc & 0xffff_ffff) | (v as u64) << 32),
            QUEUE_DRIVER_LOW => queue(&mut s, &|q| q.avail = (q.avail & !0xffff_ffff) | v as u64),
            QUEUE_DRIVER_HIGH => queue(&mut s, &|q| q.avail = (q.avail & 0xffff_ffff) | (v as u64) << 32),
            QUEUE_DEVICE_LOW => queue(&mut s, &|q| q.used = (q.used & !0xffff_ffff) | v as u64),
            QUEUE_DEVICE_HIGH => queue(&mut s, &|q| q.used = (q.used & 0xffff_ffff) | (v as u64) << 32),
            INTERRUPT_ACK => {
                if s.has(status::DRIVER_OK, 0) {
                    s.interrupt_status &= !v;
                } else {
                    s.violations.push("interrupt ack before DRIVER_OK".into());
                }
            }
            STATUS => s.set_status(v),
            // Notifications go through an ioeventfd in Firecracker and never reach the transport.
            QUEUE_NOTIFY => {}
            _ => s
                .violations
                .push(format!("unknown virtio mmio register write: {offset:#x}")),
        }
    }

    fn read8(&self, offset: usize) -> u8 {
        if offset < CONFIG {
            self.0
                .borrow_mut()
                .violations
                .push(format!("byte read of register {offset:#x}"));
        }
        0
    }
}

/// A lenient legacy (v1) device, as QEMU's default virtio-mmio.
pub struct LegacyDevice(RefCell<State>);

impl LegacyDevice {
    pub fn new(device_id: u32, offered: u64, max_queue: u32) -> Self {
        Self(RefCell::new(State {
            magic: MAGIC_VALUE,
            version: 1,
            device_id,
            offered,
            max_queue,
            ..State::default()
        }))
    }
    pub fn set_version(&self, v: u32) {
        self.0.borrow_mut().version = v;
    }
    pub fn pfn(&self) -> u32 {
        self.0.borrow().pfn
    }
    pub fn page_size(&self) -> u32 {
        self.0.borrow().page_size
    }
    pub fn status(&self) -> u32 {
        self.0.borrow().status
    }
}

impl Registers for &LegacyDevice {
    fn read32(&self, offset: usize) -> u32 {
        let s = self.0.borrow();
        match offset {
            MAGIC => s.magic,
            VERSION => s.version,
            DEVICE_ID => s.device_id,
            DEVICE_FEATURES => (s.offered >> (32 * s.features_sel.min(1))) as u32,
            QUEUE_NUM_MAX => s.max_queue,
            QUEUE_PFN => s.pfn,
            STATUS => s.status,
            _ => 0,
        }
    }

    fn write32(&self, offset: usize, v: u32) {
        let mut s = self.0.borrow_mut();
        match offset {
            DEVICE_FEATURES_SEL => s.features_sel = v,
            GUEST_PAGE_SIZE => s.page_size = v,
            QUEUE_PFN => s.pfn = v,
            STATUS => s.status = v,
            _ => {}
        }
    }

    fn read8(&self, _offset: usize) -> u8 {
        0
    }
}
