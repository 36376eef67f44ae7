//! Signals: actions, sending, and delivery on the way back to user mode (Linux's x86-64 `rt_sigframe`).

use super::{Process, Thread};
use crate::syscall::errno::Errno;
use crate::syscall::uaccess;
use core::sync::atomic::Ordering;
use ember_frame::user::UserContext;

/// Number of signals (1–64).
pub const NSIG: usize = 64;
/// `SIGKILL`
pub const SIGKILL: u32 = 9;
/// `SIGSTOP`
pub const SIGSTOP: u32 = 19;
/// `SIGCHLD`
pub const SIGCHLD: u32 = 17;
/// `SIGSEGV`
pub const SIGSEGV: u32 = 11;
/// `sigaltstack` disabled.
pub const SS_DISABLE: u32 = 2;
const SS_ONSTACK: u32 = 1;

const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
const SA_RESTORER: u64 = 0x0400_0000;

/// Bit masks of signal sets.
pub struct SigSet;

impl SigSet {
    /// SIGKILL and SIGSTOP: never blocked, never caught.
    pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);
}

/// The mask bit of signal `sig` (1–64).
pub const fn bit(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// What a process does with one signal (`struct sigaction` as the kernel ABI has it).
#[derive(Debug, Clone, Copy, Default)]
pub struct SigAction {
    /// `SIG_DFL`, `SIG_IGN` or the handler's address.
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// The function the handler returns to (it calls `rt_sigreturn`).
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// A process's actions for every signal.
#[derive(Clone)]
pub struct SigActions(pub [SigAction; NSIG]);

impl Default for SigActions {
    fn default() -> Self {
        SigActions([SigAction::default(); NSIG])
    }
}

impl SigActions {
    /// The action for `sig` (1–64).
    pub fn get(&self, sig: u32) -> SigAction {
        self.0[sig as usize - 1]
    }

    /// What `execve` keeps: handled signals go back to their default action; ignored ones stay ignored.
    pub fn reset_for_exec(&mut self) {
        for a in &mut self.0 {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }
}

/// What a signal does when its action is `SIG_DFL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Default_ {
    Ignore,
    Terminate,
    Core,
    Stop,
}

fn default_action(sig: u32) -> Default_ {
    match sig {
        17 | 18 | 23 | 28 => Default_::Ignore,
        19..=22 => Default_::Stop,
        3 | 4 | 5 | 6 | 7 | 8 | 11 | 24 | 25 | 31 => Default_::Core,
        _ => Default_::Terminate,
    }
}

fn ignored(p: &Process, sig: u32) -> bool {
    // A tracer sees every signal (its tracee stops at delivery), ignored ones too.
    if p.trace.is_traced() {
        return false;
    }
    let a = p.actions.lock().get(sig);
    a.handler == SIG_IGN || (a.handler == SIG_DFL && default_action(sig) == Default_::Ignore)
}

/// Sends `sig` to process `p` (`kill`). Signal 0 only checks that the process exists.
pub fn send_to_process(p: &Process, sig: u32) {
    if sig == 0 || sig as usize > NSIG || p.is_exiting() {
        return;
    }
    super::jobctl::on_send(p, sig);
    if sig == SIGKILL {
        p.resume.wake_all();
    }
    // Blocked signals are never ignored (a handler may be set, or a signalfd read them, before they are
    // unblocked), as in Linux.
    if sig != SIGKILL && ignored(p, sig) && p.threads.lock().iter().any(|t| t.mask() & bit(sig) == 0) {
        return;
    }
    p.pending.fetch_or(bit(sig), Ordering::AcqRel);
    for t in p.threads.lock().iter() {
        t.kick();
    }
    // A signalfd of the process may have become readable.
    crate::fs::poll::notify();
}

/// Sends `sig` to thread `t` (`tgkill`, faults).
pub fn send_to_thread(t: &Thread, sig: u32) {
    if sig == 0 || sig as usize > NSIG {
        return;
    }
    super::jobctl::on_send(&t.process, sig);
    if sig != SIGKILL && ignored(&t.process, sig) && t.mask() & bit(sig) == 0 {
        return;
    }
    t.pending.fetch_or(bit(sig), Ordering::AcqRel);
    t.kick();
    crate::fs::poll::notify();
}

/// The signals `t` would act on now.
pub fn deliverable(t: &Thread) -> u64 {
    (t.pending.load(Ordering::Acquire) | t.process.pending.load(Ordering::Acquire)) & !t.mask()
}

/// Signals pending for `t` (blocked ones included: `rt_sigpending`).
pub fn pending(t: &Thread) -> u64 {
    t.pending.load(Ordering::Acquire) | t.process.pending.load(Ordering::Acquire)
}

/// Takes the lowest deliverable signal, if any.
fn take(t: &Thread) -> Option<u32> {
    take_from(t, !t.mask())
}

/// Takes the lowest signal of `set` pending for `t` (blocked or not), if any: what `signalfd` reads.
pub fn take_from(t: &Thread, set: u64) -> Option<u32> {
    let ready = pending(t) & set;
    if ready == 0 {
        return None;
    }
    let sig = ready.trailing_zeros() + 1;
    // Synchronous and thread-directed signals first; the process-wide bit otherwise.
    if t.pending.fetch_and(!bit(sig), Ordering::AcqRel) & bit(sig) == 0 {
        t.process.pending.fetch_and(!bit(sig), Ordering::AcqRel);
    }
    Some(sig)
}

/// A system call interrupted by a signal, for restart decisions: its number and whether it asked to be
/// restarted (`ERESTARTSYS`-like: restart when the handler has `SA_RESTART`, or when no handler runs).
#[derive(Debug, Clone, Copy)]
pub struct Interrupted {
    /// The system call number (restored into `rax` on restart).
    pub nr: u64,
}

/// What the thread loop must do after delivery.
pub enum Outcome {
    /// Return to user mode (with a handler frame set up, or nothing to do).
    Continue,
    /// The process dies of this signal (wait status).
    Die(u32),
}

/// Delivers pending signals to the current thread before it returns to user mode. `interrupted` is the
/// system call that just failed with `EINTR` because of a signal, if any.
pub fn deliver(t: &Thread, ctx: &mut UserContext, mut interrupted: Option<Interrupted>, fault_addr: u64) -> Outcome {
    // Another thread stopped the process: wait here for SIGCONT (or SIGKILL, delivered below).
    super::jobctl::hold_while_stopped(t);
    while let Some(sig) = take(t) {
        // A traced process stops here for its tracer, which decides what (if anything) is delivered.
        let Some(sig) = super::ptrace::signal_stop(t, sig) else {
            continue;
        };
        let action = t.process.actions.lock().get(sig);
        let handler = if sig == SIGKILL || sig == SIGSTOP {
            SIG_DFL
        } else {
            action.handler
        };
        match handler {
            SIG_IGN => continue,
            SIG_DFL => match default_action(sig) {
                Default_::Ignore => continue,
                Default_::Stop => {
                    super::jobctl::stop(t, sig);
                    continue;
                }
                Default_::Terminate => return Outcome::Die(sig),
                Default_::Core => return Outcome::Die(sig | 0x80),
            },
            _ => {
                if let Some(i) = interrupted.take() {
                    if action.flags & SA_RESTART != 0 {
                        restart(ctx, i);
                    } else {
                        ctx.regs.rax = Errno::EINTR.to_return();
                    }
                }
                if action.flags & SA_RESETHAND != 0 {
                    t.process.actions.lock().0[sig as usize - 1] = SigAction::default();
                }
                if setup_frame(t, ctx, sig, &action, fault_addr).is_err() {
                    // No room for the frame: Linux kills the process with SIGSEGV.
                    return Outcome::Die(SIGSEGV | 0x80);
                }
                return Outcome::Continue;
            }
        }
    }
    if let Some(i) = interrupted {
        restart(ctx, i);
    }
    Outcome::Continue
}

/// Makes the interrupted system call run again when the thread returns to user mode.
fn restart(ctx: &mut UserContext, i: Interrupted) {
    ctx.regs.rax = i.nr;
    ctx.regs.rip -= 2;
}

const UC_MCONTEXT: u64 = 40;
const UC_SIGMASK: u64 = UC_MCONTEXT + 256;
const FRAME_UC: u64 = 8;
const FRAME_INFO: u64 = FRAME_UC + 304;
const FRAME_SIZE: u64 = FRAME_INFO + 128;

/// Builds the `rt_sigframe` on the user stack and points the thread at the handler.
fn setup_frame(t: &Thread, ctx: &mut UserContext, sig: u32, a: &SigAction, fault_addr: u64) -> Result<(), Errno> {
    let (ss_sp, ss_size, ss_flags) = *t.altstack.lock();
    let on_alt = ss_flags & SS_DISABLE == 0 && ctx.regs.rsp.wrapping_sub(ss_sp) < ss_size;
    let mut sp = if a.flags & SA_ONSTACK != 0 && ss_flags & SS_DISABLE == 0 && !on_alt {
        ss_sp + ss_size
    } else {
        ctx.regs.rsp.wrapping_sub(128) // the red zone
    };
    sp = (sp.wrapping_sub(512)) & !63;
    let fpstate = sp;
    sp = ((sp.wrapping_sub(FRAME_SIZE)) & !15).wrapping_sub(8);
    let frame = sp;
    let old_mask = t.saved_mask.lock().take().unwrap_or(t.mask());

    let r = &ctx.regs;
    let mut mc = [0u64; 32];
    let gp = [
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp,
        r.rip, r.rflags,
    ];
    mc[..18].copy_from_slice(&gp);
    mc[18] = 0x33 | (0x2B << 48); // cs, gs, fs, ss as 16-bit fields: cs 0x33 (Linux's), ss 0x2b
    mc[20] = if sig == SIGSEGV { 14 } else { 0 }; // trapno
    mc[21] = old_mask; // oldmask
    mc[22] = fault_addr; // cr2
    mc[23] = fpstate;
    let mut uc = [0u8; 304];
    uc[16..24].copy_from_slice(&ss_sp.to_ne_bytes());
    uc[24..28].copy_from_slice(&(if on_alt { SS_ONSTACK } else { ss_flags }).to_ne_bytes());
    uc[32..40].copy_from_slice(&ss_size.to_ne_bytes());
    for (i, v) in mc.iter().take(32).enumerate() {
        uc[UC_MCONTEXT as usize + i * 8..UC_MCONTEXT as usize + i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
    }
    uc[UC_SIGMASK as usize..UC_SIGMASK as usize + 8].copy_from_slice(&old_mask.to_ne_bytes());
    let mut info = [0u8; 128];
    info[0..4].copy_from_slice(&(sig as i32).to_ne_bytes());
    if fault_addr != 0 || sig == SIGSEGV || sig == 7 {
        info[8..12].copy_from_slice(&1i32.to_ne_bytes()); // SEGV_MAPERR / BUS_ADRALN
        info[16..24].copy_from_slice(&fault_addr.to_ne_bytes());
    }
    if a.flags & SA_RESTORER == 0 {
        return Err(Errno::EFAULT);
    }
    uaccess::write_bytes(fpstate, &ctx.fpu.0)?;
    uaccess::write_u64(frame, a.restorer)?;
    uaccess::write_bytes(frame + FRAME_UC, &uc)?;
    uaccess::write_bytes(frame + FRAME_INFO, &info)?;

    let mut mask = old_mask | a.mask;
    if a.flags & SA_NODEFER == 0 {
        mask |= bit(sig);
    }
    t.set_mask(mask);
    ctx.regs.rsp = frame;
    ctx.regs.rip = a.handler;
    ctx.regs.rdi = sig as u64;
    ctx.regs.rsi = frame + FRAME_INFO;
    ctx.regs.rdx = frame + FRAME_UC;
    ctx.regs.rax = 0;
    ctx.regs.rflags &= !0x400; // DF clear, as the ABI requires at function entry
    Ok(())
}

/// `rt_sigreturn`: restores the registers, mask and SSE state saved by [`setup_frame`].
pub fn sigreturn(t: &Thread, ctx: &mut UserContext) -> Result<(), Errno> {
    let frame = ctx.regs.rsp.wrapping_sub(8);
    let mut uc = [0u8; 304];
    uaccess::read_bytes(frame + FRAME_UC, &mut uc)?;
    let word = |i: usize| {
        let at = UC_MCONTEXT as usize + i * 8;
        u64::from_ne_bytes(uc[at..at + 8].try_into().expect("8 bytes"))
    };
    let r = &mut ctx.regs;
    [r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15] =
        [word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7)];
    [r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp, r.rip, r.rflags] = [
        word(8),
        word(9),
        word(10),
        word(11),
        word(12),
        word(13),
        word(14),
        word(15),
        word(16),
        word(17),
    ];
    let fpstate = word(23);
    if fpstate != 0 {
        uaccess::read_bytes(fpstate, &mut ctx.fpu.0)?;
    }
    let at = UC_SIGMASK as usize;
    t.set_mask(u64::from_ne_bytes(uc[at..at + 8].try_into().expect("8 bytes")));
    Ok(())
}

/// `rt_sigaction`.
pub fn set_action(p: &Process, sig: u32, new: Option<SigAction>) -> Result<SigAction, Errno> {
    if sig == 0 || sig as usize > NSIG {
        return Err(Errno::EINVAL);
    }
    let mut actions = p.actions.lock();
    let old = actions.get(sig);
    if let Some(new) = new {
        if sig == SIGKILL || sig == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        actions.0[sig as usize - 1] = new;
        drop(actions);
        if new.handler == SIG_IGN || (new.handler == SIG_DFL && default_action(sig) == Default_::Ignore) {
            p.pending.fetch_and(!bit(sig), Ordering::AcqRel);
            for t in p.threads.lock().iter() {
                t.pending.fetch_and(!bit(sig), Ordering::AcqRel);
            }
        }
    }
    Ok(old)
}

/// `sigaltstack`: sets the alternate stack, returns the old one.
pub fn altstack(t: &Thread, new: Option<(u64, u64, u32)>, rsp: u64) -> Result<(u64, u64, u32), Errno> {
    let mut cur = t.altstack.lock();
    let old = *cur;
    let on = old.2 & SS_DISABLE == 0 && rsp.wrapping_sub(old.0) < old.1;
    let old = (old.0, old.1, if on { SS_ONSTACK } else { old.2 });
    if let Some((sp, size, flags)) = new {
        if on {
            return Err(Errno::EPERM);
        }
        if flags & !(SS_DISABLE | 0x8000_0000) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & SS_DISABLE != 0 {
            *cur = (0, 0, SS_DISABLE);
        } else {
            if size < 2048 {
                return Err(Errno::ENOMEM);
            }
            *cur = (sp, size, 0);
        }
    }
    Ok(old)
}

/// `rt_sigsuspend`: the mask while waiting; the old one comes back after the handler.
pub fn suspend_mask(t: &Thread, mask: u64) {
    *t.saved_mask.lock() = Some(t.mask());
    t.set_mask(mask);
}

/// Drops a pending `rt_sigsuspend` mask when no handler ran (the wait ended otherwise).
pub fn restore_suspend_mask(t: &Thread) {
    if let Some(m) = t.saved_mask.lock().take() {
        t.set_mask(m);
    }
}
