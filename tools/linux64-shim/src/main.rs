//! A test-only boot shim that recreates Firecracker's 64-bit Linux boot protocol entry under QEMU.
//!
//! QEMU cannot enter a kernel at a 64-bit entry point, so `cargo xtask run --boot linux64` PVH-boots this shim
//! instead, with ember's ELF loaded at its physical addresses by QEMU's `loader` device. The command line starts
//! with the shim's own words, all named `shim.*` and removed before the kernel sees the rest byte for byte:
//! - `shim.entry=0x…`: ember's entry address (required),
//! - `shim.kernel_end=0x…`: the end of ember's image, so that the initrd is never copied over it,
//! - `shim.initrd=START+SIZE`: a hostile zero page: announce this initrd range instead of the real one (nothing
//!   is copied), for tests of how ember checks it.
//! - `shim.ram=START+SIZE`: a hostile zero page: one more E820 RAM entry that is not there (say past the CPU's
//!   physical address width), for tests of how ember cuts its memory map.
//!
//! The shim then builds exactly what Firecracker's `configure_64bit_boot` builds (the values are in
//! `../shared/reference` and Firecracker's `arch/x86_64/{regs,layout,mod}.rs`) and jumps:
//! - zero page at 0x7000 with the E820 map, `acpi_rsdp_addr`, the command line pointer and the initrd,
//! - the command line (without the `shim.*` words) at 0x20000,
//! - PML4/PDPT/PD at 0x9000/0xA000/0xB000 identity-mapping only the first GiB with 2 MiB pages,
//! - a GDT at 0x500 (code 0x08, data 0x10, TSS 0x18), `rsp` = `rbp` = 0x8FF0, `rsi` = 0x7000,
//! - SSE off (CR4.OSFXSR and OSXMMEXCPT clear), interrupts off,
//! - the initrd moved to the top of the low RAM region, page aligned, as Firecracker places it.
//!
//! The shim itself is linked at 0x40000, below 1 MiB and above the command line's room, so it boots in any
//! memory size ember does and no initrd copy can reach it. It is test tooling, not kernel code: it trusts QEMU
//! and stops with a message and a failure exit on anything that does not fit.
#![no_std]
#![no_main]

#[path = "../../../frame/src/arch/intrinsics.rs"]
mod intrinsics;

use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::mem::offset_of;
use ember_boot::{BootInfo, MemoryKind, PhysMemory, Protocol, parse_pvh};
use ember_cmdline::Cmdline;
use linux_boot_params::{BootE820Entry, BootParams, LINUX_BOOT_HEADER_MAGIC, SetupHeader};
use pvh::start_info::StartInfo;

const ZERO_PAGE: u64 = 0x7000;
const CMDLINE: u64 = 0x20000;
/// The longest command line the shim passes on (including its NUL): room up to 0x30000, below the shim.
const CMDLINE_MAX: u64 = 0x10000;
const PML4: u64 = 0x9000;
const PDPT: u64 = 0xA000;
const PD: u64 = 0xB000;
const GDT: u64 = 0x500;
const STACK: u64 = 0x8FF0;
/// Firecracker's GDT: null, code, data, TSS (`arch/x86_64/gdt.rs` and `regs.rs`).
const FIRECRACKER_GDT: [u64; 4] = [0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x008F_8B00_0000_FFFF];

unsafe extern "C" {
    fn shim_pvh_entry() -> !;
}
pvh::xen_elfnote_phys32_entry!(shim_pvh_entry);

global_asm!(
    r#"
    .section .text.boot, "ax"
    .code32
    .global shim_pvh_entry
shim_pvh_entry:
    cli
    cld
    mov $shim_stack_top, %esp
    mov %ebx, %edi
    mov %cr4, %eax
    or $0x620, %eax             /* PAE, OSFXSR, OSXMMEXCPT: the shim's own Rust code uses SSE */
    mov %eax, %cr4
    mov $shim_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    and $~0x4, %eax
    or $0x80000003, %eax
    mov %eax, %cr0
    lgdt shim_gdt_ptr
    ljmp $0x08, $1f
    .code64
1:  mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %edi, %edi
    call {main}
    ud2

    .section .data, "aw"
    .balign 16
shim_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
shim_gdt_end:
shim_gdt_ptr:
    .word shim_gdt_end - shim_gdt - 1
    .quad shim_gdt
    .balign 4096
shim_pml4:
    .quad shim_pdpt + 3
    .fill 511, 8, 0
shim_pdpt:
    .quad shim_pd + 0x0003
    .quad shim_pd + 0x1003
    .quad shim_pd + 0x2003
    .quad shim_pd + 0x3003
    .fill 508, 8, 0
shim_pd:
    shim_page = 0
    .rept 2048
    .quad (shim_page << 21) | 0x83
    shim_page = shim_page + 1
    .endr

    .section .bss, "aw", @nobits
    .balign 16
    .skip 65536
shim_stack_top:
    "#,
    main = sym shim_main,
    options(att_syntax)
);

/// Guest memory, identity-mapped by the shim's page tables (first 4 GiB).
struct Identity;

impl PhysMemory for Identity {
    fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool {
        if paddr.checked_add(buf.len() as u64).is_none_or(|end| end > 1 << 32) {
            return false;
        }
        // SAFETY: the range lies in the identity-mapped first 4 GiB, and the shim is the only code running.
        unsafe { core::ptr::copy_nonoverlapping(paddr as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }
}

fn write_phys(paddr: u64, bytes: &[u8]) {
    // SAFETY: the targets are Firecracker's fixed boot-structure addresses below 1 MiB (or the initrd's new
    // home at the top of low RAM), which nothing else in this VM uses once the shim runs.
    unsafe { core::ptr::copy(bytes.as_ptr(), paddr as *mut u8, bytes.len()) };
}

struct Serial;
impl Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: COM1's transmit register; the VMM's UART needs no setup to print.
            unsafe { asm!("out dx, al", in("dx") 0x3F8u16, in("al") b) };
        }
        Ok(())
    }
}

fn fail(why: &str) -> ! {
    let _ = writeln!(Serial, "linux64-shim: {why}\r");
    // SAFETY: isa-debug-exit ends the VM with a failure status; nothing else is at that port.
    unsafe { asm!("out dx, al", "2: hlt", "jmp 2b", in("dx") 0xF4u16, in("al") 1u8, options(noreturn)) }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    fail("panic")
}

#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

extern "C" fn shim_main(start_info: u32) -> ! {
    let mut info = BootInfo::empty(Protocol::Pvh, 0);
    if parse_pvh(&mut Identity, start_info as u64, &mut info, &mut |_| {}).is_err() {
        fail("cannot read QEMU's PVH start info");
    }
    // The raw command line (ember_boot keeps at most 4096 bytes; the kernel may be given more).
    let mut paddr = [0u8; 8];
    let at = start_info as u64 + offset_of!(StartInfo, cmdline_paddr) as u64;
    if !Identity.read(at, &mut paddr) {
        fail("cannot read the command line's address");
    }
    let paddr = u64::from_le_bytes(paddr);
    let mut len = 0u64;
    let mut byte = [0u8];
    loop {
        if len == CMDLINE_MAX {
            fail("command line longer than the shim's 64 KiB");
        }
        if !Identity.read(paddr + len, &mut byte) {
            fail("command line unreadable");
        }
        if byte[0] == 0 {
            break;
        }
        len += 1;
    }
    // The shim's words come first; the kernel's line is everything after them.
    let mut own = 0u64;
    loop {
        let mut word = [0u8; 5];
        if len - own < 5 || !Identity.read(paddr + own, &mut word) || &word != b"shim." {
            break;
        }
        while own < len && Identity.read(paddr + own, &mut byte) && byte[0] != b' ' {
            own += 1;
        }
        while own < len && Identity.read(paddr + own, &mut byte) && byte[0] == b' ' {
            own += 1;
        }
    }
    let mut words = [0u8; 512];
    if own as usize > words.len() || !Identity.read(paddr, &mut words[..own as usize]) {
        fail("the shim's own words are too long");
    }
    let Ok(words) = core::str::from_utf8(&words[..own as usize]) else {
        fail("the shim's own words are not UTF-8");
    };
    let shim = Cmdline::new(words);
    let hex = |name| {
        shim.value(name).map(|v| {
            u64::from_str_radix(v.trim_start_matches("0x"), 16)
                .unwrap_or_else(|_| fail("a shim.* address is not hexadecimal"))
        })
    };
    let Some(entry) = hex("shim.entry") else {
        fail("no shim.entry=0x... on the command line");
    };
    let kernel_end = hex("shim.kernel_end").unwrap_or(0);
    let range = |name| {
        shim.value(name).map(|v| {
            let parse = |x: &str| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok();
            v.split_once('+')
                .and_then(|(a, b)| Some((parse(a)?, parse(b)?)))
                .unwrap_or_else(|| fail("shim.initrd and shim.ram take 0xSTART+0xSIZE"))
        })
    };
    let hostile_initrd = range("shim.initrd");
    let extra_ram = range("shim.ram");
    let kernel_len = len - own;
    // SAFETY: both ranges are readable guest memory below 4 GiB (identity-mapped); the destination, up to
    // 0x30000, is Firecracker's command-line area, which nothing else uses; `copy` handles an overlap.
    unsafe { core::ptr::copy((paddr + own) as *const u8, CMDLINE as *mut u8, kernel_len as usize) };
    write_phys(CMDLINE + kernel_len, &[0]);

    let mut zp = [0u8; 4096];
    let mut put = |off: usize, bytes: &[u8]| zp[off..off + bytes.len()].copy_from_slice(bytes);
    let hdr = |f: usize| offset_of!(BootParams, hdr) + f;
    put(hdr(offset_of!(SetupHeader, type_of_loader)), &[0xFF]);
    put(hdr(offset_of!(SetupHeader, boot_flag)), &0xAA55u16.to_le_bytes());
    put(
        hdr(offset_of!(SetupHeader, header)),
        &LINUX_BOOT_HEADER_MAGIC.to_le_bytes(),
    );
    put(
        hdr(offset_of!(SetupHeader, cmd_line_ptr)),
        &(CMDLINE as u32).to_le_bytes(),
    );
    put(
        hdr(offset_of!(SetupHeader, cmdline_size)),
        &(kernel_len as u32 + 1).to_le_bytes(),
    );
    put(
        hdr(offset_of!(SetupHeader, kernel_alignment)),
        &0x100_0000u32.to_le_bytes(),
    );
    put(
        offset_of!(BootParams, acpi_rsdp_addr),
        &info.rsdp.unwrap_or(0).to_le_bytes(),
    );

    let regions = info.memory.regions();
    let entries = regions.len() + usize::from(extra_ram.is_some());
    put(offset_of!(BootParams, e820_entries), &[entries as u8]);
    if let Some((start, size)) = extra_ram {
        let e = offset_of!(BootParams, e820_table) + regions.len() * size_of::<BootE820Entry>();
        put(e, &start.to_le_bytes());
        put(e + 8, &size.to_le_bytes());
        put(e + 16, &1u32.to_le_bytes());
    }
    for (i, r) in regions.iter().enumerate() {
        let e = offset_of!(BootParams, e820_table) + i * size_of::<BootE820Entry>();
        let ty: u32 = match r.kind {
            MemoryKind::Ram => 1,
            MemoryKind::Reserved => 2,
            MemoryKind::AcpiReclaimable => 3,
            MemoryKind::AcpiNvs => 4,
            MemoryKind::Unusable => 5,
            MemoryKind::Other(t) => t,
        };
        put(e, &r.range.start.to_le_bytes());
        put(e + 8, &r.range.len().to_le_bytes());
        put(e + 16, &ty.to_le_bytes());
    }

    let announce = |zp: &mut [u8; 4096], start: u64, size: u64| {
        let mut put = |off: usize, v: u64| zp[off..off + 4].copy_from_slice(&(v as u32).to_le_bytes());
        put(hdr(offset_of!(SetupHeader, ramdisk_image)), start);
        put(hdr(offset_of!(SetupHeader, ramdisk_size)), size);
        put(offset_of!(BootParams, ext_ramdisk_image), start >> 32);
        put(offset_of!(BootParams, ext_ramdisk_size), size >> 32);
    };
    if let Some((start, size)) = hostile_initrd {
        announce(&mut zp, start, size);
    } else if let Some(initrd) = info.initrd {
        // Firecracker puts the initrd at the top of the RAM below the 32-bit gap, page aligned.
        let Some(low) = info.memory.ram().filter(|r| r.end <= 1 << 32).last() else {
            fail("no low RAM for the initrd");
        };
        let Some(at) = low.end.checked_sub(initrd.len()).map(|a| a & !0xFFF) else {
            fail("the initrd is larger than low RAM");
        };
        if at < kernel_end.next_multiple_of(0x1000) || at < low.start {
            fail("the initrd does not fit in low RAM above the kernel");
        }
        // SAFETY: both ranges are RAM in the identity map, above the kernel and the shim (checked above, and
        // the shim lies below 1 MiB); `copy` handles the overlap.
        unsafe { core::ptr::copy(initrd.start as *const u8, at as *mut u8, initrd.len() as usize) };
        announce(&mut zp, at, initrd.len());
    }
    write_phys(ZERO_PAGE, &zp);

    let mut tables = [0u64; 3 * 512];
    tables[0] = PDPT | 3;
    tables[512] = PD | 3;
    for (i, e) in tables[1024..].iter_mut().enumerate() {
        *e = (i as u64) << 21 | 0x83;
    }
    let bytes: [[u8; 8]; 3 * 512] = tables.map(u64::to_le_bytes);
    write_phys(PML4, bytes.as_flattened());
    write_phys(GDT, FIRECRACKER_GDT.map(u64::to_le_bytes).as_flattened());

    let gdt_ptr = [(FIRECRACKER_GDT.len() * 8 - 1) as u64 | GDT << 16, 0];
    // SAFETY: the new page tables identity-map the first GiB, where this code and the new stack live; the GDT
    // keeps 0x08 as a 64-bit code segment. From here on only the target kernel runs.
    unsafe {
        asm!(
            "lgdt [r10]",
            "mov cr3, r9",
            "mov rax, cr4",
            "and rax, ~0x600",
            "mov cr4, rax",
            "mov eax, 0x10",
            "mov ds, eax",
            "mov es, eax",
            "mov ss, eax",
            "mov rsp, {stack}",
            "mov rbp, {stack}",
            "push 0x08",
            "push r8",
            "xor eax, eax",
            "xor ebx, ebx",
            "xor ecx, ecx",
            "xor edx, edx",
            "xor edi, edi",
            "mov esi, {zero_page}",
            "retfq",
            in("r10") &gdt_ptr,
            in("r9") PML4,
            in("r8") entry,
            stack = const STACK,
            zero_page = const ZERO_PAGE,
            options(noreturn),
        );
    }
}
