//! The vDSO: `clock_gettime`, `gettimeofday` and `time` in user space, without a system call.
//!
//! The image (`kernel/vdso/`, assembled and linked by the build script) reads one data page that the kernel
//! maps right below it: the monotonic clock's parameters (the framework's [`ember_frame::time::clock_params`],
//! the same formula the kernel uses) and the wall clock's offset, all fixed after boot. Both are mapped into
//! every new program by `execve` as private read-only file pages (copy-on-write if a program makes them
//! writable), and `AT_SYSINFO_EHDR` tells libc where the image is.

use crate::syscall::errno::Errno;
use crate::vm::{Backing, Prot, Region, Vm};
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::Once;

const PAGE: u64 = 4096;
static IMAGE_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// The data page followed by the image, made once the clock is known.
static PAGES: Once<Arc<Vec<u8>>> = Once::new();

fn pages() -> &'static Arc<Vec<u8>> {
    PAGES.call_once(|| {
        let clock = ember_frame::time::clock_params();
        let mut data = alloc::vec![0u8; PAGE as usize];
        data[0..8].copy_from_slice(&clock.tsc_at_zero.to_ne_bytes());
        data[8..16].copy_from_slice(&clock.ns_per_cycle.to_ne_bytes());
        data[16..24].copy_from_slice(&ember_frame::time::wall_offset_ns().to_ne_bytes());
        data.extend_from_slice(IMAGE_ELF);
        Arc::new(data)
    })
}

/// Maps the data page (read-only) and the vDSO (read and execute) into `vm` wherever there is room; returns the
/// image's address (for `AT_SYSINFO_EHDR`).
pub fn map_into(vm: &Vm) -> Result<u64, Errno> {
    let data = pages().clone();
    let len = data.len() as u64;
    let code = Prot {
        read: true,
        write: false,
        exec: true,
    };
    let base = vm.mmap(
        0,
        len,
        |start, end| Region {
            start,
            end,
            prot: code,
            shared: false,
            backing: Backing::Bytes {
                data,
                vaddr: start,
                offset: 0,
                len,
            },
        },
        false,
        false,
    )?;
    let read_only = Prot { exec: false, ..code };
    vm.protect(base, PAGE, read_only)?;
    Ok(base + PAGE)
}
