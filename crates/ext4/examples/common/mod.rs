//! What the examples share: an image from Debian's `mke2fs` held in memory, mounted over an `ember-bcache`
//! cache (as the kernel stacks them), and the `e2fsck -fn` check of it after unmount.
#![allow(dead_code)]

use ember_bcache::{Cache, Device, Error as CacheError, SECTOR};
use ember_ext4::{BlockDevice, Fs, IoError, MountOptions, Timestamp};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;

/// The image in memory (shared, so that it can be checked after unmount), as the cache's device.
pub struct Mem(pub Rc<RefCell<Vec<u8>>>);

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
pub struct Cached(pub Cache<Mem>);

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

pub fn clock() -> Timestamp {
    Timestamp {
        sec: 1_700_000_000,
        nsec: 0,
    }
}

/// A fresh 512 MiB ext4 image (4 KiB blocks, as the bench makes it) in memory, mounted read-write over a
/// cache; also the image's path and its bytes (for [`check`]).
pub fn fresh(tag: &str) -> (Fs<Cached>, PathBuf, Rc<RefCell<Vec<u8>>>) {
    let dir = std::env::temp_dir().join(format!("ember-{tag}-{}", std::process::id()));
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
    (Fs::mount(Cached(cache), opts).expect("mount"), img, image)
}

/// Unmounts `fs`, writes the image back to `img` and checks it with `e2fsck -fn`; returns `debugfs`'s
/// output for `cmd` (if any) before the image is removed.
pub fn check(fs: Fs<Cached>, img: &PathBuf, image: &Rc<RefCell<Vec<u8>>>, cmd: Option<&str>) -> String {
    let Cached(mut cache) = fs.unmount().expect("unmount");
    cache.flush().expect("flush");
    drop(cache);
    std::fs::write(img, &*image.borrow()).unwrap();
    let out = Command::new("e2fsck").args(["-fn"]).arg(img).output().expect("e2fsck");
    let shown = cmd.map_or(String::new(), |c| {
        let o = Command::new("debugfs")
            .args(["-R", c])
            .arg(img)
            .output()
            .expect("debugfs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    });
    let _ = std::fs::remove_dir_all(img.parent().unwrap());
    assert!(
        out.status.success(),
        "e2fsck -fn: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("e2fsck -fn: clean");
    shown
}
