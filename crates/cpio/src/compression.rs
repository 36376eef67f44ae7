//! Recognising compressed initramfs images by their magic numbers.

use core::fmt;

/// A compression format Linux can unpack an initramfs from (`lib/decompress.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip, `1f 8b` (or the old `1f 9e`).
    Gzip,
    /// bzip2, `BZh`.
    Bzip2,
    /// lzma, `5d 00`.
    Lzma,
    /// xz, `fd 37 7a 58 5a 00`.
    Xz,
    /// lzo (lzop), `89 4c 5a 4f`.
    Lzo,
    /// lz4 legacy frame, `02 21 4c 18`.
    Lz4,
    /// zstd, `28 b5 2f fd`.
    Zstd,
}

impl Compression {
    /// The format's usual short name.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Xz => "xz",
            Compression::Lzo => "lzo",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Magic numbers in the order Linux's `compressed_formats` table tries them.
const MAGICS: &[(&[u8], Compression)] = &[
    (&[0x1f, 0x8b], Compression::Gzip),
    (&[0x1f, 0x9e], Compression::Gzip),
    (b"BZh", Compression::Bzip2),
    (&[0x5d, 0x00], Compression::Lzma),
    (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], Compression::Xz),
    (&[0x89, 0x4c, 0x5a, 0x4f], Compression::Lzo),
    (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4),
    (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
];

/// The compression format whose magic number `bytes` starts with, if any.
pub fn detect_compression(bytes: &[u8]) -> Option<Compression> {
    MAGICS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|&(_, c)| c)
}
