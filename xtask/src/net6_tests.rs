//! IPv6 boot tests: the `inet6` client over ::1 (with no network device, on QEMU and Firecracker) and
//! against the host's echo servers through QEMU's user network (`-netdev user` has IPv6 on: it advertises
//! fec0::/64 and forwards [fec0::2] to the host's ::1); busybox `ip -6`, `ping6` and `wget` on it.

use crate::boot_tests::{Case, On};
use crate::clients::{self, Initramfs, Libc};
use crate::net_tests::{HTTP_BODY, http_server_at, tcp_echo_at, udp_echo_at};
use crate::qemu::{Boot, Vm};

/// The guest's IPv4 address on QEMU's user network, as `ip=` gives it.
const GUEST_IP: &str = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off";

/// Waits up to 15 s for the address router advertisements give (busybox shell).
const WAIT_SLAAC: &str =
    "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do grep -q fec0 /proc/net/if_inet6 && break; sleep 1; done\n";

/// The IPv6 cases; without an IPv6 loopback on the host for the servers, the user-network ones are left out
/// with a line saying so.
pub fn cases() -> Result<Vec<Case>, String> {
    let inet6 = clients::c_program(Libc::Musl, "inet6")?;
    let mut lo_vm = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    lo_vm.initrd = Some(Initramfs::new("net6-loopback").file("/init", &inet6)?.write()?);
    let mut cases = vec![Case {
        name: "net6-inet6-loopback".into(),
        on: On::Both,
        vm: lo_vm,
        input: &[],
        check: Box::new(|o| crate::user_tests::exited(o, 0, &["inet6: 32 passed, 0 failed"])),
    }];
    let (tcp, udp, http) = match (tcp_echo_at("::1"), udp_echo_at("::1"), http_server_at("::1")) {
        (Ok(t), Ok(u), Ok(h)) => (t, u, h),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            println!("net6: the host has no IPv6 loopback ({e}); the user-network IPv6 cases are left out");
            return Ok(cases);
        }
    };
    let mut host_vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {GUEST_IP} {tcp} {udp}"));
    host_vm.initrd = Some(Initramfs::new("net6-host").file("/init", &inet6)?.write()?);
    host_vm.net = Some(String::new());
    cases.push(Case {
        name: "net6-user-inet6".into(),
        on: On::Qemu,
        vm: host_vm,
        input: &[],
        check: Box::new(|o| crate::user_tests::exited(o, 0, &["virtio: net at", "inet6: 37 passed, 0 failed"])),
    });
    let mut bb = Initramfs::new("net6-busybox").busybox()?;
    for applet in ["ip", "ping", "ping6", "wget", "grep"] {
        bb = bb.symlink(&format!("/bin/{applet}"), "busybox")?;
    }
    let script = format!(
        "#!/bin/sh\n\
         {WAIT_SLAAC}\
         ip -6 addr; ip -6 route; cat /proc/net/if_inet6 /proc/net/ipv6_route\n\
         ip -6 addr show dev eth0 | grep -q 'inet6 fe80::5054:ff:fe12:3456/64 scope link' && echo ll-ok\n\
         ip -6 addr show dev lo | grep -q 'inet6 ::1/128 scope host' && echo lo6-ok\n\
         grep -q '^fec0000000000000505400fffe123456 02 40 40 [0-9a-f][0-9a-f]     eth0$' /proc/net/if_inet6 && echo slaac-ok\n\
         ip -6 route | grep -q '^default via fe80::2 dev eth0' && echo ra-route-ok\n\
         ping6 -c 2 ::1 | grep -q '2 packets received' && echo ping6-lo-ok\n\
         ping -6 -c 1 fec0::5054:ff:fe12:3456 | grep -q '1 packets received' && echo ping6-own-ok\n\
         ping6 -c 2 fec0::2 | grep -q '2 packets received' && echo ping6-gw-ok\n\
         ip -6 addr add fec0::10/64 dev eth0 && ping6 -c 1 fec0::10 | grep -q '1 packets received' && echo addr-add-ok\n\
         ip -6 addr del fec0::10/64 dev eth0 && ! grep -q '^fec0000000000000000000000000010' /proc/net/if_inet6 && echo addr-del-ok\n\
         ip -6 route add fd00::/64 via fec0::2 && ip -6 route | grep -q '^fd00::/64 via fec0::2 dev eth0' && echo route-add-ok\n\
         ip -6 route del fd00::/64 via fec0::2 && ! ip -6 route | grep -q fd00 && echo route-del-ok\n\
         wget -q -O - 'http://[fec0::2]:{http}/' && echo wget6-ok\n\
         ip link set eth0 down && ! ping6 -c 1 -W 1 fec0::2 >/dev/null 2>&1 && echo link-down-ok\n\
         ip link set eth0 up && ping6 -c 1 fec0::2 | grep -q '1 packets received' && echo link-up-ok\n"
    );
    let mut bb_vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {GUEST_IP}"));
    bb_vm.initrd = Some(bb.script("/init", &script)?.write()?);
    bb_vm.net = Some(String::new());
    cases.push(Case {
        name: "net6-user-busybox".into(),
        on: On::Qemu,
        vm: bb_vm,
        input: &[],
        check: Box::new(|o| {
            crate::user_tests::exited(
                o,
                0,
                &[
                    "ll-ok",
                    "lo6-ok",
                    "slaac-ok",
                    "ra-route-ok",
                    "ping6-lo-ok",
                    "ping6-own-ok",
                    "ping6-gw-ok",
                    "addr-add-ok",
                    "addr-del-ok",
                    "route-add-ok",
                    "route-del-ok",
                    HTTP_BODY.trim_end(),
                    "wget6-ok",
                    "link-down-ok",
                    "link-up-ok",
                ],
            )
        }),
    });
    Ok(cases)
}
