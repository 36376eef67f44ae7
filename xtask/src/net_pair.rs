//! The two-VM rig: two microVMs on one Ethernet (ember and ember, ember and Debian's Linux), QEMU's `-netdev dgram` in each sending its frames as
//! UDP datagrams on 127.0.0.1 to the other's (loopback only, no privileges). Static addresses from `ip=`
//! (10.0.3.1 and 10.0.3.2, no gateway) and the EUI-64 link-local addresses of their MACs. Each VM's init
//! (busybox `sh`) pings the other over IPv4 and IPv6 link-local, so ARP and NDP are resolved by the two real
//! stacks, then runs `clients/c/pair.c`: TCP and UDP echo both ways and over both families, multicast
//! memberships and options. QEMU's `filter-dump` records the receiver's traffic; the check reads the IGMP and
//! MLD reports smoltcp sent for its memberships there.

use crate::boot_tests::{Case, On, Outcome};
use crate::clients::{self, Initramfs, Libc};
use crate::qemu::{Boot, Vm};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};

/// One side: its name for `pair`, address, MAC and link-local address.
struct Side {
    role: &'static str,
    ip: &'static str,
    mac: &'static str,
    link_local: &'static str,
}

const A: Side = Side {
    role: "a",
    ip: "10.0.3.1",
    mac: "52:54:00:12:34:56",
    link_local: "fe80::5054:ff:fe12:3456",
};
const B: Side = Side {
    role: "b",
    ip: "10.0.3.2",
    mac: "52:54:00:12:34:57",
    link_local: "fe80::5054:ff:fe12:3457",
};

/// A UDP port on 127.0.0.1 free now (QEMU binds it when it starts).
fn free_port() -> Result<u16, String> {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("udp socket: {e}"))
}

/// Joins `vm` to the wire as `me`: its end at `local`, the peer's at `remote`; `dump`: record its traffic there.
fn wire(vm: &mut Vm, me: &Side, local: u16, remote: u16, dump: Option<&Path>) {
    vm.extra = crate::qemu::dgram_net(local, remote, &format!(",mac={}", me.mac));
    if let Some(dump) = dump {
        vm.extra.push("-object".into());
        vm.extra
            .push(format!("filter-dump,id=d0,netdev=n0,file={}", dump.display()));
    }
}

/// The busybox lines that ping `peer` (once it answers, for up to a minute), over IPv4 and IPv6 link-local.
fn pings(peer: &Side) -> String {
    format!(
        "for i in $(seq 60); do ping -c 1 -W 1 {ip} >/dev/null 2>&1 && break; done\n\
         ping -c 2 {ip} | grep -q '2 packets received' && echo ping-peer-ok\n\
         ping6 -c 2 -I eth0 {ll} | grep -q '2 packets received' && echo ping6-peer-ok\n",
        ip = peer.ip,
        ll = peer.link_local,
    )
}

/// Busybox with the applets the init scripts use.
fn busybox(name: &str) -> Result<Initramfs, String> {
    let mut bb = Initramfs::new(name).busybox()?;
    for applet in ["ping", "ping6", "grep", "seq", "ip", "insmod"] {
        bb = bb.symlink(&format!("/bin/{applet}"), "busybox")?;
    }
    Ok(bb)
}

/// `me`'s VM on ember, `ip=` giving its address.
fn ember_side(me: &Side, peer: &Side) -> Result<Vm, String> {
    let script = format!(
        "#!/bin/sh\n{}exec /pair {} {} {}\n",
        pings(peer),
        me.role,
        peer.ip,
        peer.link_local
    );
    let mut vm = Vm::new(
        Boot::Pvh,
        128,
        &format!("console=ttyS0 ip={}::0.0.0.0:255.255.255.0::eth0:off", me.ip),
    );
    vm.initrd = Some(
        busybox(&format!("net-pair-{}", me.role))?
            .script("/init", &script)?
            .file("/pair", &clients::c_program(Libc::Musl, "pair")?)?
            .write()?,
    );
    Ok(vm)
}

/// `me`'s VM on Debian's Linux (`linux`): its init loads the virtio-net modules, sets the address with `ip`,
/// waits for IPv6 duplicate address detection to finish, and ends (Linux then panics and QEMU, told not to
/// reboot, exits) when `pair` does.
fn linux_side(me: &Side, peer: &Side, linux: &Path) -> Result<Vm, String> {
    let script = format!(
        "#!/bin/sh\n\
         while read m; do insmod /modules/$m.ko; done < /modules/order\n\
         ip link set lo up; ip link set eth0 up; ip addr add {ip}/24 dev eth0\n\
         for i in $(seq 20); do ip -6 addr show dev eth0 | grep -v tentative | grep -q 'scope link' && break; sleep 1; done\n\
         {pings}exec /pair {role} {peer} {ll}\n",
        ip = me.ip,
        pings = pings(peer),
        role = me.role,
        peer = peer.ip,
        ll = peer.link_local,
    );
    let scratch = crate::image::workspace_root().join("target/clients/net-pair-linux");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let image = busybox("net-pair-linux")?
        .script("/init", &script)?
        .file("/pair", &clients::c_program(Libc::Musl, "pair")?)?;
    let image = crate::bench_ext4::linux_modules(image, linux, &crate::bench_net::MODULES, &scratch)?;
    let mut vm = Vm::new(
        Boot::Pvh,
        256,
        &format!("console=ttyS0 panic=-1 {}", crate::bench::tsc_early_khz()),
    );
    vm.initrd = Some(image.write()?);
    vm.kernel = Some(linux.to_path_buf());
    Ok(vm)
}

/// The Ethernet frames of a pcap file (QEMU's `filter-dump` writes the classic format, host byte order).
fn frames(pcap: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(h) = pcap.get(at..at + 16) {
        let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let Some(f) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        out.push(f);
        at += 16 + len;
    }
    out
}

/// What a capture says of memberships: the IGMP messages (type, group), and the groups MLDv2 reports name.
type Reports = (Vec<(u8, [u8; 4])>, Vec<[u8; 16]>);

/// The membership reports in `frames`.
fn reports(frames: &[&[u8]]) -> Reports {
    let (mut igmp, mut mld) = (Vec::new(), Vec::new());
    for f in frames {
        match f.get(12..14) {
            Some([0x08, 0x00]) if f.get(23) == Some(&2) => {
                let ihl = usize::from(f.get(14).map_or(5, |b| b & 15)) * 4;
                if let Some(m) = f.get(14 + ihl..14 + ihl + 8) {
                    igmp.push((m[0], [m[4], m[5], m[6], m[7]]));
                }
            }
            // IPv6, a hop-by-hop header (router alert) before ICMPv6.
            Some([0x86, 0xdd]) if f.get(20) == Some(&0) && f.get(54) == Some(&58) => {
                let icmp = 54 + (usize::from(f.get(55).copied().unwrap_or(0)) + 1) * 8;
                if f.get(icmp) != Some(&143) {
                    continue;
                }
                let n = f
                    .get(icmp + 6..icmp + 8)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                let mut rec = icmp + 8;
                for _ in 0..n {
                    let Some(r) = f.get(rec..rec + 20) else { break };
                    mld.push(r[4..20].try_into().expect("16 bytes"));
                    let sources = usize::from(u16::from_be_bytes([r[2], r[3]]));
                    rec += 20 + usize::from(r[1]) * 4 + sources * 16;
                }
            }
            _ => {}
        }
    }
    (igmp, mld)
}

/// Both sides passed: an ember side's init exited 0, a Linux side printed no failure.
fn both_passed(o: &Outcome, linux_peer: bool) -> Result<(), String> {
    let needles = ["ping-peer-ok", "ping6-peer-ok"];
    crate::user_tests::exited(o, 0, &[&needles[..], &["pair-a: "]].concat())?;
    let peer = o.peer.as_ref().ok_or("no peer VM")?;
    if linux_peer {
        for n in [&needles[..], &["pair-b: "]].concat() {
            if !peer.output.contains(n) {
                return Err(format!("no `{n}` on the Linux peer's console"));
            }
        }
        if !peer
            .output
            .lines()
            .any(|l| l.starts_with("pair-b: ") && l.ends_with(" passed, 0 failed"))
        {
            return Err("pair failed on the Linux peer".into());
        }
        Ok(())
    } else {
        crate::user_tests::exited(peer, 0, &[&needles[..], &["pair-b: "]].concat()).map_err(|e| format!("peer: {e}"))
    }
}

/// The receiver announced its memberships in the capture `dump`: an IGMPv2 report for 239.1.2.3 and a leave
/// for it, MLDv2 reports naming ff12::1234 (at the join and the leave).
fn announced(dump: &Path) -> Result<(), String> {
    let pcap = std::fs::read(dump).map_err(|e| format!("{}: {e}", dump.display()))?;
    let (igmp, mld) = reports(&frames(&pcap));
    let group = [239, 1, 2, 3];
    if !igmp.contains(&(0x16, group)) || !igmp.contains(&(0x17, group)) {
        return Err(format!(
            "no IGMPv2 report and leave for 239.1.2.3 from the receiver: {igmp:?}"
        ));
    }
    let group6: [u8; 16] = std::net::Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0, 0, 0x1234).octets();
    if mld.iter().filter(|g| **g == group6).count() < 2 {
        return Err(format!(
            "no MLDv2 reports for ff12::1234 at its join and leave: {mld:x?}"
        ));
    }
    Ok(())
}

/// ember↔ember, and ember↔Linux (Linux as `b`, the receiver) unless Debian's kernel cannot be had (then a
/// line says so).
pub fn cases() -> Result<Vec<Case>, String> {
    let (port_a, port_b) = (free_port()?, free_port()?);
    let dump: PathBuf = crate::image::workspace_root().join("target/clients/net-pair-b.pcap");
    // A capture left by an earlier run must not stand in for this one's.
    let _ = std::fs::remove_file(&dump);
    let mut vm = ember_side(&A, &B)?;
    wire(&mut vm, &A, port_a, port_b, None);
    let mut peer = ember_side(&B, &A)?;
    wire(&mut peer, &B, port_b, port_a, Some(&dump));
    vm.peer = Some(Box::new(peer));
    let mut cases = vec![Case {
        name: "net-pair-ember".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(move |o| both_passed(o, false).and_then(|()| announced(&dump))),
    }];
    let linux = match crate::bench::linux_kernel() {
        Ok(l) => l,
        Err(e) => {
            println!("net-pair: no Linux kernel ({e}); the ember-Linux case is left out");
            return Ok(cases);
        }
    };
    let (port_a, port_b) = (free_port()?, free_port()?);
    let mut vm = ember_side(&A, &B)?;
    wire(&mut vm, &A, port_a, port_b, None);
    let mut peer = linux_side(&B, &A, &linux)?;
    wire(&mut peer, &B, port_b, port_a, None);
    vm.peer = Some(Box::new(peer));
    cases.push(Case {
        name: "net-pair-linux".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| both_passed(o, true)),
    });
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_igmp_and_mld_reports() {
        let mut pcap = vec![0u8; 24];
        let mut add = |f: Vec<u8>| {
            let mut h = vec![0u8; 16];
            h[8..12].copy_from_slice(&(f.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&h);
            pcap.extend_from_slice(&f);
        };
        // Ethernet + IPv4 (proto 2) + an IGMPv2 report for 239.1.2.3.
        let mut v4 = vec![0u8; 12];
        v4.extend_from_slice(&[0x08, 0x00, 0x46, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        v4.extend_from_slice(&[0u8; 14]);
        v4.extend_from_slice(&[0x16, 0, 0, 0, 239, 1, 2, 3]);
        add(v4);
        // Ethernet + IPv6 (hop-by-hop, 8 bytes) + an MLDv2 report with one record.
        let mut v6 = vec![0u8; 12];
        v6.extend_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0u8; 40];
        ip[6] = 0;
        v6.extend_from_slice(&ip);
        v6.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]);
        v6.extend_from_slice(&[143, 0, 0, 0, 0, 0, 0, 1]);
        v6.extend_from_slice(&[4, 0, 0, 0]);
        v6.extend_from_slice(&[0xff, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34]);
        add(v6);
        let f = frames(&pcap);
        assert_eq!(f.len(), 2);
        let (igmp, mld) = reports(&f);
        assert_eq!(igmp, vec![(0x16, [239, 1, 2, 3])]);
        assert_eq!(mld.len(), 1);
        assert_eq!((mld[0][0], mld[0][15]), (0xff, 0x34));
        // A truncated file yields the whole frames before the cut.
        assert_eq!(frames(&pcap[..pcap.len() - 1]).len(), 1);
    }
}
