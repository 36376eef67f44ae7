//! Boot tests of user space: real static programs (musl, glibc, Rust, Debian's busybox) run as init from an
//! initramfs, checked by what they print and by the exit status init's end gives QEMU (`2 * N + 1` through
//! `isa-debug-exit`, or 0 for status 0).

use crate::boot_tests::{Case, Check, On, Outcome};
use crate::clients::{self, Initramfs, Libc};
use crate::qemu::{Boot, Vm};
use std::path::PathBuf;

/// QEMU's exit status when init exits with `code`.
fn qemu_status(code: u8) -> i32 {
    if code == 0 { 0 } else { 2 * code as i32 + 1 }
}

/// Init exited with `code` (its line printed, QEMU's status matching), every needle was printed, and the
/// kernel met no system call it does not know.
pub fn exited(o: &Outcome, code: u8, needles: &[&str]) -> Result<(), String> {
    // (1000 is the number `syscalls` uses on purpose to check ENOSYS.)
    let unknown = o
        .output
        .lines()
        .any(|l| l.contains("unknown system call") && !l.contains("call 1000:"));
    if unknown {
        return Err("an unknown system call in the console output".into());
    }
    ended(o, code, needles)
}

/// Init exited with `code` and every needle was printed (unknown system calls allowed).
pub fn ended(o: &Outcome, code: u8, needles: &[&str]) -> Result<(), String> {
    let line = format!("ember: init exited with status {code}");
    if !o.output.contains(&line) {
        return Err(format!("no `{line}`"));
    }
    if o.status != Some(qemu_status(code)) {
        return Err(format!(
            "QEMU exit status {:?}, expected {}",
            o.status,
            qemu_status(code)
        ));
    }
    for n in needles {
        if !o.output.contains(n) {
            return Err(format!("no `{n}` in the console output"));
        }
    }
    for bad in ["ember: PANIC", "ember: FATAL"] {
        if o.output.contains(bad) {
            return Err(format!("`{bad}` in the console output"));
        }
    }
    Ok(())
}

/// Whether the lock-contention report in `output` counts acquisitions of a lock class made in `file` (a line
/// `file:LINE ACQUIRED CONTENDED WAIT_US MAX_WAIT_US` with ACQUIRED > 0, and CONTENDED no more than it).
fn lockstat_counted(output: &str, file: &str) -> Result<(), String> {
    let start = output.find("# class acquired").ok_or("no lock-contention report")?;
    let report = output[start..].split("ember: lockstat end").next().unwrap_or_default();
    let counted = report.lines().filter(|l| l.starts_with(file)).any(|l| {
        let n: Vec<u64> = l.split_whitespace().skip(1).filter_map(|w| w.parse().ok()).collect();
        n.len() == 4 && n[0] > 0 && n[1] <= n[0]
    });
    if counted {
        Ok(())
    } else {
        Err(format!(
            "the lock-contention report counts no lock of {file}:\n{report}"
        ))
    }
}

fn case(name: String, on: On, vm: Vm, input: crate::qemu::Input, check: Check) -> Case {
    Case {
        name,
        on,
        vm,
        input,
        check,
    }
}

fn vm(boot: Boot, initrd: PathBuf, cmdline: &str) -> Vm {
    let mut vm = Vm::new(boot, 128, &format!("console=ttyS0 {cmdline}"));
    vm.initrd = Some(initrd);
    vm
}

/// An initramfs with `program` as `/init` (and busybox, and the musl `hello` at `/hello`).
fn with_init(name: &str, program: &std::path::Path) -> Result<PathBuf, String> {
    Initramfs::new(name)
        .busybox()?
        .file("/hello", &clients::c_program(Libc::Musl, "hello")?)?
        .file("/init", program)?
        .write()
}

/// A shell script as init: listing, a pipe, command substitution, a sleep, a subshell's status, exit 3.
const BUSYBOX_SCRIPT: &str = "#!/bin/sh
ls -1 /
echo pipe: $(echo hello | cat)
x=$(uname -s); echo \"sub: $x\"
sleep 1 && echo slept
( exit 5 ); echo \"status: $?\"
echo \"pid of init: $$\"
busybox ps
busybox free
busybox mount
busybox df /
busybox uptime
grep -E '^(Uid|Gid|VmRSS):' /proc/self/status
echo \"exe: $(readlink /proc/self/exe) self: $(readlink /proc/self) = $$\"
ls /proc/$$/fd
echo \"cmdline: $(tr '\\0' ' ' < /proc/1/cmdline)\"
mkdir -p /mnt/t /mnt/r/bin
busybox mount -t tmpfs -o size=1m,mode=755 scratch /mnt/t && echo inside > /mnt/t/f && cat /mnt/t/f
(cd /mnt/t && cd -P .. && echo \"up from the mount: $(pwd -P)\")
grep /mnt/t /proc/mounts
busybox umount /mnt/t && echo \"after umount: $(ls /mnt/t | wc -l) entries\"
cp /bin/busybox /mnt/r/bin/ && busybox chroot /mnt/r /bin/busybox sh -c 'echo chrooted in $(pwd); ls /'
exit 3
";

/// The threaded clients (pthreads with musl and glibc, Rust threads and channels), 100 rounds.
const REPEAT_SCRIPT: &str = "#!/bin/sh
ok=0; bad=0; i=0
while [ $i -lt 100 ]; do
  if /threads-musl > /o1 && /threads-glibc > /o2 && /rust-hello > /o3; then ok=$((ok+1)); else bad=$((bad+1)); cat /o1 /o2 /o3; fi
  i=$((i+1))
done
echo \"repeat: ok=$ok bad=$bad\"
exit $bad
";

/// Three seeds of the random-syscall stress client, then a clean exit.
const STRESS_SCRIPT: &str = "#!/bin/sh
mkdir -p /tmp
for seed in 1 2 3; do /stress $seed 3000 || exit 1; done
exit 0
";

/// An interactive busybox shell on the serial console: arithmetic, `cat` ended by ^D, ^C on `sleep 100`,
/// `exit 3`.
const SHELL_SESSION: crate::qemu::Input = &[
    ("# ", "echo $((6*7))\r"),
    ("42", "cat\r"),
    ("cat\n", "typed line\r"),
    ("typed line\ntyped line", "\x04"),
    ("# ", "echo after cat\r"),
    // The job prints `started` once it is the terminal's foreground group, then becomes `sleep 100`.
    ("after cat\n", "(echo started; exec sleep 100)\r"),
    ("started\n", "\x03"),
    ("# ", "echo interrupted\r"),
    ("interrupted\n", "exit 3\r"),
];

/// Every user-space case; `Err` when a client cannot be built.
pub fn cases() -> Result<Vec<Case>, String> {
    let mut v = Vec::new();
    for libc in Libc::ALL {
        let l = libc.name();
        let hello = with_init(&format!("hello-{l}"), &clients::c_program(libc, "hello")?)?;
        for boot in [Boot::Pvh, Boot::Linux64] {
            let b = boot.name();
            v.push(case(
                format!("user-hello-{l}-{b}"),
                On::Both,
                vm(boot, hello.clone(), "EMBER_TEST=yes first second"),
                &[],
                Box::new(move |o| {
                    exited(
                        o,
                        7,
                        &[
                            &format!("hello from {l} pid=1 argc=3\n"),
                            "argv[1]=first\n",
                            "argv[2]=second\n",
                            "EMBER_TEST=yes\n",
                        ],
                    )
                }),
            ));
        }
        for (prog, needle) in [
            ("syscalls", ", 0 failed"),
            ("threads", "threads: counter=400000"),
            ("forkexec", "child exited with status 7"),
            ("events", ", 0 failed"),
            ("unix", ", 0 failed"),
            ("hostile", ", 0 failed"),
            ("sysv", ", 0 failed"),
        ] {
            let initrd = with_init(&format!("{prog}-{l}"), &clients::c_program(libc, prog)?)?;
            v.push(case(
                format!("user-{prog}-{l}"),
                On::Both,
                vm(Boot::Pvh, initrd, ""),
                &[],
                Box::new(move |o| exited(o, 0, &[needle])),
            ));
        }
        // The threads client with four vCPUs.
        let mut threads_smp = vm(
            Boot::Pvh,
            with_init(&format!("threads-{l}"), &clients::c_program(libc, "threads")?)?,
            "",
        );
        threads_smp.cpus = 4;
        v.push(case(
            format!("user-threads-{l}-smp-4"),
            On::Both,
            threads_smp,
            &[],
            Box::new(|o| exited(o, 0, &["threads: counter=400000"])),
        ));
        // Work split over one thread per online CPU; the CPU count and getcpu must agree with the VM's.
        let parallel = with_init(&format!("parallel-{l}"), &clients::c_program(libc, "parallel")?)?;
        for cpus in [1, 4, 8] {
            let mut vm = vm(Boot::Pvh, parallel.clone(), "");
            vm.cpus = cpus;
            let count = format!("parallel: cpus={cpus}");
            v.push(case(
                format!("user-parallel-{l}-smp-{cpus}"),
                if cpus == 8 { On::Qemu } else { On::Both },
                vm,
                &[],
                Box::new(move |o| exited(o, 0, &[&count, "parallel: ok sum="])),
            ));
        }
        // What CPUs share, stressed: futex ping-pong across CPUs, TLB shootdown seen from another CPU,
        // map/touch/unmap on every CPU at once, fork+exec from several threads.
        let smp = with_init(&format!("smp-{l}"), &clients::c_program(libc, "smp")?)?;
        if libc == Libc::Musl {
            // Eight vCPUs, with the lock-contention profile on: its report follows init's exit.
            let mut vm = vm(Boot::Pvh, smp.clone(), "ember.lockstat");
            vm.cpus = 8;
            v.push(case(
                "user-smp-musl-smp-8-lockstat".into(),
                On::Qemu,
                vm,
                &[],
                Box::new(|o| {
                    exited(o, 0, &["smp: cpus=8", "smp: ok", "ember: lockstat end"])?;
                    lockstat_counted(&o.output, "frame/src/task/sched.rs:")
                }),
            ));
        }
        let counts: &[u32] = if libc == Libc::Musl { &[1, 2, 4] } else { &[4] };
        for &cpus in counts {
            let mut vm = vm(Boot::Pvh, smp.clone(), "");
            vm.cpus = cpus;
            let count = format!("smp: cpus={cpus}");
            v.push(case(
                format!("user-smp-{l}-smp-{cpus}"),
                On::Both,
                vm,
                &[],
                Box::new(move |o| exited(o, 0, &[&count, "smp: ok"])),
            ));
        }
    }
    // Seeded random system calls with random and hostile arguments: the kernel must survive them all.
    let stress = Initramfs::new("stress")
        .busybox()?
        .file("/stress", &clients::c_program(Libc::Musl, "stress")?)?
        .script("/init", STRESS_SCRIPT)?
        .write()?;
    let mut stress_smp = vm(Boot::Pvh, stress.clone(), "");
    stress_smp.cpus = 2;
    v.push(case(
        "user-random-syscalls-smp-2".into(),
        On::Qemu,
        stress_smp,
        &[],
        Box::new(|o| ended(o, 0, &["stress: seed=3 count=3000 done"])),
    ));
    v.push(case(
        "user-random-syscalls".into(),
        On::Both,
        vm(Boot::Pvh, stress, ""),
        &[],
        Box::new(|o| {
            ended(
                o,
                0,
                &[
                    "stress: seed=1 count=3000 done",
                    "stress: seed=2 count=3000 done",
                    "stress: seed=3 count=3000 done",
                ],
            )
        }),
    ));
    // The threaded clients, 100 times in a row in one boot.
    let repeat = Initramfs::new("threads-repeat")
        .busybox()?
        .file("/threads-musl", &clients::c_program(Libc::Musl, "threads")?)?
        .file("/threads-glibc", &clients::c_program(Libc::Glibc, "threads")?)?
        .file("/rust-hello", &clients::rust_hello()?)?
        .script("/init", REPEAT_SCRIPT)?
        .write()?;
    v.push(case(
        "user-threads-100-times".into(),
        On::Both,
        vm(Boot::Pvh, repeat, ""),
        &[],
        Box::new(|o| exited(o, 0, &["repeat: ok=100 bad=0"])),
    ));
    let rust = with_init("rust-hello", &clients::rust_hello()?)?;
    v.push(case(
        "user-rust-std".into(),
        On::Both,
        vm(Boot::Pvh, rust, ""),
        &[],
        Box::new(|o| exited(o, 0, &["rust: sum="])),
    ));
    let script = Initramfs::new("busybox-script")
        .busybox()?
        .script("/init", BUSYBOX_SCRIPT)?
        .write()?;
    for boot in [Boot::Pvh, Boot::Linux64] {
        v.push(case(
            format!("user-busybox-script-{}", boot.name()),
            On::Both,
            vm(boot, script.clone(), ""),
            &[],
            Box::new(|o| {
                exited(
                    o,
                    3,
                    &[
                        "\nbin\n",
                        "pipe: hello\n",
                        "sub: Linux\n",
                        "slept\n",
                        "status: 5\n",
                        "pid of init: 1\n",
                        "PID   USER",
                        "    1 0        /bin/sh /init\n",
                        "\nMem:",
                        "tmpfs on / type tmpfs (rw)\n",
                        "% /\n",
                        " load average: 0.",
                        "Uid:\t0\t0\t0\t0\n",
                        "exe: /bin/busybox self: ",
                        "cmdline: /bin/sh /init \n",
                        "inside\n",
                        "up from the mount: /mnt\n",
                        "scratch /mnt/t tmpfs rw,size=1m,mode=755 0 0\n",
                        "after umount: 0 entries\n",
                        "chrooted in /\nbin\n",
                    ],
                )
            }),
        ));
    }
    let shell = clients::default_initrd()?;
    v.push(case(
        "user-busybox-interactive".into(),
        On::Qemu,
        vm(Boot::Pvh, shell, ""),
        SHELL_SESSION,
        Box::new(|o| {
            exited(
                o,
                3,
                &[
                    "42\n",
                    "typed line\ntyped line\n",
                    "after cat\n",
                    "started\n",
                    "interrupted\n",
                ],
            )
        }),
    ));
    v.extend(crate::initrd_tests::cases()?);
    v.extend(crate::disk_tests::cases()?);
    v.extend(crate::partition_tests::cases()?);
    v.extend(crate::disk_error_tests::cases()?);
    // No init anywhere: Linux's "no working init found", as a failure.
    let empty = Initramfs::new("no-init")
        .script("/etc/motd", "nothing to run here\n")?
        .write_without_init()?;
    v.push(case(
        "user-no-init".into(),
        On::Qemu,
        vm(Boot::Pvh, empty, ""),
        &[],
        Box::new(|o| {
            if o.status != Some(3) || !o.output.contains("ember: no working init found") {
                return Err("no `no working init found` failure".into());
            }
            Ok(())
        }),
    ));
    // Self-tests of the framework's tasks and user mode.
    for (test, needle) in [
        ("tasks", "tasks: 10 turns, sleeper woke"),
        (
            "user-mode",
            "user-mode: syscall, page fault, 3 timer interrupts, bad RIP refused",
        ),
        ("heap-fragmented", "4 MiB allocated"),
    ] {
        v.push(case(
            format!("selftest-{test}"),
            On::Both,
            Vm::new(Boot::Pvh, 64, &format!("console=ttyS0 ember.test={test}")),
            &[],
            Box::new(move |o| {
                if o.status != Some(0) || !o.output.contains(needle) {
                    return Err(format!("no `{needle}` or a failed boot"));
                }
                Ok(())
            }),
        ));
    }
    Ok(v)
}
