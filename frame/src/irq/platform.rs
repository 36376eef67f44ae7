//! Finding the platform description: ACPI MADT, else MP table, else defaults.

use crate::mm::{self, layout::phys_to_virt};
use alloc::boxed::Box;
use ember_boot::{BootInfo, PhysMemory, PhysRange};
use ember_platform::{
    MAX_TABLE, MmioDevices, Platform, Source, find_rsdp, parse_acpi, parse_mptable, read_dsdt, virtio_mmio_devices,
    vmgenid_address,
};
use spin::Once;

static PLATFORM: Once<Platform> = Once::new();
/// The RSDP found at boot, if any.
static RSDP: Once<Option<u64>> = Once::new();
/// Where the VM generation ID is, if the DSDT says (found on first use).
static VMGENID: Once<Option<u64>> = Once::new();

/// The interrupt topology found at boot.
pub fn platform() -> &'static Platform {
    PLATFORM.get().expect("irq::init ran at boot")
}

/// Reads firmware tables through the direct map, refusing anything it does not cover as ordinary memory.
struct DirectMap<'a>(&'a BootInfo);

impl PhysMemory for DirectMap<'_> {
    fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = paddr.checked_add(buf.len() as u64) else {
            return false;
        };
        if !mm::in_direct_map(self.0, &PhysRange::new(paddr, end)) {
            return false;
        }
        // SAFETY: the whole range lies in memory the direct map covers (the first MiB, ACPI memory or RAM); the
        // firmware tables in it are only ever read, and a copy of arbitrary RAM is just bytes.
        unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(paddr) as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }
}

/// Keeps a description only if it names an IOAPIC: one that does not (QEMU microvm's MP table with
/// `acpi=off`) cannot route anything.
fn with_ioapic(p: Platform) -> Option<Platform> {
    if p.ioapics().is_empty() {
        log::info!("platform: the {} names no IOAPIC; ignored", p.source);
        return None;
    }
    Some(p)
}

/// A buffer for one ACPI table, built on the heap directly (64 KiB must never pass through the 64 KiB boot
/// stack); `None`, with a warning, when memory is short.
fn table_scratch() -> Option<Box<[u8; MAX_TABLE]>> {
    let mut v = alloc::vec::Vec::new();
    if v.try_reserve_exact(MAX_TABLE).is_err() {
        log::warn!("platform: no memory to read ACPI tables");
        return None;
    }
    v.resize(MAX_TABLE, 0u8);
    v.into_boxed_slice().try_into().ok()
}

fn from_acpi(mem: &mut DirectMap<'_>, hint: Option<u64>) -> Option<Platform> {
    let rsdp = (*RSDP.call_once(|| find_rsdp(mem, hint)))?;
    let mut scratch = table_scratch()?;
    parse_acpi(mem, rsdp, &mut scratch)
        .map_err(|e| log::warn!("platform: ACPI tables at RSDP {rsdp:#x} rejected: {e}"))
        .ok()
        .and_then(with_ioapic)
}

fn from_mptable(mem: &mut DirectMap<'_>) -> Option<Platform> {
    match parse_mptable(mem) {
        Ok(p) => with_ioapic(p),
        Err(ember_platform::MpError::NotFound) => None,
        Err(e) => {
            log::warn!("platform: MP table rejected: {e}");
            None
        }
    }
}

pub(super) fn init(boot: &BootInfo) -> &'static Platform {
    PLATFORM.call_once(|| {
        let mut mem = DirectMap(boot);
        let p = from_acpi(&mut mem, boot.rsdp)
            .or_else(|| from_mptable(&mut mem))
            .unwrap_or_else(|| {
                log::info!("platform: no ACPI or MP table; assuming one IOAPIC at 0xfec00000 and ISA IRQ n on GSI n");
                Platform::defaults()
            });
        if p.source != Source::Defaults {
            log::info!(
                "platform: {}: {} CPU(s), {} IOAPIC(s), local APIC at {:#x}{}",
                p.source,
                p.cpus().len(),
                p.ioapics().len(),
                p.local_apic_address,
                if p.dropped > 0 {
                    " (some entries did not fit)"
                } else {
                    ""
                }
            );
        }
        for irq in 0..16 {
            if let Some(r) = p.isa_route(irq).filter(|r| r.gsi != irq as u32) {
                log::info!(
                    "platform: ISA IRQ {irq} is GSI {} ({:?}, {:?})",
                    r.gsi,
                    r.trigger,
                    r.polarity
                );
            }
        }
        p
    })
}

/// The VM generation ID (16 bytes Firecracker changes whenever the VM runs from a snapshot: a clone's differs
/// from every other's), read where the DSDT's VM generation ID device says; `None` without one.
pub fn vm_generation_id() -> Option<[u8; 16]> {
    let boot = crate::boot::info();
    let addr = (*VMGENID.call_once(|| {
        let rsdp = (*RSDP.get()?)?;
        let mut scratch = table_scratch()?;
        let addr = vmgenid_address(read_dsdt(&mut DirectMap(boot), rsdp, &mut scratch).ok()?)?;
        log::info!("platform: VM generation ID at {addr:#x}");
        Some(addr)
    }))?;
    let mut id = [0u8; 16];
    DirectMap(boot).read(addr, &mut id).then_some(id)
}

/// The virtio-mmio devices the ACPI DSDT describes (`_HID "LNRO0005"`); `None` without ACPI or a readable DSDT.
pub fn acpi_virtio_mmio_devices() -> Option<MmioDevices> {
    let boot = crate::boot::info();
    let rsdp = (*RSDP.get()?)?;
    let mut scratch = table_scratch()?;
    match read_dsdt(&mut DirectMap(boot), rsdp, &mut scratch) {
        Ok(dsdt) => Some(virtio_mmio_devices(dsdt)),
        Err(e) => {
            log::warn!("platform: DSDT unusable: {e}");
            None
        }
    }
}
