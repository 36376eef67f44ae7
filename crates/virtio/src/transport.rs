//! The virtio-mmio transport: probing, the initialization sequence of virtio 1.2 §3.1.1 with every status bit
//! in its own write (Firecracker accepts nothing else), queue setup for modern (v2) and legacy (v1) devices,
//! notification, interrupt acknowledgement and configuration reads.

use crate::regs::*;
use crate::{DmaMemory, SplitQueue};
use core::fmt;

/// How many status reads a reset may take before the device is given up on.
const RESET_POLLS: usize = 1000;
/// The legacy interface's page size: queue addresses are given in pages of this size.
const LEGACY_PAGE: u64 = 4096;

/// Why a device could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No virtio magic at this address.
    NoMagic(u32),
    /// A transport version other than 1 (legacy) or 2 (modern).
    BadVersion(u32),
    /// The slot exists but holds no device (device ID 0, as QEMU's empty slots).
    Empty,
    /// The device did not come out of reset.
    ResetTimeout,
    /// A modern device that does not offer VERSION_1.
    NoVersion1,
    /// The device did not accept the negotiated features (FEATURES_OK did not stick).
    FeaturesRejected,
    /// The queue does not exist (QueueNumMax is 0).
    NoQueue(u16),
    /// The queue is already live (QueueReady is set).
    QueueBusy(u16),
    /// The queue size asked for is larger than the device allows.
    QueueTooLarge(u16),
    /// A legacy device cannot reach the queue (its address needs more than 32 bits of page number, lies in
    /// page 0, whose number means "no queue", or the rings are not laid out the legacy way).
    QueueUnreachable(u16),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::NoMagic(v) => write!(f, "no virtio magic (read {v:#x})"),
            TransportError::BadVersion(v) => write!(f, "unknown virtio-mmio version {v}"),
            TransportError::Empty => write!(f, "empty slot (device ID 0)"),
            TransportError::ResetTimeout => write!(f, "the device did not reset"),
            TransportError::NoVersion1 => write!(f, "a modern device without VERSION_1"),
            TransportError::FeaturesRejected => write!(f, "the device rejected the features (FEATURES_OK not set)"),
            TransportError::NoQueue(q) => write!(f, "queue {q} does not exist"),
            TransportError::QueueBusy(q) => write!(f, "queue {q} is already in use"),
            TransportError::QueueTooLarge(q) => write!(f, "queue {q} is smaller than asked"),
            TransportError::QueueUnreachable(q) => write!(f, "queue {q} is out of the legacy device's reach"),
        }
    }
}

/// One virtio-mmio device.
pub struct Transport<R: Registers> {
    regs: R,
    version: u32,
    device: DeviceType,
    features: u64,
}

impl<R: Registers> Transport<R> {
    /// Checks that a virtio device sits behind `regs`. Reads only the identification registers.
    pub fn probe(regs: R) -> Result<Self, TransportError> {
        let magic = regs.read32(MAGIC);
        if magic != MAGIC_VALUE {
            return Err(TransportError::NoMagic(magic));
        }
        let version = regs.read32(VERSION);
        if !(1..=2).contains(&version) {
            return Err(TransportError::BadVersion(version));
        }
        let id = regs.read32(DEVICE_ID);
        if id == 0 {
            return Err(TransportError::Empty);
        }
        let _vendor = regs.read32(VENDOR_ID);
        Ok(Self {
            regs,
            version,
            device: DeviceType::from_id(id),
            features: 0,
        })
    }

    /// 1 for legacy, 2 for modern.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// What kind of device this is.
    pub fn device_type(&self) -> DeviceType {
        self.device
    }

    /// The features agreed on by [`Transport::negotiate`].
    pub fn features(&self) -> u64 {
        self.features
    }

    fn modern(&self) -> bool {
        self.version == 2
    }

    fn set_status(&self, value: u32) {
        self.regs.write32(STATUS, value);
    }

    /// Resets the device, then ACKNOWLEDGE, DRIVER, feature negotiation (the device's features that are in
    /// `wanted`, plus VERSION_1 on a modern device) and, for modern devices, FEATURES_OK read back. Returns the
    /// negotiated features. On error the device is marked FAILED and must be left alone.
    pub fn negotiate(&mut self, wanted: u64) -> Result<u64, TransportError> {
        self.set_status(0);
        if !(0..RESET_POLLS).any(|_| self.regs.read32(STATUS) == 0) {
            return Err(self.fail(TransportError::ResetTimeout));
        }
        self.set_status(status::ACKNOWLEDGE);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER);
        self.regs.write32(DEVICE_FEATURES_SEL, 0);
        let low = self.regs.read32(DEVICE_FEATURES) as u64;
        self.regs.write32(DEVICE_FEATURES_SEL, 1);
        let offered = low | (self.regs.read32(DEVICE_FEATURES) as u64) << 32;
        let wanted = if self.modern() {
            if offered & features::VERSION_1 == 0 {
                return Err(self.fail(TransportError::NoVersion1));
            }
            wanted | features::VERSION_1
        } else {
            wanted & !features::VERSION_1
        };
        let agreed = offered & wanted;
        self.regs.write32(DRIVER_FEATURES_SEL, 0);
        self.regs.write32(DRIVER_FEATURES, agreed as u32);
        self.regs.write32(DRIVER_FEATURES_SEL, 1);
        self.regs.write32(DRIVER_FEATURES, (agreed >> 32) as u32);
        if self.modern() {
            let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
            self.set_status(s);
            if self.regs.read32(STATUS) & status::FEATURES_OK == 0 {
                return Err(self.fail(TransportError::FeaturesRejected));
            }
        } else {
            self.regs.write32(GUEST_PAGE_SIZE, LEGACY_PAGE as u32);
        }
        self.features = agreed;
        Ok(agreed)
    }

    /// The largest size queue `index` allows (0: no such queue).
    pub fn queue_max(&self, index: u16) -> u16 {
        self.regs.write32(QUEUE_SEL, index as u32);
        self.regs.read32(QUEUE_NUM_MAX).min(u16::MAX as u32) as u16
    }

    /// Gives queue `index` the rings of `queue` (their device addresses, which only the queue's DMA memory can
    /// produce). A legacy device needs the layout of [`crate::ring_bytes`] starting on a 4 KiB page other than
    /// page 0, below 16 TiB. On error the device is FAILED.
    pub fn setup_queue<M: DmaMemory>(&mut self, index: u16, queue: &SplitQueue<M>) -> Result<(), TransportError> {
        let size = queue.size();
        let (desc, avail, used) = queue.addresses();
        let (desc, avail, used) = (desc.get(), avail.get(), used.get());
        let max = self.queue_max(index);
        if max == 0 {
            return Err(self.fail(TransportError::NoQueue(index)));
        }
        if size > max {
            return Err(self.fail(TransportError::QueueTooLarge(index)));
        }
        if self.modern() {
            if self.regs.read32(QUEUE_READY) != 0 {
                return Err(self.fail(TransportError::QueueBusy(index)));
            }
            self.regs.write32(QUEUE_NUM, size as u32);
            self.regs.write32(QUEUE_DESC_LOW, desc as u32);
            self.regs.write32(QUEUE_DESC_HIGH, (desc >> 32) as u32);
            self.regs.write32(QUEUE_DRIVER_LOW, avail as u32);
            self.regs.write32(QUEUE_DRIVER_HIGH, (avail >> 32) as u32);
            self.regs.write32(QUEUE_DEVICE_LOW, used as u32);
            self.regs.write32(QUEUE_DEVICE_HIGH, (used >> 32) as u32);
            self.regs.write32(QUEUE_READY, 1);
        } else {
            let (_, avail_off, used_off) = crate::ring_bytes(size);
            let pfn = desc / LEGACY_PAGE;
            let legacy_layout = avail == desc + avail_off as u64 && used == desc + used_off as u64;
            // QueuePFN 0 means "no queue" to a legacy device: rings in page 0 cannot be given to it.
            if !desc.is_multiple_of(LEGACY_PAGE) || pfn == 0 || pfn > u32::MAX as u64 || !legacy_layout {
                return Err(self.fail(TransportError::QueueUnreachable(index)));
            }
            if self.regs.read32(QUEUE_PFN) != 0 {
                return Err(self.fail(TransportError::QueueBusy(index)));
            }
            self.regs.write32(QUEUE_NUM, size as u32);
            self.regs.write32(QUEUE_ALIGN, LEGACY_PAGE as u32);
            self.regs.write32(QUEUE_PFN, pfn as u32);
        }
        Ok(())
    }

    /// Sets DRIVER_OK: the device is live.
    pub fn finish(&mut self) {
        let features_ok = if self.modern() { status::FEATURES_OK } else { 0 };
        self.set_status(status::ACKNOWLEDGE | status::DRIVER | features_ok | status::DRIVER_OK);
    }

    /// Marks the device FAILED (keeping the other status bits) and returns `e`.
    pub fn fail(&self, e: TransportError) -> TransportError {
        let current = self.regs.read32(STATUS);
        self.set_status(current | status::FAILED);
        e
    }

    /// Tells the device that queue `index` has new buffers.
    pub fn notify(&self, index: u16) {
        self.regs.write32(QUEUE_NOTIFY, index as u32);
    }

    /// Reads and acknowledges the interrupt status (bit 0: used buffers, bit 1: configuration change).
    pub fn ack_interrupt(&self) -> u32 {
        ack_interrupt(&self.regs)
    }

    /// Reads `N` bytes of device configuration at `offset`, consistently (retrying while the configuration
    /// generation changes on a modern device, at most a few times).
    pub fn config<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut bytes = [0u8; N];
        for _ in 0..4 {
            let before = if self.modern() {
                self.regs.read32(CONFIG_GENERATION)
            } else {
                0
            };
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = self.regs.read8(CONFIG + offset + i);
            }
            if !self.modern() || self.regs.read32(CONFIG_GENERATION) == before {
                break;
            }
        }
        bytes
    }
}

/// Reads and acknowledges a device's interrupt status through its registers alone, for interrupt handlers that
/// hold the registers but not the transport. Only valid once the device is live (Firecracker ignores
/// acknowledgements before DRIVER_OK).
pub fn ack_interrupt(regs: &impl Registers) -> u32 {
    let pending = regs.read32(INTERRUPT_STATUS);
    if pending != 0 {
        regs.write32(INTERRUPT_ACK, pending);
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdev::{FirecrackerDevice, LegacyDevice};
    use crate::{SplitQueue, ring_bytes};
    use ember_devmem::testing::VecMemory;

    fn rings(size: u16, base: u64) -> SplitQueue<VecMemory> {
        SplitQueue::new(VecMemory::new(ring_bytes(size).0, base), size).unwrap()
    }

    const BLK_FEATURES: u64 = features::VERSION_1 | 1 << 5 | 1 << 9;

    #[test]
    fn brings_up_a_firecracker_device_with_no_rejected_access() {
        let dev = FirecrackerDevice::new(2, BLK_FEATURES, 256);
        let mut t = Transport::probe(&dev).unwrap();
        assert_eq!(t.device_type(), DeviceType::Block);
        assert_eq!(t.negotiate(1 << 9).unwrap(), features::VERSION_1 | 1 << 9);
        assert_eq!(t.queue_max(0), 256);
        t.setup_queue(0, &rings(128, 0x10_0000)).unwrap();
        t.finish();
        assert_eq!(t.ack_interrupt(), 0);
        assert_eq!(dev.status(), 0xF);
        assert_eq!(dev.violations(), Vec::<String>::new());
        assert!(dev.queue_ready(0));
        assert_eq!(dev.acked_features(), features::VERSION_1 | 1 << 9);
        assert_eq!(dev.status_writes(), vec![0, 1, 3, 0xB, 0xF]);
    }

    #[test]
    fn rejects_a_modern_device_without_version_1() {
        let dev = FirecrackerDevice::new(2, 1 << 5, 256);
        let mut t = Transport::probe(&dev).unwrap();
        assert_eq!(t.negotiate(0), Err(TransportError::NoVersion1));
        assert_ne!(dev.status() & status::FAILED, 0);
        assert_eq!(dev.violations(), Vec::<String>::new());
    }

    #[test]
    fn features_ok_that_does_not_stick_fails_the_device() {
        let dev = FirecrackerDevice::new(2, BLK_FEATURES, 256);
        dev.refuse_features_ok();
        let mut t = Transport::probe(&dev).unwrap();
        assert_eq!(t.negotiate(0), Err(TransportError::FeaturesRejected));
        assert_ne!(dev.status() & status::FAILED, 0);
    }

    #[test]
    fn probe_rejects_no_magic_bad_version_and_empty_slots() {
        let dev = FirecrackerDevice::new(2, BLK_FEATURES, 256);
        dev.set_magic(0xffff_ffff);
        assert_eq!(Transport::probe(&dev).err(), Some(TransportError::NoMagic(0xffff_ffff)));
        let dev = FirecrackerDevice::new(0, BLK_FEATURES, 256);
        assert_eq!(Transport::probe(&dev).err(), Some(TransportError::Empty));
        let dev = LegacyDevice::new(2, 0, 256);
        dev.set_version(3);
        assert_eq!(Transport::probe(&dev).err(), Some(TransportError::BadVersion(3)));
    }

    #[test]
    fn queue_errors_fail_the_device() {
        let dev = FirecrackerDevice::new(4, features::VERSION_1, 8);
        let mut t = Transport::probe(&dev).unwrap();
        t.negotiate(0).unwrap();
        assert_eq!(t.setup_queue(1, &rings(8, 0)), Err(TransportError::NoQueue(1)));
        let dev = FirecrackerDevice::new(4, features::VERSION_1, 8);
        let mut t = Transport::probe(&dev).unwrap();
        t.negotiate(0).unwrap();
        assert_eq!(t.setup_queue(0, &rings(16, 0)), Err(TransportError::QueueTooLarge(0)));
        assert_ne!(dev.status() & status::FAILED, 0);
    }

    #[test]
    fn brings_up_a_legacy_device() {
        let dev = LegacyDevice::new(2, 1 << 5, 256);
        let mut t = Transport::probe(&dev).unwrap();
        assert_eq!(t.version(), 1);
        assert_eq!(t.negotiate(1 << 5 | features::VERSION_1).unwrap(), 1 << 5);
        t.setup_queue(0, &rings(128, 0x20_0000)).unwrap();
        t.finish();
        assert_eq!(dev.pfn(), 0x200);
        assert_eq!(dev.page_size(), 4096);
        assert_eq!(dev.status(), 7);
        assert_eq!(
            t.setup_queue(0, &rings(128, 0x20_0800)),
            Err(TransportError::QueueUnreachable(0))
        );
    }

    #[test]
    fn a_legacy_queue_in_page_zero_is_refused() {
        // Writing QueuePFN 0 tells a legacy device there is no queue; the driver would then wait on a queue
        // the device never reads (found by the virtio_transport fuzz target's device model).
        let dev = LegacyDevice::new(2, 0, 256);
        let mut t = Transport::probe(&dev).unwrap();
        t.negotiate(0).unwrap();
        assert_eq!(t.setup_queue(0, &rings(8, 0)), Err(TransportError::QueueUnreachable(0)));
        assert_ne!(dev.status() & status::FAILED, 0);
    }
}
