//! The ext4 figures of `cargo xtask bench` (also alone: `cargo xtask bench ext4`): `clients/c/ext4bench.c`
//! (static musl) as `/init` on ember and on Debian's Linux, each booted under `-icount` with a fresh ext4 image
//! made by the host (`mke2fs -d`: a 10,000-entry tree) as its first virtio-blk disk. Debian's cloud kernel
//! builds the virtio drivers as modules (`CONFIG_VIRTIO_MMIO=m`, `CONFIG_VIRTIO_BLK=m`; ext4 is built in), so
//! the initramfs carries them under `/modules`, in load order, and the program loads them with
//! `finit_module` (ember answers `ENOSYS` and already drives the disk).

use crate::clients::{self, Initramfs, Libc};
use crate::image::workspace_root;
use crate::qemu::{self, Boot, Limits, Vm};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// RAM of each boot: the 64 MiB file fits Linux's page cache and ember's buffer cache.
const MEM_MIB: u32 = 256;
/// The line `ext4bench.c` prints when every operation is done.
const DONE: &str = "ext4: done";
/// One run under `-icount` (Linux's boot alone is 1.5 s of guest time; 64 MiB through TCG's virtio-blk).
const TIMEOUT: Duration = Duration::from_secs(900);
/// Linux's modules for a virtio-mmio disk, in load order (each after what it depends on).
const MODULES: [&str; 4] = [
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_mmio",
    "drivers/block/virtio_blk",
];
/// Directories of the walked tree, and files in each: 100 + 100 × 99 = 10,000 entries.
const TREE_DIRS: usize = 100;
const TREE_FILES: usize = 99;
/// Size of the image (sparse).
const IMAGE_MIB: u32 = 512;

/// One operation's figures from the console: name, guest nanoseconds, and the bytes or items it handled.
#[derive(Clone, Debug, PartialEq)]
struct Op {
    name: String,
    ns: f64,
    bytes: Option<f64>,
    count: Option<f64>,
}

/// Parses the `ext4: op=` lines of a run; an error names what failed.
fn parse(console: &str) -> Result<Vec<Op>, String> {
    if let Some(line) = console.lines().find(|l| l.contains("ext4: error")) {
        return Err(format!("the benchmark failed: {}", line.trim()));
    }
    if !console.contains(DONE) {
        return Err(format!("no `{DONE}` line"));
    }
    let mut ops = Vec::new();
    for line in console.lines() {
        let Some(rest) = line.trim().strip_prefix("ext4: op=") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let mut op = Op {
            name,
            ns: f64::NAN,
            bytes: None,
            count: None,
        };
        for (key, value) in words.filter_map(|w| w.split_once('=')) {
            let v: f64 = value.parse().map_err(|_| format!("bad line {line:?}"))?;
            match key {
                "ns" => op.ns = v,
                "bytes" => op.bytes = Some(v),
                "count" => op.count = Some(v),
                _ => {}
            }
        }
        if op.ns.is_nan() {
            return Err(format!("no ns= in {line:?}"));
        }
        ops.push(op);
    }
    if ops.is_empty() {
        return Err("no `ext4: op=` lines".into());
    }
    Ok(ops)
}

/// One operation's figure, readable: MiB/s for bytes, µs per item for counts.
fn figure(op: &Op) -> String {
    let ms = op.ns / 1e6;
    match (op.bytes, op.count) {
        (Some(b), _) => format!("{:.0} MiB/s ({ms:.1} ms)", b / 1048576.0 / (op.ns / 1e9)),
        (None, Some(n)) => format!("{:.1} µs each ({ms:.1} ms)", op.ns / 1000.0 / n.max(1.0)),
        (None, None) => format!("{ms:.1} ms"),
    }
}

/// What each operation is, for the table.
fn describe(name: &str) -> &'static str {
    match name {
        "walk_cold" => "walk of 10,000 entries (opendir/readdir/lstat), right after mount",
        "walk_warm" => "the same walk again",
        "write_64m" => "sequential write of 64 MiB (1 MiB writes) + fsync",
        "read_cold" => "sequential read of 64 MiB after umount + mount",
        "read_warm" => "the same read again",
        "small_files" => "create + write 100 B + close + unlink, 1,000 files",
        _ => "?",
    }
}

/// The four runs of the table: ember and Linux under `-icount`, then under plain TCG (empty when it failed).
struct Runs {
    ember_icount: Vec<Op>,
    linux_icount: Vec<Op>,
    ember_tcg: Vec<Op>,
    linux_tcg: Vec<Op>,
}

/// `figure` of the operation `name` in `ops`, and its nanoseconds.
fn cell(ops: &[Op], name: &str) -> (String, Option<f64>) {
    ops.iter()
        .find(|o| o.name == name)
        .map_or(("–".into(), None), |o| (figure(o), Some(o.ns)))
}

fn ratio(linux: Option<f64>, ember: Option<f64>) -> String {
    match (linux, ember) {
        (Some(l), Some(e)) if e > 0.0 => format!("{:.2}x", l / e),
        _ => "–".into(),
    }
}

/// The markdown table, one line per operation of any run.
fn markdown(runs: &Runs) -> String {
    let mut s = String::from(
        "| ext4 operation (guest time) | ember, -icount sleep=on | Linux, -icount sleep=on | Linux/ember | ember, TCG | Linux, TCG | \
         Linux/ember |\n|---|---|---|---|---|---|---|\n",
    );
    let mut names: Vec<&str> = Vec::new();
    for ops in [&runs.ember_icount, &runs.linux_icount, &runs.ember_tcg, &runs.linux_tcg] {
        for o in ops.iter() {
            if !names.contains(&o.name.as_str()) {
                names.push(&o.name);
            }
        }
    }
    for name in names {
        let (ei, ein) = cell(&runs.ember_icount, name);
        let (li, lin) = cell(&runs.linux_icount, name);
        let (et, etn) = cell(&runs.ember_tcg, name);
        let (lt, ltn) = cell(&runs.linux_tcg, name);
        s += &format!(
            "| {} | {ei} | {li} | {} | {et} | {lt} | {} |\n",
            describe(name),
            ratio(lin, ein),
            ratio(ltn, etn)
        );
    }
    s
}

/// `target/bench/ext4/`.
fn dir() -> PathBuf {
    workspace_root().join("target").join("bench").join("ext4")
}

/// The walked tree, `ROOT/tree/dNNN/fNNN` (empty files), made once.
fn tree() -> Result<PathBuf, String> {
    let root = dir().join("root");
    let done = root
        .join("tree")
        .join(format!("d{:03}", TREE_DIRS - 1))
        .join(format!("f{:03}", TREE_FILES - 1));
    if done.exists() {
        return Ok(root);
    }
    let io = |e: std::io::Error| format!("cannot make the tree under {}: {e}", root.display());
    let _ = std::fs::remove_dir_all(&root);
    for d in 0..TREE_DIRS {
        let sub = root.join("tree").join(format!("d{d:03}"));
        std::fs::create_dir_all(&sub).map_err(io)?;
        for f in 0..TREE_FILES {
            std::fs::write(sub.join(format!("f{f:03}")), b"").map_err(io)?;
        }
    }
    Ok(root)
}

/// A fresh image for one run: ext4 with 4 KiB blocks and its inode tables and journal zeroed now (so Linux's
/// `ext4lazyinit` does not write them behind the benchmark's back).
fn image() -> Result<PathBuf, String> {
    let root = tree()?;
    let img = dir().join("disk.img");
    let _ = std::fs::remove_file(&img);
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096"])
        .args(["-E", "lazy_itable_init=0,lazy_journal_init=0", "-d"])
        .arg(&root)
        .arg(&img)
        .arg(format!("{IMAGE_MIB}M"))
        .output()
        .map_err(|e| format!("cannot run mke2fs (Debian's e2fsprogs): {e}"))?;
    if !out.status.success() {
        return Err(format!("mke2fs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(img)
}

/// The initramfs: `/init` is the benchmark, `/modules` Linux's virtio modules and their load order.
fn initramfs(linux_kernel: &Path) -> Result<PathBuf, String> {
    let image = Initramfs::new("bench-ext4")
        .dir("/mnt")?
        .file("/init", &clients::c_program(Libc::Musl, "ext4bench")?)?;
    linux_modules(image, linux_kernel, &MODULES, &dir())?.write_in(&dir())
}

/// Adds Linux's `modules` (paths under the kernel's `lib/modules/VERSION/kernel/`, without `.ko`, in load
/// order) to `image` as `/modules/NAME.ko`, decompressed into `scratch` when Debian ships them as `.ko.xz`, and
/// their names in that order as `/modules/order` (what `ext4bench.c` and `netbench.c` load with
/// `finit_module`).
pub fn linux_modules(
    mut image: Initramfs,
    linux_kernel: &Path,
    modules: &[&str],
    scratch: &Path,
) -> Result<Initramfs, String> {
    let root = linux_kernel
        .parent()
        .and_then(Path::parent)
        .ok_or("the Linux kernel is not under ROOT/boot")?;
    let tree = std::fs::read_dir(root.join("lib/modules"))
        .map_err(|e| format!("no lib/modules beside the Linux kernel: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .next()
        .ok_or("lib/modules is empty")?
        .join("kernel");
    let mut order = String::new();
    for module in modules {
        let name = module.rsplit('/').next().unwrap_or(module);
        let plain = tree.join(format!("{module}.ko"));
        let packed = tree.join(format!("{module}.ko.xz"));
        let ko = if plain.exists() {
            plain
        } else if packed.exists() {
            let out = Command::new("xz")
                .arg("-dc")
                .arg(&packed)
                .output()
                .map_err(|e| format!("cannot run xz: {e}"))?;
            if !out.status.success() {
                return Err(format!("xz -d {} failed", packed.display()));
            }
            let ko = scratch.join(format!("{name}.ko"));
            std::fs::write(&ko, out.stdout).map_err(|e| e.to_string())?;
            ko
        } else {
            return Err(format!("Linux has no {}", plain.display()));
        };
        image = image.file(&format!("/modules/{name}.ko"), &ko)?;
        order += name;
        order.push('\n');
    }
    image.script("/modules/order", &order)
}

/// One run of the benchmark on `kernel` (under `-icount` or plain TCG), with a fresh image; its operations.
fn run_one(name: &str, kernel: &Path, cmdline: &str, initrd: &Path, icount: bool) -> Result<Vec<Op>, String> {
    let mode = if icount { "icount" } else { "tcg" };
    println!("bench: {name}: ext4 benchmark ({mode})");
    let mut vm = Vm::new(Boot::Pvh, MEM_MIB, cmdline);
    if icount {
        // sleep=on: an idle guest's clock runs with the host's while QEMU does the I/O. With sleep=off (the
        // other tables) it would jump to the guest's next timer at once, so a wait for the disk costs whatever
        // that timer happens to be, and reaches ember's 10 s virtio-blk timeout (EIO) in some runs.
        vm.extra = vec!["-icount".into(), "shift=0,sleep=on".into()];
    }
    vm.initrd = Some(initrd.to_path_buf());
    vm.disks = vec![image()?];
    let limits = Limits {
        total: TIMEOUT,
        silence: None,
        done: Some(DONE),
        grace: Duration::from_secs(30),
    };
    let f = qemu::watch(vm.command_for(kernel, &vm.cmdline), limits, &[], |_| {})?;
    let console = dir().join(format!("console-{name}-{mode}.txt"));
    let _ = std::fs::write(&console, &f.stdout);
    parse(&f.stdout).map_err(|e| format!("{name}, {mode}: {e} (console in {})", console.display()))
}

/// Runs the ext4 figures with ember's release image `ember` and Debian's `linux`; the report's markdown section.
/// A failed run leaves its column empty and is named under the table (the others still count).
pub fn run(ember: &Path, linux: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir()).map_err(|e| e.to_string())?;
    let initrd = initramfs(linux)?;
    // Under plain TCG Linux needs the host's TSC frequency on a loaded host (see `bench::host_tsc_khz`).
    let linux_tcg = format!("console=ttyS0 quiet panic=-1 {}", crate::bench::tsc_early_khz());
    let mut failures = String::new();
    let mut one = |name, kernel, cmdline: &str, icount| {
        run_one(name, kernel, cmdline.trim_end(), &initrd, icount).unwrap_or_else(|e| {
            eprintln!("bench: {e}");
            failures += &format!("\nFailed: {e}\n");
            Vec::new()
        })
    };
    let runs = Runs {
        ember_icount: one("ember", ember, "console=ttyS0 quiet", true),
        linux_icount: one("linux", linux, "console=ttyS0 quiet panic=-1", true),
        ember_tcg: one("ember", ember, "console=ttyS0 quiet", false),
        linux_tcg: one("linux", linux, &linux_tcg, false),
    };
    Ok(format!(
        "## ext4 on virtio-blk (QEMU microvm, 1 vCPU, {MEM_MIB} MiB; `clients/c/ext4bench.c`, \
         clock_gettime; Linux mounts with its defaults, journalled)\n\n{}{failures}",
        markdown(&runs)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "ember: ready\next4: op=walk_cold ns=20000000 count=10000\n\
        ext4: op=write_64m ns=500000000 bytes=67108864\next4: done\n";

    #[test]
    fn parses_ops() {
        let ops = parse(CONSOLE).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].count, Some(10000.0));
        assert_eq!(ops[1].bytes, Some(67108864.0));
        assert_eq!(figure(&ops[1]), "128 MiB/s (500.0 ms)");
        assert_eq!(figure(&ops[0]), "2.0 µs each (20.0 ms)");
    }

    #[test]
    fn errors_and_missing_done_fail() {
        assert!(
            parse("ext4: error mount /dev/vda: No such device\next4: done\n")
                .unwrap_err()
                .contains("mount /dev/vda")
        );
        assert!(parse("ext4: op=walk_cold ns=5 count=1\n").is_err());
    }

    #[test]
    fn table_has_a_ratio() {
        let e = parse(CONSOLE).unwrap();
        let l = parse(&CONSOLE.replace("ns=20000000", "ns=40000000")).unwrap();
        let md = markdown(&Runs {
            ember_icount: e.clone(),
            linux_icount: l,
            ember_tcg: e,
            linux_tcg: Vec::new(),
        });
        assert!(
            md.contains("| 2.0 µs each (20.0 ms) | 4.0 µs each (40.0 ms) | 2.00x | 2.0 µs each (20.0 ms) | – | – |"),
            "{md}"
        );
    }
}
