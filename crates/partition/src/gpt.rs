//! GPT: the header at sector 1 (or its backup at the last sector), checked by its CRC32, then the entry array,
//! checked by its CRC32. Like Linux, the entry size must be 128 bytes.

use crate::{Disk, Error, PartUuid, Partition, SECTOR, Scheme, Table, push};
use alloc::vec::Vec;

/// The header's signature.
const SIGNATURE: &[u8; 8] = b"EFI PART";
/// The only entry size accepted (Linux's `sizeof(gpt_entry)`).
const ENTRY: usize = 128;
/// The most entries accepted (the usual array holds 128; this bounds the reads a hostile header can ask for).
const MAX_ENTRIES: u32 = 4096;

/// What the table needs from a valid header.
struct Header {
    first_usable: u64,
    last_usable: u64,
    entries_lba: u64,
    entries: u32,
    entries_crc: u32,
}

fn u32_at(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]])
}

fn u64_at(s: &[u8], at: usize) -> u64 {
    u64::from(u32_at(s, at)) | (u64::from(u32_at(s, at + 4)) << 32)
}

/// The header at `lba`, if it is a valid one that says it lives there.
fn header<D: Disk>(disk: &mut D, lba: u64) -> Result<Result<Header, &'static str>, Error> {
    let size = disk.sectors();
    let mut s = [0u8; SECTOR];
    disk.read(lba, &mut s)?;
    if &s[..8] != SIGNATURE {
        return Ok(Err("no GPT header signature"));
    }
    let header_size = u32_at(&s, 12) as usize;
    if !(92..=SECTOR).contains(&header_size) {
        return Ok(Err("bad GPT header size"));
    }
    let stored = u32_at(&s, 16);
    let mut copy = s;
    copy[16..20].fill(0);
    if crc32fast::hash(&copy[..header_size]) != stored {
        return Ok(Err("GPT header checksum mismatch"));
    }
    let h = Header {
        first_usable: u64_at(&s, 40),
        last_usable: u64_at(&s, 48),
        entries_lba: u64_at(&s, 72),
        entries: u32_at(&s, 80),
        entries_crc: u32_at(&s, 88),
    };
    if u64_at(&s, 24) != lba {
        return Ok(Err("GPT header is not where it says it is"));
    }
    if h.first_usable > h.last_usable || h.last_usable >= size {
        return Ok(Err("GPT usable range outside the disk"));
    }
    if u32_at(&s, 84) as usize != ENTRY {
        return Ok(Err("GPT entry size is not 128"));
    }
    if h.entries > MAX_ENTRIES {
        return Ok(Err("too many GPT entries"));
    }
    let array_sectors = (u64::from(h.entries) * ENTRY as u64).div_ceil(SECTOR as u64);
    if h.entries_lba < 1 || h.entries_lba.checked_add(array_sectors).is_none_or(|end| end > size) {
        return Ok(Err("GPT entry array outside the disk"));
    }
    Ok(Ok(h))
}

/// The GPT of `disk`: the primary header, else the backup; `Corrupt` when neither is valid, or when the
/// entry array does not match the header's checksum.
pub fn read<D: Disk>(disk: &mut D) -> Result<Table, Error> {
    let last = disk.sectors().checked_sub(1).ok_or(Error::Corrupt("empty disk"))?;
    let (h, from_backup) = match header(disk, 1)? {
        Ok(h) => (h, false),
        Err(why) => match header(disk, last)? {
            Ok(h) => (h, true),
            Err(_) => return Err(Error::Corrupt(why)),
        },
    };
    let mut crc = crc32fast::Hasher::new();
    let mut partitions = Vec::new();
    let mut dropped = 0;
    let mut s = [0u8; SECTOR];
    let per_sector = (SECTOR / ENTRY) as u32;
    for slot in 0..h.entries {
        if slot % per_sector == 0 {
            disk.read(h.entries_lba + u64::from(slot / per_sector), &mut s)?;
        }
        let at = (slot % per_sector) as usize * ENTRY;
        let e = &s[at..at + ENTRY];
        crc.update(e);
        if e[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let (first, last) = (u64_at(e, 32), u64_at(e, 40));
        if first < h.first_usable || first > last || last > h.last_usable {
            dropped += 1;
            continue;
        }
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&e[16..32]);
        push(
            &mut partitions,
            Partition {
                number: slot + 1,
                start: first,
                sectors: last - first + 1,
                uuid: PartUuid::Gpt(guid),
            },
        )?;
    }
    if crc.finalize() != h.entries_crc {
        return Err(Error::Corrupt("GPT entry array checksum mismatch"));
    }
    Ok(Table {
        scheme: Scheme::Gpt { from_backup },
        partitions,
        dropped,
    })
}
