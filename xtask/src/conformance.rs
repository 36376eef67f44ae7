//! `cargo xtask conformance`: the Linux Test Project's system-call subset (`../shared/conformance/ltp/`, see its
//! README.md) booted on ember, or on Debian's Linux (`--linux`, the bench's kernel) for reference, in one
//! initramfs: busybox with every applet linked, the tests under `/ltp`, `/runtest.txt`, `/etc/passwd`,
//! `/etc/group`, and an `/init` adapted from the set's `run-ltp.sh` that prints `LTP <name> rc=<N>` per test.
//!
//! Failures are measured, not gated: the command fails only when it cannot run at all. The table of every test
//! goes to `target/conformance/results-<ember|linux>.txt`; stdout gets the failures and the totals line.
//!
//! `--root ext4` boots ember from an ext4 image of the same tree instead ([`crate::conformance_disk`]); its
//! files are `results-ember-ext4.txt` and `console-ember-ext4.txt`, and `e2fsck -fn` checks the image after.

use crate::clients::Initramfs;
use crate::image::{self, workspace_root};
use crate::qemu::{self, Boot, Limits, Stopped, Vm};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Guest RAM. The initramfs alone unpacks to over 100 MiB. (The set's README used 2 GiB, but Debian's Linux 6.1
/// spends minutes of TCG time in early memory setup with 2 GiB on QEMU microvm, against 2 s with 512 MiB.)
const MEM_MIB: u32 = 512;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Beyond the per-test timeout: how long the console may stay silent before the run is given up.
const SILENCE_SLACK: Duration = Duration::from_secs(30);
/// Booting and unpacking the initramfs, on top of the per-test timeouts.
const BOOT_SLACK: Duration = Duration::from_secs(120);

const USAGE: &str = "cargo xtask conformance [--ltp DIR] [--linux] [--root initramfs|ext4] [--filter SUBSTR[,SUBSTR...]] [--timeout SECS] [--budget SECS]";

/// The kernel a run boots.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Ember,
    Linux,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::Ember => "ember",
            Kernel::Linux => "linux",
        }
    }
}

/// Where the tree the tests run from lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    /// An initramfs (tmpfs root, `TMPDIR=/tmp` a tmpfs).
    Initramfs,
    /// An ext4 image on `/dev/vda` (`TMPDIR` on ext4).
    Ext4,
}

struct Options {
    ltp: PathBuf,
    kernel: Kernel,
    root: Root,
    filter: Option<String>,
    timeout_secs: u64,
    /// Wall-clock limit of the whole run; default tests × timeout + [`BOOT_SLACK`].
    budget: Option<Duration>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        ltp: workspace_root().join("../shared/conformance/ltp"),
        kernel: Kernel::Ember,
        root: Root::Initramfs,
        filter: None,
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        budget: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value\nusage: {USAGE}"));
        match a.as_str() {
            "--ltp" => o.ltp = PathBuf::from(value()?),
            "--linux" => o.kernel = Kernel::Linux,
            "--root" => {
                o.root = match value()?.as_str() {
                    "initramfs" => Root::Initramfs,
                    "ext4" => Root::Ext4,
                    other => return Err(format!("--root takes initramfs or ext4, not {other}")),
                }
            }
            "--filter" => o.filter = Some(value()?),
            "--timeout" => {
                o.timeout_secs = value()?
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or("--timeout takes a positive number of seconds")?
            }
            "--budget" => {
                o.budget = Some(Duration::from_secs(
                    value()?
                        .parse()
                        .ok()
                        .filter(|&s| s > 0)
                        .ok_or("--budget takes a positive number of seconds")?,
                ))
            }
            _ => return Err(format!("unknown argument {a}\nusage: {USAGE}")),
        }
    }
    if o.kernel == Kernel::Linux && o.root == Root::Ext4 {
        // Debian's kernel has virtio-blk and ext4 as modules: it cannot mount such a root without an initramfs.
        return Err("--root ext4 runs on ember only".into());
    }
    Ok(o)
}

/// One test's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }

    /// The runner's exit status: 0 passes, 32 (TCONF) is skipped, anything else fails.
    fn of(rc: i32) -> Self {
        match rc {
            0 => Verdict::Pass,
            32 => Verdict::Skip,
            _ => Verdict::Fail,
        }
    }
}

struct Row {
    name: String,
    verdict: Verdict,
    /// `None`: the test printed no result line.
    rc: Option<i32>,
    /// Why it failed, for the table: "no result", "timeout", a signal, or the test's last line of output.
    reason: String,
    /// Host seconds from the previous result line to this test's.
    wall: Option<f64>,
}

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let o = parse(args)?;
    if !o.ltp.is_dir() {
        println!("conformance: SKIPPED: no LTP directory at {}", o.ltp.display());
        return Ok(ExitCode::SUCCESS);
    }
    let dir = workspace_root().join("target").join("conformance");
    let bin = unpack(&o.ltp, &dir)?;
    let runtest = std::fs::read_to_string(o.ltp.join("runtest.txt"))
        .map_err(|e| format!("cannot read {}: {e}", o.ltp.join("runtest.txt").display()))?;
    let tests: Vec<(&str, &str)> = runtest
        .lines()
        .filter_map(|l| l.trim().split_once(' ').map(|(n, c)| (n, c.trim())))
        .filter(|(name, _)| {
            o.filter
                .as_deref()
                .is_none_or(|f| f.split(',').any(|f| name.contains(f)))
        })
        .collect();
    if tests.is_empty() {
        return Err("no test in runtest.txt matches the filter".into());
    }
    let list: String = tests.iter().map(|(n, c)| format!("{n} {c}\n")).collect();
    qemu::ensure_installed()?;
    let (kernel, cmdline) = match (o.kernel, o.root) {
        (Kernel::Ember, Root::Initramfs) => (image::build(image::Profile::Release)?.kernel, "console=ttyS0"),
        (Kernel::Ember, Root::Ext4) => (
            image::build(image::Profile::Release)?.kernel,
            "console=ttyS0 root=/dev/vda rw",
        ),
        // panic=-1: should /init die, Linux reboots and QEMU (-no-reboot) exits.
        (Kernel::Linux, _) => (crate::bench::linux_kernel()?, "console=ttyS0 quiet panic=-1"),
    };
    let mut vm = Vm::new(Boot::Pvh, MEM_MIB, cmdline);
    let disk = match o.root {
        Root::Initramfs => {
            vm.initrd = Some(initramfs(&o.ltp, &bin, &list, o.timeout_secs, &dir)?);
            None
        }
        Root::Ext4 => {
            let init = init_script(o.timeout_secs, crate::conformance_disk::TMPDIR);
            let img = crate::conformance_disk::image(&o.ltp, &bin, &list, &init, &dir)?;
            vm.disks = vec![img.clone()];
            Some(img)
        }
    };
    let label = match o.root {
        Root::Initramfs => o.kernel.name().to_string(),
        Root::Ext4 => format!("{}-ext4", o.kernel.name()),
    };
    // Guest time from executed instructions: Linux's PIT calibration of the TSC then works however loaded the
    // host is (on a busy host, real-time TCG makes it fail and the boot crawls for minutes), and idle guests
    // (tests that sleep) skip ahead.
    vm.icount = true;
    if o.root == Root::Ext4 {
        // sleep=on (as the ext4 bench): an idle guest's clock runs with the host's while QEMU does the disk
        // I/O. With sleep=off the clock of a guest waiting for the disk jumps to its next timer, so a disk
        // wait can outlast the tests' timers and virtio-blk's timeout in guest time.
        vm.icount = false;
        vm.extra = vec!["-icount".into(), "shift=0,sleep=on".into()];
    }
    let per_test = Duration::from_secs(o.timeout_secs);
    let limits = Limits {
        total: o.budget.unwrap_or(per_test * tests.len() as u32 + BOOT_SLACK),
        // Per-test timeouts count guest time (-icount); a syscall-heavy test can take several times that in
        // wall time under TCG.
        silence: Some(per_test * 10 + SILENCE_SLACK),
        done: Some("LTP-DONE"),
        grace: Duration::from_secs(10),
    };
    eprintln!(
        "conformance: {} tests on {} ({}), {} s a test",
        tests.len(),
        label,
        kernel.display(),
        o.timeout_secs
    );
    let start = Instant::now();
    let mut seen = 0usize;
    let mut line = String::new();
    // Host seconds from one result line to the next: what each test cost in wall time (guest time, counted
    // in instructions, would hide a test that QEMU runs slowly).
    let mut walls: HashMap<String, f64> = HashMap::new();
    let mut last_result = start;
    let finished = qemu::watch(vm.command_for(&kernel, &vm.cmdline), limits, &[], |chunk| {
        for c in chunk.chars() {
            if c != '\n' {
                line.push(c);
                continue;
            }
            if let Some((name, _)) = line.strip_prefix("LTP ").and_then(|r| r.split_once(" rc=")) {
                walls.insert(name.to_string(), last_result.elapsed().as_secs_f64());
                last_result = Instant::now();
                seen += 1;
                if seen.is_multiple_of(25) {
                    eprintln!("conformance: {seen}/{} ({} s)", tests.len(), start.elapsed().as_secs());
                }
            }
            line.clear();
        }
    })?;
    let wall = start.elapsed();
    let console = dir.join(format!("console-{label}.txt"));
    std::fs::write(&console, &finished.stdout).map_err(|e| format!("cannot write {}: {e}", console.display()))?;
    let ended = match finished.stopped {
        None => match finished.status {
            Some(status) => format!("QEMU exited with status {status}"),
            None => "QEMU was killed".into(),
        },
        Some(Stopped::Done) => "stopped after LTP-DONE".into(),
        Some(Stopped::Timeout) => format!("stopped: no LTP-DONE within {} s", limits.total.as_secs()),
        Some(Stopped::Silent) => format!(
            "stopped: the console was silent for {} s",
            limits.silence.unwrap_or_default().as_secs()
        ),
    };

    let rows = results(&tests, &finished.stdout, &walls);
    let linux = (o.kernel == Kernel::Ember)
        .then(|| std::fs::read_to_string(dir.join("results-linux.txt")).ok())
        .flatten()
        .map(|t| linux_passes(&t))
        .unwrap_or_default();
    let table = table(&rows, &linux, &label, &kernel, o.timeout_secs, wall, &ended);
    let results = dir.join(format!("results-{label}.txt"));
    std::fs::write(&results, &table).map_err(|e| format!("cannot write {}: {e}", results.display()))?;

    let count = |v| rows.iter().filter(|r| r.verdict == v).count();
    for r in rows.iter().filter(|r| r.verdict == Verdict::Fail) {
        let rc = r.rc.map_or("-".to_string(), |rc| rc.to_string());
        let on_linux = if linux.contains(&r.name) {
            " [passes on Linux]"
        } else {
            ""
        };
        println!("FAIL {} rc={rc} ({}){on_linux}", r.name, r.reason);
    }
    eprintln!(
        "conformance: {} in {:.0} s; table in {}, console in {}",
        ended,
        wall.as_secs_f64(),
        results.display(),
        console.display()
    );
    let mut slowest: Vec<(&String, &f64)> = walls.iter().collect();
    slowest.sort_by(|a, b| b.1.total_cmp(a.1));
    let slowest: Vec<String> = slowest.iter().take(5).map(|(n, w)| format!("{n} {w:.0} s")).collect();
    eprintln!("conformance: slowest in wall time: {}", slowest.join(", "));
    if !linux.is_empty() {
        let regressions = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail && linux.contains(&r.name))
            .count();
        println!("conformance: {regressions} tests pass on Linux but fail on ember");
    }
    println!(
        "conformance: {} passed, {} failed, {} skipped",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skip)
    );
    if let Some(img) = disk {
        match crate::conformance_disk::fsck(&img) {
            Ok(summary) => println!("conformance: e2fsck -fn {}: clean ({summary})", img.display()),
            Err(report) => println!("conformance: e2fsck -fn {}: PROBLEMS\n{report}", img.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The set's `bin/` unpacked from `ltp-syscalls-musl.tar.xz` into `dir/ltp/`, once per version of the tarball
/// (its size and modification time, recorded in `dir/ltp/.source`).
fn unpack(ltp: &Path, dir: &Path) -> Result<PathBuf, String> {
    let tarball = ltp.join("ltp-syscalls-musl.tar.xz");
    let meta = std::fs::metadata(&tarball).map_err(|e| format!("cannot read {}: {e}", tarball.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let stamp_text = format!("{} {} {mtime}\n", tarball.display(), meta.len());
    let root = dir.join("ltp");
    let stamp = root.join(".source");
    let bin = root.join("bin");
    if bin.is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text) {
        return Ok(bin);
    }
    crate::debian::ensure_installed("xz", &["xz-utils"], || {
        Command::new("xz")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    eprintln!("conformance: unpacking {}", tarball.display());
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let ok = Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&root)
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !bin.is_dir() {
        let _ = std::fs::remove_dir_all(&root);
        return Err(format!("cannot unpack {} (tar -xJf) into a bin/", tarball.display()));
    }
    std::fs::write(&stamp, stamp_text).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(bin)
}

/// `/init`: `run-ltp.sh` with the per-test timeout, mounts that may fail (ember may not have the file systems),
/// `LTP-START` before the first test and `LTP-DONE` after the last. Tests run in `tmpdir` (also their `TMPDIR`),
/// emptied after each. A test's output goes to `/tmp/out`; after a failure's result line come its last three
/// TFAIL/TBROK lines and its last five lines, after a skip's its first two TCONF lines (why it was skipped),
/// indented with `   | `.
fn init_script(timeout_secs: u64, tmpdir: &str) -> String {
    format!(
        r#"#!/bin/sh
export PATH=/ltp:/bin TMPDIR={tmpdir} LTP_TIMEOUT_MUL=5 KCONFIG_SKIP_CHECK=1 HOME=/root
mount -t proc proc /proc 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mkdir -p /dev/shm 2>/dev/null
mount -t tmpfs shm /dev/shm 2>/dev/null
mount -t tmpfs tmp /tmp 2>/dev/null
cd {tmpdir}
echo LTP-START
while read name cmd; do
  timeout -k 5 {timeout_secs} sh -c "exec $cmd" > /tmp/out 2>&1 </dev/null; rc=$?
  echo "LTP $name rc=$rc"
  [ $rc = 0 ] || [ $rc = 32 ] || {{ grep -E 'TFAIL|TBROK' /tmp/out | tail -3; tail -5 /tmp/out; }} | sed 's/^/   | /'
  [ $rc != 32 ] || grep -m 2 TCONF /tmp/out | sed 's/^/   | /'
  rm -rf {tmpdir}/* 2>/dev/null
done < /runtest.txt
echo LTP-DONE
poweroff -f
"#
    )
}

/// `dir/conformance.cpio`: busybox with all its applets, the tests, `/runtest.txt` (`list`), `/etc` and `/init`.
fn initramfs(ltp: &Path, bin: &Path, list: &str, timeout_secs: u64, dir: &Path) -> Result<PathBuf, String> {
    let mut image = Initramfs::new("conformance")
        .busybox()?
        .all_applets()?
        .char_device("/dev/null", 1, 3)?
        .char_device("/dev/zero", 1, 5)?
        .dir("/sys")?
        .file("/etc/passwd", &ltp.join("passwd"))?
        .file("/etc/group", &ltp.join("group"))?
        .script("/runtest.txt", list)?
        .script("/init", &init_script(timeout_secs, "/tmp"))?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(bin)
        .map_err(|e| format!("cannot read {}: {e}", bin.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        image = image.file(&format!("/ltp/{name}"), &path)?;
    }
    image.write_in(dir)
}

/// Every test in `tests`, with the result line the console shows for it, or "no result", and its wall time.
fn results(tests: &[(&str, &str)], console: &str, walls: &HashMap<String, f64>) -> Vec<Row> {
    // name -> (rc, the failure's first TFAIL/TBROK line, or else its last output line)
    let mut found: HashMap<&str, (i32, String)> = HashMap::new();
    let mut last: Option<&str> = None;
    for l in console.lines() {
        if let Some((name, rc)) = l
            .strip_prefix("LTP ")
            .and_then(|r| r.split_once(" rc="))
            .and_then(|(n, rc)| Some((n, rc.trim().parse::<i32>().ok()?)))
        {
            found.insert(name, (rc, String::new()));
            last = Some(name);
        } else if let (Some(name), Some(out)) = (last, l.strip_prefix("   | ")) {
            if let Some(entry) = found.get_mut(name)
                && !(entry.1.contains("TFAIL") || entry.1.contains("TBROK"))
            {
                entry.1 = out.trim().to_string();
            }
        } else {
            last = None;
        }
    }
    tests
        .iter()
        .map(|(name, _)| match found.get(name) {
            None => Row {
                name: name.to_string(),
                verdict: Verdict::Fail,
                rc: None,
                reason: "no result".into(),
                wall: None,
            },
            Some((rc, out)) => Row {
                name: name.to_string(),
                verdict: Verdict::of(*rc),
                rc: Some(*rc),
                reason: match rc {
                    0 | 32 => String::new(),
                    124 | 137 | 143 => "timeout".into(),
                    129..=191 => format!("signal {}", rc - 128),
                    _ => out.clone(),
                },
                wall: walls.get(*name).copied(),
            },
        })
        .collect()
}

/// The tests a `results-linux.txt` table shows passing.
fn linux_passes(table: &str) -> HashSet<String> {
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            (f.next()? == "pass").then(|| name.to_string())
        })
        .collect()
}

/// The results file: a header of `#` lines, then `name result rc note` per test.
fn table(
    rows: &[Row],
    linux: &HashSet<String>,
    label: &str,
    path: &Path,
    timeout_secs: u64,
    wall: Duration,
    ended: &str,
) -> String {
    let mut s = format!(
        "# LTP conformance on {} ({}), QEMU microvm TCG, {MEM_MIB} MiB, {timeout_secs} s a test\n\
         # {ended}, {:.0} s wall\n",
        label,
        path.display(),
        wall.as_secs_f64()
    );
    if !linux.is_empty() {
        s.push_str("# \"passes on Linux\": the test passes in results-linux.txt but not here\n");
    }
    s.push_str(&format!(
        "# {:<26} {:<6} {:>4} {:>6}  note (wall: host seconds since the previous result)\n",
        "name", "result", "rc", "wall"
    ));
    for r in rows {
        let rc = r.rc.map_or("-".to_string(), |rc| rc.to_string());
        let mut note = r.reason.clone();
        if r.verdict == Verdict::Fail && linux.contains(&r.name) {
            note = if note.is_empty() {
                "passes on Linux".into()
            } else {
                format!("{note}; passes on Linux")
            };
        }
        let wall = r.wall.map_or("-".to_string(), |w| format!("{w:.1}"));
        let line = format!("{:<28} {:<6} {rc:>4} {wall:>6}  {note}", r.name, r.verdict.name());
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}
