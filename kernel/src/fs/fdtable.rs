//! A process's file descriptors.

use super::devices::Device;
use super::file::{Handle, OpenFile};
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use alloc::vec::Vec;
use linux_raw_sys::general::O_RDWR;

/// The most descriptors a process may have (Linux's default `RLIMIT_NOFILE`).
pub const MAX_FDS: usize = 1024;

#[derive(Clone)]
struct Slot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// A process's open files by descriptor. Cloning (fork) shares the open-file descriptions and so their
/// offsets.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    /// No open files.
    pub fn new() -> FdTable {
        FdTable { slots: Vec::new() }
    }

    /// Opens the console as descriptors 0, 1 and 2 (the first process's standard streams). Call it in the
    /// init process's context: like any first open of the terminal, it makes the caller's process group
    /// the terminal's foreground group.
    pub fn install_stdio(&mut self) -> Result<(), Errno> {
        let inode = super::kernel_tree()
            .lookup(b"dev")
            .and_then(|dev| dev.lookup(b"console"))
            .ok();
        // The console always opens.
        let _ = Device::Console.open();
        let file = OpenFile::new(inode, Handle::Device(Device::Console), O_RDWR);
        for fd in 0..3 {
            self.install_at(fd, file.clone(), false);
        }
        Ok(())
    }

    /// The open descriptors, in order.
    pub fn fds(&self) -> Vec<i32> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .filter_map(|i| i32::try_from(i).ok())
            .collect()
    }

    /// The open file behind `fd`.
    pub fn get(&self, fd: i32) -> Option<Arc<OpenFile>> {
        let slot = self.slots.get(usize::try_from(fd).ok()?)?.as_ref()?;
        Some(slot.file.clone())
    }

    /// Whether `fd` is close-on-exec (`None`: not open).
    pub fn cloexec(&self, fd: i32) -> Option<bool> {
        Some(self.slots.get(usize::try_from(fd).ok()?)?.as_ref()?.cloexec)
    }

    /// Sets `fd`'s close-on-exec flag; `EBADF` when it is not open.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i)?.as_mut())
            .ok_or(Errno::EBADF)?;
        slot.cloexec = cloexec;
        Ok(())
    }

    /// Installs `file` at the lowest free descriptor at or above `min`; `EMFILE` when none is left.
    pub fn install_from(&mut self, min: usize, file: Arc<OpenFile>, cloexec: bool) -> Result<i32, Errno> {
        if min >= MAX_FDS {
            return Err(Errno::EINVAL);
        }
        let fd = (min..MAX_FDS)
            .find(|&i| self.slots.get(i).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)?;
        self.install_at(fd, file, cloexec);
        Ok(fd as i32)
    }

    /// Installs `file` at the lowest free descriptor.
    pub fn install(&mut self, file: Arc<OpenFile>, cloexec: bool) -> Result<i32, Errno> {
        self.install_from(0, file, cloexec)
    }

    /// Installs `file` as `fd` (below [`MAX_FDS`]), returning what was there (to be dropped by the caller
    /// outside the table's lock).
    pub fn install_at(&mut self, fd: usize, file: Arc<OpenFile>, cloexec: bool) -> Option<Arc<OpenFile>> {
        if self.slots.len() <= fd {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd].replace(Slot { file, cloexec }).map(|s| s.file)
    }

    /// Removes `fd`; `EBADF` when it is not open.
    pub fn remove(&mut self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .ok_or(Errno::EBADF)?;
        slot.take().map(|s| s.file).ok_or(Errno::EBADF)
    }

    /// Closes (or with `cloexec_only`, marks close-on-exec) descriptors `first..=last`; returns the closed
    /// files for the caller to drop.
    pub fn close_range(&mut self, first: usize, last: usize, cloexec_only: bool) -> Vec<Arc<OpenFile>> {
        let mut closed = Vec::new();
        let end = last.saturating_add(1).min(self.slots.len());
        for slot in self.slots.iter_mut().take(end).skip(first) {
            if cloexec_only {
                if let Some(s) = slot {
                    s.cloexec = true;
                }
            } else if let Some(s) = slot.take() {
                closed.push(s.file);
            }
        }
        self.trim();
        closed
    }

    /// Closes every close-on-exec descriptor (at `execve`).
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                *slot = None;
            }
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
    }
}
