//! From an ELF image to the list of segments to map.

use alloc::string::String;
use alloc::vec::Vec;

use linux_raw_sys::elf_uapi::{
    ELFCLASS64, ELFDATA2LSB, EM_X86_64, ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR,
};

use crate::elf::{ElfError, Phdr, read_ehdr, read_phdr};

/// The page size user mappings are made of.
pub const PAGE_SIZE: u64 = 4096;

/// The end of x86-64 user space with 4-level paging (Linux's `TASK_SIZE_MAX`): one guard page below the
/// canonical-address hole. No segment may reach past it.
pub const USER_END: u64 = 0x0000_7FFF_FFFF_F000;

/// Where a static PIE is placed unless the kernel chooses otherwise: Linux's x86-64 `ELF_ET_DYN_BASE`
/// (`DEFAULT_MAP_WINDOW / 3 * 2`), rounded down to a page as `load_elf_binary` does.
pub const ELF_ET_DYN_BASE: u64 = (USER_END / 3 * 2) & !(PAGE_SIZE - 1);

/// Size of one ELF64 program header (`AT_PHENT`).
pub const PHENT_SIZE: u16 = 56;

/// The most program headers accepted: Linux's `load_elf_phdrs` refuses tables over 64 KiB.
pub const MAX_PHNUM: u16 = (65536 / PHENT_SIZE as u32) as u16;

/// How an executable is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ET_EXEC`: addresses are absolute.
    Static,
    /// `ET_DYN` without `PT_INTERP`: addresses are relative to a load bias (see [`load_bias`]).
    StaticPie,
}

/// One `PT_LOAD` segment: `file_size` bytes from `file_offset` at `vaddr`, then zeros up to `mem_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte (before the load bias). Not necessarily page aligned; it has the
    /// same offset in its page as `file_offset`.
    pub vaddr: u64,
    /// Bytes of memory, at least `file_size`.
    pub mem_size: u64,
    /// Offset of the first byte in the file.
    pub file_offset: u64,
    /// Bytes taken from the file.
    pub file_size: u64,
    /// `PF_R`.
    pub readable: bool,
    /// `PF_W`.
    pub writable: bool,
    /// `PF_X`.
    pub executable: bool,
}

impl Segment {
    /// The end of the segment's memory (exclusive, before the load bias).
    pub const fn end(&self) -> u64 {
        // Checked in `LoadPlan::parse`.
        self.vaddr.saturating_add(self.mem_size)
    }

    /// The file bytes to copy into the segment; `file` is the image the plan was parsed from.
    pub fn file_bytes<'a>(&self, file: &'a [u8]) -> Option<&'a [u8]> {
        let start = usize::try_from(self.file_offset).ok()?;
        let len = usize::try_from(self.file_size).ok()?;
        file.get(start..start.checked_add(len)?)
    }
}

/// What to map for a static executable; built by [`LoadPlan::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// `ET_EXEC` or static PIE.
    pub kind: Kind,
    /// `e_entry`; relative to the load bias for a PIE.
    pub entry: u64,
    /// The `PT_LOAD` segments with memory, sorted by address and disjoint. Two may share a page (with different
    /// permissions); the mapper must merge them.
    pub segments: Vec<Segment>,
    /// Where the program headers are in memory (before the load bias), for `AT_PHDR`: `PT_PHDR`'s address when
    /// it lies in a segment, else the address of `e_phoff` in the segment whose file bytes hold the whole table
    /// (as Linux computes it). `None` when the table is not loaded, as in some hand-made files.
    pub phdr_vaddr: Option<u64>,
    /// `e_phnum` (`AT_PHNUM`).
    pub phnum: u16,
    /// `e_phentsize` (`AT_PHENT`), always [`PHENT_SIZE`].
    pub phent: u16,
    /// Whether `PT_GNU_STACK` asks for an executable stack. Without `PT_GNU_STACK`, x86-64 Linux gives a
    /// 64-bit program a non-executable stack, and so does this.
    pub stack_executable: bool,
    /// The largest power-of-two `p_align` of the `PT_LOAD`s, at least [`PAGE_SIZE`]; a PIE's bias is a
    /// multiple of it.
    pub align: u64,
}

const fn page_start(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

impl LoadPlan {
    /// Checks an ELF image and describes how to load it. An `ET_EXEC` image must fit in user space as linked;
    /// a PIE is placed later by [`load_bias`].
    pub fn parse(file: &[u8]) -> Result<LoadPlan, ElfError> {
        let eh = read_ehdr(file)?;
        if u32::from(eh.class) != ELFCLASS64 {
            return Err(ElfError::Not64Bit(eh.class));
        }
        if u32::from(eh.data) != ELFDATA2LSB {
            return Err(ElfError::NotLittleEndian(eh.data));
        }
        let kind = match u32::from(eh.e_type) {
            ET_EXEC => Kind::Static,
            ET_DYN => Kind::StaticPie,
            _ => return Err(ElfError::NotExecutable(eh.e_type)),
        };
        if u32::from(eh.machine) != EM_X86_64 {
            return Err(ElfError::WrongMachine(eh.machine));
        }
        if eh.phentsize != PHENT_SIZE {
            return Err(ElfError::BadPhentsize(eh.phentsize));
        }
        if eh.phnum == 0 || eh.phnum > MAX_PHNUM {
            return Err(ElfError::BadPhnum(eh.phnum));
        }
        let table_size = u64::from(eh.phnum) * u64::from(PHENT_SIZE);
        let table_end = eh.phoff.saturating_add(table_size);
        if table_end > file.len() as u64 {
            return Err(ElfError::Truncated { needed: table_end });
        }
        let phoff = usize::try_from(eh.phoff).map_err(|_| ElfError::Truncated { needed: table_end })?;
        let mut phdrs = Vec::with_capacity(usize::from(eh.phnum));
        for i in 0..usize::from(eh.phnum) {
            let at = i
                .checked_mul(usize::from(PHENT_SIZE))
                .and_then(|o| o.checked_add(phoff));
            phdrs.push(
                at.and_then(|at| read_phdr(file, at))
                    .ok_or(ElfError::Truncated { needed: table_end })?,
            );
        }

        // The interpreter says the most about why a file cannot run, so it is reported first.
        for (index, ph) in (0u16..).zip(&phdrs) {
            if ph.p_type == PT_INTERP {
                let path = file_range(file, ph).ok_or(ElfError::SegmentOutsideFile { index })?;
                return Err(ElfError::Interpreter(interp_path(path)));
            }
        }

        let mut segments: Vec<Segment> = Vec::new();
        let mut align = PAGE_SIZE;
        let mut stack_executable = false;
        let mut pt_phdr = None;
        for (index, ph) in (0u16..).zip(&phdrs) {
            match ph.p_type {
                PT_LOAD => {
                    if let Some(seg) = load_segment(file, index, ph, segments.last())? {
                        if ph.align.is_power_of_two() {
                            align = align.max(ph.align);
                        }
                        segments.push(seg);
                    }
                }
                PT_GNU_STACK => stack_executable = ph.flags & PF_X != 0,
                PT_PHDR => pt_phdr = Some(ph.vaddr),
                _ => {}
            }
        }
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Err(ElfError::NoLoadSegment);
        };
        let span = last.end().saturating_sub(page_start(first.vaddr));
        if span > USER_END - PAGE_SIZE {
            return Err(ElfError::AddressOutOfRange { bias: 0 });
        }

        let table_in = |s: &&Segment, start: u64| start >= s.vaddr && start.saturating_add(table_size) <= s.end();
        let from_pt_phdr = pt_phdr.filter(|&v| segments.iter().any(|s| table_in(&s, v)));
        let from_phoff = segments
            .iter()
            .filter(|s| eh.phoff >= s.file_offset && table_end <= s.file_offset.saturating_add(s.file_size))
            .map(|s| eh.phoff - s.file_offset + s.vaddr)
            .next();

        let plan = LoadPlan {
            kind,
            entry: eh.entry,
            phdr_vaddr: from_pt_phdr.or(from_phoff),
            phnum: eh.phnum,
            phent: eh.phentsize,
            stack_executable,
            align,
            segments,
        };
        if !plan
            .segments
            .iter()
            .any(|s| s.executable && (s.vaddr..s.end()).contains(&plan.entry))
        {
            return Err(ElfError::EntryNotExecutable(plan.entry));
        }
        if plan.kind == Kind::Static {
            plan.check_placement(0)?;
        }
        Ok(plan)
    }

    /// The lowest page start and the end of the segments (before the load bias).
    pub fn extent(&self) -> (u64, u64) {
        let start = self.segments.first().map_or(0, |s| page_start(s.vaddr));
        (start, self.segments.last().map_or(0, Segment::end))
    }

    /// Checks that the image at `bias` leaves page zero free and ends inside user space.
    fn check_placement(&self, bias: u64) -> Result<(), ElfError> {
        let (start, end) = self.extent();
        let fits = start.checked_add(bias).is_some_and(|s| s >= PAGE_SIZE)
            && end.checked_add(bias).is_some_and(|e| e <= USER_END);
        if fits {
            Ok(())
        } else {
            Err(ElfError::AddressOutOfRange { bias })
        }
    }
}

/// The load bias for `plan`: 0 for `ET_EXEC`; for a static PIE, `base` (normally [`ELF_ET_DYN_BASE`], plus any
/// randomisation) rounded down to the plan's alignment, less the first segment's page, as `load_elf_binary`
/// computes it. Fails if the image would not fit in user space there.
///
/// Linux itself (since 4.13) puts `ET_DYN` *with* `PT_INTERP` at `ELF_ET_DYN_BASE` and an `ET_DYN` without one
/// (a static PIE, or `ld.so` run directly) at the mmap base below the stack; any free, aligned place works for a
/// static PIE, and `ELF_ET_DYN_BASE` keeps it far from both the stack and the brk area.
pub fn load_bias(plan: &LoadPlan, base: u64) -> Result<u64, ElfError> {
    if plan.kind == Kind::Static {
        return Ok(0);
    }
    let aligned = base & !(plan.align - 1);
    let (start, _) = plan.extent();
    let bias = page_start(
        aligned
            .checked_sub(start)
            .ok_or(ElfError::AddressOutOfRange { bias: aligned })?,
    );
    plan.check_placement(bias)?;
    Ok(bias)
}

/// The file bytes of a program header, if they lie in the file.
fn file_range<'a>(file: &'a [u8], ph: &Phdr) -> Option<&'a [u8]> {
    let start = usize::try_from(ph.offset).ok()?;
    let len = usize::try_from(ph.filesz).ok()?;
    file.get(start..start.checked_add(len)?)
}

/// The interpreter path for an error message: up to the first NUL, at most 128 bytes, lossy UTF-8.
fn interp_path(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()).min(128);
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// Checks one `PT_LOAD` against the file and the previous segment; `None` for one without memory.
fn load_segment(file: &[u8], index: u16, ph: &Phdr, prev: Option<&Segment>) -> Result<Option<Segment>, ElfError> {
    if ph.filesz > ph.memsz {
        return Err(ElfError::FileSizeExceedsMemSize { index });
    }
    if file_range(file, ph).is_none() {
        return Err(ElfError::SegmentOutsideFile { index });
    }
    if ph.vaddr % PAGE_SIZE != ph.offset % PAGE_SIZE {
        return Err(ElfError::Misaligned { index });
    }
    if ph.memsz == 0 {
        return Ok(None);
    }
    if ph.vaddr.checked_add(ph.memsz).is_none_or(|end| end > USER_END) {
        return Err(ElfError::AddressOutOfRange { bias: 0 });
    }
    if prev.is_some_and(|p| ph.vaddr < p.end()) {
        return Err(ElfError::OverlappingSegments { index });
    }
    Ok(Some(Segment {
        vaddr: ph.vaddr,
        mem_size: ph.memsz,
        file_offset: ph.offset,
        file_size: ph.filesz,
        readable: ph.flags & PF_R != 0,
        writable: ph.flags & PF_W != 0,
        executable: ph.flags & PF_X != 0,
    }))
}
