//! Crafted firmware tables for hostile-platform boot tests: QEMU's `loader` device puts them where ember scans
//! for the RSDP (0xE0000) on a machine started with `acpi=off`, so ember reads them instead of QEMU's.

/// Where the tables are loaded: the start of ember's RSDP scan range (the BIOS area, never RAM on microvm).
pub const LOAD_AT: u64 = 0xE0000;

/// An RSDP (ACPI 1.0), an RSDT and a MADT naming one CPU with its local APIC at `lapic` (or, with
/// `lapic_override`, at that 64-bit address through a Local APIC Address Override entry) and one IOAPIC at
/// 0xFEC00000 with GSI base `gsi_base`, laid out from [`LOAD_AT`], checksums right.
pub fn acpi_tables(lapic: u32, gsi_base: u32, lapic_override: Option<u64>) -> Vec<u8> {
    const RSDT_AT: usize = 64;
    const MADT_AT: usize = 128;
    let mut madt_body = Vec::new();
    madt_body.extend_from_slice(&lapic.to_le_bytes());
    madt_body.extend_from_slice(&1u32.to_le_bytes()); // PCAT_COMPAT: 8259s present
    madt_body.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]); // processor 0, APIC id 0, enabled
    madt_body.extend_from_slice(&[1, 12, 0, 0]); // IOAPIC id 0
    madt_body.extend_from_slice(&0xFEC0_0000u32.to_le_bytes());
    madt_body.extend_from_slice(&gsi_base.to_le_bytes());
    if let Some(address) = lapic_override {
        madt_body.extend_from_slice(&[5, 12, 0, 0]);
        madt_body.extend_from_slice(&address.to_le_bytes());
    }
    let rsdt = sdt(b"RSDT", &(LOAD_AT as u32 + MADT_AT as u32).to_le_bytes());
    let madt = sdt(b"APIC", &madt_body);

    let mut out = vec![0u8; MADT_AT + madt.len()];
    out[..8].copy_from_slice(b"RSD PTR ");
    out[9..15].copy_from_slice(b"EMBER ");
    out[16..20].copy_from_slice(&(LOAD_AT as u32 + RSDT_AT as u32).to_le_bytes());
    out[8] = checksum(&out[..20]);
    out[RSDT_AT..RSDT_AT + rsdt.len()].copy_from_slice(&rsdt);
    out[MADT_AT..].copy_from_slice(&madt);
    out
}

/// A system description table: header (revision 1) and `body`, checksum right.
fn sdt(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(36 + body.len());
    t.extend_from_slice(signature);
    t.extend_from_slice(&(36 + body.len() as u32).to_le_bytes());
    t.extend_from_slice(&[1, 0]); // revision, checksum (below)
    t.extend_from_slice(b"EMBER HOSTILE ");
    t.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    t.extend_from_slice(b"EMBR");
    t.extend_from_slice(&1u32.to_le_bytes()); // creator revision
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// The byte that makes `bytes` sum to zero.
fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)).wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_sum_to_zero_and_point_at_each_other() {
        let t = acpi_tables(0x20_0000, 0xFFFF_FFFA, None);
        let sum = |r: std::ops::Range<usize>| t[r].iter().fold(0u8, |s, &b| s.wrapping_add(b));
        assert_eq!(&t[..8], b"RSD PTR ");
        assert_eq!(sum(0..20), 0);
        let rsdt = u32::from_le_bytes(t[16..20].try_into().unwrap()) as usize - LOAD_AT as usize;
        let rsdt_len = u32::from_le_bytes(t[rsdt + 4..rsdt + 8].try_into().unwrap()) as usize;
        assert_eq!(sum(rsdt..rsdt + rsdt_len), 0);
        let madt = u32::from_le_bytes(t[rsdt + 36..rsdt + 40].try_into().unwrap()) as usize - LOAD_AT as usize;
        assert_eq!(&t[madt..madt + 4], b"APIC");
        assert_eq!(sum(madt..t.len()), 0);
        assert_eq!(&t[madt + 36..madt + 40], &0x20_0000u32.to_le_bytes());
        assert_eq!(&t[t.len() - 4..], &0xFFFF_FFFAu32.to_le_bytes());
    }
}
