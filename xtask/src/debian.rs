//! Debian packages for the test and bench peers, fetched with `apt-get download` and unpacked under `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    println!("downloading {package} {}", extra.join(" "));
    let download = root.join("download");
    std::fs::create_dir_all(&download).map_err(|e| e.to_string())?;
    let ok = Command::new("apt-get")
        .arg("download")
        .arg(&package)
        .args(extra)
        .current_dir(&download)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(format!("apt-get download {package} failed"));
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
