//! Boot self-tests, chosen with `ember.test=<name>` on the command line. The boot tests in `xtask` use them to
//! check, on a real VMM, what cannot be seen from the `ready` line alone.
//!
//! | name             | what it checks                                                               |
//! |------------------|------------------------------------------------------------------------------|
//! | `page-fault`     | a write to an unmapped address is reported and the VM fails                  |
//! | `invalid-opcode` | `ud2` is reported and the VM fails                                           |
//! | `stack-overflow` | runaway recursion hits the boot stack's guard page and is named as such      |
//! | `panic`          | a panic is reported and the VM fails                                         |
//! | `breakpoint`     | `int3` returns, with SSE state intact                                        |
//! | `fill-memory`    | the heap grows until RAM runs out; the initrd is untouched afterwards        |
//! | `cpu-tables-twice` | setting up the GDT/IDT again is refused with a panic                       |
//! | `mmio`           | device memory is held exclusively; the APICs, RAM and bad ranges are refused |
//! | `sleep`          | a 100 ms sleep on the timer interrupt lasts 100 ms of the monotonic clock     |
//! | `echo`           | a line typed on the console comes back (interrupt-driven input)              |
//! | `virtio-blk`     | each disk: hash of its first 4 KiB; a pattern written to sectors 8–15, read back |
//! | `blk-read-speed` | reads the first disk end to end and reports MiB/s                            |
//! | `random`         | the generator was seeded (from virtio-rng) and produces bytes                |
//! | `tasks`          | tasks switch, wait queues wake, sleepers wake on the timer                   |
//! | `heap-fragmented`| the heap grows when free memory is scattered page by page                    |
//! | `irq-sleep`      | an interrupt handler that sleeps is stopped with a clear panic                |
//! | `irq-trap`       | a trap inside an interrupt handler is reported as fatal, not nested          |
//! | `fs`             | the file tree from an initramfs, paths, open flags, devices, pipes, terminal output |
//! | `tty`            | a line typed on the console, edited by the terminal's line discipline, is read |
//! | `user-mode`      | user code runs and comes back by `syscall`, page fault and timer interrupt; user copies fault safely |

use crate::block::BlockDevice;
use crate::virtio::Devices;
use alloc::vec::Vec;
use ember_frame::mm::{self, IoMem, IoMemError};
use ember_frame::{console, debug, println, time};

/// Why a self-test did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No self-test has that name.
    Unknown,
    /// The self-test ran and found this wrong.
    Failed(&'static str),
}

/// Runs the self-test called `name`. Tests that end the VM never return.
pub fn run(name: &str, devices: &mut Devices) -> Result<(), Error> {
    log::info!("self-test: {name}");
    let result = match name {
        "page-fault" => debug::page_fault(),
        "invalid-opcode" => debug::invalid_opcode(),
        "stack-overflow" => {
            let depth = recurse(core::hint::black_box(1));
            log::error!("recursion returned at depth {depth}");
            Err("stack overflow was not caught")
        }
        "panic" => panic!("requested by ember.test=panic"),
        "cpu-tables-twice" => {
            debug::reinit_cpu_tables();
            Err("the CPU tables were set up twice")
        }
        "breakpoint" => match debug::breakpoint_preserves_sse() {
            true => Ok(()),
            false => Err("xmm0 changed across a breakpoint trap"),
        },
        "fill-memory" => fill_memory(),
        "mmio" => mmio(),
        "sleep" => sleep(),
        "virtio-blk" => virtio_blk(devices),
        "blk-read-speed" => blk_read_speed(devices),
        "random" => random(),
        "echo" => echo(),
        "tasks" => crate::selftest_framework::tasks(),
        "user-mode" => crate::selftest_framework::user_mode(),
        "irq-sleep" => crate::selftest_framework::misbehaving_handler("sleep"),
        "heap-fragmented" => crate::selftest_framework::heap_fragmented(),
        "irq-trap" => crate::selftest_framework::misbehaving_handler("trap"),
        "fs" => crate::selftest_fs::fs(),
        "tty" => crate::selftest_fs::tty(),
        _ => return Err(Error::Unknown),
    };
    result.map_err(Error::Failed)
}

/// Recurses without bound (the result depends on every frame, so it cannot become a loop).
fn recurse(n: u64) -> u64 {
    let pad = core::hint::black_box([n; 64]);
    if n == 0 {
        0
    } else {
        recurse(pad[n as usize % 64] + 1).wrapping_add(pad[3])
    }
}

/// FNV-1a, 64-bit: enough to notice an overwritten byte; the host computes the same.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Takes all free memory through the heap, writes every page of it, and checks the initrd is unchanged.
fn fill_memory() -> Result<(), &'static str> {
    let initrd = mm::take_initrd();
    let initrd_before = initrd.as_ref().map(|i| fnv1a(i.bytes()));
    const CHUNK: usize = 64 * 1024;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(CHUNK).is_err() || chunks.try_reserve(1).is_err() {
            break;
        }
        chunk.resize(CHUNK, 0xA5);
        chunks.push(chunk);
    }
    let filled = (chunks.len() * CHUNK) as u64;
    if chunks.iter().any(|c| c.iter().step_by(4096).any(|&b| b != 0xA5)) {
        return Err("heap memory changed under us");
    }
    log::info!(
        "fill-memory: filled {} MiB of {} MiB usable; {} KiB left free",
        filled >> 20,
        mm::usable_bytes() >> 20,
        mm::free_bytes() >> 10
    );
    if let Some(before) = initrd_before {
        let after = initrd.as_ref().map(|i| fnv1a(i.bytes()));
        ember_frame::println!("ember: initrd fnv1a={:016x}", after.unwrap_or(0));
        if after != Some(before) {
            return Err("the initrd changed while memory was filled");
        }
    }
    Ok(())
}

/// Device memory is an exclusive acquisition: the framework's interrupt controllers, RAM (whole pages of it)
/// and ranges past the CPU's reach are refused; a range held by one `IoMem` is refused to a second until the
/// first is dropped; accesses are bounds-checked.
fn mmio() -> Result<(), &'static str> {
    // IOAPIC (its registers, then the rest of its page), the local APIC's page, the interrupt address window.
    for (phys, len) in [
        (0xFEC0_0000, 0x20),
        (0xFEC0_0FF0, 0x10),
        (0xFEE0_0000, 4),
        (0xFEEF_F000, 0x1000),
    ] {
        if IoMem::map(phys, len).err() != Some(IoMemError::FrameworkOwned) {
            log::error!("mmio: {phys:#x} (+{len:#x}) was not refused as the framework's");
            return Err("a device the framework drives was handed out");
        }
    }
    if IoMem::map(0x10_0000, 0x1000).err() != Some(IoMemError::NotDevice) {
        return Err("mapping RAM as device memory was allowed");
    }
    for (phys, len) in [(u64::MAX - 0x10, 0x20), (u64::MAX - 0x10, 0x10), (1 << 52, 0x1000)] {
        if IoMem::map(phys, len).err() != Some(IoMemError::BadRange) {
            return Err("a range past the physical address space was not refused");
        }
    }
    // Two slots of QEMU microvm's virtio window (nothing there in this boot): one page, two owners.
    const SLOT: u64 = 0xFEB0_0000;
    let first = IoMem::map(SLOT, 0x200).map_err(|_| "mapping free device memory failed")?;
    if IoMem::map(SLOT + 0x100, 0x10).err() != Some(IoMemError::Busy) {
        return Err("a second IoMem over held device memory was allowed");
    }
    let _second = IoMem::map(SLOT + 0x200, 0x200).map_err(|_| "the next slot in the page was refused")?;
    if first.read32(0x200).is_ok() || first.read32(2).is_ok() {
        return Err("an out-of-bounds or misaligned access was allowed");
    }
    drop(first);
    IoMem::map(SLOT, 0x200).map_err(|_| "device memory was not given back on drop")?;
    log::info!("mmio: framework devices, RAM and bad ranges refused; exclusive claims hold");
    Ok(())
}

/// Sleeps 100 ms and reports how long that took on the monotonic clock.
fn sleep() -> Result<(), &'static str> {
    const ASKED_NS: u64 = 100_000_000;
    let start = time::now_ns();
    time::sleep_ns(ASKED_NS);
    let slept = time::now_ns() - start;
    println!("ember: sleep: asked {} us, slept {} us", ASKED_NS / 1000, slept / 1000);
    if slept < ASKED_NS { Err("woke up early") } else { Ok(()) }
}

/// Reads one line from the console and prints it back.
fn echo() -> Result<(), &'static str> {
    println!("ember: echo: type a line");
    let mut line = Vec::new();
    loop {
        match console::read_byte() {
            b'\r' | b'\n' => break,
            b if line.len() < 256 => line.push(b),
            _ => {}
        }
    }
    println!("ember: echo: {}", core::str::from_utf8(&line).unwrap_or("(not UTF-8)"));
    Ok(())
}

/// The pattern `virtio-blk` writes to disk `disk` (the host checks it in the image afterwards).
pub fn blk_pattern(disk: usize) -> [u8; 4096] {
    core::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(disk as u8) ^ 0x5A)
}

fn virtio_blk(devices: &mut Devices) -> Result<(), &'static str> {
    if devices.blocks.is_empty() {
        return Err("no block device");
    }
    for (i, d) in devices.blocks.iter_mut().enumerate() {
        let mut head = [0u8; 4096];
        d.read(0, &mut head).map_err(|_| "reading sectors 0-7 failed")?;
        println!(
            "ember: blk{i}: {} sectors; head fnv1a={:016x}",
            d.sectors(),
            fnv1a(&head)
        );
        if d.read_only() {
            continue;
        }
        let pattern = blk_pattern(i);
        d.write(8, &pattern).map_err(|_| "writing sectors 8-15 failed")?;
        d.flush().map_err(|_| "flush failed")?;
        let mut back = [0u8; 4096];
        d.read(8, &mut back).map_err(|_| "reading sectors 8-15 back failed")?;
        if back != pattern {
            return Err("the pattern read back differs");
        }
        if d.read(d.sectors(), &mut back[..512]).is_ok() {
            return Err("a read past the end was allowed");
        }
        println!("ember: blk{i}: wrote pattern");
    }
    Ok(())
}

fn blk_read_speed(devices: &mut Devices) -> Result<(), &'static str> {
    let d = devices.blocks.first_mut().ok_or("no block device")?;
    // 1 MiB when memory allows; less in a small VM (down to one request), never a panic.
    let mut buf = Vec::new();
    let mut len = 1 << 20;
    while buf.try_reserve_exact(len).is_err() {
        if len <= crate::virtio::blk::CHUNK {
            return Err("no memory for a read buffer");
        }
        len /= 2;
    }
    buf.resize(len, 0u8);
    if len < 1 << 20 {
        log::info!("blk-read-speed: low on memory; reading {} KiB at a time", len >> 10);
    }
    let total = d.sectors() * 512;
    let start = time::now_ns();
    let mut sector = 0;
    while sector < d.sectors() {
        let n = ((d.sectors() - sector) as usize * 512).min(buf.len());
        d.read(sector, &mut buf[..n]).map_err(|_| "read failed")?;
        sector += (n / 512) as u64;
    }
    let ns = (time::now_ns() - start).max(1);
    println!(
        "ember: blk0: read {} MiB in {} us = {} MiB/s",
        total >> 20,
        ns / 1000,
        (total as u128 * 1_000_000_000 / ns as u128) >> 20
    );
    Ok(())
}

fn random() -> Result<(), &'static str> {
    let mut bytes = [0u8; 8];
    if !crate::random::fill(&mut bytes) {
        return Err("the generator has no seed");
    }
    println!("ember: random: {:016x}", u64::from_le_bytes(bytes));
    Ok(())
}
