//! `/proc`: files whose text is made anew each time one is opened, and a directory per process that is brought
//! up to date whenever `/proc` is looked in or opened.
//!
//! - system-wide: `meminfo`, `cpuinfo`, `uptime`, `loadavg`, `stat`, `version`, `cmdline`, `filesystems`,
//!   `net/{dev,route,tcp,udp}`,
//!   `mounts`, `partitions`, `diskstats`, `sys/kernel/{hostname,domainname,osrelease,ostype,version,pid_max,cap_last_cap}`, the System V IPC
//!   limits `sys/kernel/{sem,shmmax,shmall,shmmni,msgmax,msgmnb,msgmni}` (read-only), `sysvipc/{sem,msg,shm}`,
//!   and `self` (a link to the caller's pid);
//! - per process (`/proc/PID/`): `stat`, `status`, `comm`, `cmdline`, `environ`, `maps`, `mounts`, and the links
//!   `exe` and `cwd`; `fd/` holds a link per descriptor, listed when `fd` is opened; `task/TID/` holds `stat`,
//!   `status` and `comm` per thread, listed when `task` is opened or looked in.
//!
//! Each generated file is a regular file of the tree; a table from its inode number to its generator says what
//! to write into it when it is opened.

use super::inode::{Inode, Kind, LinkTarget};
use crate::process::{self, Process, Thread};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use ember_frame::sync::Mutex;
use spin::Once;

/// What a generated file or directory shows.
#[derive(Clone, Copy)]
enum Gen {
    /// A system-wide file.
    Global(fn() -> String),
    /// A file about process `pid`.
    Process(u32, fn(&Process) -> String),
    /// A file about thread `tid` of process `pid`.
    Thread(u32, u32, fn(&Process, &Thread) -> String),
    /// The `fd` directory of process `pid`.
    Fds(u32),
    /// A file about network interface `index` (`/sys/class/net/IF/`).
    Interface(u32, fn(&ember_netconf::Interface) -> String),
    /// The `task` directory of process `pid`.
    Tasks(u32),
}

/// A system-wide file: its name and generator.
type GlobalFile = (&'static [u8], fn() -> String);
/// A per-process file: its name and generator.
type ProcessFile = (&'static [u8], fn(&Process) -> String);
/// A per-thread file: its name and generator.
type ThreadFile = (&'static [u8], fn(&Process, &Thread) -> String);

static ROOT: Once<Arc<Inode>> = Once::new();

/// The `/proc` tree (what `mount -t proc` mounts).
pub fn root() -> Option<Arc<Inode>> {
    ROOT.get().cloned()
}
static GENERATED: Mutex<BTreeMap<u64, Gen>> = Mutex::new(BTreeMap::new());
static CMDLINE: Once<&'static str> = Once::new();
/// Held while a listing (`/proc`'s process directories, a `task` or an `fd` directory) is brought up to date:
/// two CPUs doing it at once would both make the same missing entry.
static LISTING: Mutex<()> = Mutex::new(());

/// The release `uname` and `/proc/sys/kernel/osrelease` report.
pub const RELEASE: &str = "6.1.0-ember";

/// Records the kernel command line for `/proc/cmdline`.
pub fn set_cmdline(cmdline: &'static str) {
    CMDLINE.call_once(|| cmdline);
}

/// Fills `proc` (the `/proc` directory) with the system-wide files.
pub fn init(proc: &Arc<Inode>) {
    ROOT.call_once(|| proc.clone());
    let files: [GlobalFile; 12] = [
        (b"meminfo", meminfo),
        (b"cpuinfo", cpuinfo),
        (b"uptime", uptime),
        (b"loadavg", loadavg),
        (b"stat", stat),
        (b"lockstat", crate::lockstat::report),
        (b"version", || format!("Linux version {RELEASE} (ember) #1 SMP ember\n")),
        (b"cmdline", || format!("{}\n", CMDLINE.get().copied().unwrap_or(""))),
        (b"filesystems", || {
            String::from("nodev\ttmpfs\nnodev\tramfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tsysfs\n")
        }),
        (b"mounts", mounts),
        (b"partitions", partitions),
        (b"diskstats", diskstats),
    ];
    for (name, f) in files {
        generated(proc, name, Gen::Global(f));
    }
    replace(
        proc,
        b"self",
        Inode::new_symlink(LinkTarget::Generated(self_link, 0, 0)),
    );
    if let Some(net) = super::ensure_dir(proc, b"net", 0o555) {
        use crate::net::stack::{interfaces, socket_rows};
        use ember_netconf::{procnet, procnet6};
        let files: [GlobalFile; 9] = [
            (b"dev", || procnet::dev(&interfaces())),
            (b"route", || procnet::route(&interfaces())),
            (b"tcp", || procnet::sockets(&socket_rows(true).0, false)),
            (b"udp", || procnet::sockets(&socket_rows(false).0, true)),
            (b"tcp6", || procnet6::sockets6(&socket_rows(true).1, false)),
            (b"udp6", || procnet6::sockets6(&socket_rows(false).1, true)),
            (b"if_inet6", || procnet6::if_inet6(&interfaces())),
            (b"ipv6_route", || procnet6::ipv6_route(&interfaces())),
            (b"unix", || procnet::unix(&crate::net::unix_table::rows())),
        ];
        for (name, f) in files {
            generated(&net, name, Gen::Global(f));
        }
    }
    if let Some(kernel) = super::ensure_dir(proc, b"sys", 0o555).and_then(|s| super::ensure_dir(&s, b"kernel", 0o555)) {
        let files: [GlobalFile; 6] = [
            (b"hostname", || {
                format!("{}\n", String::from_utf8_lossy(&crate::uts::hostname()))
            }),
            (b"osrelease", || format!("{RELEASE}\n")),
            (b"ostype", || String::from("Linux\n")),
            (b"version", || {
                format!("{}\n", core::str::from_utf8(crate::uts::VERSION).unwrap_or("#1"))
            }),
            (b"pid_max", || String::from("4194304\n")),
            (b"domainname", || {
                format!("{}\n", String::from_utf8_lossy(&crate::uts::domainname()))
            }),
        ];
        for (name, f) in files {
            generated(&kernel, name, Gen::Global(f));
        }
        use ember_sysvipc::{msg, sem, shm};
        let limits: [GlobalFile; 8] = [
            (b"sem", || {
                format!("{}\t{}\t{}\t{}\n", sem::SEMMSL, sem::SEMMNS, sem::SEMOPM, sem::SEMMNI)
            }),
            (b"shmmax", || format!("{}\n", shm::SHMMAX)),
            (b"shmall", || format!("{}\n", shm::SHMALL)),
            (b"shmmni", || format!("{}\n", shm::SHMMNI)),
            (b"msgmax", || format!("{}\n", msg::MSGMAX)),
            (b"msgmnb", || format!("{}\n", msg::MSGMNB)),
            (b"msgmni", || format!("{}\n", msg::MSGMNI)),
            (b"cap_last_cap", || format!("{}\n", ember_creds::caps::CAP_LAST_CAP)),
        ];
        for (name, f) in limits {
            generated(&kernel, name, Gen::Global(f));
        }
    }
    if let Some(dir) = super::ensure_dir(proc, b"sysvipc", 0o555) {
        let files: [GlobalFile; 3] = [
            (b"sem", crate::syscall::ipc::proc::sem),
            (b"msg", crate::syscall::ipc::proc::msg),
            (b"shm", crate::syscall::ipc::proc::shm),
        ];
        for (name, f) in files {
            generated(&dir, name, Gen::Global(f));
        }
    }
}

/// Fills `/sys/class/net` (`dir`) with a directory per network interface: `address`, `mtu`, `operstate`,
/// `ifindex`, `flags`, `type`.
pub fn sys_class_net(dir: &Arc<Inode>) {
    type IfFile = (&'static [u8], fn(&ember_netconf::Interface) -> String);
    let files: [IfFile; 6] = [
        (b"address", |i| {
            let m = i.mac.unwrap_or([0; 6]);
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )
        }),
        (b"mtu", |i| format!("{}\n", i.mtu)),
        (b"operstate", |i| {
            String::from(match (i.flags & ember_netconf::IFF_UP != 0, i.mac.is_some()) {
                (false, _) => "down\n",
                (true, true) => "up\n",
                (true, false) => "unknown\n",
            })
        }),
        (b"ifindex", |i| format!("{}\n", i.index)),
        (b"flags", |i| format!("{:#x}\n", i.flags)),
        (b"type", |i| format!("{}\n", if i.mac.is_some() { 1 } else { 772 })),
    ];
    for i in crate::net::stack::interfaces() {
        let Some(d) = super::ensure_dir(dir, i.name.as_bytes(), 0o755) else {
            continue;
        };
        for (name, f) in files {
            generated(&d, name, Gen::Interface(i.index, f));
        }
    }
}

/// Called on every open and on every lookup in a directory: regenerates `inode` when it is a generated file,
/// brings the per-process directories up to date when it is `/proc`, and a process's `fd` listing when it is
/// one. A disk file system's node is none of these: it returns at once (no table lookup on a disk path walk).
pub fn refresh(inode: &Arc<Inode>) {
    if inode.disk().is_some() {
        return;
    }
    if ROOT.get().is_some_and(|r| Arc::ptr_eq(r, inode)) {
        refresh_processes(inode);
        return;
    }
    let Some(what) = GENERATED.lock().get(&inode.ino()).copied() else {
        return;
    };
    let text = match what {
        Gen::Global(f) => f(),
        Gen::Process(pid, f) => match process::find(pid) {
            Some(p) => f(&p),
            None => String::new(),
        },
        Gen::Thread(pid, tid, f) => process::find(pid)
            .and_then(|p| Some((p.threads().into_iter().find(|t| t.tid() == tid)?, p)))
            .map(|(t, p)| f(&p, &t))
            .unwrap_or_default(),
        Gen::Fds(pid) => {
            refresh_fds(inode, pid);
            return;
        }
        Gen::Interface(index, f) => crate::net::stack::interfaces()
            .iter()
            .find(|i| i.index == index)
            .map(f)
            .unwrap_or_default(),
        Gen::Tasks(pid) => {
            refresh_tasks(inode, pid);
            return;
        }
    };
    if let Kind::File(data) = &inode.kind
        && data.lock().set(text.as_bytes()).is_err()
    {
        log::warn!("proc: out of memory for a generated file");
    }
}

/// Adds (or replaces) `name` in `dir`.
fn replace(dir: &Arc<Inode>, name: &[u8], inode: Arc<Inode>) {
    let _ = dir.remove(name);
    super::add(dir, name, inode);
}

/// Adds a generated file `name` to `dir`.
fn generated(dir: &Arc<Inode>, name: &[u8], what: Gen) {
    let Ok(file) = Inode::new_file(0o444, &[]) else {
        return;
    };
    GENERATED.lock().insert(file.ino(), what);
    replace(dir, name, file);
}

/// Forgets the generators of `dir` and everything below it.
fn forget(dir: &Arc<Inode>) {
    GENERATED.lock().remove(&dir.ino());
    if let Ok(d) = dir.dir() {
        let children: Vec<Arc<Inode>> = d.lock().entries.values().cloned().collect();
        for c in children {
            forget(&c);
        }
    }
}

/// One directory per live process, none for the others.
fn refresh_processes(root: &Arc<Inode>) {
    // The processes are let go before the lock is taken: dropping the last reference to one does real work.
    let live: BTreeSet<u32> = process::all().iter().map(|p| p.pid()).collect();
    let _listing = LISTING.lock();
    let present: Vec<(u32, Arc<Inode>)> = root.dir().map_or(Vec::new(), |d| {
        d.lock()
            .entries
            .iter()
            .filter_map(|(n, i)| Some((core::str::from_utf8(n).ok()?.parse().ok()?, i.clone())))
            .collect()
    });
    for (pid, dir) in &present {
        if !live.contains(pid) {
            forget(dir);
            let _ = root.remove(format!("{pid}").as_bytes());
        }
    }
    for pid in &live {
        if !present.iter().any(|(p, _)| p == pid) {
            process_dir(root, *pid);
        }
    }
}

/// Makes `/proc/PID`.
fn process_dir(root: &Arc<Inode>, pid: u32) {
    let dir = Inode::new_dir(0o555, Some(root));
    let files: [ProcessFile; 7] = [
        (b"stat", |p| task_stat(p, None)),
        (b"status", |p| task_status(p, None)),
        (b"comm", |p| format!("{}\n", comm(p))),
        (b"cmdline", |p| bytes_text(p.args().0)),
        (b"environ", |p| bytes_text(p.args().1)),
        (b"maps", pid_maps),
        (b"mounts", |_| mounts()),
    ];
    for (name, f) in files {
        generated(&dir, name, Gen::Process(pid, f));
    }
    super::add(
        &dir,
        b"exe",
        Inode::new_symlink(LinkTarget::Generated(exe_link, pid, 0)),
    );
    super::add(
        &dir,
        b"cwd",
        Inode::new_symlink(LinkTarget::Generated(cwd_link, pid, 0)),
    );
    let fd = Inode::new_dir(0o500, Some(&dir));
    GENERATED.lock().insert(fd.ino(), Gen::Fds(pid));
    super::add(&dir, b"fd", fd);
    let tasks = Inode::new_dir(0o555, Some(&dir));
    GENERATED.lock().insert(tasks.ino(), Gen::Tasks(pid));
    super::add(&dir, b"task", tasks);
    super::add(root, format!("{pid}").as_bytes(), dir);
}

/// One directory per live thread of `pid` in its `task` directory, none for the others.
fn refresh_tasks(dir: &Arc<Inode>, pid: u32) {
    let live: Vec<u32> = process::find(pid).map_or(Vec::new(), |p| p.threads().iter().map(|t| t.tid()).collect());
    let _listing = LISTING.lock();
    let present: Vec<(u32, Arc<Inode>)> = dir.dir().map_or(Vec::new(), |d| {
        d.lock()
            .entries
            .iter()
            .filter_map(|(n, i)| Some((core::str::from_utf8(n).ok()?.parse().ok()?, i.clone())))
            .collect()
    });
    for (tid, t) in &present {
        if !live.contains(tid) {
            forget(t);
            let _ = dir.remove(format!("{tid}").as_bytes());
        }
    }
    for &tid in &live {
        if present.iter().any(|(t, _)| *t == tid) {
            continue;
        }
        let t = Inode::new_dir(0o555, Some(dir));
        let files: [ThreadFile; 3] = [
            (b"stat", |p, t| task_stat(p, Some(t))),
            (b"status", |p, t| task_status(p, Some(t))),
            (b"comm", |p, _| format!("{}\n", comm(p))),
        ];
        for (name, f) in files {
            generated(&t, name, Gen::Thread(pid, tid, f));
        }
        super::add(dir, format!("{tid}").as_bytes(), t);
    }
}

/// A link per open descriptor of `pid` in its `fd` directory.
fn refresh_fds(dir: &Arc<Inode>, pid: u32) {
    let Some(p) = process::find(pid) else { return };
    let fds = p.threads().first().map(|t| t.open_fds()).unwrap_or_default();
    drop(p);
    let _listing = LISTING.lock();
    if let Ok(d) = dir.dir() {
        d.lock().entries.clear();
    }
    for fd in fds {
        let fd = fd as u32;
        super::add(
            dir,
            format!("{fd}").as_bytes(),
            Inode::new_symlink(LinkTarget::Generated(fd_link, pid, fd)),
        );
    }
}

/// Text of a NUL-separated byte string (lossless for ASCII; `/proc` readers treat it as bytes).
fn bytes_text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| e.into_bytes().iter().map(|&c| c as char).collect())
}

fn self_link(_: u32, _: u32) -> Vec<u8> {
    format!("{}", process::current().pid()).into_bytes()
}

fn exe_link(pid: u32, _: u32) -> Vec<u8> {
    process::find(pid).map(|p| p.exe()).unwrap_or_default()
}

fn cwd_link(pid: u32, _: u32) -> Vec<u8> {
    process::find(pid)
        .and_then(|p| p.fs_context())
        .and_then(|ctx| super::path::path_of(ctx.root(), ctx.cwd()).ok())
        .unwrap_or_else(|| b"/".to_vec())
}

fn fd_link(pid: u32, fd: u32) -> Vec<u8> {
    let file = process::find(pid).and_then(|p| p.threads().first().and_then(|t| t.open_file(fd as i32)));
    let Some(file) = file else { return Vec::new() };
    match file.inode() {
        Some(i) if i.is_dir() => {
            let root = super::root();
            super::path::path_of(&root, i).unwrap_or_default()
        }
        Some(i) => match &i.kind {
            Kind::Device(d) => {
                let name = super::devices::Device::ALL
                    .iter()
                    .find(|(_, x)| *x == *d)
                    .map_or(&b""[..], |(n, _)| n);
                [&b"/dev/"[..], name].concat()
            }
            _ => format!("anon_inode:[{}]", i.ino()).into_bytes(),
        },
        None => b"pipe:[0]".to_vec(),
    }
}

/// The one-letter state `ps` shows, of thread `t` or else of the process's main thread.
fn state(p: &Process, t: Option<&Thread>) -> (char, &'static str) {
    let main = || {
        let threads = p.threads();
        threads.iter().find(|t| t.tid() == p.pid()).or(threads.first()).cloned()
    };
    if p.exit_status().is_some() {
        ('Z', "Z (zombie)")
    } else if p.is_stopped() {
        ('T', "T (stopped)")
    } else if t.map_or_else(|| main().is_some_and(|t| t.sleeping()), Thread::sleeping) {
        ('S', "S (sleeping)")
    } else {
        ('R', "R (running)")
    }
}

fn comm(p: &Process) -> String {
    let name = p.name();
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    bytes_text(name[..len].to_vec())
}

/// Bytes of address space mapped.
fn vm_size(p: &Process) -> u64 {
    p.vm().layout().iter().map(|(s, e, _, _)| e - s).sum()
}

/// Linux's `/proc/PID/stat` (or `task/TID/stat` for thread `t`): 52 fields; the times, faults and signals ember
/// does not count are 0.
fn task_stat(p: &Process, t: Option<&Thread>) -> String {
    let (s, _) = state(p, t);
    let threads = p.threads().len().max(1);
    let vsize = vm_size(p);
    format!(
        "{} ({}) {s} {} {} {} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 {threads} 0 0 {vsize} {} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        t.map_or(p.pid(), Thread::tid),
        comm(p),
        p.ppid(),
        p.pgid(),
        p.sid(),
        vsize / 4096,
    )
}

/// Linux's `/proc/PID/status` (or `task/TID/status` for thread `t`: the lines programs and LTP read). The
/// resident figures are the mapped sizes (ember does not count resident pages per process); capabilities are
/// all or none by the effective uid.
fn task_status(p: &Process, t: Option<&Thread>) -> String {
    let (_, state) = state(p, t);
    let kib = vm_size(p) / 1024;
    let (regions, (brk_start, brk)) = (p.vm().layout(), p.vm().brk_range());
    let stack: u64 = regions
        .iter()
        .filter(|(_, e, _, _)| *e == crate::vm::STACK_TOP)
        .map(|(s, e, _, _)| (e - s) / 1024)
        .sum();
    let c = p.creds();
    let groups: String = c.groups().iter().map(|g| format!("{g} ")).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "Name:\t{}\nUmask:\t0022\nState:\t{state}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t64\nGroups:\t{groups}\n\
         VmPeak:\t{kib:>8} kB\nVmSize:\t{kib:>8} kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\n\
         VmHWM:\t{kib:>8} kB\nVmRSS:\t{kib:>8} kB\nRssAnon:\t{kib:>8} kB\nRssFile:\t       0 kB\nRssShmem:\t       0 kB\n\
         VmData:\t{:>8} kB\nVmStk:\t{stack:>8} kB\nVmExe:\t       0 kB\nVmLib:\t       0 kB\nVmPTE:\t       0 kB\n\
         VmSwap:\t       0 kB\nThreads:\t{}\nSigQ:\t0/7823\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
         SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
         CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\n\
         CapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t{}\nSeccomp:\t0\n\
         Cpus_allowed:\t1\nCpus_allowed_list:\t0\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
        comm(p),
        t.map_or(p.pid(), Thread::tid),
        p.ppid(),
        c.uid.real,
        c.uid.effective,
        c.uid.saved,
        c.uid.fs,
        c.gid.real,
        c.gid.effective,
        c.gid.saved,
        c.gid.fs,
        (brk - brk_start) / 1024,
        p.threads().len().max(1),
        c.caps.inheritable,
        c.caps.permitted,
        c.caps.effective,
        c.caps.bounding,
        c.caps.ambient,
        u8::from(p.no_new_privs()),
        pid = p.pid(),
    );
    out
}

/// Linux's `/proc/PID/maps` lines (no file names: ember's regions do not keep them).
fn pid_maps(p: &Process) -> String {
    let (regions, (brk_start, _)) = (p.vm().layout(), p.vm().brk_range());
    let mut t = String::new();
    for (start, end, prot, shared) in regions {
        let flag = |on: bool, c: char| if on { c } else { '-' };
        let name = if start == brk_start {
            "[heap]"
        } else if end == crate::vm::STACK_TOP {
            "[stack]"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "{start:08x}-{end:08x} {}{}{}{} 00000000 00:00 0          {name}",
            flag(prot.read, 'r'),
            flag(prot.write, 'w'),
            flag(prot.exec, 'x'),
            if shared { 's' } else { 'p' },
        );
    }
    t
}

/// Linux's `/proc/partitions`: every disk and partition with its device number and size in KiB.
fn partitions() -> String {
    let mut t = String::from("major minor  #blocks  name\n\n");
    for d in super::disk::all() {
        let _ = writeln!(
            t,
            "{:4}  {:7} {:10} {}",
            super::ext::VIRTIO_BLK_MAJOR,
            d.minor(),
            d.size() >> 10,
            d.name()
        );
    }
    t
}

/// Linux's `/proc/diskstats`: every disk's and partition's requests to its device.
fn diskstats() -> String {
    let mut t = String::new();
    for d in super::disk::all() {
        d.io().line(&mut t, super::ext::VIRTIO_BLK_MAJOR, d.minor(), d.name());
    }
    t
}

/// What is mounted.
fn mounts() -> String {
    super::mount::table()
}

/// Linux's `/proc/meminfo` lines that programs read, from the frame allocator's figures.
fn meminfo() -> String {
    let total = ember_frame::mm::usable_bytes() >> 10;
    let free = ember_frame::mm::free_bytes() >> 10;
    format!(
        "MemTotal:       {total:>8} kB\nMemFree:        {free:>8} kB\nMemAvailable:   {free:>8} kB\n\
         Buffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\n\
         Active:                0 kB\nInactive:              0 kB\n\
         SwapTotal:             0 kB\nSwapFree:              0 kB\nShmem:                 0 kB\n\
         Slab:                  0 kB\nSReclaimable:          0 kB\n\
         CommitLimit:    {total:>8} kB\n"
    )
}

fn cpuinfo() -> String {
    let n = ember_frame::cpu::online_count();
    let mut t = String::new();
    for i in 0..n {
        let _ = write!(
            t,
            "processor\t: {i}\nvendor_id\t: ember\ncpu family\t: 6\nmodel\t\t: 0\nmodel name\t: ember virtual CPU\n\
             stepping\t: 0\ncpu MHz\t\t: {}.{:03}\ncache size\t: 0 KB\nphysical id\t: 0\nsiblings\t: {n}\n\
             core id\t\t: {i}\ncpu cores\t: {n}\nfpu\t\t: yes\nflags\t\t: fpu tsc msr pae cx8 apic sep pge cmov pat \
             clflush mmx fxsr sse sse2 syscall nx lm\n\n",
            ember_frame::time::tsc_frequency_hz() / 1_000_000,
            ember_frame::time::tsc_frequency_hz() / 1_000 % 1_000,
        );
    }
    t
}

/// Seconds since boot with hundredths.
fn uptime_parts() -> (u64, u64) {
    let ns = ember_frame::time::now_ns();
    (ns / 1_000_000_000, ns / 10_000_000 % 100)
}

fn uptime() -> String {
    let (s, c) = uptime_parts();
    format!("{s}.{c:02} {s}.{c:02}\n")
}

fn loadavg() -> String {
    let all = process::all();
    let last = all.iter().map(|p| p.pid()).max().unwrap_or(1);
    format!("0.00 0.00 0.00 1/{} {last}\n", all.len())
}

fn stat() -> String {
    let (up, _) = uptime_parts();
    let boot = (ember_frame::time::wall_clock_ns() / 1_000_000_000).saturating_sub(up);
    // Linux's USER_HZ: 100 ticks a second.
    let ticks = |ns: u64| ns / 10_000_000;
    let cpus: Vec<_> = (0..ember_frame::cpu::online_count())
        .map(ember_frame::cpu::cpu_times)
        .collect();
    let line = |name: &str, user: u64, system: u64, idle: u64| {
        format!(
            "{name} {} 0 {} {} 0 0 0 0 0 0\n",
            ticks(user),
            ticks(system),
            ticks(idle)
        )
    };
    let sum = |f: fn(&ember_frame::cpu::CpuTimes) -> u64| cpus.iter().map(f).sum::<u64>();
    let mut t = line("cpu ", sum(|c| c.user_ns), sum(|c| c.system_ns), sum(|c| c.idle_ns));
    for (i, c) in cpus.iter().enumerate() {
        t.push_str(&line(&format!("cpu{i}"), c.user_ns, c.system_ns, c.idle_ns));
    }
    let _ = write!(
        t,
        "intr 0\nctxt 0\nbtime {boot}\nprocesses {}\nprocs_running 1\nprocs_blocked 0\n",
        process::all().len()
    );
    t
}
