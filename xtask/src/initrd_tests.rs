//! Boot tests of the initramfs formats: the musl `hello` as init, compressed with each of Linux's formats by
//! the host's tools; busybox with a script as init, compressed with gzip and with xz as Linux's `usr/Makefile`
//! does; a plain archive followed by a compressed one (as with early microcode); and a truncated compressed
//! archive after a good one, which must keep what unpacked cleanly and say why it stopped.
//!
//! The tools compress files (not pipes), so they know the size and shrink their windows and dictionaries to
//! it: the kernel heap cannot yet hand out blocks larger than 2 MiB (see the design notes), which is what
//! zstd's and xz's defaults for an input of unknown size would need.

use crate::boot_tests::{Case, On};
use crate::clients::{self, Initramfs, Libc, dir};
use crate::qemu::{Boot, Vm};
use crate::user_tests::{ended, exited};
use std::path::PathBuf;
use std::process::Command;

/// Each format: its name, the tool (with the Debian package that has it) and the arguments Linux's
/// `usr/Makefile` would use.
const FORMATS: &[(&str, &str, &str, &[&str])] = &[
    ("gzip", "gzip", "gzip", &["-9c"]),
    ("zstd", "zstd", "zstd", &["-19", "-qc"]),
    ("xz", "xz", "xz-utils", &["--check=crc32", "-c"]),
    ("lzma", "lzma", "xz-utils", &["-c"]),
    ("lz4", "lz4", "lz4", &["-l", "-9", "-c"]),
];

const SCRIPT: &str = "#!/bin/sh\necho \"initramfs-ok $(cat /etc/first 2>/dev/null)\"\nexit 0\n";

/// `data` compressed by `tool args FILE` (written to stdout).
fn compress(tool: &str, package: &str, args: &[&str], data: &[u8]) -> Result<Vec<u8>, String> {
    let input = write(&format!("initrd-input-{tool}.cpio"), data)?;
    let out = Command::new(tool)
        .args(args)
        .arg(&input)
        .output()
        .map_err(|e| format!("cannot run {tool} (Debian package {package}): {e}"))?;
    if !out.status.success() {
        return Err(format!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(out.stdout)
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(name: &str, data: &[u8]) -> Result<PathBuf, String> {
    let path = dir().join(name);
    std::fs::write(&path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn vm(initrd: PathBuf) -> Vm {
    let mut vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    vm.initrd = Some(initrd);
    vm
}

/// Every initramfs-format case; `Err` when busybox or a compressor is missing.
pub fn cases() -> Result<Vec<Case>, String> {
    let hello = read(
        &Initramfs::new("initrd-hello")
            .file("/init", &clients::c_program(Libc::Musl, "hello")?)?
            .write()?,
    )?;
    let plain = read(
        &Initramfs::new("initrd-busybox")
            .busybox()?
            .script("/init", SCRIPT)?
            .write()?,
    )?;
    let first = read(
        &Initramfs::new("initrd-first")
            .script("/etc/first", "first-archive")?
            .write_without_init()?,
    )?;
    let mut v = Vec::new();
    for &(format, tool, package, args) in FORMATS {
        let packed = compress(tool, package, args, &hello)?;
        let path = write(&format!("initrd-hello.cpio.{format}"), &packed)?;
        v.push(Case {
            name: format!("initrd-{format}"),
            on: On::Both,
            vm: vm(path),
            input: &[],
            check: Box::new(|o| exited(o, 7, &["hello from musl pid=1", "(1 compressed pieces)"])),
        });
    }
    for (format, tool, package, args) in [
        ("gzip", "gzip", "gzip", &["-n", "-9c"][..]),
        (
            "xz",
            "xz",
            "xz-utils",
            &["--check=crc32", "--lzma2=dict=1MiB", "-c"][..],
        ),
    ] {
        let packed = compress(tool, package, args, &plain)?;
        v.push(Case {
            name: format!("initrd-busybox-{format}"),
            on: On::Qemu,
            vm: vm(write(&format!("initrd-busybox.cpio.{format}"), &packed)?),
            input: &[],
            check: Box::new(|o| exited(o, 0, &["initramfs-ok \n", "(1 compressed pieces)"])),
        });
    }
    // A plain archive first, then a gzip one (zero padding between): both unpacked.
    let mut joined = first.clone();
    joined.extend_from_slice(&[0; 12]);
    joined.extend_from_slice(&compress("gzip", "gzip", &["-9c"], &plain)?);
    v.push(Case {
        name: "initrd-concatenated".into(),
        on: On::Qemu,
        vm: vm(write("initrd-concatenated.cpio", &joined)?),
        input: &[],
        check: Box::new(|o| exited(o, 0, &["initramfs-ok first-archive\n"])),
    });
    // The whole busybox archive, then half of a zstd one: the first is kept, one error line names the second.
    let mut cut = plain;
    let tail = compress("zstd", "zstd", &["-19", "-qc"], &first)?;
    let at = cut.len();
    cut.extend_from_slice(&tail[..tail.len() / 2]);
    let needle = format!("initramfs: zstd data at byte {at}: truncated; keeping the ");
    v.push(Case {
        name: "initrd-truncated".into(),
        on: On::Qemu,
        vm: vm(write("initrd-truncated.cpio", &cut)?),
        input: &[],
        check: Box::new(move |o| ended(o, 0, &["initramfs-ok \n", &needle])),
    });
    Ok(v)
}
