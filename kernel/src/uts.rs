//! The UTS names `uname` reports: the fixed ones (system, release, version, machine) and the host and
//! domain names that `sethostname`/`setdomainname` change (`/proc/sys/kernel/hostname` reads them too).

use alloc::vec::Vec;
use ember_frame::sync::Mutex;

/// `utsname.sysname`.
pub const SYSNAME: &[u8] = b"Linux";
/// `utsname.release`: the Linux ABI ember follows.
pub const RELEASE: &[u8] = b"6.1.0-ember";
/// `utsname.version`.
pub const VERSION: &[u8] = b"#1 SMP ember";
/// `utsname.machine`.
pub const MACHINE: &[u8] = b"x86_64";
/// The longest host or domain name (`__NEW_UTS_LEN`).
pub const MAX_NAME: usize = 64;

static HOSTNAME: Mutex<Option<Vec<u8>>> = Mutex::new(None);
static DOMAINNAME: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// The host name (`ember` until set).
pub fn hostname() -> Vec<u8> {
    HOSTNAME.lock().clone().unwrap_or_else(|| b"ember".to_vec())
}

/// The NIS domain name (`(none)` until set, as Linux shows an empty one).
pub fn domainname() -> Vec<u8> {
    DOMAINNAME.lock().clone().unwrap_or_else(|| b"(none)".to_vec())
}

/// Sets the host name (the caller checked the length, at most [`MAX_NAME`], and the privilege).
pub fn set_hostname(name: &[u8]) {
    *HOSTNAME.lock() = Some(name.to_vec());
}

/// Sets the domain name (as [`set_hostname`]).
pub fn set_domainname(name: &[u8]) {
    *DOMAINNAME.lock() = Some(name.to_vec());
}
