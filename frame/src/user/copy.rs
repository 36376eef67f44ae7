//! Copies between kernel buffers and the active user address space, with an exception fixup: a fault on the
//! user side ends the copy and reports the faulting address instead of crashing the kernel.
//!
//! Only [`crate::mm::VmSpace`] calls these, and only while it is the active address space; it validates that
//! the user range lies below [`super::USER_END`], so the copy can never touch kernel memory (the lower half
//! holds nothing but user pages).

use crate::cpu::TrapFrame;
use crate::cpu::local::this_cpu;

unsafe extern "C" {
    fn ember_copy_user(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn ember_copy_user_smap(dst: *mut u8, src: *const u8, len: usize) -> usize;
    static ember_copy_user_insn_q: u8;
    static ember_copy_user_fault_q: u8;
    static ember_copy_user_insn: u8;
    static ember_copy_user_done: u8;
    static ember_copy_user_smap_insn_q: u8;
    static ember_copy_user_smap_fault_q: u8;
    static ember_copy_user_smap_insn: u8;
    static ember_copy_user_smap_done: u8;
}

// Eight bytes at a time, then the last 0-7 one at a time (`rep movsb` is one step per byte under QEMU's TCG,
// which made a 1 MiB file write and read 5.4M instructions). A fault in the eight-byte copy, which may be on a
// quadword straddling two pages, goes on byte by byte from the quadword that faulted (RSI and RDI point at it,
// RCX counts the quadwords left), so the byte copy stops at the exact first byte that cannot be reached.
core::arch::global_asm!(
    r#"
    .section .text.ember_copy_user, "ax"
    .global ember_copy_user
    .global ember_copy_user_insn_q
    .global ember_copy_user_fault_q
    .global ember_copy_user_insn
    .global ember_copy_user_done
ember_copy_user:
    mov %rdx, %rcx
    shr $3, %rcx
    and $7, %edx
ember_copy_user_insn_q:
    rep movsq
    mov %rdx, %rcx
ember_copy_user_insn:
    rep movsb
ember_copy_user_done:
    mov %rcx, %rax
    ret
ember_copy_user_fault_q:
    lea (%rdx,%rcx,8), %rcx
    jmp ember_copy_user_insn

    .global ember_copy_user_smap
    .global ember_copy_user_smap_insn_q
    .global ember_copy_user_smap_fault_q
    .global ember_copy_user_smap_insn
    .global ember_copy_user_smap_done
ember_copy_user_smap:
    mov %rdx, %rcx
    shr $3, %rcx
    and $7, %edx
    stac
ember_copy_user_smap_insn_q:
    rep movsq
    mov %rdx, %rcx
ember_copy_user_smap_insn:
    rep movsb
ember_copy_user_smap_done:
    clac
    mov %rcx, %rax
    ret
ember_copy_user_smap_fault_q:
    lea (%rdx,%rcx,8), %rcx
    jmp ember_copy_user_smap_insn
    "#,
    options(att_syntax)
);

/// Copies `len` bytes; returns how many were left uncopied when a page fault stopped it (0: all copied).
///
/// # Safety
/// One of `dst`/`src` is a kernel buffer valid for `len` bytes; the other lies wholly below `USER_END` in the
/// active address space (whose lower half maps only user pages). Interrupts are off.
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> usize {
    // SAFETY: forwarded; a fault on either side ends the copy through `copy_fixup` with RCX = bytes left.
    unsafe {
        if *this_cpu().smap.get() != 0 {
            ember_copy_user_smap(dst, src, len)
        } else {
            ember_copy_user(dst, src, len)
        }
    }
}

/// For a kernel-mode page fault: when it hit the byte copy, resumes after it (RCX holds the bytes left); when
/// it hit the quadword copy, resumes with the byte copy of the rest; returns `true` in both cases.
pub(crate) fn copy_fixup(frame: &mut TrapFrame) -> bool {
    let at = |label: *const u8| label as u64;
    frame.rip = match frame.rip {
        r if r == at(&raw const ember_copy_user_insn_q) => at(&raw const ember_copy_user_fault_q),
        r if r == at(&raw const ember_copy_user_insn) => at(&raw const ember_copy_user_done),
        r if r == at(&raw const ember_copy_user_smap_insn_q) => at(&raw const ember_copy_user_smap_fault_q),
        r if r == at(&raw const ember_copy_user_smap_insn) => at(&raw const ember_copy_user_smap_done),
        _ => return false,
    };
    true
}
