//! The application processors' way in: a real-mode trampoline, copied into a page below 1 MiB, that a
//! start-up IPI points a CPU at. It claims its parameters, goes through protected mode to long mode with the
//! page tables the boot CPU prepared next to it (the trampoline identity-mapped, the kernel's half shared),
//! enables SSE as the boot CPU's entry does, and jumps to [`crate::cpu::smp`]'s Rust entry on the stack it was
//! given, after loading the kernel's own page tables.
//!
//! Layout of the trampoline page (offsets from its start; the parameters are written by the boot CPU before
//! each start-up IPI):
//!
//! | offset          | what                                                                      |
//! |-----------------|---------------------------------------------------------------------------|
//! | 0               | the code below                                                            |
//! | [`GDT`]         | null, 32-bit code (0x08), data (0x10), 64-bit code (0x18)                  |
//! | [`GDT_POINTER`] | limit (u16) and physical base (u32) of that GDT                           |
//! | [`FAR_32`]      | far pointer (u32 offset, u16 selector) to the 32-bit code                 |
//! | [`FAR_64`]      | far pointer to the 64-bit code                                            |
//! | [`CR3`]         | physical address of the trampoline's PML4 (u32)                           |
//! | [`EFER`]        | bits to set in EFER (LME, and NXE when the CPU has NX) (u32)              |
//! | [`STACK`]       | the CPU's kernel stack top (u64)                                          |
//! | [`ARGUMENT`]    | the Rust entry's argument (u64)                                           |
//! | [`KERNEL_CR3`]  | the kernel's page table root (u64)                                        |
//! | [`CLAIM`]       | 1 while the parameters wait for a CPU; a CPU swaps in 0 to own them (u32) |

/// Offset of the trampoline's GDT.
pub(crate) const GDT: usize = 0xF00;
/// Offset of the GDT pointer.
pub(crate) const GDT_POINTER: usize = 0xF20;
/// Offset of the far pointer to the 32-bit code.
pub(crate) const FAR_32: usize = 0xF28;
/// Offset of the far pointer to the 64-bit code.
pub(crate) const FAR_64: usize = 0xF30;
/// Offset of the trampoline PML4's physical address.
pub(crate) const CR3: usize = 0xF38;
/// Offset of the EFER bits to set.
pub(crate) const EFER: usize = 0xF3C;
/// Offset of the stack top.
pub(crate) const STACK: usize = 0xF40;
/// Offset of the Rust entry's argument.
pub(crate) const ARGUMENT: usize = 0xF48;
/// Offset of the kernel's page table root.
pub(crate) const KERNEL_CR3: usize = 0xF50;
/// Offset of the claim word.
pub(crate) const CLAIM: usize = 0xF58;

unsafe extern "C" {
    static ember_ap_trampoline_start: u8;
    static ember_ap_trampoline_end: u8;
    static ember_ap_trampoline_32: u8;
    static ember_ap_trampoline_64: u8;
}

/// The trampoline's code, to copy to the start of its page.
pub(crate) fn trampoline_code() -> &'static [u8] {
    let start = &raw const ember_ap_trampoline_start;
    let end = &raw const ember_ap_trampoline_end;
    // SAFETY: both symbols delimit the read-only trampoline bytes defined below, start before end.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}

/// Offsets of the 32-bit and 64-bit code in the trampoline (for the far pointers).
pub(crate) fn code_offsets() -> (usize, usize) {
    let start = &raw const ember_ap_trampoline_start as usize;
    (
        &raw const ember_ap_trampoline_32 as usize - start,
        &raw const ember_ap_trampoline_64 as usize - start,
    )
}

core::arch::global_asm!(
    r#"
    .section .rodata.ember_ap_trampoline, "a"
    .global ember_ap_trampoline_start
    .global ember_ap_trampoline_end
    .global ember_ap_trampoline_32
    .global ember_ap_trampoline_64

    /* Real mode at CS:0, CS = page >> 4. */
    .code16
ember_ap_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    movzwl %ax, %ebx
    shl $4, %ebx                        /* ebx = the page's physical address, kept to the end */
    xor %eax, %eax
    lock xchgl %eax, {claim}
    test %eax, %eax
    jnz 2f
1:  cli                                 /* parameters already taken (or withdrawn): park for good */
    hlt
    jmp 1b
2:  lgdtl {gdt_pointer}
    mov %cr0, %eax
    or $1, %eax                         /* PE */
    mov %eax, %cr0
    ljmpl *{far32}

    .code32
ember_ap_trampoline_32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %cr4, %eax
    or $0x620, %eax                     /* PAE, OSFXSR, OSXMMEXCPT */
    mov %eax, %cr4
    mov {cr3}(%ebx), %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx               /* EFER */
    rdmsr
    or {efer}(%ebx), %eax
    wrmsr
    mov %cr0, %eax
    and $~0x4, %eax                     /* EM off */
    or $0x80000003, %eax                /* PG, MP, PE */
    mov %eax, %cr0
    ljmpl *{far64}(%ebx)

    .code64
ember_ap_trampoline_64:
    mov %ebx, %ebx                      /* upper halves are undefined after the mode switch */
    mov {stack}(%rbx), %rsp
    mov {argument}(%rbx), %rdi
    mov {kernel_cr3}(%rbx), %rsi
    movabs $ember_ap_entry64, %rax
    jmp *%rax
ember_ap_trampoline_end:

    /* In the kernel image: switch to the kernel's page tables (the trampoline's mapping goes away), finish
       the FPU setup and enter Rust. */
    .section .text.ember_ap_entry, "ax"
ember_ap_entry64:
    mov %rsi, %cr3
    fninit
    xor %ebp, %ebp
    movabs ${rust}, %rax
    call *%rax
    ud2
    "#,
    claim = const CLAIM,
    gdt_pointer = const GDT_POINTER,
    far32 = const FAR_32,
    cr3 = const CR3,
    efer = const EFER,
    far64 = const FAR_64,
    stack = const STACK,
    argument = const ARGUMENT,
    kernel_cr3 = const KERNEL_CR3,
    rust = sym crate::cpu::smp::ap_main,
    options(att_syntax)
);
