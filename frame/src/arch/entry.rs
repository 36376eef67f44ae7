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
    .section .text.boot, "ax"

    /* PVH: 32-bit protected mode, paging off, ebx = hvm_start_info. No stack is provided: nothing below
       pushes, calls or returns before rsp is loaded in long mode. */
    .code32
    .global ember_pvh_entry
ember_pvh_entry:
    cli
    cld
    rdtsc
    mov %eax, %esi
    mov %edx, %ebp
    mov %ebx, %edi
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
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, %r14                      /* entry TSC */
    mov %rsi, %r12                      /* zero page */
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
