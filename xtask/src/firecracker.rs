//! Running ember on real Firecracker: directly where `/dev/kvm` can run it, otherwise inside a nested rig
//! (Debian's Linux under QEMU TCG with `-cpu max`, which loads `kvm_amd` with nested paging, running Firecracker).
//!
//! The rig is built from Debian packages downloaded with `apt-get download` into `target/fcrig/` (never
//! committed). Firecracker itself is never built or fetched here: pass a binary with `--firecracker PATH` or
//! the `FIRECRACKER` environment variable.

use crate::cpio::Cpio;
use crate::image::{Images, workspace_root};
use crate::qemu::{Boot, Vm};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Firecracker's default boot arguments (`vmm_config/boot_source.rs`), which a user's guest sees unless the
/// config overrides them; the xtask passes them explicitly so the tests see what users see.
pub const DEFAULT_ARGS: &str =
    "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd swiotlb=noforce";
/// Where Firecracker ≥ 1.13's boot timer device listens (`BOOT_DEVICE_MEM_START`).
pub const BOOT_TIMER: &str = "0xc0000000";
/// What Firecracker logs when a driver breaks the virtio status rules; any occurrence fails a test.
pub const INVALID_VIRTIO: &str = "invalid virtio driver status transition";

/// The Unix socket of a vsock device, in the job's directory (Firecracker's working directory); a guest's
/// connection to port P arrives at `v.sock_P`.
pub const VSOCK_UDS: &str = "v.sock";

/// What a snapshot case's guest prints when it is ready to be paused and snapshotted (`SNAPSHOT_MARK` in
/// `clients/c/vsock-snap.c`).
pub const SNAPSHOT_MARK: &str = "vsock-snap: ready for the snapshot";

/// What a Firecracker job does with snapshots (`Vm::snapshot`). A snapshot job runs from the job's directory
/// as `sh snapshot.sh FIRECRACKER [FLAG...]` in place of the plain run; `fc-api` (`clients/c/fc-api.c`)
/// speaks HTTP to the API sockets, and each Firecracker's console and log go to a file, printed when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// None: Firecracker boots `vm.json` and runs to the end.
    None,
    /// Boot from `vm.json` with the API socket, wait (at most 40 s) for the guest's mark, pause the VM, take a
    /// full snapshot, stop that Firecracker (`SIGTERM`); remove the vsock device's socket (Firecracker binds it
    /// again at the restore and leaves the stale one behind), restore the snapshot, resumed, in a new
    /// Firecracker and let it run to the end (without `mmds`: no `--metadata`).
    Restore,
    /// The serverless use: boot once, snapshot, restore four times (`fc_clones.sh`): clone 1 beside the first
    /// Firecracker's tap, then clone 2, then clones 3 and 4 at once, each in its own directory and network
    /// namespace. Needs `mmds` (the network device) and `vsock`; every restore gets its own MMDS metadata
    /// (`/clone/index`, `/clone/existing`) before it resumes.
    Clones,
}

/// The `Restore` job's script.
const SNAPSHOT_SCRIPT: &str = r#"fc=$1; shift
rm -f api1.sock api2.sock snap.state snap.mem
timeout 40 "$fc" --api-sock api1.sock --boot-timer --level Info --config-file vm.json "$@" > run1.log 2>&1 &
pid=$!
n=0
while ! grep -q "@MARK@" run1.log && kill -0 $pid 2>/dev/null && [ $n -lt 400 ]; do sleep 0.1; n=$((n + 1)); done
./fc-api api1.sock PATCH /vm '{"state": "Paused"}' &&
  ./fc-api api1.sock PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "snap.state", "mem_file_path": "snap.mem"}'
made=$?
kill $pid 2>/dev/null
{ wait $pid; } 2>/dev/null
cat run1.log
if [ $made != 0 ]; then echo "fcrig: snapshot: none was made"; exit 1; fi
echo "fcrig: snapshot: made; the first Firecracker is stopped"
rm -f @UDS@
timeout 40 "$fc" --api-sock api2.sock --level Info "$@" > run2.log 2>&1 &
pid=$!
./fc-api api2.sock PUT /snapshot/load '{"snapshot_path": "snap.state", "mem_backend": {"backend_type": "File", "backend_path": "snap.mem"}, "resume_vm": true}' || kill $pid
wait $pid
status=$?
cat run2.log
rm -f snap.state snap.mem
exit $status
"#;

/// The rig's address on the tap behind a clones job's network device (`RIG_ADDR` in
/// `clients/c/vsock-snap.c`), on the guest's link-local network.
const RIG_ADDR: &str = "169.254.0.1";
/// The port of the rig's TCP echo server in a clones job (`RIG_PORT` in `clients/c/vsock-snap.c`).
const RIG_PORT: u16 = 7000;
/// The MAC of the rig's tap in a clones job, the same in every clone's network namespace.
const TAP_MAC: &str = "02:00:a9:fe:00:01";
/// The guest's first line after a restore, where a clones job stops its restore clock.
const FIRST_AFTER_RESTORE: &str = "vsock-snap: both connections reset";

impl Snapshot {
    /// The job's script, with its constants filled in; `None` for a plain run.
    fn script(self) -> Option<String> {
        let s = match self {
            Snapshot::None => return None,
            Snapshot::Restore => SNAPSHOT_SCRIPT.to_string(),
            Snapshot::Clones => include_str!("fc_clones.sh")
                .replace("@TAP_MAC@", TAP_MAC)
                .replace("@RIG_ADDR@", RIG_ADDR)
                .replace("@RIG_PORT@", &RIG_PORT.to_string())
                .replace("@FIRST@", FIRST_AFTER_RESTORE)
                .replace("@HOST_BYTES@", &crate::firecracker_tests::SNAP_HOST_BYTES.to_string()),
        };
        Some(s.replace("@MARK@", SNAPSHOT_MARK).replace("@UDS@", VSOCK_UDS))
    }

    /// Seconds the job may take in the rig.
    fn seconds(self) -> u64 {
        match self {
            Snapshot::None => 90,
            Snapshot::Restore => 100,
            Snapshot::Clones => 300,
        }
    }
}

/// A Firecracker vsock device and the host's side of it: `script` runs (`sh`, in the background, from the
/// job's directory) while Firecracker runs, with `files` (name in that directory, source) beside it; its
/// output follows Firecracker's log (collected apart, so that it never cuts into a console line). It must
/// end on its own (bound each program with `timeout`).
#[derive(Clone, Debug)]
pub struct VsockPeer {
    /// The guest's CID.
    pub guest_cid: u32,
    /// The host side's shell script.
    pub script: String,
    /// Files the script uses.
    pub files: Vec<(String, PathBuf)>,
}

/// The host's tap device behind a case's network device (MMDS answers inside Firecracker; the tap only has
/// to exist, and Firecracker creates it when it does not).
const TAP: &str = "tap0";
/// The file with a case's MMDS metadata, in the job's directory.
const METADATA: &str = "metadata.json";

/// How Firecracker is run here.
pub enum Rig {
    /// `/dev/kvm` runs ember: Firecracker runs on this machine.
    Native,
    /// Inside Debian's Linux under QEMU TCG, with nested KVM.
    Nested { vmlinuz: PathBuf, root: PathBuf },
}

/// The Firecracker binary named by `--firecracker` or `FIRECRACKER`, if any.
pub fn binary(flag: Option<String>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var("FIRECRACKER").ok())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// One Firecracker run's result.
pub struct FcRun {
    /// Firecracker's exit status (None: killed or never reported).
    pub status: Option<i32>,
    /// Serial console and Firecracker's log, interleaved as printed.
    pub output: String,
}

/// The image Firecracker ≤ 1.11 would see: the PVH note's program header turned into PT_NULL, so Firecracker
/// ≥ 1.12 also enters at `e_entry` (the 64-bit Linux boot protocol).
pub fn without_pvh_note(kernel: &Path) -> Result<PathBuf, String> {
    let mut b = std::fs::read(kernel).map_err(|e| format!("cannot read {}: {e}", kernel.display()))?;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let phentsize = u16::from_le_bytes([b[0x36], b[0x37]]) as usize;
    let phnum = u16::from_le_bytes([b[0x38], b[0x39]]) as usize;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if b[at..at + 4] == 4u32.to_le_bytes() {
            b[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        }
    }
    let out = kernel.with_file_name("ember-linux64");
    std::fs::write(&out, b).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

/// Firecracker's JSON configuration for `vm`, with paths as the Firecracker process will see them.
fn config(kernel: &str, vm: &Vm, initrd: Option<&str>, disks: &[String]) -> String {
    // The boot timer's address, unless the case sets its own (the last value on a command line wins).
    let timer = if vm.cmdline.contains("ember.boot_timer=") {
        String::new()
    } else {
        format!(" ember.boot_timer={BOOT_TIMER}")
    };
    let args = format!("{} {DEFAULT_ARGS}{timer}", vm.cmdline);
    let mmds = vm.mmds.as_ref().map_or(String::new(), |_| {
        format!(
            ",\n  \"network-interfaces\": [{{ \"iface_id\": \"eth0\", \"host_dev_name\": \"{TAP}\", \
             \"guest_mac\": \"06:00:ac:10:00:02\" }}],\n  \"mmds-config\": {{ \"version\": \"V2\", \
             \"network_interfaces\": [\"eth0\"] }}"
        )
    });
    let initrd = initrd.map_or("null".to_string(), |p| format!("\"{p}\""));
    let drives: Vec<String> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let root = i == 0 && vm.root_device;
            format!(
                r#"{{ "drive_id": "d{i}", "path_on_host": "{d}", "is_root_device": {root}, "is_read_only": false }}"#
            )
        })
        .collect();
    let entropy = if vm.entropy { ",\n  \"entropy\": {}" } else { "" };
    let vsock = vm.vsock.as_ref().map_or(String::new(), |v| {
        format!(
            ",\n  \"vsock\": {{ \"guest_cid\": {}, \"uds_path\": \"{VSOCK_UDS}\" }}",
            v.guest_cid
        )
    });
    format!(
        r#"{{
  "boot-source": {{ "kernel_image_path": "{kernel}", "boot_args": "{}", "initrd_path": {initrd} }},
  "drives": [{}],
  "machine-config": {{ "vcpu_count": {}, "mem_size_mib": {} }}{entropy}{vsock}{mmds}
}}
"#,
        args.replace('\\', "\\\\").replace('"', "\\\""),
        drives.join(", "),
        vm.cpus,
        vm.mem_mib
    )
}

fn run_direct(fc: &Path, images: &Images, vm: &Vm, dir: &Path, timeout: Duration) -> Result<FcRun, String> {
    let kernel = match vm.boot {
        Boot::Pvh => images.kernel.clone(),
        Boot::Linux64 => without_pvh_note(&images.kernel)?,
    };
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let cfg = dir.join("vm.json");
    let initrd = vm.initrd.as_ref().map(|p| p.display().to_string());
    let disks: Vec<String> = vm.disks.iter().map(|d| d.display().to_string()).collect();
    std::fs::write(
        &cfg,
        config(&kernel.display().to_string(), vm, initrd.as_deref(), &disks),
    )
    .map_err(|e| e.to_string())?;
    let host = match &vm.vsock {
        Some(peer) => Some(start_peer(peer, dir)?),
        None => None,
    };
    let mut metadata = Vec::new();
    if let Some(m) = &vm.mmds {
        std::fs::write(dir.join(METADATA), m).map_err(|e| e.to_string())?;
        metadata = vec!["--metadata", METADATA];
    }
    let mut cmd = Command::new("timeout");
    if let Some(script) = vm.snapshot.script() {
        std::fs::write(dir.join("snapshot.sh"), script).map_err(|e| e.to_string())?;
        let api = crate::clients::c_program(crate::clients::Libc::Musl, "fc-api")?;
        std::fs::copy(&api, dir.join("fc-api")).map_err(|e| format!("cannot copy {}: {e}", api.display()))?;
        cmd.arg((timeout.as_secs() + vm.snapshot.seconds()).to_string())
            .args(["sh", "snapshot.sh"])
            .arg(fc);
    } else {
        cmd.arg(timeout.as_secs().to_string())
            .arg(fc)
            .args(["--no-api", "--boot-timer", "--level", "Info", "--config-file"])
            .arg(&cfg)
            .args(&metadata);
    }
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run Firecracker: {e}"))?;
    let mut output = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    if let Some(host) = host {
        let h = host.wait_with_output().map_err(|e| format!("vsock peer: {e}"))?;
        output.push_str(&String::from_utf8_lossy(&h.stdout));
    }
    Ok(FcRun {
        status: out.status.code(),
        output,
    })
}

/// Starts a vsock device's host side in `dir` (its files copied there, stale sockets removed).
fn start_peer(peer: &VsockPeer, dir: &Path) -> Result<std::process::Child, String> {
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        if e.file_name().to_string_lossy().starts_with(VSOCK_UDS) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    for (name, source) in &peer.files {
        std::fs::copy(source, dir.join(name)).map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
    }
    std::fs::write(dir.join("host.sh"), &peer.script).map_err(|e| e.to_string())?;
    Command::new("sh")
        .arg("host.sh")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the vsock peer: {e}"))
}

/// Decides how to run Firecracker: a quick direct boot of ember says whether `/dev/kvm` can run it.
pub fn probe(fc: &Path, images: &Images) -> Result<Rig, String> {
    let vm = Vm::new(Boot::Pvh, 64, "console=ttyS0 quiet");
    let dir = workspace_root().join("target").join("fcrig").join("probe");
    let native = Path::new("/dev/kvm").exists()
        && run_direct(fc, images, &vm, &dir, Duration::from_secs(20)).is_ok_and(|r| r.output.contains("ember: ready"));
    if native {
        println!("firecracker: /dev/kvm runs ember; running Firecracker directly");
        return Ok(Rig::Native);
    }
    println!("firecracker: /dev/kvm cannot run ember here; using the nested rig (Linux + KVM under QEMU TCG)");
    nested_rig()
}

/// Runs `vms` on Firecracker, one after the other, and returns each run's result.
pub fn run(fc: &Path, rig: &Rig, images: &Images, vms: &[Vm]) -> Result<Vec<FcRun>, String> {
    let base = workspace_root().join("target").join("fcrig");
    match rig {
        Rig::Native => vms
            .iter()
            .enumerate()
            .map(|(i, vm)| run_direct(fc, images, vm, &base.join(format!("job{i}")), Duration::from_secs(60)))
            .collect(),
        Rig::Nested { vmlinuz, root } => run_nested(fc, vmlinuz, root, images, vms),
    }
}

/// Downloads and unpacks Debian's kernel (with its KVM modules) and busybox, once.
fn nested_rig() -> Result<Rig, String> {
    let root = workspace_root().join("target").join("fcrig").join("debian");
    let vmlinuz = crate::debian::kernel("linux-image-amd64", &["busybox-static"], &root)?;
    Ok(Rig::Nested { vmlinuz, root })
}

/// The init script of the rig's Linux: load KVM, run every job, report, power off. A job gets 90 s (the
/// longest, `user-threads-100-times`, takes 46 s in the rig on a quiet host), a snapshot job what its
/// `limit` file says ([`Snapshot::seconds`]).
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev; mount -t proc proc /proc; mount -t sysfs sys /sys
for m in irqbypass kvm ccp kvm-amd tun; do insmod /mods/$m.ko 2>/dev/null; done
[ -e /dev/kvm ] || echo "fcrig: no /dev/kvm in the rig"
for job in $(ls -d /fc/job* | sort -t b -k 2 -n); do
  echo "fcrig: begin $job"
  cd $job
  host=
  if [ -f host.sh ]; then sh host.sh > host.log 2>&1 & host=$!; fi
  meta=; [ -f metadata.json ] && meta="--metadata metadata.json"
  if [ -f snapshot.sh ]; then
    timeout $(cat limit) sh snapshot.sh /fc/firecracker --no-seccomp
  else
    timeout 90 /fc/firecracker --no-api --no-seccomp --boot-timer --level Info --config-file vm.json $meta
  fi
  status=$?
  [ -n "$host" ] && { wait $host; cat host.log; }
  for d in disk*.img; do
    [ -f "$d" ] || continue
    n=${d#disk}; n=${n%.img}
    if dd if=$d bs=512 skip=8 count=8 2>/dev/null | cmp -s - expect$n.bin; then r=ok; else r=differs; fi
    echo "fcrig: disk$n sectors 8-15: pattern $r"
  done
  echo "fcrig: end $job exit=$status"
done
poweroff -f
"#;

fn run_nested(fc: &Path, vmlinuz: &Path, root: &Path, images: &Images, vms: &[Vm]) -> Result<Vec<FcRun>, String> {
    let mut cpio = Cpio::default();
    cpio.dir("bin");
    cpio.dir("dev");
    cpio.dir("proc");
    cpio.dir("sys");
    cpio.dir("mods");
    cpio.dir("fc");
    cpio.file("init", INIT.as_bytes(), 0o755);
    cpio.file("bin/busybox", &read(&root.join("bin/busybox"))?, 0o755);
    let modules = std::fs::read_dir(root.join("lib/modules"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .next()
        .ok_or("no kernel modules in the kernel package")?
        .path()
        .join("kernel");
    for (name, path) in [
        ("irqbypass", "virt/lib/irqbypass.ko"),
        ("kvm", "arch/x86/kvm/kvm.ko"),
        ("ccp", "drivers/crypto/ccp/ccp.ko"),
        ("kvm-amd", "arch/x86/kvm/kvm-amd.ko"),
        // For the tap devices behind network devices (MMDS).
        ("tun", "drivers/net/tun.ko"),
    ] {
        cpio.file(&format!("mods/{name}.ko"), &read(&modules.join(path))?, 0o644);
    }
    cpio.file("fc/firecracker", &read(fc)?, 0o755);
    let ldd = Command::new("ldd").arg(fc).output().map_err(|e| format!("ldd: {e}"))?;
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let lib = lib.trim_start_matches('/');
        let mut parent = String::new();
        for part in Path::new(lib).parent().into_iter().flat_map(|p| p.iter()) {
            parent = if parent.is_empty() {
                part.to_string_lossy().into()
            } else {
                format!("{parent}/{}", part.to_string_lossy())
            };
            cpio.dir(&parent);
        }
        cpio.file(lib, &read(&Path::new("/").join(lib))?, 0o755);
    }
    // The kernels and initrds once each, shared by the jobs (read-only to Firecracker): a copy per job of the
    // 44 MB dev image made 83 jobs' archive larger than QEMU's initrd limit (3 GiB).
    cpio.file("fc/kernel-pvh", &read(&images.kernel)?, 0o644);
    cpio.file("fc/kernel-linux64", &read(&without_pvh_note(&images.kernel)?)?, 0o644);
    let mut initrds: Vec<&Path> = Vec::new();
    for (i, vm) in vms.iter().enumerate() {
        let dir = format!("fc/job{i}");
        cpio.dir(&dir);
        let kernel = if vm.boot == Boot::Pvh {
            "/fc/kernel-pvh"
        } else {
            "/fc/kernel-linux64"
        };
        let initrd = match &vm.initrd {
            Some(p) => {
                let n = match initrds.iter().position(|q| q == p) {
                    Some(n) => n,
                    None => {
                        cpio.file(&format!("fc/initrd{}", initrds.len()), &read(p)?, 0o644);
                        initrds.push(p);
                        initrds.len() - 1
                    }
                };
                Some(format!("/fc/initrd{n}"))
            }
            None => None,
        };
        let mut disks = Vec::new();
        for (d, disk) in vm.disks.iter().enumerate() {
            cpio.file(&format!("{dir}/disk{d}.img"), &read(disk)?, 0o644);
            cpio.file(
                &format!("{dir}/expect{d}.bin"),
                &crate::boot_tests::blk_pattern(d),
                0o644,
            );
            disks.push(format!("/{dir}/disk{d}.img"));
        }
        if let Some(m) = &vm.mmds {
            cpio.file(&format!("{dir}/{METADATA}"), m.as_bytes(), 0o644);
        }
        if let Some(peer) = &vm.vsock {
            cpio.file(&format!("{dir}/host.sh"), peer.script.as_bytes(), 0o755);
            for (name, source) in &peer.files {
                cpio.file(&format!("{dir}/{name}"), &read(source)?, 0o755);
            }
        }
        if let Some(script) = vm.snapshot.script() {
            cpio.file(&format!("{dir}/snapshot.sh"), script.as_bytes(), 0o755);
            cpio.file(
                &format!("{dir}/limit"),
                vm.snapshot.seconds().to_string().as_bytes(),
                0o644,
            );
            let api = crate::clients::c_program(crate::clients::Libc::Musl, "fc-api")?;
            cpio.file(&format!("{dir}/fc-api"), &read(&api)?, 0o755);
        }
        let cfg = config(kernel, vm, initrd.as_deref(), &disks);
        cpio.file(&format!("{dir}/vm.json"), cfg.as_bytes(), 0o644);
    }
    let initramfs = workspace_root().join("target").join("fcrig").join("initramfs.cpio");
    let archive = cpio.finish();
    // The rig's Linux holds the archive and its unpacked copy in RAM besides the largest guest: with 70 jobs
    // (a kernel copy, initrds and disks each) a fixed 768 MiB ran out ("Initramfs unpacking failed: write
    // error") and the last jobs' files were missing.
    let archive_mib = (archive.len() >> 20) as u32;
    std::fs::write(&initramfs, archive).map_err(|e| e.to_string())?;

    let mem = vms.iter().map(|v| v.mem_mib).max().unwrap_or(128) + 768 + 2 * archive_mib;
    let out = Command::new("timeout")
        .arg((120 + vms.iter().map(|v| v.snapshot.seconds()).sum::<u64>()).to_string())
        .args([
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-smp",
            "1",
            "-m",
            &mem.to_string(),
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(&initramfs)
        .args([
            "-append",
            "console=ttyS0 quiet panic=-1",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .args(["-nodefaults", "-no-user-config"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the rig: {e}"))?;
    let log = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let runs: Vec<FcRun> = (0..vms.len())
        .map(|i| {
            let begin = format!("fcrig: begin /fc/job{i}\n");
            let end = format!("fcrig: end /fc/job{i} exit=");
            let Some(start) = log.find(&begin).map(|s| s + begin.len()) else {
                return FcRun {
                    status: None,
                    output: format!(
                        "the rig never ran job {i} (rig QEMU: {}, {mem} MiB)\n{log}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ),
                };
            };
            match log[start..].find(&end) {
                Some(len) => {
                    let status = log[start + len + end.len()..]
                        .lines()
                        .next()
                        .and_then(|s| s.trim().parse().ok());
                    FcRun {
                        status,
                        output: log[start..start + len].to_string(),
                    }
                }
                None => FcRun {
                    status: None,
                    output: log[start..].to_string(),
                },
            }
        })
        .collect();
    Ok(runs)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
