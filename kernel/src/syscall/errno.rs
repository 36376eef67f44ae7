//! Linux error numbers, as system calls return them (negated in `rax`).

pub use linux_raw_sys::errno::*;

/// A Linux error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u32);

/// What a system call returns: a non-negative value or an error.
pub type SysResult = Result<u64, Errno>;

impl Errno {
    /// The value a system call leaves in `rax` for this error.
    pub fn to_return(self) -> u64 {
        (-(self.0 as i64)) as u64
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
    EDEADLK,
    ENAMETOOLONG,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    EOPNOTSUPP,
    EOVERFLOW,
    ETIMEDOUT,
    ENOTSOCK
);
