//! epoll instances: an interest list of (descriptor, open file) pairs, each with the events it wants and a
//! word handed back with them, checked level- or edge-triggered, optionally one-shot.
//!
//! Readiness comes from each file's `poll` and the shared wake-up of [`crate::fs::poll`]. Edge-triggered
//! entries are reported again only after some readiness change anywhere ([`poll::changes`] moved): a file
//! that stays ready is not reported twice in a row, but one may be reported again after another file's
//! activity (a spurious edge, which event loops that read until `EAGAIN` ignore).

use crate::fs::OpenFile;
use crate::fs::file::FileOps;
use crate::fs::poll;
use crate::syscall::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use ember_frame::sync::Mutex;
use linux_raw_sys::general::{EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT};

/// How deep epoll instances may watch each other (Linux's `EP_MAX_NESTS`).
const MAX_NESTING: usize = 4;

/// One watched file.
struct Entry {
    file: Weak<OpenFile>,
    /// The events asked for, with the `EPOLLET`/`EPOLLONESHOT` flags.
    events: u32,
    data: u64,
    /// Edge-triggered: the [`poll::changes`] count when last reported.
    reported_at: Option<u64>,
    /// One-shot and reported: silent until `EPOLL_CTL_MOD`.
    disarmed: bool,
}

/// Watched files by (descriptor, open-file address), as Linux keys them.
type Key = (i32, usize);

/// An epoll instance.
#[derive(Default)]
pub struct Epoll {
    entries: Mutex<BTreeMap<Key, Entry>>,
    /// Where the next collection starts, so that a short `maxevents` does not starve later entries.
    cursor: Mutex<Option<Key>>,
}

fn key(fd: i32, file: &Arc<OpenFile>) -> Key {
    (fd, Arc::as_ptr(file) as usize)
}

impl Epoll {
    /// An empty interest list.
    pub fn new() -> Epoll {
        Epoll::default()
    }

    /// `EPOLL_CTL_ADD`: `EEXIST` when the pair is watched already, `ELOOP` when it would make a cycle of
    /// epoll instances or nest them too deep.
    pub fn add(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        if let Some(inner) = file.other::<Epoll>()
            && inner.depth(self, 1)? >= MAX_NESTING
        {
            return Err(Errno::ELOOP);
        }
        let mut entries = self.entries.lock();
        entries.retain(|_, e| e.file.strong_count() > 0);
        let k = key(fd, file);
        if entries.contains_key(&k) {
            return Err(Errno::EEXIST);
        }
        entries.insert(
            k,
            Entry {
                file: Arc::downgrade(file),
                events,
                data,
                reported_at: None,
                disarmed: false,
            },
        );
        drop(entries);
        poll::notify();
        Ok(())
    }

    /// `EPOLL_CTL_MOD`: new events and data (re-arming a one-shot entry); `ENOENT` when not watched.
    pub fn modify(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        let mut entries = self.entries.lock();
        let e = entries.get_mut(&key(fd, file)).ok_or(Errno::ENOENT)?;
        e.events = events;
        e.data = data;
        e.reported_at = None;
        e.disarmed = false;
        drop(entries);
        poll::notify();
        Ok(())
    }

    /// `EPOLL_CTL_DEL`: `ENOENT` when not watched.
    pub fn remove(&self, fd: i32, file: &Arc<OpenFile>) -> Result<(), Errno> {
        self.entries
            .lock()
            .remove(&key(fd, file))
            .map(|_| ())
            .ok_or(Errno::ENOENT)
    }

    /// How deep the epoll instances under this one go (this one counting `level`); `ELOOP` when `target`
    /// is among them.
    fn depth(&self, target: &Epoll, level: usize) -> Result<usize, Errno> {
        if core::ptr::eq(self, target) {
            return Err(Errno::ELOOP);
        }
        if level > MAX_NESTING {
            return Err(Errno::ELOOP);
        }
        let inner: Vec<Arc<OpenFile>> = self.entries.lock().values().filter_map(|e| e.file.upgrade()).collect();
        let mut deepest = level;
        for f in &inner {
            if let Some(ep) = f.other::<Epoll>() {
                deepest = deepest.max(ep.depth(target, level + 1)?);
            }
        }
        Ok(deepest)
    }

    /// Up to `max` ready entries as (events, data), consuming edge-triggered and one-shot reports.
    pub fn collect(&self, max: usize) -> Vec<(u32, u64)> {
        // Read before polling: a change during the scan makes the next scan report edges again.
        let changes = poll::changes();
        let mut out = Vec::new();
        let mut entries = self.entries.lock();
        entries.retain(|_, e| e.file.strong_count() > 0);
        let mut cursor = self.cursor.lock();
        let start = cursor.unwrap_or((i32::MIN, 0));
        let keys: Vec<Key> = entries
            .range(start..)
            .chain(entries.range(..start))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if out.len() >= max {
                *cursor = Some(k);
                break;
            }
            let Some(e) = entries.get_mut(&k) else { continue };
            if e.disarmed {
                continue;
            }
            let Some(file) = e.file.upgrade() else { continue };
            let ready = file.poll() & (e.events | EPOLLERR | EPOLLHUP);
            if ready == 0 {
                continue;
            }
            if e.events & EPOLLET != 0 {
                if e.reported_at == Some(changes) {
                    continue;
                }
                e.reported_at = Some(changes);
            }
            if e.events & EPOLLONESHOT != 0 {
                e.disarmed = true;
            }
            out.push((ready, e.data));
        }
        out
    }

    /// Whether some entry would be reported now (without consuming anything).
    fn any_ready(&self) -> bool {
        let changes = poll::changes();
        self.entries.lock().values().any(|e| {
            !e.disarmed
                && (e.events & EPOLLET == 0 || e.reported_at != Some(changes))
                && e.file
                    .upgrade()
                    .is_some_and(|f| f.poll() & (e.events | EPOLLERR | EPOLLHUP) != 0)
        })
    }
}

impl FileOps for Epoll {
    fn read(&self, _: &mut [u8], _: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _: &[u8], _: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u32 {
        if self.any_ready() { EPOLLIN } else { 0 }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
