//! ELF images built by a small writer, and stacks decoded back.

use std::string::ToString;
use std::vec::Vec;

use crate::*;

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PT_GNU_STACK: u32 = 0x6474_e551;
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

#[derive(Clone, Copy)]
struct Ph {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

const fn ph(ty: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        ty,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
        align: 0x1000,
    }
}

/// An ELF64 x86-64 image: header, program headers at offset 64, zeros up to `len`.
fn elf(e_type: u16, entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
    let mut f = std::vec![0u8; len];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // ELFDATA2LSB
    f[6] = 1; // EV_CURRENT
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&u16::try_from(phdrs.len()).unwrap().to_le_bytes());
    for (i, p) in phdrs.iter().enumerate() {
        let at = 64 + 56 * i;
        let h = &mut f[at..at + 56];
        h[0..4].copy_from_slice(&p.ty.to_le_bytes());
        h[4..8].copy_from_slice(&p.flags.to_le_bytes());
        h[8..16].copy_from_slice(&p.offset.to_le_bytes());
        h[16..24].copy_from_slice(&p.vaddr.to_le_bytes());
        h[24..32].copy_from_slice(&p.vaddr.to_le_bytes());
        h[32..40].copy_from_slice(&p.filesz.to_le_bytes());
        h[40..48].copy_from_slice(&p.memsz.to_le_bytes());
        h[48..56].copy_from_slice(&p.align.to_le_bytes());
    }
    f
}

/// A typical `ld -static` layout: headers+rodata R, text RX, data RW with bss, non-executable stack.
fn static_phdrs() -> Vec<Ph> {
    std::vec![
        ph(PT_LOAD, R, 0, 0x40_0000, 0x1000, 0x1000),
        ph(PT_LOAD, R | X, 0x1000, 0x40_1000, 0x234, 0x234),
        ph(PT_LOAD, R | W, 0x2010, 0x40_3010, 0x20, 0x2000),
        Ph {
            align: 16,
            ..ph(PT_GNU_STACK, R | W, 0, 0, 0, 0)
        },
    ]
}

fn static_exe() -> Vec<u8> {
    elf(2, 0x40_1000, &static_phdrs(), 0x2030)
}

/// A static PIE: the same layout linked at 0.
fn static_pie(align: u64) -> Vec<u8> {
    let phdrs: Vec<Ph> = static_phdrs()
        .into_iter()
        .map(|p| Ph {
            vaddr: p.vaddr.saturating_sub(0x40_0000),
            align: if p.ty == PT_LOAD { align } else { p.align },
            ..p
        })
        .collect();
    elf(3, 0x1000, &phdrs, 0x2030)
}

fn err(file: &[u8]) -> ElfError {
    LoadPlan::parse(file).unwrap_err()
}

#[test]
fn static_executable() {
    let file = static_exe();
    let plan = LoadPlan::parse(&file).unwrap();
    assert_eq!(plan.kind, Kind::Static);
    assert_eq!(plan.entry, 0x40_1000);
    assert_eq!(plan.phnum, 4);
    assert_eq!(plan.phent, 56);
    assert!(!plan.stack_executable);
    assert_eq!(plan.align, 0x1000);
    // No PT_PHDR: the table's address comes from the segment holding e_phoff.
    assert_eq!(plan.phdr_vaddr, Some(0x40_0040));
    let s = &plan.segments;
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].readable, s[0].writable, s[0].executable), (true, false, false));
    assert_eq!((s[1].readable, s[1].writable, s[1].executable), (true, false, true));
    assert_eq!((s[2].readable, s[2].writable, s[2].executable), (true, true, false));
    assert_eq!(
        s[2],
        Segment {
            vaddr: 0x40_3010,
            mem_size: 0x2000,
            file_offset: 0x2010,
            file_size: 0x20,
            readable: true,
            writable: true,
            executable: false
        }
    );
    assert_eq!(s[1].file_bytes(&file).map(<[u8]>::len), Some(0x234));
    assert_eq!(plan.extent(), (0x40_0000, 0x40_5010));
    assert_eq!(load_bias(&plan, ELF_ET_DYN_BASE), Ok(0));
}

#[test]
fn pt_phdr_and_gnu_stack_flags() {
    let mut phdrs = static_phdrs();
    phdrs.insert(0, ph(PT_PHDR, R, 64, 0x40_0040, 5 * 56, 5 * 56));
    phdrs[4].flags = R | W | X;
    let plan = LoadPlan::parse(&elf(2, 0x40_1000, &phdrs, 0x2030)).unwrap();
    assert_eq!(plan.phdr_vaddr, Some(0x40_0040));
    assert!(plan.stack_executable);

    // A PT_PHDR outside every segment is ignored in favour of the computed address.
    phdrs[0].vaddr = 0x10_0000;
    let plan = LoadPlan::parse(&elf(2, 0x40_1000, &phdrs, 0x2030)).unwrap();
    assert_eq!(plan.phdr_vaddr, Some(0x40_0040));

    // Program headers in no segment: no address.
    let mut phdrs = static_phdrs();
    phdrs[0] = ph(PT_LOAD, R, 0x1000, 0x40_0000, 0, 0x1000);
    let plan = LoadPlan::parse(&elf(2, 0x40_1000, &phdrs, 0x2030)).unwrap();
    assert_eq!(plan.phdr_vaddr, None);
}

#[test]
fn static_pie_bias() {
    assert_eq!(ELF_ET_DYN_BASE, 0x5555_5555_4000);
    let plan = LoadPlan::parse(&static_pie(0x1000)).unwrap();
    assert_eq!(plan.kind, Kind::StaticPie);
    assert_eq!(plan.entry, 0x1000);
    assert_eq!(plan.phdr_vaddr, Some(0x40));
    assert_eq!(load_bias(&plan, ELF_ET_DYN_BASE), Ok(0x5555_5555_4000));
    assert_eq!(load_bias(&plan, 0x1_2345_6789), Ok(0x1_2345_6000));
    let aux = AuxValues::new(&plan, 0x5555_5555_4000);
    assert_eq!(
        (aux.entry, aux.phdr, aux.phnum, aux.phent),
        (0x5555_5555_5000, 0x5555_5555_4040, 4, 56)
    );

    // A 2 MiB p_align rounds the bias down to 2 MiB.
    let plan = LoadPlan::parse(&static_pie(0x20_0000)).unwrap();
    assert_eq!(plan.align, 0x20_0000);
    assert_eq!(load_bias(&plan, ELF_ET_DYN_BASE), Ok(0x5555_5540_0000));

    // Bases that would put the image in page zero or past user space.
    let plan = LoadPlan::parse(&static_pie(0x1000)).unwrap();
    assert_eq!(load_bias(&plan, 0), Err(ElfError::AddressOutOfRange { bias: 0 }));
    assert_eq!(
        load_bias(&plan, USER_END - 0x1000),
        Err(ElfError::AddressOutOfRange {
            bias: USER_END - 0x1000
        })
    );
    assert!(load_bias(&plan, USER_END - 0x5000).is_err());
    assert_eq!(load_bias(&plan, USER_END - 0x5010), Ok(USER_END - 0x6000));
    assert_eq!(load_bias(&plan, USER_END - 0x6000), Ok(USER_END - 0x6000));
    assert!(load_bias(&plan, u64::MAX).is_err());
}

#[test]
fn rejects_header_problems() {
    let good = static_exe();
    assert_eq!(err(b""), ElfError::NotElf);
    assert_eq!(err(b"#!/bin/sh\n"), ElfError::NotElf);
    assert_eq!(err(b"\x7fEL"), ElfError::Truncated { needed: 64 });
    let patch = |at: usize, bytes: &[u8]| {
        let mut f = good.clone();
        f[at..at + bytes.len()].copy_from_slice(bytes);
        f
    };
    assert_eq!(err(&patch(4, &[1])), ElfError::Not64Bit(1));
    assert_eq!(err(&patch(5, &[2])), ElfError::NotLittleEndian(2));
    assert_eq!(err(&patch(16, &1u16.to_le_bytes())), ElfError::NotExecutable(1));
    assert_eq!(err(&patch(16, &4u16.to_le_bytes())), ElfError::NotExecutable(4));
    assert_eq!(err(&patch(18, &3u16.to_le_bytes())), ElfError::WrongMachine(3));
    assert_eq!(err(&patch(18, &183u16.to_le_bytes())), ElfError::WrongMachine(183));
    assert_eq!(err(&patch(54, &32u16.to_le_bytes())), ElfError::BadPhentsize(32));
    assert_eq!(err(&patch(56, &0u16.to_le_bytes())), ElfError::BadPhnum(0));
    assert_eq!(err(&patch(56, &0xffffu16.to_le_bytes())), ElfError::BadPhnum(0xffff));
    assert_eq!(
        err(&patch(56, &1000u16.to_le_bytes())),
        ElfError::Truncated { needed: 64 + 56 * 1000 }
    );
    assert_eq!(
        err(&patch(32, &u64::MAX.to_le_bytes())),
        ElfError::Truncated { needed: u64::MAX }
    );
    assert_eq!(
        err(&patch(32, &0x2000u64.to_le_bytes())),
        ElfError::Truncated {
            needed: 0x2000 + 4 * 56
        }
    );
}

#[test]
fn rejects_dynamic_programs() {
    let interp = b"/lib/ld-musl-x86_64.so.1\0";
    let mut phdrs = static_phdrs();
    phdrs.insert(
        0,
        ph(PT_INTERP, R, 0x300, 0x40_0300, interp.len() as u64, interp.len() as u64),
    );
    let mut file = elf(3, 0x1000, &phdrs, 0x2030);
    file[0x300..0x300 + interp.len()].copy_from_slice(interp);
    let e = err(&file);
    assert_eq!(e, ElfError::Interpreter("/lib/ld-musl-x86_64.so.1".into()));
    assert_eq!(
        e.to_string(),
        "dynamically linked (PT_INTERP /lib/ld-musl-x86_64.so.1): not supported"
    );

    phdrs[0].offset = 0x1_0000;
    assert_eq!(
        err(&elf(3, 0x1000, &phdrs, 0x2030)),
        ElfError::SegmentOutsideFile { index: 0 }
    );
}

#[test]
fn rejects_segment_problems() {
    let with = |i: usize, f: &dyn Fn(&mut Ph)| {
        let mut phdrs = static_phdrs();
        f(&mut phdrs[i]);
        err(&elf(2, 0x40_1000, &phdrs, 0x2030))
    };
    assert_eq!(
        with(2, &|p| p.filesz = 0x3000),
        ElfError::FileSizeExceedsMemSize { index: 2 }
    );
    assert_eq!(with(2, &|p| p.filesz = 0x21), ElfError::SegmentOutsideFile { index: 2 });
    assert_eq!(
        with(2, &|p| p.offset = u64::MAX - 4),
        ElfError::SegmentOutsideFile { index: 2 }
    );
    assert_eq!(with(2, &|p| p.vaddr += 8), ElfError::Misaligned { index: 2 });
    assert_eq!(
        with(2, &|p| p.vaddr = 0x40_1010),
        ElfError::OverlappingSegments { index: 2 }
    );
    assert_eq!(
        with(2, &|p| p.vaddr = 0x30_0010),
        ElfError::OverlappingSegments { index: 2 }
    );
    assert_eq!(
        with(2, &|p| p.memsz = u64::MAX),
        ElfError::AddressOutOfRange { bias: 0 }
    );
    assert_eq!(
        with(2, &|p| p.vaddr = USER_END - 0x1ff0),
        ElfError::AddressOutOfRange { bias: 0 }
    );
    assert_eq!(with(1, &|p| p.flags = R), ElfError::EntryNotExecutable(0x40_1000));
    // Linked at page zero.
    let mut phdrs = static_phdrs();
    for p in &mut phdrs {
        p.vaddr = p.vaddr.saturating_sub(0x40_0000);
    }
    assert_eq!(
        err(&elf(2, 0x1000, &phdrs, 0x2030)),
        ElfError::AddressOutOfRange { bias: 0 }
    );
    // No loadable segment (a PT_LOAD without memory does not count).
    let phdrs = [
        ph(PT_LOAD, R | X, 0, 0x40_0000, 0, 0),
        ph(PT_GNU_STACK, R | W, 0, 0, 0, 0),
    ];
    assert_eq!(err(&elf(2, 0x40_0000, &phdrs, 0x200)), ElfError::NoLoadSegment);
    // The entry point outside every segment.
    assert_eq!(
        err(&elf(2, 0x50_0000, &static_phdrs(), 0x2030)),
        ElfError::EntryNotExecutable(0x50_0000)
    );
}

#[test]
fn every_truncation_fails_without_panicking() {
    for file in [static_exe(), static_pie(0x1000)] {
        assert!(LoadPlan::parse(&file).is_ok());
        for len in 0..file.len() {
            assert!(LoadPlan::parse(&file[..len]).is_err(), "length {len}");
        }
    }
}

#[test]
fn corrupted_headers_never_panic() {
    let file = static_exe();
    let header_bytes = 64 + 4 * 56;
    for i in 0..header_bytes {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut f = file.clone();
            f[i] = v;
            if let Ok(plan) = LoadPlan::parse(&f) {
                let _ = load_bias(&plan, ELF_ET_DYN_BASE);
                let _ = load_bias(&plan, u64::MAX);
            }
        }
    }
}

#[test]
fn errors_print_as_log_lines() {
    for e in [
        ElfError::NotElf,
        ElfError::WrongMachine(3),
        ElfError::OverlappingSegments { index: 2 },
        ElfError::AddressOutOfRange { bias: 0x1000 },
    ] {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains('\n'), "{s}");
    }
    assert_eq!(
        StackError::TooBig { needed: 10, limit: 5 }.to_string(),
        "argument list too long (E2BIG): stack needs 10 bytes, limit 5"
    );
}

// ---- stack ----

const TOP: u64 = 0x7fff_ffff_e000;
const RANDOM: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

fn aux() -> AuxValues {
    let plan = LoadPlan::parse(&static_exe()).unwrap();
    AuxValues {
        hwcap: 0x178b_fbff,
        uid: 1000,
        euid: 1001,
        gid: 100,
        egid: 101,
        ..AuxValues::new(&plan, 0)
    }
}

/// Reads user memory from a stack image.
struct Mem<'a>(&'a StackImage);

impl Mem<'_> {
    fn bytes(&self, addr: u64, len: usize) -> &[u8] {
        let at = usize::try_from(addr - self.0.rsp).unwrap();
        &self.0.bytes[at..at + len]
    }
    fn word(&self, addr: u64) -> u64 {
        u64::from_le_bytes(self.bytes(addr, 8).try_into().unwrap())
    }
    fn cstr(&self, addr: u64) -> &[u8] {
        let at = usize::try_from(addr - self.0.rsp).unwrap();
        let rest = &self.0.bytes[at..];
        &rest[..rest.iter().position(|&b| b == 0).unwrap()]
    }
}

#[test]
fn stack_layout_decodes() {
    let argv: [&[u8]; 3] = [b"/bin/sh", b"-c", b"echo hi"];
    let envp: [&[u8]; 2] = [b"HOME=/", b"TERM=linux"];
    let img = build_stack(TOP, &argv, &envp, b"/bin/sh", RANDOM, &aux(), 128 * 1024).unwrap();
    let m = Mem(&img);
    assert_eq!(img.rsp % 16, 0);
    assert_eq!(img.rsp + img.bytes.len() as u64, TOP);
    assert_eq!(m.word(img.rsp), 3);
    assert_eq!(img.argc, 3);
    assert_eq!(img.argv, img.rsp + 8);

    // argv pointers, NULL, envp pointers, NULL, auxv.
    for (i, a) in argv.iter().enumerate() {
        assert_eq!(m.cstr(m.word(img.argv + 8 * i as u64)), *a);
    }
    assert_eq!(m.word(img.argv + 24), 0);
    assert_eq!(img.envp, img.argv + 32);
    for (i, e) in envp.iter().enumerate() {
        assert_eq!(m.cstr(m.word(img.envp + 8 * i as u64)), *e);
    }
    assert_eq!(m.word(img.envp + 16), 0);
    assert_eq!(img.auxv, img.envp + 24);

    let mut pairs = Vec::new();
    let mut at = img.auxv;
    loop {
        let (k, v) = (m.word(at), m.word(at + 8));
        pairs.push((k, v));
        at += 16;
        if k == 0 {
            break;
        }
    }
    assert_eq!(pairs, img.aux);
    let get = |key: u64| pairs.iter().find(|p| p.0 == key).map(|p| p.1);
    let keys: Vec<u64> = pairs.iter().map(|p| p.0).collect();
    // Linux's order: AT_MINSIGSTKSZ (ARCH_DLINFO), HWCAP, PAGESZ, CLKTCK, PHDR, PHENT, PHNUM, BASE, FLAGS, ENTRY,
    // UID, EUID, GID, EGID, SECURE, RANDOM, HWCAP2, EXECFN, PLATFORM, NULL.
    assert_eq!(
        keys,
        [51, 16, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 23, 25, 26, 31, 15, 0]
    );
    assert_eq!(get(6), Some(4096));
    assert_eq!(get(17), Some(100));
    assert_eq!(get(16), Some(0x178b_fbff));
    assert_eq!(get(3), Some(0x40_0040));
    assert_eq!(get(4), Some(56));
    assert_eq!(get(5), Some(4));
    assert_eq!(get(9), Some(0x40_1000));
    assert_eq!(
        (get(11), get(12), get(13), get(14), get(23)),
        (Some(1000), Some(1001), Some(100), Some(101), Some(0))
    );
    assert_eq!(get(51), Some(MINSIGSTKSZ));

    // AT_RANDOM, AT_PLATFORM and AT_EXECFN point at what they name.
    assert_eq!(get(25), Some(img.random));
    assert_eq!(m.bytes(img.random, 16), RANDOM);
    assert_eq!(get(15), Some(img.platform));
    assert_eq!(m.cstr(img.platform), b"x86_64");
    assert_eq!(get(31), Some(img.execfn));
    assert_eq!(m.cstr(img.execfn), b"/bin/sh");

    // Linux's placement: strings packed at the top (argv first in memory, execfn last, then 8 zero bytes),
    // platform below them after 16-byte alignment, the random bytes right below it, auxv ending below them.
    let argv0 = m.word(img.argv);
    let strings_len: u64 = argv.iter().chain(&envp).map(|s| s.len() as u64 + 1).sum::<u64>() + 8 + 8;
    assert_eq!(argv0, TOP - strings_len);
    assert_eq!(img.execfn, TOP - 8 - 8);
    assert_eq!(m.bytes(TOP - 8, 8), [0; 8]);
    assert_eq!(img.platform, (argv0 & !15) - 7);
    assert_eq!(img.random, img.platform - 16);
    assert!(at <= img.random && img.random - at < 16);
}

#[test]
fn stack_with_vdso_hwcap2_and_empty_lists() {
    let aux = AuxValues {
        sysinfo_ehdr: Some(0x7fff_f7ff_d000),
        hwcap2: 2,
        ..aux()
    };
    let img = build_stack(TOP, &[], &[], b"/init", RANDOM, &aux, 4096).unwrap();
    let m = Mem(&img);
    assert_eq!(img.rsp % 16, 0);
    // An empty argv becomes [""].
    assert_eq!(img.argc, 1);
    assert_eq!(m.cstr(m.word(img.argv)), b"");
    assert_eq!(m.word(img.argv + 8), 0);
    assert_eq!(m.word(img.envp), 0);
    assert_eq!(img.aux[0], (33, 0x7fff_f7ff_d000));
    assert!(img.aux.contains(&(26, 2)));
}

#[test]
fn stack_alignment_for_every_string_length() {
    for n in 0..40usize {
        let arg = "a".repeat(n);
        for envc in 0..3 {
            let envp: Vec<&[u8]> = (0..envc).map(|_| &b"X=1"[..]).collect();
            let img = build_stack(TOP, &[arg.as_bytes()], &envp, b"x", RANDOM, &aux(), 8192).unwrap();
            assert_eq!(img.rsp % 16, 0);
            assert_eq!(Mem(&img).cstr(Mem(&img).word(img.argv)), arg.as_bytes());
        }
    }
}

#[test]
fn stack_limits() {
    let a = aux();
    let big = std::vec![b'a'; 3000];
    assert!(matches!(
        build_stack(TOP, &[&big], &[], b"x", RANDOM, &a, 2048),
        Err(StackError::TooBig { .. })
    ));
    // Small strings, but too many pointers.
    let many: Vec<&[u8]> = std::vec![&b""[..]; 1000];
    assert!(matches!(
        build_stack(TOP, &many, &[], b"x", RANDOM, &a, 4096),
        Err(StackError::TooBig { .. })
    ));
    let huge = std::vec![b'a'; MAX_ARG_STRLEN];
    assert_eq!(
        build_stack(TOP, &[&huge], &[], b"x", RANDOM, &a, u64::MAX),
        Err(StackError::StringTooLong { len: MAX_ARG_STRLEN })
    );
    assert_eq!(
        build_stack(TOP, &[b"a\0b"], &[], b"x", RANDOM, &a, 4096),
        Err(StackError::InteriorNul)
    );
    assert_eq!(
        build_stack(TOP, &[b"a"], &[b"A=\0"], b"x", RANDOM, &a, 4096),
        Err(StackError::InteriorNul)
    );
    // Bad tops: unaligned, above user space, too low to hold the image.
    for top in [TOP + 8, USER_END + 0x1000, !15u64, 0x100, 0] {
        assert_eq!(
            build_stack(top, &[b"a"], &[], b"x", RANDOM, &a, 4096),
            Err(StackError::BadStackTop(top))
        );
    }
    // Exactly at the limit works.
    let img = build_stack(TOP, &[b"a"], &[], b"x", RANDOM, &a, 4096).unwrap();
    let exact = img.bytes.len() as u64;
    assert!(build_stack(TOP, &[b"a"], &[], b"x", RANDOM, &a, exact).is_ok());
    assert!(build_stack(TOP, &[b"a"], &[], b"x", RANDOM, &a, exact - 1).is_err());
}

/// Parses a real static binary when the host has one; skipped otherwise (the synthetic tests are the real ones).
#[test]
fn host_static_binary_if_present() {
    for path in ["/bin/busybox", "/usr/bin/busybox", "/sbin/ldconfig"] {
        let Ok(file) = std::fs::read(path) else { continue };
        match LoadPlan::parse(&file) {
            Ok(plan) => {
                let bias = load_bias(&plan, ELF_ET_DYN_BASE).unwrap();
                assert!(plan.phdr_vaddr.is_some(), "{path}");
                std::eprintln!(
                    "{path}: {:?} bias {bias:#x}, {} segments",
                    plan.kind,
                    plan.segments.len()
                );
            }
            // A dynamically linked busybox is fine to meet; it must be refused cleanly.
            Err(e) => std::eprintln!("{path}: {e}"),
        }
    }
}
