//! Linux error numbers, as system calls return them (negated in `rax`).

pub use linux_raw_sys::errno::*;

/// A Linux error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u32);

/// What a system call returns: a non-negative value or an error.
pub type SysResult = Result<u64, Errno>;

impl Errno {
    /// `EINTR` that must not be restarted whatever the handler's `SA_RESTART` says (`pause`, `sigsuspend`,
    /// sleeps and polls with a timeout). Never reaches user space as such: it is returned as `EINTR`.
    pub const EINTR_NORESTART: Errno = Errno(linux_raw_sys::errno::EINTR | 0x1_0000);

    /// The value a system call leaves in `rax` for this error.
    pub fn to_return(self) -> u64 {
        (-((self.0 & 0xFFFF) as i64)) as u64
    }
}

macro_rules! errnos {
    ($($name:ident),*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Errno = Errno(linux_raw_sys::errno::$name);
            )*
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    ENOTBLK,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    ERANGE,
    ENODATA,
    EDEADLK,
    ENAMETOOLONG,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    EOPNOTSUPP,
    EOVERFLOW,
    ETIMEDOUT,
    ENOTSOCK,
    EDESTADDRREQ,
    EMSGSIZE,
    EPROTOTYPE,
    ENOPROTOOPT,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    EAFNOSUPPORT,
    EADDRINUSE,
    EADDRNOTAVAIL,
    ECONNRESET,
    EISCONN,
    ENOTCONN,
    ECONNREFUSED,
    ENOBUFS,
    EINPROGRESS,
    EALREADY,
    ENETDOWN,
    ENETUNREACH,
    EIDRM,
    ENOMSG
);
