//! Split virtqueues (virtio 1.2 §2.7), with the device treated as untrusted: whatever it writes into the used
//! ring is checked before it is believed, and a misbehaving device costs at most its own requests.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{Ordering, fence};
use ember_devmem::{DeviceAddr, DmaMemory};

const DESC_SIZE: usize = 16;
const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;
/// The used ring's flag by which the device says it needs no notifications (it polls the ring meanwhile).
const USED_F_NO_NOTIFY: u16 = 1;
/// The used ring starts on this boundary (the legacy interface's QueueAlign).
const USED_ALIGN: usize = 4096;

/// The bytes a queue of `size` entries needs, and where its available and used rings start. The layout is the
/// legacy one (used ring page-aligned), which modern devices accept too.
pub const fn ring_bytes(size: u16) -> (usize, usize, usize) {
    let n = size as usize;
    let avail = DESC_SIZE * n;
    let used = (avail + 6 + 2 * n).next_multiple_of(USED_ALIGN);
    (used + 6 + 8 * n, avail, used)
}

/// One buffer of a request: `len` bytes at `offset` in DMA memory, and whether the device writes them. The
/// queue computes the device address itself, after checking the bytes lie inside `mem`.
#[derive(Clone, Copy)]
pub struct Buffer<'a> {
    /// The DMA memory holding it.
    pub mem: &'a dyn DmaMemory,
    /// Offset in `mem`.
    pub offset: usize,
    /// Length in bytes.
    pub len: u32,
    /// The device writes it (else it only reads it).
    pub device_writes: bool,
}

/// Why a request could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Not enough free descriptors.
    Full,
    /// A request needs at least one buffer.
    Empty,
    /// The device misbehaved earlier; the queue is out of service.
    Broken,
    /// A buffer reaches past the end of its DMA memory.
    OutOfBounds,
    /// The ring memory is smaller than [`ring_bytes`] asks, or the size is not a power of two up to 32768.
    BadRing,
}

/// Something wrong in what the device wrote to the used ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsedError {
    /// The used index moved by more than the queue size: nothing it says can be trusted any more.
    IndexJump,
    /// A used entry names a descriptor outside the queue.
    BadId(u32),
    /// A used entry names a descriptor that is not the head of a request in flight.
    NotInFlight(u32),
    /// The device claims to have written more than the request's writable buffers hold.
    LengthTooLarge {
        /// The request's head descriptor.
        head: u16,
        /// What the device claimed.
        len: u32,
        /// What the request could hold.
        max: u32,
    },
}

impl fmt::Display for UsedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsedError::IndexJump => write!(f, "the used index jumped past the queue size"),
            UsedError::BadId(id) => write!(f, "used entry names descriptor {id}, outside the queue"),
            UsedError::NotInFlight(id) => write!(f, "used entry names descriptor {id}, not in flight"),
            UsedError::LengthTooLarge { head, len, max } => {
                write!(f, "request {head}: the device claims {len} bytes written into {max}")
            }
        }
    }
}

#[derive(Clone, Copy)]
struct InFlight {
    descriptors: u16,
    writable: u32,
}

/// A split virtqueue over its ring memory.
pub struct SplitQueue<M: DmaMemory> {
    mem: M,
    size: u16,
    /// Device addresses of the descriptor table, the available ring and the used ring.
    addresses: (DeviceAddr, DeviceAddr, DeviceAddr),
    avail: usize,
    used: usize,
    /// Free descriptor indices (a stack).
    free: Vec<u16>,
    /// Indexed by head descriptor.
    in_flight: Vec<Option<InFlight>>,
    /// Next chain of each descriptor, as we wrote it (never read back from shared memory).
    next: Vec<u16>,
    avail_idx: u16,
    last_used: u16,
    broken: bool,
}

impl<M: DmaMemory> SplitQueue<M> {
    /// A queue of `size` entries (a power of two, at most 32768) in `mem`, which must be zeroed and at least
    /// [`ring_bytes`]`(size).0` bytes long.
    pub fn new(mem: M, size: u16) -> Result<Self, QueueError> {
        if !size.is_power_of_two() || size > 32768 {
            return Err(QueueError::BadRing);
        }
        let (_, avail, used) = ring_bytes(size);
        let n = size as usize;
        let addresses = (
            mem.device_addr(0, DESC_SIZE * n),
            mem.device_addr(avail, 6 + 2 * n),
            mem.device_addr(used, 6 + 8 * n),
        );
        let (Some(d), Some(a), Some(u)) = addresses else {
            return Err(QueueError::BadRing);
        };
        Ok(Self {
            mem,
            size,
            addresses: (d, a, u),
            avail,
            used,
            free: (0..size).rev().collect(),
            in_flight: alloc::vec![None; size as usize],
            next: alloc::vec![0; size as usize],
            avail_idx: 0,
            last_used: 0,
            broken: false,
        })
    }

    /// Number of entries.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Device addresses of the descriptor table, the available ring and the used ring.
    pub fn addresses(&self) -> (DeviceAddr, DeviceAddr, DeviceAddr) {
        self.addresses
    }

    /// Free descriptors.
    pub fn free_descriptors(&self) -> usize {
        self.free.len()
    }

    /// Whether the device broke the queue.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Queues one request made of `buffers` (device-readable ones first, as the spec requires of drivers).
    /// Returns the head descriptor, which [`SplitQueue::pop_used`] reports when the device is done.
    pub fn add(&mut self, buffers: &[Buffer]) -> Result<u16, QueueError> {
        if self.broken {
            return Err(QueueError::Broken);
        }
        if buffers.is_empty() {
            return Err(QueueError::Empty);
        }
        if buffers.len() > self.free.len() {
            return Err(QueueError::Full);
        }
        // Every address is computed, bounds-checked, before anything is written.
        let mut addrs = Vec::with_capacity(buffers.len());
        for b in buffers {
            let a = b.mem.device_addr(b.offset, b.len as usize);
            addrs.push(a.ok_or(QueueError::OutOfBounds)?);
        }
        let ids: Vec<u16> = (0..buffers.len()).filter_map(|_| self.free.pop()).collect();
        let mut writable = 0u32;
        for (i, ((b, &id), addr)) in buffers.iter().zip(&ids).zip(&addrs).enumerate() {
            let next = ids.get(i + 1).copied();
            let mut flags = if b.device_writes { F_WRITE } else { 0 };
            if next.is_some() {
                flags |= F_NEXT;
            }
            if b.device_writes {
                writable = writable.saturating_add(b.len);
            }
            let d = DESC_SIZE * id as usize;
            self.mem.write64(d, addr.get());
            self.mem.write32(d + 8, b.len);
            self.mem.write16(d + 12, flags);
            self.mem.write16(d + 14, next.unwrap_or(0));
            self.next[id as usize] = next.unwrap_or(u16::MAX);
        }
        let head = ids[0];
        self.in_flight[head as usize] = Some(InFlight {
            descriptors: ids.len() as u16,
            writable,
        });
        let slot = self.avail + 4 + 2 * (self.avail_idx % self.size) as usize;
        self.mem.write16(slot, head);
        // The descriptors and the ring entry must be visible before the index that publishes them.
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem.write16(self.avail + 2, self.avail_idx);
        fence(Ordering::SeqCst);
        Ok(head)
    }

    /// Whether the device wants to be told about the buffers just added: false while it has set
    /// `VIRTQ_USED_F_NO_NOTIFY` in the used ring (virtio 1.2 §2.7.10; ember does not negotiate
    /// `VIRTIO_F_EVENT_IDX`). Call after [`Queue::add`]; a device that lies here only delays its own requests.
    pub fn needs_notify(&self) -> bool {
        // The published available index must be visible before the flag is read (a store, then a load).
        fence(Ordering::SeqCst);
        self.mem.read16(self.used) & USED_F_NO_NOTIFY == 0
    }

    /// Whether the device has returned something not yet popped.
    pub fn has_used(&self) -> bool {
        !self.broken && self.mem.read16(self.used + 2) != self.last_used
    }

    /// Takes the next request the device finished: its head descriptor and the bytes it says it wrote. An
    /// entry that cannot be trusted gives an error (and, where the request is known, frees it).
    pub fn pop_used(&mut self) -> Option<Result<(u16, u32), UsedError>> {
        if self.broken {
            return None;
        }
        let used_idx = self.mem.read16(self.used + 2);
        if used_idx == self.last_used {
            return None;
        }
        if used_idx.wrapping_sub(self.last_used) > self.size {
            self.broken = true;
            return Some(Err(UsedError::IndexJump));
        }
        // Read the entry only after seeing the index that publishes it.
        fence(Ordering::SeqCst);
        let slot = self.used + 4 + 8 * (self.last_used % self.size) as usize;
        let id = self.mem.read32(slot);
        let len = self.mem.read32(slot + 4);
        self.last_used = self.last_used.wrapping_add(1);
        if id >= self.size as u32 {
            return Some(Err(UsedError::BadId(id)));
        }
        let head = id as u16;
        let Some(req) = self.in_flight[head as usize].take() else {
            return Some(Err(UsedError::NotInFlight(id)));
        };
        // Free the chain by following our own record of it, never the shared descriptors.
        let mut d = head;
        for _ in 0..req.descriptors {
            self.free.push(d);
            d = self.next[d as usize];
        }
        if len > req.writable {
            return Some(Err(UsedError::LengthTooLarge {
                head,
                len,
                max: req.writable,
            }));
        }
        Some(Ok((head, len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_devmem::testing::VecMemory;

    fn queue(size: u16) -> SplitQueue<VecMemory> {
        SplitQueue::new(VecMemory::new(ring_bytes(size).0, 0x4000_0000), size).unwrap()
    }

    /// Request memory at device address 0x1000: header at 0, data at 0x1000, status at 0x2000.
    fn request_memory() -> VecMemory {
        VecMemory::new(0x3000, 0x1000)
    }

    /// Plays the device: takes the next available chain and returns it with `len`.
    fn device_completes(q: &SplitQueue<VecMemory>, n: u16, len: u32) {
        let m = &q.mem;
        let used_idx = m.read16(q.used + 2);
        let avail_slot = q.avail + 4 + 2 * (n % q.size) as usize;
        let head = m.read16(avail_slot);
        let slot = q.used + 4 + 8 * (used_idx % q.size) as usize;
        m.write32(slot, head as u32);
        m.write32(slot + 4, len);
        m.write16(q.used + 2, used_idx.wrapping_add(1));
    }

    fn blk_request(mem: &VecMemory) -> [Buffer<'_>; 3] {
        [
            Buffer {
                mem,
                offset: 0,
                len: 16,
                device_writes: false,
            },
            Buffer {
                mem,
                offset: 0x1000,
                len: 512,
                device_writes: true,
            },
            Buffer {
                mem,
                offset: 0x2000,
                len: 1,
                device_writes: true,
            },
        ]
    }

    #[test]
    fn layout_matches_the_legacy_interface() {
        assert_eq!(ring_bytes(128), (4096 + 6 + 8 * 128, 2048, 4096));
        assert_eq!(ring_bytes(256), (8192 + 6 + 8 * 256, 4096, 8192));
    }

    #[test]
    fn chains_are_written_and_completed() {
        let m = request_memory();
        let mut q = queue(8);
        let head = q.add(&blk_request(&m)).unwrap();
        assert_eq!(q.free_descriptors(), 5);
        let d = 16 * head as usize;
        assert_eq!(q.mem.read32(d + 8), 16);
        assert_eq!(q.mem.read16(d + 12), F_NEXT);
        let second = q.mem.read16(d + 14) as usize * 16;
        assert_eq!(q.mem.read16(second + 12), F_NEXT | F_WRITE);
        assert_eq!(q.mem.read16(q.avail + 2), 1);
        assert!(!q.has_used());
        device_completes(&q, 0, 513);
        assert_eq!(q.pop_used(), Some(Ok((head, 513))));
        assert_eq!(q.pop_used(), None);
        assert_eq!(q.free_descriptors(), 8);
    }

    #[test]
    fn notifications_follow_the_devices_flag() {
        let m = request_memory();
        let mut q = queue(8);
        q.add(&blk_request(&m)).unwrap();
        assert!(q.needs_notify());
        q.mem.write16(q.used, USED_F_NO_NOTIFY);
        assert!(!q.needs_notify());
        q.mem.write16(q.used, 2);
        assert!(q.needs_notify());
    }

    #[test]
    fn several_in_flight_complete_out_of_order_and_indices_wrap() {
        let m = request_memory();
        let mut q = queue(4);
        for round in 0..40_000u32 {
            let a = q.add(&blk_request(&m)[..2]).unwrap();
            let b = q.add(&blk_request(&m)[..1]).unwrap();
            assert_eq!(q.add(&blk_request(&m)), Err(QueueError::Full));
            let n = q.avail_idx;
            device_completes(&q, n.wrapping_sub(1), 0);
            device_completes(&q, n.wrapping_sub(2), round % 512);
            assert_eq!(q.pop_used(), Some(Ok((b, 0))));
            assert_eq!(q.pop_used(), Some(Ok((a, round % 512))));
        }
        assert_eq!(q.free_descriptors(), 4);
    }

    #[test]
    fn a_lying_device_is_caught() {
        let m = request_memory();
        let mut q = queue(8);
        let head = q.add(&blk_request(&m)).unwrap();
        device_completes(&q, 0, 100_000);
        assert_eq!(
            q.pop_used(),
            Some(Err(UsedError::LengthTooLarge {
                head,
                len: 100_000,
                max: 513
            }))
        );
        assert_eq!(q.free_descriptors(), 8);

        // An id outside the queue, then one that is not in flight.
        q.mem.write32(q.used + 4 + 8, 99);
        q.mem.write16(q.used + 2, 2);
        assert_eq!(q.pop_used(), Some(Err(UsedError::BadId(99))));
        q.mem.write32(q.used + 4 + 16, 3);
        q.mem.write16(q.used + 2, 3);
        assert_eq!(q.pop_used(), Some(Err(UsedError::NotInFlight(3))));

        // The used index leaps: the queue is taken out of service.
        q.mem.write16(q.used + 2, 3 + 9);
        assert_eq!(q.pop_used(), Some(Err(UsedError::IndexJump)));
        assert!(q.is_broken());
        assert_eq!(q.pop_used(), None);
        assert_eq!(q.add(&blk_request(&m)), Err(QueueError::Broken));
    }

    #[test]
    fn a_device_rewriting_descriptors_cannot_corrupt_the_free_list() {
        let m = request_memory();
        let mut q = queue(4);
        let head = q.add(&blk_request(&m)).unwrap();
        // The device scribbles over the chain's next fields.
        for i in 0..4 {
            q.mem.write16(16 * i + 14, 0);
        }
        device_completes(&q, 0, 1);
        assert_eq!(q.pop_used(), Some(Ok((head, 1))));
        let mut ids: Vec<u16> = q.free.clone();
        ids.sort();
        assert_eq!(ids, vec![0, 1, 2, 3]);
    }

    #[test]
    fn descriptors_carry_device_addresses_computed_from_the_memory() {
        let m = request_memory();
        let mut q = queue(8);
        let head = q.add(&blk_request(&m)).unwrap();
        let d = 16 * head as usize;
        let second = q.mem.read16(d + 14) as usize * 16;
        let third = q.mem.read16(second + 14) as usize * 16;
        let addr = |at: usize| q.mem.read32(at) as u64 | (q.mem.read32(at + 4) as u64) << 32;
        assert_eq!((addr(d), addr(second), addr(third)), (0x1000, 0x2000, 0x3000));
        let (desc, avail, used) = q.addresses();
        assert_eq!(
            (desc.get(), avail.get(), used.get()),
            (0x4000_0000, 0x4000_0080, 0x4000_1000)
        );
    }

    #[test]
    fn buffers_outside_their_memory_are_refused_before_anything_is_written() {
        let m = request_memory();
        let mut q = queue(8);
        let mut request = blk_request(&m);
        request[1].offset = 0x2F00;
        request[1].len = 0x101;
        assert_eq!(q.add(&request), Err(QueueError::OutOfBounds));
        request[1].offset = usize::MAX;
        request[1].len = 2;
        assert_eq!(q.add(&request), Err(QueueError::OutOfBounds));
        assert_eq!(q.free_descriptors(), 8);
        assert_eq!(q.mem.read16(q.avail + 2), 0);
        assert!((0..16 * 8).step_by(4).all(|at| q.mem.read32(at) == 0));
    }

    #[test]
    fn rings_that_do_not_fit_their_memory_are_refused() {
        let small = VecMemory::new(ring_bytes(8).0 - 1, 0x4000_0000);
        assert!(matches!(SplitQueue::new(small, 8), Err(QueueError::BadRing)));
        let mem = VecMemory::new(ring_bytes(8).0, 0x4000_0000);
        assert!(matches!(SplitQueue::new(mem, 6), Err(QueueError::BadRing)));
    }

    #[test]
    fn empty_requests_are_refused() {
        assert_eq!(queue(4).add(&[]), Err(QueueError::Empty));
    }
}
