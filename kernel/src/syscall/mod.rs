//! The Linux x86-64 system-call interface: [`dispatch`] maps a number to its handler, one module per family.
//!
//! Not implemented on purpose (they return `ENOSYS`, and libc falls back or does without): `clone3` (libc
//! falls back to `clone`), `rseq` (glibc runs without it), `io_uring_*`, `bpf`, `perf_event_open`,
//! module and kexec calls. Every other unknown number is logged once and returns `ENOSYS`.

mod creds;
pub mod errno;
mod event;
pub mod fs;
pub mod futex;
pub mod ipc;
mod memory;
mod misc;
mod prctl;
mod process;
mod sched;
mod signal;
mod socket;
mod time;
pub mod uaccess;
mod vsock;

use crate::process::Thread;
use alloc::collections::BTreeSet;
use ember_frame::sync::Mutex;
use ember_frame::user::UserContext;
use errno::{Errno, SysResult};
use linux_raw_sys::general as nr;

/// `ember.strace`: log every system call with its first arguments and result (for debugging).
pub static TRACE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// What the thread loop does after a system call.
pub enum Flow {
    /// Put the value in `rax` and return to the caller.
    Return(u64),
    /// A signal interrupted a blocking call: `EINTR`, or a restart if the handler asks for it.
    Interrupted,
    /// The call replaced the user context (`execve`, `rt_sigreturn`): return to it as it is.
    Replaced,
    /// `exit`: the thread ends with this code.
    Exit(u64),
    /// `exit_group`: the process ends with this code.
    ExitGroup(u64),
}

/// Handles the system call in `ctx` (number in `rax`, arguments in `rdi, rsi, rdx, r10, r8, r9`).
pub fn dispatch(thread: &Thread, ctx: &mut UserContext) -> Flow {
    let r = &ctx.regs;
    let n = r.rax;
    let a = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
    let result = match n as u32 {
        nr::__NR_exit => return Flow::Exit(a[0]),
        nr::__NR_exit_group => return Flow::ExitGroup(a[0]),
        nr::__NR_execve => match process::execve(thread, ctx, a) {
            Ok(()) => return Flow::Replaced,
            Err(e) => Err(e),
        },
        nr::__NR_rt_sigreturn => match crate::process::signal::sigreturn(thread, ctx) {
            Ok(()) => return Flow::Replaced,
            Err(_) => {
                crate::process::signal::send_to_thread(thread, crate::process::signal::SIGSEGV);
                return Flow::Replaced;
            }
        },
        nr::__NR_clone => process::clone(ctx, a),
        nr::__NR_fork => process::fork(ctx),
        nr::__NR_vfork => process::vfork(ctx),
        nr::__NR_arch_prctl => misc::arch_prctl(ctx, a),
        nr::__NR_sigaltstack => signal::sigaltstack(thread, a, r.rsp),
        _ => match handle(thread, n, a) {
            Some(r) => r,
            None => Err(unknown(n)),
        },
    };
    if TRACE.load(core::sync::atomic::Ordering::Relaxed) {
        log::info!(
            "[{}] syscall {n}({:#x}, {:#x}, {:#x}, {:#x}) = {:?}",
            thread.tid(),
            a[0],
            a[1],
            a[2],
            a[3],
            result
        );
    }
    match result {
        Ok(v) => Flow::Return(v),
        Err(Errno::EINTR) => Flow::Interrupted,
        Err(e) => Flow::Return(e.to_return()),
    }
}

fn handle(thread: &Thread, n: u64, a: [u64; 6]) -> Option<SysResult> {
    // Each family's match is a jump table and a miss costs a few instructions: the families of the
    // frequent cheap calls (files, memory, processes, signals, time) come first.
    fs::handle(n, a)
        .or_else(|| memory::handle(n, a))
        .or_else(|| process::handle(thread, n, a))
        .or_else(|| signal::handle(thread, n, a))
        .or_else(|| sched::handle(n, a))
        .or_else(|| time::handle(n, a))
        .or_else(|| futex::handle(n, a))
        .or_else(|| event::handle(n, a))
        .or_else(|| vsock::handle(n, a))
        .or_else(|| socket::handle(n, a))
        .or_else(|| creds::handle(n, a))
        .or_else(|| prctl::handle(n, a))
        .or_else(|| ipc::handle(n, a))
        .or_else(|| misc::handle(thread, n, a))
}

/// Deliberately unsupported calls: `ENOSYS` without a log line.
const DECLINED: [u32; 5] = [
    nr::__NR_clone3,
    nr::__NR_rseq,
    nr::__NR_io_uring_setup,
    nr::__NR_perf_event_open,
    nr::__NR_userfaultfd,
];

fn unknown(n: u64) -> Errno {
    static LOGGED: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());
    if !DECLINED.contains(&(n as u32)) && LOGGED.lock().insert(n) {
        log::warn!("unknown system call {n}: ENOSYS");
    }
    Errno::ENOSYS
}
