//! A host-side replay of `cargo xtask bench ext4`'s small-file row, for profiling the crate (e.g. under
//! `valgrind --tool=callgrind`): a fresh 512 MiB ext4 image from Debian's `mke2fs` (4 KiB blocks, as the
//! bench makes it), mounted over an `ember-bcache` cache of an in-memory copy (as the kernel stacks them),
//! then `FILES` times what the kernel asks of the crate for `open(O_CREAT)` + `write(100 B)` + `close` +
//! `unlink`: create, stat, write, stat, unlink, release. Prints the time per file; `e2fsck -fn` checks the
//! image written back after unmount.
//!
//! `cargo run --release -p ember-ext4 --example small_files [FILES]`

use ember_bcache::{Cache, Device, Error as CacheError, SECTOR};
use ember_ext4::{BlockDevice, Fs, IoError, MountOptions, Timestamp};
use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::Instant;

/// The image in memory (shared, so that it can be checked after unmount), as the cache's device.
struct Mem(Rc<RefCell<Vec<u8>>>);

impl Device for Mem {
    fn sectors(&self) -> u64 {
        (self.0.borrow().len() / SECTOR) as u64
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), CacheError> {
        let at = sector as usize * SECTOR;
        buf.copy_from_slice(&self.0.borrow()[at..at + buf.len()]);
        Ok(())
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), CacheError> {
        let at = sector as usize * SECTOR;
        self.0.borrow_mut()[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), CacheError> {
        Ok(())
    }
}

/// The cache as the file system's device (what the kernel's `DiskDev` is).
struct Cached(Cache<Mem>);

impl BlockDevice for Cached {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read(offset, buf).map_err(|_| IoError)
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        self.0.write(offset, buf).map_err(|_| IoError)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.0.flush().map_err(|_| IoError)
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
}

fn clock() -> Timestamp {
    Timestamp {
        sec: 1_700_000_000,
        nsec: 0,
    }
}

fn main() {
    let files: u32 = std::env::args()
        .nth(1)
        .map_or(1000, |a| a.parse().expect("FILES: a number"));
    let dir = std::env::temp_dir().join(format!("ember-small-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("disk.img");
    let ok = Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "4096",
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
        ])
        .arg(&img)
        .arg("512M")
        .status()
        .expect("mke2fs (Debian's e2fsprogs)")
        .success();
    assert!(ok, "mke2fs failed");
    let image = Rc::new(RefCell::new(std::fs::read(&img).unwrap()));
    let cache = Cache::new(Mem(image.clone()), 16384);
    let opts = MountOptions {
        read_only: false,
        clock,
    };
    let mut fs = Fs::mount(Cached(cache), opts).expect("mount");
    let small = fs.mkdir(fs.root(), b"small", 0o755, 0, 0).expect("mkdir");
    let text = [b'x'; 100];
    let t0 = Instant::now();
    for i in 0..files {
        let name = format!("f{i}");
        let ino = fs.create(small, name.as_bytes(), 0o644, 0, 0).expect("create");
        fs.stat(ino).expect("stat");
        assert_eq!(fs.write_at(ino, 0, &text).expect("write"), text.len());
        fs.stat(ino).expect("stat");
        fs.unlink(small, name.as_bytes()).expect("unlink");
        fs.release(ino).expect("release");
    }
    let each = t0.elapsed().as_secs_f64() * 1e6 / files.max(1) as f64;
    println!("small_files: {files} files, {each:.2} us each");
    let Cached(mut cache) = fs.unmount().expect("unmount");
    cache.flush().expect("flush");
    drop(cache);
    std::fs::write(&img, &*image.borrow()).unwrap();
    let out = Command::new("e2fsck").args(["-fn"]).arg(&img).output().expect("e2fsck");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "e2fsck -fn: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("e2fsck -fn: clean");
}
