//! Files: a minimal stand-in (the initramfs read in place, console output) until the file-system work lands.

use crate::syscall::errno::{Errno, SysResult};
use alloc::vec::Vec;
use spin::Once;

static INITRD: Once<&'static [u8]> = Once::new();

/// A process's open files.
#[derive(Debug, Default, Clone)]
pub struct FdTable;

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable
    }
    /// Opens the console as 0, 1, 2.
    pub fn install_stdio(&mut self) -> Result<(), Errno> {
        Ok(())
    }
    /// Closes close-on-exec descriptors.
    pub fn close_on_exec(&mut self) {}
}

/// A process's root, working directory and umask.
#[derive(Debug, Default, Clone)]
pub struct FsContext;

impl FsContext {
    /// Root and cwd at `/`.
    pub fn new() -> FsContext {
        FsContext
    }
}

/// Remembers the initramfs.
pub fn init(initrd: Option<&'static [u8]>) {
    if let Some(i) = initrd {
        INITRD.call_once(|| i);
    }
}

/// The contents of the file at `path` in the initramfs.
pub fn read_file(path: &[u8]) -> Result<Vec<u8>, Errno> {
    let want = path.strip_prefix(b"/").unwrap_or(path);
    let initrd = INITRD.get().ok_or(Errno::ENOENT)?;
    for e in ember_cpio::entries(initrd).flatten() {
        if e.name == want {
            return Ok(e.data.to_vec());
        }
    }
    Err(Errno::ENOENT)
}

/// The contents of the file open as `fd`, for `mmap`.
pub fn map_file(_fd: i32) -> Result<Vec<u8>, Errno> {
    Err(Errno::EBADF)
}

/// Writes to the console for fds 1 and 2.
pub fn write(fd: u64, buf: u64, len: u64) -> SysResult {
    if fd != 1 && fd != 2 {
        return Err(Errno::EBADF);
    }
    let mut data = alloc::vec![0u8; len.min(1 << 20) as usize];
    crate::syscall::uaccess::read_bytes(buf, &mut data)?;
    ember_frame::console::print(format_args!("{}", alloc::string::String::from_utf8_lossy(&data)));
    Ok(data.len() as u64)
}
