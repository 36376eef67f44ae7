//! The fixed 110-byte `newc`/`crc` header.

use crate::{CpioError, Format};

/// Length of a header: a 6-byte magic and thirteen 8-digit hex fields.
pub const HEADER_LEN: usize = 110;

/// The header fields, in archive order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Header {
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub file_size: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub name_size: u32,
    pub check: u32,
}

/// The format named by a 6-byte magic, or the error for one that names none.
pub fn format_of(magic: &[u8], offset: usize) -> Result<Format, CpioError> {
    match magic {
        b"070701" => Ok(Format::Newc),
        b"070702" => Ok(Format::Crc),
        b"070707" => Err(CpioError::OldFormat { offset }),
        _ => Err(CpioError::BadMagic { offset }),
    }
}

/// Parses the header fields after the magic; `bytes` is the whole header and `offset` where it starts.
pub fn parse(bytes: &[u8; HEADER_LEN], offset: usize) -> Result<Header, CpioError> {
    let mut fields = [0u32; 13];
    for (i, field) in fields.iter_mut().enumerate() {
        let start = 6 + 8 * i;
        let digits = bytes.get(start..start + 8).unwrap_or(&[]);
        *field = hex8(digits).ok_or(CpioError::BadHex {
            offset: offset.saturating_add(start),
        })?;
    }
    let [
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        file_size,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        name_size,
        check,
    ] = fields;
    Ok(Header {
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        file_size,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        name_size,
        check,
    })
}

/// Exactly eight hex digits, either case.
fn hex8(digits: &[u8]) -> Option<u32> {
    if digits.len() != 8 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = char::from(d).to_digit(16)?;
        Some((acc << 4) | v)
    })
}

#[cfg(test)]
mod tests {
    use super::hex8;

    #[test]
    fn hex_fields() {
        assert_eq!(hex8(b"0000001a"), Some(0x1a));
        assert_eq!(hex8(b"FFFFFFFF"), Some(u32::MAX));
        assert_eq!(hex8(b"0000001g"), None);
        assert_eq!(hex8(b"+0000001"), None);
        assert_eq!(hex8(b" 0000001"), None);
        assert_eq!(hex8(b"0000001"), None);
    }
}
