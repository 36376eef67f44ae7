//! The few `/proc` files programs read before anything else: `/proc/meminfo` (libc's and LTP's view of free
//! memory). Each is a regular file of the tree whose contents are made anew every time it is opened.

use super::inode::{Inode, Kind};
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::Once;

static MEMINFO: Once<Arc<Inode>> = Once::new();

/// Adds the generated files to `proc`.
pub fn init(proc: &Arc<Inode>) {
    let meminfo = MEMINFO.call_once(|| Inode::new_file(0o444, Vec::new()));
    super::add(proc, b"meminfo", meminfo.clone());
}

/// Called on every open: regenerates `inode`'s contents when it is one of these files.
pub fn refresh(inode: &Arc<Inode>) {
    if let (Some(meminfo), Kind::File(data)) = (MEMINFO.get(), &inode.kind)
        && Arc::ptr_eq(meminfo, inode)
    {
        *data.lock() = meminfo_text().into_bytes();
    }
}

/// Linux's `/proc/meminfo` lines that programs read, from the frame allocator's figures.
fn meminfo_text() -> alloc::string::String {
    let total = ember_frame::mm::usable_bytes() >> 10;
    let free = ember_frame::mm::free_bytes() >> 10;
    format!(
        "MemTotal:       {total:>8} kB\nMemFree:        {free:>8} kB\nMemAvailable:   {free:>8} kB\n\
         Buffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\n\
         SwapTotal:             0 kB\nSwapFree:              0 kB\nShmem:                 0 kB\n\
         CommitLimit:    {total:>8} kB\n"
    )
}
