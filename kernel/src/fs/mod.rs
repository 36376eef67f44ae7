//! Files: an in-memory tree filled from the initramfs, device nodes, pipes, the console terminal, and each
//! process's descriptors and directories.
//!
//! - [`inode`]: the tree (ramfs-like: everything lives in the heap, all writable);
//! - [`path`]: path resolution; [`mount`]: the mount table; [`open`]: `open(2)`;
//! - [`file`]: open-file descriptions; [`fdtable`]: descriptors; [`context`]: root, cwd, umask;
//! - [`pipe`], [`tty`], [`devices`]: what is not a plain file; [`poll`]: readiness wake-ups;
//! - [`lock`]: `flock` and `fcntl` record locks; [`xattr`]: extended attributes;
//! - [`initramfs`]: unpacking the cpio archive; [`stat`]: attributes as user space sees them.
//!
//! The system calls on top are in [`crate::syscall::fs`].

pub mod context;
pub mod devices;
pub mod disk;
pub mod diskpages;
pub mod diskstats;
pub mod ext;
pub mod fdtable;
pub mod file;
pub mod initramfs;
pub mod inode;
pub mod lock;
pub mod mount;
pub mod open;
pub mod pages;
pub mod path;
pub mod perm;
pub mod pipe;
pub mod poll;
pub mod proc;
pub mod rootfs;
pub mod sleeplock;
pub mod stat;
pub mod tty;
pub mod xattr;

pub use context::FsContext;
pub use fdtable::FdTable;
pub use file::OpenFile;

use crate::syscall::errno::Errno;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use devices::Device;
use inode::Inode;
use spin::Once;

/// Execute permission for owner, group and others.
const S_IXUGO: u32 = 0o111;

static TREE: Once<Arc<Inode>> = Once::new();
static ROOT: Once<Arc<Inode>> = Once::new();

/// The kernel's in-memory tree: the initramfs with `/dev` (devtmpfs), `/proc`, `/sys` and `/tmp`.
pub fn kernel_tree() -> Arc<Inode> {
    TREE.call_once(|| Inode::new_dir(0o755, None)).clone()
}

/// The root directory of the file system: a disk's (`root=`) or the kernel's tree.
pub fn root() -> Arc<Inode> {
    ROOT.call_once(kernel_tree).clone()
}

/// Fills `/sys/block` (`block`): a directory per disk, one per partition inside its disk's (`vda/vda1`), each
/// with `dev` (`major:minor`) and `size` (in sectors); a partition's also `partition` (its number) and `start`.
fn sys_block(block: &Arc<Inode>) {
    let mut parent = None;
    for d in disk::all() {
        let dir = if d.partition() == 0 {
            parent = ensure_dir(block, d.name().as_bytes(), 0o755);
            parent.clone()
        } else {
            parent.as_ref().and_then(|p| ensure_dir(p, d.name().as_bytes(), 0o755))
        };
        let Some(dir) = dir else { continue };
        let file = |name: &[u8], text: String| {
            if dir.lookup(name).is_err()
                && let Ok(f) = Inode::new_file(0o444, text.as_bytes())
            {
                add(&dir, name, f);
            }
        };
        file(b"dev", alloc::format!("{}:{}\n", ext::VIRTIO_BLK_MAJOR, d.minor()));
        file(b"size", alloc::format!("{}\n", d.size() / 512));
        if d.partition() != 0 {
            file(b"partition", alloc::format!("{}\n", d.partition()));
            file(b"start", alloc::format!("{}\n", d.start_sector()));
        }
    }
}

/// Builds the root file system: unpacks `initrd` (cpio archives, plain or compressed), makes sure `/dev` (with
/// the device nodes, disks included), `/proc` (see [`proc`]) and `/tmp` exist, and starts the console
/// terminal. When the initramfs has no `rdinit=` program (default `/init`), or there is none, Linux's `root=`
/// mounts a disk as the root instead ([`rootfs`]). Returns where init comes from, if anywhere.
pub fn init(initrd: Option<&[u8]>, cmdline: &ember_cmdline::Cmdline<'_>) -> Option<RootFrom> {
    let tree = kernel_tree();
    if let Some(archive) = initrd {
        initramfs::unpack(&tree, archive);
    }
    let dev = ensure_dir(&tree, b"dev", 0o755);
    if let Some(dev) = &dev {
        for (name, device) in Device::ALL {
            if dev.lookup(name).is_err() {
                let mode = if device == Device::Console { 0o600 } else { 0o666 };
                add(dev, name, Inode::new_device(device, mode));
            }
        }
        for d in disk::all() {
            if dev.lookup(d.name().as_bytes()).is_err() {
                add(
                    dev,
                    d.name().as_bytes(),
                    Inode::new_device(Device::Block(d.minor()), 0o660),
                );
            }
        }
    }
    let proc = ensure_dir(&tree, b"proc", 0o555);
    if let Some(p) = &proc {
        self::proc::init(p);
    }
    ensure_dir(&tree, b"tmp", 0o1777);
    // The CPU lists below name the CPUs online: the application processors (started early in the boot, while
    // the initramfs was unpacked) are counted first.
    ember_frame::cpu::wait_for_aps();
    if let Some(sys) = ensure_dir(&tree, b"sys", 0o555) {
        ensure_dir(&sys, b"block", 0o755);
        ensure_dir(&sys, b"kernel", 0o755);
        // The CPU lists glibc's and musl's `sysconf(_SC_NPROCESSORS_*)` read.
        let cpu = ensure_dir(&sys, b"devices", 0o755)
            .and_then(|d| ensure_dir(&d, b"system", 0o755))
            .and_then(|d| ensure_dir(&d, b"cpu", 0o755));
        if let Some(cpu) = cpu {
            let last = ember_frame::cpu::online_count().saturating_sub(1);
            let list = if last == 0 {
                "0\n".into()
            } else {
                alloc::format!("0-{last}\n")
            };
            for name in [&b"online"[..], b"possible", b"present"] {
                if cpu.lookup(name).is_err()
                    && let Ok(f) = Inode::new_file(0o444, list.as_bytes())
                {
                    add(&cpu, name, f);
                }
            }
        }
        if let Some(class) = ensure_dir(&sys, b"class", 0o755) {
            for name in [&b"block"[..], b"tty", b"net", b"mem", b"misc"] {
                ensure_dir(&class, name, 0o755);
            }
            if let Ok(net) = class.lookup(b"net") {
                self::proc::sys_class_net(&net);
            }
        }
    }
    if let Ok(block) = tree.lookup(b"sys").and_then(|s| s.lookup(b"block")) {
        sys_block(&block);
    }
    tty::start();
    let rdinit = cmdline.value("rdinit").unwrap_or("/init");
    let has_rdinit = rdinit
        .split('/')
        .filter(|c| !c.is_empty())
        .try_fold(tree.clone(), |dir, name| dir.lookup(name.as_bytes()))
        .is_ok();
    if initrd.is_some() && (has_rdinit || cmdline.value("root").is_none()) {
        return Some(RootFrom::Initramfs);
    }
    match rootfs::mount_root(cmdline) {
        Some(disk_root) => {
            ROOT.call_once(|| disk_root);
            rootfs::populate(&root(), &tree);
            Some(RootFrom::Disk)
        }
        None => initrd.map(|_| RootFrom::Initramfs),
    }
}

/// Where the root file system (and so init) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootFrom {
    /// The initramfs: `rdinit=` is tried first.
    Initramfs,
    /// A disk (`root=`): `init=` and the usual paths only.
    Disk,
}

/// The directory `name` in `parent`, made if missing; `None` (logged) when something else is there.
fn ensure_dir(parent: &Arc<Inode>, name: &[u8], mode: u32) -> Option<Arc<Inode>> {
    match parent.lookup(name) {
        Ok(d) if d.is_dir() => Some(d),
        Ok(_) => {
            log::warn!("fs: /{} is not a directory", core::str::from_utf8(name).unwrap_or("?"));
            None
        }
        Err(_) => {
            let d = Inode::new_dir(mode, Some(parent));
            add(parent, name, d.clone());
            Some(d)
        }
    }
}

fn add(dir: &Arc<Inode>, name: &[u8], inode: Arc<Inode>) {
    if let Err(e) = dir.insert(name, inode) {
        log::warn!("fs: cannot add {:?}: {e:?}", core::str::from_utf8(name).unwrap_or("?"));
    }
}

/// Reads the executable at `path` (relative to the calling thread's working directory, symbolic links
/// followed) for `execve`: `EACCES` unless it is a regular file with an execute bit.
pub fn read_file(path: &[u8]) -> Result<Vec<u8>, Errno> {
    resolve_exec(path).map(|e| e.contents)
}

/// A file's mode, owner and group, for the set-id bits of `execve`.
pub type Owner = (u32, u32, u32);

/// An executable found by [`resolve_exec`].
pub struct Executable {
    /// Its absolute path with symbolic links resolved (what `/proc/self/exe` shows).
    pub path: Vec<u8>,
    /// The file (its segments map its page cache).
    pub inode: Arc<Inode>,
    /// A copy of its contents (for the ELF headers).
    pub contents: Vec<u8>,
    /// Its mode, owner and group.
    pub owner: Owner,
}

/// Like [`read_file`], also returning the executable's absolute path, its inode and its [`Owner`].
pub fn resolve_exec(path: &[u8]) -> Result<Executable, Errno> {
    if path.len() >= path::PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let ctx = crate::process::current_fs().lock().clone();
    let path::Located { dir, name, inode } = ctx.resolver().lookup_entry(ctx.cwd().clone(), path)?;
    if !inode.is_regular() || inode.meta.lock().mode & S_IXUGO == 0 {
        return Err(Errno::EACCES);
    }
    perm::check(&perm::caller(), &inode, perm::EXEC)?;
    let mut full = path::path_of(ctx.root(), &dir).unwrap_or_default();
    if full != b"/" {
        full.push(b'/');
    }
    full.extend_from_slice(&name);
    let m = *inode.meta.lock();
    Ok(Executable {
        path: full,
        contents: inode.contents()?,
        inode,
        owner: (m.mode, m.uid, m.gid),
    })
}

/// The regular file open as `fd`, for an `mmap` of it, and whether it is open for writing (`EACCES` when
/// it is not open for reading).
pub fn map_file(fd: i32) -> Result<(Arc<Inode>, bool), Errno> {
    let file = crate::process::current_files().lock().get(fd).ok_or(Errno::EBADF)?;
    if !file.readable() {
        return Err(Errno::EACCES);
    }
    match file.inode() {
        Some(inode) if inode.is_regular() => Ok((inode.clone(), file.writable())),
        _ => Err(Errno::ENODEV),
    }
}
