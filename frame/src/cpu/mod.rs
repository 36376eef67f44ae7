//! CPU tables: the GDT with its TSS and IST stacks, the IDT, and the trap entry and dispatch.

mod crc;
mod gdt;
mod idt;
pub(crate) mod local;
pub(crate) mod smp;
pub(crate) mod times;
mod trap;

pub use crc::crc32c_accelerated;
pub use local::{assert_may_sleep, current_index, in_interrupt};
pub use smp::{online_count, wait_for_aps};
pub use times::{CpuTimes, cpu_times};
pub use trap::TrapFrame;

use crate::arch::regs;

/// Points GS at the boot CPU's data, loads the GDT, TSS and IDT. Called once, first thing at boot, so that any
/// later fault is diagnosed.
pub(crate) fn init() {
    local::init_cpu(0, regs::cr3());
    times::start_this_cpu();
    gdt::init();
    idt::init();
}

/// The CPU's feature bits for user space (`AT_HWCAP` on x86-64: CPUID leaf 1 EDX).
pub fn hwcap() -> u64 {
    u64::from(regs::cpuid(1, 0).edx)
}

/// Per-CPU data, `syscall`, and the protections user mode needs: SMEP (the kernel never executes user
/// pages) and SMAP (the kernel touches user pages only inside its copy routines), where the CPU has them.
pub(crate) fn init_user_mode() {
    let (smep, smap) = enable_protections();
    crate::user::init();
    log::info!(
        "user mode: syscall ready; SMEP {}, SMAP {}",
        if smep { "on" } else { "not offered" },
        if smap { "on" } else { "not offered" }
    );
}

/// This CPU's share of [`init_user_mode`]: SMEP, SMAP and write protection on (each where CPUID offers it),
/// recorded in the per-CPU data. Returns whether SMEP and SMAP are on.
fn enable_protections() -> (bool, bool) {
    let leaf7 = if regs::cpuid(0, 0).eax >= 7 {
        regs::cpuid(7, 0).ebx
    } else {
        0
    };
    let smep = leaf7 & (1 << 7) != 0;
    let smap = leaf7 & (1 << 20) != 0;
    let mut cr4 = regs::cr4();
    if smep {
        cr4 |= 1 << 20;
    }
    if smap {
        cr4 |= 1 << 21;
    }
    // SAFETY: only SMEP/SMAP are added, each only when CPUID reports it. No kernel code executes user pages,
    // and the kernel reaches user pages only in the copy routines, which set RFLAGS.AC around the access.
    unsafe { regs::write_cr4(cr4) };
    regs::enable_write_protect();
    local::set_smap(smap);
    (smep, smap)
}

/// Stops the machine with a triple fault: an empty IDT makes the next exception unrecoverable.
pub(crate) fn triple_fault() -> ! {
    idt::load_empty();
    // SAFETY: with no IDT, INT3 escalates to a triple fault, which resets or stops the VM; nothing after it runs.
    unsafe { core::arch::asm!("int3", options(noreturn, nomem, nostack)) }
}
