//! Archives built by a small `newc`/`crc` writer, then read back.

use std::vec::Vec;

use crate::{Compression, CpioError, Entry, FileType, Format, entries};

const REG: u32 = 0o100_644;
const DIR: u32 = 0o040_755;
const LNK: u32 = 0o120_777;
const CHR: u32 = 0o020_600;
const BLK: u32 = 0o060_660;

/// A minimal cpio writer: entries, then a trailer, each padded like GNU cpio's `-H newc`.
struct Writer {
    out: Vec<u8>,
    crc: bool,
    ino: u32,
}

impl Writer {
    fn new() -> Self {
        Self {
            out: Vec::new(),
            crc: false,
            ino: 1,
        }
    }

    fn crc() -> Self {
        Self {
            crc: true,
            ..Self::new()
        }
    }

    fn header(&mut self, fields: [u32; 13]) {
        self.out.extend_from_slice(if self.crc { b"070702" } else { b"070701" });
        for f in fields {
            self.out.extend_from_slice(std::format!("{f:08X}").as_bytes());
        }
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn raw(&mut self, name: &[u8], mode: u32, nlink: u32, ino: u32, rdev: (u32, u32), data: &[u8]) -> &mut Self {
        let check = if self.crc {
            data.iter().map(|&b| u32::from(b)).sum()
        } else {
            0
        };
        let name_size = u32::try_from(name.len() + 1).unwrap();
        let size = u32::try_from(data.len()).unwrap();
        self.header([
            ino,
            mode,
            1000,
            100,
            nlink,
            1_700_000_000,
            size,
            8,
            1,
            rdev.0,
            rdev.1,
            name_size,
            check,
        ]);
        self.out.extend_from_slice(name);
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
        self
    }

    fn add(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.ino += 1;
        let ino = self.ino;
        self.raw(name.as_bytes(), mode, 1, ino, (0, 0), data)
    }

    fn trailer(&mut self) -> &mut Self {
        self.raw(b"TRAILER!!!", 0, 1, 0, (0, 0), &[])
    }

    fn bytes(&self) -> Vec<u8> {
        self.out.clone()
    }
}

fn sample() -> Vec<u8> {
    Writer::new()
        .add(".", DIR, &[])
        .add("bin", DIR, &[])
        .add("bin/init", 0o100_755, b"\x7fELF and some code")
        .add("bin/sh", LNK, b"init")
        .add("dev/console", CHR, &[])
        .trailer()
        .bytes()
}

fn all(input: &[u8]) -> Result<Vec<Entry<'_>>, CpioError> {
    entries(input).collect()
}

#[test]
fn reads_every_field() {
    let mut w = Writer::new();
    w.raw(b"dev/vda", BLK, 1, 77, (254, 3), &[]).trailer();
    let bytes = w.bytes();
    let got = all(&bytes).unwrap();
    assert_eq!(got.len(), 1);
    let e = got[0];
    assert_eq!(e.format, Format::Newc);
    assert_eq!(e.offset, 0);
    assert_eq!(
        (e.ino, e.mode, e.uid, e.gid, e.nlink, e.mtime),
        (77, BLK, 1000, 100, 1, 1_700_000_000)
    );
    assert_eq!((e.dev_major, e.dev_minor, e.rdev_major, e.rdev_minor), (8, 1, 254, 3));
    assert_eq!(e.name, b"dev/vda");
    assert_eq!(e.name_str(), Some("dev/vda"));
    assert!(e.is_block() && !e.is_char() && !e.is_file() && !e.is_dir() && !e.is_symlink());
    assert_eq!(e.permissions(), 0o660);
}

#[test]
fn reads_names_data_and_types() {
    let bytes = sample();
    let got = all(&bytes).unwrap();
    let names: Vec<&[u8]> = got.iter().map(|e| e.name).collect();
    assert_eq!(names, [&b"."[..], b"bin", b"bin/init", b"bin/sh", b"dev/console"]);
    assert!(got[0].is_dir() && got[1].is_dir());
    assert!(got[2].is_file());
    assert_eq!(got[2].data, b"\x7fELF and some code");
    assert_eq!(got[2].permissions(), 0o755);
    assert!(got[3].is_symlink());
    assert_eq!(got[3].data, b"init");
    assert!(got[4].is_char());
    assert!(got.iter().all(|e| e.offset.is_multiple_of(4)));
}

#[test]
fn every_name_and_data_length_pads_correctly() {
    // All residues of name and data length modulo 4.
    let mut w = Writer::new();
    let mut expect = Vec::new();
    for n in 1..=8 {
        for d in 0..=8 {
            let name = "n".repeat(n);
            let data = std::vec![u8::try_from(d).unwrap(); d];
            w.add(&name, REG, &data);
            expect.push((name, data));
        }
    }
    w.trailer();
    let bytes = w.bytes();
    let got = all(&bytes).unwrap();
    assert_eq!(got.len(), expect.len());
    for (e, (name, data)) in got.iter().zip(&expect) {
        assert_eq!(e.name, name.as_bytes());
        assert_eq!(e.data, &data[..]);
    }
}

#[test]
fn empty_and_zero_inputs_are_empty_initramfs() {
    assert_eq!(all(&[]).unwrap(), []);
    assert_eq!(all(&[0; 512]).unwrap(), []);
    assert_eq!(all(&Writer::new().trailer().bytes()).unwrap(), []);
}

#[test]
fn concatenated_archives_with_zero_padding() {
    let first = Writer::new().add("a", REG, b"1").trailer().bytes();
    let second = Writer::new().add("b", REG, b"22").trailer().bytes();
    for zeros in [0usize, 4, 8, 512, 4096] {
        let mut bytes = std::vec![0u8; 8]; // leading zeros are skipped too
        bytes.extend_from_slice(&first);
        bytes.resize(bytes.len() + zeros, 0);
        bytes.extend_from_slice(&second);
        bytes.resize(bytes.len() + 512, 0); // GNU cpio pads to a block
        let got = all(&bytes).unwrap();
        let names: Vec<&[u8]> = got.iter().map(|e| e.name).collect();
        assert_eq!(names, [b"a", b"b"], "{zeros} zeros");
        assert_eq!(got[1].data, b"22");
    }
}

#[test]
fn misaligned_second_archive_is_broken_padding() {
    let mut bytes = Writer::new().trailer().bytes();
    bytes.extend_from_slice(&[0, 0]);
    let at = bytes.len();
    bytes.extend_from_slice(&Writer::new().add("a", REG, b"").trailer().bytes());
    assert_eq!(all(&bytes), Err(CpioError::BrokenPadding { offset: at }));
}

#[test]
fn hard_links_are_reported_as_stored() {
    let mut w = Writer::new();
    w.raw(b"bin/a", REG, 3, 9, (0, 0), &[])
        .raw(b"bin/b", REG, 3, 9, (0, 0), &[])
        .raw(b"bin/c", REG, 3, 9, (0, 0), b"shared")
        .trailer();
    let bytes = w.bytes();
    let got = all(&bytes).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|e| e.nlink == 3 && e.ino == 9));
    assert_eq!(
        (got[0].data, got[1].data, got[2].data),
        (&b""[..], &b""[..], &b"shared"[..])
    );
}

#[test]
fn crc_format_checks_file_data() {
    let bytes = Writer::crc()
        .add("f", REG, b"hello")
        .add("d", DIR, &[])
        .trailer()
        .bytes();
    let got = all(&bytes).unwrap();
    assert_eq!(got[0].format, Format::Crc);
    assert_eq!(got[0].check, b"hello".iter().map(|&b| u32::from(b)).sum::<u32>());

    let mut bad = bytes.clone();
    let data_at = bad.windows(5).position(|w| w == b"hello").unwrap();
    bad[data_at] = b'j';
    assert!(matches!(all(&bad), Err(CpioError::BadChecksum { offset: 0, .. })));
}

#[test]
fn compressed_images_are_named() {
    let cases: [(&[u8], Compression); 8] = [
        (&[0x1f, 0x8b, 8, 0], Compression::Gzip),
        (&[0x1f, 0x9e, 8, 0], Compression::Gzip),
        (&[0x28, 0xb5, 0x2f, 0xfd, 0], Compression::Zstd),
        (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0], Compression::Xz),
        (&[0x02, 0x21, 0x4c, 0x18, 0], Compression::Lz4),
        (b"BZh91AY", Compression::Bzip2),
        (&[0x5d, 0, 0, 0x80], Compression::Lzma),
        (&[0x89, b'L', b'Z', b'O', 0], Compression::Lzo),
    ];
    for (magic, format) in cases {
        assert_eq!(all(magic), Err(CpioError::Compressed { offset: 0, format }));
        // A compressed image appended after an uncompressed one (as Linux allows) is named too.
        let mut bytes = Writer::new().add("a", REG, b"").trailer().bytes();
        let at = bytes.len();
        bytes.extend_from_slice(magic);
        let mut it = entries(&bytes);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(CpioError::Compressed { offset: at, format })));
        assert_eq!(it.next(), None);
    }
    let msg = std::format!(
        "{}",
        CpioError::Compressed {
            offset: 0,
            format: Compression::Gzip
        }
    );
    assert_eq!(msg, "compressed initramfs (gzip) at offset 0 not supported yet");
}

#[test]
fn bad_magic_and_old_format() {
    assert_eq!(all(b"hello world"), Err(CpioError::BadMagic { offset: 0 }));
    assert_eq!(all(b"abc"), Err(CpioError::BadMagic { offset: 0 }));
    let mut odc = sample();
    odc[..6].copy_from_slice(b"070707");
    assert_eq!(all(&odc), Err(CpioError::OldFormat { offset: 0 }));
    // Garbage where the second entry should start.
    let mut bytes = sample();
    let second = all(&sample()).unwrap()[1].offset;
    bytes[second] = b'X';
    let mut it = entries(&bytes);
    assert!(it.next().unwrap().is_ok());
    assert_eq!(it.next(), Some(Err(CpioError::BadMagic { offset: second })));
    assert_eq!(it.next(), None);
}

#[test]
fn bad_hex_is_located() {
    for (field, bad) in [(0usize, b'g'), (6, b' '), (12, b'-'), (1, b'x')] {
        let mut bytes = sample();
        let at = 6 + 8 * field + 3;
        bytes[at] = bad;
        assert_eq!(
            all(&bytes),
            Err(CpioError::BadHex { offset: 6 + 8 * field }),
            "field {field}"
        );
    }
    // Lower-case hex is accepted.
    let mut bytes = Writer::new().add("x", REG, &[0; 0xab]).trailer().bytes();
    let size = &mut bytes[6 + 8 * 6..6 + 8 * 7];
    assert_eq!(size, b"000000AB");
    size.copy_from_slice(b"000000ab");
    assert_eq!(all(&bytes).unwrap()[0].data.len(), 0xab);
}

#[test]
fn names_must_be_nul_terminated() {
    // Name size zero.
    let mut w = Writer::new();
    w.header([1, REG, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    w.trailer();
    assert_eq!(all(&w.bytes()), Err(CpioError::BadName { offset: 110 }));
    // Last byte not NUL, and a NUL inside the name.
    for name in [&b"abc\x01"[..], b"a\0c\0"] {
        let mut w = Writer::new();
        w.header([1, REG, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0]);
        w.out.extend_from_slice(name);
        w.pad();
        w.trailer();
        assert_eq!(all(&w.bytes()), Err(CpioError::BadName { offset: 110 }));
    }
}

#[test]
fn sizes_past_the_end() {
    for (name_size, file_size) in [(u32::MAX, 0), (0x20, 0), (2, u32::MAX), (2, 0x1000)] {
        let mut w = Writer::new();
        w.header([1, REG, 0, 0, 1, 0, file_size, 0, 0, 0, 0, name_size, 0]);
        w.out.extend_from_slice(b"a\0");
        w.pad();
        w.out.extend_from_slice(&[0; 16]);
        let err = all(&w.bytes()).unwrap_err();
        assert!(
            matches!(err, CpioError::Truncated { .. }),
            "{name_size:#x} {file_size:#x}: {err:?}"
        );
    }
}

#[test]
fn missing_trailer() {
    let bytes = Writer::new().add("a", REG, b"abcd").bytes();
    let mut it = entries(&bytes);
    assert!(it.next().unwrap().is_ok());
    assert_eq!(it.next(), Some(Err(CpioError::MissingTrailer { offset: bytes.len() })));
}

#[test]
fn every_truncation_is_an_error() {
    for bytes in [sample(), Writer::crc().add("f", REG, b"xyz").trailer().bytes()] {
        for len in 1..bytes.len() {
            let result = all(&bytes[..len]);
            assert!(result.is_err(), "truncated to {len}: {result:?}");
        }
    }
}

#[test]
fn hostile_bytes_never_panic() {
    // Flip every byte of a valid archive to a few values; any result is fine as long as nothing panics and
    // the iterator ends.
    let bytes = sample();
    for i in 0..bytes.len() {
        for v in [0u8, b'0', b'7', b'F', 0xff] {
            let mut b = bytes.clone();
            b[i] = v;
            assert!(entries(&b).take(100).count() < 100);
        }
    }
}

#[test]
fn file_types() {
    assert_eq!(FileType::from_mode(0o010_644), FileType::Fifo);
    assert_eq!(FileType::from_mode(0o140_755), FileType::Socket);
    assert_eq!(FileType::from_mode(0o644), FileType::Unknown(0));
    assert_eq!(FileType::from_mode(0o170_000), FileType::Unknown(0o170_000));
    assert_eq!(FileType::from_mode(REG), FileType::Regular);
}

#[test]
fn errors_display_offsets() {
    let e = CpioError::Truncated { offset: 220 };
    assert_eq!(e.offset(), 220);
    assert!(std::format!("{e}").contains("220"));
}
