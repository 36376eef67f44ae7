//! Archives made at test time, compressed with the host's `gzip`, `zstd`, `xz`, `lzma` and `lz4` (Debian's
//! `gzip`, `zstd`, `xz-utils` and `lz4` packages).

use super::*;
use alloc::string::String;
use alloc::vec;
use std::io::Write;
use std::process::{Command, Stdio};

const LIMITS: Limits = Limits { max_output: 64 << 20 };

/// A `newc` archive of regular files `(name, data)` and its trailer.
fn cpio(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entry = |name: &str, mode: u32, data: &[u8]| {
        let fields = [
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (name, data) in files {
        entry(name, 0o100644, data);
    }
    entry("TRAILER!!!", 0, &[]);
    out
}

/// `data` through `tool args` (stdin to stdout).
fn compress(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is needed for these tests (apt-get install {tool}): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

/// Every format with the command that makes it as Linux's build does.
const FORMATS: &[(Compression, &str, &[&str])] = &[
    (Compression::Gzip, "gzip", &["-9c"]),
    (Compression::Zstd, "zstd", &["-19", "-qc"]),
    (Compression::Xz, "xz", &["--check=crc32", "-c"]),
    (Compression::Lzma, "lzma", &["-c"]),
    (Compression::Lz4, "lz4", &["-l", "-9", "-c"]),
];

fn sample() -> (Vec<u8>, Files) {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let files: Files = vec![
        ("init".into(), b"#!/bin/sh\necho hi\n".to_vec()),
        ("big".into(), big),
        ("empty".into(), Vec::new()),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    (cpio(&refs), files)
}

/// Names and contents of the files handed over.
type Files = Vec<(String, Vec<u8>)>;

fn collect(input: &[u8], limits: Limits) -> (Files, Summary, Result<(), Error>) {
    let mut got = Vec::new();
    let (summary, result) = unpack(input, limits, |e| {
        got.push((String::from_utf8(e.name.to_vec()).unwrap(), e.data.to_vec()));
    });
    (got, summary, result)
}

#[test]
fn every_format_unpacks() {
    let (archive, files) = sample();
    for &(format, tool, args) in FORMATS {
        let packed = compress(tool, args, &archive);
        assert_eq!(detect_compression(&packed), Some(format), "{tool}");
        let (data, used) = decompress(format, &packed, LIMITS).unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert_eq!(data, archive, "{tool}");
        assert_eq!(used, packed.len(), "{tool}");
        let (got, summary, result) = collect(&packed, LIMITS);
        assert_eq!(result, Ok(()), "{tool}");
        assert_eq!(got, files, "{tool}");
        assert_eq!(
            summary,
            Summary {
                entries: 3,
                compressed: 1
            }
        );
    }
}

#[test]
fn concatenated_plain_and_compressed() {
    // An early-microcode-style plain archive, then every format in turn, with zero padding between some.
    let first = cpio(&[("kernel/x86/microcode/GenuineIntel.bin", b"ucode")]);
    let mut input = first.clone();
    let mut want = vec![("kernel/x86/microcode/GenuineIntel.bin".to_string(), b"ucode".to_vec())];
    for (i, &(_, tool, args)) in FORMATS.iter().enumerate() {
        let name = format!("from-{tool}");
        let archive = cpio(&[(name.as_str(), tool.as_bytes())]);
        input.extend_from_slice(&compress(tool, args, &archive));
        if i % 2 == 0 {
            input.extend_from_slice(&[0; 8]);
        }
        want.push((name, tool.as_bytes().to_vec()));
    }
    input.extend_from_slice(&first);
    want.push(want[0].clone());
    let (got, summary, result) = collect(&input, LIMITS);
    assert_eq!(result, Ok(()));
    assert_eq!(got, want);
    assert_eq!(summary.compressed, FORMATS.len());
}

#[test]
fn truncated_keeps_what_came_before() {
    let plain = cpio(&[("first", b"1")]);
    let (archive, _) = sample();
    for &(format, tool, args) in FORMATS {
        let packed = compress(tool, args, &archive);
        let mut input = plain.clone();
        input.extend_from_slice(&packed[..packed.len() / 2]);
        let (got, summary, result) = collect(&input, LIMITS);
        assert_eq!(got, vec![("first".to_string(), b"1".to_vec())], "{tool}");
        assert_eq!(summary.entries, 1);
        match result {
            Err(Error::Decompress { offset, format: f, .. }) => {
                assert_eq!((offset, f), (plain.len(), format), "{tool}");
            }
            other => panic!("{tool}: {other:?}"),
        }
    }
}

#[test]
fn gzip_crc_is_checked() {
    let (archive, _) = sample();
    let mut packed = compress("gzip", &["-9c"], &archive);
    let n = packed.len();
    packed[n - 8] ^= 1;
    assert_eq!(
        decompress(Compression::Gzip, &packed, LIMITS).unwrap_err(),
        DecompressError::Corrupt("CRC mismatch")
    );
}

#[test]
fn bombs_stop_at_the_limit() {
    let zeros = vec![0u8; 32 << 20];
    let small = Limits { max_output: 1 << 20 };
    for &(format, tool, args) in FORMATS {
        let packed = compress(tool, args, &zeros);
        assert!(packed.len() < 2 << 20, "{tool}");
        assert_eq!(
            decompress(format, &packed, small).unwrap_err(),
            DecompressError::TooLarge,
            "{tool}"
        );
    }
}

#[test]
fn junk_inside_compressed_data_is_an_error() {
    let packed = compress("gzip", &["-c"], b"this is not a cpio archive");
    let (got, _, result) = collect(&packed, LIMITS);
    assert!(got.is_empty());
    assert!(matches!(
        result,
        Err(Error::InCompressed {
            offset: 0,
            format: Compression::Gzip,
            ..
        })
    ));
}

#[test]
fn unsupported_formats_are_reported() {
    let (_, _, result) = collect(b"BZh91AY&SY", LIMITS);
    assert!(matches!(
        result,
        Err(Error::Decompress {
            error: DecompressError::Unsupported,
            ..
        })
    ));
}

/// Truncations and bit flips of every format: errors, never panics; entries only when the result is clean.
#[test]
fn mutated_inputs_never_panic() {
    let (archive, _) = sample();
    let small = Limits { max_output: 4 << 20 };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut tried = 0;
    for &(_, tool, args) in FORMATS {
        let packed = compress(tool, args, &archive);
        for _ in 0..150 {
            let mut m = packed.clone();
            match next() % 3 {
                0 => m.truncate((next() as usize) % m.len()),
                1 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() as usize) % m.len();
                        m[i] ^= 1 << (next() % 8);
                    }
                }
                _ => {
                    let i = (next() as usize) % m.len();
                    let len = (4 + next() % 8) as usize;
                    for b in m.iter_mut().skip(i).take(len) {
                        *b = next() as u8;
                    }
                }
            }
            let _ = collect(&m, small);
            tried += 1;
        }
    }
    assert_eq!(tried, 150 * FORMATS.len());
}

#[test]
fn lz4_block_whose_size_reads_as_a_magic() {
    // Found by the initramfs fuzz target: a 93-byte block's size word `5d 00 00 00` reads as lzma's magic, and
    // the stream used to end there with nothing decompressed. One block of 91 literals (token 0xF0, 76 more).
    let literals: Vec<u8> = (0..91u8).collect();
    let mut frame = 0x184C_2102u32.to_le_bytes().to_vec();
    frame.extend_from_slice(&93u32.to_le_bytes());
    frame.extend_from_slice(&[0xF0, 91 - 15]);
    frame.extend_from_slice(&literals);
    let limits = Limits { max_output: 1 << 20 };
    assert_eq!(
        decompress(Compression::Lz4, &frame, limits),
        Ok((literals.clone(), frame.len()))
    );
    // A real lzma magic after the stream still ends it.
    let mut two = frame.clone();
    two.extend_from_slice(&[0x5d, 0, 0, 0x80, 0]);
    assert_eq!(decompress(Compression::Lz4, &two, limits), Ok((literals, frame.len())));
}

#[test]
fn a_stream_without_its_magic_is_refused() {
    // Found by the initramfs fuzz target: zstd (and lz4) data not starting with its magic "decompressed" to
    // nothing from no input.
    let limits = Limits { max_output: 1 << 20 };
    for format in [Compression::Zstd, Compression::Lz4] {
        assert!(
            matches!(
                decompress(format, b"not compressed", limits),
                Err(DecompressError::Corrupt(_))
            ),
            "{format:?}"
        );
        assert!(
            matches!(decompress(format, b"", limits), Err(DecompressError::Corrupt(_))),
            "{format:?}"
        );
    }
}

#[test]
fn gzip_output_exactly_at_the_limit() {
    // Found by the initramfs fuzz target: an empty gzip member with a limit of 0 was TooLarge.
    let data = b"exactly this many bytes";
    let packed = compress("gzip", &["-c"], data);
    let empty = compress("gzip", &["-c"], b"");
    let at = |n: usize| Limits { max_output: n };
    assert_eq!(
        decompress(Compression::Gzip, &empty, at(0)),
        Ok((Vec::new(), empty.len()))
    );
    assert_eq!(
        decompress(Compression::Gzip, &packed, at(data.len())),
        Ok((data.to_vec(), packed.len()))
    );
    assert_eq!(
        decompress(Compression::Gzip, &packed, at(data.len() - 1)),
        Err(DecompressError::TooLarge)
    );
}

#[test]
fn a_zstd_block_that_overruns_its_input_is_an_error() {
    // Found by the initramfs fuzz target: `ruzstd` reported more input taken than it had, and the next slice of
    // the input panicked (a kernel panic from a hostile initramfs).
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x04];
    frame.extend_from_slice(&[0; 19]);
    frame.extend_from_slice(&[3, 0, 0, 0x28, 0]);
    let r = decompress(Compression::Zstd, &frame, Limits { max_output: 522_512 });
    assert!(
        matches!(r, Err(DecompressError::Corrupt(_)) | Err(DecompressError::Truncated)),
        "{r:?}"
    );
}
