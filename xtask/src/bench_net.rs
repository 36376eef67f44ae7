//! The network figures of `cargo xtask bench` (also alone: `cargo xtask bench net`): `clients/c/netbench.c`
//! (static musl) as `/init` on ember and on Debian's Linux, each on QEMU's user-mode network (`-netdev user`,
//! the same backend for both), against a server this process runs on the host's loopback (the guest reaches it
//! at 10.0.2.2): TCP stream guest→host and host→guest, 1-byte request/response round trips, and connections
//! (connect, 1 byte each way, close).
//!
//! The ranking figure is the guest's CPU work per byte, round trip or connection: QEMU loads the plugin
//! `tools/insn-marks` (built here with the host's C compiler), which counts every instruction the guest executes
//! and notes the count each time `netbench.c` executes its marker instruction (before the first test and
//! after each). A halted vCPU executes nothing, so the figure does not move with the host's load or with
//! slirp's speed, which make host-timed figures move by 2–3x between runs on a loaded host. The host's wall
//! clock still times each test (the second table: what a user would see, capped by slirp and noisy).
//! Plain TCG (not `-icount`: a guest waiting for the network would warp its clock past host-time I/O); each
//! kernel runs [`RUNS`] times, interleaved, and the tables show the median and the range. Debian's cloud kernel
//! builds the virtio and virtio-net drivers as modules: the initramfs carries them and the program loads them
//! (ember answers `ENOSYS`).

use crate::clients::{self, Initramfs, Libc};
use crate::image::workspace_root;
use crate::qemu::{self, Boot, Limits, Vm};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// RAM of each boot.
const MEM_MIB: u32 = 256;
/// Runs per kernel, interleaved.
const RUNS: usize = 3;
/// The line `netbench.c` prints when every test is done.
const DONE: &str = "netbench: done";
/// One run, boot included (Linux boots in about 10 s of wall time under TCG on a loaded host).
const TIMEOUT: Duration = Duration::from_secs(300);
/// How long the host's server waits for the guest's next step.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// Linux's modules for a virtio-mmio network device, in load order (each after what it depends on).
pub const MODULES: [&str; 6] = [
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_mmio",
    "net/core/failover",
    "drivers/net/net_failover",
    "drivers/net/virtio_net",
];

/// The marks `netbench.c` makes: before the first test and after each of the four.
const MARKS: usize = 5;

/// One run's figures: the host's wall-clock rates, each test's size, and the guest's instructions per test.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Figures {
    /// TCP stream guest→host, MiB/s.
    tx: f64,
    /// TCP stream host→guest, MiB/s.
    rx: f64,
    /// 1-byte request/response round trips per second.
    rr: f64,
    /// Connections per second.
    cc: f64,
    /// Each test's size as the guest asked for it (bytes, bytes, round trips, connections), in table order.
    sizes: [u64; 4],
    /// Instructions the guest executed during each test, in table order (0 when the marks are missing).
    insns: [u64; 4],
}

impl Figures {
    /// Instructions per unit of test `i` (per KiB for the streams): 0 when the run has no count.
    fn cost(&self, i: usize) -> f64 {
        let unit = if i < 2 { 1024.0 } else { 1.0 };
        match self.sizes[i] {
            0 => 0.0,
            n => self.insns[i] as f64 / (n as f64 / unit),
        }
    }
}

/// The test of each of [`ROWS`] and the unit of its instruction count.
const COST_UNITS: [&str; 4] = [
    "instructions/KiB",
    "instructions/KiB",
    "instructions/round trip",
    "instructions/connection",
];

/// A table row: the test, its figure of a run, the figure's unit.
type Row = (&'static str, fn(&Figures) -> f64, &'static str);

/// What the tests are, in table order.
const ROWS: [Row; 4] = [
    ("TCP stream guest→host", |f| f.tx, "MiB/s"),
    ("TCP stream host→guest", |f| f.rx, "MiB/s"),
    ("1-byte TCP request/response", |f| f.rr, "round trips/s"),
    (
        "TCP connections (connect, 1 byte each way, close)",
        |f| f.cc,
        "connections/s",
    ),
];

fn io(what: &'static str) -> impl Fn(std::io::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// A connection with the step timeout on both directions.
fn timed(c: TcpStream) -> Result<TcpStream, String> {
    c.set_read_timeout(Some(STEP_TIMEOUT)).map_err(io("set timeout"))?;
    c.set_write_timeout(Some(STEP_TIMEOUT)).map_err(io("set timeout"))?;
    c.set_nodelay(true).map_err(io("nodelay"))?;
    Ok(c)
}

/// Serves one guest's run on `listener`: the control connection's commands (see `netbench.c`), timing each;
/// returns when the guest closes the control connection.
fn serve(listener: &TcpListener) -> Result<Figures, String> {
    let (control, _) = listener.accept().map_err(io("accept the control connection"))?;
    let control = timed(control)?;
    let mut lines = BufReader::new(control.try_clone().map_err(io("clone"))?);
    let mut out = control;
    let mut f = Figures::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).map_err(io("read a command"))? == 0 {
            break;
        }
        let start = Instant::now();
        let (verb, n) = line
            .trim()
            .split_once(' ')
            .and_then(|(v, n)| Some((v.to_string(), n.parse::<u64>().ok()?)))
            .ok_or(format!("bad command {line:?}"))?;
        let slot = ["tx", "rx", "rr", "cc"].iter().position(|v| *v == verb);
        if let Some(i) = slot {
            f.sizes[i] = n;
        }
        match verb.as_str() {
            "tx" => {
                let mut left = n;
                while left > 0 {
                    let want = left.min(buf.len() as u64) as usize;
                    let got = lines.read(&mut buf[..want]).map_err(io("tx: read"))?;
                    if got == 0 {
                        return Err("tx: the guest closed early".into());
                    }
                    left -= got as u64;
                }
                f.tx = mib_per_s(n, start.elapsed());
                out.write_all(b"k").map_err(io("tx: ack"))?;
            }
            "rx" => {
                buf.fill(0xa5);
                let mut left = n;
                while left > 0 {
                    let chunk = left.min(buf.len() as u64) as usize;
                    out.write_all(&buf[..chunk]).map_err(io("rx: write"))?;
                    left -= chunk as u64;
                }
                let mut k = [0u8; 1];
                lines.read_exact(&mut k).map_err(io("rx: ack"))?;
                f.rx = mib_per_s(n, start.elapsed());
            }
            "rr" => {
                let mut b = [0u8; 1];
                for _ in 0..n {
                    lines.read_exact(&mut b).map_err(io("rr: read"))?;
                    out.write_all(&b).map_err(io("rr: write"))?;
                }
                f.rr = n as f64 / start.elapsed().as_secs_f64();
            }
            "cc" => {
                let mut b = [0u8; 1];
                for _ in 0..n {
                    let (c, _) = listener.accept().map_err(io("cc: accept"))?;
                    let mut c = timed(c)?;
                    c.read_exact(&mut b).map_err(io("cc: read"))?;
                    c.write_all(&b).map_err(io("cc: write"))?;
                }
                f.cc = n as f64 / start.elapsed().as_secs_f64();
                out.write_all(b"k").map_err(io("cc: ack"))?;
            }
            _ => return Err(format!("unknown command {line:?}")),
        }
    }
    Ok(f)
}

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1048576.0 / d.as_secs_f64().max(1e-9)
}

/// `target/bench/net/`.
fn dir() -> PathBuf {
    workspace_root().join("target").join("bench").join("net")
}

/// The initramfs: `/init` is the benchmark, `/modules` Linux's virtio-net modules and their load order.
fn initramfs(linux_kernel: &Path) -> Result<PathBuf, String> {
    let image = Initramfs::new("bench-net").file("/init", &clients::c_program(Libc::Musl, "netbench")?)?;
    crate::bench_ext4::linux_modules(image, linux_kernel, &MODULES, &dir())?.write_in(&dir())
}

/// Builds the instruction-counting QEMU plugin (`tools/insn-marks`) into `target/bench/net/` with the host's C
/// compiler (`cc`), unless it is newer than its source; its path.
fn plugin() -> Result<PathBuf, String> {
    let source = workspace_root().join("tools/insn-marks/insn-marks.c");
    let out = dir().join("insn-marks.so");
    if clients::is_newer(&out, &source)? {
        return Ok(out);
    }
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .map_err(|e| format!("cannot run cc for {}: {e} (install gcc)", source.display()))?;
    if !status.success() {
        return Err(format!("cc could not build {}", source.display()));
    }
    Ok(out)
}

/// The plugin's marks: one instruction count a line, in order.
fn parse_marks(text: &str) -> Result<Vec<u64>, String> {
    text.lines()
        .map(|l| l.trim().parse::<u64>().map_err(|_| format!("bad mark line {l:?}")))
        .collect()
}

/// Each test's instructions from [`MARKS`] marks, in table order.
fn per_test(marks: &[u64]) -> Result<[u64; 4], String> {
    if marks.len() != MARKS {
        return Err(format!("{} instruction marks, not {MARKS}", marks.len()));
    }
    let mut insns = [0; 4];
    for (i, n) in insns.iter_mut().enumerate() {
        *n = marks[i + 1]
            .checked_sub(marks[i])
            .ok_or("the instruction marks go backwards")?;
    }
    Ok(insns)
}

/// One run on `kernel`: boots it with a fresh server and the plugin, and returns the server's figures with the
/// guest's instruction counts.
fn run_one(name: &str, kernel: &Path, cmdline: &str, initrd: &Path, run: usize) -> Result<Figures, String> {
    println!("bench: {name}: network benchmark, run {}", run + 1);
    let marks = dir().join(format!("marks-{name}-{}.txt", run + 1));
    let _ = std::fs::remove_file(&marks);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("listen"))?;
    let addr = listener.local_addr().map_err(io("local address"))?;
    let server = thread::spawn(move || serve(&listener));
    let mut vm = Vm::new(Boot::Pvh, MEM_MIB, &format!("{cmdline} {}", addr.port()));
    vm.initrd = Some(initrd.to_path_buf());
    vm.net = Some(String::new());
    vm.extra = vec![
        "-plugin".into(),
        format!("{},out={}", plugin()?.display(), marks.display()),
    ];
    let limits = Limits {
        total: TIMEOUT,
        silence: None,
        done: Some(DONE),
        grace: Duration::from_secs(30),
    };
    let f = qemu::watch(vm.command_for(kernel, &vm.cmdline), limits, &[], |_| {})?;
    let console = dir().join(format!("console-{name}-{}.txt", run + 1));
    let _ = std::fs::write(&console, &f.stdout);
    if !server.is_finished() {
        // The guest never came, or stopped half-way: wake the server's accept; its reads time out.
        let _ = TcpStream::connect(addr);
    }
    let served = server.join().map_err(|_| "the server panicked".to_string())?;
    let why = |e: String| format!("{name}, run {}: {e} (console in {})", run + 1, console.display());
    if let Some(line) = f.stdout.lines().find(|l| l.contains("netbench: error")) {
        return Err(why(line.trim().to_string()));
    }
    if !f.stdout.contains(DONE) {
        return Err(why(format!("no `{DONE}` line")));
    }
    let mut figures = served.map_err(why)?;
    let text = std::fs::read_to_string(&marks).map_err(|e| why(format!("{}: {e}", marks.display())))?;
    figures.insns = parse_marks(&text).and_then(|m| per_test(&m)).map_err(why)?;
    Ok(figures)
}

/// The median and the range of `values`, with `unit`; "–" when there are none.
fn summary(values: &[f64], unit: &str) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => "–".into(),
        n => format!("{:.0} {unit} ({:.0}–{:.0})", v[n / 2], v[0], v[n - 1]),
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The median and the spread of `values` (the range over the median, in percent), with `unit`; "–" when none.
fn cost_summary(values: &[f64], unit: &str) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => "–".into(),
        n => {
            let spread = 100.0 * (v[n - 1] - v[0]) / v[n / 2].max(1e-9);
            format!("{:.0} {unit} (±{:.1}%)", v[n / 2], spread / 2.0)
        }
    }
}

/// The ranking table: per test, the median instructions per unit of each kernel's runs (and half their range,
/// relative to the median), and Linux's median over ember's (above 1: ember does the same work with fewer).
fn cost_markdown(ember: &[Figures], linux: &[Figures]) -> String {
    let mut s = String::from(
        "| test (guest instructions, user and kernel) | ember, median (±half range) | Linux, median (±half range) | Linux/ember |\n|---|---|---|---|\n",
    );
    for (i, ((name, _, _), unit)) in ROWS.iter().zip(COST_UNITS).enumerate() {
        let e: Vec<f64> = ember.iter().map(|f| f.cost(i)).collect();
        let l: Vec<f64> = linux.iter().map(|f| f.cost(i)).collect();
        let ratio = match (median(&e), median(&l)) {
            (Some(e), Some(l)) if e > 0.0 => format!("{:.2}x", l / e),
            _ => "–".into(),
        };
        s += &format!(
            "| {name} | {} | {} | {ratio} |\n",
            cost_summary(&e, unit),
            cost_summary(&l, unit)
        );
    }
    s
}

/// The wall-clock table: per test, the median (and range) of each kernel's runs and ember's median over Linux's.
fn markdown(ember: &[Figures], linux: &[Figures]) -> String {
    let mut s = String::from(
        "| test (host wall clock) | ember, median (min–max) | Linux, median (min–max) | ember/Linux |\n|---|---|---|---|\n",
    );
    for (name, figure, unit) in ROWS {
        let e: Vec<f64> = ember.iter().map(figure).collect();
        let l: Vec<f64> = linux.iter().map(figure).collect();
        let ratio = match (median(&e), median(&l)) {
            (Some(e), Some(l)) if l > 0.0 => format!("{:.2}x", e / l),
            _ => "–".into(),
        };
        s += &format!("| {name} | {} | {} | {ratio} |\n", summary(&e, unit), summary(&l, unit));
    }
    s
}

/// Runs the network figures with ember's release image `ember` and Debian's `linux`; the report's markdown
/// section. A failed run is left out and named under the table (the others still count).
pub fn run(ember: &Path, linux: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir()).map_err(|e| e.to_string())?;
    let initrd = initramfs(linux)?;
    // Under plain TCG Linux needs the host's TSC frequency on a loaded host (see `bench::host_tsc_khz`).
    let linux_cmdline = format!("console=ttyS0 quiet panic=-1 {}", crate::bench::tsc_early_khz());
    let (mut e, mut l, mut failures) = (Vec::new(), Vec::new(), String::new());
    for run in 0..RUNS {
        for (name, kernel, cmdline, into) in [
            ("ember", ember, "console=ttyS0 quiet", &mut e),
            ("linux", linux, linux_cmdline.trim_end(), &mut l),
        ] {
            match run_one(name, kernel, cmdline, &initrd, run) {
                Ok(f) => into.push(f),
                Err(err) => {
                    eprintln!("bench: {err}");
                    failures += &format!("\nFailed: {err}\n");
                }
            }
        }
    }
    Ok(format!(
        "## Network (QEMU microvm, TCG, 1 vCPU, {MEM_MIB} MiB, `-netdev user`; `clients/c/netbench.c` against \
         the xtask's server on the host's loopback; {RUNS} runs each, interleaved)\n\nCPU work per unit, \
         counted by the `tools/insn-marks` QEMU plugin (deterministic enough to rank):\n\n{}\nHost wall clock \
         (capped by slirp, moves with the host's load):\n\n{}{failures}",
        cost_markdown(&e, &l),
        markdown(&e, &l)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `netbench.c` does, over the host's loopback, with small counts.
    fn guest(port: u16) {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut k = [0u8; 1];
        c.write_all(b"tx 100000\n").unwrap();
        c.write_all(&[1u8; 100000]).unwrap();
        c.read_exact(&mut k).unwrap();
        c.write_all(b"rx 70000\n").unwrap();
        let mut back = vec![0u8; 70000];
        c.read_exact(&mut back).unwrap();
        assert!(back.iter().all(|&b| b == 0xa5));
        c.write_all(b"k").unwrap();
        c.write_all(b"rr 20\n").unwrap();
        for _ in 0..20 {
            c.write_all(b"r").unwrap();
            c.read_exact(&mut k).unwrap();
            assert_eq!(&k, b"r");
        }
        c.write_all(b"cc 5\n").unwrap();
        for _ in 0..5 {
            let mut d = TcpStream::connect(("127.0.0.1", port)).unwrap();
            d.write_all(b"c").unwrap();
            d.read_exact(&mut k).unwrap();
        }
        c.read_exact(&mut k).unwrap();
    }

    #[test]
    fn serves_every_test_of_a_run() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = thread::spawn(move || guest(port));
        let f = serve(&listener).unwrap();
        client.join().unwrap();
        for (name, figure, _) in ROWS {
            assert!(figure(&f) > 0.0, "{name}: {f:?}");
        }
    }

    #[test]
    fn a_bad_command_fails_the_run() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"zz 1\n").unwrap();
        });
        assert!(serve(&listener).unwrap_err().contains("unknown command"));
        client.join().unwrap();
    }

    #[test]
    fn table_has_medians_and_ratios() {
        let f = |x: f64| Figures {
            tx: x,
            rx: 2.0 * x,
            rr: 100.0 * x,
            cc: 10.0 * x,
            ..Figures::default()
        };
        let md = markdown(&[f(10.0), f(30.0), f(20.0)], &[f(40.0)]);
        assert!(
            md.contains("| TCP stream guest→host | 20 MiB/s (10–30) | 40 MiB/s (40–40) | 0.50x |"),
            "{md}"
        );
        assert!(
            md.contains("| 1-byte TCP request/response | 2000 round trips/s (1000–3000)"),
            "{md}"
        );
        assert!(markdown(&[], &[f(1.0)]).contains("| – | 1 MiB/s (1–1) | – |"));
    }

    #[test]
    fn marks_give_each_tests_instructions() {
        let marks = parse_marks("100\n1100\n1300\n1600\n2000\n").unwrap();
        assert_eq!(per_test(&marks).unwrap(), [1000, 200, 300, 400]);
        assert!(per_test(&marks[..4]).unwrap_err().contains("4 instruction marks"));
        assert!(per_test(&[5, 4, 6, 7, 8]).unwrap_err().contains("backwards"));
        assert!(parse_marks("12\nx\n").is_err());
    }

    #[test]
    fn cost_table_ranks_by_instructions_per_unit() {
        let f = |k: u64| Figures {
            sizes: [2048, 1024, 10, 5],
            insns: [2000 * k, 3000 * k, 400 * k, 500 * k],
            ..Figures::default()
        };
        let md = cost_markdown(&[f(1), f(2), f(3)], &[f(4)]);
        assert!(
            md.contains(
                "| TCP stream guest→host | 2000 instructions/KiB (±50.0%) | 4000 instructions/KiB (±0.0%) | 2.00x |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 80 instructions/round trip (±50.0%) | 160 instructions/round trip"),
            "{md}"
        );
        assert!(cost_markdown(&[], &[f(1)]).contains("| – | 100 instructions/connection (±0.0%) | – |"));
    }
}
