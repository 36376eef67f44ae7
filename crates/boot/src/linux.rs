//! The 64-bit Linux boot protocol: a `boot_params` zero page (layout from the `linux-boot-params` crate).

use crate::{BootError, BootInfo, PhysMemory, Protocol, Warning};
use core::mem::{offset_of, size_of};
use linux_boot_params::{BootE820Entry, BootParams, LINUX_BOOT_HEADER_MAGIC, SetupHeader};

const ZERO_PAGE_SIZE: usize = 4096;
const BOOT_FLAG: u16 = 0xAA55;
/// What Linux assumes when `cmdline_size` is zero (boot protocols before 2.06).
const DEFAULT_CMDLINE_SIZE: usize = 255;

const fn hdr(field: usize) -> usize {
    offset_of!(BootParams, hdr) + field
}

/// Parses the zero page at `zero_page` into `out`. Fails only when the zero page itself is unreadable or is not a
/// zero page; everything inside it that is wrong is reported through `warn` and skipped.
pub fn parse_linux(
    mem: &mut impl PhysMemory,
    zero_page: u64,
    out: &mut BootInfo,
    warn: &mut dyn FnMut(Warning),
) -> Result<(), BootError> {
    *out = BootInfo::empty(Protocol::Linux64, zero_page);
    let mut zp = [0u8; ZERO_PAGE_SIZE];
    if !mem.read(zero_page, &mut zp) {
        return Err(BootError::Unreadable(zero_page));
    }
    let u8_at = |off: usize| zp[off];
    let u16_at = |off: usize| u16::from_le_bytes([zp[off], zp[off + 1]]);
    let u32_at = |off: usize| u32::from_le_bytes(zp[off..off + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |off: usize| u64::from_le_bytes(zp[off..off + 8].try_into().unwrap_or([0; 8]));

    let header = u32_at(hdr(offset_of!(SetupHeader, header)));
    let boot_flag = u16_at(hdr(offset_of!(SetupHeader, boot_flag)));
    if header != LINUX_BOOT_HEADER_MAGIC || boot_flag != BOOT_FLAG {
        return Err(BootError::BadZeroPage { header, boot_flag });
    }

    let claimed = u8_at(offset_of!(BootParams, e820_entries)) as usize;
    let table = offset_of!(BootParams, e820_table);
    let entry_size = size_of::<BootE820Entry>();
    let capacity = (offset_of!(BootParams, _pad8) - table) / entry_size;
    if claimed > capacity {
        warn(Warning::TooManyRegions {
            claimed: claimed as u64,
        });
    }
    for i in 0..claimed.min(capacity) {
        let e = table + i * entry_size;
        let addr = u64_at(e + offset_of!(BootE820Entry, addr));
        let size = u64_at(e + offset_of!(BootE820Entry, size));
        let ty = u32_at(e + offset_of!(BootE820Entry, typ));
        out.memory.insert(addr, size, ty, warn);
    }

    let cmdline = u32_at(hdr(offset_of!(SetupHeader, cmd_line_ptr))) as u64
        | (u32_at(offset_of!(BootParams, ext_cmd_line_ptr)) as u64) << 32;
    let cmdline_size = match u32_at(hdr(offset_of!(SetupHeader, cmdline_size))) as usize {
        0 => DEFAULT_CMDLINE_SIZE,
        n => n,
    };
    out.read_cmdline(mem, cmdline, cmdline_size, warn);

    let initrd = u32_at(hdr(offset_of!(SetupHeader, ramdisk_image))) as u64
        | (u32_at(offset_of!(BootParams, ext_ramdisk_image)) as u64) << 32;
    let initrd_size = u32_at(hdr(offset_of!(SetupHeader, ramdisk_size))) as u64
        | (u32_at(offset_of!(BootParams, ext_ramdisk_size)) as u64) << 32;
    out.set_initrd(initrd, initrd_size, warn);

    let rsdp = u64_at(offset_of!(BootParams, acpi_rsdp_addr));
    out.rsdp = (rsdp != 0).then_some(rsdp);

    if out.memory.ram_bytes() == 0 {
        return Err(BootError::NoRam);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::TestMem;
    use crate::{MemoryKind, PhysRange};

    const ZP: u64 = 0x7000;
    const CMDLINE: u64 = 0x20000;

    /// A zero page as Firecracker writes it (`arch/x86_64/mod.rs`, `configure_64bit_boot`).
    fn firecracker_zero_page(mem: &mut TestMem, cmdline: &str, mem_size: u64) {
        let z = ZP as usize;
        mem.put_u32(z + hdr(offset_of!(SetupHeader, header)), LINUX_BOOT_HEADER_MAGIC);
        mem.put_u16(z + hdr(offset_of!(SetupHeader, boot_flag)), BOOT_FLAG);
        mem.put_u8(z + hdr(offset_of!(SetupHeader, type_of_loader)), 0xff);
        mem.put_u32(z + hdr(offset_of!(SetupHeader, cmd_line_ptr)), CMDLINE as u32);
        mem.put_u32(z + hdr(offset_of!(SetupHeader, cmdline_size)), cmdline.len() as u32 + 1);
        mem.put_bytes(CMDLINE as usize, cmdline.as_bytes());
        mem.put_u64(z + offset_of!(BootParams, acpi_rsdp_addr), 0xe0000);
        let entries = [
            (0, 0x9fc00, 1),
            (0x9fc00, 0xe0000 - 0x9fc00, 2),
            (0x10_0000, mem_size - 0x10_0000, 1),
            (0xeec0_0000, 0x1000_0000, 2),
        ];
        set_e820(mem, &entries);
    }

    fn set_e820(mem: &mut TestMem, entries: &[(u64, u64, u32)]) {
        let z = ZP as usize;
        mem.put_u8(z + offset_of!(BootParams, e820_entries), entries.len() as u8);
        for (i, &(a, s, t)) in entries.iter().enumerate() {
            let e = z + offset_of!(BootParams, e820_table) + i * size_of::<BootE820Entry>();
            mem.put_u64(e, a);
            mem.put_u64(e + 8, s);
            mem.put_u32(e + 16, t);
        }
    }

    fn parse(mem: &mut TestMem) -> (Result<(), BootError>, BootInfo, Vec<Warning>) {
        let mut info = BootInfo::empty(Protocol::Pvh, 0);
        let mut w = Vec::new();
        let r = parse_linux(mem, ZP, &mut info, &mut |x| w.push(x));
        (r, info, w)
    }

    #[test]
    fn parses_a_firecracker_zero_page() {
        let mut mem = TestMem::new(0x30000);
        let cmdline = "console=ttyS0 reboot=k panic=1 pci=off virtio_mmio.device=4K@0xc0001000:5";
        firecracker_zero_page(&mut mem, cmdline, 128 << 20);
        let (r, info, w) = parse(&mut mem);
        assert_eq!(r, Ok(()));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(info.protocol, Protocol::Linux64);
        assert_eq!(info.cmdline(), cmdline);
        assert_eq!(info.rsdp, Some(0xe0000));
        assert_eq!(info.initrd, None);
        assert_eq!(info.memory.regions().len(), 4);
        assert_eq!(info.memory.ram_bytes(), 0x9fc00 + (128 << 20) - 0x10_0000);
        assert_eq!(info.memory.regions()[3].kind, MemoryKind::Reserved);
    }

    #[test]
    fn initrd_uses_the_ext_high_halves() {
        let mut mem = TestMem::new(0x30000);
        firecracker_zero_page(&mut mem, "", 128 << 20);
        let z = ZP as usize;
        mem.put_u32(z + hdr(offset_of!(SetupHeader, ramdisk_image)), 0x7f0_0000);
        mem.put_u32(z + hdr(offset_of!(SetupHeader, ramdisk_size)), 0x10_0000);
        mem.put_u32(z + offset_of!(BootParams, ext_ramdisk_image), 1);
        mem.put_u32(z + offset_of!(BootParams, ext_ramdisk_size), 0);
        let (r, info, _) = parse(&mut mem);
        assert_eq!(r, Ok(()));
        assert_eq!(info.initrd, Some(PhysRange::new(0x1_07f0_0000, 0x1_0800_0000)));
    }

    #[test]
    fn not_a_zero_page_is_an_error() {
        let mut mem = TestMem::new(0x30000);
        let (r, _, _) = parse(&mut mem);
        assert_eq!(
            r,
            Err(BootError::BadZeroPage {
                header: 0,
                boot_flag: 0
            })
        );
        let mut small = TestMem::new(0x7800);
        assert_eq!(parse(&mut small).0, Err(BootError::Unreadable(ZP)));
    }

    #[test]
    fn hostile_fields_are_clamped_and_reported() {
        let mut mem = TestMem::new(0x30000);
        firecracker_zero_page(&mut mem, "", 64 << 20);
        let z = ZP as usize;
        // A claimed count past the table, a command line pointer far outside memory, and a wrapping initrd.
        mem.put_u8(z + offset_of!(BootParams, e820_entries), 255);
        mem.put_u32(z + hdr(offset_of!(SetupHeader, cmd_line_ptr)), 0xffff_f000);
        mem.put_u32(z + offset_of!(BootParams, ext_cmd_line_ptr), 0xffff_ffff);
        mem.put_u32(z + hdr(offset_of!(SetupHeader, ramdisk_image)), 0xffff_f000);
        mem.put_u32(z + offset_of!(BootParams, ext_ramdisk_image), 0xffff_ffff);
        mem.put_u32(z + hdr(offset_of!(SetupHeader, ramdisk_size)), 0x2000);
        let (r, info, w) = parse(&mut mem);
        assert_eq!(r, Ok(()));
        assert_eq!(info.cmdline(), "");
        assert_eq!(info.initrd, None);
        assert!(w.contains(&Warning::TooManyRegions { claimed: 255 }));
        assert!(w.iter().any(|x| matches!(x, Warning::CmdlineUnreadable { .. })));
        assert!(w.iter().any(|x| matches!(x, Warning::BadInitrd { .. })));
        assert!(info.memory.ram_bytes() > 0);
    }

    #[test]
    fn no_ram_is_an_error() {
        let mut mem = TestMem::new(0x30000);
        firecracker_zero_page(&mut mem, "", 64 << 20);
        set_e820(&mut mem, &[(0, 0x1000, 2)]);
        assert_eq!(parse(&mut mem).0, Err(BootError::NoRam));
    }

    #[test]
    fn unterminated_command_line_stops_at_cmdline_size() {
        let mut mem = TestMem::new(0x30000);
        firecracker_zero_page(&mut mem, "", 64 << 20);
        mem.put_bytes(CMDLINE as usize, &[b'x'; 300]);
        mem.put_u32(ZP as usize + hdr(offset_of!(SetupHeader, cmdline_size)), 100);
        let (_, info, _) = parse(&mut mem);
        assert_eq!(info.cmdline().len(), 100);
    }

    #[test]
    fn command_line_of_exactly_the_maximum_is_whole() {
        let mut mem = TestMem::new(0x30000);
        firecracker_zero_page(&mut mem, "", 64 << 20);
        mem.put_bytes(CMDLINE as usize, &[b'x'; crate::CMDLINE_MAX]);
        mem.put_u32(
            ZP as usize + hdr(offset_of!(SetupHeader, cmdline_size)),
            crate::CMDLINE_MAX as u32 + 1,
        );
        let (_, info, w) = parse(&mut mem);
        assert_eq!(info.cmdline().len(), crate::CMDLINE_MAX);
        assert!(!w.contains(&Warning::CmdlineTruncated), "{w:?}");
    }

    #[test]
    fn non_utf8_command_line_is_made_ascii() {
        let mut mem = TestMem::new(0x30000);
        firecracker_zero_page(&mut mem, "", 64 << 20);
        mem.put_bytes(CMDLINE as usize, b"a=\xff\xfe b\0");
        mem.put_u32(ZP as usize + hdr(offset_of!(SetupHeader, cmdline_size)), 2048);
        let (_, info, w) = parse(&mut mem);
        assert_eq!(info.cmdline(), "a=?? b");
        assert!(w.contains(&Warning::CmdlineNotUtf8));
    }
}
