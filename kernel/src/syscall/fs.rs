//! File calls (stand-in: `write` to the console).

use super::errno::SysResult;
use linux_raw_sys::general as nr;

/// Handles file system calls; `None` for other numbers.
pub(crate) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    match n as u32 {
        nr::__NR_write => Some(crate::fs::write(a[0], a[1], a[2])),
        nr::__NR_writev => Some(writev(a)),
        _ => None,
    }
}

fn writev(a: [u64; 6]) -> SysResult {
    let mut total = 0;
    for i in 0..a[2].min(1024) {
        let base = super::uaccess::read_u64(a[1] + i * 16)?;
        let len = super::uaccess::read_u64(a[1] + i * 16 + 8)?;
        total += crate::fs::write(a[0], base, len)?;
    }
    Ok(total)
}
