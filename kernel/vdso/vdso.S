/* ember's vDSO: clock_gettime, gettimeofday and time without a system call.
 *
 * The kernel maps one read-only data page (vvar) right below this image. Its first words are the monotonic
 * clock's parameters, fixed at boot (see kernel/src/vdso.rs):
 *   0: tsc_at_zero   the TSC at monotonic time 0
 *   8: ns_per_cycle  nanoseconds per TSC cycle, 32.32 fixed point (0: no TSC clock, use the system call)
 *  16: wall_offset   wall-clock nanoseconds at monotonic time 0
 * Monotonic ns = ((tsc - tsc_at_zero) * ns_per_cycle) >> 32, the kernel's own formula, so both agree exactly.
 * Clocks other than REALTIME, MONOTONIC, MONOTONIC_RAW, REALTIME_COARSE, MONOTONIC_COARSE and BOOTTIME go
 * to the system call, as does everything when ns_per_cycle is 0. */

    .text
    .hidden vvar

/* Monotonic nanoseconds in %rax; clobbers %rdx. %r8 = vvar. */
.macro MONOTONIC_NS
    lfence
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    sub 0(%r8), %rax
    mulq 8(%r8)
    shrd $32, %rdx, %rax
.endm

    .globl __vdso_clock_gettime
    .type __vdso_clock_gettime, @function
__vdso_clock_gettime:
    cmpl $7, %edi
    ja 9f
    movl $0xf3, %eax            /* clocks 0, 1, 4, 5, 6, 7 */
    btl %edi, %eax
    jnc 9f
    lea vvar(%rip), %r8
    cmpq $0, 8(%r8)
    je 9f
    MONOTONIC_NS
    movl $0x21, %ecx            /* REALTIME and REALTIME_COARSE add the wall offset */
    btl %edi, %ecx
    jnc 1f
    add 16(%r8), %rax
1:  xor %edx, %edx
    mov $1000000000, %ecx
    div %rcx
    mov %rax, (%rsi)
    mov %rdx, 8(%rsi)
    xor %eax, %eax
    ret
9:  mov $228, %eax              /* __NR_clock_gettime */
    syscall
    ret
    .size __vdso_clock_gettime, . - __vdso_clock_gettime

    .globl __vdso_gettimeofday
    .type __vdso_gettimeofday, @function
__vdso_gettimeofday:
    lea vvar(%rip), %r8
    cmpq $0, 8(%r8)
    je 9f
    test %rdi, %rdi
    jz 2f
    MONOTONIC_NS
    add 16(%r8), %rax
    xor %edx, %edx
    mov $1000000000, %ecx
    div %rcx
    mov %rax, (%rdi)
    mov %rdx, %rax
    xor %edx, %edx
    mov $1000, %ecx
    div %rcx
    mov %rax, 8(%rdi)
2:  test %rsi, %rsi
    jz 3f
    movq $0, (%rsi)             /* struct timezone: UTC, no DST */
3:  xor %eax, %eax
    ret
9:  mov $96, %eax               /* __NR_gettimeofday */
    syscall
    ret
    .size __vdso_gettimeofday, . - __vdso_gettimeofday

    .globl __vdso_time
    .type __vdso_time, @function
__vdso_time:
    lea vvar(%rip), %r8
    cmpq $0, 8(%r8)
    je 9f
    MONOTONIC_NS
    add 16(%r8), %rax
    xor %edx, %edx
    mov $1000000000, %ecx
    div %rcx
    test %rdi, %rdi
    jz 1f
    mov %rax, (%rdi)
1:  ret
9:  mov $201, %eax              /* __NR_time */
    syscall
    ret
    .size __vdso_time, . - __vdso_time

    .globl __vdso_clock_getres
    .type __vdso_clock_getres, @function
__vdso_clock_getres:
    mov $229, %eax              /* __NR_clock_getres */
    syscall
    ret
    .size __vdso_clock_getres, . - __vdso_clock_getres

    .weak clock_gettime
    .set clock_gettime, __vdso_clock_gettime
    .weak gettimeofday
    .set gettimeofday, __vdso_gettimeofday
    .weak time
    .set time, __vdso_time
    .weak clock_getres
    .set clock_getres, __vdso_clock_getres

    .section .note.GNU-stack, "", @progbits
