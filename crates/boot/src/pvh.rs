//! PVH direct boot: an `hvm_start_info` (layout from the `pvh` crate).

use crate::{BootError, BootInfo, CMDLINE_MAX, MAX_REGIONS, PhysMemory, Protocol, Warning};
use core::mem::{offset_of, size_of};
use pvh::start_info::{MemmapTableEntry, ModlistEntry, START_MAGIC_VALUE, StartInfo};

/// Parses the start info at `start_info` into `out`. Fails only when the start info is unreadable or has the
/// wrong magic; everything it points to that is wrong is reported through `warn` and skipped.
pub fn parse_pvh(
    mem: &mut impl PhysMemory,
    start_info: u64,
    out: &mut BootInfo,
    warn: &mut dyn FnMut(Warning),
) -> Result<(), BootError> {
    *out = BootInfo::empty(Protocol::Pvh, start_info);
    let mut si = [0u8; size_of::<StartInfo>()];
    if !mem.read(start_info, &mut si) {
        return Err(BootError::Unreadable(start_info));
    }
    let u32_at = |off: usize| u32::from_le_bytes(si[off..off + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |off: usize| u64::from_le_bytes(si[off..off + 8].try_into().unwrap_or([0; 8]));

    let magic = u32_at(offset_of!(StartInfo, magic));
    if magic != START_MAGIC_VALUE {
        return Err(BootError::BadStartInfoMagic(magic));
    }

    // The memory map exists from version 1 on; every VMM that boots ember (QEMU, Firecracker) provides it.
    if u32_at(offset_of!(StartInfo, version)) >= 1 {
        let table = u64_at(offset_of!(StartInfo, memmap_paddr));
        let claimed = u32_at(offset_of!(StartInfo, memmap_entries)) as usize;
        if claimed > MAX_REGIONS {
            warn(Warning::TooManyRegions {
                claimed: claimed as u64,
            });
        }
        for i in 0..claimed.min(MAX_REGIONS) {
            let paddr = table.wrapping_add((i * size_of::<MemmapTableEntry>()) as u64);
            let mut e = [0u8; size_of::<MemmapTableEntry>()];
            if !mem.read(paddr, &mut e) {
                warn(Warning::MemoryMapUnreadable { paddr });
                break;
            }
            let field = |off: usize| u64::from_le_bytes(e[off..off + 8].try_into().unwrap_or([0; 8]));
            let ty = offset_of!(MemmapTableEntry, ty);
            let ty = u32::from_le_bytes(e[ty..ty + 4].try_into().unwrap_or([0; 4]));
            out.memory.insert(
                field(offset_of!(MemmapTableEntry, addr)),
                field(offset_of!(MemmapTableEntry, size)),
                ty,
                warn,
            );
        }
    }

    out.read_cmdline(mem, u64_at(offset_of!(StartInfo, cmdline_paddr)), CMDLINE_MAX + 1, warn);

    // Module 0 is the initrd, as Firecracker and QEMU pass it.
    if u32_at(offset_of!(StartInfo, nr_modules)) > 0 {
        let modlist = u64_at(offset_of!(StartInfo, modlist_paddr));
        let mut m = [0u8; size_of::<ModlistEntry>()];
        if mem.read(modlist, &mut m) {
            let field = |off: usize| u64::from_le_bytes(m[off..off + 8].try_into().unwrap_or([0; 8]));
            let paddr = field(offset_of!(ModlistEntry, paddr));
            let size = field(offset_of!(ModlistEntry, size));
            out.set_initrd(paddr, size, warn);
        } else {
            warn(Warning::ModulesUnreadable { paddr: modlist });
        }
    }

    let rsdp = u64_at(offset_of!(StartInfo, rsdp_paddr));
    out.rsdp = (rsdp != 0).then_some(rsdp);

    if out.memory.ram_bytes() == 0 {
        return Err(BootError::NoRam);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhysRange;
    use crate::testmem::TestMem;

    const SI: usize = 0x6000;
    const MODLIST: usize = 0x6040;
    const MEMMAP: usize = 0x7000;
    const CMDLINE: usize = 0x20000;

    /// A start info as Firecracker writes it (`arch/x86_64/mod.rs`, `configure_pvh`).
    fn firecracker_start_info(mem: &mut TestMem, cmdline: &str, entries: &[(u64, u64, u32)]) {
        mem.put_u32(SI + offset_of!(StartInfo, magic), START_MAGIC_VALUE);
        mem.put_u32(SI + offset_of!(StartInfo, version), 1);
        mem.put_u64(SI + offset_of!(StartInfo, cmdline_paddr), CMDLINE as u64);
        mem.put_bytes(CMDLINE, cmdline.as_bytes());
        mem.put_u64(SI + offset_of!(StartInfo, memmap_paddr), MEMMAP as u64);
        mem.put_u32(SI + offset_of!(StartInfo, memmap_entries), entries.len() as u32);
        for (i, &(a, s, t)) in entries.iter().enumerate() {
            let e = MEMMAP + i * size_of::<MemmapTableEntry>();
            mem.put_u64(e, a);
            mem.put_u64(e + 8, s);
            mem.put_u32(e + 16, t);
        }
    }

    fn parse(mem: &mut TestMem) -> (Result<(), BootError>, BootInfo, Vec<Warning>) {
        let mut info = BootInfo::empty(Protocol::Linux64, 0);
        let mut w = Vec::new();
        let r = parse_pvh(mem, SI as u64, &mut info, &mut |x| w.push(x));
        (r, info, w)
    }

    #[test]
    fn command_line_of_exactly_the_maximum_is_whole() {
        let mut mem = TestMem::new(0x30000);
        let line = "x".repeat(CMDLINE_MAX);
        firecracker_start_info(&mut mem, &line, &SIX_GIB);
        let (_, info, w) = parse(&mut mem);
        assert_eq!(info.cmdline().len(), CMDLINE_MAX);
        assert!(!w.contains(&Warning::CmdlineTruncated), "{w:?}");
    }

    #[test]
    fn command_line_one_past_the_maximum_is_cut() {
        let mut mem = TestMem::new(0x30000);
        let line = "x".repeat(CMDLINE_MAX + 1);
        firecracker_start_info(&mut mem, &line, &SIX_GIB);
        let (_, info, w) = parse(&mut mem);
        assert_eq!(info.cmdline().len(), CMDLINE_MAX);
        assert!(w.contains(&Warning::CmdlineTruncated), "{w:?}");
    }

    const SIX_GIB: [(u64, u64, u32); 3] = [
        (0, 0x9fc00, 1),
        (0x10_0000, 0xc000_0000 - 0x10_0000, 1),
        (0x1_0000_0000, 0x8000_0000 + 0x4000_0000, 1),
    ];

    #[test]
    fn firecracker_start_info_with_initrd() {
        let mut mem = TestMem::new(0x30000);
        firecracker_start_info(&mut mem, "console=ttyS0", &SIX_GIB);
        mem.put_u32(SI + offset_of!(StartInfo, nr_modules), 1);
        mem.put_u64(SI + offset_of!(StartInfo, modlist_paddr), MODLIST as u64);
        mem.put_u64(MODLIST, 0xbff0_0000);
        mem.put_u64(MODLIST + 8, 0x1234);
        let (r, info, w) = parse(&mut mem);
        assert_eq!(r, Ok(()));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(info.protocol, Protocol::Pvh);
        assert_eq!(info.cmdline(), "console=ttyS0");
        assert_eq!(info.rsdp, None);
        assert_eq!(info.initrd, Some(PhysRange::new(0xbff0_0000, 0xbff0_1234)));
        assert_eq!(info.memory.ram_bytes(), (6u64 << 30) - 0x10_0000 + 0x9fc00);
    }

    #[test]
    fn bad_magic_and_unreadable_start_info_fail() {
        let mut mem = TestMem::new(0x30000);
        assert_eq!(parse(&mut mem).0, Err(BootError::BadStartInfoMagic(0)));
        let mut tiny = TestMem::new(0x6010);
        assert_eq!(parse(&mut tiny).0, Err(BootError::Unreadable(SI as u64)));
    }

    #[test]
    fn hostile_pointers_and_counts_are_reported() {
        let mut mem = TestMem::new(0x30000);
        firecracker_start_info(&mut mem, "", &SIX_GIB);
        // Memory map claims a billion entries; only the readable real ones count.
        mem.put_u32(SI + offset_of!(StartInfo, memmap_entries), 1_000_000_000);
        mem.put_u64(SI + offset_of!(StartInfo, cmdline_paddr), u64::MAX - 3);
        mem.put_u32(SI + offset_of!(StartInfo, nr_modules), 7);
        mem.put_u64(SI + offset_of!(StartInfo, modlist_paddr), 0xdead_beef_0000);
        let (r, info, w) = parse(&mut mem);
        assert_eq!(r, Ok(()));
        assert_eq!(info.memory.ram_bytes(), (6u64 << 30) - 0x10_0000 + 0x9fc00);
        assert!(w.contains(&Warning::TooManyRegions { claimed: 1_000_000_000 }));
        assert!(w.iter().any(|x| matches!(x, Warning::CmdlineUnreadable { .. })));
        assert!(w.contains(&Warning::ModulesUnreadable {
            paddr: 0xdead_beef_0000
        }));
        assert_eq!(info.initrd, None);
    }

    #[test]
    fn memory_map_running_off_readable_memory_stops_cleanly() {
        let mut mem = TestMem::new(0x30000);
        firecracker_start_info(&mut mem, "", &SIX_GIB);
        mem.put_u64(SI + offset_of!(StartInfo, memmap_paddr), 0x30000 - 24 * 2);
        mem.put_u32(SI + offset_of!(StartInfo, memmap_entries), 3);
        let (_, _, w) = parse(&mut mem);
        assert!(w.iter().any(|x| matches!(x, Warning::MemoryMapUnreadable { .. })));
    }

    #[test]
    fn command_line_near_the_end_of_readable_memory_is_read_whole() {
        // Found by the pvh fuzz target's command-line model: the line was read in 64-byte chunks, and a chunk
        // reaching past readable memory was dropped whole, cutting the line silently.
        let mut mem = TestMem::new(0x30000);
        firecracker_start_info(&mut mem, "", &SIX_GIB);
        let at = 0x30000 - 100;
        mem.put_u64(SI + offset_of!(StartInfo, cmdline_paddr), at as u64);
        mem.put_bytes(at, &[b'a'; 90]);
        let (_, info, w) = parse(&mut mem);
        assert_eq!(info.cmdline(), "a".repeat(90));
        assert!(w.is_empty(), "{w:?}");
        // Without a NUL before the end, the line is what could be read.
        mem.put_bytes(at, &[b'b'; 100]);
        assert_eq!(parse(&mut mem).1.cmdline(), "b".repeat(100));
    }

    #[test]
    fn command_line_longer_than_the_buffer_is_cut() {
        let mut mem = TestMem::new(0x30000);
        firecracker_start_info(&mut mem, "", &SIX_GIB);
        mem.put_bytes(CMDLINE, &[b'a'; CMDLINE_MAX + 100]);
        let (_, info, w) = parse(&mut mem);
        assert_eq!(info.cmdline().len(), CMDLINE_MAX);
        assert!(w.contains(&Warning::CmdlineTruncated));
    }
}
