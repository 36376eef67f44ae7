//! The IDT: all 256 vectors go to the assembly stubs in [`super::trap`], each on an IST stack.

use super::gdt::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, IST_TRAP, KERNEL_CODE};
use super::trap::{TRAP_STUB_SIZE, trap_stubs_start};
use core::arch::asm;
use core::cell::UnsafeCell;

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    _reserved: u32,
}

const MISSING: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attr: 0,
    offset_mid: 0,
    offset_high: 0,
    _reserved: 0,
};

/// Present, DPL 0, 64-bit interrupt gate (IF cleared on entry).
const INTERRUPT_GATE: u8 = 0x8E;
/// Present, DPL 3, 64-bit interrupt gate.
const USER_INTERRUPT_GATE: u8 = 0xEE;

struct Idt(UnsafeCell<[Gate; 256]>);
// SAFETY: written only by `init`, once, on the boot CPU before the IDT is loaded.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([MISSING; 256]));

#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

pub(super) fn init() {
    // Sound only once (it writes the table the CPU may already be using): a second call is a bug, stopped here.
    static DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(
        !DONE.swap(true, core::sync::atomic::Ordering::AcqRel),
        "idt::init called twice"
    );
    let stubs = trap_stubs_start();
    let idt = IDT.0.get();
    for vector in 0..256 {
        let handler = stubs + (vector * TRAP_STUB_SIZE) as u64;
        let ist = match vector {
            2 => IST_NMI,
            8 => IST_DOUBLE_FAULT,
            18 => IST_MACHINE_CHECK,
            _ => IST_TRAP,
        };
        let gate = Gate {
            offset_low: handler as u16,
            selector: KERNEL_CODE,
            ist,
            // INT3 and INTO may be used by user code (debuggers, Linux's ABI); every other gate is DPL 0, so a
            // user `int n` raises #GP instead.
            type_attr: if vector == 3 || vector == 4 {
                USER_INTERRUPT_GATE
            } else {
                INTERRUPT_GATE
            },
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            _reserved: 0,
        };
        // SAFETY: runs once on the boot CPU with interrupts off, before the IDT is loaded.
        unsafe { (*idt)[vector] = gate };
    }
    load();
}

/// Loads the IDT (the same one on every CPU). For application processors, after the boot CPU's [`init`].
pub(super) fn load() {
    let pointer = DescriptorPointer {
        limit: (size_of::<[Gate; 256]>() - 1) as u16,
        base: IDT.0.get() as u64,
    };
    // SAFETY: the IDT is a static that lives forever, and every gate points at a stub that saves state, runs
    // the dispatcher on an IST stack and returns with IRETQ.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) };
}

/// Loads an empty IDT, so that the next exception escalates to a triple fault (a last-resort power off).
pub(crate) fn load_empty() {
    let pointer = DescriptorPointer { limit: 0, base: 0 };
    // SAFETY: after this any exception shuts the machine down, which is what the caller wants.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) };
}
