//! [`Region`]: a range of a process's address space with one set of rights and one source of contents.

use super::{PAGE, zeroed_frame};
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use ember_frame::mm::{Frame, PageProt};
use ember_frame::sync::Mutex;

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
    /// A file mapped `MAP_SHARED`: the page at `vaddr` is file page `first_page`.
    Shared {
        /// The file's shared pages.
        file: Arc<SharedFile>,
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

/// The pages of a file mapped `MAP_SHARED`: every shared mapping of the file, in every process, maps these
/// frames, made from the file's contents at the first mapping. Writes through the mappings are not written
/// back to the file (nor `write`s to the file seen in them): enough for the common use, memory shared between
/// processes through a `/dev/shm` file.
pub struct SharedFile {
    data: Vec<u8>,
    pages: Mutex<BTreeMap<u64, Frame>>,
}

/// Shared mappings by inode number, while any mapping lives.
static SHARED_FILES: Mutex<BTreeMap<u64, Weak<SharedFile>>> = Mutex::new(BTreeMap::new());

impl SharedFile {
    /// The shared pages of inode `ino` (made from `data` when no mapping of it lives).
    pub fn of(ino: u64, data: Vec<u8>) -> Arc<SharedFile> {
        let mut files = SHARED_FILES.lock();
        files.retain(|_, f| f.strong_count() > 0);
        if let Some(f) = files.get(&ino).and_then(Weak::upgrade) {
            return f;
        }
        let f = Arc::new(SharedFile {
            data,
            pages: Mutex::new(BTreeMap::new()),
        });
        files.insert(ino, Arc::downgrade(&f));
        f
    }

    /// Zero-filled pages that belong to no file (a System V shared memory segment).
    pub fn anonymous() -> Arc<SharedFile> {
        Arc::new(SharedFile {
            data: Vec::new(),
            pages: Mutex::new(BTreeMap::new()),
        })
    }

    /// How many of its pages exist (were touched).
    pub fn resident_pages(&self) -> usize {
        self.pages.lock().len()
    }

    /// The frame of file page `index`.
    fn page(&self, index: u64) -> Result<Frame, Errno> {
        let mut pages = self.pages.lock();
        if let Some(f) = pages.get(&index) {
            return Ok(f.clone());
        }
        let frame = zeroed_frame()?;
        let start = (index * PAGE) as usize;
        if let Some(bytes) = self.data.get(start..(start + PAGE as usize).min(self.data.len())) {
            frame.write_bytes(0, bytes);
        }
        pages.insert(index, frame.clone());
        Ok(frame)
    }
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

    /// A new frame with the contents of the page at `page`.
    pub fn fill(&self, page: u64) -> Result<Frame, Errno> {
        if let Backing::Shared {
            file,
            vaddr,
            first_page,
        } = &self.backing
        {
            return file.page(first_page + (page - vaddr) / PAGE);
        }
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
