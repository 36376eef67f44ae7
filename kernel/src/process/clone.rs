//! `clone`, `fork` and `vfork`: new processes and threads.

use super::{PrctlFlags, Process, SCHED_RESET_ON_FORK, Thread, current_thread, thread};
use crate::syscall::errno::Errno;
use crate::syscall::uaccess;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use ember_frame::user::UserContext;

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
/// Flags ember does not implement: namespaces, ptrace, pidfd, io contexts; refused with `EINVAL`.
const UNSUPPORTED: u64 = 0x7E02_2000 | 0x1000 | 0x2000 | 0x8000_0000;

/// The arguments of `clone` (x86-64 order: flags, stack, parent_tid, child_tid, tls).
#[derive(Debug, Clone, Copy)]
pub struct CloneArgs {
    /// `CLONE_*` flags; the low byte is the signal sent to the parent at exit.
    pub flags: u64,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    /// Where `CLONE_PARENT_SETTID` writes the child's tid.
    pub parent_tid: u64,
    /// Where `CLONE_CHILD_SETTID` writes, and `CLONE_CHILD_CLEARTID` clears, the child's tid.
    pub child_tid: u64,
    /// The child's thread pointer with `CLONE_SETTLS`.
    pub tls: u64,
}

/// Creates the child; returns its tid (the parent's result; the child sees 0).
pub fn clone(ctx: &UserContext, a: CloneArgs) -> Result<u64, Errno> {
    let f = a.flags;
    if f & UNSUPPORTED != 0
        || (f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0)
        || (f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0)
    {
        return Err(Errno::EINVAL);
    }
    let me = current_thread();
    let parent = me.process.clone();
    let files = if f & CLONE_FILES != 0 {
        me.files.lock().clone()
    } else {
        Arc::new(ember_frame::sync::Mutex::new(me.files.lock().lock().clone()))
    };
    let fs = if f & CLONE_FS != 0 {
        me.fs.lock().clone()
    } else {
        Arc::new(ember_frame::sync::Mutex::new(me.fs.lock().lock().clone()))
    };
    let (process, child) = if f & CLONE_THREAD != 0 {
        let t = Thread::new(parent.clone(), files, fs, None);
        (parent.clone(), t)
    } else {
        let vm = if f & CLONE_VM != 0 {
            parent.vm()
        } else {
            parent.vm().fork()?
        };
        let real_parent = if f & CLONE_PARENT != 0 {
            parent.parent.lock().clone()
        } else {
            Arc::downgrade(&parent)
        };
        let p = Process::new(real_parent.clone(), vm, parent.pgid(), parent.sid());
        *p.actions.lock() = parent.actions.lock().clone();
        *p.exe.lock() = parent.exe();
        *p.args.lock() = parent.args();
        *p.name.lock() = parent.name();
        *p.limits.lock() = *parent.limits.lock();
        *p.creds.lock() = parent.creds();
        *p.prctl.lock() = PrctlFlags {
            pdeathsig: 0,
            ..parent.prctl()
        };
        p.set_nice(parent.nice());
        let (policy, priority) = parent.sched();
        if policy & SCHED_RESET_ON_FORK != 0 {
            // Linux: a real-time policy becomes SCHED_OTHER, a negative nice 0, and the flag is not inherited.
            let rt = matches!(policy & !SCHED_RESET_ON_FORK, 1 | 2 | 6);
            p.set_sched(
                if rt { 0 } else { policy & !SCHED_RESET_ON_FORK },
                if rt { 0 } else { priority },
            );
            p.set_nice(parent.nice().max(0));
        } else {
            p.set_sched(policy, priority);
        }
        p.set_personality(parent.personality());
        p.set_ioprio(parent.ioprio());
        if let Some(rp) = real_parent.upgrade() {
            rp.children.lock().push(p.clone());
        }
        let tid = p.pid;
        (p.clone(), Thread::new(p, files, fs, Some(tid)))
    };
    child.mask.store(me.mask(), Ordering::Relaxed);
    let tid = child.tid;
    let mut cctx = ctx.clone();
    cctx.regs.rax = 0;
    if a.stack != 0 {
        cctx.regs.rsp = a.stack;
    }
    if f & CLONE_SETTLS != 0 && !cctx.set_fs_base(a.tls) {
        return Err(Errno::EPERM);
    }
    if f & CLONE_PARENT_SETTID != 0 {
        uaccess::write_u32(a.parent_tid, tid)?;
    }
    if f & CLONE_CHILD_SETTID != 0 {
        let vm = process.vm();
        vm.write(a.child_tid, &tid.to_ne_bytes())?;
    }
    if f & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid.store(a.child_tid, Ordering::Relaxed);
    }
    process.threads.lock().push(child.clone());
    if f & CLONE_VFORK != 0 {
        process.vforked.store(true, Ordering::Release);
    }
    thread::spawn(child, cctx, true)?;
    if f & CLONE_VFORK != 0 {
        process
            .vfork_done
            .wait_until(|| (!process.vforked.load(Ordering::Acquire)).then_some(()));
    }
    Ok(tid as u64)
}

/// The vfork child execs or exits: its parent may run again.
pub fn vfork_release(p: &Process) {
    if p.vforked.swap(false, Ordering::AcqRel) {
        p.vfork_done.wake_all();
    }
}

/// Starts init (pid 1): the first of `candidates` that `execve` accepts, with `args` after its name and
/// `envp`; `on_failure` runs (in init's task) when none does.
pub fn spawn_init(
    candidates: alloc::vec::Vec<alloc::vec::Vec<u8>>,
    args: alloc::vec::Vec<alloc::vec::Vec<u8>>,
    envp: alloc::vec::Vec<alloc::vec::Vec<u8>>,
    on_failure: fn() -> !,
) -> Result<(), Errno> {
    let vm = crate::vm::Vm::new()?;
    let p = Process::new(alloc::sync::Weak::new(), vm, 0, 0);
    let t = Thread::new(
        p.clone(),
        Arc::new(ember_frame::sync::Mutex::new(crate::fs::FdTable::new())),
        Arc::new(ember_frame::sync::Mutex::new(crate::fs::FsContext::new())),
        Some(p.pid),
    );
    p.threads.lock().push(t.clone());
    thread::spawn_with(t, move |t| {
        // In init's own task: opening the console makes init's process group the terminal's foreground.
        if let Err(e) = t.files.lock().lock().install_stdio() {
            log::warn!("init: no console on fds 0-2 (error {})", e.0);
        }
        let mut ctx = UserContext::default();
        for path in candidates {
            let mut argv = alloc::vec![path.clone()];
            argv.extend(args.iter().cloned());
            match super::exec::execve(t, &mut ctx, &path, argv, envp.clone()) {
                Ok(()) => return Some((ctx, false)),
                Err(e) => log::debug!("init: {}: error {}", alloc::string::String::from_utf8_lossy(&path), e.0),
            }
        }
        on_failure()
    })
}
