//! `cargo xtask`: build ember, boot it in a microVM, run the tests.
//!
//! ```text
//! cargo xtask build [--release]
//! cargo xtask run [--release] [--vmm qemu|firecracker] [--firecracker PATH] [--boot pvh|linux64] [--mem MiB]
//!                 [--initrd FILE] [--disk FILE]... [--root-disk FILE] [--entropy] [--modern] [-- <kernel command line>]
//! cargo xtask test [--firecracker [PATH]]
//! cargo xtask bench [smp|ext4|net]
//! cargo xtask clients
//! cargo xtask conformance [--ltp DIR] [--linux] [--root initramfs|ext4] [--filter SUBSTR] [--timeout SECS] [--budget SECS]
//! cargo xtask fuzz [TARGET] [--seconds N]
//! ```

#![forbid(unsafe_code)]

mod bench;
mod bench_ext4;
mod bench_net;
mod bench_smp;
mod bench_user;
mod boot_tests;
mod clients;
mod conformance;
mod conformance_disk;
mod cpio;
mod debian;
mod disk_error_tests;
mod disk_tests;
mod firecracker;
mod firecracker_tests;
mod fuzz;
mod image;
mod initrd_tests;
mod net6_tests;
mod net_dad;
mod net_hostile;
mod net_load;
mod net_pair;
mod net_tests;
mod partition_tests;
mod qemu;
/// The load-test servers' protocol (`clients/rust-net/src/lib.rs`), shared with the host side that drives them.
#[path = "../../clients/rust-net/src/lib.rs"]
#[allow(dead_code)] // The servers' half (parsing, counters, MemFree) runs in the guest; its tests run here.
mod rust_net_protocol;
mod tables;
mod user_tests;

use std::process::ExitCode;

const USAGE: &str = "usage:
  cargo xtask build [--release]
  cargo xtask run [--release] [--vmm qemu|firecracker] [--firecracker PATH] [--boot pvh|linux64] [--mem MiB]
                  [--initrd FILE] [--disk FILE]... [--root-disk FILE] [--entropy] [--modern] [-- <kernel command line>]
  cargo xtask test [--firecracker [PATH]]
  cargo xtask bench [smp|ext4|net]
  cargo xtask clients
  cargo xtask conformance [--ltp DIR] [--linux] [--root initramfs|ext4] [--filter SUBSTR] [--timeout SECS] [--budget SECS]
  cargo xtask fuzz [TARGET] [--seconds N]
A Firecracker binary comes from --firecracker PATH or the FIRECRACKER environment variable.
Without --initrd, run boots target/clients/busybox.cpio (busybox, /init starts a shell); --root-disk FILE
boots FILE (ext2/ext4) as /dev/vda with root=/dev/vda rw instead (Firecracker: its root device).
clients builds the user-space test programs and initramfs images under target/clients/ and prints their paths.
conformance runs the LTP system-call subset (default ../shared/conformance/ltp) on ember, or on Linux with
--linux, and writes target/conformance/results-<ember|linux>.txt; failing tests do not fail the command;
--root ext4 runs it from an ext4 image on /dev/vda instead (results-ember-ext4.txt, e2fsck -fn after).
fuzz runs the libFuzzer targets of fuzz/ (nightly Rust, cargo-fuzz) for N seconds each (default 30), one
after the other at the lowest priority, and prints the inputs tried and the findings of each.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "smp") => qemu::ensure_installed()
            .and_then(|()| bench::run_smp())
            .map(|()| ExitCode::SUCCESS),
        Some("bench") if args.get(1).is_some_and(|a| a == "ext4") => qemu::ensure_installed()
            .and_then(|()| bench::run_ext4())
            .map(|()| ExitCode::SUCCESS),
        Some("bench") if args.get(1).is_some_and(|a| a == "net") => qemu::ensure_installed()
            .and_then(|()| bench::run_net())
            .map(|()| ExitCode::SUCCESS),
        Some("bench") => qemu::ensure_installed()
            .and_then(|()| bench::run())
            .map(|()| ExitCode::SUCCESS),
        Some("conformance") => conformance::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("clients") if args.len() == 1 => clients::build_all().map(|paths| {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build(args: &[String]) -> Result<ExitCode, String> {
    let mut profile = image::Profile::Dev;
    for a in args {
        match a.as_str() {
            "--release" => profile = image::Profile::Release,
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    let images = image::build(profile)?;
    println!("{}", images.kernel.display());
    Ok(ExitCode::SUCCESS)
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut profile = image::Profile::Dev;
    let mut vm = qemu::Vm::new(qemu::Boot::Pvh, 128, "console=ttyS0");
    let mut on_firecracker = false;
    let mut fc_flag = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--release" => profile = image::Profile::Release,
            "--vmm" => {
                on_firecracker = match value()?.as_str() {
                    "qemu" => false,
                    "firecracker" => true,
                    other => return Err(format!("--vmm takes qemu or firecracker, not {other}")),
                }
            }
            "--firecracker" => fc_flag = Some(value()?),
            "--boot" => vm.boot = value()?.parse()?,
            "--mem" => vm.mem_mib = value()?.parse().map_err(|_| "--mem takes MiB".to_string())?,
            "--initrd" => vm.initrd = Some(value()?.into()),
            "--disk" => vm.disks.push(value()?.into()),
            "--root-disk" => {
                vm.disks.insert(0, value()?.into());
                vm.root_device = true;
            }
            "--entropy" => vm.entropy = true,
            "--modern" => vm.modern = true,
            "--" => {
                let extra: Vec<&str> = it.by_ref().map(String::as_str).collect();
                vm.cmdline = format!("{} {}", vm.cmdline, extra.join(" "));
            }
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    qemu::ensure_installed()?;
    let images = image::build(profile)?;
    if vm.initrd.is_none() && !vm.root_device {
        vm.initrd = default_initrd();
    }
    if on_firecracker {
        let fc =
            firecracker::binary(fc_flag).ok_or("no Firecracker binary: pass --firecracker PATH or set FIRECRACKER")?;
        let rig = firecracker::probe(&fc, &images)?;
        let runs = firecracker::run(&fc, &rig, &images, std::slice::from_ref(&vm))?;
        let run = runs.first().ok_or("Firecracker did not run")?;
        print!("{}", run.output);
        return Ok(if run.status == Some(0) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let status = vm
        .command(&images)
        .status()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// The initrd `run` boots without `--initrd`: [`clients::default_initrd`], or none (with a warning) when it
/// cannot be made, say because busybox cannot be downloaded.
fn default_initrd() -> Option<std::path::PathBuf> {
    clients::default_initrd()
        .inspect_err(|e| eprintln!("xtask: booting without an initrd: {e}"))
        .ok()
}

fn test(args: &[String]) -> Result<ExitCode, String> {
    let mut fc_flag = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--firecracker" => {
                fc_flag = it
                    .next_if(|next| !next.starts_with("--"))
                    .cloned()
                    .or(Some(String::new()));
            }
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    println!("== host unit tests");
    let status = std::process::Command::new(image::cargo())
        .args(["test", "--quiet"])
        .current_dir(image::workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }
    qemu::ensure_installed()?;
    // The release image too: inlining changes stack use, and LTO changes what the linker sees.
    let release = image::build(image::Profile::Release)?;
    println!("== boot tests (QEMU microvm, TCG, release image)");
    let mut ok = boot_tests::run_qemu(&release);
    let images = image::build(image::Profile::Dev)?;
    println!("== boot tests (QEMU microvm, TCG, dev image)");
    ok &= boot_tests::run_qemu(&images);
    println!("== boot tests (Firecracker)");
    match firecracker::binary(fc_flag) {
        Some(fc) => {
            let rig = firecracker::probe(&fc, &images)?;
            ok &= boot_tests::run_firecracker(&fc, &rig, &images);
        }
        None => println!(
            "Firecracker boot tests: SKIPPED: no Firecracker binary (pass --firecracker PATH or set FIRECRACKER)"
        ),
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
