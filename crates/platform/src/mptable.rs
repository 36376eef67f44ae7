//! The Intel MultiProcessor Specification 1.4 table (Firecracker writes one; so do old BIOSes).

use crate::topology::{IoApic, IsaRoute, LocalApic, Nmi, Platform, Source, inti_flags};
use crate::{PhysMemory, checksum_ok, le16, le32, read};
use core::fmt;

/// Where the floating pointer may be: the last KiB of base memory (Firecracker's 0x9FC00) and the BIOS ROM.
const SCAN: [(u64, u64); 2] = [(0x9FC00, 0xA0000), (0xF0000, 0x100000)];
const MAX_TABLE: usize = 4096;

/// Why the MP table could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpError {
    /// No valid floating pointer structure.
    NotFound,
    /// The configuration table is unreadable, mis-signed, too long or has a bad checksum.
    BadTable(u64),
    /// An entry of unknown type: its length is unknown, so the walk cannot go on.
    BadEntry(usize),
}

impl fmt::Display for MpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MpError::NotFound => write!(f, "no MP floating pointer"),
            MpError::BadTable(a) => write!(f, "MP configuration table at {a:#x} is invalid"),
            MpError::BadEntry(o) => write!(f, "MP entry at offset {o} has an unknown type"),
        }
    }
}

fn find_floating(mem: &mut impl PhysMemory) -> Option<[u8; 16]> {
    SCAN.iter()
        .flat_map(|&(a, b)| (a..b).step_by(16))
        .filter_map(|a| read::<16>(mem, a))
        .find(|f| &f[..4] == b"_MP_" && f[8] == 1 && checksum_ok(f))
}

/// Reads the MP table, if there is a valid one.
pub fn parse_mptable(mem: &mut impl PhysMemory) -> Result<Platform, MpError> {
    let f = find_floating(mem).ok_or(MpError::NotFound)?;
    let at = le32(&f, 4) as u64;
    let header = read::<44>(mem, at).ok_or(MpError::BadTable(at))?;
    let len = le16(&header, 4) as usize;
    if &header[..4] != b"PCMP" || !(44..=MAX_TABLE).contains(&len) {
        return Err(MpError::BadTable(at));
    }
    let mut buf = [0u8; MAX_TABLE];
    let t = &mut buf[..len];
    if !mem.read(at, t) || !checksum_ok(t) {
        return Err(MpError::BadTable(at));
    }
    let mut p = Platform::empty(Source::MpTable);
    p.local_apic_address = le32(t, 36) as u64;
    p.has_8259 = f[12] & 0x80 == 0; // IMCR present means PIC mode was possible; either way mask them
    let count = le16(t, 34) as usize;
    let mut isa_bus = None;
    let mut ioapic_ids = [0u8; crate::topology::MAX_IOAPICS];
    let mut off = 44;
    for _ in 0..count {
        let Some(&ty) = t.get(off) else { break };
        let len = if ty == 0 { 20 } else { 8 };
        if ty > 4 {
            return Err(MpError::BadEntry(off));
        }
        let Some(e) = t.get(off..off + len) else {
            break;
        };
        match ty {
            0 => p.add_cpu(LocalApic {
                apic_id: e[1] as u32,
                enabled: e[3] & 1 != 0,
            }),
            1 if &e[2..8] == b"ISA   " => isa_bus = Some(e[1]),
            2 if e[3] & 1 != 0 => {
                // MP IOAPICs carry no GSI base: number their pins consecutively, 24 each.
                let n = p.ioapics().len();
                if n < ioapic_ids.len() {
                    ioapic_ids[n] = e[1];
                }
                p.add_ioapic(IoApic {
                    id: e[1],
                    address: le32(e, 4) as u64,
                    gsi_base: 24 * n as u32,
                });
            }
            3 if Some(e[4]) == isa_bus && e[1] == 0 => {
                let (polarity, trigger) = inti_flags(le16(e, 2));
                let base = p.ioapics().iter().find(|a| a.id == e[6]).map(|a| a.gsi_base);
                if let Some(base) = base {
                    p.set_isa(
                        e[5],
                        IsaRoute {
                            gsi: base + e[7] as u32,
                            polarity,
                            trigger,
                        },
                    );
                }
            }
            4 if e[1] == 1 => {
                let (polarity, trigger) = inti_flags(le16(e, 2));
                p.add_nmi(Nmi {
                    processor: e[6] as u32,
                    lint: e[7],
                    polarity,
                    trigger,
                });
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

    const FLOATING: usize = 0x9FC00;
    const TABLE: usize = 0x9FC10;

    /// An MP table like Firecracker's (`arch/x86_64/mptable.rs`): CPU, ISA bus, IOAPIC, 16 ISA interrupts to
    /// pins 0–15, NMI on LINT1.
    fn firecracker(mem: &mut TestMem) -> usize {
        let mut e = Vec::new();
        e.extend_from_slice(&[0, 0, 0x14, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        e.extend_from_slice(&[1, 0, b'I', b'S', b'A', b' ', b' ', b' ']);
        e.extend_from_slice(&[2, 1, 0x11, 1, 0, 0, 0xC0, 0xFE]);
        for irq in 0..16u8 {
            e.extend_from_slice(&[3, 0, 0, 0, 0, irq, 1, irq]);
        }
        e.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0xFF, 1]);
        let count = 3 + 16 + 1;
        let len = 44 + e.len();
        mem.put(TABLE, b"PCMP");
        mem.put(TABLE + 4, &(len as u16).to_le_bytes());
        mem.put(TABLE + 6, &[4]);
        mem.put(TABLE + 34, &(count as u16).to_le_bytes());
        mem.put(TABLE + 36, &0xFEE0_0000u32.to_le_bytes());
        mem.put(TABLE + 44, &e);
        mem.fix_checksum(TABLE, len, TABLE + 7);
        mem.put(FLOATING, b"_MP_");
        mem.put(FLOATING + 4, &(TABLE as u32).to_le_bytes());
        mem.put(FLOATING + 8, &[1, 4]);
        mem.fix_checksum(FLOATING, 16, FLOATING + 10);
        len
    }

    #[test]
    fn firecracker_mptable() {
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem);
        let p = parse_mptable(&mut mem).unwrap();
        assert_eq!(p.source, Source::MpTable);
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
                id: 1,
                address: 0xFEC0_0000,
                gsi_base: 0
            }]
        );
        assert_eq!(p.isa_route(4).unwrap().gsi, 4);
        assert_eq!(p.nmis()[0].lint, 1);
    }

    #[test]
    fn corrupted_mptables_are_rejected() {
        let mut mem = TestMem::new(0x100000);
        assert_eq!(parse_mptable(&mut mem).err(), Some(MpError::NotFound));

        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem);
        mem.0[TABLE + 50] ^= 1;
        assert_eq!(parse_mptable(&mut mem).err(), Some(MpError::BadTable(TABLE as u64)));

        let mut mem = TestMem::new(0x100000);
        let len = firecracker(&mut mem);
        mem.0[TABLE + 44] = 9;
        mem.fix_checksum(TABLE, len, TABLE + 7);
        assert_eq!(parse_mptable(&mut mem).err(), Some(MpError::BadEntry(44)));

        // An entry count far larger than the table: the walk stops at the end.
        let mut mem = TestMem::new(0x100000);
        let len = firecracker(&mut mem);
        mem.put(TABLE + 34, &0xFFFFu16.to_le_bytes());
        mem.fix_checksum(TABLE, len, TABLE + 7);
        assert_eq!(parse_mptable(&mut mem).unwrap().isa_route(15).unwrap().gsi, 15);

        // A table pointer outside memory.
        let mut mem = TestMem::new(0x100000);
        firecracker(&mut mem);
        mem.put(FLOATING + 4, &0xFFFF_FFF0u32.to_le_bytes());
        mem.fix_checksum(FLOATING, 16, FLOATING + 10);
        assert_eq!(parse_mptable(&mut mem).err(), Some(MpError::BadTable(0xFFFF_FFF0)));
    }
}
