//! Character devices: the console terminal, `null`, `zero`, `full`, `random`, `urandom`, `vsock`.

use super::tty;
use crate::syscall::errno::Errno;
use linux_raw_sys::general::{POLLIN, POLLOUT};

/// A character device.
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
        }
    }

    /// Whether it is the terminal.
    pub fn is_tty(self) -> bool {
        matches!(self, Device::Console | Device::Tty)
    }

    /// Called when the device is opened.
    pub fn open(self) {
        if self.is_tty() {
            tty::console().opened();
        }
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
