//! The interrupt topology of the machine: local APICs, IOAPICs and how ISA IRQs reach them.
//!
//! Read from ACPI (RSDP → XSDT/RSDT → MADT) when the VMM provides it, else from the Intel MultiProcessor table,
//! else assumed (one IOAPIC at 0xFEC0_0000, ISA IRQ *i* on pin *i*). Every table is treated as hostile: lengths
//! are bounded by what was read, checksums are verified, entry walks always advance, and pointers are only
//! followed through [`PhysMemory`], which refuses what it cannot reach.
//!
//! Written here rather than with the `acpi` crate: its `AcpiHandler::map_physical_region` cannot fail, so a
//! table pointer or length leading outside the memory ember maps would have to panic, and hostile tables must
//! only ever produce a warning.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod acpi;
mod aml;
mod mptable;
mod topology;

pub use acpi::{AcpiError, MAX_TABLE, find_rsdp, parse_acpi, read_dsdt};
pub use aml::{MAX_MMIO_DEVICES, MmioDevice, MmioDevices, virtio_mmio_devices, vmgenid_address};
pub use ember_boot::PhysMemory;
pub use mptable::{MpError, parse_mptable};
pub use topology::{IoApic, IsaRoute, LocalApic, Nmi, Platform, Polarity, Source, Trigger};

/// Reads `N` bytes at `paddr`, or `None`.
fn read<const N: usize>(mem: &mut impl PhysMemory, paddr: u64) -> Option<[u8; N]> {
    let mut b = [0u8; N];
    mem.read(paddr, &mut b).then_some(b)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    le32(b, at) as u64 | (le32(b, at + 4) as u64) << 32
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)) == 0
}

#[cfg(test)]
mod testmem {
    use super::PhysMemory;

    /// Guest memory `[0, len)` backed by a vector; reads past the end fail.
    pub struct TestMem(pub Vec<u8>);

    impl TestMem {
        pub fn new(len: usize) -> Self {
            Self(vec![0; len])
        }
        pub fn put(&mut self, at: usize, b: &[u8]) {
            self.0[at..at + b.len()].copy_from_slice(b);
        }
        /// Fixes the checksum byte at `sum_at` so that `[start, start + len)` sums to zero.
        pub fn fix_checksum(&mut self, start: usize, len: usize, sum_at: usize) {
            self.0[sum_at] = 0;
            let s = self.0[start..start + len].iter().fold(0u8, |s, &b| s.wrapping_add(b));
            self.0[sum_at] = 0u8.wrapping_sub(s);
        }
    }

    impl PhysMemory for TestMem {
        fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool {
            let Some(end) = paddr.checked_add(buf.len() as u64) else {
                return false;
            };
            if end > self.0.len() as u64 {
                return false;
            }
            buf.copy_from_slice(&self.0[paddr as usize..end as usize]);
            true
        }
    }
}
