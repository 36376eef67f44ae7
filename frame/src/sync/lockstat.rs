//! The lock-contention profile: per lock class (the source line that made the lock), how often it was
//! taken, how often the taker found it held, and the TSC cycles takers spent waiting. Off until [`enable`];
//! read with [`snapshot`] (`/proc/lockstat`, and the power-off report under `ember.lockstat`).
//!
//! Classes live in a fixed open-addressed table keyed by the `Location`'s address, filled lock-free on first
//! use (the profile runs inside the heap's own lock, so it must not allocate). Classes beyond the table's
//! size are counted together in [`overflowed`].

use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::Once;

/// Lock classes the table holds.
const SLOTS: usize = 1024;

/// Whether acquisitions are counted.
pub(super) static ENABLED: AtomicBool = AtomicBool::new(false);
/// Acquisitions of classes that found no free slot.
static OVERFLOW: AtomicU64 = AtomicU64::new(0);

/// One lock class's counters.
struct Slot {
    /// The class's `Location` address (0: free).
    key: AtomicUsize,
    class: Once<&'static Location<'static>>,
    acquired: AtomicU64,
    contended: AtomicU64,
    wait_cycles: AtomicU64,
    max_wait: AtomicU64,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        key: AtomicUsize::new(0),
        class: Once::new(),
        acquired: AtomicU64::new(0),
        contended: AtomicU64::new(0),
        wait_cycles: AtomicU64::new(0),
        max_wait: AtomicU64::new(0),
    }
}; SLOTS];

/// Starts counting (`ember.lockstat` on the command line).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether counting is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Acquisitions not counted under a class because the table was full.
pub fn overflowed() -> u64 {
    OVERFLOW.load(Ordering::Relaxed)
}

/// Counts one acquisition of `class` (unless `acquired` is false: a wait counted apart from its acquisition),
/// contended when `waited` holds the cycles spent waiting.
pub(super) fn record(class: &'static Location<'static>, acquired: bool, waited: Option<u64>) {
    let Some(slot) = slot(class) else {
        OVERFLOW.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if acquired {
        slot.acquired.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(cycles) = waited {
        slot.contended.fetch_add(1, Ordering::Relaxed);
        slot.wait_cycles.fetch_add(cycles, Ordering::Relaxed);
        slot.max_wait.fetch_max(cycles, Ordering::Relaxed);
    }
}

/// The slot of `class`, claimed on first use.
fn slot(class: &'static Location<'static>) -> Option<&'static Slot> {
    let key = class as *const Location<'static> as usize;
    let start = (key >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54;
    for i in 0..SLOTS {
        let slot = &TABLE[(start + i) % SLOTS];
        match slot.key.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                slot.class.call_once(|| class);
                return Some(slot);
            }
            Err(k) if k == key => return Some(slot),
            Err(_) => {}
        }
    }
    None
}

/// One lock class's figures.
#[derive(Clone, Copy, Debug)]
pub struct ClassStat {
    /// Where the locks of the class are made.
    pub class: &'static Location<'static>,
    /// Acquisitions.
    pub acquired: u64,
    /// Acquisitions that found the lock held.
    pub contended: u64,
    /// TSC cycles spent waiting, in all.
    pub wait_cycles: u64,
    /// The longest wait, in TSC cycles.
    pub max_wait_cycles: u64,
}

/// Every class counted so far, in table order.
pub fn snapshot() -> impl Iterator<Item = ClassStat> {
    TABLE.iter().filter_map(|slot| {
        let class = *slot.class.get()?;
        Some(ClassStat {
            class,
            acquired: slot.acquired.load(Ordering::Relaxed),
            contended: slot.contended.load(Ordering::Relaxed),
            wait_cycles: slot.wait_cycles.load(Ordering::Relaxed),
            max_wait_cycles: slot.max_wait.load(Ordering::Relaxed),
        })
    })
}
