//! MBR (`msdos`) tables: four primary entries in sector 0, logical partitions in a chain of extended boot
//! records inside an extended partition.

use crate::{Disk, Error, PartUuid, Partition, SECTOR, Scheme, Table, push};
use alloc::vec::Vec;

/// Partition types of an extended partition (DOS, Windows LBA, Linux).
const EXTENDED: [u8; 3] = [0x05, 0x0f, 0x85];
/// The type of a GPT's protective entry.
pub const PROTECTIVE: u8 = 0xee;
/// The most extended boot records followed (Linux stops at the minors it has; this bounds a looping chain).
const MAX_LOGICAL: u32 = 64;

/// One 16-byte entry.
#[derive(Clone, Copy)]
pub struct Entry {
    kind: u8,
    start: u64,
    sectors: u64,
}

/// Sector 0 read as an MBR.
pub struct Mbr {
    signature: u32,
    entries: [Entry; 4],
}

fn u32_at(s: &[u8; SECTOR], at: usize) -> u32 {
    u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]])
}

/// The four entries of a boot record, or `None` without the `55 AA` signature or with a boot flag other
/// than 0 or 0x80 (as Linux: such a sector is not a partition table).
fn entries(s: &[u8; SECTOR]) -> Option<[Entry; 4]> {
    if s[510] != 0x55 || s[511] != 0xaa {
        return None;
    }
    let mut e = [Entry {
        kind: 0,
        start: 0,
        sectors: 0,
    }; 4];
    for (i, slot) in e.iter_mut().enumerate() {
        let at = 446 + 16 * i;
        if s[at] & 0x7f != 0 {
            return None;
        }
        *slot = Entry {
            kind: s[at + 4],
            start: u32_at(s, at + 8).into(),
            sectors: u32_at(s, at + 12).into(),
        };
    }
    Some(e)
}

impl Mbr {
    /// Sector 0 as an MBR, or `None` when it is not one (see [`entries`]) or has no entry in use.
    pub fn parse(s: &[u8; SECTOR]) -> Option<Self> {
        let entries = entries(s)?;
        entries.iter().any(|e| e.kind != 0).then(|| Mbr {
            signature: u32_at(s, 440),
            entries,
        })
    }

    /// Whether an entry is a GPT's protective one (the disk holds a GPT).
    pub fn protective(&self) -> bool {
        self.entries.iter().any(|e| e.kind == PROTECTIVE)
    }
}

/// Whether `start..start + sectors` is a non-empty range inside a disk of `disk` sectors.
fn inside(start: u64, sectors: u64, disk: u64) -> bool {
    start > 0 && sectors > 0 && start.checked_add(sectors).is_some_and(|end| end <= disk)
}

/// The partitions of `mbr`: primaries, then the logical partitions of the first extended partition.
pub fn read<D: Disk>(disk: &mut D, mbr: &Mbr) -> Result<Option<Table>, Error> {
    let size = disk.sectors();
    let mut partitions = Vec::new();
    let mut dropped = 0;
    let uuid = |number| PartUuid::Mbr {
        signature: mbr.signature,
        number,
    };
    let mut extended = None;
    for (i, e) in mbr.entries.iter().enumerate() {
        if e.kind == 0 {
            continue;
        }
        if !inside(e.start, e.sectors, size) {
            dropped += 1;
            continue;
        }
        let number = i as u32 + 1;
        if EXTENDED.contains(&e.kind) {
            // Linux shows an extended partition as a 1 KiB device (2 sectors); it holds no file system.
            extended.get_or_insert(*e);
            push(
                &mut partitions,
                Partition {
                    number,
                    start: e.start,
                    sectors: e.sectors.min(2),
                    uuid: uuid(number),
                },
            )?;
            continue;
        }
        push(
            &mut partitions,
            Partition {
                number,
                start: e.start,
                sectors: e.sectors,
                uuid: uuid(number),
            },
        )?;
    }
    if let Some(ext) = extended {
        dropped += logical(disk, &ext, &mut partitions, mbr.signature)?;
    }
    Ok(Some(Table {
        scheme: Scheme::Mbr {
            signature: mbr.signature,
        },
        partitions,
        dropped,
    }))
}

/// Follows the chain of extended boot records in `ext`, adding logical partitions 5, 6…; the entries left out.
/// The chain ends at a record without a link, one that is not a boot record, or after [`MAX_LOGICAL`].
fn logical<D: Disk>(disk: &mut D, ext: &Entry, list: &mut Vec<Partition>, signature: u32) -> Result<u32, Error> {
    let ext_end = ext.start + ext.sectors;
    let mut dropped = 0;
    let mut number = 5;
    let mut at = ext.start;
    let mut sector = [0u8; SECTOR];
    for _ in 0..MAX_LOGICAL {
        disk.read(at, &mut sector)?;
        let Some(e) = entries(&sector) else {
            break;
        };
        // Entry 0: the logical partition, relative to this record.
        if e[0].kind != 0 {
            let start = at.checked_add(e[0].start);
            match start {
                Some(start) if e[0].start > 0 && inside(start, e[0].sectors, ext_end.min(disk.sectors())) => {
                    push(
                        list,
                        Partition {
                            number,
                            start,
                            sectors: e[0].sectors,
                            uuid: PartUuid::Mbr { signature, number },
                        },
                    )?;
                    number += 1;
                }
                _ => dropped += 1,
            }
        }
        // Entry 1: the next record, relative to the extended partition; it must move forward inside it.
        let next = ext.start + e[1].start;
        if !EXTENDED.contains(&e[1].kind) || e[1].start == 0 || next <= at || next >= ext_end {
            break;
        }
        at = next;
    }
    Ok(dropped)
}
