//! Boot tests: boot the real image under QEMU microvm and check what a user would see on the console.

use crate::firecracker;
use crate::image::Images;
use crate::qemu::{self, Boot, Vm};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a QEMU case may run before it counts as hung (`user-threads-100-times` takes 45–55 s alone here, and
/// past 90 s on a host loaded some 9 times over).
const TIMEOUT: Duration = Duration::from_secs(120);
/// Firecracker's default boot arguments (`vmm/src/vmm_config/boot_source.rs`) plus what it appends for one
/// drive, as a guest sees them.
const FIRECRACKER_DEFAULTS: &str = "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux \
    i8042.dumbkbd swiotlb=noforce pci=off virtio_mmio.device=4K@0xc0001000:5";
const GARBAGE: &str = "=== = ==x \"unterminated=a b loglevel=zzz ember.bogus ember.test= \u{e9}t\u{e9}=\u{fc} \
    virtio_mmio.device=@@@ memmap=-1";

/// What one boot printed and how QEMU ended.
pub struct Outcome {
    pub status: Option<i32>,
    /// The serial console.
    pub output: String,
    /// QEMU's own messages.
    pub stderr: String,
    /// How the peer VM ([`Vm::peer`]) ended, when there was one.
    pub peer: Option<Box<Outcome>>,
}

/// The `ready` line's fields.
#[derive(Debug)]
struct Ready {
    boot: String,
    mem_mib: u64,
    cpus: u64,
}

pub type Check = Box<dyn Fn(&Outcome) -> Result<(), String> + Send + Sync>;

/// Which VMMs a case runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// QEMU microvm and, when a binary is given, Firecracker.
    Both,
    /// QEMU only (QEMU-specific machine options, `-icount`, console input).
    Qemu,
    /// Firecracker only (kvmclock, x2APIC, TSC-deadline, the boot timer).
    Firecracker,
}

pub struct Case {
    pub name: String,
    pub on: On,
    pub vm: Vm,
    /// Console input: each text is typed once the output shows its trigger.
    pub input: qemu::Input,
    pub check: Check,
}

/// Runs every QEMU boot test, two at a time; prints one line per test and the log of each failure.
pub fn run_qemu(images: &Images) -> bool {
    let Some(cases) = all_cases(On::Qemu) else { return false };
    let cases = Mutex::new(cases.into_iter());
    let failures = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(case) = cases.lock().expect("lock").next() else {
                        break;
                    };
                    let start = Instant::now();
                    let result = boot(images, &case.vm, case.input);
                    if !report(&case, result, start.elapsed()) {
                        *failures.lock().expect("lock") += 1;
                    }
                }
            });
        }
    });
    summary("QEMU", failures.into_inner().expect("lock"))
}

/// Runs every boot test that applies to Firecracker, in one batch on `rig`.
pub fn run_firecracker(fc: &std::path::Path, rig: &firecracker::Rig, images: &Images) -> bool {
    let Some(cases) = all_cases(On::Firecracker) else {
        return false;
    };
    let vms: Vec<Vm> = cases.iter().map(|c| c.vm.clone()).collect();
    let start = Instant::now();
    println!("firecracker: running {} boots", vms.len());
    let runs = match firecracker::run(fc, rig, images, &vms) {
        Ok(r) => r,
        Err(e) => {
            println!("FAILED firecracker rig: {e}");
            return false;
        }
    };
    let each = start.elapsed() / vms.len().max(1) as u32;
    let failures = cases
        .iter()
        .zip(runs)
        .filter(|(case, run)| !report(case, Ok(firecracker_outcome(run)), each))
        .count();
    summary("Firecracker", failures)
}

/// The cases that run on `vmm` (`On::Qemu` or `On::Firecracker`), or `None` when the test initrd cannot be made.
fn all_cases(vmm: On) -> Option<Vec<Case>> {
    let initrd = write_initrd("test-initrd.bin", 1536 * 1024)
        .map_err(|e| eprintln!("cannot write the test initrd: {e}"))
        .ok()?;
    let mut all = cases(&initrd);
    match crate::user_tests::cases().and_then(|mut u| {
        u.extend(crate::net_tests::cases()?);
        u.extend(crate::net_hostile::cases()?);
        u.extend(crate::net_dad::cases()?);
        u.extend(crate::net_load::cases()?);
        u.extend(crate::net6_tests::cases()?);
        u.extend(crate::net_pair::cases()?);
        u.extend(crate::firecracker_tests::cases()?);
        Ok(u)
    }) {
        Ok(user) => all.extend(user),
        Err(e) => {
            eprintln!("cannot build the user-space clients: {e}");
            return None;
        }
    }
    // `EMBER_TESTS=word` runs only the cases whose name contains `word`, `EMBER_TESTS=a,b` those containing either
    // (for development).
    let only = std::env::var("EMBER_TESTS").unwrap_or_default();
    Some(
        all.into_iter()
            .filter(|c| only.split(',').any(|w| c.name.contains(w)))
            .filter(|c| c.on == On::Both || c.on == vmm)
            .collect(),
    )
}

/// Prints a case's result; returns whether it passed.
fn report(case: &Case, result: Result<Outcome, String>, took: Duration) -> bool {
    let ms = took.as_millis();
    let result = result.and_then(|o| {
        if o.stderr.contains(firecracker::INVALID_VIRTIO) {
            return Err(format!("Firecracker rejected a virtio transition\n{}", o.stderr));
        }
        (case.check)(&o).map_err(|e| {
            let peer = o.peer.as_ref().map_or(String::new(), |p| {
                format!("--- peer's console ---\n{}--- peer's VMM ---\n{}", p.output, p.stderr)
            });
            format!("{e}\n--- console ---\n{}--- VMM ---\n{}{peer}", o.output, o.stderr)
        })
    });
    match result {
        Ok(()) => {
            println!("ok     {:<32} {ms:>6} ms", case.name);
            true
        }
        Err(e) => {
            println!("FAILED {:<32} {ms:>6} ms\n  {:?}\n  {e}", case.name, case.vm);
            false
        }
    }
}

fn summary(vmm: &str, failures: usize) -> bool {
    match failures {
        0 => println!("{vmm} boot tests: all passed"),
        n => println!("{vmm} boot tests: {n} failed"),
    }
    failures == 0
}

/// A Firecracker run as a test outcome: the console apart from Firecracker's (and the rig's) log lines, and the
/// failure status
/// QEMU's `isa-debug-exit` would have given when ember reported a fatal error (Firecracker exits 0 either way).
fn firecracker_outcome(run: &firecracker::FcRun) -> Outcome {
    let is_log = |l: &str| {
        l.starts_with("fcrig: ")
            || l.len() > 11 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit) && &l[10..11] == "T"
    };
    let (mut console, mut log) = (String::new(), String::new());
    for line in run.output.lines() {
        let to = if is_log(line) { &mut log } else { &mut console };
        to.push_str(line);
        to.push('\n');
    }
    // What QEMU's isa-debug-exit would have reported: 3 for a fatal error, 2N+1 for init's exit status N.
    let failed = [
        "ember: FATAL",
        "ember: PANIC",
        "ember: error: self-test",
        "ember: no working init found",
    ]
    .iter()
    .any(|n| console.contains(n));
    let init_status = console.lines().find_map(|l| {
        l.strip_prefix("ember: init exited with status ")?
            .trim()
            .parse::<i32>()
            .ok()
    });
    let status = match (run.status, init_status) {
        (Some(0), _) if failed => Some(3),
        (Some(0), Some(n)) if n != 0 => Some(2 * n + 1),
        (s, _) => s,
    };
    Outcome {
        status,
        output: console,
        stderr: log,
        peer: None,
    }
}

/// RAM past the end of ember's image in the low-memory read case.
const LOW_MEMORY_PAST_IMAGE_KIB: u64 = 512;

fn cases(initrd: &TestInitrd) -> Vec<Case> {
    let mut v = Vec::new();
    // Cases that need QEMU (the shim's hostile options, crafted tables, CPU models).
    let mut qemu = Vec::new();
    let mut add = |name: &str, vm: Vm, check: Check| {
        v.push(Case {
            name: name.into(),
            on: On::Both,
            vm,
            input: &[],
            check,
        })
    };
    for boot in [Boot::Pvh, Boot::Linux64] {
        let b = boot.name();
        for mem in [16, 128, 512, 6144] {
            let high = mem > 4096;
            add(
                &format!("{b}-{mem}MiB"),
                Vm::new(boot, mem, "console=ttyS0"),
                Box::new(move |o| {
                    let r = ready(o, b)?;
                    memory_accounted(o, &r, mem)?;
                    if r.cpus != 1 {
                        return Err(format!("ready reports cpus={} with one vCPU", r.cpus));
                    }
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
        // The application processors start (all at once), answer and are counted (x2APIC on Firecracker, xAPIC
        // on QEMU).
        for cpus in [2, 4, 8] {
            let mut vm = Vm::new(boot, 128, "console=ttyS0");
            vm.cpus = cpus;
            add(
                &format!("{b}-smp-{cpus}"),
                vm,
                Box::new(move |o| {
                    let r = ready(o, b)?;
                    if r.cpus != u64::from(cpus) {
                        return Err(format!("ready reports cpus={}, expected {cpus}", r.cpus));
                    }
                    expect(o, &format!("smp: {cpus} CPUs online"))
                }),
            );
        }
        add(
            &format!("{b}-firecracker-cmdline"),
            Vm::new(boot, 64, &format!("console=ttyS0 {FIRECRACKER_DEFAULTS} {GARBAGE}")),
            Box::new(move |o| {
                ready(o, b)?;
                expect(o, "command line: console=ttyS0 reboot=k panic=1 nomodule")
            }),
        );
    }
    // The linux64 shim is not what limits the tests: it boots in 4 MiB, and copies an initrd of most of RAM to
    // the top of low RAM (as Firecracker does) without overwriting itself.
    qemu.push(Case {
        name: "linux64-4MiB".into(),
        on: On::Qemu,
        vm: Vm::new(Boot::Linux64, 4, "console=ttyS0"),
        input: &[],
        check: Box::new(|o| ready(o, "linux64").map(drop)),
    });
    match write_initrd("large-initrd.bin", 57 << 20) {
        Ok(large) => {
            let mut vm = Vm::new(Boot::Linux64, 64, "console=ttyS0 ember.test=fill-memory");
            vm.initrd = Some(large.path.clone());
            let hash = large.fnv1a;
            qemu.push(Case {
                name: "linux64-57MiB-initrd-in-64MiB".into(),
                on: On::Qemu,
                vm,
                input: &[],
                check: Box::new(move |o| {
                    ready(o, "linux64")?;
                    expect(o, "initrd (58368 KiB)")?;
                    expect(o, &format!("ember: initrd fnv1a={hash:016x}"))
                }),
            });
        }
        Err(e) => eprintln!("cannot write the large test initrd: {e}"),
    }
    // A CPU without what ember needs: one line naming the feature and a failure exit, on either entry (the
    // linux64 shim itself needs long mode, SSE and CMOV, so that entry is tried without others).
    for (boot, take, lacks) in [
        (Boot::Pvh, "lm", "long mode (x86-64)"),
        (Boot::Pvh, "sse", "SSE"),
        (Boot::Pvh, "sse2", "SSE2"),
        (Boot::Pvh, "fxsr", "FXSAVE/FXRSTOR"),
        (Boot::Pvh, "apic", "a local APIC"),
        (Boot::Linux64, "apic", "a local APIC"),
        (Boot::Linux64, "tsc", "a TSC"),
        (Boot::Linux64, "fxsr", "FXSAVE/FXRSTOR"),
    ] {
        let mut vm = Vm::new(boot, 64, "console=ttyS0");
        vm.cpu = format!("max,-{take}");
        let message = format!("ember: FATAL: the CPU lacks {lacks}, which ember needs; cannot boot");
        qemu.push(Case {
            name: format!("{}-cpu-without-{take}-refused", boot.name()),
            on: On::Qemu,
            vm,
            input: &[],
            check: Box::new(move |o| failed(o, &[message.as_str()])),
        });
    }
    // Sizes from outside are allocated fallibly: the read-speed test's 1 MiB buffer in a VM whose RAM ends
    // LOW_MEMORY_PAST_IMAGE_KIB past the image (with the 639 KiB below 1 MiB, about 1 MiB free: room for the virtio queues
    // and requests, not for the buffer), sized from the image so that it means the same as the image grows.
    match make_disks("blk-read-speed-low-memory") {
        Ok(disks) => {
            let mut vm = Vm::new(Boot::Pvh, 2, "console=ttyS0 ember.test=blk-read-speed");
            vm.mem_kib_past_image = Some(LOW_MEMORY_PAST_IMAGE_KIB);
            vm.disks = vec![disks[1].0.clone()];
            qemu.push(Case {
                name: "blk-read-speed-low-memory".into(),
                on: On::Qemu,
                vm,
                input: &[],
                check: Box::new(|o| {
                    ready(o, "pvh")?;
                    expect(o, "blk-read-speed: low on memory; reading ")?;
                    expect(o, &format!("ember: blk0: read {} MiB in ", DISK_MIB[1]))
                }),
            });
        }
        Err(e) => eprintln!("cannot make disks: {e}"),
    }
    // A valid but wrong IRQ for a disk: the device completes requests without interrupting; one warning, then it
    // is polled, so the self-test takes milliseconds, not the timer's longest count per request.
    match make_disks("virtio-wrong-irq") {
        Ok(disks) => {
            let mut vm = Vm::new(
                Boot::Pvh,
                64,
                "console=ttyS0 ember.test=virtio-blk virtio_mmio.device=512@0xfeb02e00:24",
            );
            vm.disks = vec![disks[1].0.clone()];
            qemu.push(Case {
                name: "virtio-wrong-irq-polled".into(),
                on: On::Qemu,
                vm,
                input: &[],
                check: Box::new(|o| {
                    ready(o, "pvh")?;
                    expect(
                        o,
                        "warning: virtio: block at 0xfeb02e00 completes requests without raising IRQ 24",
                    )?;
                    expect(o, "ember: blk0: wrote pattern")?;
                    // Real time (block I/O and -icount do not mix): generous, but far from seconds per request.
                    let t = field(o, " t=", "us")?;
                    if t > 3_000_000 {
                        return Err(format!("ready after {t} us of guest time"));
                    }
                    Ok(())
                }),
            });
        }
        Err(e) => eprintln!("cannot make disks: {e}"),
    }
    // No PIT (`microvm,pit=off`): the TSC is measured against the RTC's periodic flag in about 17 ms instead of
    // a 1 GHz guess after a 4 s stall. Guest time under -icount (the RTC on the same clock): exact and repeatable.
    for boot in [Boot::Pvh, Boot::Linux64] {
        let b = boot.name();
        let mut vm = Vm::new(boot, 64, "console=ttyS0 ember.test=sleep");
        vm.machine.push("pit=off");
        vm.icount = true;
        vm.extra = vec!["-rtc".into(), "clock=vm".into()];
        qemu.push(Case {
            name: format!("{b}-no-pit-tsc-from-rtc"),
            on: On::Qemu,
            vm,
            input: &[],
            check: Box::new(move |o| {
                ready(o, b)?;
                let mhz = field(o, "time: TSC ", ".")?;
                if mhz != 999 && mhz != 1000 {
                    return Err(format!("TSC measured at {mhz} MHz; it runs at 1000 under -icount"));
                }
                let cost = field(o, "from the RTC's periodic flag (no PIT) (", " us)")?;
                if cost > 30_000 {
                    return Err(format!("measuring the TSC took {cost} us"));
                }
                let slept = field(o, "sleep: asked 100000 us, slept ", " us")?;
                if !(98_000..=102_000).contains(&slept) {
                    return Err(format!("a 100 ms sleep took {slept} us of virtual time"));
                }
                Ok(())
            }),
        });
    }
    // A local APIC timer that does not count (the test hook `ember.lapic_timer=dead` takes its calibration as
    // 0): the PIT's one-shot mode on the IOAPIC takes its place with one line, and a 100 ms sleep still lasts
    // 100 ms of guest time; without a PIT as well, the boot is refused with an error and a failure exit.
    for boot in [Boot::Pvh, Boot::Linux64] {
        let b = boot.name();
        let mut vm = Vm::new(boot, 64, "console=ttyS0 ember.lapic_timer=dead ember.test=sleep");
        vm.icount = true;
        qemu.push(Case {
            name: format!("{b}-lapic-timer-dead-pit-takes-over"),
            on: On::Qemu,
            vm,
            input: &[],
            check: Box::new(move |o| {
                ready(o, b)?;
                expect(
                    o,
                    "timer: the local APIC timer does not count; using the PIT one-shot on GSI ",
                )?;
                let slept = field(o, "sleep: asked 100000 us, slept ", " us")?;
                if !(98_000..=102_000).contains(&slept) {
                    return Err(format!("a 100 ms sleep took {slept} us of virtual time"));
                }
                Ok(())
            }),
        });
    }
    let mut vm = Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.lapic_timer=dead");
    vm.machine.push("pit=off");
    qemu.push(Case {
        name: "lapic-timer-dead-no-pit-refused".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| {
            failed(
                o,
                &["cannot boot: the local APIC timer does not count and there is no PIT to take its place"],
            )
        }),
    });
    // The boot timer refuses a device a driver holds (the disk's virtio window): one line, ready.
    match make_disks("boot-timer-refuses-virtio") {
        Ok(disks) => {
            let mut vm = Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.boot_timer=0xfeb02e00");
            vm.disks = vec![disks[2].0.clone()];
            qemu.push(Case {
                name: "boot-timer-refuses-virtio".into(),
                on: On::Qemu,
                vm,
                input: &[],
                check: Box::new(|o| {
                    ready(o, "pvh")?;
                    expect(o, "virtio: block at 0xfeb02e00")?;
                    expect(o, "warning: boot timer at 0xfeb02e00: Busy; not signalled")
                }),
            });
        }
        Err(e) => eprintln!("cannot make disks: {e}"),
    }
    // Hostile platform tables (crafted ACPI under `acpi=off`): a local APIC address in RAM or at empty MMIO is
    // overruled by the CPU's own (and a 100 ms sleep still ends), an IOAPIC whose GSI range wraps is skipped.
    for (name, boot, lapic, gsi_base, lapic_override, test, needle) in [
        (
            "madt-lapic-in-ram",
            Boot::Pvh,
            0x20_0000,
            0,
            None,
            "sleep",
            "lapic: the ACPI MADT puts the local APIC at 0x200000, the CPU at 0xfee00000 (IA32_APIC_BASE); \
             using the CPU's",
        ),
        (
            "madt-lapic-at-empty-mmio",
            Boot::Linux64,
            0xFEB8_0000,
            0,
            None,
            "sleep",
            "lapic: the ACPI MADT puts the local APIC at 0xfeb80000, the CPU at 0xfee00000",
        ),
        (
            "madt-ioapic-gsi-base-wraps",
            Boot::Pvh,
            0xFEE0_0000,
            0xFFFF_FFFA,
            None,
            "sleep",
            "ioapic: GSI base 0xfffffffa of the IOAPIC at 0xfec00000 leaves no room for its 24 pins; skipped",
        ),
        (
            "madt-lapic-override-past-phys-width",
            Boot::Linux64,
            0xFEE0_0000,
            0,
            Some(0x100_0000_0000),
            "sleep",
            "lapic: the ACPI MADT puts the local APIC at 0x10000000000, the CPU at 0xfee00000",
        ),
    ] {
        let path = crate::image::workspace_root()
            .join("target")
            .join("xtask")
            .join(format!("{name}.bin"));
        if let Err(e) = std::fs::write(&path, crate::tables::acpi_tables(lapic, gsi_base, lapic_override)) {
            eprintln!("cannot write {}: {e}", path.display());
            continue;
        }
        let b = boot.name();
        let mut vm = Vm::new(boot, 64, &format!("console=ttyS0 ember.test={test}"));
        vm.machine.push("acpi=off");
        vm.extra = vec![
            "-device".into(),
            format!("loader,file={},addr={:#x}", path.display(), crate::tables::LOAD_AT),
        ];
        qemu.push(Case {
            name: name.into(),
            on: On::Qemu,
            vm,
            input: &[],
            check: Box::new(move |o| {
                ready(o, b)?;
                expect(o, "platform: ACPI MADT: 1 CPU(s), 1 IOAPIC(s)")?;
                expect(o, needle)?;
                expect(o, "sleep: asked 100000 us, slept ")
            }),
        });
    }
    // A hostile zero page (the shim announces an initrd it never copied): ember ignores an initrd over the
    // kernel image, over page 0 or outside RAM with one line, and fills all memory without touching them.
    for (name, initrd, problem) in [
        (
            "initrd-over-kernel-ignored",
            "0x100000+0x100000",
            "overlaps the kernel image; ignored",
        ),
        ("initrd-over-page-0-ignored", "0x800+0x1000", "overlaps page 0; ignored"),
        (
            "initrd-outside-ram-ignored",
            "0x10000000+0x100000",
            "is not wholly inside RAM; ignored",
        ),
    ] {
        let mut vm = Vm::new(Boot::Linux64, 64, "console=ttyS0 ember.test=fill-memory");
        vm.shim.push(format!("shim.initrd={initrd}"));
        let check: Check = Box::new(move |o| {
            ready(o, "linux64")?;
            expect(o, problem)?;
            if o.output.contains("reserved [") && o.output.contains(") initrd (") {
                return Err("the hostile initrd was reserved".into());
            }
            expect(o, "fill-memory: filled ")
        });
        qemu.push(Case {
            name: name.into(),
            on: On::Qemu,
            vm,
            input: &[],
            check,
        });
    }
    // RAM the zero page claims past the CPU's physical address width (QEMU TCG: 40 bits) or past the direct
    // map's 2^46 is cut with one line, and filling all memory never touches it (a frame there would fault).
    for (name, ram, limit) in [
        ("ram-past-phys-width-cut", "0x10000000000+0x1000000", "0x10000000000"),
        ("ram-past-direct-map-cut", "0x3ffffff00000+0x2000000", "0x400000000000"),
    ] {
        let mut vm = Vm::new(Boot::Linux64, 64, "console=ttyS0 ember.test=fill-memory");
        vm.shim.push(format!("shim.ram={ram}"));
        let needle = format!("reaches past {limit}, beyond what ember can address; cut there");
        qemu.push(Case {
            name: name.into(),
            on: On::Qemu,
            vm,
            input: &[],
            check: Box::new(move |o| {
                ready(o, "linux64")?;
                expect(o, &needle)?;
                expect(o, "fill-memory: filled ")
            }),
        });
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
        (
            "irq-handler-sleeps",
            "irq-sleep",
            Boot::Pvh,
            &[
                "PANIC: panicked at",
                "called in interrupt context (handlers must not sleep or block)",
            ],
        ),
        (
            "irq-handler-traps",
            "irq-trap",
            Boot::Linux64,
            &["FATAL: breakpoint (#BP)", "a trap inside an interrupt or trap handler"],
        ),
        (
            "cpu-tables-twice",
            "cpu-tables-twice",
            Boot::Pvh,
            &["PANIC: panicked at", "gdt::init called twice"],
        ),
    ] {
        let (vm, check) = fault(test, boot, needles);
        add(name, vm, check);
    }
    // Boots that reach ready and print one telling line on the way.
    for (name, boot, cmdline, needle) in [
        (
            "breakpoint-returns",
            Boot::Linux64,
            "console=ttyS0 ember.test=breakpoint",
            "breakpoint at 0xffffffff8",
        ),
        (
            "mmio-maps-devices-only",
            Boot::Pvh,
            "console=ttyS0 ember.test=mmio",
            "mmio: framework devices, RAM and bad ranges refused; exclusive claims hold",
        ),
        (
            "boot-timer-past-phys-width",
            Boot::Pvh,
            "console=ttyS0 ember.boot_timer=0x10000000000",
            "warning: boot timer at 0x10000000000: BadRange; not signalled",
        ),
        (
            "virtio-past-phys-width-skipped",
            Boot::Linux64,
            "console=ttyS0 virtio_mmio.device=512@0x10000000000:5",
            "warning: virtio: cannot map 0x10000000000: BadRange; skipped",
        ),
        (
            "boot-timer-refuses-lapic",
            Boot::Pvh,
            "console=ttyS0 ember.boot_timer=0xfee00300",
            "warning: boot timer at 0xfee00300: FrameworkOwned; not signalled",
        ),
        (
            "boot-timer-refuses-ioapic",
            Boot::Linux64,
            "console=ttyS0 ember.boot_timer=0xfec00010",
            "warning: boot timer at 0xfec00010: FrameworkOwned; not signalled",
        ),
        (
            "boot-timer-refuses-ram",
            Boot::Pvh,
            "console=ttyS0 ember.boot_timer=0x200000",
            "warning: boot timer at 0x200000: NotDevice; not signalled",
        ),
        (
            "unknown-self-test-ignored",
            Boot::Pvh,
            "console=ttyS0 ember.test=nonsense",
            "warning: unknown self-test \"nonsense\" ignored",
        ),
        (
            "loglevel-8-adds-debug",
            Boot::Pvh,
            "console=ttyS0 loglevel=8",
            "ember: debug: free [",
        ),
    ] {
        let b = boot.name();
        add(
            name,
            Vm::new(boot, 64, cmdline),
            Box::new(move |o| {
                ready(o, b)?;
                expect(o, needle)
            }),
        );
    }
    // A command line of exactly 4096 bytes (ember's limit) is kept whole on both entries; one byte more is cut.
    for boot in [Boot::Pvh, Boot::Linux64] {
        for len in [4096, 4097] {
            let b = boot.name();
            let head = "console=ttyS0 pad=";
            let cmdline = format!("{head}{}", "x".repeat(len - head.len()));
            // QEMU only: Firecracker's own limit is 2048 bytes.
            qemu.push(Case {
                name: format!("{b}-cmdline-{len}-bytes"),
                on: On::Qemu,
                vm: Vm::new(boot, 64, &cmdline),
                input: &[],
                check: Box::new(move |o| {
                    ready(o, b)?;
                    let cut = o.output.contains("command line longer than 4096 bytes; cut");
                    match (len, cut) {
                        (4096, true) => Err("a 4096-byte command line was reported as cut".into()),
                        (4097, false) => Err("a 4097-byte command line was not reported as cut".into()),
                        _ => expect(o, &format!("pad={}", "x".repeat(4096 - head.len()))),
                    }
                }),
            });
        }
    }
    add(
        "quiet-prints-only-ready",
        Vm::new(Boot::Pvh, 64, "console=ttyS0 quiet"),
        Box::new(|o| {
            ready(o, "pvh")?;
            match o.output.lines().filter(|l| !l.trim().is_empty()).count() {
                1 => Ok(()),
                n => Err(format!("{n} lines with quiet; only the ready line expected")),
            }
        }),
    );
    time_cases(&mut v);
    firecracker_time_cases(&mut v);
    virtio_cases(&mut v);
    v.extend(qemu);
    v
}

/// The pattern the kernel's `virtio-blk` self-test writes to sectors 8–15 of disk `disk`.
pub fn blk_pattern(disk: usize) -> [u8; 4096] {
    core::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(disk as u8) ^ 0x5A)
}

/// Disk sizes of the virtio tests: different, so the log shows which is which.
const DISK_MIB: [u64; 3] = [64, 8, 1];

/// Makes the disks of one test: a random first 4 KiB (to be read by the guest), zeros after. Returns the paths
/// and the FNV-1a of each first 4 KiB.
fn make_disks(case: &str) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let dir = crate::image::workspace_root().join("target").join("xtask").join(case);
    std::fs::create_dir_all(&dir)?;
    let mut x = 0x2545_f491_4f6c_dd1du64 ^ case.len() as u64;
    DISK_MIB
        .iter()
        .enumerate()
        .map(|(i, mib)| {
            let head: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let path = dir.join(format!("disk{i}.img"));
            let f = std::fs::File::create(&path)?;
            f.set_len(mib << 20)?;
            std::os::unix::fs::FileExt::write_all_at(&f, &head, 0)?;
            Ok((path, fnv1a(&head)))
        })
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// virtio (issue #4): three disks of different sizes and an entropy device, found once each; the guest reads
/// what the host wrote and writes what the host then reads; a command-line entry at empty MMIO and a garbage
/// entry do not stop the boot.
fn virtio_cases(v: &mut Vec<Case>) {
    /// (name, entry, modern, machine options, where the devices are announced, VMMs)
    type Variant = (&'static str, Boot, bool, &'static [&'static str], &'static str, On);
    let variants: [Variant; 7] = [
        ("pvh-legacy-acpi", Boot::Pvh, false, &[], "ACPI", On::Qemu),
        (
            "pvh-legacy-no-acpi",
            Boot::Pvh,
            false,
            &["acpi=off"],
            "command line",
            On::Qemu,
        ),
        ("pvh-modern-acpi", Boot::Pvh, true, &[], "ACPI", On::Qemu),
        (
            "linux64-modern-no-acpi",
            Boot::Linux64,
            true,
            &["acpi=off"],
            "command line",
            On::Qemu,
        ),
        (
            "pvh-legacy-probed",
            Boot::Pvh,
            false,
            &["acpi=off", "auto-kernel-cmdline=off"],
            "probe",
            On::Qemu,
        ),
        ("firecracker-pvh", Boot::Pvh, true, &[], "command line", On::Firecracker),
        (
            "firecracker-linux64",
            Boot::Linux64,
            true,
            &[],
            "command line",
            On::Firecracker,
        ),
    ];
    for (name, boot, modern, machine, source, on) in variants {
        let disks = match make_disks(&format!("virtio-{name}")) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cannot make disks: {e}");
                continue;
            }
        };
        let b = boot.name();
        // A bogus entry names a device, which would rule out probing: the probed variant goes without.
        let probed = source == "probe";
        let cmdline = if probed {
            "console=ttyS0 ember.test=virtio-blk"
        } else {
            "console=ttyS0 ember.test=virtio-blk virtio_mmio.device=4K@0xd0000000:9 virtio_mmio.device=@@@"
        };
        let mut vm = Vm::new(boot, 128, cmdline);
        vm.disks = disks.iter().map(|(p, _)| p.clone()).collect();
        vm.entropy = true;
        vm.modern = modern;
        vm.machine.extend_from_slice(machine);
        let version = if modern {
            "virtio-mmio v2"
        } else {
            "virtio-mmio v1 (legacy)"
        };
        v.push(Case {
            name: format!("virtio-{name}"),
            on,
            vm,
            input: &[],
            check: Box::new(move |o| {
                ready(o, b)?;
                if probed {
                    expect(o, "virtio: no device on the command line and no ACPI; probing")?;
                } else {
                    expect(o, "virtio: ignoring virtio_mmio.device=\"@@@\"")?;
                    expect(o, "virtio: 0xd0000000 (command line): no virtio magic")?;
                }
                let found = o
                    .output
                    .lines()
                    .filter(|l| l.contains(&format!("({version}, from {source})")))
                    .count();
                if found != DISK_MIB.len() + 1 {
                    return Err(format!("{found} virtio devices found, expected {}", DISK_MIB.len() + 1));
                }
                expect(o, "random: seeded with 32 bytes from virtio-rng")?;
                if o.output.contains("completes requests without raising") {
                    return Err("a device with a working interrupt was declared to have none".into());
                }
                // Discovery order decides the guest's numbering; the sizes tell the disks apart.
                for (d, ((path, head), mib)) in disks.iter().zip(DISK_MIB).enumerate() {
                    let sectors = mib << 11;
                    expect(o, &format!(": {mib} MiB ({sectors} sectors, 512-byte blocks)"))?;
                    let line = format!(": {sectors} sectors; head fnv1a={head:016x}");
                    let i: usize = o
                        .output
                        .lines()
                        .find_map(|l| l.strip_prefix("ember: blk")?.strip_suffix(line.as_str())?.parse().ok())
                        .ok_or(format!("no `ember: blkN{line}` in the console output"))?;
                    expect(o, &format!("ember: blk{i}: wrote pattern"))?;
                    if o.stderr.contains("fcrig: disk") {
                        // The rig checks drive d against pattern d: Firecracker announces drives in order, so
                        // the guest must have numbered it d too.
                        let line = format!("fcrig: disk{d} sectors 8-15: pattern ok");
                        if i != d {
                            return Err(format!("drive {d} became blk{i}"));
                        }
                        if !o.stderr.contains(&line) {
                            return Err(format!("no `{line}` from the rig"));
                        }
                    } else {
                        let image = std::fs::read(path).map_err(|e| e.to_string())?;
                        if image.get(4096..8192) != Some(&blk_pattern(i)[..]) {
                            return Err(format!(
                                "{} does not hold blk{i}'s pattern in sectors 8-15",
                                path.display()
                            ));
                        }
                    }
                }
                Ok(())
            }),
        });
    }
}

/// Interrupts and time (issue #3): both entries with ACPI on and off, deterministic time through `-icount`.
fn time_cases(v: &mut Vec<Case>) {
    for boot in [Boot::Pvh, Boot::Linux64] {
        let b = boot.name();
        for acpi in [true, false] {
            let a = if acpi { "acpi" } else { "no-acpi" };
            let mut vm = Vm::new(boot, 64, "console=ttyS0 ember.test=sleep");
            vm.icount = true;
            if !acpi {
                vm.machine.push("acpi=off");
            }
            let platform = if acpi {
                "platform: ACPI MADT: 1 CPU(s), 2 IOAPIC(s)"
            } else {
                "platform: no ACPI or MP table; assuming one IOAPIC"
            };
            v.push(Case {
                name: format!("{b}-{a}-sleep-100ms"),
                on: On::Qemu,
                vm,
                input: &[],
                check: Box::new(move |o| {
                    ready(o, b)?;
                    expect(o, platform)?;
                    expect(o, "ioapic: id 0 at 0xfec00000")?;
                    expect(o, "lapic: xAPIC id 0")?;
                    expect(o, "time: TSC 1000.")?;
                    expect(o, "from PIT calibration")?;
                    expect(o, "timer: APIC one-shot mode at")?;
                    let slept = field(o, "sleep: asked 100000 us, slept ", " us")?;
                    if !(98_000..=102_000).contains(&slept) {
                        return Err(format!("a 100 ms sleep took {slept} us of virtual time"));
                    }
                    Ok(())
                }),
            });
            let mut vm = Vm::new(boot, 64, "console=ttyS0 ember.test=echo");
            if !acpi {
                vm.machine.push("acpi=off");
            }
            v.push(Case {
                name: format!("{b}-{a}-serial-echo"),
                on: On::Qemu,
                vm,
                input: &[("echo: type a line", "hello from the host\r")],
                check: Box::new(move |o| {
                    ready(o, b)?;
                    expect(o, "ember: echo: hello from the host\n")
                }),
            });
        }
    }
    v.push(Case {
        name: "fs-tree".into(),
        on: On::Both,
        vm: Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.test=fs"),
        input: &[],
        check: Box::new(|o| {
            ready(o, "pvh")?;
            expect(o, "fs: terminal output\n")?;
            expect(o, "fs: tree, paths, open flags, devices, pipes checked")
        }),
    });
    v.push(Case {
        name: "tty-line-editing".into(),
        on: On::Qemu,
        vm: Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.test=tty"),
        // ^U kills "junk", DEL erases the "x", the carriage return ends the line as a newline.
        input: &[("tty: type a line", "junk\x15helx\x7fp me\r")],
        check: Box::new(|o| {
            ready(o, "pvh")?;
            expect(o, "tty: read \"help me\\n\"")
        }),
    });
    let mut vm = Vm::new(Boot::Pvh, 64, "console=ttyS0");
    vm.machine.push("rtc=on");
    v.push(Case {
        name: "wall-clock-from-rtc".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| {
            ready(o, "pvh")?;
            let today = host_date("now")?;
            let yesterday = host_date("yesterday")?;
            if o.output.contains(&format!("wall clock {today} "))
                || o.output.contains(&format!("wall clock {yesterday} "))
            {
                Ok(())
            } else {
                Err(format!("no `wall clock {today}` from the CMOS RTC"))
            }
        }),
    });
    let mut vm = Vm::new(Boot::Linux64, 64, "console=ttyS0");
    vm.machine.push("rtc=off");
    v.push(Case {
        name: "no-rtc-warns".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| {
            ready(o, "linux64")?;
            expect(o, "warning: time: no kvmclock and no RTC")
        }),
    });
}

/// Firecracker's clock and timer (issue #3): kvmclock, x2APIC, TSC-deadline, and the boot timer.
fn firecracker_time_cases(v: &mut Vec<Case>) {
    // The PIT fallback on KVM's in-kernel PIT and IOAPIC (Firecracker's MADT names no IRQ 0 override).
    v.push(Case {
        name: "firecracker-lapic-timer-dead-pit-takes-over".into(),
        on: On::Firecracker,
        vm: Vm::new(Boot::Pvh, 64, "console=ttyS0 ember.lapic_timer=dead ember.test=sleep"),
        input: &[],
        check: Box::new(|o| {
            ready(o, "pvh")?;
            expect(
                o,
                "timer: the local APIC timer does not count; using the PIT one-shot on GSI ",
            )?;
            let slept = field(o, "sleep: asked 100000 us, slept ", " us")?;
            if slept < 100_000 {
                return Err(format!("a 100 ms sleep woke after {slept} us"));
            }
            Ok(())
        }),
    });
    for boot in [Boot::Pvh, Boot::Linux64] {
        let b = boot.name();
        v.push(Case {
            name: format!("{b}-kvmclock-sleep-100ms"),
            on: On::Firecracker,
            vm: Vm::new(boot, 64, "console=ttyS0 ember.test=sleep"),
            input: &[],
            check: Box::new(move |o| {
                ready(o, b)?;
                expect(o, "platform: ACPI MADT: 1 CPU(s), 1 IOAPIC(s)")?;
                expect(o, "lapic: x2APIC id 0")?;
                expect(o, "from kvmclock")?;
                expect(o, "UTC from kvmclock")?;
                expect(o, "timer: TSC-deadline mode")?;
                // Only the lower bound: how late a wake-up comes depends on the host (nested virtualization under
                // TCG here), and tests assert no timings. The deterministic ±2% check is the -icount one on QEMU.
                let slept = field(o, "sleep: asked 100000 us, slept ", " us")?;
                if slept < 100_000 {
                    return Err(format!("a 100 ms sleep woke after {slept} us"));
                }
                if !o.stderr.contains("Guest-boot-time") {
                    return Err("Firecracker logged no Guest-boot-time".into());
                }
                Ok(())
            }),
        });
    }
}

/// The host's UTC date `when` ("now", "yesterday") as `YYYY-MM-DD`, from `date`.
fn host_date(when: &str) -> Result<String, String> {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", when, "+%F"])
        .output()
        .map_err(|e| format!("date: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Boots `vm`, collecting the console until QEMU exits (or is killed after [`TIMEOUT`]).
fn boot(images: &Images, vm: &Vm, input: qemu::Input) -> Result<Outcome, String> {
    // The peer boots beside this VM, and both run to their end.
    let peer = vm.peer.as_ref().map(|p| {
        let cmd = p.command(images);
        std::thread::spawn(move || qemu::run(cmd, TIMEOUT, &[]))
    });
    let f = qemu::run(vm.command(images), TIMEOUT, input);
    let peer = match peer.map(|t| t.join().map_err(|_| "the peer VM's thread panicked".to_string())) {
        None => None,
        Some(Ok(Ok(p))) => Some(Box::new(Outcome {
            status: p.status,
            output: p.stdout,
            stderr: p.stderr,
            peer: None,
        })),
        Some(Ok(Err(e)) | Err(e)) => return Err(format!("peer VM: {e}")),
    };
    let f = f?;
    Ok(Outcome {
        status: f.status,
        output: f.stdout,
        stderr: f.stderr,
        peer,
    })
}

/// The boot reached `ready` as its last line, the VM powered off cleanly, and the protocol is `boot`.
fn ready(o: &Outcome, boot: &str) -> Result<Ready, String> {
    let last = o.output.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
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
        cpus: get("cpus=")?.parse().map_err(|_| "bad cpus=")?,
    };
    get("t=")?
        .strip_suffix("us")
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or("bad t=")?;
    if r.boot != boot {
        return Err(format!("booted by {}, expected {boot}", r.boot));
    }
    if o.status != Some(0) {
        return Err(format!("QEMU exit status {:?}, expected 0 (power off)", o.status));
    }
    Ok(r)
}

/// The VM failed (isa-debug-exit status 3) and printed every needle.
fn failed(o: &Outcome, needles: &[&str]) -> Result<(), String> {
    if o.status != Some(3) {
        return Err(format!("QEMU exit status {:?}, expected 3 (failure)", o.status));
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
        return Err(format!("ready says {} MiB, the log {} KiB", r.mem_mib, usable >> 10));
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

/// Writes a pseudo-random initrd of `len` bytes to `target/xtask/<name>`.
fn write_initrd(name: &str, len: usize) -> std::io::Result<TestInitrd> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let dir = crate::image::workspace_root().join("target").join("xtask");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, &data)?;
    Ok(TestInitrd {
        path,
        len,
        fnv1a: fnv1a(&data),
    })
}
