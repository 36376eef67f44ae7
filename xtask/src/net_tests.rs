//! Network boot tests: the `inet` client on QEMU's user-mode network (`-netdev user`, no privileges), against
//! servers this process runs on the host's loopback (the guest reaches the host at 10.0.2.2): a TCP echo
//! server, a UDP echo server, and a client that reaches the guest's server through `hostfwd`. The
//! modern-transport case takes its address from QEMU's DHCP server.

use crate::boot_tests::{Case, On};
use crate::clients::{self, Initramfs, Libc};
use crate::qemu::{Boot, Vm};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

/// The guest's address on QEMU's user network, as `ip=` gives it.
pub const GUEST_IP: &str = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off";

/// A TCP echo server on a free loopback port, serving connections one after another; returns the port.
fn tcp_echo() -> Result<u16, String> {
    tcp_echo_at("127.0.0.1")
}

/// A TCP echo server on a free port of host address `ip` (a loopback one), serving connections one after
/// another; returns the port.
pub fn tcp_echo_at(ip: &str) -> Result<u16, String> {
    let l = TcpListener::bind((ip, 0)).map_err(|e| format!("tcp listener on {ip}: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(60)));
            let mut buf = [0u8; 4096];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 || c.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    Ok(port)
}

/// A UDP echo server on a free loopback port; returns the port.
fn udp_echo() -> Result<u16, String> {
    udp_echo_at("127.0.0.1")
}

/// A UDP echo server on a free port of host address `ip`; returns the port.
pub fn udp_echo_at(ip: &str) -> Result<u16, String> {
    let s = UdpSocket::bind((ip, 0)).map_err(|e| format!("udp socket on {ip}: {e}"))?;
    let port = s.local_addr().map_err(|e| e.to_string())?.port();
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    });
    Ok(port)
}

/// The body the host's HTTP server answers every request with.
pub const HTTP_BODY: &str = "hello from the host over http\n";

/// A minimal HTTP/1.x server on a free loopback port: reads a request's head, answers [`HTTP_BODY`] and
/// closes; returns the port.
fn http_server() -> Result<u16, String> {
    http_server_at("127.0.0.1")
}

/// [`http_server`] on host address `ip`.
pub fn http_server_at(ip: &str) -> Result<u16, String> {
    let l = TcpListener::bind((ip, 0)).map_err(|e| format!("http listener on {ip}: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            if !head.windows(4).any(|w| w == b"\r\n\r\n") {
                continue;
            }
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HTTP_BODY}",
                HTTP_BODY.len()
            );
        }
    });
    Ok(port)
}

/// A free loopback port (for `hostfwd`).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Keeps trying to reach the guest's server through `hostfwd` at `port`: sends `ping`, reads the answer.
/// (QEMU accepts and drops connections while nothing listens in the guest, so this just retries.)
fn knock(port: u16) {
    thread::spawn(move || {
        loop {
            thread::sleep(Duration::from_millis(500));
            let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            if c.write_all(b"ping").is_err() {
                continue;
            }
            let mut answer = Vec::new();
            let _ = c.read_to_end(&mut answer);
        }
    });
}

/// Connections per round of [`storm`].
const STORM_ROUND: usize = 150;

/// Abuses the guest's echo server behind `hostfwd` at `port` once it answers: two rounds of connections
/// that send 1000 bytes and close without reading the echo (the host's kernel resets them mid-stream) or
/// close at once, a `mark` between the rounds and a `quit` after them.
fn storm(port: u16) {
    let exchange = move |word: &[u8]| -> bool {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
        let mut back = [0u8; 4];
        c.write_all(word).is_ok() && c.read_exact(&mut back).is_ok() && back == word[..4]
    };
    thread::spawn(move || {
        // QEMU accepts and drops connections while nothing listens in the guest: wait for an echo.
        while !exchange(b"ping") {
            thread::sleep(Duration::from_millis(300));
        }
        for round in 0..2 {
            for i in 0..STORM_ROUND {
                if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port))
                    && i % 2 == 0
                {
                    let _ = c.write_all(&[0x55; 1000]);
                    thread::sleep(Duration::from_millis(5));
                }
            }
            let word: &[u8] = if round == 0 { b"mark" } else { b"quit" };
            while !exchange(word) {
                thread::sleep(Duration::from_millis(100));
            }
        }
    });
}

/// The network cases.
pub fn cases() -> Result<Vec<Case>, String> {
    let (tcp, udp) = (tcp_echo()?, udp_echo()?);
    // The two cases may run at once: each gets its own forwarded port.
    let (fwd, fwd_modern) = (free_port()?, free_port()?);
    knock(fwd);
    knock(fwd_modern);
    let initrd = Initramfs::new("inet-musl")
        .busybox()?
        .file("/init", &clients::c_program(Libc::Musl, "inet")?)?
        .write()?;
    let mut vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {GUEST_IP} {tcp} {udp}"));
    vm.initrd = Some(initrd);
    vm.net = Some(format!("hostfwd=tcp:127.0.0.1:{fwd}-:8080"));
    // The modern transport gets its address from QEMU's DHCP server.
    let mut modern = vm.clone();
    modern.modern = true;
    modern.cmdline = format!("console=ttyS0 ip=dhcp {tcp} {udp}");
    modern.net = Some(format!("hostfwd=tcp:127.0.0.1:{fwd_modern}-:8080"));
    let check = |dhcp: bool| {
        move |o: &crate::boot_tests::Outcome| {
            let address = if dhcp {
                "net: eth0 10.0.2.15/24 from DHCP"
            } else {
                "net: eth0 10.0.2.15/24, gateway"
            };
            crate::user_tests::exited(o, 0, &["virtio: net at", address, ", 0 failed"])
        }
    };
    // busybox `wget` as the first thing init does: its `connect` once slept through its own SYN-ACK. (No `-T`:
    // Debian's busybox 1.35 `wget -T` segfaults, on Linux too.)
    let http = http_server()?;
    let wget = Initramfs::new("net-wget")
        .busybox()?
        .symlink("/bin/wget", "busybox")?
        .script(
            "/init",
            &format!("#!/bin/sh\nwget -q -O - http://10.0.2.2:{http}/index.html && echo wget-ok\n"),
        )?
        .write()?;
    let mut wget_vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {GUEST_IP}"));
    wget_vm.initrd = Some(wget);
    wget_vm.net = Some(String::new());
    // Loopback between two guest processes: without a network device, and beside one (also over the guest's
    // own address).
    let loopback = Initramfs::new("net-loopback")
        .busybox()?
        .file("/init", &clients::c_program(Libc::Musl, "loopback")?)?
        .write()?;
    let mut lo_alone = Vm::new(Boot::Pvh, 128, "console=ttyS0");
    lo_alone.initrd = Some(loopback);
    let mut lo_beside = lo_alone.clone();
    lo_beside.cmdline = format!("console=ttyS0 {GUEST_IP} LOOPBACK_ADDR=10.0.2.15");
    lo_beside.net = Some(String::new());
    let lo_check = |o: &crate::boot_tests::Outcome| crate::user_tests::exited(o, 0, &["loopback: 35 passed, 0 failed"]);
    let lo_eth_check =
        |o: &crate::boot_tests::Outcome| crate::user_tests::exited(o, 0, &["loopback: 46 passed, 0 failed"]);
    // What busybox `ifconfig`, `route` (the interface ioctls, /proc/net), `ip` (netlink dumps) and `ping` (a raw
    // ICMP socket; to the guest's own addresses: QEMU answers 10.0.2.2 only where the host lets it send ICMP)
    // need, and /sys/class/net.
    let mut ifconfig = Initramfs::new("net-ifconfig").busybox()?;
    for applet in ["ifconfig", "route", "grep", "wget", "head", "ip", "ping"] {
        ifconfig = ifconfig.symlink(&format!("/bin/{applet}"), "busybox")?;
    }
    let ifconfig = ifconfig
        .script(
            "/init",
            &format!(
                "#!/bin/sh\n\
                 ifconfig\n\
                 ifconfig eth0 | grep -q 'inet addr:10.0.2.15  Bcast:10.0.2.255  Mask:255.255.255.0' && echo if-eth0-ok\n\
                 ifconfig lo | grep -q 'UP LOOPBACK RUNNING' && echo if-lo-ok\n\
                 ip link; ip addr; ip route\n\
                 ip link | grep -q '^2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500' && echo ip-link-ok\n\
                 ip addr show dev eth0 | grep -q 'inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0' && echo ip-addr-ok\n\
                 ip addr show dev lo | grep -q 'inet 127.0.0.1/8 scope host lo' && echo ip-addr-lo-ok\n\
                 ip route | grep -q '^default via 10.0.2.2 dev eth0' && ip route | grep -q '^10.0.2.0/24 dev eth0 ' && echo ip-route-ok\n\
                 ping -c 2 127.0.0.1 | grep -q '2 packets received' && echo ping-lo-ok\n\
                 ping -c 1 10.0.2.15 | grep -q '1 packets received' && echo ping-own-ok\n\
                 ifconfig eth0 10.0.2.16 netmask 255.255.0.0 up && ifconfig eth0 | grep -q 'inet addr:10.0.2.16  Bcast:10.0.255.255  Mask:255.255.0.0' && echo if-set-ok\n\
                 route -n | grep -q '^0.0.0.0  *10.0.2.2  *0.0.0.0  *UG' && echo route-ok\n\
                 wget -q -O - http://10.0.2.2:{http}/ | head -c 5 && echo\n\
                 cat /proc/net/dev\n\
                 grep -q 'eth0: *[1-9][0-9]* *[1-9]' /proc/net/dev && echo dev-counted-ok\n\
                 echo \"sys $(cat /sys/class/net/eth0/address) $(cat /sys/class/net/eth0/mtu) $(cat /sys/class/net/eth0/operstate)\"\n\
                 ifconfig eth0 down && ! wget -q -O - http://10.0.2.2:{http}/ 2>/dev/null && echo down-ok\n"
            ),
        )?
        .write()?;
    let mut ifconfig_vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {GUEST_IP}"));
    ifconfig_vm.initrd = Some(ifconfig);
    ifconfig_vm.net = Some(String::new());
    // Connections reset mid-stream or closed at once, two rounds: the second must not cost memory.
    let fwd_storm = free_port()?;
    storm(fwd_storm);
    let mut storm_vm = Vm::new(Boot::Pvh, 128, &format!("console=ttyS0 {GUEST_IP}"));
    storm_vm.initrd = Some(
        Initramfs::new("net-storm")
            .file("/init", &clients::c_program(Libc::Musl, "netstorm")?)?
            .write()?,
    );
    storm_vm.net = Some(format!("hostfwd=tcp:127.0.0.1:{fwd_storm}-:8080"));
    Ok(vec![
        Case {
            name: "net-user-storm".into(),
            on: On::Qemu,
            vm: storm_vm,
            input: &[],
            check: Box::new(|o| {
                crate::user_tests::exited(o, 0, &["netstorm: listening", " connections, MemFree at mark"])
            }),
        },
        Case {
            name: "net-user-ifconfig".into(),
            on: On::Qemu,
            vm: ifconfig_vm,
            input: &[],
            check: Box::new(|o| {
                crate::user_tests::exited(
                    o,
                    0,
                    &[
                        "if-eth0-ok",
                        "if-lo-ok",
                        "ip-link-ok",
                        "ip-addr-ok",
                        "ip-addr-lo-ok",
                        "ip-route-ok",
                        "ping-lo-ok",
                        "ping-own-ok",
                        "if-set-ok",
                        "route-ok",
                        "dev-counted-ok",
                        "sys 52:54:00:12:34:56 1500 up",
                        "down-ok",
                    ],
                )
            }),
        },
        Case {
            name: "net-loopback-alone".into(),
            on: On::Both,
            vm: lo_alone,
            input: &[],
            check: Box::new(lo_check),
        },
        Case {
            name: "net-loopback-beside-eth".into(),
            on: On::Qemu,
            vm: lo_beside,
            input: &[],
            check: Box::new(lo_eth_check),
        },
        Case {
            name: "net-user-wget".into(),
            on: On::Qemu,
            vm: wget_vm,
            input: &[],
            check: Box::new(|o| crate::user_tests::exited(o, 0, &[HTTP_BODY.trim_end(), "wget-ok"])),
        },
        Case {
            name: "net-user-inet-legacy".into(),
            on: On::Qemu,
            vm,
            input: &[],
            check: Box::new(check(false)),
        },
        Case {
            name: "net-user-inet-modern".into(),
            on: On::Qemu,
            vm: modern,
            input: &[],
            check: Box::new(check(true)),
        },
    ])
}
