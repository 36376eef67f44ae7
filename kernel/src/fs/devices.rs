//! Devices: the console terminal, `null`, `zero`, `full`, `random`, `urandom`, `vsock` (character devices) and
//! the disks `vda`, `vdb`… (block devices, read and written at file offsets through [`super::disk`]).

use super::tty;
use crate::syscall::errno::Errno;
use linux_raw_sys::general::{POLLIN, POLLOUT};

/// A device node's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// `/dev/console`: the serial terminal.
    Console,
    /// `/dev/tty`: the caller's controlling terminal (the serial one: there is no other).
    Tty,
    /// `/dev/null`.
    Null,
    /// `/dev/zero`.
    Zero,
    /// `/dev/full`.
    Full,
    /// `/dev/random`.
    Random,
    /// `/dev/urandom`.
    Urandom,
    /// `/dev/vsock`: only `IOCTL_VM_SOCKETS_GET_LOCAL_CID`.
    Vsock,
    /// A disk or partition, by minor number (`/dev/vda` is 0, `/dev/vda1` 1, `/dev/vdb` 16).
    Block(u32),
    /// A node (from a disk's file system) for a device ember does not have: (block?, major, minor).
    Missing(bool, u32, u32),
}

/// `IOCTL_VM_SOCKETS_GET_LOCAL_CID` (`_IO(7, 0xb9)`).
pub const IOCTL_VM_SOCKETS_GET_LOCAL_CID: u32 = 0x7b9;

impl Device {
    /// Every device with its name under `/dev`.
    pub const ALL: [(&'static [u8], Device); 8] = [
        (b"console", Device::Console),
        (b"tty", Device::Tty),
        (b"null", Device::Null),
        (b"zero", Device::Zero),
        (b"full", Device::Full),
        (b"random", Device::Random),
        (b"urandom", Device::Urandom),
        (b"vsock", Device::Vsock),
    ];

    /// Linux's device number (major, minor).
    pub fn rdev(self) -> (u32, u32) {
        match self {
            Device::Console => (5, 1),
            Device::Tty => (5, 0),
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Full => (1, 7),
            Device::Random => (1, 8),
            Device::Urandom => (1, 9),
            // A misc device (Linux gives it a dynamic minor; 121 is what it usually gets).
            Device::Vsock => (10, 121),
            Device::Block(minor) => (super::ext::VIRTIO_BLK_MAJOR, minor),
            Device::Missing(_, major, minor) => (major, minor),
        }
    }

    /// The device a node with device number `rdev` (a block device with `block`) stands for.
    pub fn from_rdev(block: bool, rdev: (u32, u32)) -> Device {
        let known = if block {
            (rdev.0 == super::ext::VIRTIO_BLK_MAJOR && rdev.1 < 26 * super::disk::MINORS)
                .then_some(Device::Block(rdev.1))
        } else {
            Device::ALL.iter().find(|(_, d)| d.rdev() == rdev).map(|(_, d)| *d)
        };
        known.unwrap_or(Device::Missing(block, rdev.0, rdev.1))
    }

    /// Whether it is a block device.
    pub fn is_block(self) -> bool {
        matches!(self, Device::Block(_) | Device::Missing(true, _, _))
    }

    /// A disk's size in bytes (0 for anything else).
    pub fn size(self) -> u64 {
        match self {
            Device::Block(i) => super::disk::get(i).map_or(0, |d| d.size()),
            _ => 0,
        }
    }

    /// Reads a disk at `offset`.
    pub fn read_at(self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self {
            Device::Block(i) => super::disk::get(i).ok_or(Errno::ENXIO)?.read_at(offset, buf),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Writes a disk at `offset`.
    pub fn write_at(self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        match self {
            Device::Block(i) => super::disk::get(i).ok_or(Errno::ENXIO)?.write_at(offset, data),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Whether it is the terminal.
    pub fn is_tty(self) -> bool {
        matches!(self, Device::Console | Device::Tty)
    }

    /// Called when the device is opened: `ENXIO` for a device ember does not have.
    pub fn open(self) -> Result<(), Errno> {
        match self {
            Device::Missing(..) => return Err(Errno::ENXIO),
            Device::Block(i) if super::disk::get(i).is_none() => return Err(Errno::ENXIO),
            _ if self.is_tty() => tty::console().opened(),
            _ => {}
        }
        Ok(())
    }

    /// Reads from the device.
    pub fn read(self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        match self {
            Device::Console | Device::Tty => tty::console().read(buf, nonblock),
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Block(_) | Device::Missing(..) => Err(Errno::EINVAL),
            Device::Random | Device::Urandom => {
                if crate::random::fill(buf) {
                    Ok(buf.len())
                } else {
                    // No entropy source seeded the generator: nothing random to give.
                    Err(Errno::EAGAIN)
                }
            }
            Device::Vsock => Err(Errno::EINVAL),
        }
    }

    /// Writes to the device.
    pub fn write(self, data: &[u8]) -> Result<usize, Errno> {
        match self {
            Device::Console | Device::Tty => Ok(tty::console().write(data)),
            Device::Full => Err(Errno::ENOSPC),
            Device::Vsock => Err(Errno::EINVAL),
            Device::Null | Device::Zero | Device::Random | Device::Urandom => Ok(data.len()),
            Device::Block(_) | Device::Missing(..) => Err(Errno::EINVAL),
        }
    }

    /// `poll` events.
    pub fn poll(self) -> u32 {
        if self.is_tty() {
            tty::console().poll()
        } else if self == Device::Vsock {
            0
        } else {
            POLLIN | POLLOUT
        }
    }
}
