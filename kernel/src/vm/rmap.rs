//! Reverse mappings: the address spaces that map a file (shared, or private pages still the page cache's), so
//! that a truncation can unmap the pages past the new end in every one of them, as Linux's
//! `unmap_mapping_range`, and a write-back can take write access from their pages, as Linux's `page_mkclean`.
//! Each regular file's [`Inode`] has a [`FileMaps`].

use super::Vm;
use crate::fs::inode::Inode;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use ember_frame::sync::Mutex;

/// The address spaces that mapped a file. See the module documentation.
pub struct FileMaps {
    /// Bumped by every truncation once the pages past the end left the page cache, and by every write-back
    /// before it write-protects the mappings: a fault that looked its page up before then maps nothing and
    /// faults again (see [`FileMaps::generation`]).
    generation: AtomicU64,
    /// Registrations so far: a truncation walks the spaces again when one came in meanwhile (a fork
    /// copying a parent's page table while the parent's pages were being unmapped).
    added: AtomicU64,
    /// The spaces that mapped the file (some may have unmapped it since; dead ones are pruned on `add`).
    spaces: Mutex<Vec<Weak<Vm>>>,
}

impl Default for FileMaps {
    fn default() -> FileMaps {
        FileMaps::new()
    }
}

impl FileMaps {
    /// No mappings.
    pub const fn new() -> FileMaps {
        FileMaps {
            generation: AtomicU64::new(0),
            added: AtomicU64::new(0),
            spaces: Mutex::new(Vec::new()),
        }
    }

    /// The truncation and write-back count. A fault reads it before looking its page up in the cache and
    /// maps the page (under the regions' lock) only when it has not changed: a truncation that came between
    /// dropped the page, and may have unmapped this space before the fault maps it; a write-back that came
    /// between cleaned the page the fault dirtied, which must then not be mapped writable.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Records that `vm` maps the file (once).
    pub(super) fn add(&self, vm: &Weak<Vm>) {
        let mut spaces = self.spaces.lock();
        spaces.retain(|w| w.strong_count() > 0);
        if !spaces.iter().any(|w| Weak::ptr_eq(w, vm)) {
            spaces.push(vm.clone());
            self.added.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Unmaps file pages `index..` of `file` from every space that maps them (shared pages and private
    /// ones alike, copied or not: Linux's truncation drops private copies too). Called after the pages left
    /// the cache, so a later access faults: `SIGBUS` past the end, zeros once the file grows again.
    pub fn unmap_from(&self, file: &Inode, index: u64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.each_space(|vm| vm.unmap_file(file, index));
    }

    /// Makes every shared mapping of `file` read-only, for a write-back of its dirty pages (called with them
    /// marked clean, before their bytes are read): the next store through a mapping faults and marks its
    /// page dirty again.
    pub fn write_protect(&self, file: &Inode) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.each_space(|vm| vm.write_protect_file(file));
    }

    /// Runs `f` on every space that maps the file, and again on all of them while one registered meanwhile (a
    /// fork copying a parent's page table while the parent's pages were being changed).
    fn each_space(&self, mut f: impl FnMut(&Vm)) {
        loop {
            let seen = self.added.load(Ordering::SeqCst);
            let spaces: Vec<Arc<Vm>> = self.spaces.lock().iter().filter_map(Weak::upgrade).collect();
            for vm in &spaces {
                f(vm);
            }
            if self.added.load(Ordering::SeqCst) == seen {
                return;
            }
        }
    }
}
