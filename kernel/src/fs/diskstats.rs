//! What each disk and partition asked of its device, for Linux's `/proc/diskstats` (what `iostat` and
//! `vmstat -d` read): requests completed, sectors moved and milliseconds spent, for reads, writes and flushes.
//! The counts are of requests that reached the device, after the buffer cache: a read served from memory
//! counts nothing. A request is counted for its disk and for the partition holding its first sector.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use ember_frame::sync::Mutex;

/// One disk's or partition's counts.
#[derive(Default)]
pub struct IoStats {
    reads: AtomicU64,
    read_sectors: AtomicU64,
    read_ns: AtomicU64,
    writes: AtomicU64,
    write_sectors: AtomicU64,
    write_ns: AtomicU64,
    flushes: AtomicU64,
    flush_ns: AtomicU64,
}

/// What a request did.
#[derive(Clone, Copy)]
pub enum Io {
    /// Read this many sectors.
    Read(u64),
    /// Wrote this many sectors.
    Write(u64),
    /// A cache flush.
    Flush,
}

impl IoStats {
    fn add(&self, io: Io, ns: u64) {
        let (count, sectors, time) = match io {
            Io::Read(n) => (&self.reads, Some((&self.read_sectors, n)), &self.read_ns),
            Io::Write(n) => (&self.writes, Some((&self.write_sectors, n)), &self.write_ns),
            Io::Flush => (&self.flushes, None, &self.flush_ns),
        };
        count.fetch_add(1, Ordering::Relaxed);
        if let Some((s, n)) = sectors {
            s.fetch_add(n, Ordering::Relaxed);
        }
        time.fetch_add(ns, Ordering::Relaxed);
    }

    /// Its `/proc/diskstats` line for device `major:minor` named `name` (Linux 5.5's 17 counters; nothing
    /// is merged, discarded or in flight between calls, the weighted time is the busy time).
    pub fn line(&self, out: &mut alloc::string::String, major: u32, minor: u32, name: &str) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let ms = |a: &AtomicU64| get(a) / 1_000_000;
        let busy = ms(&self.read_ns) + ms(&self.write_ns) + ms(&self.flush_ns);
        let _ = writeln!(
            out,
            "{major:4} {minor:7} {name} {} 0 {} {} {} 0 {} {} 0 {busy} {busy} 0 0 0 0 {} {}",
            get(&self.reads),
            get(&self.read_sectors),
            ms(&self.read_ns),
            get(&self.writes),
            get(&self.write_sectors),
            ms(&self.write_ns),
            get(&self.flushes),
            ms(&self.flush_ns),
        );
    }
}

/// A whole disk's counts and its partitions' (by first and last-plus-one sector).
#[derive(Default)]
pub struct DiskIo {
    whole: Arc<IoStats>,
    parts: Mutex<Vec<(u64, u64, Arc<IoStats>)>>,
}

impl DiskIo {
    /// The whole disk's counts.
    pub fn whole(&self) -> Arc<IoStats> {
        self.whole.clone()
    }

    /// New counts for the partition at sectors `[start, end)`.
    pub fn partition(&self, start: u64, end: u64) -> Arc<IoStats> {
        let s = Arc::new(IoStats::default());
        self.parts.lock().push((start, end, s.clone()));
        s
    }

    /// Counts a request at `sector` that took `ns` nanoseconds.
    pub fn add(&self, sector: u64, io: Io, ns: u64) {
        self.whole.add(io, ns);
        if let Io::Flush = io {
            return;
        }
        if let Some((_, _, p)) = self.parts.lock().iter().find(|(s, e, _)| (*s..*e).contains(&sector)) {
            p.add(io, ns);
        }
    }
}
