//! File attributes as `stat`, `statx` and `statfs` lay them out on x86-64.

use super::file::{Handle, OpenFile};
use super::inode::{Inode, Kind, Timespec};
use linux_raw_sys::general::{S_IFCHR, S_IFIFO};

/// The device number of the in-memory file system (an anonymous device, as Linux gives tmpfs).
const FS_DEV: (u32, u32) = (0, 1);
/// The device number pipes report.
const PIPE_DEV: (u32, u32) = (0, 2);
/// `st_blksize`.
const BLOCK_SIZE: u64 = 4096;
/// `TMPFS_MAGIC`.
const TMPFS_MAGIC: u64 = 0x0102_1994;

/// A file's attributes.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    dev: (u32, u32),
    ino: u64,
    mode: u32,
    nlink: u32,
    uid: u32,
    gid: u32,
    rdev: (u32, u32),
    size: u64,
    /// Space used in 512-byte sectors.
    blocks: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

/// Linux's user-space encoding of a device number (`makedev`).
fn encode_dev((major, minor): (u32, u32)) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

impl Stat {
    /// The attributes of a file in the tree.
    pub fn of_inode(inode: &Inode) -> Stat {
        let (mut dev, mut size, mut blocks) = (FS_DEV, 0, 0);
        match inode.disk() {
            Some(d) => {
                dev = d.mount().dev();
                if let Ok((m, s, b)) = d.stat() {
                    *inode.meta.lock() = m;
                    size = if inode.is_regular() || inode.is_dir() {
                        s
                    } else {
                        inode.size()
                    };
                    blocks = b;
                }
            }
            None => {
                size = inode.size();
                blocks = size.div_ceil(512);
            }
        }
        let m = *inode.meta.lock();
        Stat {
            dev,
            ino: inode.st_ino(),
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: match &inode.kind {
                Kind::Device(d) => d.rdev(),
                _ => (0, 0),
            },
            size,
            blocks,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }

    /// The attributes of an open file (a pipe from `pipe(2)` has no inode).
    pub fn of_file(file: &OpenFile) -> Stat {
        if let Some(inode) = file.inode() {
            return Stat::of_inode(inode);
        }
        let (mode, dev, rdev) = match file.handle() {
            Handle::Pipe(_) => (S_IFIFO | 0o600, PIPE_DEV, (0, 0)),
            Handle::Device(d) => (S_IFCHR | 0o600, FS_DEV, d.rdev()),
            Handle::Inode => (0, FS_DEV, (0, 0)),
            Handle::Other(o) => (o.mode(), FS_DEV, (0, 0)),
        };
        let now = Timespec::now();
        Stat {
            dev,
            ino: 0,
            mode,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev,
            size: 0,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// The type and permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// `struct stat` (144 bytes).
    pub fn to_stat(self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        put(0, encode_dev(self.dev));
        put(8, self.ino);
        put(16, self.nlink as u64);
        put(24, self.mode as u64 | ((self.uid as u64) << 32));
        put(32, self.gid as u64);
        put(40, encode_dev(self.rdev));
        put(48, self.size);
        put(56, BLOCK_SIZE);
        put(64, self.blocks);
        for (i, t) in [self.atime, self.mtime, self.ctime].iter().enumerate() {
            put(72 + 16 * i, t.sec as u64);
            put(80 + 16 * i, t.nsec as u64);
        }
        b
    }

    /// `struct statx` (256 bytes) with the basic fields (`STATX_BASIC_STATS`).
    pub fn to_statx(self) -> [u8; 256] {
        const STATX_BASIC_STATS: u32 = 0x7ff;
        let mut b = [0u8; 256];
        let mut put32 = |off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        put32(0, STATX_BASIC_STATS);
        put32(4, BLOCK_SIZE as u32);
        put32(16, self.nlink);
        put32(20, self.uid);
        put32(24, self.gid);
        put32(128, self.rdev.0);
        put32(132, self.rdev.1);
        put32(136, self.dev.0);
        put32(140, self.dev.1);
        b[28..30].copy_from_slice(&(self.mode as u16).to_ne_bytes());
        let mut put64 = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        put64(32, self.ino);
        put64(40, self.size);
        put64(48, self.blocks);
        // atime, btime (creation: the change time is the best we know), ctime, mtime.
        for (off, t) in [(64, self.atime), (80, self.ctime), (96, self.ctime), (112, self.mtime)] {
            put64(off, t.sec as u64);
            put64(off + 8, t.nsec as u64);
        }
        b
    }
}

/// `struct statfs` (120 bytes) of the file system holding `inode` (the in-memory one for `None`).
pub fn statfs(inode: Option<&Inode>) -> Result<[u8; 120], crate::syscall::errno::Errno> {
    let mut b = [0u8; 120];
    let figures = match inode.and_then(Inode::disk) {
        Some(d) => d.mount().statfs()?,
        None => {
            let total = ember_frame::mm::usable_bytes() / BLOCK_SIZE;
            let free = ember_frame::mm::free_bytes() / BLOCK_SIZE;
            [TMPFS_MAGIC, BLOCK_SIZE, total, free, free, 1 << 20, 1 << 19, 0]
        }
    };
    let [magic, bsize, blocks, free, avail, files, ffree, fsid] = figures;
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    put(0, magic);
    put(8, bsize);
    put(16, blocks);
    put(24, free);
    put(32, avail);
    put(40, files);
    put(48, ffree);
    put(56, fsid);
    put(64, super::inode::NAME_MAX as u64);
    put(72, bsize);
    Ok(b)
}
