//! xz and legacy `.lzma` through `lzma-rust2`'s streaming decoders, with the memory limit the decoder checks
//! against the dictionary size before allocating it.

use crate::DecompressError;
use crate::output::Output;
use alloc::vec::Vec;
use lzma_rust2::{Action, LzmaStream, Status, StreamResult, XzStream};

/// Decompresses the xz stream at the start of `input`; the output and the stream's length.
pub fn decompress_xz(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), DecompressError> {
    let mut stream = XzStream::new_mem_limit(false, limit_kb(limit));
    run(input, limit, |i, o| stream.process(i, o, Action::Finish))
}

/// Decompresses the `.lzma` stream at the start of `input`; the output and the stream's length.
pub fn decompress_lzma(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), DecompressError> {
    let mut stream = LzmaStream::new_mem_limit(limit_kb(limit), None);
    run(input, limit, |i, o| stream.process(i, o, Action::Finish))
}

fn limit_kb(limit: usize) -> u32 {
    u32::try_from(limit / 1024).unwrap_or(u32::MAX - 1)
}

fn run(
    input: &[u8],
    limit: usize,
    mut process: impl FnMut(&[u8], &mut [u8]) -> lzma_rust2::Result<StreamResult>,
) -> Result<(Vec<u8>, usize), DecompressError> {
    let mut out = Output::new(limit);
    let mut pos = 0;
    loop {
        out.room(128 * 1024)?;
        let r = process(&input[pos..], out.spare()).map_err(error)?;
        pos += r.bytes_consumed;
        out.len += r.bytes_produced;
        if r.status == Status::StreamEnd {
            return Ok((out.finish(), pos));
        }
        if r.bytes_consumed == 0 && r.bytes_produced == 0 {
            return Err(DecompressError::Truncated);
        }
    }
}

fn error(e: lzma_rust2::Error) -> DecompressError {
    match e {
        lzma_rust2::Error::OutOfMemory("TryReserveError") => DecompressError::OutOfMemory,
        lzma_rust2::Error::OutOfMemory(_) => DecompressError::TooLarge,
        lzma_rust2::Error::Eof => DecompressError::Truncated,
        lzma_rust2::Error::InvalidData(why) | lzma_rust2::Error::Unsupported(why) => DecompressError::Corrupt(why),
        _ => DecompressError::Corrupt("bad xz/lzma data"),
    }
}
