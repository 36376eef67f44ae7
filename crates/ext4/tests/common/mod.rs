//! Test helpers: images made by Debian's e2fsprogs in a temporary directory, a file-backed and an in-memory
//! block device, and e2fsck/debugfs checks.
#![allow(dead_code)]

use ember_ext4::{BlockDevice, FileType, Fs, IoError, MountOptions, Timestamp};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A block device backed by an image file.
pub struct FileDev(pub File, pub u64);

impl BlockDevice for FileDev {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        assert!(
            offset.is_multiple_of(512) && buf.len().is_multiple_of(512),
            "unaligned request"
        );
        self.0.read_exact_at(buf, offset).map_err(|_| IoError)
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        assert!(
            offset.is_multiple_of(512) && buf.len().is_multiple_of(512),
            "unaligned request"
        );
        self.0.write_all_at(buf, offset).map_err(|_| IoError)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.0.sync_data().map_err(|_| IoError)
    }
    fn size(&self) -> u64 {
        self.1
    }
}

/// A block device in memory (for hostile-image loops).
pub struct MemDev(pub Vec<u8>);

impl BlockDevice for MemDev {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let s = self
            .0
            .get(offset as usize..offset as usize + buf.len())
            .ok_or(IoError)?;
        buf.copy_from_slice(s);
        Ok(())
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        let s = self
            .0
            .get_mut(offset as usize..offset as usize + buf.len())
            .ok_or(IoError)?;
        s.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

/// A fixed clock.
pub fn clock() -> Timestamp {
    Timestamp {
        sec: 1_700_000_000,
        nsec: 123_456_789,
    }
}

pub fn rw() -> MountOptions {
    MountOptions {
        read_only: false,
        clock,
    }
}

pub fn ro() -> MountOptions {
    MountOptions { read_only: true, clock }
}

/// A fresh empty temporary directory.
pub fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "ember-ext4-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The path of an e2fsprogs tool (they live in sbin, which may not be on PATH).
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install e2fsprogs (apt-get install -y e2fsprogs)");
}

/// Runs a tool; panics with its output on failure.
pub fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(tool(name)).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} {args:?} failed:\n{text}");
    text
}

/// Deterministic pseudo-random bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Makes an image of `size` (e.g. "32M") of type `kind` ("ext4", "ext2") filled from `src` with `extra`
/// mke2fs arguments.
pub fn mkfs(dir: &Path, kind: &str, size: &str, src: &Path, extra: &[&str]) -> PathBuf {
    let img = dir.join(format!("{kind}.img"));
    let mut args = vec!["-q", "-F", "-t", kind, "-d", src.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(img.to_str().unwrap());
    args.push(size);
    run("mke2fs", &args);
    img
}

/// An image made by [`mkfs`] from a new [`host_tree`] in a new temporary directory tagged `kind`, its directories
/// indexed by `e2fsck -fyD` when `index_dirs`: the tree's path and the image's.
pub fn host_image(kind: &str, size: &str, extra: &[&str], index_dirs: bool) -> (PathBuf, PathBuf) {
    let dir = tempdir(kind);
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    host_tree(&src);
    let img = mkfs(&dir, kind, size, &src, extra);
    if index_dirs {
        // e2fsck -D indexes directories; exit code 1 means it changed something.
        let st = Command::new(tool("e2fsck"))
            .args(["-fyD", img.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.code().unwrap_or(8) <= 1, "{st:?}");
    }
    (src, img)
}

/// The image file as a read-write block device.
pub fn open_dev(img: &Path) -> FileDev {
    let f = OpenOptions::new().read(true).write(true).open(img).unwrap();
    let len = f.metadata().unwrap().len();
    FileDev(f, len)
}

/// The image mounted with `opts` (panics when the mount fails).
pub fn mount(img: &Path, opts: MountOptions) -> Fs<FileDev> {
    Fs::mount(open_dev(img), opts).unwrap()
}

/// `e2fsck -fn` must report a clean file system.
pub fn fsck_clean(img: &Path) {
    let out = Command::new(tool("e2fsck"))
        .args(["-fn", img.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "e2fsck -fn found problems:\n{text}");
}

/// The bytes of `path` as debugfs sees them.
pub fn debugfs_cat(img: &Path, path: &str) -> Vec<u8> {
    let out = Command::new(tool("debugfs"))
        .args(["-R", &format!("cat {path}"), img.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// What debugfs prints for a command.
pub fn debugfs(img: &Path, cmd: &str) -> String {
    run("debugfs", &["-R", cmd, img.to_str().unwrap()])
}

/// Resolves a path from the root with the crate.
pub fn resolve<D: BlockDevice>(fs: &mut Fs<D>, path: &str) -> ember_ext4::Result<u32> {
    let mut ino = fs.root();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        ino = fs.lookup(ino, part.as_bytes())?;
    }
    Ok(ino)
}

/// Reads a whole file with the crate.
pub fn read_all<D: BlockDevice>(fs: &mut Fs<D>, ino: u32) -> Vec<u8> {
    let size = fs.stat(ino).unwrap().size as usize;
    let mut buf = vec![0u8; size + 100];
    let mut done = 0;
    while done < buf.len() {
        let n = fs
            .read_at(ino, done as u64, &mut buf[done..(done + 70_000).min(size + 100)])
            .unwrap();
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    buf
}

/// A host tree with small, large, empty, sparse and linked files, symlinks, and a directory of many entries.
pub fn host_tree(root: &Path) {
    std::fs::write(root.join("hello.txt"), b"hello ember\n").unwrap();
    std::fs::write(root.join("big.bin"), pattern(1, 3 * 1024 * 1024 + 123)).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::create_dir_all(root.join("sub/dir")).unwrap();
    std::fs::write(root.join("sub/dir/deep.txt"), pattern(2, 5000)).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("link_fast")).unwrap();
    std::os::unix::fs::symlink("x".repeat(100), root.join("link_slow")).unwrap();
    std::fs::hard_link(root.join("hello.txt"), root.join("sub/hard")).unwrap();
    std::fs::set_permissions(root.join("sub/dir/deep.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let f = std::fs::File::create(root.join("sparse")).unwrap();
    f.set_len(1 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"middle", 512 * 1024).unwrap();
    std::fs::create_dir(root.join("many")).unwrap();
    for i in 0..400 {
        std::fs::write(
            root.join(format!("many/entry-number-{i:04}-with-a-longer-name")),
            format!("{i}"),
        )
        .unwrap();
    }
}

/// Compares the crate's view of directory `ino` with host directory `host`, recursively.
pub fn compare_tree<D: BlockDevice>(fs: &mut Fs<D>, ino: u32, host: &Path) {
    let entries = fs.dir_entries(ino).unwrap();
    let names: BTreeSet<String> = entries
        .iter()
        .map(|e| String::from_utf8(e.name.clone()).unwrap())
        .collect();
    let mut want: BTreeSet<String> = std::fs::read_dir(host)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    want.insert(".".into());
    want.insert("..".into());
    if ino == fs.root() {
        want.insert("lost+found".into());
    }
    assert_eq!(names, want, "entries of {host:?}");
    for e in entries {
        let name = String::from_utf8(e.name.clone()).unwrap();
        if name == "." || name == ".." || name == "lost+found" {
            continue;
        }
        let path = host.join(&name);
        let hm = std::fs::symlink_metadata(&path).unwrap();
        let m = fs.stat(e.ino).unwrap();
        assert_eq!(m.perm as u32, hm.mode() & 0o7777, "{path:?}");
        assert_eq!(m.nlink as u64, hm.nlink(), "{path:?}");
        assert_eq!(Some(m.kind), e.kind.or(Some(m.kind)));
        match m.kind {
            FileType::Directory => compare_tree(fs, e.ino, &path),
            FileType::Regular => {
                assert_eq!(m.size, hm.len(), "{path:?}");
                assert_eq!(read_all(fs, e.ino), std::fs::read(&path).unwrap(), "{path:?}");
            }
            FileType::Symlink => {
                let t = std::fs::read_link(&path).unwrap();
                assert_eq!(
                    fs.readlink(e.ino).unwrap(),
                    t.as_os_str().as_encoded_bytes(),
                    "{path:?}"
                );
            }
            k => panic!("unexpected {k:?}"),
        }
    }
}
