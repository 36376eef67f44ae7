//! virtio (`ember-virtio`): the MMIO transport against a device model, split virtqueues against a hostile device.

use crate::input::Input;
use ember_devmem::testing::VecMemory;
use ember_virtio::{
    Buffer, DmaMemory, QueueError, Registers, SplitQueue, Transport, UsedError, features, ring_bytes, status,
};
use std::cell::RefCell;

// Register offsets (virtio 1.2 §4.2.2, §4.2.4).
const MAGIC: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE_ID: usize = 0x008;
const DEVICE_FEATURES: usize = 0x010;
const DEVICE_FEATURES_SEL: usize = 0x014;
const DRIVER_FEATURES: usize = 0x020;
const DRIVER_FEATURES_SEL: usize = 0x024;
const GUEST_PAGE_SIZE: usize = 0x028;
const QUEUE_SEL: usize = 0x030;
const QUEUE_NUM_MAX: usize = 0x034;
const QUEUE_NUM: usize = 0x038;
const QUEUE_ALIGN: usize = 0x03c;
const QUEUE_PFN: usize = 0x040;
const QUEUE_READY: usize = 0x044;
const QUEUE_NOTIFY: usize = 0x050;
const INTERRUPT_ACK: usize = 0x064;
const STATUS: usize = 0x070;
const QUEUE_DESC_LOW: usize = 0x080;
const QUEUE_DEVICE_HIGH: usize = 0x0a4;
const CONFIG: usize = 0x100;

/// A device model: each register read answers what a well-behaved device of the input's version, type,
/// features and queue size would, or (when the input says so) any value at all. Writes are checked against
/// the rules Firecracker's `MmioTransport` enforces and recorded.
struct Device<'a> {
    input: RefCell<Input<'a>>,
    state: RefCell<State>,
    /// Whether any answer came from the input rather than the model.
    hostile: std::cell::Cell<bool>,
}

#[derive(Default)]
struct State {
    version: u32,
    device_id: u32,
    offered: u64,
    max_queue: u32,
    /// The device's status register as the driver set it.
    status: u32,
    features_sel: u32,
    driver_features_sel: u32,
    queue_sel: u32,
    /// What the driver was offered, as it read it (per selector).
    offered_seen: [Option<u32>; 2],
    /// The largest QueueNumMax the driver read for each queue selector it used.
    max_seen: Vec<(u32, u32)>,
    /// Modern queue address registers as written: (queue, register offset, value).
    queue_regs: Vec<(u32, usize, u32)>,
    /// Legacy queue page numbers as written: (queue, PFN).
    pfns: Vec<(u32, u32)>,
    /// Modern queues made ready.
    ready: Vec<u32>,
    /// Status values the driver wrote.
    status_writes: Vec<u32>,
    /// Rule breaks.
    violations: Vec<String>,
}

impl State {
    fn has(&self, set: u32, clear: u32) -> bool {
        self.status & set == set && self.status & clear == 0
    }

    fn write_status(&mut self, v: u32) {
        use status::*;
        self.status_writes.push(v);
        let next = if self.version == 2 {
            [(0, ACKNOWLEDGE), (1, 3), (3, 3 | FEATURES_OK), (0xb, 0xf)]
        } else {
            [(0, ACKNOWLEDGE), (1, 3), (3, 3 | DRIVER_OK), (u32::MAX, u32::MAX)]
        };
        if v & FAILED != 0 {
            self.status |= FAILED;
        } else if v == 0 {
            self.status = 0;
        } else if next.contains(&(self.status, v)) {
            self.status = v;
        } else {
            self.violations.push(format!("status {:#x} -> {v:#x}", self.status));
        }
    }
}

impl Device<'_> {
    /// The model's answer, or the input's.
    fn answer(&self, honest: u32) -> u32 {
        let mut input = self.input.borrow_mut();
        if input.u8() & 7 == 7 {
            self.hostile.set(true);
            input.u32()
        } else {
            honest
        }
    }
}

impl Registers for &Device<'_> {
    fn read32(&self, offset: usize) -> u32 {
        let honest = {
            let s = self.state.borrow();
            match offset {
                MAGIC => 0x7472_6976,
                VERSION => s.version,
                DEVICE_ID => s.device_id,
                DEVICE_FEATURES => (s.offered >> (32 * s.features_sel.min(1))) as u32,
                QUEUE_NUM_MAX if s.queue_sel < 2 => s.max_queue,
                QUEUE_PFN => s.pfns.iter().rev().find(|p| p.0 == s.queue_sel).map_or(0, |p| p.1),
                QUEUE_READY => u32::from(s.ready.contains(&s.queue_sel)),
                STATUS => s.status,
                _ => 0,
            }
        };
        let v = self.answer(honest);
        let mut s = self.state.borrow_mut();
        match offset {
            // The device is whatever version it claims: the rules follow what the driver was told.
            VERSION => s.version = v,
            DEVICE_FEATURES if s.features_sel < 2 => {
                let sel = s.features_sel as usize;
                s.offered_seen[sel] = Some(v);
            }
            QUEUE_NUM_MAX => {
                let q = s.queue_sel;
                s.max_seen.push((q, v));
            }
            _ => {}
        }
        v
    }

    fn write32(&self, offset: usize, v: u32) {
        let mut s = self.state.borrow_mut();
        let modern = s.version == 2;
        let queue_ok = if modern {
            s.has(status::FEATURES_OK, status::DRIVER_OK | status::FAILED)
        } else {
            s.has(status::DRIVER, status::DRIVER_OK | status::FAILED)
        };
        let live = s.has(status::DRIVER_OK, 0);
        let driver = s.has(status::DRIVER, status::FAILED);
        let rule = |s: &mut State, ok: bool, what: &str| {
            if !ok {
                let msg = format!("{what} ({offset:#x} = {v:#x}) in status {:#x}", s.status);
                s.violations.push(msg);
            }
        };
        match offset {
            DEVICE_FEATURES_SEL => s.features_sel = v,
            DRIVER_FEATURES_SEL => s.driver_features_sel = v,
            DRIVER_FEATURES => {
                let ok = s.has(status::DRIVER, status::FEATURES_OK | status::FAILED);
                rule(&mut s, ok, "features written");
                let sel = s.driver_features_sel.min(1) as usize;
                let seen = s.offered_seen[sel];
                if seen.is_none_or(|o| v & !o != 0) {
                    s.violations
                        .push(format!("acked {v:#x} of features {seen:?} (word {sel})"));
                }
            }
            GUEST_PAGE_SIZE => rule(&mut s, !modern && driver, "legacy page size"),
            QUEUE_SEL => s.queue_sel = v,
            QUEUE_NUM => rule(&mut s, queue_ok, "queue size"),
            QUEUE_ALIGN => rule(&mut s, !modern && queue_ok, "legacy queue align"),
            QUEUE_PFN => {
                rule(&mut s, !modern && queue_ok, "legacy queue PFN");
                let q = s.queue_sel;
                s.pfns.push((q, v));
            }
            QUEUE_READY => {
                rule(&mut s, modern && queue_ok && v == 1, "queue ready");
                let q = s.queue_sel;
                s.ready.push(q);
            }
            QUEUE_DESC_LOW..=QUEUE_DEVICE_HIGH => {
                rule(&mut s, modern && queue_ok, "queue address");
                let q = s.queue_sel;
                s.queue_regs.push((q, offset, v));
            }
            INTERRUPT_ACK => rule(&mut s, live, "interrupt ack"),
            STATUS => s.write_status(v),
            QUEUE_NOTIFY => rule(&mut s, live, "notify"),
            _ => s.violations.push(format!("write of unknown register {offset:#x}")),
        }
    }

    fn read8(&self, offset: usize) -> u8 {
        if offset < CONFIG {
            self.state
                .borrow_mut()
                .violations
                .push(format!("byte read of register {offset:#x}"));
        }
        self.answer(0) as u8
    }
}

/// Input: the device (version, type, features, queue size), what the driver wants, and which queues it sets
/// up; then the device's answers, each honest or hostile as the input says. Runs probe, negotiation, queue
/// setup, DRIVER_OK, interrupt acknowledgement and configuration reads, stopping at the first error as the
/// kernel does. Checks: the driver never breaks the device's rules (status one bit at a time, features only
/// from what was offered, queue registers only between FEATURES_OK and DRIVER_OK, no legacy register on a
/// modern device), marks the device FAILED on every error after probing, reports the features it agreed on
/// and the queue addresses it wrote, and with an honest device always succeeds when it should.
pub fn transport(data: &[u8]) {
    let mut input = Input::new(data);
    let version = match input.u8() % 4 {
        0 => 1,
        3 => input.u32(),
        _ => 2,
    };
    let state = State {
        version,
        device_id: u32::from(input.u8()),
        offered: input.u64() | if input.bool() { features::VERSION_1 } else { 0 },
        max_queue: u32::from(input.u16()),
        ..State::default()
    };
    let wanted = input.u64();
    let queues: Vec<(u16, u16, u64)> = (0..input.below(3))
        .map(|_| {
            let base = if input.bool() {
                u64::from(input.u32()) << 12
            } else {
                input.u64() >> 8
            };
            (input.u8() as u16 % 3, 1 << input.below(9), base)
        })
        .collect();
    let expected_ok = honest_outcome(&state, &queues);
    let device = Device {
        input: RefCell::new(input),
        state: RefCell::new(state),
        hostile: std::cell::Cell::new(false),
    };
    let Ok(mut t) = Transport::probe(&device) else {
        assert!(device.state.borrow().status_writes.is_empty(), "probe wrote");
        let s = device.state.borrow();
        assert!(
            device.hostile.get() || !(1..=2).contains(&s.version) || s.device_id == 0,
            "probe failed"
        );
        return;
    };
    let result = run(&mut t, &device, wanted, &queues);
    let s = device.state.borrow();
    assert!(
        s.violations.is_empty(),
        "{:?}\nstatus writes {:x?}",
        s.violations,
        s.status_writes
    );
    if !device.hostile.get() {
        assert_eq!(result.is_ok(), expected_ok, "{result:?} from an honest device");
    }
    match result {
        Ok(agreed) => {
            let offered = u64::from(s.offered_seen[0].unwrap_or(0)) | u64::from(s.offered_seen[1].unwrap_or(0)) << 32;
            assert_eq!(agreed & !offered, 0, "agreed {agreed:#x} of {offered:#x}");
            assert_eq!(
                agreed & features::VERSION_1 != 0,
                t.version() == 2,
                "VERSION_1 in {agreed:#x}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
            let last = s.status_writes.last().copied().unwrap_or(0);
            assert!(
                last & status::FAILED != 0,
                "{e:?} without FAILED: {:x?}",
                s.status_writes
            );
        }
    }
}

/// Whether bring-up must succeed on an honest device: a modern one offers VERSION_1, and every queue exists,
/// is big enough, is set up once, and (legacy) lies on a page other than 0 below 16 TiB.
fn honest_outcome(s: &State, queues: &[(u16, u16, u64)]) -> bool {
    if s.version == 2 && s.offered & features::VERSION_1 == 0 {
        return false;
    }
    let mut done = Vec::new();
    queues.iter().all(|&(index, size, base)| {
        let pfn = base / 4096;
        let legacy_ok = s.version == 2 || (base.is_multiple_of(4096) && pfn != 0 && pfn <= u64::from(u32::MAX));
        let ok = index < 2 && u32::from(size) <= s.max_queue && !done.contains(&index) && legacy_ok;
        done.push(index);
        ok
    })
}

/// The kernel's bring-up sequence. Returns the agreed features.
fn run(
    t: &mut Transport<&Device>,
    device: &Device,
    wanted: u64,
    queues: &[(u16, u16, u64)],
) -> Result<u64, ember_virtio::TransportError> {
    let agreed = t.negotiate(wanted)?;
    for &(index, size, base) in queues {
        let Ok(q) = SplitQueue::new(VecMemory::new(ring_bytes(size).0, base), size) else {
            continue;
        };
        t.setup_queue(index, &q)?;
        let s = device.state.borrow();
        let max = s
            .max_seen
            .iter()
            .rev()
            .find(|m| m.0 == u32::from(index))
            .map_or(0, |m| m.1);
        assert!(
            u32::from(size) <= max,
            "queue of {size} set up where the device allows {max}"
        );
        let (desc, avail, used) = q.addresses();
        if t.version() == 2 {
            let written: Vec<u32> = s.queue_regs.iter().rev().take(6).rev().map(|r| r.2).collect();
            let addr = |i: usize| u64::from(written[i]) | u64::from(written[i + 1]) << 32;
            assert_eq!([addr(0), addr(2), addr(4)], [desc.get(), avail.get(), used.get()]);
            assert!(
                s.queue_regs
                    .iter()
                    .rev()
                    .take(6)
                    .all(|r| r.0 == u32::from(index) && r.1 >= QUEUE_DESC_LOW)
            );
        } else {
            let pfn = s.pfns.last().map_or(0, |p| p.1);
            assert_eq!(u64::from(pfn) * 4096, desc.get(), "legacy PFN");
        }
    }
    t.finish();
    let _ = t.ack_interrupt();
    let _ = t.config::<8>(0);
    t.notify(0);
    Ok(agreed)
}

/// Size of the buffer memory requests point into.
const DATA_LEN: usize = 4096;
const DATA_BASE: u64 = 0x10_0000;

/// One request in flight, as the model knows it.
struct Request {
    head: u16,
    descriptors: Vec<u16>,
    writable: u32,
}

/// Input: a queue size, then operations: queue a request (buffers anywhere, some out of bounds), let the
/// device complete one (honestly or with any id and length, moving the used index by any amount), let the
/// device scribble on any ring byte, pop a completion. Checks against a model of the requests in flight: a
/// request gets descriptors no other request holds, written as asked and published in the available ring; a
/// pop returns exactly what the used ring says when that is believable and the matching error when it is
/// not; free descriptors always add up.
pub fn virtqueue(data: &[u8]) {
    let mut input = Input::new(data);
    let size: u16 = 1 << input.below(8);
    let (ring_len, avail, used) = ring_bytes(size);
    let ring = VecMemory::new(ring_len, 0x20_0000);
    let buffers = VecMemory::new(DATA_LEN, DATA_BASE);
    let mut q = SplitQueue::new(&ring, size).expect("a power-of-two queue in memory of ring_bytes");
    let mut in_flight: Vec<Request> = Vec::new();
    let (mut avail_idx, mut last_used, mut broken) = (0u16, 0u16, false);
    let n = u32::from(size);
    while !input.is_empty() {
        match input.u8() % 4 {
            0 => {
                let list: Vec<Buffer> = (0..input.below(5))
                    .map(|_| Buffer {
                        mem: &buffers,
                        offset: input.below(DATA_LEN + 64),
                        len: input.below(DATA_LEN + 64) as u32,
                        device_writes: input.bool(),
                    })
                    .collect();
                let free = q.free_descriptors();
                let fits = |b: &Buffer| b.offset < DATA_LEN && b.offset + b.len as usize <= DATA_LEN;
                let expected = if broken {
                    Err(QueueError::Broken)
                } else if list.is_empty() {
                    Err(QueueError::Empty)
                } else if list.len() > free {
                    Err(QueueError::Full)
                } else if !list.iter().all(fits) {
                    Err(QueueError::OutOfBounds)
                } else {
                    Ok(())
                };
                let got = q.add(&list);
                assert_eq!(got.map(|_| ()), expected, "add of {} buffers", list.len());
                let Ok(head) = got else { continue };
                let descriptors = check_chain(&ring, head, &list);
                for r in &in_flight {
                    assert!(
                        r.descriptors.iter().all(|d| !descriptors.contains(d)),
                        "descriptor handed out twice"
                    );
                }
                let slot = avail + 4 + 2 * usize::from(avail_idx % size);
                avail_idx = avail_idx.wrapping_add(1);
                assert_eq!(
                    (ring.read16(slot), ring.read16(avail + 2)),
                    (head, avail_idx),
                    "available ring"
                );
                let writable = list
                    .iter()
                    .filter(|b| b.device_writes)
                    .fold(0u32, |s, b| s.saturating_add(b.len));
                in_flight.push(Request {
                    head,
                    descriptors,
                    writable,
                });
            }
            1 => {
                let used_idx = ring.read16(used + 2);
                let slot = used + 4 + 8 * usize::from(used_idx % size);
                let (id, len) = match (input.u8() % 3, in_flight.first()) {
                    (0, Some(r)) => (u32::from(r.head), input.u32() % r.writable.saturating_add(1)),
                    _ => (input.u32() % (2 * n), input.u32()),
                };
                ring.write32(slot, id);
                ring.write32(slot + 4, len);
                let step = if input.u8().is_multiple_of(8) { input.u16() } else { 1 };
                ring.write16(used + 2, used_idx.wrapping_add(step));
            }
            2 => {
                let at = input.below(ring_len - 1);
                ring.write16(at, input.u16());
            }
            _ => {
                let used_idx = ring.read16(used + 2);
                let expected = if broken || used_idx == last_used {
                    None
                } else if used_idx.wrapping_sub(last_used) > size {
                    broken = true;
                    Some(Err(UsedError::IndexJump))
                } else {
                    let slot = used + 4 + 8 * usize::from(last_used % size);
                    let (id, len) = (ring.read32(slot), ring.read32(slot + 4));
                    last_used = last_used.wrapping_add(1);
                    match in_flight.iter().position(|r| u32::from(r.head) == id) {
                        _ if id >= n => Some(Err(UsedError::BadId(id))),
                        None => Some(Err(UsedError::NotInFlight(id))),
                        Some(i) => {
                            let r = in_flight.swap_remove(i);
                            Some(if len > r.writable {
                                Err(UsedError::LengthTooLarge {
                                    head: r.head,
                                    len,
                                    max: r.writable,
                                })
                            } else {
                                Ok((r.head, len))
                            })
                        }
                    }
                };
                assert_eq!(q.has_used(), expected.is_some());
                assert_eq!(q.pop_used(), expected);
            }
        }
        assert_eq!(q.is_broken(), broken);
        let held: usize = in_flight.iter().map(|r| r.descriptors.len()).sum();
        assert_eq!(
            q.free_descriptors() + held,
            usize::from(size),
            "descriptors lost or made up"
        );
    }
}

/// Reads the chain the queue wrote at `head` and checks it describes `list`; returns its descriptor indices.
fn check_chain(ring: &VecMemory, head: u16, list: &[Buffer]) -> Vec<u16> {
    let mut ids = Vec::new();
    let mut d = head;
    for (i, b) in list.iter().enumerate() {
        assert!(!ids.contains(&d), "descriptor {d} twice in one chain");
        ids.push(d);
        let at = 16 * usize::from(d);
        let addr = u64::from(ring.read32(at)) | u64::from(ring.read32(at + 4)) << 32;
        let flags = ring.read16(at + 12);
        assert_eq!(addr, DATA_BASE + b.offset as u64, "descriptor {d} address");
        assert_eq!(ring.read32(at + 8), b.len, "descriptor {d} length");
        assert_eq!(flags & 2 != 0, b.device_writes, "descriptor {d} write flag");
        assert_eq!(flags & 1 != 0, i + 1 < list.len(), "descriptor {d} next flag");
        d = ring.read16(at + 14);
    }
    ids
}
