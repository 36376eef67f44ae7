//! Trap entry and dispatch. Each vector's stub pushes a uniform frame; the common path saves every
//! general-purpose register and the SSE state (`fxsave`), calls [`dispatch`], and restores all of it.
//!
//! Every exception but the breakpoint is fatal: its diagnostic (vector, error code, RIP, CR2, all registers)
//! goes to the console and the VM powers off with a failure status. Vectors from 32 up are interrupts, handed
//! to [`crate::irq`].

use super::local;
use crate::arch::regs;
use crate::mm::stack;
use crate::power::{self, ExitStatus};
use core::sync::atomic::Ordering;

/// Bytes per entry stub (stubs are padded to this size so the IDT can compute their addresses).
pub(super) const TRAP_STUB_SIZE: usize = 16;

/// The registers at the time of a trap, as the entry stub saved them.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The vector number.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

unsafe extern "C" {
    static ember_trap_stubs: u8;
}

/// Address of vector 0's stub.
pub(super) fn trap_stubs_start() -> u64 {
    (&raw const ember_trap_stubs) as u64
}

core::arch::global_asm!(
    r#"
    .section .text.ember_trap, "ax"
    .balign {stub_size}
    .global ember_trap_stubs
ember_trap_stubs:
    vector = 0
    .rept 256
    .balign {stub_size}
    .if vector == 8 || vector == 10 || vector == 11 || vector == 12 || vector == 13 || vector == 14 || vector == 17 || vector == 21 || vector == 29 || vector == 30
    .else
    pushq $0
    .endif
    pushq $vector
    jmp ember_trap_common
    vector = vector + 1
    .endr

ember_trap_common:
    cld
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    testb $3, {cs_offset}(%rsp)
    jz 3f
    mov {vector_offset}(%rsp), %rax
    cmp $2, %rax
    je 3f
    cmp $8, %rax
    je 3f
    cmp $18, %rax
    je 3f
    jmp ember_user_trap
3:  mov %rsp, %rdi
    sub $512, %rsp
    and $~15, %rsp
    fxsave64 (%rsp)
    mov %rdi, %rbx
    call {dispatch}
    fxrstor64 (%rsp)
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
    "#,
    stub_size = const TRAP_STUB_SIZE,
    dispatch = sym dispatch,
    cs_offset = const core::mem::offset_of!(TrapFrame, cs),
    vector_offset = const core::mem::offset_of!(TrapFrame, vector),
    options(att_syntax)
);

const EXCEPTION_NAMES: [&str; 32] = [
    "divide error (#DE)",
    "debug (#DB)",
    "non-maskable interrupt (NMI)",
    "breakpoint (#BP)",
    "overflow (#OF)",
    "bound range exceeded (#BR)",
    "invalid opcode (#UD)",
    "device not available (#NM)",
    "double fault (#DF)",
    "coprocessor segment overrun",
    "invalid TSS (#TS)",
    "segment not present (#NP)",
    "stack-segment fault (#SS)",
    "general protection fault (#GP)",
    "page fault (#PF)",
    "reserved vector 15",
    "x87 floating-point error (#MF)",
    "alignment check (#AC)",
    "machine check (#MC)",
    "SIMD floating-point error (#XM)",
    "virtualization exception (#VE)",
    "control protection (#CP)",
    "reserved vector 22",
    "reserved vector 23",
    "reserved vector 24",
    "reserved vector 25",
    "reserved vector 26",
    "reserved vector 27",
    "hypervisor injection (#HV)",
    "VMM communication (#VC)",
    "security exception (#SX)",
    "reserved vector 31",
];

const NMI: u64 = 2;
const BREAKPOINT: u64 = 3;
const PAGE_FAULT: u64 = 14;

/// Called by the common stub with the saved frame of a trap taken in kernel mode (and of NMIs, double faults
/// and machine checks from anywhere), on an IST stack, interrupts off.
///
/// Traps do not nest: a trap taken while a handler runs has already overwritten that handler's frame at the
/// top of the shared IST stack, so it is reported as fatal instead of returning into a corrupted frame.
extern "C" fn dispatch(frame: &mut TrapFrame) {
    let depth = &local::this_cpu().irq_depth;
    if depth.load(Ordering::Relaxed) > 0 && frame.vector != NMI {
        fatal(
            frame,
            "a trap inside an interrupt or trap handler (handlers must not fault, sleep or block)",
        );
    }
    if frame.vector == PAGE_FAULT && crate::user::copy_fixup(frame) {
        return;
    }
    depth.fetch_add(1, Ordering::Relaxed);
    match frame.vector {
        BREAKPOINT => log::info!("breakpoint at {:#x}; continuing", frame.rip),
        v if v < 32 => fatal(frame, ""),
        _ => crate::irq::dispatch(frame),
    }
    depth.fetch_sub(1, Ordering::Relaxed);
}

fn fatal(f: &TrapFrame, why: &str) -> ! {
    let cr2 = regs::cr2();
    let name = match f.vector {
        v @ 0..32 => EXCEPTION_NAMES[v as usize],
        _ => "interrupt",
    };
    let p = |args: core::fmt::Arguments<'_>| crate::console::emergency_print(args);
    p(format_args!(
        "ember: FATAL: {name}, vector {}, error code {:#x}{}{why}\n",
        f.vector,
        f.error_code,
        if why.is_empty() { "" } else { ": " }
    ));
    if f.vector == PAGE_FAULT {
        let e = f.error_code;
        p(format_args!(
            "ember:   {} of {:#x}: {}, {} mode{}\n",
            if e & 16 != 0 {
                "instruction fetch"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            },
            cr2,
            if e & 1 != 0 {
                "protection violation"
            } else {
                "page not present"
            },
            if e & 4 != 0 { "user" } else { "kernel" },
            if e & 8 != 0 { ", reserved bit set" } else { "" },
        ));
        if let Some((_, stack)) = stack::guard_pages().iter().find(|(g, _)| cr2 & !0xFFF == *g) {
            p(format_args!(
                "ember:   kernel stack overflow: hit the guard page of the {stack}\n"
            ));
        } else if crate::task::is_guard_page(cr2) {
            p(format_args!(
                "ember:   kernel stack overflow: hit the guard page of a task's stack\n"
            ));
        }
    }
    p(format_args!(
        "ember:   rip {:#018x} cs {:#x} rflags {:#x} rsp {:#018x} ss {:#x}\n",
        f.rip, f.cs, f.rflags, f.rsp, f.ss
    ));
    p(format_args!("ember:   cr2 {:#018x} cr3 {:#018x}\n", cr2, regs::cr3()));
    p(format_args!(
        "ember:   rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}\n",
        f.rax, f.rbx, f.rcx, f.rdx
    ));
    p(format_args!(
        "ember:   rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}\n",
        f.rsi, f.rdi, f.rbp, f.r8
    ));
    p(format_args!(
        "ember:   r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}\n",
        f.r9, f.r10, f.r11, f.r12
    ));
    p(format_args!(
        "ember:   r13 {:#018x} r14 {:#018x} r15 {:#018x}\n",
        f.r13, f.r14, f.r15
    ));
    power::power_off(ExitStatus::Failure)
}
