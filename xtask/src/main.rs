//! `cargo xtask`: build ember, boot it in a microVM, run the tests.
//!
//! ```text
//! cargo xtask build [--release]
//! cargo xtask run [--release] [--boot pvh|linux64] [--mem MiB] [--initrd FILE] [-- <kernel command line>]
//! cargo xtask test
//! ```

mod boot_tests;
mod image;
mod qemu;

use std::process::ExitCode;

const USAGE: &str = "usage:
  cargo xtask build [--release]
  cargo xtask run [--release] [--boot pvh|linux64] [--mem MiB] [--initrd FILE] [-- <kernel command line>]
  cargo xtask test";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
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
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--release" => profile = image::Profile::Release,
            "--boot" => vm.boot = value()?.parse()?,
            "--mem" => vm.mem_mib = value()?.parse().map_err(|_| "--mem takes MiB".to_string())?,
            "--initrd" => vm.initrd = Some(value()?.into()),
            "--" => {
                let extra: Vec<&str> = it.by_ref().map(String::as_str).collect();
                vm.cmdline = format!("{} {}", vm.cmdline, extra.join(" "));
            }
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    qemu::ensure_installed()?;
    let images = image::build(profile)?;
    let status = vm
        .command(&images)
        .status()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

fn test(args: &[String]) -> Result<ExitCode, String> {
    if let Some(a) = args.first() {
        return Err(format!("unknown argument {a}\n{USAGE}"));
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
    println!("== boot tests (QEMU microvm, TCG)");
    qemu::ensure_installed()?;
    let images = image::build(image::Profile::Dev)?;
    Ok(if boot_tests::run_all(&images) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
