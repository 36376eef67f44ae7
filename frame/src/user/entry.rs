//! The assembly between kernel and user mode: `syscall` entry, the return to user mode (`sysretq` or
//! `iretq`), and the hand-off from a trap taken in user mode.

use super::UserContext;
use crate::arch::regs;
use crate::cpu::TrapFrame;
use crate::cpu::local::{self, this_cpu};
use core::sync::atomic::Ordering;

/// Offsets in [`UserContext`] the assembly uses (checked against the struct in `mod.rs`).
pub(super) const RIP: usize = 15 * 8;
pub(super) const RSP: usize = 16 * 8;
pub(super) const RFLAGS: usize = 17 * 8;
pub(super) const VECTOR: usize = 20 * 8;
pub(super) const FPU: usize = 24 * 8;
/// `vector` after `syscall`.
pub(super) const SYSCALL_VECTOR: u64 = 256;
/// `vector` before entering user mode (no trap yet).
pub(super) const NO_VECTOR: u64 = 257;

/// User code and data selectors (GDT entries 4 and 3, RPL 3): what `sysretq` loads from STAR.
const USER_CS: u64 = 0x23;
const USER_SS: u64 = 0x1B;

const IA32_EFER: u32 = 0xC000_0080;
const IA32_STAR: u32 = 0xC000_0081;
const IA32_LSTAR: u32 = 0xC000_0082;
const IA32_FMASK: u32 = 0xC000_0084;
/// RFLAGS cleared on `syscall`: TF, IF, DF, NT, AC.
const SYSCALL_MASK: u64 = 0x100 | 0x200 | 0x400 | 0x4000 | 0x4_0000;

unsafe extern "C" {
    fn ember_syscall_entry();
    fn ember_enter_user(context: *mut UserContext, sysret: u64);
}

/// Runs user mode with `context` until a trap brings it back (see [`UserContext::execute`]).
///
/// # Safety
/// `context` must be valid and exclusively borrowed for the call, with a sanitized RIP (a canonical user
/// address) and RFLAGS (IF set, IOPL 0), and with `sysret` its RCX and R11 equal to RIP and RFLAGS (what
/// `sysretq` loads); the caller runs on a task's kernel stack with interrupts off.
pub(super) unsafe fn enter_user(context: &mut UserContext, sysret: bool) {
    // SAFETY: forwarded from the caller.
    unsafe { ember_enter_user(context, sysret as u64) }
}

/// Enables `syscall` and points it at the entry below. Runs once per CPU at boot.
pub(crate) fn init() {
    // SAFETY: EFER, STAR, LSTAR and FMASK exist on every x86-64 CPU. STAR's selectors match the GDT (kernel
    // code 0x08 / data 0x10; user data 0x18 and code 0x20, as `sysretq` derives them from 0x10); LSTAR is the
    // entry below; FMASK clears IF so the entry runs with interrupts off.
    unsafe {
        regs::wrmsr(IA32_EFER, regs::rdmsr(IA32_EFER) | 1);
        regs::wrmsr(IA32_STAR, (0x10 << 48) | (0x08 << 32));
        regs::wrmsr(IA32_LSTAR, ember_syscall_entry as *const () as u64);
        regs::wrmsr(IA32_FMASK, SYSCALL_MASK);
    }
}

/// Called by the trap stub for a trap from user mode, on the task's kernel stack, interrupts off, after the
/// SSE state was saved into the context: stores the registers and the reason, and handles an interrupt.
pub(crate) extern "C" fn user_trap(frame: &TrapFrame, context: &mut UserContext) {
    let cr2 = regs::cr2();
    let r = &mut context.regs;
    (r.rax, r.rbx, r.rcx, r.rdx) = (frame.rax, frame.rbx, frame.rcx, frame.rdx);
    (r.rsi, r.rdi, r.rbp) = (frame.rsi, frame.rdi, frame.rbp);
    (r.r8, r.r9, r.r10, r.r11) = (frame.r8, frame.r9, frame.r10, frame.r11);
    (r.r12, r.r13, r.r14, r.r15) = (frame.r12, frame.r13, frame.r14, frame.r15);
    (r.rip, r.rsp, r.rflags) = (frame.rip, frame.rsp, frame.rflags);
    context.vector = frame.vector;
    context.error_code = frame.error_code;
    context.cr2 = if frame.vector == super::PAGE_FAULT as u64 {
        cr2
    } else {
        0
    };
    if frame.vector >= 32 {
        let cpu = this_cpu();
        cpu.irq_depth.fetch_add(1, Ordering::Relaxed);
        crate::irq::dispatch(frame);
        cpu.irq_depth.fetch_sub(1, Ordering::Relaxed);
    }
}

core::arch::global_asm!(
    r#"
    .section .text.ember_user, "ax"
    .global ember_syscall_entry
ember_syscall_entry:
    swapgs
    mov %rsp, %gs:{scratch}
    mov %gs:{context}, %rsp
    mov %rax, 0(%rsp)
    mov %rbx, 8(%rsp)
    mov %rcx, 16(%rsp)
    mov %rdx, 24(%rsp)
    mov %rsi, 32(%rsp)
    mov %rdi, 40(%rsp)
    mov %rbp, 48(%rsp)
    mov %r8, 56(%rsp)
    mov %r9, 64(%rsp)
    mov %r10, 72(%rsp)
    mov %r11, 80(%rsp)
    mov %r12, 88(%rsp)
    mov %r13, 96(%rsp)
    mov %r14, 104(%rsp)
    mov %r15, 112(%rsp)
    mov %rcx, {rip}(%rsp)
    mov %r11, {rflags}(%rsp)
    mov %gs:{scratch}, %rax
    mov %rax, {rsp}(%rsp)
    movq ${syscall_vector}, {vector}(%rsp)
    fxsave64 {fpu}(%rsp)
    mov %gs:{kernel_rsp}, %rsp
    jmp ember_user_return_to_kernel

    /* The trap stub jumps here for a trap from user mode, with the TrapFrame at %rsp on the IST stack. */
    .global ember_user_trap
ember_user_trap:
    swapgs
    testq $1, %gs:{smap}
    jz 1f
    clac
1:  mov %gs:{context}, %rsi
    fxsave64 {fpu}(%rsi)
    mov %rsp, %rdi
    mov %gs:{kernel_rsp}, %rsp
    call {user_trap}
    jmp ember_user_return_to_kernel

ember_user_return_to_kernel:
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .global ember_enter_user
ember_enter_user:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp
    mov %rsp, %gs:{kernel_rsp}
    mov %rdi, %gs:{context}
    fxrstor64 {fpu}(%rdi)
    /* ZF says which way out: set here, and neither `push`, `mov` nor `swapgs` changes it. */
    test %rsi, %rsi
    jnz 1f
    /* iretq's frame; sysretq takes RIP and RFLAGS from RCX and R11, which `execute` set to them. */
    pushq ${user_ss}
    pushq {rsp}(%rdi)
    pushq {rflags}(%rdi)
    pushq ${user_cs}
    pushq {rip}(%rdi)
1:  mov 0(%rdi), %rax
    mov 8(%rdi), %rbx
    mov 16(%rdi), %rcx
    mov 24(%rdi), %rdx
    mov 32(%rdi), %rsi
    mov 48(%rdi), %rbp
    mov 56(%rdi), %r8
    mov 64(%rdi), %r9
    mov 72(%rdi), %r10
    mov 80(%rdi), %r11
    mov 88(%rdi), %r12
    mov 96(%rdi), %r13
    mov 104(%rdi), %r14
    mov 112(%rdi), %r15
    jz 2f
    mov {rsp}(%rdi), %rsp
    mov 40(%rdi), %rdi
    swapgs
    sysretq
2:  mov 40(%rdi), %rdi
    swapgs
    iretq
    "#,
    scratch = const local::USER_RSP_SCRATCH,
    context = const local::USER_CONTEXT,
    kernel_rsp = const local::KERNEL_RSP,
    smap = const local::SMAP,
    rip = const RIP,
    rsp = const RSP,
    rflags = const RFLAGS,
    vector = const VECTOR,
    fpu = const FPU,
    syscall_vector = const SYSCALL_VECTOR,
    user_cs = const USER_CS,
    user_ss = const USER_SS,
    user_trap = sym user_trap,
    options(att_syntax)
);
