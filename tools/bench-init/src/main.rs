//! `/bench-init` in `cargo xtask bench` (`rdinit=/bench-init`, on ember and on Linux): reads the TSC first
//! thing (under QEMU `-icount` it counts virtual nanoseconds since the VM started), prints `bench-init: tsc=<n>`
//! on the console, and asks the kernel to restart, which QEMU's `-no-reboot` turns into an exit: the time from
//! the VMM's start to the first instruction of /init.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

global_asm!(
    ".globl _start",
    "_start:",
    "rdtsc",
    "shl rdx, 32",
    "mov rdi, rax",
    "or rdi, rdx",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym main,
);

const SYS_WRITE: usize = 1;
const SYS_REBOOT: usize = 169;
const LINUX_REBOOT_MAGIC1: usize = 0xfee1_dead;
const LINUX_REBOOT_MAGIC2: usize = 672_274_793;
const LINUX_REBOOT_CMD_RESTART: usize = 0x0123_4567;

/// # Safety
/// A raw Linux system call: the arguments must be valid for `number`.
unsafe fn syscall4(number: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for the call; SYSCALL clobbers rcx and r11 only.
    unsafe {
        asm!("syscall", inlateout("rax") number as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

extern "C" fn main(tsc: u64) -> ! {
    let mut line = *b"bench-init: tsc=00000000000000000000\n";
    let mut n = tsc;
    for digit in line[16..36].iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // SAFETY: fd 1 is the console the kernel opened for init; the buffer is valid for its length. REBOOT with
    // the magic numbers takes no pointer.
    unsafe {
        syscall4(SYS_WRITE, 1, line.as_ptr() as usize, line.len(), 0);
        syscall4(
            SYS_REBOOT,
            LINUX_REBOOT_MAGIC1,
            LINUX_REBOOT_MAGIC2,
            LINUX_REBOOT_CMD_RESTART,
            0,
        );
    }
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
