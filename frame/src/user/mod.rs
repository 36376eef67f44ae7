//! User mode: the registers of a user thread ([`UserContext`]), running it until it traps back
//! ([`UserContext::execute`]), and reaching its memory ([`UserAddr`], copies through [`crate::mm::VmSpace`]).
//!
//! Entering user mode is a function call that returns when the thread comes back: through `syscall`, an
//! exception, or an interrupt. The kernel's thread loop handles the reason and calls `execute` again. All
//! traps run on IST stacks; a trap from user mode moves straight onto the calling task's kernel stack (saved
//! by `execute`) and returns from `execute` there, so the kernel may block or switch tasks while handling it.

mod copy;
mod entry;

pub(crate) use copy::{copy as copy_raw, copy_fixup};

use crate::arch::regs;
use crate::cpu::local::this_cpu;
use core::sync::atomic::Ordering;

/// One past the highest user address (Linux's `TASK_SIZE` on 4-level paging).
pub const USER_END: u64 = (1 << 47) - 4096;

/// The general-purpose registers of a user thread. `repr(C)`: the entry assembly stores them by offset.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
#[allow(missing_docs)]
pub struct GeneralRegs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
}

/// The SSE/x87 state as `fxsave` stores it.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct FpuState(pub [u8; 512]);

impl Default for FpuState {
    /// The state Linux starts a program with: x87 control word 0x37F, MXCSR 0x1F80, everything else zero.
    fn default() -> Self {
        let mut s = [0u8; 512];
        s[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        s[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        FpuState(s)
    }
}

/// Everything of a user thread's CPU state that ember saves: registers, FS/GS bases, SSE state.
#[derive(Clone)]
#[repr(C, align(16))]
#[derive(Default)]
pub struct UserContext {
    /// The general-purpose registers, instruction pointer, stack pointer and flags.
    pub regs: GeneralRegs,
    fs_base: u64,
    gs_base: u64,
    vector: u64,
    error_code: u64,
    cr2: u64,
    _pad: u64,
    /// The SSE/x87 state.
    pub fpu: FpuState,
}

const _: () = {
    assert!(core::mem::offset_of!(UserContext, regs) == 0);
    assert!(core::mem::offset_of!(GeneralRegs, rip) == entry::RIP);
    assert!(core::mem::offset_of!(GeneralRegs, rsp) == entry::RSP);
    assert!(core::mem::offset_of!(GeneralRegs, rflags) == entry::RFLAGS);
    assert!(core::mem::offset_of!(UserContext, vector) == entry::VECTOR);
    assert!(core::mem::offset_of!(UserContext, fpu) == entry::FPU);
};

/// Why user mode came back to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnReason {
    /// The thread executed `syscall`: the number is in `rax`, the arguments in `rdi, rsi, rdx, r10, r8, r9`.
    Syscall,
    /// The thread caused an exception.
    Exception(CpuException),
    /// An interrupt arrived while the thread ran (it has been handled); the kernel may reschedule.
    Interrupt,
}

/// An exception raised by user code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuException {
    /// The vector (0–31): 14 page fault, 13 general protection, 6 invalid opcode, 0 divide error, 3 int3…
    pub vector: u8,
    /// The CPU's error code (0 for vectors without one).
    pub error_code: u64,
    /// For a page fault: the address (CR2).
    pub fault_addr: u64,
}

/// Vector of a page fault.
pub const PAGE_FAULT: u8 = 14;
/// Vector of a general-protection fault.
pub const GENERAL_PROTECTION: u8 = 13;

/// MXCSR bits every x86-64 CPU supports (flags, masks, rounding, flush-to-zero, denormals-are-zero).
const MXCSR_MASK: u32 = 0xFFFF;

/// RFLAGS bits user code may set: CF PF AF ZF SF TF DF OF AC ID.
const USER_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x20_0000;
/// IF (interrupts on in user mode) and the always-one bit 1.
const FORCED_FLAGS: u64 = 0x200 | 0x2;

fn canonical_user(addr: u64) -> bool {
    addr < 1 << 47
}

impl UserContext {
    /// The FS base (thread pointer).
    pub fn fs_base(&self) -> u64 {
        self.fs_base
    }

    /// Sets the FS base; `false` (unchanged) when `base` is not a user address.
    pub fn set_fs_base(&mut self, base: u64) -> bool {
        canonical_user(base) && {
            self.fs_base = base;
            true
        }
    }

    /// The GS base.
    pub fn gs_base(&self) -> u64 {
        self.gs_base
    }

    /// Sets the GS base; `false` (unchanged) when `base` is not a user address.
    pub fn set_gs_base(&mut self, base: u64) -> bool {
        canonical_user(base) && {
            self.gs_base = base;
            true
        }
    }

    /// Runs the thread in user mode until it traps back; returns why. The current task's address space
    /// ([`crate::mm::VmSpace::activate`]) is what the thread sees.
    ///
    /// `after_syscall` lets the return use `sysret` (faster; it clobbers `rcx` and `r11`, as Linux's system
    /// calls do). A context whose `rip` is not a user address never reaches user mode: that would fault in the
    /// kernel (`sysret` even on the user's stack); it comes back as a general-protection fault instead.
    pub fn execute(&mut self, after_syscall: bool) -> ReturnReason {
        crate::cpu::local::assert_may_sleep("UserContext::execute");
        if !canonical_user(self.regs.rip) {
            return ReturnReason::Exception(CpuException {
                vector: GENERAL_PROTECTION,
                error_code: 0,
                fault_addr: 0,
            });
        }
        self.regs.rflags = (self.regs.rflags & USER_FLAGS) | FORCED_FLAGS;
        // `fxrstor` faults (in the kernel) on MXCSR bits the CPU does not support; a signal frame restored
        // from user memory may carry any value.
        let mxcsr = u32::from_le_bytes([self.fpu.0[24], self.fpu.0[25], self.fpu.0[26], self.fpu.0[27]]);
        self.fpu.0[24..28].copy_from_slice(&(mxcsr & MXCSR_MASK).to_le_bytes());
        if after_syscall {
            self.regs.rcx = self.regs.rip;
            self.regs.r11 = self.regs.rflags;
        }
        let cpu = this_cpu();
        if cpu.fs_base.swap(self.fs_base, Ordering::Relaxed) != self.fs_base {
            // SAFETY: FS_BASE exists on every x86-64 CPU; the value is a canonical user address (checked by the
            // setter), and the kernel never uses FS.
            unsafe { regs::wrmsr(IA32_FS_BASE, self.fs_base) };
        }
        if cpu.user_gs_base.swap(self.gs_base, Ordering::Relaxed) != self.gs_base {
            // SAFETY: KERNEL_GS_BASE holds the user's GS base while the kernel runs (swapgs exchanges them); the
            // value is canonical. The kernel's own GS base is untouched.
            unsafe { regs::wrmsr(IA32_KERNEL_GS_BASE, self.gs_base) };
        }
        crate::task::before_user();
        // User mode uses the space's translations: flush them if another CPU changed the space (the TLB
        // shootdown protocol of `VmSpace`), and say so until the thread comes back.
        crate::mm::begin_user_access();
        self.vector = entry::NO_VECTOR;
        let entered = crate::time::now_ns();
        // SAFETY: `self` is a valid, exclusively borrowed context for the whole call; `enter_user` saves the
        // callee-saved registers and the stack pointer, runs user code with the state from `self`, stores the
        // state back into `self` on the way in, and returns on this stack. User code cannot reach kernel memory
        // (supervisor pages) and its RIP and RFLAGS were sanitized above.
        unsafe { entry::enter_user(self, after_syscall) };
        cpu.tlb_using.store(false, Ordering::SeqCst);
        crate::cpu::times::add_user(crate::time::now_ns().saturating_sub(entered));
        match self.vector {
            entry::SYSCALL_VECTOR => ReturnReason::Syscall,
            v if v < 32 => ReturnReason::Exception(CpuException {
                vector: v as u8,
                error_code: self.error_code,
                fault_addr: self.cr2,
            }),
            _ => ReturnReason::Interrupt,
        }
    }
}

const IA32_FS_BASE: u32 = 0xC000_0100;
const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

pub(crate) use entry::init;
