//! `cargo xtask conformance --root ext4`: the same tree as the initramfs (busybox with every applet, `/ltp`,
//! `/runtest.txt`, `/etc/passwd`, `/etc/group`, the runner as `/sbin/init`) in an ext4 image made by
//! `mke2fs -t ext4 -d`, booted as `/dev/vda` with `root=/dev/vda rw` and no initrd. The tests' `TMPDIR` is
//! [`TMPDIR`], a directory of the ext4 root (ember mounts a tmpfs on `/tmp`), so the file-system tests exercise
//! ext4. After the run the host checks the image with `e2fsck -fn`.

use crate::clients::busybox;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tests' `TMPDIR` on the ext4 root (mode 1777).
pub const TMPDIR: &str = "/var/tmp";

/// Image size: the tests take about 105 MiB; the rest is room for the files they make.
const IMAGE_MIB: u32 = 512;

fn run(cmd: &mut Command) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {:?} (Debian package e2fsprogs): {e}", cmd.get_program()))
}

/// `dir/conformance-root/`: the tree, with `init` (the runner script) as `/sbin/init`.
fn tree(ltp: &Path, bin: &Path, list: &str, init: &str, dir: &Path) -> Result<PathBuf, String> {
    let root = dir.join("conformance-root");
    let _ = std::fs::remove_dir_all(&root);
    let io = |e: std::io::Error| format!("cannot build {}: {e}", root.display());
    for d in [
        "bin",
        "sbin",
        "etc",
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "ltp",
        &TMPDIR[1..],
    ] {
        std::fs::create_dir_all(root.join(d)).map_err(io)?;
    }
    let mode =
        |path: &Path, mode: u32| std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode));
    mode(&root.join(&TMPDIR[1..]), 0o1777).map_err(io)?;
    mode(&root.join("tmp"), 0o1777).map_err(io)?;
    let bb = busybox()?;
    std::fs::copy(&bb, root.join("bin/busybox")).map_err(io)?;
    let applets = run(Command::new(&bb).arg("--list"))?;
    for applet in String::from_utf8_lossy(&applets.stdout).split_whitespace() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).map_err(io)?;
        }
    }
    for entry in std::fs::read_dir(bin).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if let (true, Some(name)) = (path.is_file(), path.file_name()) {
            std::fs::copy(&path, root.join("ltp").join(name)).map_err(io)?;
        }
    }
    std::fs::copy(ltp.join("passwd"), root.join("etc/passwd")).map_err(io)?;
    std::fs::copy(ltp.join("group"), root.join("etc/group")).map_err(io)?;
    std::fs::write(root.join("runtest.txt"), list).map_err(io)?;
    std::fs::write(root.join("sbin/init"), init).map_err(io)?;
    mode(&root.join("sbin/init"), 0o755).map_err(io)?;
    Ok(root)
}

/// `dir/conformance-root.img`: a new ext4 image of the tree (see [`tree`]).
pub fn image(ltp: &Path, bin: &Path, list: &str, init: &str, dir: &Path) -> Result<PathBuf, String> {
    let tree = tree(ltp, bin, list, init, dir)?;
    let img = dir.join("conformance-root.img");
    let _ = std::fs::remove_file(&img);
    let out = run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg(format!("{IMAGE_MIB}M")))?;
    if !out.status.success() {
        return Err(format!("mke2fs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let _ = std::fs::remove_dir_all(&tree);
    Ok(img)
}

/// `e2fsck -fn IMAGE`: `Ok` with its summary line when clean, `Err` with its report otherwise.
pub fn fsck(img: &Path) -> Result<String, String> {
    let out = run(Command::new("e2fsck").arg("-fn").arg(img))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text.lines().last().unwrap_or("").to_string())
    } else {
        Err(text)
    }
}
