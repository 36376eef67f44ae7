//! Extended attributes of one file as pure state, with Linux's rules for what the system calls
//! (`setxattr`, `getxattr`, `listxattr`, `removexattr` and their `l`/`f` variants) see:
//!
//! - a name is `namespace.suffix`, 1 to [`NAME_MAX`] bytes ([`Error::Range`] otherwise); the namespaces are
//!   [`Namespace::User`], [`Namespace::Trusted`] and [`Namespace::Security`] (`system.` names POSIX ACLs,
//!   which ember does not keep, so it is [`Error::NotSupported`], as is any other prefix or an empty suffix);
//! - a value holds at most [`VALUE_MAX`] bytes ([`Error::TooBig`]);
//! - `XATTR_CREATE` refuses an existing name ([`Error::Exists`]), `XATTR_REPLACE` a missing one
//!   ([`Error::NoData`]);
//! - reads and lists into a buffer: size 0 asks for the size, a smaller buffer is [`Error::Range`], a list
//!   longer than [`VALUE_MAX`] is [`Error::TooBig`];
//! - one file holds at most [`FILE_MAX`] bytes of names and values ([`Error::NoSpace`]), so that attributes
//!   stay small and bounded.
//!
//! Who may read or write which namespace is the kernel's decision (it knows the caller and the file); this
//! crate only keeps the attributes.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The longest name (Linux's `XATTR_NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// The largest value, and the longest list (Linux's `XATTR_SIZE_MAX`, 64 KiB).
pub const VALUE_MAX: usize = 65536;
/// The most bytes of names and values one file holds.
pub const FILE_MAX: usize = 4 * VALUE_MAX;
/// `setxattr`'s flag: fail if the attribute exists.
pub const XATTR_CREATE: u32 = 1;
/// `setxattr`'s flag: fail unless the attribute exists.
pub const XATTR_REPLACE: u32 = 2;

/// Why a call fails, each with its Linux errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `ERANGE`: an empty or too long name, or a buffer too small for the value or list.
    Range,
    /// `E2BIG`: a value or list larger than [`VALUE_MAX`].
    TooBig,
    /// `EOPNOTSUPP`: a name outside the namespaces kept.
    NotSupported,
    /// `EEXIST`: `XATTR_CREATE` and the name exists.
    Exists,
    /// `ENODATA`: no attribute of that name.
    NoData,
    /// `EINVAL`: unknown flags.
    Invalid,
    /// `ENOSPC`: the file's attributes would exceed [`FILE_MAX`].
    NoSpace,
}

/// The namespace of a name, which decides who may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `user.`: regular files and directories, by file permissions.
    User,
    /// `trusted.`: privileged callers only.
    Trusted,
    /// `security.`: anyone reads; writing needs privilege (the capability module's rule without an LSM).
    Security,
}

impl Namespace {
    /// The namespace of `name`, checking its length first (`Range`) and its prefix then (`NotSupported`).
    pub fn of(name: &[u8]) -> Result<Namespace, Error> {
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(Error::Range);
        }
        let known: [(&[u8], Namespace); 3] = [
            (b"user.", Namespace::User),
            (b"trusted.", Namespace::Trusted),
            (b"security.", Namespace::Security),
        ];
        known
            .iter()
            .find(|(prefix, _)| name.len() > prefix.len() && name.starts_with(prefix))
            .map(|&(_, ns)| ns)
            .ok_or(Error::NotSupported)
    }
}

/// Checks `setxattr`'s flags and value size, before anything is looked up (Linux's order).
pub fn check_set_args(flags: u32, size: usize) -> Result<(), Error> {
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Error::Invalid);
    }
    if size > VALUE_MAX {
        return Err(Error::TooBig);
    }
    Ok(())
}

/// Whether a value or list of `len` bytes is copied into a buffer of `size` bytes: `false` for size 0 (the
/// caller only asks for the length), [`Error::Range`] when the buffer is too small, [`Error::TooBig`] for a
/// length above [`VALUE_MAX`].
pub fn fits(len: usize, size: usize) -> Result<bool, Error> {
    match size {
        _ if len > VALUE_MAX => Err(Error::TooBig),
        0 => Ok(false),
        s if s < len => Err(Error::Range),
        _ => Ok(true),
    }
}

/// `listxattr`'s list of `names` that `visible` lets through (each followed by a NUL), for a buffer of
/// `size` bytes (empty with size 0), and the length of the whole list.
pub fn list_names<'a>(
    names: impl IntoIterator<Item = &'a [u8]>,
    size: usize,
    visible: impl Fn(Namespace) -> bool,
) -> Result<(Vec<u8>, usize), Error> {
    let mut out = Vec::new();
    for name in names {
        if Namespace::of(name).is_ok_and(&visible) {
            out.extend_from_slice(name);
            out.push(0);
        }
    }
    let len = out.len();
    if !fits(len, size)? {
        out.clear();
    }
    Ok((out, len))
}

/// The extended attributes of one file.
#[derive(Debug, Default, Clone)]
pub struct Xattrs {
    attrs: BTreeMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

impl Xattrs {
    /// No attributes.
    pub const fn new() -> Xattrs {
        Xattrs {
            attrs: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Sets `name` to `value` under `flags` (`XATTR_CREATE`, `XATTR_REPLACE`).
    pub fn set(&mut self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Error> {
        check_set_args(flags, value.len())?;
        Namespace::of(name)?;
        let old = self.attrs.get(name).map(Vec::len);
        match old {
            Some(_) if flags & XATTR_CREATE != 0 => return Err(Error::Exists),
            None if flags & XATTR_REPLACE != 0 => return Err(Error::NoData),
            _ => {}
        }
        let freed = old.map_or(0, |v| v + name.len());
        let bytes = self.bytes - freed + name.len() + value.len();
        if bytes > FILE_MAX {
            return Err(Error::NoSpace);
        }
        self.attrs.insert(name.to_vec(), value.to_vec());
        self.bytes = bytes;
        Ok(())
    }

    /// The value of `name`.
    pub fn get(&self, name: &[u8]) -> Result<&[u8], Error> {
        Namespace::of(name)?;
        self.attrs.get(name).map(Vec::as_slice).ok_or(Error::NoData)
    }

    /// `getxattr`'s answer for a buffer of `size` bytes: the value (to copy out), or with size 0 an empty
    /// slice and the length the value needs.
    pub fn read(&self, name: &[u8], size: usize) -> Result<(&[u8], usize), Error> {
        let v = self.get(name)?;
        Ok((if fits(v.len(), size)? { v } else { &[] }, v.len()))
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &[u8]) -> Result<(), Error> {
        Namespace::of(name)?;
        let v = self.attrs.remove(name).ok_or(Error::NoData)?;
        self.bytes -= name.len() + v.len();
        Ok(())
    }

    /// `listxattr`'s answer for a buffer of `size` bytes: the names `visible` lets through, each followed by a
    /// NUL (empty with size 0), and the length of the whole list.
    pub fn list(&self, size: usize, visible: impl Fn(Namespace) -> bool) -> Result<(Vec<u8>, usize), Error> {
        list_names(self.attrs.keys().map(Vec::as_slice), size, visible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_name_lengths() {
        assert_eq!(Namespace::of(b"user.a"), Ok(Namespace::User));
        assert_eq!(Namespace::of(b"trusted.a"), Ok(Namespace::Trusted));
        assert_eq!(Namespace::of(b"security.ltptest"), Ok(Namespace::Security));
        assert_eq!(Namespace::of(b"user."), Err(Error::NotSupported));
        assert_eq!(Namespace::of(b"system.posix_acl_access"), Err(Error::NotSupported));
        assert_eq!(Namespace::of(b"foo.bar"), Err(Error::NotSupported));
        assert_eq!(Namespace::of(b""), Err(Error::Range));
        let mut long = b"user.".to_vec();
        long.resize(NAME_MAX, b'x');
        assert_eq!(Namespace::of(&long), Ok(Namespace::User));
        long.push(b'x');
        assert_eq!(Namespace::of(&long), Err(Error::Range));
    }

    #[test]
    fn create_and_replace_flags() {
        let mut x = Xattrs::new();
        assert_eq!(x.set(b"user.a", b"1", XATTR_REPLACE), Err(Error::NoData));
        x.set(b"user.a", b"1", XATTR_CREATE).unwrap();
        assert_eq!(x.set(b"user.a", b"2", XATTR_CREATE), Err(Error::Exists));
        x.set(b"user.a", b"22", XATTR_REPLACE).unwrap();
        assert_eq!(x.get(b"user.a"), Ok(&b"22"[..]));
        x.set(b"user.a", b"333", 0).unwrap();
        assert_eq!(x.get(b"user.a"), Ok(&b"333"[..]));
        assert_eq!(x.set(b"user.a", b"1", 4), Err(Error::Invalid));
        assert_eq!(x.set(b"user.a", b"1", XATTR_CREATE | XATTR_REPLACE), Err(Error::Exists));
    }

    #[test]
    fn empty_values_exist() {
        let mut x = Xattrs::new();
        x.set(b"user.empty", b"", 0).unwrap();
        assert_eq!(x.read(b"user.empty", 0), Ok((&b""[..], 0)));
        assert_eq!(x.set(b"user.empty", b"", XATTR_CREATE), Err(Error::Exists));
    }

    #[test]
    fn read_sizes() {
        let mut x = Xattrs::new();
        x.set(b"user.v", b"test", 0).unwrap();
        assert_eq!(x.read(b"user.v", 0), Ok((&b""[..], 4)));
        assert_eq!(x.read(b"user.v", 3), Err(Error::Range));
        assert_eq!(x.read(b"user.v", 4), Ok((&b"test"[..], 4)));
        assert_eq!(x.read(b"user.v", 100), Ok((&b"test"[..], 4)));
        assert_eq!(x.read(b"user.w", 100), Err(Error::NoData));
    }

    #[test]
    fn value_limit() {
        let mut x = Xattrs::new();
        let big = alloc::vec![7u8; VALUE_MAX];
        x.set(b"user.big", &big, 0).unwrap();
        let too_big = alloc::vec![7u8; VALUE_MAX + 1];
        assert_eq!(x.set(b"user.big2", &too_big, 0), Err(Error::TooBig));
        assert_eq!(check_set_args(0, VALUE_MAX + 1), Err(Error::TooBig));
    }

    #[test]
    fn file_limit_counts_replacements_and_removals() {
        let mut x = Xattrs::new();
        let v = alloc::vec![1u8; VALUE_MAX];
        for name in [&b"user.a"[..], b"user.b", b"user.c"] {
            x.set(name, &v, 0).unwrap();
        }
        assert_eq!(x.set(b"user.d", &v, 0), Err(Error::NoSpace));
        // Replacing a value frees the old one first.
        x.set(b"user.a", &v, XATTR_REPLACE).unwrap();
        x.remove(b"user.a").unwrap();
        x.set(b"user.d", &v, 0).unwrap();
    }

    #[test]
    fn list_format_sizes_and_visibility() {
        let mut x = Xattrs::new();
        assert_eq!(x.list(0, |_| true), Ok((alloc::vec![], 0)));
        x.set(b"security.ltptest", b"test", 0).unwrap();
        x.set(b"trusted.t", b"1", 0).unwrap();
        x.set(b"user.u", b"2", 0).unwrap();
        let all = b"security.ltptest\0trusted.t\0user.u\0".to_vec();
        assert_eq!(x.list(0, |_| true), Ok((alloc::vec![], all.len())));
        assert_eq!(x.list(1, |_| true), Err(Error::Range));
        assert_eq!(x.list(all.len() - 1, |_| true), Err(Error::Range));
        assert_eq!(x.list(all.len(), |_| true), Ok((all.clone(), all.len())));
        let unprivileged = b"security.ltptest\0user.u\0".to_vec();
        assert_eq!(
            x.list(100, |ns| ns != Namespace::Trusted),
            Ok((unprivileged.clone(), unprivileged.len()))
        );
    }

    #[test]
    fn fits_and_name_lists() {
        assert_eq!(fits(0, 0), Ok(false));
        assert_eq!(fits(5, 0), Ok(false));
        assert_eq!(fits(5, 4), Err(Error::Range));
        assert_eq!(fits(5, 5), Ok(true));
        assert_eq!(fits(VALUE_MAX + 1, 0), Err(Error::TooBig));
        let names: [&[u8]; 3] = [b"user.a", b"system.posix_acl_access", b"trusted.b"];
        assert_eq!(
            list_names(names, 100, |ns| ns != Namespace::Trusted),
            Ok((b"user.a\0".to_vec(), 7))
        );
        assert_eq!(list_names(names, 0, |_| true), Ok((alloc::vec![], 17)));
    }

    #[test]
    fn remove() {
        let mut x = Xattrs::new();
        assert_eq!(x.remove(b"user.a"), Err(Error::NoData));
        x.set(b"user.a", b"1", 0).unwrap();
        x.remove(b"user.a").unwrap();
        assert!(x.is_empty());
        assert_eq!(x.get(b"user.a"), Err(Error::NoData));
        assert_eq!(x.remove(b"bogus"), Err(Error::NotSupported));
    }
}
