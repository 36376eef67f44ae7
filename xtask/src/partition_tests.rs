//! Boot tests of partitioned disks: a 64 MiB image partitioned at test time by util-linux's `sfdisk` (Debian
//! package `fdisk`), a root and a data partition filled by `mke2fs -E offset=`. ember boots from the root
//! partition (`root=PARTUUID=` of a GPT partition, `root=/dev/vda1` on an MBR disk whose data partition is a
//! logical one), mounts the data partition, reads `/proc/partitions` and `/sys/block/vda/vdaN`, and writes
//! to both. On QEMU the host then checks each partition with `e2fsck -fn` and `debugfs`.

use crate::boot_tests::{Case, On, Outcome};
use crate::clients::dir;
use crate::disk_tests::busybox_tree;
use crate::qemu::{Boot, Vm};
use crate::user_tests::exited;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `/sbin/init` of the root partition: `DATA` is replaced by the data partition's name.
const SCRIPT: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
echo "part-test: $(grep ' / ' /proc/mounts)"
cat /proc/partitions
echo "sys: $(ls -d /sys/block/vda/vda* | tr '\n' ' ')"
echo "start=$(cat /sys/block/vda/DATA/start) number=$(cat /sys/block/vda/DATA/partition)"
echo "size=$(blockdev --getsize64 /dev/DATA)"
mkdir -p /mnt && mount -t ext4 /dev/DATA /mnt && echo "data=$(cat /mnt/origin)" && echo written > /mnt/new
umount /mnt && echo "data unmounted"
echo "root=$(cat /etc/origin)"
echo rootfile > /rootfile
sync
echo "part-test: done"
"#;

/// Bytes per sector.
const SECTOR: u64 = 512;
/// The image's size in MiB.
const IMAGE_MIB: u64 = 64;

/// One partition the test fills: its name, first sector, size, and what `/etc/origin` (root) or `/origin`
/// (data) holds.
struct Part {
    name: &'static str,
    start: u64,
    mib: u64,
}

/// One layout: the `sfdisk` script, the root and data partitions, the `root=` value, the VMM.
struct Layout {
    name: &'static str,
    sfdisk: &'static str,
    root: Part,
    data: Part,
    root_arg: &'static str,
    /// The extended partition's `/proc/partitions` line, if any.
    extra_line: Option<&'static str>,
    on: On,
}

const GPT: &str = "label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
start=2048, size=16384, uuid=11111111-2222-3333-4444-555555555555, name=data
start=18432, size=98304, uuid=6D4B3A2E-1F00-4C5D-9E8F-0A1B2C3D4E5F, name=root
";

const MBR: &str = "label: dos
label-id: 0x1234abcd
start=2048, size=98304, type=83
start=100352, size=30720, type=5
start=102400, size=16384, type=83
";

fn layouts() -> [Layout; 3] {
    let gpt = |name, on| Layout {
        name,
        sfdisk: GPT,
        root: Part {
            name: "vda2",
            start: 18432,
            mib: 48,
        },
        data: Part {
            name: "vda1",
            start: 2048,
            mib: 8,
        },
        // Upper case: PARTUUID= matches in either case, as on Linux.
        root_arg: "PARTUUID=6D4B3A2E-1F00-4C5D-9E8F-0A1B2C3D4E5F",
        extra_line: None,
        on,
    };
    [
        gpt("part-gpt", On::Qemu),
        Layout {
            name: "part-mbr",
            sfdisk: MBR,
            root: Part {
                name: "vda1",
                start: 2048,
                mib: 48,
            },
            data: Part {
                name: "vda5",
                start: 102400,
                mib: 8,
            },
            root_arg: "/dev/vda1",
            // The extended partition shows as 1 KiB, as on Linux.
            extra_line: Some(" 254        2          1 vda2\n"),
            on: On::Qemu,
        },
        gpt("part-gpt-fc", On::Firecracker),
    ]
}

fn run(cmd: &mut Command) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))
}

/// `sfdisk IMAGE < script`.
fn sfdisk(img: &Path, script: &str) -> Result<(), String> {
    crate::debian::ensure_installed("sfdisk", &["fdisk"], || {
        Command::new("sfdisk")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let mut child = Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run sfdisk: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, script.as_bytes()).map_err(|e| format!("sfdisk: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("sfdisk: {e}"))?;
    if !out.status.success() {
        return Err(format!("sfdisk failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// `mke2fs -t ext4 -E offset=` of `tree` into partition `p` of `img`.
fn fill(img: &Path, p: &Part, tree: &Path) -> Result<(), String> {
    let out = run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-E"])
        .arg(format!("offset={},nodiscard", p.start * SECTOR))
        .arg("-d")
        .arg(tree)
        .arg(img)
        .arg(format!("{}M", p.mib)))?;
    if !out.status.success() {
        return Err(format!("mke2fs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// The partitioned image of `l`.
fn image(l: &Layout) -> Result<PathBuf, String> {
    let img = dir().join(format!("{}.img", l.name));
    let _ = std::fs::remove_file(&img);
    let file = std::fs::File::create(&img).map_err(|e| format!("cannot create {}: {e}", img.display()))?;
    file.set_len(IMAGE_MIB << 20)
        .map_err(|e| format!("cannot size {}: {e}", img.display()))?;
    sfdisk(&img, l.sfdisk)?;
    let root = busybox_tree(&format!("{}-root", l.name), &SCRIPT.replace("DATA", l.data.name))?;
    std::fs::write(root.join("etc/origin"), "root\n").map_err(|e| e.to_string())?;
    fill(&img, &l.root, &root)?;
    let data = dir().join(format!("{}-data", l.name));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    std::fs::write(data.join("origin"), "data\n").map_err(|e| e.to_string())?;
    fill(&img, &l.data, &data)?;
    Ok(img)
}

/// Partition `p` of `img` copied out to its own file (e2fsck and debugfs take no offset).
fn extract(img: &Path, p: &Part) -> Result<PathBuf, String> {
    let bytes = std::fs::read(img).map_err(|e| e.to_string())?;
    let from = (p.start * SECTOR) as usize;
    let part = bytes
        .get(from..from + (p.mib << 20) as usize)
        .ok_or("the image is shorter than its partition")?;
    let out = img.with_extension(p.name);
    std::fs::write(&out, part).map_err(|e| e.to_string())?;
    Ok(out)
}

/// `e2fsck -fn` of partition `p` must be clean and `debugfs` must read `want` from `path` in it.
fn host_ok(img: &Path, p: &Part, path: &str, want: &str) -> Result<(), String> {
    let part = extract(img, p)?;
    let fsck = run(Command::new("e2fsck").arg("-fn").arg(&part))?;
    if !fsck.status.success() {
        return Err(format!(
            "e2fsck -fn of {} found problems:\n{}",
            p.name,
            String::from_utf8_lossy(&fsck.stdout)
        ));
    }
    let cat = run(Command::new("debugfs").arg("-R").arg(format!("cat {path}")).arg(&part))?;
    let _ = std::fs::remove_file(&part);
    match String::from_utf8_lossy(&cat.stdout).as_ref() {
        got if got == want => Ok(()),
        got => Err(format!("debugfs cat {path} on {}: {got:?}, expected {want:?}", p.name)),
    }
}

/// `/proc/partitions`' line for partition `p`.
fn proc_line(p: &Part) -> String {
    let number: u32 = p.name[3..].parse().unwrap_or(0);
    format!(" 254  {number:7} {:10} {}\n", p.mib << 10, p.name)
}

/// The partition cases.
pub fn cases() -> Result<Vec<Case>, String> {
    let mut v = Vec::new();
    for l in layouts() {
        let img = image(&l)?;
        let mut vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 root={} rw", l.root_arg));
        vm.disks = vec![img.clone()];
        let expect = [
            format!("part-test: /dev/{} / ext4 rw", l.root.name),
            format!(" 254        0 {:10} vda\n", IMAGE_MIB << 10),
            proc_line(&l.root),
            proc_line(&l.data),
            l.extra_line.unwrap_or("").to_string(),
            format!("/sys/block/vda/{} ", l.data.name),
            format!("start={} number={}\n", l.data.start, &l.data.name[3..]),
            format!("size={}\n", l.data.mib << 20),
            "data=data\n".into(),
            "data unmounted\n".into(),
            "root=root\n".into(),
            "part-test: done".into(),
        ];
        let qemu = l.on == On::Qemu;
        let (root, data) = (l.root, l.data);
        v.push(Case {
            name: l.name.into(),
            on: l.on,
            vm,
            input: &[],
            check: Box::new(move |o: &Outcome| {
                let refs: Vec<&str> = expect.iter().map(String::as_str).collect();
                exited(o, 0, &refs)?;
                if qemu {
                    host_ok(&img, &root, "/rootfile", "rootfile\n")?;
                    host_ok(&img, &data, "/new", "written\n")?;
                }
                Ok(())
            }),
        });
    }
    Ok(v)
}
