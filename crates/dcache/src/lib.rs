//! A directory-entry cache for disk file systems: per directory, names mapped to inode numbers, with negative
//! entries (a name known to be absent) and complete directories (every name is cached, so a name not cached
//! is absent without asking the disk).
//!
//! The cache only remembers what its owner tells it: the owner fills it from lookups and listings and updates
//! it after every change it makes to a directory, under the same lock as the change, so the cache never
//! answers differently from the disk. It holds at most a fixed number of names; when full it drops whole
//! directories, lowest inode number first. Names are hashed (one probe and one comparison per lookup, where
//! an ordered map compared the name at every level).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hashbrown::HashMap;

/// An inode number.
pub type Ino = u32;

/// What the cache knows about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The name is an entry for this inode.
    Found(Ino),
    /// The name is absent.
    Absent,
    /// Not known: ask the disk.
    Unknown,
}

#[derive(Default)]
struct Dir {
    /// Every entry is in `names`.
    complete: bool,
    /// Name to inode, or `None` for a name known to be absent.
    names: HashMap<Vec<u8>, Option<Ino>>,
}

/// The cache of one file system.
pub struct Dcache {
    dirs: BTreeMap<Ino, Dir>,
    /// Names held, over all directories.
    len: usize,
    max: usize,
}

impl Dcache {
    /// An empty cache that holds up to `max` names.
    pub fn new(max: usize) -> Dcache {
        Dcache {
            dirs: BTreeMap::new(),
            len: 0,
            max,
        }
    }

    /// Names held, over all directories.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What is known about `name` in directory `dir`.
    pub fn lookup(&self, dir: Ino, name: &[u8]) -> Lookup {
        let Some(d) = self.dirs.get(&dir) else {
            return Lookup::Unknown;
        };
        match d.names.get(name) {
            Some(Some(ino)) => Lookup::Found(*ino),
            Some(None) => Lookup::Absent,
            None if d.complete => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }

    /// Whether every entry of `dir` is cached.
    pub fn is_complete(&self, dir: Ino) -> bool {
        self.dirs.get(&dir).is_some_and(|d| d.complete)
    }

    /// Records the complete listing of `dir` (replacing what was known). A listing larger than half the
    /// cache is not kept.
    pub fn fill(&mut self, dir: Ino, entries: impl IntoIterator<Item = (Vec<u8>, Ino)>) {
        self.forget_dir(dir);
        let mut names = HashMap::new();
        for (name, ino) in entries {
            if names.len() >= self.max / 2 {
                return;
            }
            names.insert(name, Some(ino));
        }
        self.make_room(names.len());
        self.len += names.len();
        self.dirs.insert(dir, Dir { complete: true, names });
    }

    /// Records that `name` in `dir` is `ino` (`None`: absent), as a lookup found or a change made it.
    pub fn set(&mut self, dir: Ino, name: &[u8], ino: Option<Ino>) {
        let complete = self.is_complete(dir);
        if ino.is_none() && complete {
            // Absence is implied in a complete directory.
            if let Some(d) = self.dirs.get_mut(&dir)
                && d.names.remove(name).is_some()
            {
                self.len -= 1;
            }
            return;
        }
        if !self.dirs.get(&dir).is_some_and(|d| d.names.contains_key(name)) {
            self.make_room(1);
            self.len += 1;
        }
        self.dirs.entry(dir).or_default().names.insert(name.to_vec(), ino);
    }

    /// Forgets what is known about `name` in `dir` (the directory is no longer complete).
    pub fn forget(&mut self, dir: Ino, name: &[u8]) {
        if let Some(d) = self.dirs.get_mut(&dir) {
            d.complete = false;
            if d.names.remove(name).is_some() {
                self.len -= 1;
            }
        }
    }

    /// Forgets everything about directory `dir`.
    pub fn forget_dir(&mut self, dir: Ino) {
        if let Some(d) = self.dirs.remove(&dir) {
            self.len -= d.names.len();
        }
    }

    /// Drops whole directories until `more` names fit.
    fn make_room(&mut self, more: usize) {
        while self.len + more > self.max {
            let Some((_, d)) = self.dirs.pop_first() else {
                return;
            };
            self.len -= d.names.len();
        }
    }
}

#[cfg(test)]
mod tests;
