//! Where each CPU's time goes, for `/proc/stat`: user mode and halted (idle) are measured at their
//! boundaries (the return from user mode, the end of `hlt`); the rest of the time since the CPU came online
//! is the kernel's.

use super::local::{MAX_CPUS, current_index};
use crate::time::now_ns;
use core::sync::atomic::{AtomicU64, Ordering};

/// One CPU's counters (nanoseconds), on a cache line of their own.
#[repr(align(64))]
struct Counters {
    online_at: AtomicU64,
    user: AtomicU64,
    idle: AtomicU64,
}

static COUNTERS: [Counters; MAX_CPUS] = [const {
    Counters {
        online_at: AtomicU64::new(u64::MAX),
        user: AtomicU64::new(0),
        idle: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// A CPU's time since it came online, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    /// In user mode.
    pub user_ns: u64,
    /// In the kernel (neither user mode nor halted).
    pub system_ns: u64,
    /// Halted, waiting for an interrupt.
    pub idle_ns: u64,
}

/// Starts this CPU's accounting (as it comes online).
pub(crate) fn start_this_cpu() {
    COUNTERS[current_index()].online_at.store(now_ns(), Ordering::Relaxed);
}

/// Adds `ns` of user mode to this CPU.
pub(crate) fn add_user(ns: u64) {
    COUNTERS[current_index()].user.fetch_add(ns, Ordering::Relaxed);
}

/// Halts until an interrupt was handled ([`crate::arch::regs::idle`]), counting the time as idle.
pub(crate) fn idle() {
    let start = now_ns();
    crate::arch::regs::idle();
    let ns = now_ns().saturating_sub(start);
    COUNTERS[current_index()].idle.fetch_add(ns, Ordering::Relaxed);
}

/// CPU `index`'s times (zero for a CPU that is not online).
pub fn cpu_times(index: usize) -> CpuTimes {
    let Some(c) = COUNTERS.get(index) else {
        return CpuTimes::default();
    };
    let online_at = c.online_at.load(Ordering::Relaxed);
    if online_at == u64::MAX {
        return CpuTimes::default();
    }
    let user_ns = c.user.load(Ordering::Relaxed);
    let idle_ns = c.idle.load(Ordering::Relaxed);
    let total = now_ns().saturating_sub(online_at);
    CpuTimes {
        user_ns,
        system_ns: total.saturating_sub(user_ns).saturating_sub(idle_ns),
        idle_ns,
    }
}
