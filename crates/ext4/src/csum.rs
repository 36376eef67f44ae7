//! Checksums: CRC32C (Castagnoli, ext4's `metadata_csum` and JBD2 v2/v3) and CRC16 (the older `gdt_csum`).
//!
//! `crc32c` is the raw update with no final inversion, as Linux's `ext4_chksum` uses it: the caller seeds it
//! (with `!0` for the superblock, with the file system's seed elsewhere). It runs in software (slicing by 8)
//! unless the caller installed a faster implementation with [`set_crc32c`] (the kernel's SSE4.2 `crc32`).

use spin::Once;

/// Slicing-by-8 tables: `t[0]` is the byte-wise table, `t[k][i]` advances `t[k-1][i]` by one zero byte.
const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xA001 } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32C: [[u32; 256]; 8] = crc32c_tables();
static CRC16: [u16; 256] = crc16_table();

/// The implementation [`set_crc32c`] installed.
static ACCELERATED: Once<fn(u32, &[u8]) -> u32> = Once::new();

/// Installs `f` as every later checksum's CRC32C update (same contract as the software one: `crc` continued
/// over the bytes, no inversions), once per program. `f` is first checked against the software version on
/// inputs of every length up to 64 bytes, misaligned or not; returns whether it was installed (`false` for a
/// wrong function, or when one is already installed).
pub fn set_crc32c(f: fn(u32, &[u8]) -> u32) -> bool {
    let data: [u8; 72] = core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7));
    let agrees = (0..=64).all(|len| {
        let seed = 0x9E37_79B9u32.rotate_left(len as u32);
        f(seed, &data[len % 8..len % 8 + len]) == crc32c_soft(seed, &data[len % 8..len % 8 + len])
    });
    if !agrees || ACCELERATED.is_completed() {
        return false;
    }
    ACCELERATED.call_once(|| f);
    true
}

/// Continues a CRC32C over `data` from `crc` (no pre- or post-inversion).
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    match ACCELERATED.get() {
        Some(f) => f(crc, data),
        None => crc32c_soft(crc, data),
    }
}

/// [`crc32c`] in software, slicing by 8.
fn crc32c_soft(mut crc: u32, data: &[u8]) -> u32 {
    let t = &CRC32C;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// Continues Linux's `crc16` (polynomial 0x8005, reflected) over `data` from `crc`.
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc = CRC16[((crc ^ b as u16) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C over "123456789" (with inversions).
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc32c_slices_agree_with_bytewise() {
        let data: [u8; 77] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        let mut bytewise = 0x1234_5678u32;
        for &b in &data {
            bytewise = CRC32C[0][((bytewise ^ b as u32) & 0xFF) as usize] ^ (bytewise >> 8);
        }
        assert_eq!(crc32c(0x1234_5678, &data), bytewise);
        // Split anywhere, the continuation gives the same result.
        assert_eq!(crc32c(crc32c(0x1234_5678, &data[..13]), &data[13..]), bytewise);
    }

    #[test]
    fn a_wrong_accelerator_is_refused() {
        // Right except on inputs of 40 bytes or more: the check must catch it.
        fn bad(crc: u32, data: &[u8]) -> u32 {
            crc32c_soft(crc, data) ^ u32::from(data.len() >= 40)
        }
        assert!(!set_crc32c(bad));
        assert!(ACCELERATED.get().is_none());
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc16_check_value() {
        // CRC-16/ARC check value.
        assert_eq!(crc16(0, b"123456789"), 0xBB3D);
    }
}
