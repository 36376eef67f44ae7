//! [`Region`]: a range of a process's address space with one set of rights and one source of contents.

use super::{PAGE, zeroed_frame};
use crate::fs::inode::Inode;
use crate::syscall::errno::Errno;
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_frame::mm::{Frame, PageProt};

/// Access rights of a region (`PROT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prot {
    /// `PROT_READ`
    pub read: bool,
    /// `PROT_WRITE`
    pub write: bool,
    /// `PROT_EXEC`
    pub exec: bool,
}

impl Prot {
    /// Read and write.
    pub const RW: Prot = Prot {
        read: true,
        write: true,
        exec: false,
    };

    /// From `PROT_*` bits.
    pub fn from_bits(bits: u64) -> Prot {
        Prot {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
            exec: bits & 4 != 0,
        }
    }
}

/// Where a region's contents come from.
#[derive(Clone)]
pub enum Backing {
    /// Zero-filled memory.
    Anonymous,
    /// A regular file mapped `MAP_SHARED`: the page at `vaddr` is file page `first_page`, and every page is
    /// the frame of the file's page cache (see [`crate::fs::pages`]).
    Shared {
        /// The file.
        file: Arc<Inode>,
        /// The address of `first_page`.
        vaddr: u64,
        /// The file page mapped at `vaddr`.
        first_page: u64,
    },
    /// Bytes of a file, private to the process: `file[offset..offset + len]` appear at `vaddr`; the rest of
    /// the region reads as zeros (an executable's `.bss`).
    File {
        /// The file's contents.
        data: Arc<Vec<u8>>,
        /// The address where the file bytes start.
        vaddr: u64,
        /// Offset in `data` of the byte at `vaddr`.
        offset: u64,
        /// How many file bytes the region maps.
        len: u64,
    },
}

/// A range of the address space. See the module documentation.
#[derive(Clone)]
pub struct Region {
    /// First address (page-aligned).
    pub start: u64,
    /// One past the last address (page-aligned).
    pub end: u64,
    /// Access rights.
    pub prot: Prot,
    /// `MAP_SHARED`: pages are shared with forked children, never copied.
    pub shared: bool,
    /// The contents.
    pub backing: Backing,
}

impl Region {
    /// Zero-filled memory.
    pub fn anonymous(start: u64, end: u64, prot: Prot, shared: bool) -> Region {
        Region {
            start,
            end,
            prot,
            shared,
            backing: Backing::Anonymous,
        }
    }

    /// The rights its pages are mapped with.
    pub fn page_prot(&self) -> PageProt {
        PageProt {
            write: self.prot.write,
            exec: self.prot.exec,
        }
    }

    /// The part `[start, end)` of this region.
    pub fn slice(&self, start: u64, end: u64) -> Region {
        Region {
            start,
            end,
            ..self.clone()
        }
    }

    /// This region moved to start at `to` (its contents move with it).
    pub fn moved_to(&self, to: u64) -> Region {
        let backing = match &self.backing {
            Backing::Anonymous => Backing::Anonymous,
            Backing::File {
                data,
                vaddr,
                offset,
                len,
            } => Backing::File {
                data: data.clone(),
                vaddr: vaddr - self.start + to,
                offset: *offset,
                len: *len,
            },
            Backing::Shared {
                file,
                vaddr,
                first_page,
            } => Backing::Shared {
                file: file.clone(),
                vaddr: vaddr - self.start + to,
                first_page: *first_page,
            },
        };
        Region {
            start: to,
            end: to + (self.end - self.start),
            backing,
            ..self.clone()
        }
    }

    /// The file and file page a shared file mapping maps at `page`.
    pub fn shared_page(&self, page: u64) -> Option<(&Arc<Inode>, u64)> {
        match &self.backing {
            Backing::Shared {
                file,
                vaddr,
                first_page,
            } => Some((file, first_page + (page - vaddr) / PAGE)),
            _ => None,
        }
    }

    /// A new frame with the contents of the page at `page` (not for shared file mappings, whose frames are
    /// the file's: [`Region::shared_page`]).
    pub fn fill(&self, page: u64) -> Result<Frame, Errno> {
        let frame = zeroed_frame()?;
        if let Backing::File {
            data,
            vaddr,
            offset,
            len,
        } = &self.backing
        {
            let from = page.max(*vaddr);
            let to = (page + PAGE).min(vaddr.saturating_add(*len));
            if from < to {
                let at = (offset + (from - vaddr)) as usize;
                let bytes = data.get(at..at + (to - from) as usize).ok_or(Errno::EFAULT)?;
                frame.write_bytes((from - page) as usize, bytes);
            }
        }
        Ok(frame)
    }
}
