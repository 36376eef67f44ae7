//! Every live Unix socket, for `/proc/net/unix`: a list of weak references that sockets join when made
//! (dead ones are pruned whenever the list doubles), each with the inode number the table shows.

use super::unix::{SockType, UnixSocket};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use ember_netconf::procnet::UnixRow;
use ember_sockmsg::UnixAddr;
use spin::Mutex;

static ALL: Mutex<Vec<Weak<UnixSocket>>> = Mutex::new(Vec::new());
/// The next socket inode number (high, away from the file tree's).
static NEXT_INODE: AtomicU64 = AtomicU64::new(1 << 32);
/// The list's length after the last pruning: the next one comes at twice that.
static PRUNED_AT: AtomicU64 = AtomicU64::new(0);

/// A fresh inode number for a socket.
pub fn inode() -> u64 {
    NEXT_INODE.fetch_add(1, Ordering::Relaxed)
}

/// Adds `s` to the table.
pub fn register(s: &Arc<UnixSocket>) {
    let mut all = ALL.lock();
    if all.len() as u64 >= 2 * PRUNED_AT.load(Ordering::Relaxed).max(32) {
        all.retain(|w| w.strong_count() > 0);
        PRUNED_AT.store(all.len() as u64, Ordering::Relaxed);
    }
    // (A failed allocation leaves the socket out of the table, nothing worse.)
    if all.try_reserve(1).is_ok() {
        all.push(Arc::downgrade(s));
    }
}

/// The rows of `/proc/net/unix`.
pub fn rows() -> Vec<UnixRow> {
    let live: Vec<Arc<UnixSocket>> = ALL.lock().iter().filter_map(Weak::upgrade).collect();
    live.iter()
        .map(|s| UnixRow {
            ty: match s.ty() {
                SockType::Stream => 1,
                SockType::Dgram => 2,
                SockType::SeqPacket => 5,
            },
            listening: s.listening(),
            connected: s.peer_name().is_ok(),
            inode: s.inode(),
            path: match s.name() {
                UnixAddr::Unnamed => Vec::new(),
                UnixAddr::Path(p) => p,
                UnixAddr::Abstract(a) => {
                    let mut p = alloc::vec![b'@'];
                    p.extend_from_slice(&a);
                    p
                }
            },
        })
        .collect()
}
