//! `cargo xtask bench`: ember against Debian's cloud Linux kernel on the same QEMU microvm configuration (TCG,
//! 1 vCPU, same RAM, same devices). Figures, not assertions: nothing here fails on a slow machine.
//!
//! - guest boot time: virtual time from the VM's first instruction to "ready", under `-icount shift=0` (one
//!   instruction is one virtual nanosecond, and the guest TSC counts virtual nanoseconds), so it is repeatable
//!   on a noisy machine. ember: its entry TSC (debug log) plus its `ready` line's `t=`. Linux: the TSC read by
//!   the first instruction of a tiny static `/init` (`tools/bench-init`).
//! - wall time of the whole QEMU process, launch to exit, over 5 runs: median, min, max.
//! - memory floor: the smallest `-m` that still reaches ready, by bisection.
//! - image size of each kernel file.

use crate::cpio::Cpio;
use crate::image::{self, workspace_root};
use crate::qemu::{self, Boot, Vm};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MEM_MIB: u32 = 128;
const WALL_RUNS: usize = 5;
/// A boot that has not reached ready by then never will (QEMU hangs when the image does not fit in RAM).
const TIMEOUT: Duration = Duration::from_secs(30);

/// One kernel under test.
struct Peer {
    name: &'static str,
    kernel: PathBuf,
    cmdline: &'static str,
    initrd: Option<PathBuf>,
    ready: &'static str,
}

/// One row of figures.
struct Figures {
    guest_us: u64,
    wall: [Duration; 3],
    floor_mib: u32,
    image_bytes: u64,
}

pub fn run() -> Result<(), String> {
    let images = image::build(image::Profile::Release)?;
    let dir = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let linux = linux_peer(&dir)?;
    let ember = Peer {
        name: "ember",
        kernel: images.kernel.clone(),
        cmdline: "console=ttyS0 quiet",
        initrd: None,
        ready: "ember: ready ",
    };

    progress("ember: guest boot time (-icount)");
    let entry_tsc = number_after(
        &boot(&ember, MEM_MIB, true, Some("console=ttyS0 loglevel=8"))?,
        "boot: first instruction at TSC ",
    )?;
    let t_us = number_after(&boot(&ember, MEM_MIB, true, None)?, " t=")?;
    let ember_guest = entry_tsc / 1000 + t_us;
    progress("linux: guest boot time (-icount)");
    let linux_guest = number_after(&boot(&linux, MEM_MIB, true, None)?, "bench-init: tsc=")? / 1000;

    let mut rows = Vec::new();
    for (peer, guest_us) in [(&ember, ember_guest), (&linux, linux_guest)] {
        progress(&format!("{}: wall time, {WALL_RUNS} runs", peer.name));
        let mut walls = Vec::new();
        for _ in 0..WALL_RUNS {
            let start = Instant::now();
            boot(peer, MEM_MIB, false, None)?;
            walls.push(start.elapsed());
        }
        walls.sort();
        progress(&format!("{}: memory floor (bisection)", peer.name));
        let floor_mib = memory_floor(peer)?;
        let image_bytes = std::fs::metadata(&peer.kernel).map_err(|e| e.to_string())?.len();
        rows.push(Figures {
            guest_us,
            wall: [walls[WALL_RUNS / 2], walls[0], walls[WALL_RUNS - 1]],
            floor_mib,
            image_bytes,
        });
    }
    let report = Report {
        ember: &rows[0],
        linux: &rows[1],
        linux_kernel: &linux.kernel,
        entry_us: entry_tsc / 1000,
        t_us,
    };
    let table = report.markdown();
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

/// Debian's cloud kernel with an initramfs holding only `/init` (bench-init) and `/dev/console`.
fn linux_peer(dir: &Path) -> Result<Peer, String> {
    let kernel = linux_kernel()?;
    let status = Command::new(image::cargo())
        .args(["build", "--quiet", "--release", "-p", "bench-init"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building bench-init failed".into());
    }
    let init = std::fs::read(workspace_root().join("target/release/bench-init")).map_err(|e| e.to_string())?;
    let mut cpio = Cpio::default();
    cpio.dir("dev");
    cpio.char_device("dev/console", 5, 1);
    cpio.file("init", &init, 0o755);
    let initrd = dir.join("initramfs.cpio");
    std::fs::write(&initrd, cpio.finish()).map_err(|e| e.to_string())?;
    Ok(Peer {
        name: "linux",
        kernel,
        // panic=-1: a boot that runs out of memory reboots (and QEMU exits) instead of hanging until the timeout.
        cmdline: "console=ttyS0 quiet panic=-1",
        initrd: Some(initrd),
        ready: "bench-init: tsc=",
    })
}

/// Boots `peer` and returns its console output; an error when it did not reach its ready line.
fn boot(peer: &Peer, mem_mib: u32, icount: bool, cmdline: Option<&str>) -> Result<String, String> {
    let mut vm = Vm::new(Boot::Pvh, mem_mib, cmdline.unwrap_or(peer.cmdline));
    vm.icount = icount;
    vm.initrd = peer.initrd.clone();
    // A boot that times out did not reach ready either.
    let out = qemu::run(vm.command_for(&peer.kernel, &vm.cmdline), TIMEOUT, &[])
        .map(|f| f.stdout)
        .unwrap_or_default();
    if out.contains(peer.ready) {
        Ok(out)
    } else {
        Err(format!("{} did not reach ready with {mem_mib} MiB", peer.name))
    }
}

/// The smallest `-m` in MiB with which `peer` reaches ready, assuming more memory never hurts.
fn memory_floor(peer: &Peer) -> Result<u32, String> {
    let (mut fails, mut boots) = (0u32, MEM_MIB);
    boot(peer, boots, false, None)?;
    while boots - fails > 1 {
        let mid = (fails + boots) / 2;
        if boot(peer, mid, false, None).is_ok() {
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
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(linux: f64, ember: f64) -> String {
    format!("{:.1}x", linux / ember.max(f64::MIN_POSITIVE))
}

impl Report<'_> {
    fn markdown(&self) -> String {
        let (e, l) = (self.ember, self.linux);
        let mut s = String::new();
        s.push_str(&format!(
            "QEMU microvm, TCG, 1 vCPU, {MEM_MIB} MiB; Linux: {} with a static /init\n\n",
            self.linux_kernel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        s.push_str("| figure | ember | Linux | Linux/ember |\n|---|---|---|---|\n");
        s.push_str(&format!(
            "| guest boot time (virtual, -icount) | {} us | {} us | {} |\n",
            e.guest_us,
            l.guest_us,
            ratio(l.guest_us as f64, e.guest_us as f64)
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
            "| memory floor | {} MiB | {} MiB | {} |\n",
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
            "\nember's guest boot time is {} us of firmware before its first instruction plus {} us to `ready`.\n",
            self.entry_us, self.t_us
        ));
        s
    }

    fn json(&self) -> String {
        let row = |f: &Figures| {
            format!(
                "{{ \"guest_boot_us\": {}, \"wall_median_ms\": {:.3}, \"wall_min_ms\": {:.3}, \"wall_max_ms\": {:.3}, \
                 \"memory_floor_mib\": {}, \"image_bytes\": {} }}",
                f.guest_us,
                f.wall[0].as_secs_f64() * 1000.0,
                f.wall[1].as_secs_f64() * 1000.0,
                f.wall[2].as_secs_f64() * 1000.0,
                f.floor_mib,
                f.image_bytes
            )
        };
        format!(
            "{{\n  \"config\": {{ \"vmm\": \"qemu microvm\", \"accel\": \"tcg\", \"vcpus\": 1, \"mem_mib\": {MEM_MIB} }},\n  \
             \"ember\": {},\n  \"linux\": {},\n  \"ember_entry_us\": {},\n  \"ember_t_us\": {}\n}}\n",
            row(self.ember),
            row(self.linux),
            self.entry_us,
            self.t_us
        )
    }
}
