//! `virtio_mmio.device=<size>@<base>:<irq>[:<id>]`, with Linux's exact grammar (`drivers/virtio/virtio_mmio.c`,
//! `vm_cmdline_set`, and `lib/cmdline.c`, `memparse`).

use core::fmt;

/// One device announced on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmioDevice {
    /// Size of the register window in bytes.
    pub size: u64,
    /// Physical base address.
    pub base: u64,
    /// Interrupt (GSI), never 0.
    pub irq: u32,
    /// Platform device id, when given.
    pub id: Option<u32>,
}

/// Why an entry was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioMmioError {
    /// `<size>` is missing or not a number.
    BadSize,
    /// `@` does not follow the size.
    NoBase,
    /// `<base>` is missing or not a number.
    BadBase,
    /// `:` does not follow the base.
    NoIrq,
    /// `<irq>` is missing, not decimal, or 0.
    BadIrq,
    /// `<id>` is not decimal.
    BadId,
    /// Something follows the last field.
    Trailing,
    /// The size is zero or the window wraps around the address space.
    BadRange,
}

impl fmt::Display for VirtioMmioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VirtioMmioError::BadSize => "the size is not a number",
            VirtioMmioError::NoBase => "no '@' after the size",
            VirtioMmioError::BadBase => "the base address is not a number",
            VirtioMmioError::NoIrq => "no ':' after the base address",
            VirtioMmioError::BadIrq => "the IRQ is not a non-zero decimal number",
            VirtioMmioError::BadId => "the device id is not a decimal number",
            VirtioMmioError::Trailing => "characters after the last field",
            VirtioMmioError::BadRange => "the window is empty or wraps around",
        })
    }
}

/// Parses an unsigned integer like C's `simple_strtoull` with base 0 (`0x` hex, leading `0` octal, else
/// decimal) or with a fixed `radix`. Returns the value and the rest; `None` without digits or on overflow.
pub fn parse_integer(s: &str, radix: Option<u32>) -> Option<(u64, &str)> {
    let (radix, digits) = match radix {
        Some(r) => (r, s),
        None => match s.as_bytes() {
            [b'0', b'x' | b'X', c, ..] if c.is_ascii_hexdigit() => (16, &s[2..]),
            [b'0', ..] => (8, s),
            _ => (10, s),
        },
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let value = u64::from_str_radix(&digits[..end], radix).ok()?;
    Some((value, &digits[end..]))
}

/// Linux's `memparse`: an integer (base auto-detected) with at most one K, M, G, T, P or E suffix (either case,
/// ×1024 per step).
pub fn memparse(s: &str) -> Option<(u64, &str)> {
    let (value, rest) = parse_integer(s, None)?;
    let shift = match rest.as_bytes().first().map(u8::to_ascii_uppercase) {
        Some(b'K') => 10,
        Some(b'M') => 20,
        Some(b'G') => 30,
        Some(b'T') => 40,
        Some(b'P') => 50,
        Some(b'E') => 60,
        _ => return Some((value, rest)),
    };
    Some((value.checked_mul(1 << shift)?, &rest[1..]))
}

impl VirtioMmioDevice {
    /// Parses the value of one `virtio_mmio.device=` parameter.
    pub fn parse(s: &str) -> Result<Self, VirtioMmioError> {
        let (size, rest) = memparse(s).ok_or(VirtioMmioError::BadSize)?;
        let rest = rest.strip_prefix('@').ok_or(VirtioMmioError::NoBase)?;
        let (base, rest) = parse_integer(rest, None).ok_or(VirtioMmioError::BadBase)?;
        let rest = rest.strip_prefix(':').ok_or(VirtioMmioError::NoIrq)?;
        let (irq, rest) = parse_integer(rest, Some(10)).ok_or(VirtioMmioError::BadIrq)?;
        let irq = u32::try_from(irq)
            .ok()
            .filter(|&i| i != 0)
            .ok_or(VirtioMmioError::BadIrq)?;
        let (id, rest) = match rest.strip_prefix(':') {
            Some(r) => {
                let (id, r) = parse_integer(r, Some(10)).ok_or(VirtioMmioError::BadId)?;
                (Some(u32::try_from(id).map_err(|_| VirtioMmioError::BadId)?), r)
            }
            None => (None, rest),
        };
        if !rest.is_empty() {
            return Err(VirtioMmioError::Trailing);
        }
        if size == 0 || base.checked_add(size).is_none() {
            return Err(VirtioMmioError::BadRange);
        }
        Ok(Self { size, base, irq, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(size: u64, base: u64, irq: u32, id: Option<u32>) -> Result<VirtioMmioDevice, VirtioMmioError> {
        Ok(VirtioMmioDevice { size, base, irq, id })
    }

    #[test]
    fn grammar_table() {
        use VirtioMmioError::*;
        let table: &[(&str, Result<VirtioMmioDevice, VirtioMmioError>)] = &[
            ("4K@0xc0001000:5", dev(4096, 0xc000_1000, 5, None)),
            ("4K@0xd0000000:5", dev(4096, 0xd000_0000, 5, None)),
            ("512@0xfeb00e00:12", dev(512, 0xfeb0_0e00, 12, None)),
            ("0x1000@0xfeb00000:12", dev(4096, 0xfeb0_0000, 12, None)),
            ("0x200@0xfeb00200:13:3", dev(512, 0xfeb0_0200, 13, Some(3))),
            ("1k@4096:9", dev(1024, 4096, 9, None)),
            ("1M@0x100000000:23", dev(1 << 20, 1 << 32, 23, None)),
            ("010@010:10", dev(8, 8, 10, None)),
            ("1e@0x1000:5", dev(1 << 60, 0x1000, 5, None)),
            ("4K@0xc0001000:0", Err(BadIrq)),
            ("4K@0xc0001000:0x5", Err(BadIrq)),
            ("4K@0xc0001000:-5", Err(BadIrq)),
            ("4K@0xc0001000", Err(NoIrq)),
            ("4K0xc0001000:5", Err(NoBase)),
            ("@0xc0001000:5", Err(BadSize)),
            ("4K@:5", Err(BadBase)),
            ("4K@0xc0001000:5:", Err(BadId)),
            ("4K@0xc0001000:5:7x", Err(Trailing)),
            ("4K@0xc0001000:5 ", Err(Trailing)),
            ("4KK@0xc0001000:5", Err(NoBase)),
            ("0@0xc0001000:5", Err(BadRange)),
            ("4K@0xfffffffffffff800:5", Err(BadRange)),
            ("99999999999999999999@0:5", Err(BadSize)),
            ("16E@0:5", Err(BadSize)),
            ("4K@0xc0001000:99999999999", Err(BadIrq)),
            ("", Err(BadSize)),
            ("@@@", Err(BadSize)),
        ];
        for (input, expected) in table {
            assert_eq!(&VirtioMmioDevice::parse(input), expected, "{input:?}");
        }
    }

    #[test]
    fn integers_follow_simple_strtoull() {
        assert_eq!(parse_integer("0x1fz", None), Some((31, "z")));
        assert_eq!(parse_integer("0x", None), Some((0, "x")));
        assert_eq!(parse_integer("0779", None), Some((63, "9")));
        assert_eq!(parse_integer("12ab", Some(10)), Some((12, "ab")));
        assert_eq!(parse_integer("x", None), None);
    }
}
