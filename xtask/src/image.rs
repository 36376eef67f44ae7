//! Building the kernel image and the test shim.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Cargo profile to build with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: debug assertions on (what tests use).
    Dev,
    /// `release`: optimized, LTO.
    Release,
}

/// The built images.
pub struct Images {
    /// ember's ELF (PVH note and Linux 64-bit entry).
    pub kernel: PathBuf,
    /// The shim that recreates Firecracker's 64-bit entry state under QEMU.
    pub shim: PathBuf,
    /// ember's `e_entry`, the Linux 64-bit entry point (physical).
    pub entry: u64,
}

/// The `cargo` that runs us.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Builds ember and the shim.
pub fn build(profile: Profile) -> Result<Images, String> {
    let root = workspace_root();
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&root)
        .args(["build", "--quiet", "-p", "ember", "-p", "linux64-shim"]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the kernel failed".into());
    }
    let dir = root.join("target").join(if profile == Profile::Release {
        "release"
    } else {
        "debug"
    });
    let kernel = dir.join("ember");
    let entry = elf_entry(&kernel)?;
    Ok(Images {
        kernel,
        shim: dir.join("linux64-shim"),
        entry,
    })
}

/// Reads `e_entry` from an ELF64 file.
fn elf_entry(path: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() < 0x20 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return Err(format!("{} is not an ELF64 file", path.display()));
    }
    Ok(u64::from_le_bytes(bytes[0x18..0x20].try_into().expect("8 bytes")))
}
