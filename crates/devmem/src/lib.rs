//! Device memory bookkeeping, as plain logic that runs in host unit tests:
//!
//! - [`Claims`]: who holds which range of device memory (MMIO). A range is held by one owner at a time; the
//!   framework's own devices (local APIC, IOAPICs) are held for good, page by page.
//! - [`DeviceAddr`] and [`DmaMemory`]: the only way to name memory to a device. A `DeviceAddr` is made only by
//!   [`DmaMemory::device_addr`], bounds-checked against a DMA object, so safe code cannot point a device at
//!   memory it does not own through this API.
//! - [`DmaPool`]: freed DMA regions, with the ones a device was given kept in quarantine.
//!
//! This crate declares one `unsafe trait` ([`DmaMemory`]): implementing it is a promise about memory that only
//! the framework (`ember-frame`) can keep. It contains no unsafe code.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

mod claims;
mod dma;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use claims::{ClaimError, ClaimId, Claims, Holder, PAGE_SIZE, page_span};
pub use dma::{DeviceAddr, DmaMemory, DmaPool};
