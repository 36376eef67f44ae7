//! File locks as Linux keeps them, as pure state: the locks of one file, which the kernel keeps per inode.
//!
//! - [`RecordLocks`]: byte-range locks (`fcntl` `F_SETLK`, `F_GETLK` and the open-file-description `F_OFD_*`
//!   variants). A lock belongs to an owner (a process for POSIX locks, an open file description for OFD
//!   locks); an owner's locks never conflict with each other, and setting a range replaces whatever the owner
//!   held there (splitting, merging and converting ranges as Linux does).
//! - [`FlockLocks`]: whole-file `flock` locks, owned by open file descriptions.
//!
//! Blocking, signals and the `struct flock` encoding are the kernel's; this crate only answers "may this owner
//! have this lock now" and keeps the sets.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod flock;
mod record;

pub use flock::FlockLocks;
pub use record::{Conflict, LockKind, RecordLock, RecordLocks};

/// Who holds a lock: an opaque value the kernel chooses (a process id, or an open file description's identity),
/// equal for the same holder.
pub type Owner = u64;
