//! Reading and writing the calling process's memory from system calls. Every user pointer goes through
//! here: a bad one gives `EFAULT`, never a kernel fault. Pages not yet present (demand-zero, copy-on-write) are
//! brought in by the process's memory manager and the copy retried.

use super::errno::Errno;
use crate::process::current_thread;
use alloc::vec::Vec;

/// Copies `buf.len()` bytes from user address `addr`.
pub fn read_bytes(addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
    current_thread().process().vm().read(addr, buf)
}

/// Copies `data` to user address `addr`.
pub fn write_bytes(addr: u64, data: &[u8]) -> Result<(), Errno> {
    current_thread().process().vm().write(addr, data)
}

/// Copies `len` bytes of a page-cache frame from `offset` to `addr` (zeros for `None`: a hole).
pub fn write_frame(addr: u64, frame: Option<&ember_frame::mm::Frame>, offset: usize, len: usize) -> Result<(), Errno> {
    match frame {
        Some(f) => current_thread().process().vm().write_frame(addr, f, offset, len),
        None => write_bytes(addr, &[0; 4096][..len.min(4096)]),
    }
}

/// Reads a `struct timespec` at `addr` as ns; `EINVAL` when negative or its nanoseconds are out of range.
pub fn read_timespec(addr: u64) -> Result<u64, Errno> {
    let sec = read_u64(addr)? as i64;
    let nsec = read_u64(addr + 8)? as i64;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64))
}

/// Reads a `u64` at `addr`.
pub fn read_u64(addr: u64) -> Result<u64, Errno> {
    let mut b = [0u8; 8];
    read_bytes(addr, &mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// Reads a `u32` at `addr`.
pub fn read_u32(addr: u64) -> Result<u32, Errno> {
    let mut b = [0u8; 4];
    read_bytes(addr, &mut b)?;
    Ok(u32::from_ne_bytes(b))
}

/// Writes a `u64` at `addr`.
pub fn write_u64(addr: u64, v: u64) -> Result<(), Errno> {
    write_bytes(addr, &v.to_ne_bytes())
}

/// Writes a `u32` at `addr`.
pub fn write_u32(addr: u64, v: u32) -> Result<(), Errno> {
    write_bytes(addr, &v.to_ne_bytes())
}

/// Reads a NUL-terminated string of at most `max` bytes (without the NUL); `ENAMETOOLONG` past that, `ENOMEM`
/// when the kernel heap cannot hold it (user space picks `max`'s scale, so the copy is fallible).
pub fn read_cstring(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut at = addr;
    let mut chunk = [0u8; 64];
    loop {
        // Never read past a page boundary in one go: the string may end just before an unmapped page.
        let room = (4096 - (at % 4096)) as usize;
        let n = room.min(chunk.len());
        read_bytes(at, &mut chunk[..n])?;
        let end = chunk[..n].iter().position(|&b| b == 0);
        let take = end.unwrap_or(n);
        out.try_reserve(take).map_err(|_| Errno::ENOMEM)?;
        out.extend_from_slice(&chunk[..take]);
        if end.is_some() {
            return Ok(out);
        }
        if out.len() > max {
            return Err(Errno::ENAMETOOLONG);
        }
        at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
    }
}

/// Linux's `MAX_ARG_STRLEN`: the longest single argument or environment string, with its NUL (32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Reads a NULL-terminated array of string pointers (argv, envp): at most `max_count` strings, each at most
/// [`MAX_ARG_STRLEN`] bytes with its NUL, taking their bytes (NULs and pointers included, as Linux counts them)
/// from `budget`; `E2BIG` past any of those, `ENOMEM` when the kernel heap cannot hold the copy.
pub fn read_cstring_array(addr: u64, max_count: usize, budget: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0.. {
        let p = read_u64(addr.checked_add(i * 8).ok_or(Errno::EFAULT)?)?;
        if p == 0 {
            break;
        }
        if out.len() >= max_count {
            return Err(Errno::E2BIG);
        }
        let s = read_cstring(p, MAX_ARG_STRLEN.min(*budget)).map_err(|e| match e {
            Errno::ENAMETOOLONG => Errno::E2BIG,
            e => e,
        })?;
        *budget = budget.checked_sub(s.len() + 1 + 8).ok_or(Errno::E2BIG)?;
        if s.len() >= MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        out.push(s);
    }
    Ok(out)
}
