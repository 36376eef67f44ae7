//! The initial user stack, laid out as Linux's `create_elf_tables` (`fs/binfmt_elf.c`) does.
//!
//! From the top (highest address) down:
//! 1. 8 zero bytes, then the strings as `execve` copies them: `execfn`, then the `envp` strings, then the `argv`
//!    strings, so that in memory `argv[0]` comes first and `execfn` last;
//! 2. alignment down to 16 bytes, the platform string `"x86_64"` (`AT_PLATFORM`), the 16 random bytes
//!    (`AT_RANDOM`);
//! 3. at `rsp`, 16-byte aligned: `argc`, the `argv` pointers and a NULL, the `envp` pointers and a NULL, the
//!    auxiliary vector ending with `AT_NULL`; then up to 15 bytes of padding below the random bytes.
//!
//! Linux also subtracts a random amount below 8 KiB from the top (`arch_align_stack`); a caller that wants that
//! passes a lower `stack_top`.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use linux_raw_sys::auxvec::{
    AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS, AT_GID, AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ,
    AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM, AT_RANDOM, AT_SECURE, AT_SYSINFO_EHDR, AT_UID,
};

use crate::{LoadPlan, PAGE_SIZE, USER_END};

/// The `AT_PLATFORM` string on x86-64 (`utsname()->machine`).
pub const PLATFORM: &[u8] = b"x86_64";

/// The longest single argument or environment string, with its NUL (Linux's `MAX_ARG_STRLEN`, 32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;

/// Linux's `MINSIGSTKSZ` for x86 (`AT_MINSIGSTKSZ` reports the real signal frame size, which depends on the
/// FPU state size; this is the floor).
pub const MINSIGSTKSZ: u64 = 2048;

/// `AT_CLKTCK`: the `times()` tick rate (`USER_HZ`).
const CLOCKS_PER_SEC: u64 = 100;

/// The auxiliary-vector values that do not come from the stack layout itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxValues {
    /// `AT_SYSINFO_EHDR`: the vDSO's address, if one is mapped.
    pub sysinfo_ehdr: Option<u64>,
    /// `AT_MINSIGSTKSZ`: the size of a signal frame.
    pub minsigstksz: u64,
    /// `AT_HWCAP`: CPUID leaf 1 EDX on x86.
    pub hwcap: u64,
    /// `AT_HWCAP2`: x86 `HWCAP2_*` bits (ring-3 MWAIT, FSGSBASE).
    pub hwcap2: u64,
    /// `AT_PHDR`: the program headers' address after the load bias (0 if they are not loaded).
    pub phdr: u64,
    /// `AT_PHENT`.
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_ENTRY`: the entry point after the load bias.
    pub entry: u64,
    /// `AT_UID`.
    pub uid: u32,
    /// `AT_EUID`.
    pub euid: u32,
    /// `AT_GID`.
    pub gid: u32,
    /// `AT_EGID`.
    pub egid: u32,
    /// `AT_SECURE`.
    pub secure: bool,
}

impl AuxValues {
    /// Values for `plan` loaded at `bias` (from [`crate::load_bias`]), run as root, with no vDSO, no hardware
    /// capabilities and [`MINSIGSTKSZ`].
    pub fn new(plan: &LoadPlan, bias: u64) -> Self {
        Self {
            sysinfo_ehdr: None,
            minsigstksz: MINSIGSTKSZ,
            hwcap: 0,
            hwcap2: 0,
            phdr: plan.phdr_vaddr.map_or(0, |p| p.saturating_add(bias)),
            phent: u64::from(plan.phent),
            phnum: u64::from(plan.phnum),
            entry: plan.entry.saturating_add(bias),
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            secure: false,
        }
    }
}

/// The initial stack: `bytes` are to be copied to `[rsp, stack_top)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackImage {
    /// The stack contents from `rsp` up to `stack_top`.
    pub bytes: Vec<u8>,
    /// The initial stack pointer: 16-byte aligned, pointing at `argc`.
    pub rsp: u64,
    /// `argc` (at least 1; see [`build_stack`]).
    pub argc: u64,
    /// Address of `argv[0]`'s pointer (`rsp + 8`).
    pub argv: u64,
    /// Address of `envp[0]`'s pointer.
    pub envp: u64,
    /// Address of the first auxiliary-vector entry.
    pub auxv: u64,
    /// The auxiliary vector as written, `AT_NULL` included.
    pub aux: Vec<(u64, u64)>,
    /// Address of the 16 `AT_RANDOM` bytes.
    pub random: u64,
    /// Address of the `AT_PLATFORM` string.
    pub platform: u64,
    /// Address of the `AT_EXECFN` string.
    pub execfn: u64,
}

/// Why a stack could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// `E2BIG`: the stack would need `needed` bytes, more than the `limit` allowed.
    TooBig {
        /// Bytes the layout needs (or `u64::MAX` if that overflows).
        needed: u64,
        /// The caller's limit.
        limit: u64,
    },
    /// `E2BIG`: one string with its NUL is longer than [`MAX_ARG_STRLEN`].
    StringTooLong {
        /// Its length without the NUL.
        len: usize,
    },
    /// A string contains a NUL byte, which would split it in user space.
    InteriorNul,
    /// `stack_top` is not 16-byte aligned, lies above user space, or leaves no room below it.
    BadStackTop(u64),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StackError::TooBig { needed, limit } => {
                write!(
                    f,
                    "argument list too long (E2BIG): stack needs {needed} bytes, limit {limit}"
                )
            }
            StackError::StringTooLong { len } => {
                write!(f, "argument list too long (E2BIG): one string is {len} bytes")
            }
            StackError::InteriorNul => write!(f, "argument or environment string contains a NUL byte"),
            StackError::BadStackTop(top) => write!(f, "bad initial stack top {top:#x}"),
        }
    }
}

/// Builds the initial stack ending at `stack_top` for `argv`, `envp` and `execfn` (the path as passed to
/// `execve`, for `AT_EXECFN`), with the 16 `AT_RANDOM` bytes and the other auxiliary values. The whole image
/// may take at most `max_bytes` (Linux allows a quarter of the stack rlimit for the strings and pointers).
///
/// As Linux does since 5.18, an empty `argv` becomes `[""]` so that `argv[0]` always exists.
pub fn build_stack(
    stack_top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    execfn: &[u8],
    random: [u8; 16],
    aux: &AuxValues,
    max_bytes: u64,
) -> Result<StackImage, StackError> {
    let empty: [&[u8]; 1] = [b""];
    let argv = if argv.is_empty() { &empty[..] } else { argv };
    if !stack_top.is_multiple_of(16) || stack_top > USER_END {
        return Err(StackError::BadStackTop(stack_top));
    }
    let too_big = StackError::TooBig {
        needed: u64::MAX,
        limit: max_bytes,
    };

    // 1. Strings, from the top down: an 8-byte end marker, execfn, envp, argv.
    let mut strings_len: u64 = 8;
    for s in argv.iter().chain(envp).chain(core::iter::once(&execfn)) {
        if s.contains(&0) {
            return Err(StackError::InteriorNul);
        }
        if s.len() >= MAX_ARG_STRLEN {
            return Err(StackError::StringTooLong { len: s.len() });
        }
        strings_len = strings_len.checked_add(s.len() as u64 + 1).ok_or(too_big)?;
        if strings_len > max_bytes {
            return Err(StackError::TooBig {
                needed: strings_len,
                limit: max_bytes,
            });
        }
    }
    let sub = |a: u64, b: u64| a.checked_sub(b).ok_or(StackError::BadStackTop(stack_top));
    let strings = sub(stack_top, strings_len)?;

    // 2. Platform string and random bytes below the 16-byte aligned end of the strings.
    let platform = sub(strings & !15, PLATFORM.len() as u64 + 1)?;
    let random_addr = sub(platform, 16)?;

    // 3. The pointer block.
    let argc = argv.len() as u64;
    let envc = envp.len() as u64;
    let aux_pairs = aux_vector(aux, 0, 0, 0).len() as u64;
    let words = argc
        .checked_add(envc)
        .and_then(|n| n.checked_add(3)) // argc, argv NULL, envp NULL
        .and_then(|n| n.checked_add(aux_pairs * 2))
        .ok_or(too_big)?;
    let block = words.checked_mul(8).ok_or(too_big)?;
    let rsp = sub(random_addr, block)? & !15;
    let needed = stack_top - rsp;
    if needed > max_bytes {
        return Err(StackError::TooBig {
            needed,
            limit: max_bytes,
        });
    }
    if rsp < PAGE_SIZE {
        return Err(StackError::BadStackTop(stack_top));
    }

    let mut bytes = vec![0u8; usize::try_from(needed).map_err(|_| too_big)?];
    let mut put = |addr: u64, data: &[u8]| {
        // Every address written lies in [rsp, stack_top) by construction; `get_mut` keeps that checked.
        let at = addr
            .checked_sub(rsp)
            .and_then(|o| usize::try_from(o).ok())
            .unwrap_or(usize::MAX);
        if let Some(dst) = bytes.get_mut(at..at.saturating_add(data.len())) {
            dst.copy_from_slice(data);
        }
    };

    // Strings, in increasing address order: argv, envp, execfn.
    let mut at = strings;
    let mut pointers = Vec::with_capacity(argv.len() + envp.len());
    for s in argv.iter().chain(envp) {
        pointers.push(at);
        put(at, s);
        at += s.len() as u64 + 1;
    }
    let execfn_addr = at;
    put(execfn_addr, execfn);
    put(platform, PLATFORM);
    put(random_addr, &random);

    let aux = aux_vector(aux, random_addr, execfn_addr, platform);
    let (argv_ptrs, envp_ptrs) = pointers.split_at(argv.len());
    let mut word = rsp;
    let mut push = |v: u64| {
        put(word, &v.to_le_bytes());
        word += 8;
    };
    push(argc);
    argv_ptrs.iter().for_each(|&p| push(p));
    push(0);
    envp_ptrs.iter().for_each(|&p| push(p));
    push(0);
    for &(key, value) in &aux {
        push(key);
        push(value);
    }

    let argv_addr = rsp + 8;
    let envp_addr = argv_addr + (argc + 1) * 8;
    Ok(StackImage {
        bytes,
        rsp,
        argc,
        argv: argv_addr,
        envp: envp_addr,
        auxv: envp_addr + (envc + 1) * 8,
        aux,
        random: random_addr,
        platform,
        execfn: execfn_addr,
    })
}

/// The auxiliary vector in Linux's order (x86-64's `ARCH_DLINFO` first, `AT_NULL` last).
fn aux_vector(v: &AuxValues, random: u64, execfn: u64, platform: u64) -> Vec<(u64, u64)> {
    let mut aux = Vec::with_capacity(22);
    if let Some(ehdr) = v.sysinfo_ehdr {
        aux.push((u64::from(AT_SYSINFO_EHDR), ehdr));
    }
    let entries = [
        (AT_MINSIGSTKSZ, v.minsigstksz),
        (AT_HWCAP, v.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLOCKS_PER_SEC),
        (AT_PHDR, v.phdr),
        (AT_PHENT, v.phent),
        (AT_PHNUM, v.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, v.entry),
        (AT_UID, u64::from(v.uid)),
        (AT_EUID, u64::from(v.euid)),
        (AT_GID, u64::from(v.gid)),
        (AT_EGID, u64::from(v.egid)),
        (AT_SECURE, u64::from(v.secure)),
        (AT_RANDOM, random),
        (AT_HWCAP2, v.hwcap2),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_NULL, 0),
    ];
    aux.extend(entries.iter().map(|&(k, v)| (u64::from(k), v)));
    aux
}
