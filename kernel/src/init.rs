//! Starting init as Linux does: `rdinit=` (default `/init`) from the initramfs, else `init=`, else the usual
//! suspects; command-line words that are not kernel parameters become init's arguments (plain words) or
//! environment (`key=value`).

use crate::process::clone::spawn_init;
use alloc::vec::Vec;
use ember_cmdline::Cmdline;
use ember_frame::power::{ExitStatus, power_off};

/// Where Linux looks for init when neither `rdinit=` nor `init=` works.
const FALLBACKS: [&str; 4] = ["/sbin/init", "/etc/init", "/bin/init", "/bin/sh"];

/// Starts init (pid 1); powers off with a clear message when no candidate runs. `rdinit=` (default `/init`)
/// is tried only from an initramfs, as on Linux.
pub fn start(raw: &str, initramfs: bool) {
    let cmdline = Cmdline::new(raw);
    let (args, env) = init_args(raw);
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    if initramfs {
        candidates.push(cmdline.value("rdinit").unwrap_or("/init").into());
    }
    if let Some(init) = cmdline.value("init") {
        candidates.push(init.into());
    }
    candidates.extend(FALLBACKS.iter().map(|f| f.as_bytes().to_vec()));
    let mut envp: Vec<Vec<u8>> = alloc::vec![b"HOME=/".to_vec(), b"TERM=linux".to_vec()];
    envp.extend(env.iter().map(|e| e.as_bytes().to_vec()));
    let args = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    if let Err(e) = spawn_init(candidates, args, envp, no_init) {
        log::error!("init: cannot start (error {})", e.0);
        no_init();
    }
}

fn no_init() -> ! {
    ember_frame::println!("ember: no working init found (tried rdinit=, init= and {FALLBACKS:?})");
    crate::fs::disk::shutdown();
    power_off(ExitStatus::Failure)
}

/// Linux's rule: words that are not kernel parameters (here: a name without `.` that ember does not
/// know) go to init, plain words as arguments and `key=value` as environment; after `--` everything is
/// init's.
fn init_args(raw: &str) -> (Vec<&str>, Vec<&str>) {
    const KERNEL: [&str; 17] = [
        "console",
        "loglevel",
        "quiet",
        "debug",
        "init",
        "rdinit",
        "root",
        "reboot",
        "panic",
        "nomodule",
        "pci",
        "acpi",
        "rw",
        "ro",
        "rootfstype",
        "rootwait",
        "rootflags",
    ];
    let (mut args, mut env) = (Vec::new(), Vec::new());
    let mut after_dashes = false;
    for word in raw.split_ascii_whitespace() {
        if word == "--" && !after_dashes {
            after_dashes = true;
            continue;
        }
        let key = word.split('=').next().unwrap_or(word);
        if !after_dashes && (key.contains('.') || KERNEL.contains(&key)) {
            continue;
        }
        if word.contains('=') && !after_dashes {
            env.push(word);
        } else {
            args.push(word);
        }
    }
    (args, env)
}
