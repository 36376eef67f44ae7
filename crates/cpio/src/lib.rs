//! A reader of cpio `newc` (magic `070701`) and `crc` (`070702`) archives, following what Linux's
//! `init/initramfs.c` accepts for an initramfs.
//!
//! [`entries`] walks an archive (or several concatenated ones) without copying: each [`Entry`] borrows its name
//! and data from the input. Every input is treated as hostile: a malformed archive yields one [`CpioError`] naming
//! the byte offset, after which the iterator ends. Compressed archives are recognised by their magic and reported
//! as [`CpioError::Compressed`]; this crate does not decompress.
//!
//! Linux's rules that are kept:
//! - the header and the NUL-terminated name together are padded to 4 bytes, and so is the data;
//! - an archive ends with an entry called `TRAILER!!!`;
//! - zero bytes before an archive and between concatenated archives are skipped, and the next archive must then
//!   start at a 4-byte-aligned offset of the whole input ("broken padding" otherwise);
//! - the `crc` format's check field is the 32-bit sum of a regular file's data bytes.
//!
//! Stricter than Linux: header fields must be exactly eight hex digits, a name must end with its only NUL, and an
//! archive that stops without a trailer is an error (Linux stops quietly). An empty input, or one of only zero
//! bytes, is an empty initramfs and yields no entries. Hard links (`nlink > 1`, data on the last of them) are
//! reported as they are stored.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod compression;
mod entry;
mod error;
mod header;
mod reader;

pub use compression::{Compression, detect_compression};
pub use entry::{Entry, FileType, Format};
pub use error::CpioError;
pub use reader::{Entries, entries};

#[cfg(test)]
mod tests;
