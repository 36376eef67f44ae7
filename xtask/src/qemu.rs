//! Running an image under `qemu-system-x86_64 -M microvm` (always TCG: see DEVELOPERS.md).

use crate::image::Images;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";

/// Which entry the VMM takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// PVH, as QEMU and Firecracker ≥ 1.12 do.
    Pvh,
    /// The 64-bit Linux boot protocol, as Firecracker ≤ 1.11 does (through the test shim).
    Linux64,
}

impl Boot {
    /// The name ember's `ready` line uses.
    pub fn name(self) -> &'static str {
        match self {
            Boot::Pvh => "pvh",
            Boot::Linux64 => "linux64",
        }
    }
}

impl FromStr for Boot {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pvh" => Ok(Boot::Pvh),
            "linux64" => Ok(Boot::Linux64),
            _ => Err(format!("--boot takes pvh or linux64, not {s}")),
        }
    }
}

/// One microVM configuration.
#[derive(Clone, Debug)]
pub struct Vm {
    /// Entry path.
    pub boot: Boot,
    /// Guest RAM in MiB.
    pub mem_mib: u32,
    /// Kernel command line.
    pub cmdline: String,
    /// Initrd file, if any.
    pub initrd: Option<PathBuf>,
    /// Extra `-M microvm` options, e.g. `acpi=off` or `rtc=on`.
    pub machine: Vec<&'static str>,
    /// Raw disk images, attached as virtio-blk devices in this order.
    pub disks: Vec<PathBuf>,
    /// Attach a virtio entropy device.
    pub entropy: bool,
    /// The first disk is the root file system: QEMU gets `root=/dev/vda rw` on the command line, Firecracker
    /// `"is_root_device": true` (with which it adds the same words itself).
    pub root_device: bool,
    /// Modern virtio-mmio (v2, as Firecracker) instead of QEMU's default legacy v1.
    pub modern: bool,
    /// Run with `-icount shift=0,sleep=off`: guest time is a function of executed instructions (1 ns each),
    /// so timing inside the guest is deterministic.
    pub icount: bool,
    /// Extra `shim.*` words for the linux64 test shim (e.g. a hostile `shim.initrd=`); ignored for PVH.
    pub shim: Vec<String>,
    /// Extra QEMU arguments (e.g. a `loader` device with crafted tables).
    pub extra: Vec<String>,
    /// Guest RAM instead of `mem_mib`: the end of ember's loaded image plus this many KiB (QEMU only), so that a
    /// low-memory case keeps the same room however the image grows.
    pub mem_kib_past_image: Option<u64>,
    /// QEMU's CPU model and feature changes (`-cpu`), `max` unless a test takes features away.
    pub cpu: String,
    /// Virtual CPUs (QEMU `-smp`, Firecracker `vcpu_count`); more than one runs QEMU's multi-threaded TCG.
    pub cpus: u32,
    /// A virtio network device on QEMU's user-mode network, with these extra `-netdev user` options (e.g.
    /// `hostfwd=...`; empty for none).
    pub net: Option<String>,
    /// Firecracker only: a vsock device and the host's side of it.
    pub vsock: Option<crate::firecracker::VsockPeer>,
    /// Firecracker only: a network device (a tap device on the host) with MMDS version 2 serving this
    /// metadata (JSON).
    pub mmds: Option<String>,
    /// Firecracker only: what the job does with snapshots once the guest prints
    /// [`crate::firecracker::SNAPSHOT_MARK`] (restore once, or clones).
    pub snapshot: crate::firecracker::Snapshot,
    /// QEMU only: a second VM booted beside this one (the two-VM rig: [`crate::net_pair`]); both run to their
    /// end, and the case's check sees how each ended.
    pub peer: Option<Box<Vm>>,
    /// Boot this kernel (with [`Vm::command_for`]) instead of ember's image: a Linux peer.
    pub kernel: Option<PathBuf>,
}

impl Vm {
    /// A VM with no initrd, default machine options and real-time clocks.
    pub fn new(boot: Boot, mem_mib: u32, cmdline: &str) -> Self {
        Self {
            boot,
            mem_mib,
            cmdline: cmdline.into(),
            initrd: None,
            machine: Vec::new(),
            disks: Vec::new(),
            entropy: false,
            root_device: false,
            modern: false,
            icount: false,
            shim: Vec::new(),
            extra: Vec::new(),
            mem_kib_past_image: None,
            cpu: "max".into(),
            cpus: 1,
            net: None,
            vsock: None,
            mmds: None,
            snapshot: crate::firecracker::Snapshot::None,
            peer: None,
            kernel: None,
        }
    }

    /// The QEMU command that boots `images` (or [`Vm::kernel`]) this way, serial console on stdout. A failed boot exits with status
    /// 3 (`isa-debug-exit`); power off is a triple fault, which `-no-reboot` turns into exit status 0.
    pub fn command(&self, images: &Images) -> Command {
        if let Some(kernel) = &self.kernel {
            return self.command_for(kernel, &self.cmdline);
        }
        let root = if self.root_device { " root=/dev/vda rw" } else { "" };
        let cmdline = format!("{}{root}", self.cmdline);
        match self.boot {
            Boot::Pvh => self.command_sized(&images.kernel, &cmdline, images.end),
            Boot::Linux64 => {
                let mut c = self.command_sized(
                    &images.shim,
                    &format!(
                        "shim.entry={:#x} shim.kernel_end={:#x} {}{}",
                        images.entry,
                        images.end,
                        self.shim.iter().map(|w| format!("{w} ")).collect::<String>(),
                        cmdline
                    ),
                    images.end,
                );
                c.arg("-device").arg(format!("loader,file={}", images.kernel.display()));
                c
            }
        }
    }

    /// The QEMU command that boots any `kernel` QEMU can load with this VM's machine, memory, devices, clock and
    /// initrd (the bench boots Linux this way, exactly as ember).
    pub fn command_for(&self, kernel: &Path, cmdline: &str) -> Command {
        self.command_sized(kernel, cmdline, 0)
    }

    /// [`Vm::command_for`], with ember's image ending at `image_end` (for `mem_kib_past_image`).
    fn command_sized(&self, kernel: &Path, cmdline: &str, image_end: u64) -> Command {
        let mut machine = String::from("microvm,x-option-roms=off");
        for opt in &self.machine {
            machine.push(',');
            machine.push_str(opt);
        }
        let mut c = Command::new(QEMU);
        let accel = if self.cpus > 1 { "tcg,thread=multi" } else { "tcg" };
        c.args([
            "-M",
            &machine,
            "-accel",
            accel,
            "-cpu",
            &self.cpu,
            "-smp",
            &self.cpus.to_string(),
        ])
        .args([
            "-m",
            &self.mem_kib_past_image.map_or(self.mem_mib.to_string(), |k| {
                format!("{}K", image_end.div_ceil(1024) + k)
            }),
        ])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", cmdline]);
        if self.icount {
            c.args(["-icount", "shift=0,sleep=off"]);
        }
        if self.modern {
            c.args(["-global", "virtio-mmio.force-legacy=off"]);
        }
        for (i, disk) in self.disks.iter().enumerate() {
            c.arg("-drive")
                .arg(format!("if=none,id=d{i},format=raw,file={}", disk.display()));
            c.args(["-device", &format!("virtio-blk-device,drive=d{i}")]);
        }
        if self.entropy {
            c.args(["-device", "virtio-rng-device"]);
        }
        if let Some(opts) = &self.net {
            let extra = if opts.is_empty() {
                String::new()
            } else {
                format!(",{opts}")
            };
            c.args(["-netdev", &format!("user,id=n0{extra}")]);
            c.args(["-device", "virtio-net-device,netdev=n0"]);
        }
        if let Some(initrd) = &self.initrd {
            c.arg("-initrd").arg(initrd);
        }
        c.args(&self.extra);
        c
    }
}

/// QEMU's arguments for a virtio-net device on a `-netdev dgram` wire: this VM's end is UDP port `local` on
/// 127.0.0.1 and its frames go to port `remote` there (a peer of the xtask's, or another VM). `device_opts` is
/// appended to the device's options (`,mac=…`, or empty).
pub fn dgram_net(local: u16, remote: u16, device_opts: &str) -> Vec<String> {
    vec![
        "-netdev".into(),
        format!(
            "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={local},\
             remote.type=inet,remote.host=127.0.0.1,remote.port={remote}"
        ),
        "-device".into(),
        format!("virtio-net-device,netdev=n0{device_opts}"),
    ]
}

/// Makes sure QEMU is there: installs it through apt when we are root, otherwise says what to install.
pub fn ensure_installed() -> Result<(), String> {
    crate::debian::ensure_installed(QEMU, &["qemu-system-x86"], || {
        Command::new(QEMU)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// What a finished QEMU process printed and how it ended.
pub struct Finished {
    /// Exit status (`None`: killed by a signal, or by us).
    pub status: Option<i32>,
    /// Standard output (the serial console), carriage returns removed.
    pub stdout: String,
    /// Standard error (QEMU's own messages).
    pub stderr: String,
    /// Why we stopped QEMU, when it did not exit by itself.
    pub stopped: Option<Stopped>,
}

/// When [`watch`] stops a VM that has not exited.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock limit of the whole run.
    pub total: Duration,
    /// Stop when the console has been silent for this long (counted from the start, too).
    pub silence: Option<Duration>,
    /// Once the console shows this text, give QEMU [`Limits::grace`] to exit by itself, then stop it.
    pub done: Option<&'static str>,
    /// See [`Limits::done`].
    pub grace: Duration,
}

/// Why [`watch`] killed QEMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It ran past [`Limits::total`].
    Timeout,
    /// The console was silent for [`Limits::silence`].
    Silent,
    /// It printed [`Limits::done`] and did not exit within [`Limits::grace`].
    Done,
}

/// How long after its trigger a step's text is typed.
const TYPING_DELAY: Duration = Duration::from_millis(300);

/// Console input for a test: each `(trigger, text)` types `text` on the serial console once the output shows
/// `trigger` after the previous step's trigger.
pub type Input = &'static [(&'static str, &'static str)];

/// Runs `cmd` to completion, killing it after `timeout`, typing `input` on standard input (the serial console).
pub fn run(cmd: Command, timeout: Duration, input: Input) -> Result<Finished, String> {
    let limits = Limits {
        total: timeout,
        silence: None,
        done: None,
        grace: Duration::ZERO,
    };
    let f = watch(cmd, limits, input, |_| {})?;
    match f.stopped {
        None => Ok(f),
        Some(_) => {
            let tail: String = f
                .stdout
                .chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Err(format!(
                "QEMU did not exit within {timeout:?}: the kernel hangs\n--- console (end) ---\n{tail}"
            ))
        }
    }
}

/// Runs `cmd` until it exits or `limits` stop it, handing every chunk of console output to `progress` as it
/// comes; `input` as in [`run`]. An error only when QEMU cannot be started.
pub fn watch(
    mut cmd: Command,
    limits: Limits,
    input: Input,
    mut progress: impl FnMut(&str),
) -> Result<Finished, String> {
    let mut child = cmd
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let mut stdin = child.stdin.take();
    let (chunks, received) = std::sync::mpsc::channel::<Vec<u8>>();
    let out = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        // Triggers are matched against the output without carriage returns, from where the last one matched.
        let (mut step, mut seen, mut clean) = (0, 0, String::new());
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            clean.extend(String::from_utf8_lossy(&chunk[..n]).chars().filter(|&c| c != '\r'));
            while let Some((trigger, text)) = input.get(step) {
                let Some(at) = clean[seen..].find(trigger) else {
                    break;
                };
                seen += at + trigger.len();
                // As a person would: a program that printed its prompt may not be reading yet, and a shell
                // drains what arrives in the moment after a line (busybox, waiting for a cursor report).
                std::thread::sleep(TYPING_DELAY);
                if let Some(stdin) = stdin.as_mut() {
                    let _ = stdin.write_all(text.as_bytes());
                    let _ = stdin.flush();
                }
                step += 1;
            }
            if chunks.send(chunk[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let mut last_output = start;
    let mut done_at: Option<Instant> = None;
    let mut console = Vec::new();
    // How far `console` has been searched for `limits.done` (less the marker's length, which may straddle chunks).
    let mut searched = 0;
    let mut stopped = None;
    // Polled often: the bench measures wall time around this call.
    let status = loop {
        while let Ok(chunk) = received.try_recv() {
            last_output = Instant::now();
            progress(&String::from_utf8_lossy(&chunk));
            console.extend_from_slice(&chunk);
        }
        if let (Some(done), None) = (limits.done, done_at) {
            if console[searched..].windows(done.len()).any(|w| w == done.as_bytes()) {
                done_at = Some(Instant::now());
            }
            searched = console.len().saturating_sub(done.len());
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status.code();
        }
        let now = Instant::now();
        stopped = if done_at.is_some_and(|t| now - t > limits.grace) {
            Some(Stopped::Done)
        } else if now - start > limits.total {
            Some(Stopped::Timeout)
        } else if limits.silence.is_some_and(|s| now - last_output > s) {
            Some(Stopped::Silent)
        } else {
            None
        };
        if stopped.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = out.join();
    for chunk in received.try_iter() {
        progress(&String::from_utf8_lossy(&chunk));
        console.extend_from_slice(&chunk);
    }
    Ok(Finished {
        status,
        stdout: String::from_utf8_lossy(&console).replace('\r', ""),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        stopped,
    })
}
