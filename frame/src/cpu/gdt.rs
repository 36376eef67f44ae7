//! The GDT and TSS. The TSS holds the IST stacks every trap runs on: precompiled `core` uses the red zone, so
//! no trap may push onto a stack that Rust code is using.

use crate::mm::stack::{DOUBLE_FAULT_STACK, MACHINE_CHECK_STACK, NMI_STACK, TRAP_STACK};
use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;

/// Kernel code segment selector.
pub(crate) const KERNEL_CODE: u16 = 0x08;
const KERNEL_DATA: u16 = 0x10;
const TSS_SELECTOR: u16 = 0x28;

/// IST slot (1-based, as the IDT wants it) for exceptions and interrupts.
pub(crate) const IST_TRAP: u8 = 1;
/// IST slot for double faults.
pub(crate) const IST_DOUBLE_FAULT: u8 = 2;
/// IST slot for NMIs.
pub(crate) const IST_NMI: u8 = 3;
/// IST slot for machine checks.
pub(crate) const IST_MACHINE_CHECK: u8 = 4;

#[repr(C, packed(4))]
struct Tss {
    _reserved0: u32,
    rsp: [u64; 3],
    _reserved1: u64,
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    iomap_base: u16,
}

/// The boot CPU's tables: written once by [`init`] and afterwards only read by the CPU.
struct CpuTable<T>(UnsafeCell<T>);
// SAFETY: written only by `init`, once, on the boot CPU before anything else can read it.
unsafe impl<T> Sync for CpuTable<T> {}

static TSS: CpuTable<Tss> = CpuTable(UnsafeCell::new(Tss {
    _reserved0: 0,
    rsp: [0; 3],
    _reserved1: 0,
    ist: [0; 7],
    _reserved2: 0,
    _reserved3: 0,
    iomap_base: size_of::<Tss>() as u16,
}));

static GDT: CpuTable<[u64; 7]> = CpuTable(UnsafeCell::new(GDT_TEMPLATE));

/// Every CPU's GDT before its TSS descriptor is filled in.
const GDT_TEMPLATE: [u64; 7] = [
    0,
    0x00AF_9A00_0000_FFFF, // 0x08 kernel code, 64-bit
    0x00CF_9200_0000_FFFF, // 0x10 kernel data
    0x00CF_F200_0000_FFFF, // 0x18 user data (for SYSRET's layout)
    0x00AF_FA00_0000_FFFF, // 0x20 user code, 64-bit
    0,                     // 0x28 TSS, low half (filled by init)
    0,                     // 0x30 TSS, high half
];

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
        "gdt::init called twice"
    );
    let ist = [
        TRAP_STACK.top(),
        DOUBLE_FAULT_STACK.top(),
        NMI_STACK.top(),
        MACHINE_CHECK_STACK.top(),
    ];
    // SAFETY: `init` runs once on the boot CPU with interrupts off; nothing else references the boot CPU's
    // tables yet.
    unsafe { load(GDT.0.get(), TSS.0.get(), ist) };
}

/// An application processor's own GDT and TSS, which live for good once loaded.
struct ApTables {
    gdt: [u64; 7],
    tss: Tss,
}

/// Loads a new GDT and TSS for this application processor, with its IST stacks' tops `ist` (trap, double
/// fault, NMI, machine check). Runs once per application processor, at its start, interrupts off.
pub(super) fn init_ap(ist: [u64; 4]) {
    let tables = alloc::boxed::Box::leak(alloc::boxed::Box::new(ApTables {
        gdt: GDT_TEMPLATE,
        tss: Tss {
            _reserved0: 0,
            rsp: [0; 3],
            _reserved1: 0,
            ist: [0; 7],
            _reserved2: 0,
            _reserved3: 0,
            iomap_base: size_of::<Tss>() as u16,
        },
    }));
    // SAFETY: the tables were just allocated and leaked: they live forever and only this CPU uses them.
    unsafe { load(&raw mut tables.gdt, &raw mut tables.tss, ist) };
}

/// Fills `tss`'s IST slots with `ist`, points `gdt`'s TSS descriptor at it, and loads both.
///
/// # Safety
/// `gdt` and `tss` must live forever and be used by no other CPU; this CPU runs with interrupts off.
unsafe fn load(gdt: *mut [u64; 7], tss: *mut Tss, tops: [u64; 4]) {
    let mut ist = [0u64; 7];
    ist[IST_TRAP as usize - 1] = tops[0];
    ist[IST_DOUBLE_FAULT as usize - 1] = tops[1];
    ist[IST_NMI as usize - 1] = tops[2];
    ist[IST_MACHINE_CHECK as usize - 1] = tops[3];
    // SAFETY: per the contract, nothing else references the TSS. The field is only 4-byte aligned (the hardware
    // layout), hence the unaligned write.
    unsafe { (&raw mut (*tss).ist).write_unaligned(ist) };
    let base = tss as u64;
    let limit = size_of::<Tss>() as u64 - 1;
    let low = (limit & 0xFFFF)
        | (base & 0xFF_FFFF) << 16
        | 0x89 << 40 // present, 64-bit available TSS
        | ((limit >> 16) & 0xF) << 48
        | ((base >> 24) & 0xFF) << 56;
    // SAFETY: as above; this GDT is not loaded yet.
    unsafe {
        (*gdt)[5] = low;
        (*gdt)[6] = base >> 32;
    }
    let pointer = DescriptorPointer {
        limit: (size_of::<[u64; 7]>() - 1) as u16,
        base: gdt as u64,
    };
    // SAFETY: the GDT lives forever (contract) and holds valid descriptors; reloading CS through a far
    // return to the next instruction and the data segments with the flat data selector keeps execution where
    // it is. The TSS descriptor is valid and not busy.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {data:e}",
            "mov es, {data:e}",
            "mov ss, {data:e}",
            "ltr {tss:x}",
            ptr = in(reg) &pointer,
            code = in(reg) u64::from(KERNEL_CODE),
            data = in(reg) u32::from(KERNEL_DATA),
            tss = in(reg) TSS_SELECTOR,
            tmp = lateout(reg) _,
        );
    }
}
