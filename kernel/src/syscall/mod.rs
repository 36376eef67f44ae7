//! The Linux x86-64 system-call interface.

pub mod errno;
pub mod fs;
pub mod uaccess;
