//! The lz4 legacy frame (what `lz4 -l` writes and Linux's `unlz4` reads): the magic, then blocks of a 32-bit
//! little-endian compressed size and an lz4 block of at most 8 MiB decompressed (`lz4_flex`). Another magic
//! between blocks starts a concatenated stream. The stream ends at the end of the input, at a zero size (zero
//! padding), or at a size no legacy block can have (the next archive: a cpio header reads as such a size), or
//! where another compression format's magic begins and is not also the size of a good block.

use crate::DecompressError;
use crate::output::Output;
use alloc::vec::Vec;
use ember_cpio::detect_compression;

const MAGIC: u32 = 0x184C_2102;
/// The decompressed size of a full legacy block.
const BLOCK: usize = 8 << 20;
/// `LZ4_compressBound(BLOCK)`: the largest compressed block.
const MAX_COMPRESSED: usize = BLOCK + BLOCK / 255 + 16;

/// Decompresses the legacy-frame stream at the start of `input`; the output and the stream's length.
pub fn decompress(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), DecompressError> {
    if input.get(..4) != Some(&MAGIC.to_le_bytes()[..]) {
        return Err(DecompressError::Corrupt("no lz4 legacy magic"));
    }
    let mut out = Output::new(limit);
    let mut pos = 4;
    while let Some(word) = input.get(pos..pos + 4) {
        let size = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        if size == MAGIC {
            pos += 4;
            continue;
        }
        let size = size as usize;
        if size == 0 || size > MAX_COMPRESSED {
            break;
        }
        // Some block sizes read as another format's magic (93 bytes as lzma's `5d 00 00`, others as gzip's,
        // bzip2's or lzo's): such a word ends the stream only when what follows is not a good block.
        let next_format = detect_compression(word).is_some();
        let Some(block) = input.get(pos + 4..pos + 4 + size) else {
            if next_format {
                break;
            }
            return Err(DecompressError::Truncated);
        };
        match block_into(block, &mut out) {
            Ok(n) => out.len += n,
            Err(DecompressError::Corrupt(_)) if next_format => break,
            Err(e) => return Err(e),
        }
        pos += 4 + size;
    }
    Ok((out.finish(), pos))
}

/// Decompresses one block after the valid data of `out`, growing the room (the block's decompressed size is not
/// stored) until it fits; its decompressed size.
fn block_into(block: &[u8], out: &mut Output) -> Result<usize, DecompressError> {
    let mut want = block.len().clamp(64 * 1024, BLOCK);
    loop {
        out.room(want)?;
        let room = out.spare().len();
        match lz4_flex::block::decompress_into(block, out.spare()) {
            Ok(n) => return Ok(n),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room < BLOCK => {
                if room < want {
                    // The limit stopped the growth.
                    return Err(DecompressError::TooLarge);
                }
                want = want.saturating_mul(2).min(BLOCK);
            }
            Err(_) => return Err(DecompressError::Corrupt("bad lz4 block")),
        }
    }
}
