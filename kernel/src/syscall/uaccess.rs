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

/// Reads a NUL-terminated string of at most `max` bytes (without the NUL); `ENAMETOOLONG` past that.
pub fn read_cstring(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut at = addr;
    let mut chunk = [0u8; 64];
    loop {
        // Never read past a page boundary in one go: the string may end just before an unmapped page.
        let room = (4096 - (at % 4096)) as usize;
        let n = room.min(chunk.len());
        read_bytes(at, &mut chunk[..n])?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > max {
            return Err(Errno::ENAMETOOLONG);
        }
        at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
    }
}

/// Reads a NULL-terminated array of string pointers (argv, envp): at most `max_count` strings and
/// `max_bytes` bytes in all; `E2BIG` past that.
pub fn read_cstring_array(addr: u64, max_count: usize, max_bytes: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    for i in 0.. {
        let p = read_u64(addr.checked_add(i * 8).ok_or(Errno::EFAULT)?)?;
        if p == 0 {
            break;
        }
        if out.len() >= max_count {
            return Err(Errno::E2BIG);
        }
        let s = read_cstring(p, max_bytes)?;
        total += s.len() + 1;
        if total > max_bytes {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}
