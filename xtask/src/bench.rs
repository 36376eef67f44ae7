//! `cargo xtask bench`: ember against Debian's cloud Linux kernel on the same QEMU microvm configuration (TCG,
//! 1 vCPU, same RAM, same devices, the same initramfs). Figures, not assertions: nothing here fails on a slow
//! machine; a step that cannot finish says which step and why.
//!
//! - VMM start to the first instruction of `/init`: `rdinit=/bench-init` (`tools/bench-init`) reads the TSC first
//!   thing, under `-icount shift=0` (one instruction is one virtual nanosecond, and the guest TSC counts virtual
//!   nanoseconds), so it is repeatable on a noisy machine. ember's entry TSC (debug log) and `ready` line's `t=`
//!   are reported beside it.
//! - wall time of the whole QEMU process, launch to exit (`/bench-init` restarts at once), over 5 runs.
//! - memory floor: the smallest `-m` with which busybox's shell runs a script that prints `ok`, by bisection;
//!   each step boots up to 3 times under `-icount` and the majority decides.
//! - image size of each kernel file.
//! - user space: `clients/c/bench.c` as `/init` (see `bench_user`), twice under `-icount` (the figures must
//!   repeat) and once under plain TCG, each kernel.
//! - SMP (ember only, `bench_smp`): boot time with 1, 2, 4 and 8 vCPUs, `parallel.c`'s speedup on 4.
//! - ext4 (`bench_ext4`): `clients/c/ext4bench.c` on an ext4 image on virtio-blk, each kernel, under `-icount`.
//! - network (`bench_net`): `clients/c/netbench.c` against a host-side server over QEMU's user network, each
//!   kernel, timed by the host.

use crate::bench_user::{self, Run, Table};
use crate::image::{self, workspace_root};
use crate::qemu::{self, Boot, Limits, Vm};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MEM_MIB: u32 = 128;
const WALL_RUNS: usize = 5;
/// One boot to `/init`, generous for a loaded 2-core machine (Linux takes 1.5 s of guest time, and TCG runs
/// several times slower than the host when both cores are busy).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// One boot of the memory floor. Floor boots run under `-icount`, where host load slows the run but cannot
/// change what the guest does; Linux's takes 1.2 s of guest time, over 20 s of wall time on a loaded machine.
const FLOOR_TIMEOUT: Duration = Duration::from_secs(180);
/// One run of the user-space benchmark (about 35 s of wall time for Linux under `-icount` on an idle machine).
const USER_TIMEOUT: Duration = Duration::from_secs(900);
/// How often each floor step boots; the majority decides.
const FLOOR_TRIES: u32 = 3;
/// Under `-icount` the figures of two runs must agree within this.
const REPEAT_TOLERANCE: f64 = 0.01;

/// One kernel under test.
struct Peer {
    name: &'static str,
    kernel: PathBuf,
    cmdline: &'static str,
    /// Appended to the command line under plain TCG (not under `-icount`).
    tcg_cmdline: String,
}

/// One row of boot figures.
struct Figures {
    init_us: u64,
    wall: [Duration; 3],
    floor_mib: u32,
    image_bytes: u64,
}

/// The user-space runs of one kernel.
struct UserRuns {
    icount: [Run; 2],
    tcg: Run,
}

pub fn run() -> Result<(), String> {
    let images = image::build(image::Profile::Release)?;
    let dir = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let linux = Peer {
        name: "linux",
        kernel: linux_kernel()?,
        // panic=-1: a boot that runs out of memory reboots (and QEMU exits) instead of hanging until the timeout.
        cmdline: "console=ttyS0 quiet panic=-1",
        tcg_cmdline: tsc_early_khz(),
    };
    let ember = Peer {
        name: "ember",
        kernel: images.kernel.clone(),
        cmdline: "console=ttyS0 quiet",
        tcg_cmdline: String::new(),
    };
    let initrd = bench_user::initramfs(&dir, &bench_init()?)?;
    let floor_initrd = bench_user::floor_initramfs(&dir)?;
    let probe = |peer, icount| Boot1::probe(peer, &initrd, icount);

    let step = "ember: entry and ready (-icount)";
    progress(step);
    let entry_tsc = number_after(
        &Boot1 {
            extra: "loglevel=8 rdinit=/bench-init",
            ..probe(&ember, true)
        }
        .run(step)?,
        "boot: first instruction at TSC ",
    )?;
    let ember_out = probe(&ember, true).run(step)?;
    let t_us = number_after(&ember_out, " t=")?;
    let ember_init = number_after(&ember_out, "bench-init: tsc=")? / 1000;
    let step = "linux: VMM start to /init (-icount)";
    progress(step);
    let linux_init = number_after(&probe(&linux, true).run(step)?, "bench-init: tsc=")? / 1000;

    let mut rows = Vec::new();
    for (peer, init_us) in [(&ember, ember_init), (&linux, linux_init)] {
        let step = format!("{}: wall time, {WALL_RUNS} runs", peer.name);
        progress(&step);
        let mut walls = Vec::new();
        for _ in 0..WALL_RUNS {
            let start = Instant::now();
            probe(peer, false).run(&step)?;
            walls.push(start.elapsed());
        }
        walls.sort();
        progress(&format!("{}: memory floor of busybox sh (bisection)", peer.name));
        let floor_mib = memory_floor(peer, &floor_initrd)?;
        let image_bytes = std::fs::metadata(&peer.kernel).map_err(|e| e.to_string())?.len();
        rows.push(Figures {
            init_us,
            wall: [walls[WALL_RUNS / 2], walls[0], walls[WALL_RUNS - 1]],
            floor_mib,
            image_bytes,
        });
    }

    let mut user = Vec::new();
    for peer in [&ember, &linux] {
        let run = |icount: bool, what: &str| {
            let step = format!("{}: user-space benchmark ({what})", peer.name);
            progress(&step);
            user_run(peer, &initrd, icount, &step)
        };
        user.push(UserRuns {
            icount: [run(true, "-icount, run 1")?, run(true, "-icount, run 2")?],
            tcg: run(false, "plain TCG")?,
        });
    }

    let report = Report {
        ember: &rows[0],
        linux: &rows[1],
        linux_kernel: &linux.kernel,
        entry_us: entry_tsc / 1000,
        t_us,
        ember_user: &user[0],
        linux_user: &user[1],
    };
    let smp = crate::bench_smp::run(&images.kernel)?;
    let ext4 = crate::bench_ext4::run(&images.kernel, &linux.kernel)?;
    let net = crate::bench_net::run(&images.kernel, &linux.kernel)?;
    let table = format!("{}\n{smp}\n{ext4}\n{net}", report.markdown());
    println!("\n{table}");
    std::fs::write(dir.join("report.md"), &table).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.json"), report.json()).map_err(|e| e.to_string())?;
    println!("written: {} and report.json", dir.join("report.md").display());
    Ok(())
}

fn progress(what: &str) {
    println!("bench: {what}");
}

/// Debian's cloud kernel, the Linux peer (also what `cargo xtask conformance --linux` boots), downloaded into
/// `target/bench/linux/` once.
pub fn linux_kernel() -> Result<PathBuf, String> {
    let dir = workspace_root().join("target").join("bench").join("linux");
    crate::debian::kernel("linux-image-cloud-amd64", &[], &dir)
}

/// The host's TSC frequency in kHz, from `/proc/cpuinfo` when the TSC is invariant (`constant_tsc` and
/// `tsc_known_freq`). Under plain TCG the guest's TSC is the host's, and Linux needs its frequency on a loaded
/// host: its calibration against the PIT fails there ("tsc: Marking TSC unstable due to could not calculate TSC
/// khz"), and the boot then hangs. ember measures its TSC against the PIT too, in one 1 ms window, which load
/// cannot make fail.
fn host_tsc_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = info.lines().find(|l| l.starts_with("flags"))?;
    if !flags.contains(" constant_tsc") || !flags.contains(" tsc_known_freq") {
        return None;
    }
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0).round() as u64)
}

/// Linux's `tsc_early_khz=` word for plain TCG runs, empty when the host's TSC frequency is unknown.
pub fn tsc_early_khz() -> String {
    host_tsc_khz().map_or(String::new(), |khz| format!("tsc_early_khz={khz}"))
}

/// `tools/bench-init`, built.
fn bench_init() -> Result<PathBuf, String> {
    let status = Command::new(image::cargo())
        .args(["build", "--quiet", "--release", "-p", "bench-init"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building bench-init failed".into());
    }
    Ok(workspace_root().join("target/release/bench-init"))
}

/// One boot of a kernel with an initramfs, until a line of the console holds `ready`.
#[derive(Clone, Copy)]
struct Boot1<'a> {
    peer: &'a Peer,
    initrd: &'a Path,
    mem_mib: u32,
    icount: bool,
    /// Appended to the peer's command line.
    extra: &'a str,
    ready: &'a str,
}

impl<'a> Boot1<'a> {
    /// `/bench-init` as init: boots to the first instruction of `/init` and restarts.
    fn probe(peer: &'a Peer, initrd: &'a Path, icount: bool) -> Self {
        Boot1 {
            peer,
            initrd,
            mem_mib: MEM_MIB,
            icount,
            extra: "rdinit=/bench-init",
            ready: "bench-init: tsc=",
        }
    }

    fn command(&self) -> Command {
        let tcg = if self.icount { "" } else { &self.peer.tcg_cmdline };
        let cmdline = format!("{} {} {tcg}", self.peer.cmdline, self.extra);
        let mut vm = Vm::new(Boot::Pvh, self.mem_mib, cmdline.trim_end());
        vm.icount = self.icount;
        vm.initrd = Some(self.initrd.to_path_buf());
        vm.command_for(&self.peer.kernel, &vm.cmdline)
    }

    /// Boots until QEMU exits or `timeout`; the console, or why the boot did not reach `ready`.
    fn run_within(&self, timeout: Duration) -> Result<String, String> {
        let limits = Limits {
            total: timeout,
            silence: None,
            done: None,
            grace: Duration::ZERO,
        };
        let f = qemu::watch(self.command(), limits, &[], |_| {})?;
        if f.stdout.lines().any(|l| l.contains(self.ready)) {
            return Ok(f.stdout);
        }
        let why = match f.stopped {
            Some(_) => format!("no `{}` within {} s (timeout)", self.ready, timeout.as_secs()),
            None => format!("QEMU exited (status {:?}) without `{}`", f.status, self.ready),
        };
        Err(format!(
            "{} with {} MiB{}: {why}; console ends:\n{}{}",
            self.peer.name,
            self.mem_mib,
            if self.icount { ", -icount" } else { "" },
            tail(&f.stdout, 8),
            tail(&f.stderr, 4)
        ))
    }

    /// [`Boot1::run_within`] [`BOOT_TIMEOUT`], its error naming `step`.
    fn run(&self, step: &str) -> Result<String, String> {
        self.run_within(BOOT_TIMEOUT)
            .map_err(|e| format!("step `{step}` failed: {e}"))
    }
}

/// `cargo xtask bench smp`: only the SMP figures (boot time by vCPU count, parallel speedup), written to
/// `target/bench/smp.md`.
pub fn run_smp() -> Result<(), String> {
    let images = image::build(image::Profile::Release)?;
    let dir = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let table = crate::bench_smp::run(&images.kernel)?;
    println!("\n{table}");
    std::fs::write(dir.join("smp.md"), &table).map_err(|e| e.to_string())?;
    println!("written: {}", dir.join("smp.md").display());
    Ok(())
}

/// `cargo xtask bench ext4`: only the ext4 figures, written to `target/bench/ext4.md`.
pub fn run_ext4() -> Result<(), String> {
    let images = image::build(image::Profile::Release)?;
    let dir = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let table = crate::bench_ext4::run(&images.kernel, &linux_kernel()?)?;
    println!("\n{table}");
    std::fs::write(dir.join("ext4.md"), &table).map_err(|e| e.to_string())?;
    println!("written: {}", dir.join("ext4.md").display());
    Ok(())
}

/// `cargo xtask bench net`: only the network figures, written to `target/bench/net.md`.
pub fn run_net() -> Result<(), String> {
    let images = image::build(image::Profile::Release)?;
    let dir = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let table = crate::bench_net::run(&images.kernel, &linux_kernel()?)?;
    println!("\n{table}");
    std::fs::write(dir.join("net.md"), &table).map_err(|e| e.to_string())?;
    println!("written: {}", dir.join("net.md").display());
    Ok(())
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("  {l}\n"))
        .collect()
}

/// The benchmark as `/init`, to its `bench: done` line.
fn user_run(peer: &Peer, initrd: &Path, icount: bool, step: &str) -> Result<Run, String> {
    let boot = Boot1 {
        peer,
        initrd,
        mem_mib: MEM_MIB,
        icount,
        extra: "",
        ready: bench_user::DONE,
    };
    let limits = Limits {
        total: USER_TIMEOUT,
        silence: None,
        done: Some(bench_user::DONE),
        // It powers off right after.
        grace: Duration::from_secs(30),
    };
    let f = qemu::watch(boot.command(), limits, &[], |_| {}).map_err(|e| format!("step `{step}` failed: {e}"))?;
    let console = workspace_root().join("target").join("bench").join(format!(
        "console-{}-{}.txt",
        peer.name,
        step.rsplit('(')
            .next()
            .unwrap_or("")
            .trim_end_matches(')')
            .replace([' ', ','], "-")
    ));
    let _ = std::fs::write(&console, &f.stdout);
    let parsed = Run::parse(&f.stdout);
    match parsed {
        Ok(run) if f.stdout.contains(bench_user::DONE) => Ok(run),
        other => {
            let why = match (other.err(), f.stopped) {
                (Some(e), _) => e,
                (None, Some(_)) => format!(
                    "no `{}` within {} s (timeout)",
                    bench_user::DONE,
                    USER_TIMEOUT.as_secs()
                ),
                (None, None) => format!("QEMU exited (status {:?}) before `{}`", f.status, bench_user::DONE),
            };
            Err(format!(
                "step `{step}` failed: {why}; console ends:\n{}",
                tail(&f.stdout, 8)
            ))
        }
    }
}

/// The smallest `-m` in MiB with which `peer` runs the floor initramfs to its `ok`, assuming more memory never
/// hurts. Each size boots up to [`FLOOR_TRIES`] times; the majority decides.
fn memory_floor(peer: &Peer, initrd: &Path) -> Result<u32, String> {
    let passes = |mem_mib: u32| {
        let (mut ok, mut failed) = (0, 0);
        let mut last_err = String::new();
        while 2 * ok <= FLOOR_TRIES && 2 * failed <= FLOOR_TRIES {
            let boot = Boot1 {
                peer,
                initrd,
                mem_mib,
                icount: true,
                extra: "",
                ready: "ok",
            };
            match boot.run_within(FLOOR_TIMEOUT) {
                Ok(out) if out.lines().any(|l| l.trim() == "ok") => ok += 1,
                Ok(_) => {
                    failed += 1;
                    last_err = "no line `ok`".into();
                }
                Err(e) => {
                    failed += 1;
                    last_err = e;
                }
            }
        }
        let verdict = if 2 * ok > FLOOR_TRIES { Ok(()) } else { Err(last_err) };
        let why = verdict.as_ref().err().and_then(|e| e.lines().next()).unwrap_or("");
        progress(&format!(
            "{}: {mem_mib} MiB: {ok} of {} boots printed ok {why}",
            peer.name,
            ok + failed
        ));
        verdict
    };
    let (mut fails, mut boots) = (0u32, MEM_MIB);
    passes(boots).map_err(|e| format!("step `{}: memory floor` failed at the start: {e}", peer.name))?;
    while boots - fails > 1 {
        let mid = (fails + boots) / 2;
        if passes(mid).is_ok() {
            boots = mid;
        } else {
            fails = mid;
        }
    }
    Ok(boots)
}

fn number_after(text: &str, marker: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .ok_or(format!("no `{marker}<number>` in the output"))
}

struct Report<'a> {
    ember: &'a Figures,
    linux: &'a Figures,
    linux_kernel: &'a Path,
    entry_us: u64,
    t_us: u64,
    ember_user: &'a UserRuns,
    linux_user: &'a UserRuns,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(linux: f64, ember: f64) -> String {
    format!("{:.1}x", linux / ember.max(f64::MIN_POSITIVE))
}

impl Report<'_> {
    fn table(&self) -> Table<'_> {
        Table {
            ember_icount: &self.ember_user.icount[0],
            linux_icount: &self.linux_user.icount[0],
            ember_tcg: &self.ember_user.tcg,
            linux_tcg: &self.linux_user.tcg,
            tcg_hz: host_tsc_khz().map(|khz| khz as f64 * 1000.0),
        }
    }

    /// How well the two `-icount` runs of `runs` agree: the largest deviation and its operation.
    fn repeat(runs: &UserRuns) -> (f64, String) {
        runs.icount[0].max_deviation(&runs.icount[1])
    }

    fn markdown(&self) -> String {
        let (e, l) = (self.ember, self.linux);
        let mut s = String::new();
        s.push_str(&format!(
            "QEMU microvm, TCG, 1 vCPU, {MEM_MIB} MiB; Linux: {}; the same initramfs on both\n\n",
            self.linux_kernel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        s.push_str("| figure | ember | Linux | Linux/ember |\n|---|---|---|---|\n");
        s.push_str(&format!(
            "| VMM start to first instruction of /init (virtual, -icount) | {} us | {} us | {} |\n",
            e.init_us,
            l.init_us,
            ratio(l.init_us as f64, e.init_us as f64)
        ));
        s.push_str(&format!(
            "| wall time, QEMU launch to exit (median of {WALL_RUNS}; min–max) | {} ({}–{}) | {} ({}–{}) | {} |\n",
            ms(e.wall[0]),
            ms(e.wall[1]),
            ms(e.wall[2]),
            ms(l.wall[0]),
            ms(l.wall[1]),
            ms(l.wall[2]),
            ratio(l.wall[0].as_secs_f64(), e.wall[0].as_secs_f64())
        ));
        s.push_str(&format!(
            "| memory floor, busybox sh printing `ok` (majority of {FLOOR_TRIES}) | {} MiB | {} MiB | {} |\n",
            e.floor_mib,
            l.floor_mib,
            ratio(l.floor_mib as f64, e.floor_mib as f64)
        ));
        s.push_str(&format!(
            "| image size | {} KiB | {} KiB | {} |\n",
            e.image_bytes / 1024,
            l.image_bytes / 1024,
            ratio(l.image_bytes as f64, e.image_bytes as f64)
        ));
        s.push_str(&format!(
            "\nember: {} us of firmware before its first instruction, `ready` at {} us, /init at {} us.\n\n",
            self.entry_us, self.t_us, e.init_us
        ));
        s.push_str(&format!(
            "User space, `clients/c/bench.c` as /init (median per operation; -icount: 1 ns is one instruction; \
             TCG: TSC cycles at {}; the guests measured their TSC at {:.0} MHz (ember) and {:.0} MHz (Linux) \
             against their own clocks):\n\n",
            host_tsc_khz().map_or("each guest's measurement".into(), |khz| format!(
                "the host's {:.0} MHz",
                khz as f64 / 1000.0
            )),
            self.ember_user.tcg.tsc_hz / 1e6,
            self.linux_user.tcg.tsc_hz / 1e6
        ));
        s.push_str(&self.table().markdown());
        for (name, runs) in [("ember", self.ember_user), ("Linux", self.linux_user)] {
            let (dev, op) = Self::repeat(runs);
            let over: Vec<String> = runs.icount[0]
                .deviations(&runs.icount[1])
                .into_iter()
                .filter(|(d, _)| *d > REPEAT_TOLERANCE)
                .map(|(d, op)| format!("{op} {:.2}%", d * 100.0))
                .collect();
            s.push_str(&format!(
                "\n{name}: two -icount runs agree within {:.2}% ({}){}.",
                dev * 100.0,
                if op.is_empty() { "every line" } else { &op },
                if over.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; MORE than the {:.0}% expected on: {}",
                        REPEAT_TOLERANCE * 100.0,
                        over.join(", ")
                    )
                }
            ));
        }
        s.push('\n');
        s
    }

    fn json(&self) -> String {
        let row = |f: &Figures| {
            format!(
                "{{ \"init_us\": {}, \"wall_median_ms\": {:.3}, \"wall_min_ms\": {:.3}, \"wall_max_ms\": {:.3}, \
                 \"memory_floor_mib\": {}, \"image_bytes\": {} }}",
                f.init_us,
                f.wall[0].as_secs_f64() * 1000.0,
                f.wall[1].as_secs_f64() * 1000.0,
                f.wall[2].as_secs_f64() * 1000.0,
                f.floor_mib,
                f.image_bytes
            )
        };
        let repeat = |runs: &UserRuns| {
            let (dev, op) = Self::repeat(runs);
            format!("{{ \"max_deviation\": {dev:.5}, \"op\": \"{op}\" }}")
        };
        format!(
            "{{\n  \"config\": {{ \"vmm\": \"qemu microvm\", \"accel\": \"tcg\", \"vcpus\": 1, \"mem_mib\": {MEM_MIB} }},\n  \
             \"ember\": {},\n  \"linux\": {},\n  \"ember_entry_us\": {},\n  \"ember_t_us\": {},\n  \
             \"user\": {},\n  \"user_icount_repeat\": {{ \"ember\": {}, \"linux\": {} }},\n  \
             \"user_tcg_tsc_hz\": {{ \"ember\": {:.0}, \"linux\": {:.0} }}\n}}\n",
            row(self.ember),
            row(self.linux),
            self.entry_us,
            self.t_us,
            self.table().json(),
            repeat(self.ember_user),
            repeat(self.linux_user),
            self.ember_user.tcg.tsc_hz,
            self.linux_user.tcg.tsc_hz
        )
    }
}
