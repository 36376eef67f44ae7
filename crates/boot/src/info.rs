//! The normalized boot description and the interfaces the parsers use.

use crate::{MemoryMap, PhysRange};
use core::fmt;

/// Longest command line kept, in bytes (Linux's x86 `COMMAND_LINE_SIZE` is 2048; PVH has no limit).
pub const CMDLINE_MAX: usize = 4096;

/// Bounded access to guest-physical memory. The kernel implements it over its boot-time identity map and
/// refuses addresses outside that window; tests implement it over a byte vector.
pub trait PhysMemory {
    /// Copies `buf.len()` bytes starting at `paddr` into `buf`; `false` when any of them is out of reach.
    fn read(&mut self, paddr: u64, buf: &mut [u8]) -> bool;
}

/// How the VMM entered the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Xen's PVH direct boot (`XEN_ELFNOTE_PHYS32_ENTRY`): QEMU, Firecracker ≥ 1.12.
    Pvh,
    /// The 64-bit Linux boot protocol at `e_entry`: Firecracker ≤ 1.11, or a newer one without the PVH note.
    Linux64,
}

impl Protocol {
    /// The short name used in the `ready` line.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Pvh => "pvh",
            Protocol::Linux64 => "linux64",
        }
    }
}

/// Why a boot structure could not be used at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The boot structure itself lies outside readable memory.
    Unreadable(u64),
    /// The zero page lacks the `HdrS` signature or the 0xAA55 boot flag.
    BadZeroPage {
        /// The `hdr.header` field found.
        header: u32,
        /// The `hdr.boot_flag` field found.
        boot_flag: u16,
    },
    /// The PVH start info has the wrong magic number.
    BadStartInfoMagic(u32),
    /// No usable RAM survived validation of the memory map.
    NoRam,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::Unreadable(a) => {
                write!(f, "boot structure at {a:#x} is outside readable memory")
            }
            BootError::BadZeroPage { header, boot_flag } => write!(
                f,
                "zero page is not a Linux boot_params (header {header:#x}, boot flag {boot_flag:#x})"
            ),
            BootError::BadStartInfoMagic(m) => {
                write!(f, "PVH start info magic is {m:#x}, not 0x336ec578")
            }
            BootError::NoRam => write!(f, "the memory map holds no usable RAM"),
        }
    }
}

/// Something odd in a boot structure that was worked around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A memory-map entry of zero bytes, skipped.
    ZeroSizedRegion {
        /// Its start address.
        start: u64,
    },
    /// A memory-map entry reaching past the 52-bit physical address space, skipped.
    AbsurdRegion {
        /// Its start address.
        start: u64,
        /// Its size as given.
        size: u64,
    },
    /// A RAM or ACPI memory-map entry reaching past what the direct map (or the CPU) can address: cut at
    /// `limit`, or skipped when it starts there.
    BeyondDirectMap {
        /// The entry as given.
        range: PhysRange,
        /// Where it was cut.
        limit: u64,
    },
    /// A memory-map entry overlapping an earlier one, skipped.
    OverlappingRegion {
        /// The skipped entry.
        range: PhysRange,
        /// The entry it overlaps.
        with: PhysRange,
    },
    /// More memory-map entries than ember keeps; the rest are ignored.
    TooManyRegions {
        /// How many the VMM claimed.
        claimed: u64,
    },
    /// The memory map could not be read (bad pointer); the entries so far are used.
    MemoryMapUnreadable {
        /// Where the entry should have been.
        paddr: u64,
    },
    /// The command line could not be read; it is treated as empty.
    CmdlineUnreadable {
        /// Its claimed address.
        paddr: u64,
    },
    /// The command line was longer than [`CMDLINE_MAX`] and was cut.
    CmdlineTruncated,
    /// The command line held bytes that are not UTF-8; they were replaced by `?`.
    CmdlineNotUtf8,
    /// The PVH module list could not be read; no initrd is used.
    ModulesUnreadable {
        /// The module list's claimed address.
        paddr: u64,
    },
    /// The initrd range wraps around the address space; it is ignored.
    BadInitrd {
        /// Its claimed start.
        start: u64,
        /// Its claimed size.
        size: u64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ZeroSizedRegion { start } => {
                write!(f, "memory map: zero-sized entry at {start:#x} ignored")
            }
            Warning::AbsurdRegion { start, size } => write!(
                f,
                "memory map: entry at {start:#x} of {size:#x} bytes runs past the physical address space; ignored"
            ),
            Warning::BeyondDirectMap { range, limit } => write!(
                f,
                "memory map: entry {range} reaches past {limit:#x}, beyond what ember can address; cut there"
            ),
            Warning::OverlappingRegion { range, with } => {
                write!(f, "memory map: entry {range} overlaps {with}; ignored")
            }
            Warning::TooManyRegions { claimed } => write!(
                f,
                "memory map: {claimed} entries claimed, only the first {} are used",
                crate::MAX_REGIONS
            ),
            Warning::MemoryMapUnreadable { paddr } => {
                write!(f, "memory map: entry at {paddr:#x} is unreadable; the rest is ignored")
            }
            Warning::CmdlineUnreadable { paddr } => {
                write!(f, "command line at {paddr:#x} is unreadable; using an empty one")
            }
            Warning::CmdlineTruncated => {
                write!(f, "command line longer than {CMDLINE_MAX} bytes; cut")
            }
            Warning::CmdlineNotUtf8 => {
                write!(f, "command line is not UTF-8; odd bytes shown as '?'")
            }
            Warning::ModulesUnreadable { paddr } => {
                write!(f, "PVH module list at {paddr:#x} is unreadable; no initrd")
            }
            Warning::BadInitrd { start, size } => {
                write!(
                    f,
                    "initrd at {start:#x} of {size:#x} bytes wraps the address space; ignored"
                )
            }
        }
    }
}

/// Everything ember needs to know about how it was booted, whichever way that was.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// The entry path the VMM took.
    pub protocol: Protocol,
    /// Physical address of the zero page or start info.
    pub info_paddr: u64,
    cmdline: [u8; CMDLINE_MAX],
    cmdline_len: usize,
    /// The validated memory map.
    pub memory: MemoryMap,
    /// Where the initrd lies, if one was given.
    pub initrd: Option<PhysRange>,
    /// Where the VMM says the ACPI RSDP is (`acpi_rsdp_addr`, or PVH's `rsdp_paddr`), if it says.
    pub rsdp: Option<u64>,
}

impl BootInfo {
    /// An empty description, to be filled by a parser.
    pub const fn empty(protocol: Protocol, info_paddr: u64) -> Self {
        Self {
            protocol,
            info_paddr,
            cmdline: [0; CMDLINE_MAX],
            cmdline_len: 0,
            memory: MemoryMap::new(),
            initrd: None,
            rsdp: None,
        }
    }

    /// The kernel command line.
    pub fn cmdline(&self) -> &str {
        // `set_cmdline_bytes` only ever stores ASCII-checked or UTF-8-validated bytes.
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Reads a NUL-terminated (or `max`-bounded) command line at `paddr` and keeps it as UTF-8.
    pub(crate) fn read_cmdline(
        &mut self,
        mem: &mut impl PhysMemory,
        paddr: u64,
        max: usize,
        warn: &mut dyn FnMut(Warning),
    ) {
        self.cmdline_len = 0;
        if paddr == 0 {
            return;
        }
        let limit = max.min(CMDLINE_MAX);
        // Read in small chunks, and the chunk where readable memory ends byte by byte, so that a command line
        // near the end of readable memory is still read whole.
        let mut len = 0;
        while len < limit {
            let mut chunk = (limit - len).min(64);
            if !mem.read(paddr + len as u64, &mut self.cmdline[len..len + chunk]) {
                chunk = (len..len + chunk)
                    .take_while(|&i| mem.read(paddr + i as u64, &mut self.cmdline[i..i + 1]))
                    .count();
            }
            if chunk == 0 {
                if len == 0 {
                    warn(Warning::CmdlineUnreadable { paddr });
                }
                break;
            }
            if let Some(nul) = self.cmdline[len..len + chunk].iter().position(|&b| b == 0) {
                self.cmdline_len = len + nul;
                self.sanitize_cmdline(warn);
                return;
            }
            len += chunk;
        }
        // A line of exactly CMDLINE_MAX bytes is whole when the byte after it ends it (NUL, or the end of what
        // the boot structure allows, or unreadable memory).
        if len >= CMDLINE_MAX && max > CMDLINE_MAX {
            let mut next = [0u8];
            if mem.read(paddr + len as u64, &mut next) && next[0] != 0 {
                warn(Warning::CmdlineTruncated);
            }
        }
        self.cmdline_len = len;
        self.sanitize_cmdline(warn);
    }

    fn sanitize_cmdline(&mut self, warn: &mut dyn FnMut(Warning)) {
        let bytes = &mut self.cmdline[..self.cmdline_len];
        if core::str::from_utf8(bytes).is_ok() {
            return;
        }
        // Keep ASCII, replace everything else: simple, and always valid UTF-8 afterwards.
        for b in bytes.iter_mut().filter(|b| !b.is_ascii()) {
            *b = b'?';
        }
        warn(Warning::CmdlineNotUtf8);
    }

    /// Records an initrd of `size` bytes at `start`, unless it is empty or wraps.
    pub(crate) fn set_initrd(&mut self, start: u64, size: u64, warn: &mut dyn FnMut(Warning)) {
        if size == 0 {
            return;
        }
        match start.checked_add(size) {
            Some(end) if start != 0 => self.initrd = Some(PhysRange::new(start, end)),
            _ => warn(Warning::BadInitrd { start, size }),
        }
    }
}
