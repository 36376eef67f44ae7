//! The C memory functions `core` calls. The host target's `compiler_builtins` leaves them to libc, which a
//! kernel does not have. Written with `rep` string instructions in assembly so the compiler cannot turn them
//! back into calls to themselves. Copies and fills go eight bytes at a time, then byte by byte for the last
//! 0-7: `rep movsb` is one step per byte under QEMU's TCG (a page copy cost 4096 instructions, not 512).

core::arch::global_asm!(
    r#"
    .section .text.ember_mem, "ax"
    .global memcpy
    .type memcpy, @function
memcpy:
    mov %rdi, %rax
    mov %rdx, %rcx
    shr $3, %rcx
    rep movsq
    mov %edx, %ecx
    and $7, %ecx
    rep movsb
    ret

    .global memmove
    .type memmove, @function
memmove:
    mov %rdi, %rax
    mov %rdx, %rcx
    cmp %rsi, %rdi
    jbe 1f
    lea -1(%rsi,%rdx), %rsi
    lea -1(%rdi,%rdx), %rdi
    std
    rep movsb
    cld
    ret
1:  jmp memcpy

    .global memset
    .type memset, @function
memset:
    mov %rdi, %r9
    movzbl %sil, %eax
    movabs $0x0101010101010101, %r8
    imul %r8, %rax
    mov %rdx, %rcx
    shr $3, %rcx
    rep stosq
    mov %edx, %ecx
    and $7, %ecx
    rep stosb
    mov %r9, %rax
    ret

    .global memcmp
    .type memcmp, @function
    .global bcmp
    .type bcmp, @function
memcmp:
bcmp:
    xor %eax, %eax
    mov %rdx, %rcx
    test %rcx, %rcx
    jz 2f
    repe cmpsb
    je 2f
    movzbl -1(%rdi), %eax
    movzbl -1(%rsi), %ecx
    sub %ecx, %eax
2:  ret
    "#,
    options(att_syntax)
);
