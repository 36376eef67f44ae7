//! virtio over MMIO, written for Firecracker's strictness and QEMU's legacy mode, as plain logic over two small
//! traits ([`Registers`] for the MMIO window, [`DmaMemory`] for rings and buffers) so that it runs in host unit tests
//! against a strict device model and a misbehaving device.
//!
//! Written here instead of using `virtio-drivers`: its 0.13 transport writes ACKNOWLEDGE|DRIVER in one status
//! write, which Firecracker rejects, and does not read FEATURES_OK back; wrapping it would leave most of it
//! bypassed. The register layout follows the virtio 1.2 specification, §4.2.2 (modern) and §4.2.4 (legacy).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod blk;
pub mod net;
mod queue;
mod regs;
mod transport;

pub use ember_devmem::{DeviceAddr, DmaMemory};
pub use queue::{Buffer, QueueError, SplitQueue, UsedError, ring_bytes};
pub use regs::{DeviceType, Registers, features, status};
pub use transport::{Transport, TransportError, ack_interrupt};

#[cfg(test)]
mod testdev;
