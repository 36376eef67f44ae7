//! x86-64 specifics: entry assembly, compiler intrinsics, port I/O and privileged registers.

pub(crate) mod ap_entry;
pub(crate) mod entry;
mod intrinsics;
pub(crate) mod port;
pub(crate) mod regs;
