//! The loop every user thread runs on its task: enter user mode, handle what brought it back, deliver
//! signals, yield when the time slice is over.

use super::signal::{self, Interrupted, Outcome};
use super::{Thread, exit};
use crate::syscall::{self, Flow};
use alloc::sync::Arc;
use ember_frame::task::{Task, preempt_point};
use ember_frame::user::{PAGE_FAULT, ReturnReason, UserContext};

/// Starts `thread` on a new task, in user mode with `ctx`.
pub fn spawn(thread: Arc<Thread>, ctx: UserContext, after_syscall: bool) -> Result<(), crate::syscall::errno::Errno> {
    spawn_with(thread, move |_| Some((ctx, after_syscall)))
}

/// Starts `thread` on a new task that first runs `setup` in the thread's context (init's `execve`); the
/// thread enters user mode with the context it returns, or ends when it returns `None`.
pub fn spawn_with(
    thread: Arc<Thread>,
    setup: impl FnOnce(&Arc<Thread>) -> Option<(UserContext, bool)> + Send + 'static,
) -> Result<(), crate::syscall::errno::Errno> {
    let t = thread.clone();
    let task = Task::spawn(
        move || {
            if let Some((ctx, after_syscall)) = setup(&t) {
                run(t, ctx, after_syscall);
            }
        },
        thread.clone(),
    )
    .map_err(|_| crate::syscall::errno::Errno::EAGAIN)?;
    thread.task.call_once(|| Arc::downgrade(&task));
    Ok(())
}

/// The loop itself. Returns (ending the task) when the thread exits.
fn run(thread: Arc<Thread>, mut ctx: UserContext, mut after_syscall: bool) {
    thread.process.vm().space().activate();
    loop {
        let reason = ctx.execute(after_syscall);
        after_syscall = false;
        let mut interrupted = None;
        let mut fault_addr = 0;
        match reason {
            ReturnReason::Syscall => {
                let nr = ctx.regs.rax;
                match syscall::dispatch(&thread, &mut ctx) {
                    Flow::Return(value) => {
                        ctx.regs.rax = value;
                        after_syscall = true;
                    }
                    Flow::Interrupted => {
                        ctx.regs.rax = crate::syscall::errno::Errno::EINTR.to_return();
                        interrupted = Some(Interrupted { nr });
                    }
                    Flow::Replaced => {}
                    Flow::Exit(code) => return exit::exit_thread(&thread, exit::exited(code), false),
                    Flow::ExitGroup(code) => return exit::exit_thread(&thread, exit::exited(code), true),
                }
            }
            ReturnReason::Exception(e) => {
                let write = e.error_code & 2 != 0;
                let exec = e.error_code & 16 != 0;
                let fault =
                    (e.vector == PAGE_FAULT).then(|| thread.process.vm().handle_fault(e.fault_addr, write, exec));
                if matches!(fault, Some(Ok(()))) {
                    continue;
                }
                let sig = match e.vector {
                    // A shared file mapping's page past the end of the file.
                    _ if fault == Some(Err(crate::fs::pages::PAST_EOF)) => 7,
                    0 | 16 | 19 => 8, // SIGFPE
                    1 | 3 => 5,       // SIGTRAP
                    6 => 4,           // SIGILL
                    17 => 7,          // SIGBUS
                    _ => signal::SIGSEGV,
                };
                if e.vector == PAGE_FAULT {
                    fault_addr = e.fault_addr;
                    log::debug!(
                        "pid {}: SIGSEGV at {:#x} (rip {:#x})",
                        thread.process.pid,
                        e.fault_addr,
                        ctx.regs.rip
                    );
                }
                signal::send_to_thread(&thread, sig);
                // A fault with its signal blocked or ignored would loop for ever: Linux kills the process.
                if signal::deliverable(&thread) & signal::bit(sig) == 0 {
                    return exit::exit_thread(&thread, sig | 0x80, true);
                }
            }
            ReturnReason::Interrupt => {}
        }
        if thread.process.is_exiting() {
            return exit::exit_thread(&thread, 0, false);
        }
        match signal::deliver(&thread, &mut ctx, interrupted, fault_addr) {
            Outcome::Continue => signal::restore_suspend_mask(&thread),
            Outcome::Die(status) => return exit::exit_thread(&thread, status, true),
        }
        preempt_point();
    }
}
