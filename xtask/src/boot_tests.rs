//! Boot tests: boot the real image under QEMU microvm and check what a user would see on the console.

use crate::image::Images;
use crate::qemu::{Boot, Vm};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(90);
/// Firecracker's default boot arguments (`vmm/src/vmm_config/boot_source.rs`) plus what it appends for one
/// drive, as a guest sees them.
const FIRECRACKER_DEFAULTS: &str = "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux \
    i8042.dumbkbd swiotlb=noforce pci=off virtio_mmio.device=4K@0xc0001000:5";
const GARBAGE: &str = "=== = ==x \"unterminated=a b loglevel=zzz ember.bogus ember.test= \u{e9}t\u{e9}=\u{fc} \
    virtio_mmio.device=@@@ memmap=-1";

/// What one boot printed and how QEMU ended.
struct Outcome {
    status: Option<i32>,
    output: String,
}

/// The `ready` line's fields.
#[derive(Debug)]
struct Ready {
    boot: String,
    mem_mib: u64,
}

type Check = Box<dyn Fn(&Outcome) -> Result<(), String> + Send + Sync>;

struct Case {
    name: String,
    vm: Vm,
    check: Check,
}

/// Runs every boot test, two at a time; prints one line per test and the log of each failure.
pub fn run_all(images: &Images) -> bool {
    let initrd = match write_initrd() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("cannot write the test initrd: {e}");
            return false;
        }
    };
    let cases = Mutex::new(cases(&initrd).into_iter());
    let failures = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(case) = cases.lock().expect("lock").next() else {
                        break;
                    };
                    let start = Instant::now();
                    let result = boot(images, &case.vm).and_then(|o| {
                        (case.check)(&o).map_err(|e| format!("{e}\n--- console ---\n{}", o.output))
                    });
                    let ms = start.elapsed().as_millis();
                    match result {
                        Ok(()) => println!("ok     {:<28} {ms:>6} ms", case.name),
                        Err(e) => {
                            println!(
                                "FAILED {:<28} {ms:>6} ms\n  {:?}\n  {e}",
                                case.name, case.vm
                            );
                            *failures.lock().expect("lock") += 1;
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    println!(
        "boot tests: {}",
        if failures == 0 {
            "all passed".to_string()
        } else {
            format!("{failures} failed")
        }
    );
    failures == 0
}

fn cases(initrd: &TestInitrd) -> Vec<Case> {
    let mut v = Vec::new();
    let mut add = |name: &str, vm: Vm, check: Check| {
        v.push(Case {
            name: name.into(),
            vm,
            check,
        })
    };
    for boot in [Boot::Pvh, Boot::Linux64] {
        let b = if boot == Boot::Pvh { "pvh" } else { "linux64" };
        for mem in [16, 128, 512, 6144] {
            let high = mem > 4096;
            add(
                &format!("{b}-{mem}MiB"),
                Vm::new(boot, mem, "console=ttyS0"),
                Box::new(move |o| {
                    let r = ready(o, b)?;
                    memory_accounted(o, &r, mem)?;
                    if high && !o.output.contains("memory [0x0100000000-") {
                        return Err("no RAM region above 4 GiB in the log".into());
                    }
                    Ok(())
                }),
            );
        }
        let mut vm = Vm::new(boot, 128, "console=ttyS0 ember.test=fill-memory");
        vm.initrd = Some(initrd.path.clone());
        let (hash, kib) = (initrd.fnv1a, initrd.len / 1024);
        add(
            &format!("{b}-initrd-reserved"),
            vm,
            Box::new(move |o| {
                ready(o, b)?;
                expect(o, &format!("initrd ({kib} KiB)"))?;
                expect(o, &format!("ember: initrd fnv1a={hash:016x}"))?;
                let filled = field(o, "fill-memory: filled ", " MiB")?;
                let usable = field(o, "MiB of ", " MiB usable")?;
                if filled * 100 < usable * 90 {
                    return Err(format!("the heap reached only {filled} of {usable} MiB"));
                }
                Ok(())
            }),
        );
        add(
            &format!("{b}-firecracker-cmdline"),
            Vm::new(
                boot,
                64,
                &format!("console=ttyS0 {FIRECRACKER_DEFAULTS} {GARBAGE}"),
            ),
            Box::new(move |o| {
                ready(o, b)?;
                expect(o, "command line: console=ttyS0 reboot=k panic=1 nomodule")
            }),
        );
    }
    let fault = |test: &str, boot: Boot, needles: &'static [&'static str]| {
        let vm = Vm::new(boot, 64, &format!("console=ttyS0 ember.test={test}"));
        let check: Check = Box::new(move |o| failed(o, needles));
        (vm, check)
    };
    for (name, test, boot, needles) in [
        (
            "page-fault",
            "page-fault",
            Boot::Pvh,
            &[
                "FATAL: page fault (#PF), vector 14, error code 0x2",
                "write of 0xffffbffffffff000: page not present, kernel mode",
                "rip 0xffffffff8",
                "rax 0x",
            ][..],
        ),
        (
            "invalid-opcode",
            "invalid-opcode",
            Boot::Linux64,
            &["FATAL: invalid opcode (#UD), vector 6", "rip 0xffffffff8"],
        ),
        (
            "stack-overflow",
            "stack-overflow",
            Boot::Pvh,
            &[
                "FATAL: page fault (#PF)",
                "kernel stack overflow: hit the guard page of the boot stack",
            ],
        ),
        (
            "panic",
            "panic",
            Boot::Pvh,
            &["PANIC: panicked at", "requested by ember.test=panic"],
        ),
    ] {
        let (vm, check) = fault(test, boot, needles);
        add(name, vm, check);
    }
    add(
        "breakpoint-returns",
        Vm::new(Boot::Linux64, 64, "console=ttyS0 ember.test=breakpoint"),
        Box::new(|o| {
            ready(o, "linux64")?;
            expect(o, "breakpoint at 0xffffffff8")
        }),
    );
    add(
        "mmio-maps-devices-only",
        Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.test=mmio"),
        Box::new(|o| {
            ready(o, "pvh")?;
            expect(o, "mmio: IOAPIC version 0x")
        }),
    );
    add(
        "unknown-self-test-ignored",
        Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.test=nonsense"),
        Box::new(|o| {
            ready(o, "pvh")?;
            expect(o, "warning: unknown self-test \"nonsense\" ignored")
        }),
    );
    add(
        "quiet-prints-only-ready",
        Vm::new(Boot::Pvh, 64, "console=ttyS0 quiet"),
        Box::new(|o| {
            ready(o, "pvh")?;
            match o.output.lines().filter(|l| !l.trim().is_empty()).count() {
                1 => Ok(()),
                n => Err(format!(
                    "{n} lines with quiet; only the ready line expected"
                )),
            }
        }),
    );
    add(
        "loglevel-8-adds-debug",
        Vm::new(Boot::Pvh, 64, "console=ttyS0 loglevel=8"),
        Box::new(|o| {
            ready(o, "pvh")?;
            expect(o, "ember: debug: free [")
        }),
    );
    v
}

/// Boots `vm`, collecting the console until QEMU exits (or is killed after [`TIMEOUT`]).
fn boot(images: &Images, vm: &Vm) -> Result<Outcome, String> {
    let mut child: Child = vm
        .command(images)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status.code();
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "QEMU did not exit within {TIMEOUT:?}: the kernel hangs"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let mut output = String::from_utf8_lossy(&stdout).replace('\r', "");
    if !stderr.is_empty() {
        output.push_str("--- QEMU stderr ---\n");
        output.push_str(&String::from_utf8_lossy(&stderr));
    }
    Ok(Outcome { status, output })
}

/// The boot reached `ready` as its last line, the VM powered off cleanly, and the protocol is `boot`.
fn ready(o: &Outcome, boot: &str) -> Result<Ready, String> {
    let last = o
        .output
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("");
    let fields = last
        .strip_prefix("ember: ready ")
        .ok_or("the last line is not `ember: ready …`")?;
    let get = |key: &str| {
        fields
            .split(' ')
            .find_map(|f| f.strip_prefix(key))
            .ok_or(format!("ready line lacks {key}"))
    };
    let r = Ready {
        boot: get("boot=")?.to_string(),
        mem_mib: get("mem=")?
            .strip_suffix("MiB")
            .and_then(|m| m.parse().ok())
            .ok_or("bad mem=")?,
    };
    get("t=")?
        .strip_suffix("us")
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or("bad t=")?;
    if r.boot != boot {
        return Err(format!("booted by {}, expected {boot}", r.boot));
    }
    if o.status != Some(0) {
        return Err(format!(
            "QEMU exit status {:?}, expected 0 (power off)",
            o.status
        ));
    }
    Ok(r)
}

/// The VM failed (isa-debug-exit status 3) and printed every needle.
fn failed(o: &Outcome, needles: &[&str]) -> Result<(), String> {
    if o.status != Some(3) {
        return Err(format!(
            "QEMU exit status {:?}, expected 3 (failure)",
            o.status
        ));
    }
    if o.output.contains("ember: ready") {
        return Err("a failing boot printed ready".into());
    }
    needles.iter().try_for_each(|n| expect(o, n))
}

fn expect(o: &Outcome, needle: &str) -> Result<(), String> {
    if o.output.contains(needle) {
        Ok(())
    } else {
        Err(format!("no `{needle}` in the console output"))
    }
}

/// The number between `before` and `after` on the first line holding both.
fn field(o: &Outcome, before: &str, after: &str) -> Result<u64, String> {
    o.output
        .lines()
        .find_map(|l| {
            let rest = &l[l.find(before)? + before.len()..];
            rest[..rest.find(after)?].parse().ok()
        })
        .ok_or(format!("no `{before}N{after}` in the console output"))
}

/// The usable memory the kernel reports is within 2% of the RAM the log lists minus the reservations it
/// lists, that RAM is what the VMM was given (less at most 1 MiB of legacy holes), and `ready`'s `mem=` is the
/// same figure in whole MiB.
fn memory_accounted(o: &Outcome, r: &Ready, mem_mib: u32) -> Result<(), String> {
    let sum = |prefix: &str, infix: &str| -> u64 {
        o.output
            .lines()
            .filter(|l| l.starts_with(prefix) && l.contains(infix))
            .map(range_len)
            .sum()
    };
    let ram = sum("ember: memory [", ") usable (");
    let reserved = sum("ember: reserved [", "");
    let given = u64::from(mem_mib) << 20;
    if ram + (1 << 20) < given || ram > given {
        return Err(format!(
            "the memory map lists {ram} bytes of RAM for a {mem_mib} MiB VM"
        ));
    }
    let usable = field(o, "memory: ", " KiB usable")? << 10;
    let expected = ram - reserved;
    if usable * 100 < expected * 98 || usable > ram {
        return Err(format!(
            "{} KiB usable; RAM minus reservations is {} KiB",
            usable >> 10,
            expected >> 10
        ));
    }
    if r.mem_mib != usable >> 20 {
        return Err(format!(
            "ready says {} MiB, the log {} KiB",
            r.mem_mib,
            usable >> 10
        ));
    }
    Ok(())
}

/// The length of the first `[0x…-0x…)` range on a log line.
fn range_len(line: &str) -> u64 {
    let Some(start) = line.find("[0x") else {
        return 0;
    };
    let rest = &line[start + 3..];
    let Some((a, rest)) = rest.split_once("-0x") else {
        return 0;
    };
    let Some(b) = rest.split(')').next() else {
        return 0;
    };
    match (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
        (Ok(a), Ok(b)) => b.saturating_sub(a),
        _ => 0,
    }
}

/// A pseudo-random initrd with its FNV-1a hash (the kernel's `fill-memory` self-test prints the same).
struct TestInitrd {
    path: PathBuf,
    len: usize,
    fnv1a: u64,
}

fn write_initrd() -> std::io::Result<TestInitrd> {
    const LEN: usize = 1536 * 1024;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let dir = crate::image::workspace_root().join("target").join("xtask");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("test-initrd.bin");
    std::fs::write(&path, &data)?;
    let fnv1a = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(TestInitrd {
        path,
        len: LEN,
        fnv1a,
    })
}
