//! Firecracker's own services, on Firecracker only. vsock: the `vsock` client as init talks to `vsock-host`
//! (`clients/c/vsock-host.c`) running beside Firecracker, both ways, with the data checked at both ends
//! (QEMU's `vhost-vsock-device` needs `/dev/vhost-vsock` on the host, which this machine lacks). MMDS: the
//! `mmds` client reads the metadata service (version 2: token `PUT`, then `GET`) over a network device whose
//! host side is a tap device in the rig's Linux. vsock across a snapshot restore: the `vsock-snap` client holds
//! a connection each way when the rig snapshots the VM and restores it in a new Firecracker
//! (the snapshot job of `firecracker.rs`): Firecracker queues the transport-reset event when it takes the
//! snapshot and signals it again when the restored VM resumes.

use crate::boot_tests::{Case, On};
use crate::clients::{self, Initramfs, Libc};
use crate::firecracker::{SNAPSHOT_MARK, Snapshot, VSOCK_UDS, VsockPeer};
use crate::qemu::{Boot, Vm};

/// The guest's CID.
const GUEST_CID: u32 = 3;
/// Bytes the host sends the guest's server (`HOST_BYTES` in `clients/c/vsock.c`).
const HOST_BYTES: u32 = 200_000;

/// The host's side: an echo server for the guest's two connections to port 5000 (nothing on 5001, so that
/// connection is refused), and a client of the guest's server on port 6000.
fn host_script() -> String {
    format!(
        "timeout 50 ./vsock-host echo {VSOCK_UDS}_5000 2 &\n\
         timeout 50 ./vsock-host send {VSOCK_UDS} 6000 {HOST_BYTES}\n\
         wait\n"
    )
}

/// Bytes the host sends the guest's server after the restore (`HOST_BYTES` in `clients/c/vsock-snap.c`).
pub const SNAP_HOST_BYTES: u32 = 100_000;

/// The host's side of the snapshot case: an echo server for the guest's connection before the snapshot
/// (ended when the first Firecracker stops) and the one after the restore; a connection to the guest's port
/// 6000 held across the snapshot (`hold` returns when the first Firecracker stops), then, once the restored
/// Firecracker listens on the socket again, a new one that sends data.
fn snapshot_host_script() -> String {
    format!(
        "timeout 90 ./vsock-host echo {VSOCK_UDS}_5000 2 &\n\
         timeout 60 ./vsock-host hold {VSOCK_UDS} 6000\n\
         timeout 60 ./vsock-host send {VSOCK_UDS} 6000 {SNAP_HOST_BYTES}\n\
         wait\n"
    )
}

/// The snapshot case: `vsock-snap` as init across a snapshot restore, and what the host side saw.
fn snapshot_case(host: &std::path::Path) -> Result<Case, String> {
    let initrd = Initramfs::new("vsock-snap-musl")
        .file("/init", &clients::c_program(Libc::Musl, "vsock-snap")?)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 64, "console=ttyS0");
    vm.initrd = Some(initrd);
    vm.snapshot = Snapshot::Restore;
    vm.vsock = Some(VsockPeer {
        guest_cid: GUEST_CID,
        script: snapshot_host_script(),
        files: vec![("vsock-host".into(), host.to_path_buf())],
    });
    Ok(Case {
        name: "vsock-snapshot-firecracker".into(),
        on: On::Firecracker,
        vm,
        input: &[],
        check: Box::new(|o| {
            crate::user_tests::exited(
                o,
                0,
                &[
                    &format!("vsock-snap: local CID {GUEST_CID}\n"),
                    SNAPSHOT_MARK,
                    "vsock: transport reset",
                    "vsock-snap: both connections reset\n",
                    "vsock-snap: guest->host after the restore: echo 65536 bytes\n",
                    &format!("vsock-snap: host->guest after the restore: {SNAP_HOST_BYTES} bytes\n"),
                    ", 0 failed",
                ],
            )?;
            let host = [
                "fc-api: PATCH /vm: 204",
                "fc-api: PUT /snapshot/create: 204",
                "fcrig: snapshot: made",
                "fc-api: PUT /snapshot/load: 204",
                "vsock-host: echoed 4096 bytes",
                "vsock-host: holding a connection to guest port 6000",
                "vsock-host: the held connection ended",
                "vsock-host: echoed 65536 bytes",
                "host->guest ok",
            ];
            host_printed(&o.stderr, &host)
        }),
    })
}

/// How many times the clones case restores its snapshot (`fc_clones.sh`); clone 1 keeps its TCP connection.
const CLONES: usize = 4;

/// The clones case: `vsock-snap net` as init with a network device (MMDS version 2 and the rig's Linux on a
/// tap) and vsock, snapshotted once and restored [`CLONES`] times (`Snapshot::Clones`); each clone checks
/// MMDS, TCP and vsock after its restore.
fn clones_case(host: &std::path::Path) -> Result<Case, String> {
    let initrd = Initramfs::new("vsock-snap-musl")
        .file("/init", &clients::c_program(Libc::Musl, "vsock-snap")?)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 64, &format!("console=ttyS0 {MMDS_GUEST_IP} net"));
    vm.initrd = Some(initrd);
    vm.snapshot = Snapshot::Clones;
    vm.mmds = Some(METADATA.into());
    vm.vsock = Some(VsockPeer {
        guest_cid: GUEST_CID,
        script: snapshot_host_script(),
        files: vec![("vsock-host".into(), host.to_path_buf())],
    });
    Ok(Case {
        name: "snapshot-clones-firecracker".into(),
        on: On::Firecracker,
        vm,
        input: &[],
        check: Box::new(|o| {
            crate::user_tests::exited(
                o,
                0,
                &[SNAPSHOT_MARK, "vsock-snap: TCP after the restore: held connection kept"],
            )?;
            let count = |s: &str, n: &str| s.matches(n).count();
            let each = [
                "ember: init exited with status 0",
                "vsock-snap: both connections reset\n",
                "vsock-snap: guest->host after the restore: echo 65536 bytes\n",
                &format!("vsock-snap: host->guest after the restore: {SNAP_HOST_BYTES} bytes\n"),
                ", 0 failed",
            ];
            for n in each {
                if count(&o.output, n) != CLONES {
                    return Err(format!(
                        "`{n}` printed {} times, not once per clone ({CLONES})",
                        count(&o.output, n)
                    ));
                }
            }
            for k in 1..=CLONES {
                let done = format!("vsock-snap: clone {k} done");
                if !o.output.contains(&done) {
                    return Err(format!("no `{done}`"));
                }
            }
            // getrandom() after the restore: the kernel reseeds from the VM generation ID, so clones differ.
            let mut drawn: Vec<&str> = o
                .output
                .lines()
                .filter_map(|l| l.split_once(": random ").map(|x| x.1))
                .collect();
            drawn.sort_unstable();
            drawn.dedup();
            if drawn.len() != CLONES {
                return Err(format!("{} different random numbers from {CLONES} clones", drawn.len()));
            }
            if count(&o.output, "random: the VM generation ID changed") != CLONES {
                return Err("a clone did not reseed its generator from the new VM generation ID".into());
            }
            let reset = "held connection reset, new connection echoes 65536 bytes";
            if count(&o.output, reset) != CLONES - 1 {
                return Err(format!("`{reset}` not printed by the {} other clones", CLONES - 1));
            }
            let host_each = [
                // What MMDS holds after a restore before the rig puts the clone's metadata: nothing.
                "fc-api: GET /mmds: 200 {}",
                "fc-api: PATCH /mmds: 400",
                "fc-api: PUT /mmds: 204",
                "vsock-host: echoed 65536 bytes",
                "host->guest ok",
                "restore to first response: ",
            ];
            for n in host_each {
                if count(&o.stderr, n) != CLONES {
                    return Err(format!(
                        "the host side printed `{n}` {} times, not {CLONES}",
                        count(&o.stderr, n)
                    ));
                }
            }
            host_printed(
                &o.stderr,
                &["fcrig: snapshot: made", "fc-api: PUT /snapshot/create: 204"],
            )
        }),
    })
}

/// The host side of a vsock case (its output in `stderr`) printed every line of `needles` and no failure.
fn host_printed(stderr: &str, needles: &[&str]) -> Result<(), String> {
    if let Some(needle) = needles.iter().find(|n| !stderr.contains(*n)) {
        return Err(format!("the host side printed no `{needle}`"));
    }
    if stderr.contains("FAIL") {
        return Err("the host side failed".into());
    }
    Ok(())
}

/// What MMDS serves.
const METADATA: &str = r#"{ "ember": { "greeting": "hello from mmds" } }"#;
/// The guest's address: link-local, so that MMDS's 169.254.169.254 is on the link (Firecracker answers ARP
/// for it; the tap behind the device has no address).
const MMDS_GUEST_IP: &str = "ip=169.254.0.2:::255.255.0.0::eth0:off";

/// The vsock and MMDS cases.
pub fn cases() -> Result<Vec<Case>, String> {
    let mut v = Vec::new();
    let initrd = Initramfs::new("mmds-musl")
        .busybox()?
        .file("/init", &clients::c_program(Libc::Musl, "mmds")?)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {MMDS_GUEST_IP}"));
    vm.initrd = Some(initrd);
    vm.mmds = Some(METADATA.into());
    v.push(Case {
        name: "mmds-firecracker".into(),
        on: On::Firecracker,
        vm,
        input: &[],
        check: Box::new(|o| {
            crate::user_tests::exited(
                o,
                0,
                &[
                    "mmds: token ",
                    "mmds: without the token: 401\n",
                    "mmds: /ember/greeting = hello from mmds\n",
                ],
            )
        }),
    });
    let host = clients::c_program(Libc::Musl, "vsock-host")?;
    for libc in Libc::ALL {
        let l = libc.name();
        let initrd = Initramfs::new(&format!("vsock-{l}"))
            .busybox()?
            .file("/init", &clients::c_program(libc, "vsock")?)?
            .write()?;
        let mut vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
        vm.initrd = Some(initrd);
        vm.vsock = Some(VsockPeer {
            guest_cid: GUEST_CID,
            script: host_script(),
            files: vec![("vsock-host".into(), host.clone())],
        });
        v.push(Case {
            name: format!("vsock-firecracker-{l}"),
            on: On::Firecracker,
            vm,
            input: &[],
            check: Box::new(|o| {
                crate::user_tests::exited(
                    o,
                    0,
                    &[
                        &format!("vsock: local CID {GUEST_CID}\n"),
                        "vsock: guest->host echo 65536 bytes\n",
                        &format!("vsock: host->guest {HOST_BYTES} bytes\n"),
                        ", 0 failed",
                    ],
                )?;
                host_printed(
                    &o.stderr,
                    &[
                        "vsock-host: echoed 65536 bytes",
                        "vsock-host: echoed 4 bytes",
                        "host->guest ok",
                    ],
                )
            }),
        });
    }
    v.push(snapshot_case(&host)?);
    v.push(clones_case(&host)?);
    Ok(v)
}
