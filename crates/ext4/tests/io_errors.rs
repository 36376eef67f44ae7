//! A device that starts failing: the failed call gives `Error::Io` and the file system goes read-only
//! (`errors=remount-ro`); reads of what is on disk still work, and the image stays consistent.

mod common;

use common::*;
use ember_ext4::{BlockDevice, Error, Fs, IO_ERROR_READ_ONLY, IoError};
use std::cell::Cell;
use std::rc::Rc;

/// An image file whose writes (and flushes) fail while `failing` is set.
struct Failing(FileDev, Rc<Cell<bool>>);

impl BlockDevice for Failing {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read(offset, buf)
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        if self.1.get() {
            return Err(IoError);
        }
        self.0.write(offset, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        if self.1.get() {
            return Err(IoError);
        }
        self.0.flush()
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
}

#[test]
fn a_failing_device_turns_the_file_system_read_only() {
    for kind in ["ext4", "ext2"] {
        let (_src, img) = host_image(kind, "16M", &[], false);
        let failing = Rc::new(Cell::new(false));
        let mut fs = Fs::mount(Failing(open_dev(&img), failing.clone()), rw()).unwrap();
        let root = fs.root();
        let ino = fs.create(root, b"before", 0o644, 0, 0).unwrap();
        fs.write_at(ino, 0, b"on disk").unwrap();
        failing.set(true);
        let other = fs.create(root, b"during", 0o644, 0, 0);
        assert_eq!(other, Err(Error::Io), "{kind}");
        assert_eq!(fs.read_only_reason(), Some(IO_ERROR_READ_ONLY), "{kind}");
        // Nothing more is written, even once the device works again; reads go on.
        failing.set(false);
        assert_eq!(fs.create(root, b"after", 0o644, 0, 0), Err(Error::ReadOnly), "{kind}");
        assert_eq!(fs.write_at(ino, 0, b"x"), Err(Error::ReadOnly), "{kind}");
        let mut buf = [0u8; 7];
        assert_eq!(fs.read_at(ino, 0, &mut buf).unwrap(), 7);
        assert_eq!(&buf, b"on disk");
        fs.unmount().unwrap();
        let _ = std::fs::remove_dir_all(img.parent().unwrap());
    }
}
