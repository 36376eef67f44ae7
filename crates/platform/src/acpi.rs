//! ACPI: the RSDP, the XSDT (or RSDT), and the MADT.

use crate::topology::{IoApic, IsaRoute, LocalApic, Nmi, Platform, Source, inti_flags};
use crate::{PhysMemory, checksum_ok, le16, le32, le64, read};
use core::fmt;

const SDT_HEADER: usize = 36;
/// No table ember reads is anywhere near this big; a larger length is taken for garbage.
pub const MAX_TABLE: usize = 64 * 1024;
/// The BIOS area searched for the RSDP when the VMM does not say where it is.
const RSDP_SCAN: (u64, u64) = (0xE0000, 0x100000);

/// Why ACPI could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No valid RSDP at the hint or in the BIOS area.
    NoRsdp,
    /// A table could not be read at the address its parent gave.
    Unreadable(u64),
    /// A table's signature is not the expected one.
    BadSignature(u64),
    /// A table's length is shorter than its header or absurdly long.
    BadLength(u64, u32),
    /// A table's checksum does not add up.
    BadChecksum(u64),
    /// There is no MADT.
    NoMadt,
    /// There is no FADT or it names no DSDT.
    NoDsdt,
    /// A MADT entry's length runs past the table or is too short to advance.
    BadMadtEntry(usize),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::NoRsdp => write!(f, "no valid RSDP"),
            AcpiError::Unreadable(a) => write!(f, "table at {a:#x} is unreadable"),
            AcpiError::BadSignature(a) => write!(f, "table at {a:#x} has the wrong signature"),
            AcpiError::BadLength(a, l) => write!(f, "table at {a:#x} has a bad length {l}"),
            AcpiError::BadChecksum(a) => write!(f, "table at {a:#x} has a bad checksum"),
            AcpiError::NoMadt => write!(f, "no MADT"),
            AcpiError::NoDsdt => write!(f, "no DSDT"),
            AcpiError::BadMadtEntry(o) => write!(f, "MADT entry at offset {o} is malformed"),
        }
    }
}

/// Finds a valid RSDP: at `hint` if one is given and valid there, else by scanning 0xE0000–0xFFFFF on 16-byte
/// boundaries (where Firecracker and QEMU put it).
pub fn find_rsdp(mem: &mut impl PhysMemory, hint: Option<u64>) -> Option<u64> {
    if let Some(h) = hint.filter(|&h| rsdp_valid(mem, h)) {
        return Some(h);
    }
    (RSDP_SCAN.0..RSDP_SCAN.1).step_by(16).find(|&a| rsdp_valid(mem, a))
}

fn rsdp_valid(mem: &mut impl PhysMemory, at: u64) -> bool {
    let Some(b) = read::<36>(mem, at).or_else(|| read::<20>(mem, at).map(widen)) else {
        return false;
    };
    if &b[..8] != b"RSD PTR " || !checksum_ok(&b[..20]) {
        return false;
    }
    // ACPI 2.0+: the extended checksum covers the first `length` bytes (36).
    b[15] < 2 || (le32(&b, 20) as usize == 36 && checksum_ok(&b))
}

fn widen(b: [u8; 20]) -> [u8; 36] {
    let mut w = [0u8; 36];
    w[..20].copy_from_slice(&b);
    w
}

/// Reads a whole system description table at `at` with signature `sig` into `buf`, checking length and
/// checksum. Returns the table's bytes.
fn read_table<'b>(
    mem: &mut impl PhysMemory,
    at: u64,
    sig: &[u8; 4],
    buf: &'b mut [u8; MAX_TABLE],
) -> Result<&'b [u8], AcpiError> {
    let header = read::<SDT_HEADER>(mem, at).ok_or(AcpiError::Unreadable(at))?;
    if &header[..4] != sig {
        return Err(AcpiError::BadSignature(at));
    }
    let len = le32(&header, 4);
    if (len as usize) < SDT_HEADER || len as usize > MAX_TABLE {
        return Err(AcpiError::BadLength(at, len));
    }
    let table = &mut buf[..len as usize];
    if !mem.read(at, table) {
        return Err(AcpiError::Unreadable(at));
    }
    if !checksum_ok(table) {
        return Err(AcpiError::BadChecksum(at));
    }
    Ok(table)
}

/// The tables the root table (XSDT, or RSDT for ACPI 1.0) lists: at most 64 addresses, and how many.
fn root_entries(
    mem: &mut impl PhysMemory,
    rsdp: u64,
    scratch: &mut [u8; MAX_TABLE],
) -> Result<([u64; 64], usize), AcpiError> {
    let r = read::<36>(mem, rsdp)
        .or_else(|| read::<20>(mem, rsdp).map(widen))
        .ok_or(AcpiError::NoRsdp)?;
    let (root, sig, width) = if r[15] >= 2 && le64(&r, 24) != 0 {
        (le64(&r, 24), b"XSDT", 8)
    } else {
        (le32(&r, 16) as u64, b"RSDT", 4)
    };
    let mut entries = [0u64; 64];
    let table = read_table(mem, root, sig, scratch)?;
    let body = &table[SDT_HEADER..];
    let n = (body.len() / width).min(entries.len());
    for (i, e) in entries[..n].iter_mut().enumerate() {
        *e = if width == 8 {
            le64(body, i * 8)
        } else {
            le32(body, i * 4) as u64
        };
    }
    Ok((entries, n))
}

/// The address of the first listed table with signature `sig`.
fn find_table(mem: &mut impl PhysMemory, entries: &[u64], sig: &[u8; 4]) -> Option<u64> {
    entries
        .iter()
        .copied()
        .find(|&a| read::<4>(mem, a).is_some_and(|s| &s == sig))
}

/// Reads the MADT reachable from the RSDP at `rsdp` into a [`Platform`]. `scratch` holds one table at a time.
pub fn parse_acpi(mem: &mut impl PhysMemory, rsdp: u64, scratch: &mut [u8; MAX_TABLE]) -> Result<Platform, AcpiError> {
    let (entries, count) = root_entries(mem, rsdp, scratch)?;
    let madt = find_table(mem, &entries[..count], b"APIC").ok_or(AcpiError::NoMadt)?;
    parse_madt(read_table(mem, madt, b"APIC", scratch)?)
}

/// Reads the DSDT reachable from the RSDP (through the FADT) into `scratch` and returns it.
pub fn read_dsdt<'s>(
    mem: &mut impl PhysMemory,
    rsdp: u64,
    scratch: &'s mut [u8; MAX_TABLE],
) -> Result<&'s [u8], AcpiError> {
    let (entries, count) = root_entries(mem, rsdp, scratch)?;
    let fadt_at = find_table(mem, &entries[..count], b"FACP").ok_or(AcpiError::NoDsdt)?;
    let fadt = read_table(mem, fadt_at, b"FACP", scratch)?;
    let x_dsdt = if fadt.len() >= 148 { le64(fadt, 140) } else { 0 };
    let dsdt = if x_dsdt != 0 {
        x_dsdt
    } else if fadt.len() >= 44 {
        le32(fadt, 40) as u64
    } else {
        0
    };
    if dsdt == 0 {
        return Err(AcpiError::NoDsdt);
    }
    read_table(mem, dsdt, b"DSDT", scratch)
}

/// MADT entry types ember reads.
const LOCAL_APIC: u8 = 0;
const IO_APIC: u8 = 1;
const INTERRUPT_OVERRIDE: u8 = 2;
const LOCAL_APIC_NMI: u8 = 4;
const LOCAL_APIC_ADDRESS: u8 = 5;
const LOCAL_X2APIC: u8 = 9;
const LOCAL_X2APIC_NMI: u8 = 10;

fn parse_madt(t: &[u8]) -> Result<Platform, AcpiError> {
    let mut p = Platform::empty(Source::Acpi);
    if t.len() < SDT_HEADER + 8 {
        return Err(AcpiError::BadMadtEntry(SDT_HEADER));
    }
    p.local_apic_address = le32(t, SDT_HEADER) as u64;
    p.has_8259 = le32(t, SDT_HEADER + 4) & 1 != 0;
    let mut off = SDT_HEADER + 8;
    while off + 2 <= t.len() {
        let (ty, len) = (t[off], t[off + 1] as usize);
        // A length under 2 would never advance; one past the end would read beyond the table.
        if len < 2 || off + len > t.len() {
            return Err(AcpiError::BadMadtEntry(off));
        }
        let e = &t[off..off + len];
        let need = |n: usize| {
            if len >= n {
                Ok(())
            } else {
                Err(AcpiError::BadMadtEntry(off))
            }
        };
        match ty {
            LOCAL_APIC => {
                need(8)?;
                p.add_cpu(LocalApic {
                    apic_id: e[3] as u32,
                    enabled: le32(e, 4) & 1 != 0,
                });
            }
            LOCAL_X2APIC => {
                need(16)?;
                p.add_cpu(LocalApic {
                    apic_id: le32(e, 4),
                    enabled: le32(e, 8) & 1 != 0,
                });
            }
            IO_APIC => {
                need(12)?;
                p.add_ioapic(IoApic {
                    id: e[2],
                    address: le32(e, 4) as u64,
                    gsi_base: le32(e, 8),
                });
            }
            INTERRUPT_OVERRIDE => {
                need(10)?;
                let (polarity, trigger) = inti_flags(le16(e, 8));
                // Bus 0 is ISA; the source is the ISA IRQ.
                if e[2] == 0 {
                    p.set_isa(
                        e[3],
                        IsaRoute {
                            gsi: le32(e, 4),
                            polarity,
                            trigger,
                        },
                    );
                }
            }
            LOCAL_APIC_NMI => {
                need(6)?;
                let (polarity, trigger) = inti_flags(le16(e, 3));
                p.add_nmi(Nmi {
                    processor: e[2] as u32,
                    lint: e[5],
                    polarity,
                    trigger,
                });
            }
            LOCAL_X2APIC_NMI => {
                need(12)?;
                let (polarity, trigger) = inti_flags(le16(e, 2));
                p.add_nmi(Nmi {
                    processor: le32(e, 4),
                    lint: e[8],
                    polarity,
                    trigger,
                });
            }
            LOCAL_APIC_ADDRESS => {
                need(12)?;
                p.local_apic_address = le64(e, 4);
            }
            _ => {}
        }
        off += len;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::TestMem;
    use crate::{Polarity, Trigger};

    const RSDP: usize = 0xE0000;
    const XSDT: usize = 0xE1000;
    const MADT: usize = 0xE2000;

    fn sdt(mem: &mut TestMem, at: usize, sig: &[u8; 4], body: &[u8]) {
        let len = SDT_HEADER + body.len();
        mem.put(at, sig);
        mem.put(at + 4, &(len as u32).to_le_bytes());
        mem.put(at + 8, &[1]);
        mem.put(at + SDT_HEADER, body);
        mem.fix_checksum(at, len, at + 9);
    }

    /// Firecracker's tables: RSDP v2 at 0xE0000 → XSDT → (FADT, MADT); MADT with one LAPIC and the IOAPIC.
    fn firecracker(mem: &mut TestMem, madt_entries: &[u8]) {
        mem.put(RSDP, b"RSD PTR ");
        mem.put(RSDP + 15, &[2]);
        mem.put(RSDP + 20, &36u32.to_le_bytes());
        mem.put(RSDP + 24, &(XSDT as u64).to_le_bytes());
        mem.fix_checksum(RSDP, 20, RSDP + 8);
        mem.fix_checksum(RSDP, 36, RSDP + 32);
        let mut xsdt = Vec::new();
        xsdt.extend_from_slice(&0xE3000u64.to_le_bytes());
        xsdt.extend_from_slice(&(MADT as u64).to_le_bytes());
        sdt(mem, XSDT, b"XSDT", &xsdt);
        sdt(mem, 0xE3000, b"FACP", &[0; 100]);
        let mut madt = Vec::new();
        madt.extend_from_slice(&0xFEE0_0000u32.to_le_bytes());
        madt.extend_from_slice(&0u32.to_le_bytes());
        madt.extend_from_slice(madt_entries);
        sdt(mem, MADT, b"APIC", &madt);
    }

    const FC_ENTRIES: [u8; 20] = [
        0, 8, 0, 0, 1, 0, 0, 0, // LAPIC uid 0, id 0, enabled
        1, 12, 0, 0, 0, 0, 0xC0, 0xFE, 0, 0, 0, 0, // IOAPIC id 0 at 0xFEC00000, GSI base 0
    ];

    fn parse(mem: &mut TestMem) -> Result<Platform, AcpiError> {
        let mut scratch = Box::new([0u8; MAX_TABLE]);
        let rsdp = find_rsdp(mem, None).ok_or(AcpiError::NoRsdp)?;
        parse_acpi(mem, rsdp, &mut scratch)
    }

    #[test]
    fn firecracker_tables() {
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        assert_eq!(find_rsdp(&mut mem, Some(0x1234)), Some(RSDP as u64));
        let p = parse(&mut mem).unwrap();
        assert_eq!(p.source, Source::Acpi);
        assert_eq!(
            p.cpus(),
            &[LocalApic {
                apic_id: 0,
                enabled: true
            }]
        );
        assert_eq!(
            p.ioapics(),
            &[IoApic {
                id: 0,
                address: 0xFEC0_0000,
                gsi_base: 0
            }]
        );
        assert!(!p.has_8259);
        assert_eq!(p.isa_route(4).unwrap().gsi, 4);
        assert_eq!(p.ioapic_for(4).unwrap().1, 4);
    }

    #[test]
    fn overrides_nmis_and_x2apics() {
        let mut e = FC_ENTRIES.to_vec();
        e.extend_from_slice(&[2, 10, 0, 0, 2, 0, 0, 0, 0, 0]); // ISA 0 → GSI 2 (QEMU's PIT)
        e.extend_from_slice(&[2, 10, 0, 9, 9, 0, 0, 0, 0x0F, 0]); // ISA 9 → GSI 9, level, low
        e.extend_from_slice(&[4, 6, 0xFF, 0, 0, 1]); // NMI on LINT1 of all
        e.extend_from_slice(&[9, 16, 0, 0, 7, 1, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0]); // x2APIC id 0x107
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &e);
        let p = parse(&mut mem).unwrap();
        assert_eq!(p.isa_route(0).unwrap().gsi, 2);
        let sci = p.isa_route(9).unwrap();
        assert_eq!((sci.polarity, sci.trigger), (Polarity::Low, Trigger::Level));
        assert_eq!(p.nmis().len(), 1);
        assert_eq!(p.nmis()[0].lint, 1);
        assert_eq!(
            p.cpus()[1],
            LocalApic {
                apic_id: 0x107,
                enabled: true
            }
        );
    }

    #[test]
    fn corrupted_tables_are_rejected() {
        // Bad RSDP checksum: not found.
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        mem.0[RSDP + 1] ^= 1;
        assert_eq!(find_rsdp(&mut mem, Some(RSDP as u64)), None);

        // Bad MADT checksum.
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        mem.0[MADT + 40] ^= 0x55;
        assert_eq!(parse(&mut mem).err(), Some(AcpiError::BadChecksum(MADT as u64)));

        // MADT length past the end of memory.
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        mem.put(MADT + 4, &0xFFFF_FFF0u32.to_le_bytes());
        assert_eq!(
            parse(&mut mem).err(),
            Some(AcpiError::BadLength(MADT as u64, 0xFFFF_FFF0))
        );

        // XSDT pointing nowhere.
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        mem.put(RSDP + 24, &u64::MAX.to_le_bytes());
        mem.fix_checksum(RSDP, 36, RSDP + 32);
        assert_eq!(parse(&mut mem).err(), Some(AcpiError::Unreadable(u64::MAX)));
    }

    #[test]
    fn madt_entries_that_would_loop_or_overrun_are_rejected() {
        for bad in [&[1u8, 0][..], &[1, 1], &[0, 200, 0, 0], &[1, 4, 0, 0]] {
            let mut e = FC_ENTRIES.to_vec();
            e.extend_from_slice(bad);
            let mut mem = TestMem::new(0x100000);
            firecracker(&mut mem, &e);
            assert!(matches!(parse(&mut mem), Err(AcpiError::BadMadtEntry(_))), "{bad:?}");
        }
    }

    #[test]
    fn xsdt_loop_to_itself_is_harmless() {
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        let mut xsdt = Vec::new();
        for _ in 0..100 {
            xsdt.extend_from_slice(&(XSDT as u64).to_le_bytes());
        }
        sdt(&mut mem, XSDT, b"XSDT", &xsdt);
        assert_eq!(parse(&mut mem).err(), Some(AcpiError::NoMadt));
    }

    #[test]
    fn rsdt_for_acpi_1() {
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem, &FC_ENTRIES);
        mem.put(RSDP + 15, &[0]);
        mem.put(RSDP + 16, &(0xE4000u32).to_le_bytes());
        mem.fix_checksum(RSDP, 20, RSDP + 8);
        sdt(&mut mem, 0xE4000, b"RSDT", &(MADT as u32).to_le_bytes());
        assert_eq!(parse(&mut mem).unwrap().ioapics().len(), 1);
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..300 {
            let mut mem = TestMem::new(0x100000);
            firecracker(&mut mem, &FC_ENTRIES);
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = [RSDP, XSDT, MADT][(x % 3) as usize] + (x >> 8) as usize % 64;
                mem.0[at] = (x >> 32) as u8;
            }
            let _ = parse(&mut mem);
        }
    }
}
