//! Register offsets, status bits and feature bits of virtio-mmio.

/// The MMIO register window of one device, as the transport uses it. Implementations must make each access a
/// single 32-bit (or, for the device configuration space, 8-bit) volatile access.
pub trait Registers {
    /// Reads the 32-bit register at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&self, offset: usize, value: u32);
    /// Reads one byte of the device configuration space (`offset` from the start of the window).
    fn read8(&self, offset: usize) -> u8;
}

pub(crate) const MAGIC: usize = 0x000;
pub(crate) const VERSION: usize = 0x004;
pub(crate) const DEVICE_ID: usize = 0x008;
pub(crate) const VENDOR_ID: usize = 0x00c;
pub(crate) const DEVICE_FEATURES: usize = 0x010;
pub(crate) const DEVICE_FEATURES_SEL: usize = 0x014;
pub(crate) const DRIVER_FEATURES: usize = 0x020;
pub(crate) const DRIVER_FEATURES_SEL: usize = 0x024;
pub(crate) const GUEST_PAGE_SIZE: usize = 0x028; // legacy
pub(crate) const QUEUE_SEL: usize = 0x030;
pub(crate) const QUEUE_NUM_MAX: usize = 0x034;
pub(crate) const QUEUE_NUM: usize = 0x038;
pub(crate) const QUEUE_ALIGN: usize = 0x03c; // legacy
pub(crate) const QUEUE_PFN: usize = 0x040; // legacy
pub(crate) const QUEUE_READY: usize = 0x044;
pub(crate) const QUEUE_NOTIFY: usize = 0x050;
pub(crate) const INTERRUPT_STATUS: usize = 0x060;
pub(crate) const INTERRUPT_ACK: usize = 0x064;
pub(crate) const STATUS: usize = 0x070;
pub(crate) const QUEUE_DESC_LOW: usize = 0x080;
pub(crate) const QUEUE_DESC_HIGH: usize = 0x084;
pub(crate) const QUEUE_DRIVER_LOW: usize = 0x090;
pub(crate) const QUEUE_DRIVER_HIGH: usize = 0x094;
pub(crate) const QUEUE_DEVICE_LOW: usize = 0x0a0;
pub(crate) const QUEUE_DEVICE_HIGH: usize = 0x0a4;
pub(crate) const CONFIG_GENERATION: usize = 0x0fc;
pub(crate) const CONFIG: usize = 0x100;

/// "virt", little-endian.
pub(crate) const MAGIC_VALUE: u32 = 0x7472_6976;

/// Device status bits (virtio 1.2 §2.1).
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    /// The guest gave up on the device.
    pub const FAILED: u32 = 0x80;
}

/// Device-independent feature bits.
pub mod features {
    /// The device follows virtio 1.x (required by modern transports).
    pub const VERSION_1: u64 = 1 << 32;
}

/// Device types ember knows by name (virtio 1.2 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    /// Network card (1).
    Net,
    /// Block device (2).
    Block,
    /// Console (3).
    Console,
    /// Entropy source (4).
    Entropy,
    /// Memory balloon (5).
    Balloon,
    /// Socket device (19).
    Vsock,
    /// Memory device (24).
    Memory,
    /// Persistent memory (27).
    Pmem,
    /// Anything else.
    Other(u32),
}

impl DeviceType {
    /// The type for a DeviceID register value.
    pub const fn from_id(id: u32) -> Self {
        match id {
            1 => DeviceType::Net,
            2 => DeviceType::Block,
            3 => DeviceType::Console,
            4 => DeviceType::Entropy,
            5 => DeviceType::Balloon,
            19 => DeviceType::Vsock,
            24 => DeviceType::Memory,
            27 => DeviceType::Pmem,
            other => DeviceType::Other(other),
        }
    }
}

impl core::fmt::Display for DeviceType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeviceType::Net => f.write_str("net"),
            DeviceType::Block => f.write_str("block"),
            DeviceType::Console => f.write_str("console"),
            DeviceType::Entropy => f.write_str("entropy"),
            DeviceType::Balloon => f.write_str("balloon"),
            DeviceType::Vsock => f.write_str("vsock"),
            DeviceType::Memory => f.write_str("memory"),
            DeviceType::Pmem => f.write_str("pmem"),
            DeviceType::Other(id) => write!(f, "type {id}"),
        }
    }
}
