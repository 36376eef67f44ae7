//! ext2/ext4 (`ember-ext4`) over an in-memory block device.

use ember_ext4::{BlockDevice, FileType, Fs, Ino, IoError, MountOptions, Timestamp, XattrMode};

/// The fuzz input as a block device: its bytes, cut to whole sectors; requests past the end fail.
struct MemDev(Vec<u8>);

impl BlockDevice for MemDev {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let at = usize::try_from(offset).map_err(|_| IoError)?;
        let s = self
            .0
            .get(at..at.checked_add(buf.len()).ok_or(IoError)?)
            .ok_or(IoError)?;
        buf.copy_from_slice(s);
        Ok(())
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        let at = usize::try_from(offset).map_err(|_| IoError)?;
        let end = at.checked_add(buf.len()).ok_or(IoError)?;
        self.0.get_mut(at..end).ok_or(IoError)?.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

fn clock() -> Timestamp {
    Timestamp::default()
}

/// Most directory entries, inodes and bytes one input may walk (the fuzzer's time goes to variety).
const MAX_ENTRIES: usize = 300;
const READ_BUF: usize = 16 * 1024;

/// Input: one flag byte (bit 0: mount read-only), then a file-system image (the seed corpus holds small images
/// made by `mke2fs`, two of them with an htree-indexed root). Mounts it; when the mount succeeds, walks the
/// tree (bounded), reads every file at its start, around its end and past it, reads every symlink, then
/// (read-write) creates, writes, truncates, renames and removes (40 new names in the root, enough to split
/// leaves of an indexed one), syncs and unmounts. Checks: the root is a directory; a directory entry's name is
/// 1 to 255 bytes without `/` or NUL (the kernel would otherwise make paths of it); a read returns at most the
/// buffer and never reaches past the file size it was made at, and nothing at or past the end; a file written
/// at an offset is at least that long after, and a truncate sets the size exactly (a hostile image may have
/// handed out blocks its own metadata uses, so the bytes written are not promised back, as on Linux);
/// `statfs` counts no more free blocks or inodes than there are; an unlink removes the inode its name named; a
/// read-only mount never writes the device. Extended attributes: every name listed reads back (the list and
/// the read parse the same areas) with at most 64 KiB; a value as large as a block fits neither the inode nor
/// the block; new files and the image's own get attributes set, replaced and removed.
pub fn ext4(data: &[u8]) {
    let Some((&flags, image)) = data.split_first() else {
        return;
    };
    let read_only = flags & 1 != 0;
    let opts = MountOptions { read_only, clock };
    let Ok(mut fs) = Fs::mount(MemDev(image[..image.len() & !511].to_vec()), opts) else {
        return;
    };
    let root = fs.root();
    if let Ok(m) = fs.stat(root) {
        assert_eq!(m.kind, FileType::Directory, "the root is not a directory");
    }
    walk(&mut fs, root);
    let s = fs.statfs();
    assert!(
        s.free_blocks <= s.blocks && s.avail_blocks <= s.free_blocks && s.free_inodes <= s.inodes,
        "statfs: {s:?}"
    );
    if !read_only && fs.read_only_reason().is_none() {
        change(&mut fs, root);
    }
    let _ = fs.sync();
    match fs.unmount() {
        Ok(dev) if read_only => assert!(dev.0 == image[..image.len() & !511], "a read-only mount wrote"),
        _ => {}
    }
}

/// Walks the tree from `root`, depth first, reading what it finds.
fn walk(fs: &mut Fs<MemDev>, root: Ino) {
    let mut stack = vec![(root, 0)];
    let mut seen = 0;
    let mut buf = vec![0u8; READ_BUF];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs.dir_entries(dir) else { continue };
        for e in entries {
            assert!(
                !e.name.is_empty() && e.name.len() <= 255 && !e.name.contains(&b'/') && !e.name.contains(&0),
                "directory entry name {:?}",
                e.name
            );
            seen += 1;
            if seen > MAX_ENTRIES || e.name == b"." || e.name == b".." {
                continue;
            }
            let Ok(m) = fs.stat(e.ino) else { continue };
            xattrs_read_back(fs, e.ino);
            match m.kind {
                FileType::Directory if depth < 4 => stack.push((e.ino, depth + 1)),
                FileType::Regular => {
                    for off in [0, m.size.saturating_sub(100), m.size, m.size.saturating_add(4096)] {
                        read_within(fs, e.ino, off, &mut buf, m.size);
                    }
                }
                FileType::Symlink => {
                    let _ = fs.readlink(e.ino);
                }
                _ => {}
            }
        }
    }
}

/// Every attribute `ino` lists reads back.
fn xattrs_read_back(fs: &mut Fs<MemDev>, ino: Ino) {
    let Ok(names) = fs.xattr_names(ino) else { return };
    for name in names {
        match fs.xattr_get(ino, &name) {
            Ok(v) => assert!(v.len() <= 65536, "a {}-byte attribute value", v.len()),
            Err(e) => panic!("listed attribute {name:?} does not read: {e:?}"),
        }
    }
}

/// Sets, replaces and removes attributes of `ino`.
fn change_xattrs(fs: &mut Fs<MemDev>, ino: Ino, pattern: &[u8]) {
    let _ = fs.xattr_set(ino, b"user.small", b"v", XattrMode::Any);
    let _ = fs.xattr_set(ino, b"trusted.large", &pattern[..700], XattrMode::Create);
    let _ = fs.xattr_set(ino, b"user.small", &pattern[..40], XattrMode::Replace);
    let huge = vec![1u8; fs.block_size() as usize];
    assert!(
        fs.xattr_set(ino, b"user.huge", &huge, XattrMode::Any).is_err(),
        "a block-sized value was stored"
    );
    xattrs_read_back(fs, ino);
    let _ = fs.xattr_remove(ino, b"user.small");
    if let Ok(names) = fs.xattr_names(ino)
        && let Some(first) = names.first()
    {
        let _ = fs.xattr_remove(ino, first);
    }
}

/// Reads at `off` and checks the result against the file's `size`.
fn read_within(fs: &mut Fs<MemDev>, ino: Ino, off: u64, buf: &mut [u8], size: u64) {
    if let Ok(n) = fs.read_at(ino, off, buf) {
        assert!(n <= buf.len(), "read {n} into {}", buf.len());
        if n > 0 {
            assert!(
                off < size && off + n as u64 <= size,
                "read {n} at {off} of a {size}-byte file"
            );
        }
    }
}

/// Changes the tree, checking what each change promises.
fn change(fs: &mut Fs<MemDev>, root: Ino) {
    let pattern: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
    if let Ok(ino) = fs.create(root, b"fuzz-new", 0o644, 0, 0) {
        for off in [0u64, 70_000] {
            if let Ok(n) = fs.write_at(ino, off, &pattern) {
                assert!(n <= pattern.len());
                if let Ok(m) = fs.stat(ino) {
                    assert!(m.size >= off + n as u64, "size {} after writing {n} at {off}", m.size);
                }
            }
        }
        change_xattrs(fs, ino, &pattern);
        if fs.truncate(ino, 1000).is_ok()
            && let Ok(m) = fs.stat(ino)
        {
            assert_eq!(m.size, 1000, "size after a truncate to 1000");
        }
        let _ = fs.rename(root, b"fuzz-new", root, b"fuzz-renamed");
        if let Ok(u) = fs.unlink(root, b"fuzz-renamed") {
            let _ = fs.release(u.ino);
        }
    }
    if let Ok(d) = fs.mkdir(root, b"fuzz-dir", 0o755, 0, 0) {
        let _ = fs.symlink(d, b"link", b"../fuzz-dir", 0, 0);
        let _ = fs.dir_entries(d);
        if let Ok(u) = fs.unlink(d, b"link") {
            let _ = fs.release(u.ino);
        }
        let _ = fs.rmdir(root, b"fuzz-dir");
    }
    // Enough new names to split leaves of an indexed root (the htree seeds' root is one), then half removed.
    for i in 0..40 {
        let name = format!("fuzz-many-{i}-{}", "n".repeat(i * 7 % 60));
        if let Ok(ino) = fs.create(root, name.as_bytes(), 0o644, 0, 0)
            && i % 2 == 0
            && let Ok(u) = fs.unlink(root, name.as_bytes())
        {
            assert_eq!(u.ino, ino, "unlink removed another inode");
            let _ = fs.release(u.ino);
        }
    }
    // Remove a few of the image's own entries (with their blocks).
    if let Ok(entries) = fs.dir_entries(root) {
        for e in entries.iter().filter(|e| e.name != b"." && e.name != b"..").take(3) {
            change_xattrs(fs, e.ino, &pattern);
            match fs.unlink(root, &e.name) {
                Ok(u) => {
                    let _ = fs.release(u.ino);
                }
                Err(_) => {
                    let _ = fs.rmdir(root, &e.name);
                }
            }
        }
    }
}
