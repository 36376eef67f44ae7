//! CRC32C (Castagnoli) with SSE4.2's `crc32` instruction, handed out only where CPUID reports SSE4.2
//! (Firecracker's CPU templates or an old CPU may hide it; callers keep a software fallback).

use crate::arch::regs;
use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};

/// CPUID leaf 1 ECX: SSE4.2.
const SSE42: u32 = 1 << 20;

/// A hardware CRC32C update (`crc` continued over the bytes, no pre- or post-inversion, the same function as a
/// reflected table-driven CRC32C), or `None` when this CPU lacks SSE4.2.
pub fn crc32c_accelerated() -> Option<fn(u32, &[u8]) -> u32> {
    (regs::cpuid(1, 0).ecx & SSE42 != 0).then_some(crc32c_checked as fn(u32, &[u8]) -> u32)
}

/// [`crc32c_sse42`] behind a safe signature: only [`crc32c_accelerated`] hands it out.
fn crc32c_checked(crc: u32, data: &[u8]) -> u32 {
    // SAFETY: the only way to reach this function is the pointer `crc32c_accelerated` returns after CPUID
    // reported SSE4.2 on this machine (every CPU of a VM has the same CPUID features), so the `crc32`
    // instruction exists. It reads only `data` and general-purpose registers.
    unsafe { crc32c_sse42(crc, data) }
}

#[target_feature(enable = "sse4.2")]
fn crc32c_sse42(crc: u32, data: &[u8]) -> u32 {
    let mut c = u64::from(crc);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        c = _mm_crc32_u64(c, u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]));
    }
    let mut c = c as u32;
    for &b in words.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    c
}
