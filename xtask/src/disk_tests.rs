//! Boot tests of block file systems as the root: an ext4 (and an ext2) image made at test time by
//! `mke2fs -d` from a directory holding Debian's busybox and a test script as `/sbin/init`, booted with
//! `root=/dev/vda rw` and no initramfs. The script creates, renames, links, truncates and deletes files, writes
//! a big random file and hashes it twice, syncs and exits (ember then unmounts and powers off). On QEMU the
//! host then checks the image: `e2fsck -fn` must be clean and `debugfs` must see the same files, contents and
//! hash. The Firecracker case boots the image as Firecracker's root device (`is_root_device`); its disk stays
//! inside the nested rig, so only the guest's own checks count there.

use crate::boot_tests::{Case, On, Outcome};
use crate::clients::{busybox, dir};
use crate::qemu::{Boot, Vm};
use crate::user_tests::exited;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The test script: `BIG` is replaced by the big file's size in MiB.
const SCRIPT: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
echo "disk-test: init from $(cat /etc/origin)"
grep ' / ' /proc/mounts
free_kib() { grep MemFree /proc/meminfo | tr -s ' ' | cut -d' ' -f2; }
before=$(free_kib)
i=0
pids=
while [ $i -lt 16 ]; do sleep 1000 & pids="$pids $!"; i=$((i+1)); done
sleep 1
echo "sleepers=$((before - $(free_kib)))"
kill $pids
wait
mkdir /work
echo hello > /work/a
mv /work/a /work/b
ln /work/b /work/c
ln -s b /work/d
echo 0123456789 > /work/t
truncate -s 4 /work/t
rm /work/c
mkdir -p /work/gone/deeper
rmdir /work/gone/deeper /work/gone
echo x > /work/del
rm /work/del
i=0
while [ $i -lt 200 ]; do echo $i > /work/many.$i; i=$((i+1)); done
rm /work/many.1*
dd if=/dev/urandom of=/work/big bs=1M count=BIG iflag=fullblock 2>/dev/null
sync
echo "size=$(stat -c %s /work/big)"
echo "bigsha=$(sha256sum /work/big | cut -d' ' -f1)"
echo "again=$(sha256sum /work/big | cut -d' ' -f1)"
echo "d=$(cat /work/d) t=$(cat /work/t) links=$(stat -c %h /work/b) entries=$(ls /work | wc -l)"
df / | tail -1
echo "disk-test: done"
"#;

/// One variant: file-system type, image size, big file size, VMM.
struct Variant {
    name: &'static str,
    fstype: &'static str,
    image_mib: u32,
    big_mib: u32,
    on: On,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        name: "ext4-root",
        fstype: "ext4",
        image_mib: 160,
        big_mib: 48,
        on: On::Qemu,
    },
    Variant {
        name: "ext2-root",
        fstype: "ext2",
        image_mib: 96,
        big_mib: 16,
        on: On::Qemu,
    },
    Variant {
        name: "ext4-root-fc",
        fstype: "ext4",
        image_mib: 64,
        big_mib: 16,
        on: On::Firecracker,
    },
];

fn run(cmd: &mut Command) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {:?} (Debian package e2fsprogs): {e}", cmd.get_program()))
}

/// The root tree: busybox with a link per applet, the script as `/sbin/init`, empty `/dev /proc /sys /tmp`.
fn tree(v: &Variant) -> Result<PathBuf, String> {
    let script = SCRIPT.replace("BIG", &v.big_mib.to_string());
    let root = busybox_tree(&format!("{}-tree", v.name), &script)?;
    std::fs::write(root.join("etc/origin"), format!("{}\n", v.fstype))
        .map_err(|e| format!("cannot build {}: {e}", root.display()))?;
    Ok(root)
}

/// `target/clients/NAME/`, a new root tree: busybox with a link per applet, `init` as `/sbin/init`, empty
/// `/dev /proc /sys /tmp /etc`.
pub fn busybox_tree(name: &str, init: &str) -> Result<PathBuf, String> {
    let root = dir().join(name);
    let _ = std::fs::remove_dir_all(&root);
    let io = |e: std::io::Error| format!("cannot build {}: {e}", root.display());
    for d in ["bin", "sbin", "etc", "dev", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d)).map_err(io)?;
    }
    let bb = busybox()?;
    std::fs::copy(&bb, root.join("bin/busybox")).map_err(io)?;
    let list = run(Command::new(&bb).arg("--list"))?;
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).map_err(io)?;
        }
    }
    let path = root.join("sbin/init");
    std::fs::write(&path, init).map_err(io)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(io)?;
    Ok(root)
}

/// `mke2fs -t TYPE -d TREE` into a new sparse image.
fn image(v: &Variant) -> Result<PathBuf, String> {
    let tree = tree(v)?;
    let img = dir().join(format!("{}.img", v.name));
    let _ = std::fs::remove_file(&img);
    let out = run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", v.fstype, "-d"])
        .arg(&tree)
        .arg(&img)
        .arg(format!("{}M", v.image_mib)))?;
    if !out.status.success() {
        return Err(format!("mke2fs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(img)
}

/// `debugfs -R REQUEST IMAGE`'s standard output.
fn debugfs(img: &Path, request: &str) -> Result<String, String> {
    let out = run(Command::new("debugfs").arg("-R").arg(request).arg(img))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The most memory (KiB) that 16 busybox `sleep` processes started from the disk may take.
const SLEEPERS_MAX_KIB: u64 = 16 << 10;

/// The value after `key=` on the console.
fn field<'a>(o: &'a Outcome, key: &str) -> Option<&'a str> {
    let at = o.output.find(&format!("{key}="))? + key.len() + 1;
    o.output[at..].split_whitespace().next()
}

/// The guest's own checks: the script ran to its end and its answers are right.
fn guest_ok(o: &Outcome, fstype: &str, big_mib: u32) -> Result<(), String> {
    exited(
        o,
        0,
        &[
            &format!("disk-test: init from {fstype}"),
            "/dev/vda / ext4 rw",
            "d=hello t=0123 links=1 entries=93",
            "disk-test: done",
        ],
    )?;
    if field(o, "size") != Some(&(big_mib << 20).to_string()) {
        return Err(format!(
            "the big file has size {:?}, expected {} MiB",
            field(o, "size"),
            big_mib
        ));
    }
    // 16 busybox `sleep`s share busybox's page-cache pages (each copying the whole 2 MiB file made it 40 MiB).
    let sleepers: u64 = field(o, "sleepers")
        .and_then(|s| s.parse().ok())
        .ok_or("no sleepers= line")?;
    if sleepers > SLEEPERS_MAX_KIB {
        return Err(format!(
            "16 busybox sleep processes took {sleepers} KiB (at most {SLEEPERS_MAX_KIB} expected)"
        ));
    }
    let sha = field(o, "bigsha").filter(|s| s.len() == 64).ok_or("no bigsha= line")?;
    if field(o, "again") != Some(sha) {
        return Err("the big file read back differently the second time".into());
    }
    Ok(())
}

/// The host's checks of the image after the run.
fn host_ok(o: &Outcome, img: &Path) -> Result<(), String> {
    let fsck = run(Command::new("e2fsck").arg("-fn").arg(img))?;
    if !fsck.status.success() {
        return Err(format!(
            "e2fsck -fn found problems:\n{}{}",
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        ));
    }
    let dump = img.with_extension("big");
    let _ = std::fs::remove_file(&dump);
    debugfs(img, &format!("dump /work/big {}", dump.display()))?;
    let sum = run(Command::new("sha256sum").arg(&dump))?;
    let host = String::from_utf8_lossy(&sum.stdout);
    let host = host.split_whitespace().next().unwrap_or("");
    let _ = std::fs::remove_file(&dump);
    if Some(host) != field(o, "bigsha") {
        return Err(format!(
            "debugfs sees the big file with sha256 {host}, the guest saw {:?}",
            field(o, "bigsha")
        ));
    }
    for (path, want) in [("/work/b", "hello\n"), ("/work/t", "0123"), ("/work/many.5", "5\n")] {
        let got = debugfs(img, &format!("cat {path}"))?;
        if got != want {
            return Err(format!("debugfs cat {path}: {got:?}, expected {want:?}"));
        }
    }
    let listing = debugfs(img, "ls -p /work")?;
    for gone in ["/c/", "/del/", "/gone/", "/many.1/", "/many.150/"] {
        if listing.contains(gone) {
            return Err(format!("debugfs still lists {gone} in /work:\n{listing}"));
        }
    }
    if !listing.contains("/d/") || !listing.contains("/many.99/") {
        return Err(format!("debugfs misses entries of /work:\n{listing}"));
    }
    Ok(())
}

/// The script of the mount case (busybox from an initramfs; `/dev/vda` a good ext4, `/dev/vdb` a corrupt one).
const MOUNT_SCRIPT: &str = r#"#!/bin/sh
mkdir -p /mnt
echo "size=$(blockdev --getsize64 /dev/vda)"
mount -t ext4 /dev/vda /mnt && echo mounted
mkdir /mnt2 && mount -t ext4 /dev/vda /mnt2 2>/dev/null || echo "twice: refused"
echo "hello=$(cat /mnt/etc/origin)"
echo data > /mnt/new
[ "$(stat -c %d /mnt/new)" != "$(stat -c %d /init)" ] && echo "st_dev differs"
ln /mnt/new /link 2>/dev/null || echo "link across: refused"
grep ' /mnt ' /proc/mounts
df /mnt | tail -1
mkdir /b && mount --bind /mnt/etc /b && umount /b && echo "after bind: $(cat /mnt/etc/origin)"
umount /mnt && echo unmounted
mount -t ext4 -o ro /dev/vda /mnt && echo "again=$(cat /mnt/new)" && umount /mnt
mount -t ext4 /dev/vdb /mnt 2>/dev/null || echo "corrupt: refused"
echo "raw=$(head -c 4096 /dev/vdb | wc -c)"
echo "mount-test: done"
"#;

/// The mount case: `mount -t ext4 /dev/vda /mnt` from an initramfs, a write, a bind mount of one of its
/// directories made and unmounted (the file system stays mounted), `umount` (which marks the file system clean: the host's `e2fsck -fn` must pass and `debugfs` see the file), a read-only mount, and a
/// corrupt image on `/dev/vdb` that must be refused with a log line (never a panic).
fn mount_case() -> Result<Case, String> {
    let good = image(&Variant {
        name: "ext4-mount",
        fstype: "ext4",
        image_mib: 32,
        big_mib: 0,
        on: On::Qemu,
    })?;
    let bad = image(&Variant {
        name: "ext4-corrupt",
        fstype: "ext4",
        image_mib: 32,
        big_mib: 0,
        on: On::Qemu,
    })?;
    // Scribble over the superblock's counts: its checksum no longer matches.
    let mut raw = std::fs::read(&bad).map_err(|e| e.to_string())?;
    raw[1024..1040].fill(0xa5);
    std::fs::write(&bad, raw).map_err(|e| e.to_string())?;
    let initrd = crate::clients::Initramfs::new("ext4-mount")
        .busybox()?
        .all_applets()?
        .script("/init", MOUNT_SCRIPT)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    vm.initrd = Some(initrd);
    vm.disks = vec![good.clone(), bad];
    Ok(Case {
        name: "ext4-mount".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(move |o| {
            exited(
                o,
                0,
                &[
                    "size=33554432\n",
                    "mounted\n",
                    "twice: refused\n",
                    "hello=ext4\n",
                    "st_dev differs\n",
                    "link across: refused\n",
                    "/dev/vda /mnt ext4 rw",
                    "after bind: ext4\n",
                    "ext4: vda: unmounted clean",
                    "unmounted\n",
                    "ext4: vda: mounted read-only (mounted read-only)",
                    "again=data\n",
                    "ext4: vdb: mount refused: corrupt file system",
                    "corrupt: refused\n",
                    "raw=4096\n",
                    "mount-test: done",
                ],
            )?;
            let fsck = run(Command::new("e2fsck").arg("-fn").arg(&good))?;
            if !fsck.status.success() {
                return Err(format!(
                    "e2fsck -fn after umount:\n{}",
                    String::from_utf8_lossy(&fsck.stdout)
                ));
            }
            match debugfs(&good, "cat /new")?.as_str() {
                "data\n" => Ok(()),
                other => Err(format!("debugfs cat /new: {other:?}")),
            }
        }),
    })
}

/// The script of the shared-mapping cases: `clients/c/mapshared.c` and `clients/c/maptrunc.c` on a tmpfs and
/// on an ext4 on `/dev/vda`, which is then remounted read-only (refused while a file is open for writing;
/// then writes refused with `EROFS`), unmounted (its page cache goes) and mounted again to read back what
/// went through the mapping.
const MAPSHARED_SCRIPT: &str = r#"#!/bin/sh
mkdir -p /tmp /mnt
mount -t tmpfs tmpfs /tmp
/mapshared /tmp && echo "tmpfs: passed"
/maptrunc /tmp && echo "tmpfs: maptrunc passed"
mount -t ext4 /dev/vda /mnt
/mapshared /mnt vda && echo "ext4: passed"
/maptrunc /mnt && echo "ext4: maptrunc passed"
exec 3>/mnt/busy
mount -o remount,ro /mnt 2>&1 | grep -q 'busy' && echo "remount ro with a writer: busy"
exec 3>&-
rm /mnt/busy
mount -o remount,ro /mnt && grep -q ' /mnt ext4 ro' /proc/mounts && echo "remounted ro"
touch /mnt/refused 2>&1 | grep -q 'Read-only file system' && echo "touch: EROFS"
mount -o remount,rw /mnt && touch /mnt/allowed && echo "remounted rw"
umount /mnt && echo unmounted
mount -t ext4 /dev/vda /mnt && echo "back=$(dd if=/mnt/mapshared.dat bs=1 skip=8192 count=18 2>/dev/null)"
umount /mnt
echo "mapshared-test: done"
"#;

/// The shared-mapping case on `on`: the guest's checks, and on QEMU the host's (`e2fsck -fn` clean,
/// `debugfs` sees what was stored through the mapping).
fn mapshared_case(on: On) -> Result<Case, String> {
    let name = if on == On::Qemu {
        "ext4-mapshared"
    } else {
        "ext4-mapshared-fc"
    };
    let img = image(&Variant {
        name,
        fstype: "ext4",
        image_mib: 32,
        big_mib: 0,
        on,
    })?;
    let initrd = crate::clients::Initramfs::new(name)
        .busybox()?
        .all_applets()?
        .file(
            "/mapshared",
            &crate::clients::c_program(crate::clients::Libc::Musl, "mapshared")?,
        )?
        .file(
            "/maptrunc",
            &crate::clients::c_program(crate::clients::Libc::Musl, "maptrunc")?,
        )?
        .script("/init", MAPSHARED_SCRIPT)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    vm.initrd = Some(initrd);
    vm.disks = vec![img.clone()];
    Ok(Case {
        name: name.into(),
        on,
        vm,
        input: &[],
        check: Box::new(move |o| {
            exited(
                o,
                0,
                &[
                    "tmpfs: passed\n",
                    "tmpfs: maptrunc passed\n",
                    "ext4: passed\n",
                    "ext4: maptrunc passed\n",
                    "remount ro with a writer: busy\n",
                    "remounted ro\n",
                    "touch: EROFS\n",
                    "remounted rw\n",
                    "unmounted\n",
                    "back=mapshared-ok+again\n",
                    "mapshared-test: done",
                ],
            )?;
            if on != On::Qemu {
                return Ok(());
            }
            let fsck = run(Command::new("e2fsck").arg("-fn").arg(&img))?;
            if !fsck.status.success() {
                return Err(format!(
                    "e2fsck -fn after the mapshared test:\n{}",
                    String::from_utf8_lossy(&fsck.stdout)
                ));
            }
            let data = debugfs(&img, "cat /mapshared.dat")?;
            match data.as_bytes().get(8192..8210) {
                Some(b"mapshared-ok+again") => Ok(()),
                _ => Err(format!(
                    "debugfs: /mapshared.dat is {} bytes without the mapped store",
                    data.len()
                )),
            }
        }),
    })
}

/// The script of the extended-attribute case.
const XATTR_SCRIPT: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
mkdir /work
/bin/xattr /work ext4 && echo "xattr-root: passed"
sync
echo "xattr-test: done"
"#;

/// The byte at `i` of the 600-byte `user.big` debugfs puts on `/preset` (what `clients/c/xattr.c` expects).
fn preset_byte(i: usize) -> u8 {
    (i * 7 + 3) as u8
}

/// The extended-attribute case: an ext4 root (4 KiB blocks, which the client's 3000-byte value needs) whose `/preset` carries attributes debugfs set before boot (one
/// in the inode, one in the attribute block), `clients/c/xattr.c` run on it; then the host's `e2fsck -fn`
/// must be clean and `debugfs ea_get` must see what the guest left.
fn xattr_case() -> Result<Case, String> {
    let name = "ext4-xattr";
    let root = busybox_tree(&format!("{name}-tree"), XATTR_SCRIPT)?;
    let io = |e: std::io::Error| format!("cannot build {}: {e}", root.display());
    std::fs::copy(
        crate::clients::c_program(crate::clients::Libc::Musl, "xattr")?,
        root.join("bin/xattr"),
    )
    .map_err(io)?;
    std::fs::write(root.join("preset"), "attributes set by debugfs\n").map_err(io)?;
    let img = dir().join(format!("{name}.img"));
    let _ = std::fs::remove_file(&img);
    let out = run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-d"])
        .arg(&root)
        .arg(&img)
        .arg("64M"))?;
    if !out.status.success() {
        return Err(format!("mke2fs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let big = dir().join(format!("{name}.big"));
    std::fs::write(&big, (0..600).map(preset_byte).collect::<Vec<u8>>()).map_err(io)?;
    for request in [
        "ea_set /preset user.preset \"from debugfs\"".to_string(),
        format!("ea_set -f {} /preset user.big", big.display()),
        "ea_set /preset trusted.pre pre".to_string(),
    ] {
        let out = run(Command::new("debugfs").args(["-w", "-R", &request]).arg(&img))?;
        if !out.status.success() {
            return Err(format!("debugfs {request}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let mut vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    vm.disks = vec![img.clone()];
    vm.root_device = true;
    Ok(Case {
        name: name.into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(move |o| {
            exited(o, 0, &["xattr: ", "xattr-root: passed", "xattr-test: done"])?;
            let fsck = run(Command::new("e2fsck").arg("-fn").arg(&img))?;
            if !fsck.status.success() {
                return Err(format!(
                    "e2fsck -fn after the xattr test:\n{}",
                    String::from_utf8_lossy(&fsck.stdout)
                ));
            }
            let list = debugfs(&img, "ea_list /work/xf")?;
            if !list.contains("user.keep (13) = \"kept-by-ember\"") || !list.contains("user.big3000 (3000)") {
                return Err(format!("debugfs ea_list /work/xf:\n{list}"));
            }
            let got = img.with_extension("ea");
            let _ = std::fs::remove_file(&got);
            debugfs(&img, &format!("ea_get -f {} /work/xf user.big3000", got.display()))?;
            let want: Vec<u8> = (0..3000).map(|i: usize| (i * 13 + 5) as u8).collect();
            if std::fs::read(&got).ok() != Some(want) {
                return Err("debugfs ea_get /work/xf user.big3000 differs from what the guest set".into());
            }
            Ok(())
        }),
    })
}

/// The root-disk cases, the mount case and the shared-mapping cases; `Err` when busybox or e2fsprogs is
/// missing.
pub fn cases() -> Result<Vec<Case>, String> {
    let mut v = vec![
        mount_case()?,
        mapshared_case(On::Qemu)?,
        mapshared_case(On::Firecracker)?,
        xattr_case()?,
    ];
    for variant in VARIANTS {
        let img = image(&variant)?;
        let mut vm = Vm::new(Boot::Pvh, 256, "console=ttyS0");
        vm.disks = vec![img.clone()];
        vm.root_device = true;
        vm.entropy = true;
        let (fstype, big_mib) = (variant.fstype, variant.big_mib);
        let qemu = variant.on == On::Qemu;
        v.push(Case {
            name: variant.name.into(),
            on: variant.on,
            vm,
            input: &[],
            check: Box::new(move |o| {
                guest_ok(o, fstype, big_mib)?;
                if qemu { host_ok(o, &img) } else { Ok(()) }
            }),
        });
    }
    Ok(v)
}
