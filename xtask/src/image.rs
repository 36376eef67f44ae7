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
    /// The physical end of ember's loaded image (the highest end of its `PT_LOAD` segments).
    pub end: u64,
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
    let (entry, end) = elf_entry(&kernel)?;
    Ok(Images {
        kernel,
        shim: dir.join("linux64-shim"),
        entry,
        end,
    })
}

/// Reads `e_entry` and the physical end of the `PT_LOAD` segments from an ELF64 file.
fn elf_entry(path: &Path) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() < 0x40 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return Err(format!("{} is not an ELF64 file", path.display()));
    }
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let (phoff, phentsize, phnum) = (u64_at(0x20).unwrap_or(0) as usize, u16_at(0x36) as usize, u16_at(0x38));
    let mut end = 0;
    for i in 0..phnum as usize {
        let ph = phoff + i * phentsize;
        let is_load = bytes.get(ph..ph + 4) == Some(&1u32.to_le_bytes()[..]);
        if let (true, Some(paddr), Some(memsz)) = (is_load, u64_at(ph + 0x18), u64_at(ph + 0x28)) {
            end = end.max(paddr + memsz);
        }
    }
    Ok((u64_at(0x18).unwrap_or(0), end))
}
