//! A disk that fails reads: QEMU's `blkdebug` driver answers every read covering one sector in the middle of a
//! file's data with an I/O error (virtio-blk's error status). From an initramfs, ember mounts the ext4 image
//! read-write; reading the file must fail with `EIO` (no panic), the mount must turn read-only
//! (`errors=remount-ro`, with its log line), and a later write must fail with `EROFS`. QEMU only (Firecracker
//! has no error injection).

use crate::boot_tests::{Case, On};
use crate::clients::dir;
use crate::qemu::{Boot, Vm};
use crate::user_tests::exited;
use std::path::PathBuf;
use std::process::Command;

const SCRIPT: &str = r#"#!/bin/sh
mkdir -p /mnt
mount -t ext4 /dev/vda /mnt && echo mounted
cat /mnt/small
cat /mnt/big > /dev/null 2>/tmp/err; echo "read rc=$?"
grep -q 'Input/output error' /tmp/err && echo "read: EIO"
(echo new > /mnt/new) 2>/tmp/err; echo "write rc=$?"
grep -q 'Read-only file system' /tmp/err && echo "write: EROFS"
grep ' /mnt ' /proc/mounts
echo "error-test: done"
"#;

/// The image (4 KiB blocks, `/small` and a 4 MiB `/big`) and the `blkdebug` rule file that fails reads of the
/// sector holding `/big`'s block 512.
fn image() -> Result<(PathBuf, PathBuf), String> {
    let tree = dir().join("disk-error-tree");
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(&tree).map_err(|e| e.to_string())?;
    std::fs::write(tree.join("small"), "small file\n").map_err(|e| e.to_string())?;
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(tree.join("big"), big).map_err(|e| e.to_string())?;
    let img = dir().join("disk-error.img");
    let _ = std::fs::remove_file(&img);
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("32M")
        .output()
        .map_err(|e| format!("cannot run mke2fs (Debian package e2fsprogs): {e}"))?;
    if !out.status.success() {
        return Err(format!("mke2fs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let bmap = Command::new("debugfs")
        .args(["-R", "bmap /big 512"])
        .arg(&img)
        .output()
        .map_err(|e| format!("cannot run debugfs: {e}"))?;
    let block: u64 = String::from_utf8_lossy(&bmap.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("debugfs bmap: {:?}", String::from_utf8_lossy(&bmap.stdout)))?;
    let rules = dir().join("disk-error.blkdebug");
    std::fs::write(
        &rules,
        format!(
            "[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\nsector = \"{}\"\n",
            block * 8
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok((img, rules))
}

/// The case.
pub fn cases() -> Result<Vec<Case>, String> {
    let (img, rules) = image()?;
    let initrd = crate::clients::Initramfs::new("disk-error")
        .busybox()?
        .all_applets()?
        .script("/init", SCRIPT)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    vm.initrd = Some(initrd);
    vm.disks = vec![PathBuf::from(format!("blkdebug:{}:{}", rules.display(), img.display()))];
    Ok(vec![Case {
        name: "disk-read-error".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| {
            exited(
                o,
                0,
                &[
                    "mounted\n",
                    "small file\n",
                    "disk: I/O error",
                    "read: EIO\n",
                    "ext4: vda: I/O error: remounted read-only (errors=remount-ro)",
                    "write: EROFS\n",
                    "error-test: done",
                ],
            )
        }),
    }])
}
