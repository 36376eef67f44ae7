//! kvmclock (KVM's paravirtual clock, which Firecracker provides): the TSC frequency without calibration, and
//! the wall-clock time (Firecracker has no RTC).

use crate::arch::regs::{cpuid, wrmsr};
use crate::mm::{self, layout::phys_to_virt};
use core::ptr::read_volatile;

const MSR_KVM_WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;
/// Offsets in the page shared with the hypervisor.
const TIME_INFO: u64 = 0;
const WALL_CLOCK: u64 = 64;

/// What kvmclock told us.
pub(super) struct KvmClock {
    /// TSC frequency in Hz.
    pub tsc_hz: u64,
    /// Wall-clock time in nanoseconds since the Unix epoch, at the moment of reading.
    pub wall_ns: u64,
}

/// Whether the hypervisor is KVM with the kvmclock MSRs.
fn available() -> bool {
    if cpuid(1, 0).ecx & (1 << 31) == 0 || cpuid(0x4000_0000, 0).eax < 0x4000_0001 {
        return false;
    }
    let sig = cpuid(0x4000_0000, 0);
    let mut name = [0u8; 12];
    name[..4].copy_from_slice(&sig.ebx.to_le_bytes());
    name[4..8].copy_from_slice(&sig.ecx.to_le_bytes());
    name[8..].copy_from_slice(&sig.edx.to_le_bytes());
    &name == b"KVMKVMKVM\0\0\0" && cpuid(0x4000_0001, 0).eax & KVM_FEATURE_CLOCKSOURCE2 != 0
}

/// Registers a page with kvmclock and reads it once.
pub(super) fn read() -> Option<KvmClock> {
    if !available() {
        return None;
    }
    let page = mm::alloc_shared_page()?;
    // SAFETY: the MSRs exist (KVM signature and CLOCKSOURCE2 checked). They tell the hypervisor to write the
    // time structures into `page`, a zeroed frame the framework owns forever and only ever reads with volatile
    // reads, so the hypervisor's writes cannot invalidate any Rust reference.
    unsafe {
        wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (page + TIME_INFO) | 1);
        wrmsr(MSR_KVM_WALL_CLOCK_NEW, page + WALL_CLOCK);
    }
    let base = phys_to_virt(page);
    let (mul, shift, system_ns) = loop {
        // SAFETY: `base` is the direct-map address of the page above; the fields are naturally aligned.
        let (v1, mul, shift, system_ns, v2) = unsafe {
            let v1 = read_volatile(base as *const u32);
            let system_ns = read_volatile((base + 16) as *const u64);
            let mul = read_volatile((base + 24) as *const u32);
            let shift = read_volatile((base + 28) as *const i8);
            let v2 = read_volatile(base as *const u32);
            (v1, mul, shift, system_ns, v2)
        };
        if v1 == v2 && v1 % 2 == 0 {
            break (mul, shift, system_ns);
        }
    };
    if mul == 0 {
        return None;
    }
    // ns = ((tsc_delta << shift) * mul) >> 32, so one TSC tick is mul * 2^shift / 2^32 ns.
    let mut hz = (1_000_000_000u128 << 32) / mul as u128;
    hz = if shift >= 0 { hz >> shift } else { hz << -shift };
    // SAFETY: as above; the wall clock was written when its MSR was.
    let (sec, nsec) = unsafe {
        (
            read_volatile((base + WALL_CLOCK + 4) as *const u32),
            read_volatile((base + WALL_CLOCK + 8) as *const u32),
        )
    };
    Some(KvmClock {
        tsc_hz: hz as u64,
        wall_ns: sec as u64 * 1_000_000_000 + nsec as u64 + system_ns,
    })
}
