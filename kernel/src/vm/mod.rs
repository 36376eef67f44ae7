//! A process's memory: placeholder until the memory manager lands.

use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use ember_frame::mm::{UserAddr, VmSpace};

/// A process's address space.
pub struct Vm {
    space: Arc<VmSpace>,
}

impl Vm {
    /// Copies from user memory.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let a = UserAddr::new(addr).ok_or(Errno::EFAULT)?;
        self.space.read_bytes(a, buf).map_err(|_| Errno::EFAULT)
    }
    /// Copies to user memory.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let a = UserAddr::new(addr).ok_or(Errno::EFAULT)?;
        self.space.write_bytes(a, data).map_err(|_| Errno::EFAULT)
    }
}
