//! A bounds-checked reader of the ELF64 header and program headers, and the errors of loading.

use alloc::string::String;
use core::fmt;

/// Size of the ELF64 file header.
pub const EHDR_SIZE: usize = 64;

/// The ELF64 file header fields the loader needs.
#[derive(Clone, Copy, Debug)]
pub struct Ehdr {
    pub class: u8,
    pub data: u8,
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    pub phnum: u16,
}

/// One ELF64 program header.
#[derive(Clone, Copy, Debug)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    bytes(b, at).map(u64::from_le_bytes)
}

/// Reads the file header after checking the magic; integer fields are read little-endian (the caller rejects
/// other encodings by `data`).
pub fn read_ehdr(file: &[u8]) -> Result<Ehdr, ElfError> {
    let magic = b"\x7fELF";
    let n = file.len().min(magic.len());
    if file.get(..n) != magic.get(..n) || file.is_empty() {
        return Err(ElfError::NotElf);
    }
    let truncated = || ElfError::Truncated {
        needed: EHDR_SIZE as u64,
    };
    let get16 = |at| u16_at(file, at).ok_or_else(truncated);
    let get64 = |at| u64_at(file, at).ok_or_else(truncated);
    Ok(Ehdr {
        class: file.get(4).copied().ok_or_else(truncated)?,
        data: file.get(5).copied().ok_or_else(truncated)?,
        e_type: get16(16)?,
        machine: get16(18)?,
        entry: get64(24)?,
        phoff: get64(32)?,
        phentsize: get16(54)?,
        phnum: get16(56)?,
    })
}

/// Reads the program header at byte offset `at` (already checked to lie in the file, but checked again).
pub fn read_phdr(file: &[u8], at: usize) -> Option<Phdr> {
    Some(Phdr {
        p_type: u32_at(file, at)?,
        flags: u32_at(file, at.checked_add(4)?)?,
        offset: u64_at(file, at.checked_add(8)?)?,
        vaddr: u64_at(file, at.checked_add(16)?)?,
        filesz: u64_at(file, at.checked_add(32)?)?,
        memsz: u64_at(file, at.checked_add(40)?)?,
        align: u64_at(file, at.checked_add(48)?)?,
    })
}

/// Why an ELF image cannot be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// No `\x7fELF` magic.
    NotElf,
    /// The file ends before a structure the loader needs.
    Truncated {
        /// The file size the structure needs.
        needed: u64,
    },
    /// `EI_CLASS` is not `ELFCLASS64`.
    Not64Bit(u8),
    /// `EI_DATA` is not `ELFDATA2LSB`.
    NotLittleEndian(u8),
    /// `e_machine` is not `EM_X86_64`.
    WrongMachine(u16),
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN` (a relocatable object or a core file, say).
    NotExecutable(u16),
    /// `e_phentsize` is not the size of an ELF64 program header.
    BadPhentsize(u16),
    /// `e_phnum` is zero or larger than [`crate::MAX_PHNUM`] (this includes `PN_XNUM` extended numbering).
    BadPhnum(u16),
    /// A `PT_INTERP` segment: the program is dynamically linked. Holds the interpreter path (lossy UTF-8,
    /// shortened).
    Interpreter(String),
    /// No `PT_LOAD` segment with a non-zero memory size.
    NoLoadSegment,
    /// Program header `index` is a `PT_LOAD` whose file size exceeds its memory size.
    FileSizeExceedsMemSize {
        /// The program header's index.
        index: u16,
    },
    /// Program header `index` names file bytes past the end of the file.
    SegmentOutsideFile {
        /// The program header's index.
        index: u16,
    },
    /// Program header `index` is a `PT_LOAD` whose address and file offset differ modulo the page size.
    Misaligned {
        /// The program header's index.
        index: u16,
    },
    /// Program header `index` is a `PT_LOAD` that starts below the end of the previous one.
    OverlappingSegments {
        /// The program header's index.
        index: u16,
    },
    /// The image (placed at `bias`) would reach into page zero or past the end of user space.
    AddressOutOfRange {
        /// The load bias tried (0 for `ET_EXEC`).
        bias: u64,
    },
    /// The entry point is not inside an executable `PT_LOAD` segment.
    EntryNotExecutable(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::Truncated { needed } => write!(f, "ELF file truncated (needs {needed} bytes)"),
            ElfError::Not64Bit(c) => write!(f, "not a 64-bit ELF file (class {c})"),
            ElfError::NotLittleEndian(d) => write!(f, "not a little-endian ELF file (data encoding {d})"),
            ElfError::WrongMachine(m) => write!(f, "ELF file is for machine {m}, not x86-64 (62)"),
            ElfError::NotExecutable(t) => write!(f, "ELF type {t} is not an executable (ET_EXEC or ET_DYN)"),
            ElfError::BadPhentsize(s) => write!(f, "ELF program header size is {s}, not 56"),
            ElfError::BadPhnum(n) => write!(f, "ELF file has {n} program headers"),
            ElfError::Interpreter(path) => write!(f, "dynamically linked (PT_INTERP {path}): not supported"),
            ElfError::NoLoadSegment => write!(f, "ELF file has no PT_LOAD segment"),
            ElfError::FileSizeExceedsMemSize { index } => {
                write!(f, "ELF program header {index}: file size exceeds memory size")
            }
            ElfError::SegmentOutsideFile { index } => {
                write!(
                    f,
                    "ELF program header {index}: segment reaches past the end of the file"
                )
            }
            ElfError::Misaligned { index } => {
                write!(
                    f,
                    "ELF program header {index}: address and file offset differ modulo the page size"
                )
            }
            ElfError::OverlappingSegments { index } => {
                write!(
                    f,
                    "ELF program header {index}: PT_LOAD segments overlap or are not sorted by address"
                )
            }
            ElfError::AddressOutOfRange { bias } => {
                write!(f, "ELF segments at load bias {bias:#x} do not fit in user space")
            }
            ElfError::EntryNotExecutable(e) => {
                write!(f, "ELF entry point {e:#x} is not in an executable segment")
            }
        }
    }
}
