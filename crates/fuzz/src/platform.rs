//! The platform tables (`ember-platform`): RSDP, XSDT/RSDT, MADT, FADT → DSDT, the DSDT scan, the MP table.

use crate::mem::{FuzzMem, fix_checksum};
use ember_platform::{
    MAX_MMIO_DEVICES, MAX_TABLE, MmioDevices, Platform, find_rsdp, parse_acpi, parse_mptable, read_dsdt,
    virtio_mmio_devices,
};

/// Where the ACPI input lies: the start of the BIOS area the RSDP is searched in.
const ACPI_BASE: u64 = 0xE0000;
/// Where the MP input lies: the last KiB of base memory, where the floating pointer is searched first.
const MP_BASE: u64 = 0x9FC00;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// The offset in `bytes` of the table at physical `addr`.
fn offset(bytes: &[u8], base: u64, addr: u64) -> Option<usize> {
    let off = usize::try_from(addr.checked_sub(base)?).ok()?;
    (off < bytes.len()).then_some(off)
}

/// The tables reachable from an RSDP at offset 0, as the parser walks them: (offset of each listed table).
fn listed_tables(bytes: &[u8]) -> (Option<usize>, Vec<usize>) {
    let Some(rev) = bytes.get(15) else {
        return (None, Vec::new());
    };
    let xsdt = le64(bytes, 24).filter(|&x| *rev >= 2 && x != 0);
    let (root, width) = match xsdt {
        Some(x) => (x, 8),
        None => (le32(bytes, 16).map_or(0, u64::from), 4),
    };
    let Some(root) = offset(bytes, ACPI_BASE, root) else {
        return (None, Vec::new());
    };
    let len = le32(bytes, root + 4).map_or(0, |l| l as usize).min(MAX_TABLE);
    let body = bytes.get(root + 36..(root + len).min(bytes.len())).unwrap_or_default();
    let tables = body
        .chunks_exact(width)
        .take(64)
        .filter_map(|e| {
            let addr = if width == 8 {
                le64(e, 0)?
            } else {
                u64::from(le32(e, 0)?)
            };
            offset(bytes, ACPI_BASE, addr)
        })
        .collect();
    (Some(root), tables)
}

fn fix_table(bytes: &mut [u8], at: usize) {
    let len = le32(bytes, at + 4).map_or(0, |l| l as usize).min(MAX_TABLE);
    fix_checksum(bytes, at, len, at + 9);
}

/// Makes every checksum the ACPI parser checks add up (a mutation almost never does).
fn fix_acpi_checksums(bytes: &mut [u8]) {
    let (root, tables) = listed_tables(bytes);
    for &t in &tables {
        if bytes.get(t..t + 4) == Some(b"FACP") {
            let len = le32(bytes, t + 4).unwrap_or(0) as usize;
            let x_dsdt = if len >= 148 {
                le64(bytes, t + 140).unwrap_or(0)
            } else {
                0
            };
            let dsdt = if x_dsdt != 0 {
                x_dsdt
            } else {
                le32(bytes, t + 40).map_or(0, u64::from)
            };
            if let Some(d) = offset(bytes, ACPI_BASE, dsdt) {
                fix_table(bytes, d);
            }
        }
        fix_table(bytes, t);
    }
    if let Some(r) = root {
        fix_table(bytes, r);
    }
    fix_checksum(bytes, 0, 20, 8);
    fix_checksum(bytes, 0, 36, 32);
}

/// Input: a flag byte (bit 0: fix the checksums), then guest memory at 0xE0000 with the RSDP at its start.
/// Runs what the kernel runs: find the RSDP, read the MADT, read the DSDT and scan it. Checks the platform
/// description (see [`check_platform`]), and that every local APIC, IOAPIC and NMI entry of the MADT is
/// either reported or counted as dropped.
pub fn acpi(data: &[u8]) {
    let Some((&flags, memory)) = data.split_first() else {
        return;
    };
    let mut bytes = memory.to_vec();
    if flags & 1 != 0 {
        fix_acpi_checksums(&mut bytes);
    }
    let mut mem = FuzzMem { bytes, base: ACPI_BASE };
    let Some(rsdp) = find_rsdp(&mut mem, Some(ACPI_BASE)) else {
        return;
    };
    let mut scratch = Box::new([0u8; MAX_TABLE]);
    if let Ok(p) = parse_acpi(&mut mem, rsdp, &mut scratch) {
        check_platform(&p);
        if rsdp == ACPI_BASE
            && let Some(madt) = listed_tables(&mem.bytes)
                .1
                .into_iter()
                .find(|&t| mem.bytes.get(t..t + 4) == Some(b"APIC"))
        {
            let len = le32(&mem.bytes, madt + 4).unwrap_or(0) as usize;
            let entries = madt_entries(&mem.bytes[madt..madt + len]);
            let reported = p.cpus().len() + p.ioapics().len() + p.nmis().len();
            assert!(
                reported <= entries && entries <= reported + p.dropped,
                "{entries} entries, {reported} reported, {} dropped",
                p.dropped
            );
        }
    }
    match read_dsdt(&mut mem, rsdp, &mut scratch) {
        Ok(dsdt) => check_devices(dsdt, &virtio_mmio_devices(dsdt)),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// MADT entries of the kinds [`Platform`] keeps (local APIC, x2APIC, IOAPIC, NMI, x2APIC NMI), counted by a
/// walk of our own.
fn madt_entries(t: &[u8]) -> usize {
    let (mut off, mut n) = (44, 0);
    while let (Some(&ty), Some(&len)) = (t.get(off), t.get(off + 1)) {
        let min = match ty {
            0 => 8,
            1 | 10 => 12,
            4 => 6,
            9 => 16,
            _ => usize::MAX,
        };
        if (len as usize) >= min {
            n += 1;
        }
        off += (len as usize).max(2);
    }
    n
}

/// The platform description's invariants: every ISA IRQ routed, a GSI maps to an IOAPIC pin that adds back up
/// to it.
pub fn check_platform(p: &Platform) {
    for irq in 0..16 {
        assert!(p.isa_route(irq).is_some(), "ISA IRQ {irq} unrouted");
    }
    assert!(p.isa_route(16).is_none());
    for a in p.ioapics() {
        for gsi in [
            a.gsi_base,
            a.gsi_base.saturating_add(23),
            a.gsi_base.saturating_add(239),
            u32::MAX,
        ] {
            if let Some((io, pin)) = p.ioapic_for(gsi) {
                assert!(
                    pin < 240 && io.gsi_base.checked_add(pin) == Some(gsi),
                    "GSI {gsi} on {io:?} pin {pin}"
                );
            }
        }
    }
}

/// The DSDT scan's invariants: at most [`MAX_MMIO_DEVICES`], distinct bases, no empty window, and only when
/// the table holds a `Device` with `_HID "LNRO0005"`.
fn check_devices(dsdt: &[u8], devices: &MmioDevices) {
    let list: Vec<_> = devices.iter().collect();
    assert!(list.len() <= MAX_MMIO_DEVICES);
    for (i, d) in list.iter().enumerate() {
        assert!(d.size > 0, "{d:?}");
        assert!(list[..i].iter().all(|e| e.base != d.base), "{d:?} twice");
    }
    if !list.is_empty() {
        let has = |needle: &[u8]| dsdt.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"\x5b\x82") && has(b"\x08_HID\x0dLNRO0005\x00") && has(b"\x08_CRS\x11"));
    }
}

/// Input: DSDT bytes, scanned for virtio-mmio devices. Checks as [`acpi`] does for the DSDT.
pub fn dsdt(data: &[u8]) {
    check_devices(data, &virtio_mmio_devices(data));
}

/// Input: a flag byte (bit 0: fix the checksums), then guest memory at 0x9FC00 with the MP floating pointer at
/// its start. Checks the platform description, that IOAPICs are numbered 24 pins apart, and that no more
/// entries are reported than the table's count.
pub fn mptable(data: &[u8]) {
    let Some((&flags, memory)) = data.split_first() else {
        return;
    };
    let mut bytes = memory.to_vec();
    if flags & 1 != 0 {
        fix_checksum(&mut bytes, 0, 16, 10);
        if let Some(t) = le32(&bytes, 4).and_then(|a| offset(&bytes, MP_BASE, u64::from(a))) {
            let len = bytes
                .get(t + 4..t + 6)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
            fix_checksum(&mut bytes, t, len, t + 7);
        }
    }
    let count = le32(&bytes, 4)
        .and_then(|a| offset(&bytes, MP_BASE, u64::from(a)))
        .and_then(|t| bytes.get(t + 34..t + 36))
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let mut mem = FuzzMem { bytes, base: MP_BASE };
    match parse_mptable(&mut mem) {
        Ok(p) => {
            check_platform(&p);
            for (n, a) in p.ioapics().iter().enumerate() {
                assert_eq!(a.gsi_base as usize, 24 * n);
            }
            let reported = p.cpus().len() + p.ioapics().len() + p.nmis().len() + p.dropped;
            // The count is only known here when the pointer at offset 0 was the one found.
            assert!(
                mem.bytes.get(..4) != Some(b"_MP_") || reported <= count,
                "{reported} entries from {count}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
