//! [`Region`]: a range of a process's address space with one set of rights and one source of contents.

use super::{PAGE, zeroed_frame};
use crate::fs::inode::{Inode, Writer};
use crate::fs::pages::PAST_EOF;
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
        /// Counts the mapping as a writer of its file system while it lasts, when the file was opened for
        /// writing (as Linux's mapping holds such a file): a read-only remount is then refused (`EBUSY`).
        writer: Option<Arc<Writer>>,
    },
    /// A regular file mapped privately (`MAP_PRIVATE`, an executable's segments): `file[offset..offset +
    /// len]` appear at `vaddr`; the rest of the region reads as zeros (an executable's `.bss`). A page that
    /// is a whole file page (see [`Region::cache_page`]) maps the page cache's frame read-only, so `write`s
    /// to the file show through it, until the process writes to it: then it gets a copy.
    File {
        /// The file.
        file: Arc<Inode>,
        /// The address where the file bytes start.
        vaddr: u64,
        /// Offset in the file of the byte at `vaddr`.
        offset: u64,
        /// How many file bytes the region maps (`u64::MAX`: up to the end of the file, `SIGBUS` past it).
        len: u64,
    },
    /// Bytes in kernel memory (the vDSO), private to the process: `data[offset..offset + len]` appear at
    /// `vaddr`; the rest of the region reads as zeros.
    Bytes {
        /// The bytes.
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
                file,
                vaddr,
                offset,
                len,
            } => Backing::File {
                file: file.clone(),
                vaddr: vaddr - self.start + to,
                offset: *offset,
                len: *len,
            },
            Backing::Bytes {
                data,
                vaddr,
                offset,
                len,
            } => Backing::Bytes {
                data: data.clone(),
                vaddr: vaddr - self.start + to,
                offset: *offset,
                len: *len,
            },
            Backing::Shared {
                file,
                vaddr,
                first_page,
                writer,
            } => Backing::Shared {
                file: file.clone(),
                vaddr: vaddr - self.start + to,
                first_page: *first_page,
                writer: writer.clone(),
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
                ..
            } => Some((file, first_page + (page - vaddr) / PAGE)),
            _ => None,
        }
    }

    /// The file a shared or private file mapping maps.
    pub fn file(&self) -> Option<&Arc<Inode>> {
        match &self.backing {
            Backing::Shared { file, .. } | Backing::File { file, .. } => Some(file),
            _ => None,
        }
    }

    /// Whether `other` maps the same file bytes at the same addresses (a private file mapping that a fault
    /// looked at before it let the regions' lock go is still there).
    pub fn same_source(&self, other: &Region) -> bool {
        match (&self.backing, &other.backing) {
            (
                Backing::File {
                    file,
                    vaddr,
                    offset,
                    len,
                },
                Backing::File {
                    file: f,
                    vaddr: v,
                    offset: o,
                    len: l,
                },
            ) => Arc::ptr_eq(file, f) && (vaddr, offset, len) == (v, o, l),
            _ => false,
        }
    }

    /// The first address of `[start, end)` (page-aligned) whose page is (or is copied from) file page
    /// `index` or a later one of this region's file, and where such pages end: what a truncation to
    /// `index` pages unmaps. `None` when no page there is.
    pub fn file_pages_from(&self, index: u64) -> Option<(u64, u64)> {
        let (first, last) = match &self.backing {
            Backing::Shared { vaddr, first_page, .. } => {
                let first = match index.checked_sub(*first_page) {
                    Some(n) => vaddr.saturating_add(n.saturating_mul(PAGE)),
                    None => *vaddr,
                };
                (first, self.end)
            }
            Backing::File { vaddr, offset, len, .. } => {
                // The page holding file byte `index * PAGE`, and the page after the file bytes' end.
                let at = index.saturating_mul(PAGE);
                let first = match at.checked_sub(*offset) {
                    Some(n) => (vaddr.saturating_add(n)) & !(PAGE - 1),
                    None => *vaddr & !(PAGE - 1),
                };
                let last = vaddr.saturating_add(*len).saturating_add(PAGE - 1) & !(PAGE - 1);
                (first, last)
            }
            _ => return None,
        };
        let (first, last) = (first.max(self.start), last.min(self.end));
        (first < last).then_some((first, last))
    }

    /// For a private file mapping, the file and file page that the page at `page` is whole: file bytes
    /// placed at the same offsets in a page as in the file (the cache's frame can be mapped there as it is).
    /// `None` for pages that must be filled with a copy (the file bytes end inside it, or are not
    /// page-aligned like in the file) and for pages past the file bytes.
    pub fn cache_page(&self, page: u64) -> Option<(&Arc<Inode>, u64)> {
        let Backing::File {
            file,
            vaddr,
            offset,
            len,
        } = &self.backing
        else {
            return None;
        };
        let front = vaddr % PAGE;
        let whole = front == offset % PAGE
            && page.checked_add(PAGE).is_some_and(|e| e <= vaddr.saturating_add(*len))
            && page + front >= *vaddr;
        if !whole {
            return None;
        }
        // `offset - front` is the file offset of the page at `vaddr - front` (the congruence makes it whole).
        let at = (offset - front).checked_add(page - (vaddr - front))?;
        Some((file, at / PAGE))
    }

    /// A new frame with the contents of the page at `page`, for pages [`Region::cache_page`] does not give
    /// (not for shared file mappings, whose frames are the file's: [`Region::shared_page`]). A file's bytes
    /// are read from it, which may sleep: never under the regions' lock.
    pub fn fill(&self, page: u64) -> Result<Frame, Errno> {
        let frame = zeroed_frame()?;
        let (vaddr, len) = match &self.backing {
            Backing::File { vaddr, len, .. } | Backing::Bytes { vaddr, len, .. } => (*vaddr, *len),
            _ => return Ok(frame),
        };
        let from = page.max(vaddr);
        let to = (page + PAGE).min(vaddr.saturating_add(len));
        if from >= to {
            return Ok(frame);
        }
        match &self.backing {
            Backing::File { file, offset, .. } => {
                let mut buf = [0u8; PAGE as usize];
                let want = &mut buf[..(to - from) as usize];
                let at = offset.checked_add(from - vaddr).ok_or(PAST_EOF)?;
                let n = file.read_at(at, want)?;
                if n == 0 {
                    // Nothing of the file is left there: past its end, as Linux (`SIGBUS`).
                    return Err(PAST_EOF);
                }
                frame.write_bytes((from - page) as usize, &want[..n]);
            }
            Backing::Bytes { data, offset, .. } => {
                let at = (offset + (from - vaddr)) as usize;
                let bytes = data.get(at..at + (to - from) as usize).ok_or(Errno::EFAULT)?;
                frame.write_bytes((from - page) as usize, bytes);
            }
            _ => {}
        }
        Ok(frame)
    }
}
