//! Unpacking the initramfs into the tree, as Linux's `init/initramfs.c` does: concatenated `newc` cpio
//! archives, plain or compressed ([`ember_initramfs`]); entries replace what is there, hard links share one
//! inode, and a bad archive keeps what came before the problem, with one log line. Decompression is bounded
//! by half the free memory.

use super::devices::Device;
use super::inode::{Inode, LinkTarget, Timespec};
use super::path::Resolver;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use ember_cpio::{Entry, FileType};

/// Unpacks `archive` into `root`.
pub fn unpack(root: &Arc<Inode>, archive: &[u8]) {
    let mut hard_links: BTreeMap<(u32, u32, u32), Arc<Inode>> = BTreeMap::new();
    let mut count = 0usize;
    let limits = ember_initramfs::Limits {
        max_output: usize::try_from(ember_frame::mm::free_bytes() / 2).unwrap_or(usize::MAX),
    };
    let (summary, result) = ember_initramfs::unpack(archive, limits, |entry| match add(root, entry, &mut hard_links) {
        Ok(true) => count += 1,
        Ok(false) => {}
        Err(e) => log::warn!("initramfs: {:?} not unpacked ({e:?})", entry.name_str().unwrap_or("?")),
    });
    match result {
        Ok(()) => log::info!("initramfs: {count} entries ({} compressed pieces)", summary.compressed),
        Err(e) => log::error!("initramfs: {e}; keeping the {count} entries unpacked before it"),
    }
}

/// Adds one entry; `false` when it is skipped (the root itself, or a kind the tree has no place for).
fn add(
    root: &Arc<Inode>,
    e: &Entry<'_>,
    hard_links: &mut BTreeMap<(u32, u32, u32), Arc<Inode>>,
) -> Result<bool, Errno> {
    let mut name = e.name;
    while let Some(rest) = name.strip_prefix(b"./").or_else(|| name.strip_prefix(b"/")) {
        name = rest;
    }
    if name.is_empty() || name == b"." {
        return Ok(false);
    }
    let (dir, last) = Resolver::new(root.clone()).lookup_parent(root.clone(), name)?;
    if last == b"." || last == b".." {
        return Ok(false);
    }
    let perm = e.permissions();
    let existing = dir.lookup(&last).ok();
    let inode = match e.file_type() {
        FileType::Directory => {
            if let Some(old) = existing.as_ref().filter(|i| i.is_dir()) {
                set_meta(old, e);
                return Ok(true);
            }
            Inode::new_dir(perm, Some(&dir))
        }
        FileType::Regular => {
            let key = (e.dev_major, e.dev_minor, e.ino);
            match hard_links.get(&key) {
                Some(first) if e.nlink > 1 => {
                    if !e.data.is_empty() {
                        first.truncate(0)?;
                        first.write_at(0, e.data)?;
                    }
                    first.clone()
                }
                _ => {
                    let f = Inode::new_file(perm, e.data)?;
                    if e.nlink > 1 {
                        hard_links.insert(key, f.clone());
                    }
                    f
                }
            }
        }
        FileType::Symlink => Inode::new_symlink(LinkTarget::Path(e.data.to_vec())),
        FileType::Fifo => Inode::new_fifo(perm),
        FileType::CharDevice => {
            let rdev = (e.rdev_major, e.rdev_minor);
            match Device::ALL.iter().find(|(_, d)| d.rdev() == rdev) {
                Some(&(_, d)) => Inode::new_device(d, perm),
                None => {
                    log::debug!(
                        "initramfs: {:?}: no driver for device {rdev:?}",
                        e.name_str().unwrap_or("?")
                    );
                    return Ok(false);
                }
            }
        }
        _ => return Ok(false),
    };
    if existing.is_some() {
        dir.remove(&last)?;
    }
    set_meta(&inode, e);
    dir.insert(&last, inode)?;
    Ok(true)
}

fn set_meta(inode: &Inode, e: &Entry<'_>) {
    let mut m = inode.meta.lock();
    m.mode = (m.mode & !0o7777) | e.permissions();
    m.uid = e.uid;
    m.gid = e.gid;
    let t = Timespec {
        sec: e.mtime as i64,
        nsec: 0,
    };
    m.mtime = t;
    m.ctime = t;
    m.atime = t;
}
