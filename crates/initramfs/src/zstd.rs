//! zstd (RFC 8878) through `ruzstd`: consecutive frames, skippable frames passed over, the window size checked
//! against a quarter of the limit before the decoder allocates it. Content checksums are not verified (`ruzstd`'s hash
//! feature needs `std`).
//!
//! `ruzstd` allocates its window with an allocation that aborts when it fails, so before each frame the window
//! the header asks for is allocated here first, fallibly, and released: a frame whose window cannot be had is
//! refused with [`DecompressError::OutOfMemory`] instead of ending the kernel.

use crate::DecompressError;
use crate::output::Output;
use alloc::vec::Vec;
use ruzstd::decoding::FrameDecoder;
use ruzstd::decoding::errors::FrameDecoderError;

const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether `b` starts with a skippable frame's magic (`0x184D2A5?`, little-endian).
fn skippable(b: &[u8]) -> bool {
    b.len() >= 4 && b[0] & 0xf0 == 0x50 && b[1..4] == [0x2a, 0x4d, 0x18]
}

/// Decompresses the zstd frames at the start of `input`; the output and the frames' length.
pub fn decompress(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), DecompressError> {
    let mut out = Output::new(limit);
    let mut decoder = FrameDecoder::new();
    // The ring buffer grows to about twice the window, and the output needs room too.
    decoder.set_max_window_size(limit as u64 / 4);
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        if skippable(rest) {
            let size = rest.get(4..8).ok_or(DecompressError::Truncated)?;
            let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
            pos = pos
                .checked_add(8 + size)
                .filter(|&p| p <= input.len())
                .ok_or(DecompressError::Truncated)?;
            continue;
        }
        if !rest.starts_with(&MAGIC) {
            if pos == 0 {
                return Err(DecompressError::Corrupt("no zstd frame"));
            }
            break;
        }
        pos += frame(&mut decoder, rest, &mut out)?;
    }
    Ok((out.finish(), pos))
}

/// Decodes one frame into `out`; its length.
fn frame(decoder: &mut FrameDecoder, input: &[u8], out: &mut Output) -> Result<usize, DecompressError> {
    let window = window_size(input)?;
    if window > decoder.max_window_size() {
        return Err(DecompressError::TooLarge);
    }
    probe(window)?;
    let mut src = input;
    decoder.reset(&mut src).map_err(error)?;
    let mut pos = input.len() - src.len();
    loop {
        out.room(128 * 1024)?;
        // `ruzstd` can report more input taken than it was given (a hostile block header): checked, so that the
        // next slice cannot panic.
        const OVERRUN: DecompressError = DecompressError::Corrupt("zstd decoder ran past its input");
        let rest = input.get(pos..).ok_or(OVERRUN)?;
        let room = out.spare().len();
        let (read, written) = decoder.decode_from_to(rest, out.spare()).map_err(error)?;
        if read > rest.len() || written > room {
            return Err(OVERRUN);
        }
        pos += read;
        out.len += written;
        if decoder.is_finished() && decoder.can_collect() == 0 {
            return Ok(pos);
        }
        if read == 0 && written == 0 {
            return Err(DecompressError::Truncated);
        }
    }
}

fn error(e: FrameDecoderError) -> DecompressError {
    match e {
        FrameDecoderError::WindowSizeTooBig { .. } => DecompressError::TooLarge,
        _ => DecompressError::Corrupt("bad zstd data"),
    }
}

/// The window size the frame header at the start of `frame` asks for (RFC 8878, 3.1.1.1).
fn window_size(frame: &[u8]) -> Result<u64, DecompressError> {
    let descriptor = *frame.get(4).ok_or(DecompressError::Truncated)?;
    if descriptor & 0x20 == 0 {
        let w = *frame.get(5).ok_or(DecompressError::Truncated)?;
        let base = 1u64 << (10 + (w >> 3));
        return Ok(base + (base / 8) * u64::from(w & 7));
    }
    // Single segment: the window is the content size.
    let dict_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let (fcs_len, add) = [(1, 0), (2, 256), (4, 0), (8, 0)][usize::from(descriptor >> 6)];
    let start = 5 + dict_len;
    let field = frame.get(start..start + fcs_len).ok_or(DecompressError::Truncated)?;
    let size = field.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    Ok(size + add)
}

/// Makes sure the decoder's window ring buffer can be allocated now: the sizes `ruzstd`'s ring buffer grows
/// through for `window` (its initial capacity, and the largest it reaches while this decoder drains it after
/// every block) are allocated together, fallibly, and released, which leaves blocks of those sizes in the heap.
fn probe(window: u64) -> Result<(), DecompressError> {
    /// Two maximal blocks (`ruzstd`'s slack).
    const SLACK: usize = 2 * 128 * 1024;
    let window = usize::try_from(window).map_err(|_| DecompressError::TooLarge)?;
    let pow2 = window.checked_next_power_of_two().ok_or(DecompressError::TooLarge)?;
    let sizes = [
        pow2.checked_add(SLACK + 1),
        pow2.checked_mul(2).and_then(|s| s.checked_add(SLACK + 1)),
    ];
    let mut held: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (v, size) in held.iter_mut().zip(sizes) {
        v.try_reserve_exact(size.ok_or(DecompressError::TooLarge)?)
            .map_err(|_| DecompressError::OutOfMemory)?;
    }
    Ok(())
}
