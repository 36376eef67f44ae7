//! A whole initramfs and its decompressors (`ember-initramfs`).

use crate::input::Input;
use ember_initramfs::{Compression, DecompressError, Limits, decompress, unpack};

/// The largest output limit a fuzz input may ask for.
const MAX_LIMIT: u32 = 1 << 20;

const FORMATS: [Compression; 5] = [
    Compression::Gzip,
    Compression::Zstd,
    Compression::Xz,
    Compression::Lzma,
    Compression::Lz4,
];

/// Input: a mode byte, an output limit (below 1 MiB), then data. Modes:
/// - unpack the data as a whole initramfs: the callback sees exactly the entries the summary counts, no entry's
///   data is larger than the limit or the input allows, and unpacking again gives the same entries;
/// - decompress the data as one of gzip, zstd, xz, lzma, lz4: a success is never above the limit, took between 1
///   byte and the whole input, and gives the same bytes with twice the limit; a failure for size is `TooLarge`
///   only (no `OutOfMemory` on the host);
/// - a round trip: the data compressed by an independent encoder (`miniz_oxide`'s deflate in a gzip member,
///   `lz4_flex` blocks in a legacy frame), followed by junk: decompresses to exactly the data, taking exactly the
///   compressed stream, when the limit allows, and is `TooLarge` when it does not.
pub fn initramfs(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8() % 8;
    let max_output = (input.u32() % (MAX_LIMIT + 1)) as usize;
    let limits = Limits { max_output };
    let rest = input.rest();
    match mode {
        0 | 1 => unpack_checked(rest, limits),
        2..=6 => {
            let format = FORMATS[usize::from(mode - 2)];
            match decompress(format, rest, limits) {
                Ok((out, used)) => {
                    assert!(
                        out.len() <= max_output,
                        "{format:?}: {} bytes over a {max_output} limit",
                        out.len()
                    );
                    assert!(
                        used >= 1 && used <= rest.len(),
                        "{format:?}: took {used} of {}",
                        rest.len()
                    );
                    let twice = Limits {
                        max_output: max_output * 2,
                    };
                    assert_eq!(
                        decompress(format, rest, twice),
                        Ok((out, used)),
                        "{format:?} with a larger limit"
                    );
                }
                Err(e) => assert_ne!(e, DecompressError::OutOfMemory, "{format:?}: out of memory on the host"),
            }
        }
        _ => round_trip(rest, limits),
    }
}

fn unpack_checked(data: &[u8], limits: Limits) {
    let mut seen = Vec::new();
    let (summary, result) = unpack(data, limits, |e| {
        assert!(
            e.data.len() <= limits.max_output.max(data.len()),
            "an entry of {} bytes from {} bytes of input with a {} limit",
            e.data.len(),
            data.len(),
            limits.max_output
        );
        seen.push((e.name.to_vec(), e.data.to_vec(), e.mode));
    });
    assert_eq!(summary.entries, seen.len(), "the summary miscounts the entries");
    if let Err(e) = &result {
        let _ = e.to_string();
    }
    let mut again = Vec::new();
    let (summary2, result2) = unpack(data, limits, |e| again.push((e.name.to_vec(), e.data.to_vec(), e.mode)));
    assert!(
        summary2 == summary && result2 == result && again == seen,
        "a second unpack differs"
    );
}

fn round_trip(data: &[u8], limits: Limits) {
    let (payload, junk) = data.split_at(data.len() * 7 / 8);
    for (format, stream) in [
        (Compression::Gzip, gzip(payload)),
        (Compression::Lz4, lz4_legacy(payload)),
    ] {
        let mut input = stream.clone();
        // Junk after the stream, but not a word the lz4 frame would read as one more block.
        input.extend_from_slice(junk);
        if format == Compression::Lz4 && !junk.is_empty() {
            input.truncate(stream.len());
        }
        match decompress(format, &input, limits) {
            Ok((out, used)) => {
                assert!(out == payload, "{format:?}: the round trip changed the data");
                assert_eq!(used, stream.len(), "{format:?}: the stream's length");
                assert!(payload.len() <= limits.max_output);
            }
            Err(DecompressError::TooLarge) => {
                assert!(
                    payload.len() > limits.max_output,
                    "{format:?}: TooLarge within the limit"
                );
            }
            Err(e) => panic!("{format:?}: a good stream of {} bytes: {e}", payload.len()),
        }
    }
}

/// A gzip member of `data`: a minimal header, raw deflate, CRC-32 and size.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    v.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    v.extend_from_slice(&crc32(data).to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v
}

/// An lz4 legacy frame of `data`, in blocks of 64 KiB (any size up to 8 MiB is valid).
fn lz4_legacy(data: &[u8]) -> Vec<u8> {
    let mut v = 0x184C_2102u32.to_le_bytes().to_vec();
    for chunk in data.chunks(64 * 1024) {
        let block = lz4_flex::compress(chunk);
        v.extend_from_slice(&(block.len() as u32).to_le_bytes());
        v.extend(block);
    }
    v
}

/// CRC-32 (IEEE), bit by bit: an implementation independent of the crate's table.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
