//! The application processors' way in: a real-mode trampoline, copied into a page below 1 MiB, that a
//! start-up IPI points a CPU at. Every CPU started at once runs it: each finds the slot of parameters made
//! for its APIC ID (from CPUID: leaf 0xB's x2APIC ID, else leaf 1's initial APIC ID), claims it, goes through protected mode to long mode with the
//! page tables the boot CPU prepared next to it (the trampoline identity-mapped, the kernel's half shared),
//! enables SSE as the boot CPU's entry does, and jumps to [`crate::cpu::smp`]'s Rust entry on the stack it was
//! given, after loading the kernel's own page tables.
//!
//! Layout of the trampoline page (offsets from its start; the boot CPU writes everything before the start-up
//! IPIs):
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
//! | [`KERNEL_CR3`]  | the kernel's page table root (u64)                                        |
//! | [`SLOTS`]       | [`SLOT_COUNT`] slots of [`SLOT_SIZE`] bytes, one per CPU to start:        |
//! | + [`SLOT_APIC_ID`] | the APIC ID the slot is for (`u32::MAX`: unused)                       |
//! | + [`SLOT_CLAIM`]   | 1 while the slot waits for its CPU; the CPU swaps in 0 to own it (u32) |
//! | + [`SLOT_STACK`]   | the CPU's kernel stack top (u64)                                       |
//! | + [`SLOT_ARGUMENT`] | the Rust entry's argument (u64)                                       |

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
/// Offset of the kernel's page table root.
pub(crate) const KERNEL_CR3: usize = 0xF40;
/// Offset of the first parameter slot (the code ends before it).
pub(crate) const SLOTS: usize = 0x800;
/// Bytes per slot.
pub(crate) const SLOT_SIZE: usize = 32;
/// Slots: one per application processor.
pub(crate) const SLOT_COUNT: usize = crate::cpu::local::MAX_CPUS - 1;
/// Offset in a slot of the APIC ID it is for.
pub(crate) const SLOT_APIC_ID: usize = 0;
/// Offset in a slot of its claim word.
pub(crate) const SLOT_CLAIM: usize = 4;
/// Offset in a slot of the stack top.
pub(crate) const SLOT_STACK: usize = 8;
/// Offset in a slot of the Rust entry's argument.
pub(crate) const SLOT_ARGUMENT: usize = 16;
const _: () = assert!(SLOTS + SLOT_COUNT * SLOT_SIZE <= GDT);

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
    xor %eax, %eax                      /* this CPU's APIC ID into edx: leaf 0xB when it is there */
    cpuid
    cmp $0xB, %eax
    jb 3f
    mov $0xB, %eax
    xor %ecx, %ecx
    cpuid
    test %ebx, %ebx                     /* no logical processors at level 0: leaf 0xB is not implemented */
    jnz 4f
3:  mov $1, %eax
    cpuid
    shr $24, %ebx
    mov %ebx, %edx
4:  mov ${slots}, %si                   /* find this APIC ID's slot */
    mov ${slot_count}, %cx
5:  cmpl %edx, {slot_apic_id}(%si)
    je 6f
    add ${slot_size}, %si
    dec %cx
    jnz 5b
    jmp 1f                              /* no slot for this CPU */
6:  xor %eax, %eax
    lock xchgl %eax, {slot_claim}(%si)
    test %eax, %eax
    jnz 2f
1:  cli                                 /* no parameters, or taken (or withdrawn): park for good */
    hlt
    jmp 1b
2:  movzwl %si, %edi                    /* edi = the slot's offset, kept to the end */
    mov %cs, %ax
    movzwl %ax, %ebx
    shl $4, %ebx                        /* ebx = the page's physical address, kept to the end */
    lgdtl {gdt_pointer}
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
    mov %edi, %edi
    add %rbx, %rdi
    mov {kernel_cr3}(%rbx), %rsi
    mov {slot_stack}(%rdi), %rsp
    mov {slot_argument}(%rdi), %rdi
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
    slots = const SLOTS,
    slot_count = const SLOT_COUNT,
    slot_size = const SLOT_SIZE,
    slot_apic_id = const SLOT_APIC_ID,
    slot_claim = const SLOT_CLAIM,
    slot_stack = const SLOT_STACK,
    slot_argument = const SLOT_ARGUMENT,
    gdt_pointer = const GDT_POINTER,
    far32 = const FAR_32,
    cr3 = const CR3,
    efer = const EFER,
    far64 = const FAR_64,
    kernel_cr3 = const KERNEL_CR3,
    rust = sym crate::cpu::smp::ap_main,
    options(att_syntax)
);
