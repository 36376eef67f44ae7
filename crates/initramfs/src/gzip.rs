//! gzip (RFC 1952): header, raw deflate (`miniz_oxide`), CRC-32 and size trailer, as Linux's `gunzip` checks.

use crate::DecompressError;
use crate::crc32::crc32;
use crate::output::Output;
use alloc::boxed::Box;
use alloc::vec::Vec;
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress as inflate, inflate_flags};

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const RESERVED: u8 = 0xe0;
/// The only compression method gzip defines.
const DEFLATE: u8 = 8;

/// Decompresses the gzip member at the start of `input`; the output and the member's length.
pub fn decompress(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), DecompressError> {
    let mut pos = header_len(input)?;
    let mut out = Output::new(limit);
    let mut state = Box::new(DecompressorOxide::new());
    loop {
        // At the limit the stream may still end without more output (an empty member, or output exactly the
        // limit): inflate once more with no room, and only more output to come is `TooLarge`.
        let full = match out.room(64 * 1024) {
            Ok(()) => false,
            Err(DecompressError::TooLarge) => true,
            Err(e) => return Err(e),
        };
        let (status, used, written) = inflate(
            &mut state,
            &input[pos..],
            &mut out.buf,
            out.len,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        pos += used;
        out.len += written;
        match status {
            TINFLStatus::Done => break,
            TINFLStatus::HasMoreOutput if full => return Err(DecompressError::TooLarge),
            TINFLStatus::HasMoreOutput => {}
            TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
                return Err(DecompressError::Truncated);
            }
            _ => return Err(DecompressError::Corrupt("bad deflate data")),
        }
    }
    let trailer = input.get(pos..pos + 8).ok_or(DecompressError::Truncated)?;
    let data = out.finish();
    if le32(&trailer[..4]) != crc32(&data) {
        return Err(DecompressError::Corrupt("CRC mismatch"));
    }
    if le32(&trailer[4..]) != data.len() as u32 {
        return Err(DecompressError::Corrupt("length mismatch"));
    }
    Ok((data, pos + 8))
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The length of the member header.
fn header_len(input: &[u8]) -> Result<usize, DecompressError> {
    let fixed = input.get(..10).ok_or(DecompressError::Truncated)?;
    if fixed[2] != DEFLATE {
        return Err(DecompressError::Corrupt("not deflate"));
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(DecompressError::Corrupt("reserved header flags"));
    }
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let len = input.get(pos..pos + 2).ok_or(DecompressError::Truncated)?;
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = input.get(pos..).ok_or(DecompressError::Truncated)?;
            pos += rest.iter().position(|&b| b == 0).ok_or(DecompressError::Truncated)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    if pos > input.len() {
        return Err(DecompressError::Truncated);
    }
    Ok(pos)
}
