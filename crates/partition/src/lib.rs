//! Partition tables of a disk of 512-byte sectors, read as Linux reads them: MBR (`msdos`, with logical
//! partitions in an extended partition's chain) and GPT (the primary header, or the backup at the last sector
//! when the primary is damaged).
//!
//! Everything comes from the disk and is hostile: every offset and count is checked, loops are bounded, and a
//! damaged table is an [`Error::Corrupt`] with a reason, never a panic. Partitions that do not lie inside the
//! disk (or a GPT's usable range) are left out and counted in [`Table::dropped`].
//!
//! Numbering follows Linux: MBR primaries are 1–4, logical partitions 5 on; a GPT entry in slot `i` is
//! partition `i + 1`. [`PartUuid`] prints as Linux's `PARTUUID=`: the GPT entry's unique GUID, or the MBR
//! disk signature and partition number as `SSSSSSSS-PP`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod gpt;
mod mbr;

use alloc::vec::Vec;
use core::fmt;

/// Bytes per sector.
pub const SECTOR: usize = 512;

/// The disk under the parser.
pub trait Disk {
    /// Capacity in sectors.
    fn sectors(&self) -> u64;
    /// Reads sector `lba`.
    fn read(&mut self, lba: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError>;
}

/// The disk failed a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError;

/// Why no table could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The disk failed a read.
    Io,
    /// The heap could not hold the list of partitions.
    NoMemory,
    /// The table is there but damaged; the reason.
    Corrupt(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io => f.write_str("read error"),
            Error::NoMemory => f.write_str("out of memory"),
            Error::Corrupt(why) => write!(f, "corrupt table: {why}"),
        }
    }
}

impl From<IoError> for Error {
    fn from(_: IoError) -> Self {
        Error::Io
    }
}

/// A partition's `PARTUUID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartUuid {
    /// A GPT entry's unique partition GUID, as stored (mixed-endian).
    Gpt([u8; 16]),
    /// An MBR disk signature and partition number.
    Mbr {
        /// The 32-bit disk signature at byte 440 of sector 0.
        signature: u32,
        /// The partition's number.
        number: u32,
    },
}

impl fmt::Display for PartUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PartUuid::Gpt(g) => write!(
                f,
                "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
                u16::from_le_bytes([g[4], g[5]]),
                u16::from_le_bytes([g[6], g[7]]),
                g[8],
                g[9],
                g[10],
                g[11],
                g[12],
                g[13],
                g[14],
                g[15]
            ),
            PartUuid::Mbr { signature, number } => write!(f, "{signature:08x}-{number:02x}"),
        }
    }
}

impl PartUuid {
    /// Whether `text` (a `root=PARTUUID=` value) names this partition; letter case does not matter.
    pub fn matches(&self, text: &str) -> bool {
        let mut buf = [0u8; 36];
        let mut w = Writer { buf: &mut buf, len: 0 };
        if fmt::write(&mut w, format_args!("{self}")).is_err() {
            return false;
        }
        let len = w.len;
        buf[..len].eq_ignore_ascii_case(text.as_bytes())
    }
}

/// A fixed buffer as a [`fmt::Write`] (for [`PartUuid::matches`] without allocating).
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// One partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its number (`vda1` is 1).
    pub number: u32,
    /// Its first sector.
    pub start: u64,
    /// Its length in sectors (never 0; `start + sectors` is inside the disk).
    pub sectors: u64,
    /// Its `PARTUUID`.
    pub uuid: PartUuid,
}

/// The kind of table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// An MBR (`msdos`) table with its disk signature.
    Mbr {
        /// The disk signature.
        signature: u32,
    },
    /// A GPT.
    Gpt {
        /// Whether the primary header was damaged and the backup was used.
        from_backup: bool,
    },
}

/// A disk's partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// MBR or GPT.
    pub scheme: Scheme,
    /// The partitions, by number.
    pub partitions: Vec<Partition>,
    /// Entries left out because they do not lie inside the disk (or the GPT's usable range).
    pub dropped: u32,
}

/// Reads `disk`'s partition table: `Ok(None)` when there is none (no MBR signature, or an MBR without
/// entries).
pub fn read<D: Disk>(disk: &mut D) -> Result<Option<Table>, Error> {
    let mut s0 = [0u8; SECTOR];
    disk.read(0, &mut s0)?;
    let Some(mbr) = mbr::Mbr::parse(&s0) else {
        return Ok(None);
    };
    if mbr.protective() {
        return gpt::read(disk).map(Some);
    }
    mbr::read(disk, &mbr)
}

/// Adds `p` to `list`, fallibly.
fn push(list: &mut Vec<Partition>, p: Partition) -> Result<(), Error> {
    list.try_reserve(1).map_err(|_| Error::NoMemory)?;
    list.push(p);
    Ok(())
}

#[cfg(test)]
mod tests;
