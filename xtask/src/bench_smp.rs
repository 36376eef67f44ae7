//! The SMP figures of `cargo xtask bench` (also alone: `cargo xtask bench smp`): ember's boot time to `ready`
//! with 1, 2, 4 and 8 vCPUs, and the speedup of `clients/c/parallel.c` (the sum split over one thread per CPU)
//! on 4 vCPUs over the same program on 1 (its serial sum of the same terms is shown beside it). QEMU microvm under plain TCG, multi-threaded with more than one vCPU: the
//! figures depend on the host's free cores (a 2-core host cannot show more than 2x), so the report says how
//! many it has.

use crate::clients::{self, Initramfs, Libc};
use crate::qemu::{self, Boot, Limits, Vm};
use std::path::Path;
use std::time::{Duration, Instant};

/// Boots per vCPU count; the median is reported.
const RUNS: usize = 3;
/// The vCPU counts of the boot-time table.
const COUNTS: [u32; 4] = [1, 2, 4, 8];
/// The vCPU count of the speedup figure.
const SPEEDUP_CPUS: u32 = 4;
/// Terms of parallel.c's sum (its first argument): enough that the work outweighs starting the threads.
const TERMS: u64 = 40_000_000;
const TIMEOUT: Duration = Duration::from_secs(300);

/// One boot's figures.
struct Boot1 {
    ready_us: u64,
    wall: Duration,
}

/// Boots `kernel` with `cpus` vCPUs and `initrd` (or none) until QEMU exits; the console.
fn boot(kernel: &Path, cpus: u32, initrd: Option<&Path>, args: &str) -> Result<(String, Duration), String> {
    let mut vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 quiet {args}"));
    vm.cpus = cpus;
    vm.initrd = initrd.map(Path::to_path_buf);
    let limits = Limits {
        total: TIMEOUT,
        silence: None,
        done: None,
        grace: Duration::ZERO,
    };
    let start = Instant::now();
    let f = qemu::watch(vm.command_for(kernel, &vm.cmdline), limits, &[], |_| {})?;
    Ok((f.stdout, start.elapsed()))
}

/// The number after `key` in the console, e.g. `t=` in the `ready` line.
fn field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Runs the SMP figures with the release image at `kernel`; returns the report's markdown section.
pub fn run(kernel: &Path) -> Result<String, String> {
    let host_cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = format!(
        "## SMP (QEMU microvm, TCG multi-threaded, 128 MiB; host with {host_cores} cores)\n\n\
         | vCPUs | `ready` t= (median of {RUNS}) | wall time, launch to exit (median) |\n|---|---|---|\n"
    );
    for cpus in COUNTS {
        eprintln!("bench: smp: boot with {cpus} vCPUs ({RUNS} runs)");
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            let (console, wall) = boot(kernel, cpus, None, "")?;
            let ready_us = field(&console, " t=").ok_or_else(|| format!("no ready line with {cpus} vCPUs"))?;
            let online = field(&console, "cpus=");
            if online != Some(u64::from(cpus)) {
                return Err(format!("{cpus} vCPUs but the ready line says cpus={online:?}"));
            }
            runs.push(Boot1 { ready_us, wall });
        }
        runs.sort_by_key(|r| r.ready_us);
        let ready = runs[RUNS / 2].ready_us;
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        walls.sort();
        out += &format!(
            "| {cpus} | {ready} us | {:.1} ms |\n",
            walls[RUNS / 2].as_secs_f64() * 1000.0
        );
    }
    let initrd = Initramfs::new("bench-parallel")
        .file("/init", &clients::c_program(Libc::Musl, "parallel")?)?
        .write()?;
    out += "\n| parallel.c (40M-term sum, musl) | threads' time | serial sum, same boot | speedup over 1 vCPU |\n|---|---|---|---|\n";
    let mut one = None;
    for cpus in [1, SPEEDUP_CPUS] {
        eprintln!("bench: smp: parallel.c on {cpus} vCPUs");
        let (console, _) = boot(kernel, cpus, Some(&initrd), &TERMS.to_string())?;
        let (Some(threads), Some(serial)) = (field(&console, "threads_us="), field(&console, "serial_us=")) else {
            return Err(format!(
                "parallel.c on {cpus} vCPUs printed no times; console:\n{console}"
            ));
        };
        let base = *one.get_or_insert(threads);
        out += &format!(
            "| {cpus} vCPUs, {cpus} threads | {:.1} ms | {:.1} ms | {:.2}x |\n",
            threads as f64 / 1000.0,
            serial as f64 / 1000.0,
            base as f64 / threads.max(1) as f64
        );
    }
    Ok(out)
}
