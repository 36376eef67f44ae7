//! Open-file descriptions: what an fd refers to, with its status flags and offset (shared by `dup` and
//! `fork`).

use super::devices::Device;
use super::inode::Inode;
use super::pipe::PipeEnd;
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};
use ember_frame::sync::Mutex;
use linux_raw_sys::general::{O_ACCMODE, O_APPEND, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY, POLLIN, POLLOUT};

/// Status flags `F_SETFL` may change.
const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK;

/// What an open file reads and writes.
pub enum Handle {
    /// A file of the tree read through its inode: regular file, directory, or anything opened `O_PATH`.
    Inode,
    /// A pipe end (from `pipe` or a FIFO).
    Pipe(PipeEnd),
    /// A character device.
    Device(Device),
    /// A file that lives outside the tree: an event counter, an epoll instance, a timer, a socket.
    Other(Arc<dyn FileOps>),
}

/// What a file outside the tree does (see [`Handle::Other`]).
pub trait FileOps: Send + Sync {
    /// Reads (waiting unless `nonblock`).
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno>;
    /// Writes (waiting unless `nonblock`).
    fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno>;
    /// `poll` events now.
    fn poll(&self) -> u32;
    /// Bytes a read could return now (FIONREAD).
    fn available(&self) -> usize {
        0
    }
    /// The file type and permission bits `fstat` shows (0: an anonymous inode, as Linux shows them).
    fn mode(&self) -> u32 {
        0o600
    }
    /// The object itself, for system calls that work on one kind only (`epoll_ctl`, socket calls).
    fn as_any(&self) -> &dyn Any;
    /// The same, shared.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// An open-file description.
pub struct OpenFile {
    inode: Option<Arc<Inode>>,
    /// Counts it with its file system while it may write a regular file (`EBUSY` for a read-only remount).
    _writer: Option<super::inode::Writer>,
    handle: Handle,
    flags: AtomicU32,
    offset: Mutex<u64>,
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        super::lock::description_closed(self);
    }
}

impl OpenFile {
    /// An open file of `inode` (`None` for a pipe from `pipe(2)`) with open flags `flags`.
    pub fn new(inode: Option<Arc<Inode>>, handle: Handle, flags: u32) -> Arc<OpenFile> {
        let writable = flags & O_PATH == 0 && flags & O_ACCMODE != O_RDONLY;
        let writer = inode
            .as_ref()
            .filter(|i| writable && i.is_regular())
            .map(|i| i.writer());
        Arc::new(OpenFile {
            inode,
            _writer: writer,
            handle,
            flags: AtomicU32::new(flags),
            offset: Mutex::new(0),
        })
    }

    /// The inode, when the file is in the tree.
    pub fn inode(&self) -> Option<&Arc<Inode>> {
        self.inode.as_ref()
    }

    /// What the file is.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The status flags and access mode (`F_GETFL`).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Sets the changeable status flags (`F_SETFL`, `FIONBIO`); the others stay.
    pub fn set_flags(&self, flags: u32) {
        let old = self.flags();
        self.flags
            .store((old & !SETFL_MASK) | (flags & SETFL_MASK), Ordering::Relaxed);
    }

    fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    /// Whether the file was opened for reading.
    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && f & O_ACCMODE != O_WRONLY
    }

    /// Whether the file was opened for writing.
    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && f & O_ACCMODE != O_RDONLY
    }

    /// Whether it is a terminal.
    pub fn is_tty(&self) -> bool {
        matches!(self.handle, Handle::Device(d) if d.is_tty())
    }

    /// The character device it is, if it is one.
    pub fn device(&self) -> Option<super::devices::Device> {
        match self.handle {
            Handle::Device(d) => Some(d),
            _ => None,
        }
    }

    /// Whether it has an offset (`lseek`, `pread` and `pwrite` work).
    pub fn seekable(&self) -> bool {
        matches!(self.handle, Handle::Inode)
    }

    /// The object behind a [`Handle::Other`] file, when it is a `T`.
    pub fn other<T: 'static>(&self) -> Option<&T> {
        match &self.handle {
            Handle::Other(o) => o.as_any().downcast_ref(),
            _ => None,
        }
    }

    /// The object behind a [`Handle::Other`] file, shared, when it is a `T`.
    pub fn other_arc<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        match &self.handle {
            Handle::Other(o) => o.clone().into_any().downcast().ok(),
            _ => None,
        }
    }

    /// The current offset.
    pub fn offset(&self) -> &Mutex<u64> {
        &self.offset
    }

    /// A read of a regular file at `at` (or the file offset, which advances) of up to `len` bytes, handed to
    /// `sink(done, piece)` piece by piece straight from the page cache (one copy to user memory); `None` for
    /// anything but a readable regular file. A failing `sink` ends the read (its error when nothing was read).
    pub fn read_pieces(
        &self,
        len: usize,
        at: Option<u64>,
        mut sink: impl FnMut(usize, &super::pages::Piece) -> Result<(), Errno>,
    ) -> Option<Result<usize, Errno>> {
        let inode = self.inode.as_ref().filter(|i| i.is_regular())?;
        if !matches!(self.handle, Handle::Inode) || !self.readable() {
            return None;
        }
        let mut guard = at.is_none().then(|| self.offset.lock());
        let start = at.or(guard.as_deref().copied()).unwrap_or(0);
        let pieces = match inode.pieces(start, len) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let mut done = 0;
        for p in &pieces {
            if let Err(e) = sink(done, p) {
                if done == 0 {
                    return Some(Err(e));
                }
                break;
            }
            done += p.2;
        }
        if let Some(off) = guard.as_deref_mut() {
            *off = start + done as u64;
        }
        Some(Ok(done))
    }

    /// Reads at the file offset, advancing it.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        match &self.handle {
            Handle::Inode => {
                let mut off = self.offset.lock();
                let n = self.read_inode(*off, buf)?;
                *off += n as u64;
                Ok(n)
            }
            Handle::Pipe(end) => end.read(buf, self.nonblocking()),
            Handle::Device(d) => d.read(buf, self.nonblocking()),
            Handle::Other(o) => o.read(buf, self.nonblocking()),
        }
    }

    /// Writes at the file offset (at the end with `O_APPEND`), advancing it.
    pub fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        match &self.handle {
            Handle::Inode => {
                let inode = self.inode.as_ref().ok_or(Errno::EBADF)?;
                let mut off = self.offset.lock();
                if self.flags() & O_APPEND != 0 {
                    *off = inode.size();
                }
                let n = inode.write_at(*off, data)?;
                *off += n as u64;
                Ok(n)
            }
            Handle::Pipe(end) => end.write(data, self.nonblocking()),
            Handle::Device(d) => d.write(data),
            Handle::Other(o) => o.write(data, self.nonblocking()),
        }
    }

    /// Reads at `offset` without moving the file offset.
    pub fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if !self.seekable() {
            return Err(Errno::ESPIPE);
        }
        self.read_inode(offset, buf)
    }

    /// Writes at `offset` without moving the file offset.
    pub fn pwrite(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        if !self.seekable() {
            return Err(Errno::ESPIPE);
        }
        let inode = self.inode.as_ref().ok_or(Errno::EBADF)?;
        // Linux's documented quirk: with O_APPEND, pwrite appends whatever the offset says.
        let offset = if self.flags() & O_APPEND != 0 {
            inode.size()
        } else {
            offset
        };
        inode.write_at(offset, data)
    }

    fn read_inode(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let inode = self.inode.as_ref().ok_or(Errno::EBADF)?;
        if inode.is_dir() {
            return Err(Errno::EISDIR);
        }
        inode.read_at(offset, buf)
    }

    /// Bytes a read could return now (FIONREAD).
    pub fn available(&self) -> usize {
        match &self.handle {
            Handle::Inode => {
                let size = self.inode.as_ref().map_or(0, |i| i.size());
                size.saturating_sub(*self.offset.lock()) as usize
            }
            Handle::Pipe(end) => end.available(),
            Handle::Device(_) => 0,
            Handle::Other(o) => o.available(),
        }
    }

    /// `poll` events (before masking with what was asked: errors and hang-ups are always reported).
    pub fn poll(&self) -> u32 {
        match &self.handle {
            Handle::Inode => POLLIN | POLLOUT,
            Handle::Pipe(end) => end.poll(),
            Handle::Device(d) => d.poll(),
            Handle::Other(o) => o.poll(),
        }
    }
}
