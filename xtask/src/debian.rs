//! Debian packages: host tools installed with `apt-get install`, and packages for the test and bench peers
//! fetched with `apt-get download` and unpacked under `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether we run as root (and so may install packages).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Makes sure `present()` holds: when it does not and we are root, installs `packages` with apt-get (running
/// `apt-get update` first when the install fails); otherwise says what to install. `what` names the tool.
pub fn ensure_installed(what: &str, packages: &[&str], present: impl Fn() -> bool) -> Result<(), String> {
    if present() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !is_root() {
        return Err(format!(
            "{what} is missing: install Debian's {list} (apt-get install {list})"
        ));
    }
    eprintln!("xtask: installing {list} with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = [&["install", "-y", "-qq"][..], packages].concat();
    let installed = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
    if !installed {
        return Err(format!("apt-get could not install {list}"));
    }
    if !present() {
        return Err(format!("{what} is still missing after installing {list}"));
    }
    Ok(())
}

/// Downloads `packages` with `apt-get download` (running `apt-get update` first when that fails and we are
/// root) and unpacks them all into `root`.
pub fn unpack(packages: &[&str], root: &Path) -> Result<(), String> {
    let list = packages.join(" ");
    println!("downloading {list}");
    let download = root.join("download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download).map_err(|e| format!("cannot create {}: {e}", download.display()))?;
    let fetch = || {
        Command::new("apt-get")
            .arg("download")
            .args(packages)
            .current_dir(&download)
            .status()
            .is_ok_and(|s| s.success())
    };
    let ok = fetch()
        || (is_root()
            && Command::new("apt-get")
                .args(["update", "-qq"])
                .status()
                .is_ok_and(|s| s.success())
            && fetch());
    if !ok {
        return Err(format!("apt-get download {list} failed (run apt-get update?)"));
    }
    for entry in std::fs::read_dir(&download).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let ok = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&path)
            .arg(root)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("cannot unpack {}", path.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&download);
    Ok(())
}

/// Unpacks the kernel package that the metapackage `meta` (e.g. `linux-image-cloud-amd64`) depends on, plus
/// `extra` packages, into `root`, once. Returns the kernel's `vmlinuz`.
pub fn kernel(meta: &str, extra: &[&str], root: &Path) -> Result<PathBuf, String> {
    if let Some(v) = find_vmlinuz(root) {
        return Ok(v);
    }
    std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
    let depends = Command::new("apt-cache")
        .args(["depends", meta])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    let package = String::from_utf8_lossy(&depends.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Depends: ")
                .filter(|p| p.starts_with("linux-image-"))
                .map(str::to_string)
        })
        .ok_or(format!("apt-cache knows no {meta} (run apt-get update)"))?;
    unpack(&[&[package.as_str()][..], extra].concat(), root)?;
    find_vmlinuz(root).ok_or(format!("{package} holds no vmlinuz"))
}

fn find_vmlinuz(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("boot"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
}
