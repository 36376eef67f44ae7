//! The `fs` and `tty` self-tests: the file tree from an initramfs, path resolution, open flags, devices,
//! pipes, and the console terminal's line editing, exercised in the kernel (no process needed).

use crate::fs::inode::{Inode, Kind, LinkTarget};
use crate::fs::open::{open, open_inode};
use crate::fs::path::path_of;
use crate::fs::pipe::{CAPACITY, Pipe};
use crate::fs::stat::Stat;
use crate::fs::{self, FsContext, initramfs, tty};
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_frame::println;
use ember_frame::task::Task;
use linux_raw_sys::general::{O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};

/// Appends one `newc` entry to `out`.
fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &[u8], data: &[u8]) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(alloc::format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name);
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn check(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok { Ok(()) } else { Err(what) }
}

/// Runs the test.
pub(crate) fn fs() -> Result<(), &'static str> {
    let mut cpio = Vec::new();
    entry(&mut cpio, 1, 0o040755, 2, b"bin", b"");
    entry(&mut cpio, 2, 0o100755, 1, b"bin/busybox", b"\x7fELF");
    entry(&mut cpio, 3, 0o120777, 1, b"bin/sh", b"busybox");
    entry(&mut cpio, 4, 0o040755, 2, b"./etc", b"");
    entry(&mut cpio, 5, 0o100644, 1, b"etc/motd", b"hello\n");
    entry(&mut cpio, 6, 0o100644, 2, b"a", b"");
    entry(&mut cpio, 6, 0o100644, 2, b"b", b"linked");
    entry(&mut cpio, 0, 0, 1, b"TRAILER!!!", b"");
    fs::init(Some(&cpio), &ember_cmdline::Cmdline::new(""));

    let ctx = FsContext::new();
    let root = ctx.root().clone();
    let look = |path: &[u8], follow: bool| ctx.resolver().lookup(root.clone(), path, follow);
    let sh = look(b"/bin/sh", true).map_err(|_| "/bin/sh does not resolve")?;
    let busybox = look(b"/bin/busybox", true).map_err(|_| "/bin/busybox missing")?;
    check(Arc::ptr_eq(&sh, &busybox), "/bin/sh does not lead to /bin/busybox")?;
    let located = ctx
        .resolver()
        .lookup_entry(root.clone(), b"bin/sh")
        .map_err(|_| "lookup_entry failed")?;
    check(located.name == b"busybox", "canonical name of /bin/sh")?;
    check(path_of(&root, &located.dir) == Ok(b"/bin".to_vec()), "path of /bin")?;
    let motd = look(b"/etc/../etc/./motd", true).map_err(|_| "dot and dot-dot")?;
    check(motd.contents() == Ok(b"hello\n".to_vec()), "motd contents")?;
    check(
        look(b"/etc/motd/", true).err() == Some(Errno::ENOTDIR),
        "trailing slash on a file",
    )?;
    check(look(b"/nope", true).err() == Some(Errno::ENOENT), "missing file")?;
    check(
        look(b"/../..", true).is_ok_and(|r| Arc::ptr_eq(&r, &root)),
        "dot-dot above the root",
    )?;
    let st = Stat::of_inode(&motd).to_stat();
    check(
        st[24..28] == (0o100644u32).to_ne_bytes() && st[48..56] == 6u64.to_ne_bytes(),
        "stat of motd",
    )?;

    let (a, b) = (look(b"a", true), look(b"b", true));
    let (a, b) = (a.map_err(|_| "hard link a")?, b.map_err(|_| "hard link b")?);
    check(
        Arc::ptr_eq(&a, &b) && a.meta.lock().nlink == 2,
        "hard links share an inode",
    )?;
    check(a.contents() == Ok(b"linked".to_vec()), "hard link data")?;

    let tmp = look(b"/tmp", true).map_err(|_| "/tmp missing")?;
    tmp.insert(b"loop", Inode::new_symlink(LinkTarget::Path(b"loop".to_vec())))
        .map_err(|_| "symlink")?;
    check(look(b"/tmp/loop", true).err() == Some(Errno::ELOOP), "symlink loop")?;
    check(
        look(b"/proc/self", false).is_ok_and(|l| matches!(l.kind, Kind::Symlink(_)))
            && look(b"/proc/meminfo", false).is_ok(),
        "/proc/self and /proc/meminfo",
    )?;

    let zero = open(&ctx, root.clone(), b"/dev/zero", O_RDONLY, 0).map_err(|_| "open /dev/zero")?;
    let mut buf = [1u8; 4];
    check(zero.read(&mut buf) == Ok(4) && buf == [0; 4], "read /dev/zero")?;
    check(zero.write(b"x") == Err(Errno::EBADF), "write to a read-only file")?;
    let full = open(&ctx, root.clone(), b"/dev/full", O_WRONLY, 0).map_err(|_| "open /dev/full")?;
    check(full.write(b"x") == Err(Errno::ENOSPC), "write to /dev/full")?;

    let create = O_CREAT | O_EXCL | O_RDWR;
    let f = open(&ctx, tmp.clone(), b"f", create, 0o666).map_err(|_| "create /tmp/f")?;
    check(f.write(b"abc") == Ok(3), "write /tmp/f")?;
    check(
        open(&ctx, tmp.clone(), b"f", create, 0o666).err() == Some(Errno::EEXIST),
        "O_EXCL",
    )?;
    let g = open(&ctx, root.clone(), b"tmp/f", O_WRONLY | O_APPEND, 0).map_err(|_| "reopen")?;
    check(g.write(b"de") == Ok(2), "append")?;
    let file = look(b"/tmp/f", true).map_err(|_| "/tmp/f")?;
    check(file.contents() == Ok(b"abcde".to_vec()), "append lands at the end")?;
    check(file.meta.lock().mode & 0o777 == 0o644, "umask applied")?;
    open(&ctx, root.clone(), b"/tmp/f", O_WRONLY | O_TRUNC, 0).map_err(|_| "truncate")?;
    check(file.size() == 0, "O_TRUNC")?;
    check(
        open_inode(tmp.clone(), O_WRONLY).err() == Some(Errno::EISDIR),
        "writing a directory",
    )?;

    let pipe = Arc::new(Pipe::new());
    let (r, w) = (pipe.open(true, false), pipe.open(false, true));
    let mut got = [0u8; 8];
    check(r.read(&mut got, true) == Err(Errno::EAGAIN), "empty pipe, nonblocking")?;
    check(w.write(b"xyz", false) == Ok(3), "pipe write")?;
    check(r.read(&mut got, false) == Ok(3) && &got[..3] == b"xyz", "pipe read")?;
    drop(w);
    check(r.read(&mut got, false) == Ok(0), "end of file when the writer is gone")?;
    let pipe = Arc::new(Pipe::new());
    let w = pipe.open(false, true);
    drop(pipe.open(true, false));
    check(w.write(b"x", false) == Err(Errno::EPIPE), "EPIPE without readers")?;
    check(
        pipe.open_fifo(false, true, true).err() == Some(Errno::ENXIO),
        "FIFO writer without reader",
    )?;

    // A reader blocks until another task writes; a writer blocks on a full pipe until it is drained.
    let pipe = Arc::new(Pipe::new());
    let (r, w) = (pipe.open(true, false), pipe.open(false, true));
    Task::spawn(
        move || {
            let big = alloc::vec![7u8; CAPACITY + 100];
            let _ = w.write(&big, false);
        },
        (),
    )
    .map_err(|_| "spawn failed")?;
    let mut total = 0;
    let mut chunk = alloc::vec![0u8; 4096];
    loop {
        match r.read(&mut chunk, false) {
            Ok(0) => break,
            Ok(n) if chunk[..n].iter().all(|&b| b == 7) => total += n,
            _ => return Err("blocking pipe read"),
        }
    }
    check(
        total == CAPACITY + 100,
        "a pipe write larger than the pipe arrives whole",
    )?;

    // A corrupt archive keeps what came before the damage.
    let mut bad = Vec::new();
    entry(&mut bad, 1, 0o040755, 2, b"kept", b"");
    bad.extend_from_slice(b"070701zzzzzzzz");
    let fresh = Inode::new_dir(0o755, None);
    initramfs::unpack(&fresh, &bad);
    check(fresh.lookup(b"kept").is_ok(), "entries before a corrupt one are kept")?;

    tty::console().write(b"fs: terminal output\n");
    println!("fs: tree, paths, open flags, devices, pipes checked");
    Ok(())
}

/// Reads one line from the console terminal, edited by its line discipline, and prints it.
pub(crate) fn tty() -> Result<(), &'static str> {
    fs::init(None, &ember_cmdline::Cmdline::new(""));
    println!("tty: type a line");
    let mut buf = [0u8; 128];
    let n = tty::console()
        .read(&mut buf, false)
        .map_err(|_| "terminal read failed")?;
    println!(
        "tty: read {:?}",
        core::str::from_utf8(&buf[..n]).unwrap_or("(not UTF-8)")
    );
    Ok(())
}
