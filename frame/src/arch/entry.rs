//! The two ways in: PVH (32-bit protected mode) and the Linux 64-bit boot protocol (long mode, first GiB
//! identity-mapped). Both load ember's own GDT and boot page tables, enable SSE (the precompiled `core` uses it,
//! and neither Firecracker entry enables it), switch to the guarded boot stack in the higher half, and call
//! [`crate::boot::rust_entry`] with the protocol, the boot structure's physical address and the TSC read at the
//! very first instruction.
//!
//! The boot page tables are static data in the image, so no code runs to build them:
//! - `0..4 GiB` identity-mapped (the running low code, and the boot structures wherever the VMM put them),
//! - the same 4 GiB at [`crate::mm::layout::PHYS_OFFSET`] (the direct map's first 4 GiB),
//! - the first GiB at [`crate::mm::layout::KERNEL_BASE`] (the kernel image, linked there).
//!
//! [`crate::mm`] replaces them with the final tables before the kernel's `main` runs.

use crate::boot::rust_entry;
use crate::mm::layout::KERNEL_BASE;
use crate::mm::stack::BOOT_STACK;

/// `boot::rust_entry`'s `protocol` argument for PVH.
pub(crate) const ENTRY_PVH: u32 = 0;
/// `boot::rust_entry`'s `protocol` argument for the Linux 64-bit protocol.
pub(crate) const ENTRY_LINUX64: u32 = 1;

unsafe extern "C" {
    /// The PVH entry point defined below (32-bit code at a physical address).
    fn ember_pvh_entry() -> !;
}

// The PVH ELF note (`XEN_ELFNOTE_PHYS32_ENTRY`) that tells Firecracker ≥ 1.12 and QEMU where to enter.
pvh::xen_elfnote_phys32_entry!(ember_pvh_entry);

core::arch::global_asm!(
    r#"
    /* What ember needs of the CPU, checked before anything uses it: long mode (the PVH entry switches to it),
       and from CPUID 1 EDX the FPU, TSC, MSRs, PAE, CMPXCHG8B, a local APIC, CMOV, FXSAVE and SSE/SSE2 (the
       precompiled `core` and the trap path use them). A missing feature gets a line on COM1 and a failure exit,
       never a triple fault that QEMU would report as success. Clobbers eax, ebx, ecx, edx, esi, ebp. */
    .macro ember_require_bit mode, bit, message
    mov $\message, %esi
    bt $\bit, %ebp
    jnc ember_cpu_refuse_\mode
    .endm
    .macro ember_require_cpu mode
    mov $0x80000000, %eax
    cpuid
    mov $ember_cpu_no_lm, %esi
    cmp $0x80000001, %eax
    jb ember_cpu_refuse_\mode
    mov $0x80000001, %eax
    cpuid
    mov %edx, %ebp
    ember_require_bit \mode, 29, ember_cpu_no_lm
    mov $1, %eax
    cpuid
    mov %edx, %ebp
    ember_require_bit \mode, 0, ember_cpu_no_fpu
    ember_require_bit \mode, 4, ember_cpu_no_tsc
    ember_require_bit \mode, 5, ember_cpu_no_msr
    ember_require_bit \mode, 6, ember_cpu_no_pae
    ember_require_bit \mode, 8, ember_cpu_no_cx8
    ember_require_bit \mode, 9, ember_cpu_no_apic
    ember_require_bit \mode, 15, ember_cpu_no_cmov
    ember_require_bit \mode, 24, ember_cpu_no_fxsr
    ember_require_bit \mode, 25, ember_cpu_no_sse
    ember_require_bit \mode, 26, ember_cpu_no_sse2
    .endm
    /* Prints the NUL-terminated message at esi on COM1 (polled; no stack, no setup: every VMM's UART prints
       as it is), then fails: isa-debug-exit (QEMU exits with status 3), an i8042 reset (Firecracker exits),
       then halts for good. The same bytes mean the same in 32-bit and 64-bit mode, but the macro is expanded
       once for each so the assembler checks each. */
    .macro ember_cpu_refuse mode
ember_cpu_refuse_\mode:
    lodsb
    test %al, %al
    jz ember_cpu_exit_\mode
    mov %al, %cl
    mov $0x3FD, %dx
ember_cpu_wait_\mode:
    in %dx, %al
    test $0x20, %al
    jz ember_cpu_wait_\mode
    mov $0x3F8, %dx
    mov %cl, %al
    out %al, %dx
    jmp ember_cpu_refuse_\mode
ember_cpu_exit_\mode:
    mov $0xF4, %dx
    mov $1, %al
    out %al, %dx
    mov $0xFE, %al
    out %al, $0x64
ember_cpu_halt_\mode:
    cli
    hlt
    jmp ember_cpu_halt_\mode
    .endm

    .section .text.boot, "ax"

    /* PVH: 32-bit protected mode, paging off, ebx = hvm_start_info. No stack is provided: nothing below
       pushes, calls or returns before rsp is loaded in long mode. */
    .code32
    .global ember_pvh_entry
ember_pvh_entry:
    cli
    cld
    mov %ebx, %edi
    ember_require_cpu 32
    rdtsc
    mov %eax, %esi
    mov %edx, %ebp
    lgdt boot_gdt_ptr
    mov %cr4, %eax
    or $0x20, %eax                      /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx               /* EFER */
    rdmsr
    or $0x100, %eax                     /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax                /* PG | PE */
    mov %eax, %cr0
    ljmp $0x08, $1f
    .code64
1:  mov %esi, %esi                      /* upper halves are undefined after the mode switch */
    mov %ebp, %ebp
    shl $32, %rbp
    or %rbp, %rsi
    mov %rsi, %r14                      /* entry TSC */
    mov %edi, %r12d                     /* start info */
    mov ${pvh}, %r13d
    jmp boot_common64

    /* Linux 64-bit boot protocol: long mode, rsi = boot_params, first GiB identity-mapped. */
    .global ember_linux64_entry
ember_linux64_entry:
    cli
    cld
    mov %rsi, %r12                      /* zero page */
    ember_require_cpu 64
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, %r14                      /* entry TSC */
    mov ${linux64}, %r13d
    /* fall through */

boot_common64:
    lgdt boot_gdt_ptr(%rip)
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_pml4, %eax
    mov %rax, %cr3
    /* EFER.NXE when the CPU has NX, so the final page tables can use it. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb 2f
    mov $0x80000001, %eax
    cpuid
    bt $20, %edx
    jnc 2f
    mov $0xC0000080, %ecx
    rdmsr
    or $0x800, %eax
    wrmsr
2:  /* SSE: CR0.EM off, CR0.MP on, CR4.OSFXSR and OSXMMEXCPT on. */
    mov %cr0, %rax
    and $~0x4, %rax
    or $0x2, %rax
    mov %rax, %cr0
    mov %cr4, %rax
    or $0x600, %rax
    mov %rax, %cr4
    fninit
    /* The guarded boot stack, in the higher half (mapped by the boot tables). */
    movabs ${stack}+{stack_top}, %rsp
    xor %ebp, %ebp
    pushq $0x08
    lea 3f(%rip), %rax
    push %rax
    lretq
3:  mov %r13d, %edi
    mov %r12, %rsi
    mov %r14, %rdx
    movabs ${rust_entry}, %rax
    call *%rax
    ud2

    .code32
    ember_cpu_refuse 32
    .code64
    ember_cpu_refuse 64

ember_cpu_no_lm:
    .asciz "ember: FATAL: the CPU lacks long mode (x86-64), which ember needs; cannot boot\r\n"
ember_cpu_no_fpu:
    .asciz "ember: FATAL: the CPU lacks an x87 FPU, which ember needs; cannot boot\r\n"
ember_cpu_no_tsc:
    .asciz "ember: FATAL: the CPU lacks a TSC, which ember needs; cannot boot\r\n"
ember_cpu_no_msr:
    .asciz "ember: FATAL: the CPU lacks MSRs, which ember needs; cannot boot\r\n"
ember_cpu_no_pae:
    .asciz "ember: FATAL: the CPU lacks PAE, which ember needs; cannot boot\r\n"
ember_cpu_no_cx8:
    .asciz "ember: FATAL: the CPU lacks CMPXCHG8B, which ember needs; cannot boot\r\n"
ember_cpu_no_apic:
    .asciz "ember: FATAL: the CPU lacks a local APIC, which ember needs; cannot boot\r\n"
ember_cpu_no_cmov:
    .asciz "ember: FATAL: the CPU lacks CMOV, which ember needs; cannot boot\r\n"
ember_cpu_no_fxsr:
    .asciz "ember: FATAL: the CPU lacks FXSAVE/FXRSTOR, which ember needs; cannot boot\r\n"
ember_cpu_no_sse:
    .asciz "ember: FATAL: the CPU lacks SSE, which ember needs; cannot boot\r\n"
ember_cpu_no_sse2:
    .asciz "ember: FATAL: the CPU lacks SSE2, which ember needs; cannot boot\r\n"

    .section .data.boot, "aw"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF            /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF            /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .balign 4096
boot_pml4:
    .quad boot_pdpt_low + 3
    .fill 255, 8, 0
    .quad boot_pdpt_low + 3             /* PHYS_OFFSET: 0xFFFF800000000000 */
    .fill 254, 8, 0
    .quad boot_pdpt_high + 3            /* KERNEL_BASE: 0xFFFFFFFF80000000 */
boot_pdpt_low:
    .quad boot_pd + 0x0003
    .quad boot_pd + 0x1003
    .quad boot_pd + 0x2003
    .quad boot_pd + 0x3003
    .fill 508, 8, 0
boot_pdpt_high:
    .fill 510, 8, 0
    .quad boot_pd + 3
    .quad 0
boot_pd:
    ember_pd_page = 0
    .rept 2048
    .quad (ember_pd_page << 21) | 0x83  /* present, writable, 2 MiB */
    ember_pd_page = ember_pd_page + 1
    .endr
    "#,
    pvh = const ENTRY_PVH,
    linux64 = const ENTRY_LINUX64,
    stack = sym BOOT_STACK,
    stack_top = const crate::mm::stack::BOOT_STACK_TOP_OFFSET,
    rust_entry = sym rust_entry,
    options(att_syntax)
);

const _: () = assert!(KERNEL_BASE == 0xFFFF_FFFF_8000_0000);
