//! Executables (`ember-exec`): ELF load plans, PIE placement, the initial user stack.

use crate::input::Input;
use ember_exec::{AuxValues, ELF_ET_DYN_BASE, Kind, LoadPlan, PAGE_SIZE, USER_END, build_stack, load_bias};

/// Input: an ELF file. Checks an accepted plan: segments with memory, inside the file, `file_size <=
/// mem_size`, congruent to their file offsets, sorted and disjoint, inside user space (for a PIE once
/// placed, above page zero), the entry in an executable segment, `AT_PHDR` inside a segment; then builds the
/// stack the kernel would.
pub fn elf(data: &[u8]) {
    let plan = match LoadPlan::parse(data) {
        Ok(plan) => plan,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!plan.segments.is_empty() && plan.align.is_power_of_two() && plan.align >= PAGE_SIZE);
    for s in &plan.segments {
        assert!(s.mem_size > 0 && s.file_size <= s.mem_size, "{s:?}");
        let bytes = s.file_bytes(data).expect("segment bytes inside the file");
        assert_eq!(bytes.len() as u64, s.file_size);
        assert_eq!(s.vaddr % PAGE_SIZE, s.file_offset % PAGE_SIZE, "{s:?}");
        assert!(s.vaddr.checked_add(s.mem_size).is_some_and(|e| e <= USER_END), "{s:?}");
    }
    for w in plan.segments.windows(2) {
        assert!(
            w[0].end() <= w[1].vaddr,
            "overlapping segments accepted: {:?} {:?}",
            w[0],
            w[1]
        );
    }
    assert!(
        plan.segments
            .iter()
            .any(|s| s.executable && s.vaddr <= plan.entry && plan.entry < s.end())
    );
    if let Some(p) = plan.phdr_vaddr {
        assert!(
            plan.segments.iter().any(|s| s.vaddr <= p && p < s.end()),
            "AT_PHDR {p:#x} outside the image"
        );
    }
    let bias = match load_bias(&plan, ELF_ET_DYN_BASE) {
        Ok(bias) => bias,
        Err(e) => {
            assert_eq!(
                plan.kind,
                Kind::StaticPie,
                "a static plan was accepted but cannot be placed"
            );
            let _ = e.to_string();
            return;
        }
    };
    assert!(bias % PAGE_SIZE == 0 && (plan.kind == Kind::StaticPie || bias == 0));
    let (start, end) = plan.extent();
    assert!(
        start + bias >= PAGE_SIZE && end + bias <= USER_END,
        "placed at {bias:#x} outside user space"
    );
    let aux = AuxValues::new(&plan, bias);
    let image = build_stack(USER_END, &[b"/init"], &[b"HOME=/"], b"/init", [7; 16], &aux, 1 << 20);
    check_stack(image.as_ref().ok(), &[b"/init"], &[b"HOME=/"], b"/init");
}

/// Input: arguments, environment, path and stack parameters. Checks a stack that was built: it is what Linux
/// lays out (argc, argv, envp, auxv pointers leading to the strings given, the random bytes, 16-byte aligned
/// `rsp`), inside `[rsp, stack_top)` and within the limit; and that it is refused only for a reason the
/// inputs give.
pub fn stack(data: &[u8]) {
    let mut input = Input::new(data);
    let top = match input.u8() % 4 {
        0 => input.u64(),
        1 => u64::from(input.u16()) << 4,
        _ => USER_END - (u64::from(input.u16()) << 4),
    };
    let limit = match input.u8() % 3 {
        0 => input.u64(),
        _ => u64::from(input.u32() % (1 << 20)),
    };
    let strings: Vec<&[u8]> = (0..input.below(40))
        .map(|_| {
            let n = input.below(300);
            input.bytes(n)
        })
        .collect();
    let split = input.below(strings.len() + 1);
    let (argv, rest) = strings.split_at(split);
    let (execfn, envp) = rest.split_first().map_or((&b"/x"[..], rest), |(e, r)| (*e, r));
    let random: [u8; 16] = std::array::from_fn(|i| i as u8);
    let aux = AuxValues {
        sysinfo_ehdr: input.bool().then(|| input.u64()),
        minsigstksz: 2048,
        hwcap: input.u64(),
        hwcap2: 0,
        phdr: input.u64(),
        phent: 56,
        phnum: 1,
        entry: input.u64(),
        uid: 0,
        euid: 0,
        gid: 0,
        egid: 0,
        secure: false,
    };
    match build_stack(top, argv, envp, execfn, random, &aux, limit) {
        Ok(image) => {
            assert!(top % 16 == 0 && top <= USER_END);
            assert!(
                (image.bytes.len() as u64) <= limit,
                "{} bytes over the limit {limit}",
                image.bytes.len()
            );
            assert_eq!(image.rsp + image.bytes.len() as u64, top);
            check_stack(Some(&image), argv, envp, execfn);
        }
        Err(e) => {
            let _ = e.to_string();
            let nul = argv.iter().chain(envp).chain([&execfn]).any(|s| s.contains(&0));
            let bad_top = top % 16 != 0 || top > USER_END;
            let total: usize = argv.iter().chain(envp).chain([&execfn]).map(|s| s.len() + 1).sum();
            let room = limit.checked_add(1 << 24).is_some_and(|needed| top > needed);
            let small_enough = (total as u64) * 4 + 4096 <= limit && room;
            assert!(nul || bad_top || !small_enough, "{e:?}: refused without reason");
        }
    }
}

/// Decodes a built stack and compares it with what it was built from.
fn check_stack(image: Option<&ember_exec::StackImage>, argv: &[&[u8]], envp: &[&[u8]], execfn: &[u8]) {
    let image = image.expect("a stack for a small argument list");
    assert_eq!(image.rsp % 16, 0);
    let word = |addr: u64| {
        let at = usize::try_from(addr - image.rsp).expect("in the image");
        u64::from_le_bytes(image.bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let string = |addr: u64| {
        let at = usize::try_from(addr.checked_sub(image.rsp).expect("string above rsp")).expect("in the image");
        let len = image.bytes[at..].iter().position(|&b| b == 0).expect("NUL-terminated");
        image.bytes[at..at + len].to_vec()
    };
    let argv: Vec<&[u8]> = if argv.is_empty() { vec![b""] } else { argv.to_vec() };
    assert_eq!(word(image.rsp), argv.len() as u64);
    assert_eq!(image.argc, argv.len() as u64);
    for (i, a) in argv.iter().enumerate() {
        assert_eq!(string(word(image.argv + 8 * i as u64)), *a, "argv[{i}]");
    }
    assert_eq!(word(image.argv + 8 * argv.len() as u64), 0);
    for (i, e) in envp.iter().enumerate() {
        assert_eq!(string(word(image.envp + 8 * i as u64)), *e, "envp[{i}]");
    }
    assert_eq!(word(image.envp + 8 * envp.len() as u64), 0);
    for (i, &(k, v)) in image.aux.iter().enumerate() {
        assert_eq!(
            (word(image.auxv + 16 * i as u64), word(image.auxv + 16 * i as u64 + 8)),
            (k, v)
        );
    }
    assert_eq!(image.aux.last(), Some(&(0, 0)), "AT_NULL last");
    assert_eq!(string(image.execfn), execfn);
    assert_eq!(string(image.platform), b"x86_64");
    let r = usize::try_from(image.random - image.rsp).expect("in the image");
    assert!(r + 16 <= image.bytes.len());
}
