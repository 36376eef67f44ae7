//! An initramfs as Linux's `init/initramfs.c` unpacks it: one or more cpio `newc`/`crc` archives, each plain or
//! compressed (gzip, zstd, xz, lzma, lz4 legacy frame), concatenated with zero padding between them, for example
//! an uncompressed early-microcode archive followed by a compressed root.
//!
//! [`unpack`] walks the whole input and hands every entry to a callback. The input is hostile: a corrupt or
//! truncated piece ends the walk with one [`Error`] that says where and why, after every entry read cleanly before
//! it was handed over (what Linux keeps too). Decompressed output is bounded by [`Limits::max_output`] and grown
//! with fallible allocation, so a decompression bomb is an error, never an abort; the decoders' own windows and
//! dictionaries are checked against the same bound before they are allocated.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod crc32;
mod error;
mod gzip;
mod lz4;
mod output;
mod xz;
mod zstd;

pub use ember_cpio::{Compression, Entry};
pub use error::{DecompressError, Error};

use alloc::vec::Vec;
use ember_cpio::{CpioError, detect_compression};

/// Bounds on the work one input may cause.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest decompressed size of one compressed piece, and of a decoder's window or dictionary.
    pub max_output: usize,
}

/// What [`unpack`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries handed to the callback.
    pub entries: usize,
    /// Compressed pieces decompressed.
    pub compressed: usize,
}

/// Decompresses the `format` stream at the start of `input`; the output and how many input bytes the stream took
/// (what follows may be another archive).
pub fn decompress(format: Compression, input: &[u8], limits: Limits) -> Result<(Vec<u8>, usize), DecompressError> {
    match format {
        Compression::Gzip => gzip::decompress(input, limits.max_output),
        Compression::Zstd => zstd::decompress(input, limits.max_output),
        Compression::Xz => xz::decompress_xz(input, limits.max_output),
        Compression::Lzma => xz::decompress_lzma(input, limits.max_output),
        Compression::Lz4 => lz4::decompress(input, limits.max_output),
        Compression::Bzip2 | Compression::Lzo => Err(DecompressError::Unsupported),
    }
}

/// Walks `input` (concatenated archives, plain or compressed), calling `each` with every entry in order. The
/// error, if any, comes after every entry before it was handed over; the summary counts them either way.
pub fn unpack(input: &[u8], limits: Limits, mut each: impl FnMut(&Entry<'_>)) -> (Summary, Result<(), Error>) {
    let mut summary = Summary::default();
    let result = walk(input, limits, &mut summary, &mut each);
    (summary, result)
}

fn walk(input: &[u8], limits: Limits, summary: &mut Summary, each: &mut dyn FnMut(&Entry<'_>)) -> Result<(), Error> {
    let mut pos = 0;
    loop {
        pos += input[pos..].iter().take_while(|&&b| b == 0).count();
        let rest = &input[pos..];
        if rest.is_empty() {
            return Ok(());
        }
        if let Some(format) = detect_compression(rest) {
            let (data, used) = decompress(format, rest, limits).map_err(|error| Error::Decompress {
                offset: pos,
                format,
                error,
            })?;
            summary.compressed += 1;
            // A decompressed piece holds cpio archives only, as in Linux ("junk within compressed archive").
            entries(&data, summary, each).map_err(|error| Error::InCompressed {
                offset: pos,
                format,
                error,
            })?;
            pos += used.max(1);
        } else {
            match entries(rest, summary, each) {
                Ok(()) => return Ok(()),
                Err(CpioError::Compressed { offset, .. }) if offset > 0 => pos += offset,
                Err(error) => return Err(Error::Cpio { offset: pos, error }),
            }
        }
    }
}

/// Hands every entry of the plain archives in `data` to `each`.
fn entries(data: &[u8], summary: &mut Summary, each: &mut dyn FnMut(&Entry<'_>)) -> Result<(), CpioError> {
    for entry in ember_cpio::entries(data) {
        each(&entry?);
        summary.entries += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
