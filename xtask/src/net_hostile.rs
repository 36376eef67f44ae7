//! A hostile network peer: a boot test whose guest (`clients/c/netstorm.c`, a TCP echo server on port 8080)
//! sits on QEMU's `-netdev dgram` backend, which carries raw Ethernet frames as UDP datagrams to and from this
//! process. The host side is smoltcp (the xtask's own little IP stack, 10.0.2.2, for the normal connections)
//! plus hand-made frames. Two rounds, each: malformed Ethernet/ARP/IPv4/IPv6/TCP/UDP/ICMP frames (runts,
//! truncated headers, lengths that lie, bad checksums, fragments, random bytes), connections reset mid-stream,
//! and a flood of SYNs from spoofed off-link sources at the listening port (their SYN-ACKs go to the gateway,
//! which drops them, so each stays half-open); after each round a normal connection must still be served.
//! The first round ends with `mark` (the guest records MemFree), the second with `quit`: the guest prints
//! MemFree at both and fails when the second round cost 1 MiB or more.

use crate::boot_tests::{Case, On};
use crate::clients::{self, Initramfs, Libc};
use crate::qemu::{Boot, Vm};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// The host's (gateway's) MAC and address on the wire.
const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const HOST_IP: [u8; 4] = [10, 0, 2, 2];
/// QEMU's default MAC of the first NIC, and the guest's address (`ip=`).
const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const GUEST_IP: [u8; 4] = [10, 0, 2, 15];
/// The guest's echo server.
const PORT: u16 = 8080;
/// Malformed frames per round.
const MALFORMED: usize = 3000;
/// Connections reset mid-stream per round.
const RESETS: usize = 20;
/// Spoofed SYNs per round.
const SYNS: usize = 2000;

/// How soon after a hostile round the server must serve a normal connection (it gives up the half-open ones of
/// the flood after 5 s of silence).
const SERVED_WITHIN: Duration = Duration::from_secs(20);

/// The wire: QEMU's `dgram` backend, one Ethernet frame per datagram.
struct Wire {
    sock: UdpSocket,
    /// QEMU's end.
    qemu: SocketAddr,
    /// Frames sent by hand (for the log).
    raw: usize,
}

impl Wire {
    fn send(&mut self, frame: &[u8]) {
        self.raw += 1;
        let _ = self.sock.send_to(frame, self.qemu);
        // A burst larger than the socket buffers would only be dropped by the host: pace it a little.
        if self.raw.is_multiple_of(64) {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A received frame.
struct Rx(Vec<u8>);
/// Leave to send one frame.
struct Tx<'a>(&'a Wire);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        let _ = self.0.sock.send_to(&frame, self.0.qemu);
        r
    }
}

impl phy::Device for Wire {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: NetInstant) -> Option<(Rx, Tx<'_>)> {
        let mut buf = vec![0u8; 2048];
        let n = self.sock.recv(&mut buf).ok()?;
        buf.truncate(n);
        Some((Rx(buf), Tx(self)))
    }

    fn transmit(&mut self, _: NetInstant) -> Option<Tx<'_>> {
        Some(Tx(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

/// A small deterministic generator (xorshift64*), so every run sends the same frames.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Fewer than `max` random bytes.
    fn some(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }
}

/// The Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame from the host to `dst`.
fn ethernet(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet from `src` to the guest with a correct header checksum.
fn ipv4(src: [u8; 4], proto: u8, flags_frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34]);
    p.extend_from_slice(&flags_frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&GUEST_IP);
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A transport header + payload for `proto` with its checksum (over the IPv4 pseudo-header) at `at`.
fn with_pseudo_checksum(src: [u8; 4], proto: u8, mut segment: Vec<u8>, at: usize) -> Vec<u8> {
    let mut pseudo = Vec::with_capacity(12 + segment.len());
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&GUEST_IP);
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    segment[at..at + 2].fill(0);
    pseudo.extend_from_slice(&segment);
    let sum = checksum(&pseudo);
    segment[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    segment
}

/// A TCP segment from `src:sport` to the guest's `dport`, checksummed.
fn tcp_segment(src: [u8; 4], sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + payload.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&0u32.to_be_bytes());
    s.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    s.extend_from_slice(payload);
    with_pseudo_checksum(src, 6, s, 16)
}

/// A UDP datagram from `src:sport` to the guest's `dport`, checksummed.
fn udp_datagram(src: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + payload.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    with_pseudo_checksum(src, 17, s, 6)
}

/// An ICMP message, checksummed.
fn icmp(kind: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(rest);
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// One malformed frame, the `i`th of a round: each kind in turn, with random parts.
fn malformed(i: usize, rng: &mut Rng) -> Vec<u8> {
    let src = HOST_IP;
    let payload = rng.some(64);
    let port = [PORT, 9, rng.next() as u16][rng.below(3)];
    let ip = |proto: u8, body: &[u8]| ethernet(GUEST_MAC, 0x0800, &ipv4(src, proto, 0, body));
    let mut f = match i % 20 {
        // Runts and random bytes, to the guest and to broadcast.
        0 => rng.some(14),
        1 => ethernet(GUEST_MAC, rng.next() as u16, &rng.some(1500)),
        2 => ethernet([0xff; 6], 0x0800, &rng.some(1500)),
        // ARP: truncated, or with lying lengths.
        3 => ethernet([0xff; 6], 0x0806, &rng.some(40)),
        4 => {
            let mut arp = vec![
                0,
                1,
                8,
                0,
                rng.next() as u8,
                rng.next() as u8,
                0,
                1 + rng.below(2) as u8,
            ];
            arp.extend(rng.some(30));
            ethernet([0xff; 6], 0x0806, &arp)
        }
        // IPv4 headers: truncated, bad version or IHL, total length too long or too short, bad checksum.
        5 => ethernet(GUEST_MAC, 0x0800, &ipv4(src, 6, 0, &payload)[..rng.below(20)]),
        6 => {
            let mut p = ipv4(src, 17, 0, &payload);
            p[0] = rng.next() as u8;
            ethernet(GUEST_MAC, 0x0800, &p)
        }
        7 => {
            let mut p = ipv4(src, [1, 6, 17][rng.below(3)], 0, &payload);
            p[2..4].copy_from_slice(&(rng.next() as u16).to_be_bytes());
            let sum = {
                p[10..12].fill(0);
                checksum(&p[..20])
            };
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            ethernet(GUEST_MAC, 0x0800, &p)
        }
        8 => {
            let mut p = ipv4(src, 6, 0, &tcp_segment(src, 4000, port, 1, 0x02, &[]));
            p[10] ^= 0x5a;
            ethernet(GUEST_MAC, 0x0800, &p)
        }
        // Fragments: first, middle and overlapping pieces that never complete.
        9 => {
            let frag = (rng.next() as u16 & 0x1fff) | if rng.below(2) == 0 { 0x2000 } else { 0 };
            let body = udp_datagram(src, 4000, port, &{
                let n = 8 * rng.below(100);
                rng.bytes(n)
            });
            ethernet(GUEST_MAC, 0x0800, &ipv4(src, 17, frag, &body))
        }
        10 => ethernet(GUEST_MAC, 0x0800, &ipv4(src, 6, 0x2000, &rng.bytes(200))),
        // TCP: bad checksum, data offset too small or past the end, every flag, lying options.
        11 => {
            let mut t = tcp_segment(src, 4001, port, rng.next() as u32, 0x02, &payload);
            t[16] ^= 0xff;
            ip(6, &t)
        }
        12 => {
            let mut t = tcp_segment(src, 4002, port, rng.next() as u32, rng.next() as u8, &payload);
            t[12] = (rng.next() as u8) & 0xf0;
            ip(6, &with_pseudo_checksum(src, 6, t, 16))
        }
        13 => {
            let mut t = tcp_segment(src, 4003, port, 0, 0x02, &[]);
            t[12] = 0x80;
            t.extend_from_slice(&[2, 0, 3, 0xff, 8, 1, 0, 0, 1, 1, 5, 40, 0, 0, 0, 0]);
            ip(6, &with_pseudo_checksum(src, 6, t, 16))
        }
        14 => ip(6, &tcp_segment(src, 4004, port, rng.next() as u32, 0xff, &payload)),
        // UDP: length too long or too short, bad checksum, to closed ports (the guest may answer ICMP).
        15 => {
            let mut u = udp_datagram(src, 4005, port, &payload);
            u[4..6].copy_from_slice(&(rng.next() as u16 % 16).to_be_bytes());
            ip(17, &u)
        }
        16 => {
            let mut u = udp_datagram(src, 4006, rng.next() as u16, &payload);
            u[6] ^= 0x33;
            ip(17, &u)
        }
        // ICMP: echo requests (truncated, bad checksum, large), random types with random bodies.
        17 => ip(1, &icmp(8, 0, &rng.some(1400))),
        18 => {
            let mut m = icmp(rng.next() as u8, rng.next() as u8, &rng.some(60));
            if rng.below(2) == 0 {
                m[2] ^= 1;
            }
            ip(1, &m[..rng.below(m.len() + 1)])
        }
        // IPv6 with random contents (ember may not speak IPv6; it must not mind).
        _ => {
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&(rng.below(100) as u16).to_be_bytes());
            p.push([6, 17, 58, 0, 44][rng.below(5)]);
            p.push(64);
            let n = 32 + rng.below(100);
            p.extend(rng.bytes(n));
            ethernet(GUEST_MAC, 0x86dd, &p)
        }
    };
    // Now and then, a frame cut short anywhere.
    if rng.below(8) == 0 {
        let keep = rng.below(f.len() + 1);
        f.truncate(keep);
    }
    // Never empty: QEMU's `dgram` backend takes an empty datagram for the end of the connection and stops
    // reading (the wire is cut, not the guest hurt).
    if f.is_empty() {
        f.push(rng.next() as u8);
    }
    f
}

/// The host: smoltcp on the wire for the normal connections, and the hand-made frames.
struct Host {
    wire: Wire,
    iface: Interface,
    sockets: SocketSet<'static>,
    start: Instant,
    next_port: u16,
}

impl Host {
    fn new(wire: Wire) -> Self {
        let mut wire = wire;
        let start = Instant::now();
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(HOST_MAC)));
        let mut iface = Interface::new(config, &mut wire, NetInstant::from_millis(0));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::from_octets(HOST_IP)), 24));
        });
        Host {
            wire,
            iface,
            sockets: SocketSet::new(Vec::new()),
            start,
            next_port: 40000,
        }
    }

    fn now(&self) -> NetInstant {
        NetInstant::from_millis(self.start.elapsed().as_millis() as i64)
    }

    /// Polls the stack until `done` says so (`Some(result)`) or `timeout` passes.
    fn pump<T>(&mut self, timeout: Duration, mut done: impl FnMut(&mut SocketSet<'static>) -> Option<T>) -> Option<T> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            let now = self.now();
            self.iface.poll(now, &mut self.wire, &mut self.sockets);
            if let Some(r) = done(&mut self.sockets) {
                return Some(r);
            }
        }
        None
    }

    /// A fresh TCP socket connecting to the guest's server; its handle.
    fn dial(&mut self) -> smoltcp::iface::SocketHandle {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; 8192]),
            tcp::SocketBuffer::new(vec![0u8; 8192]),
        );
        self.next_port = if self.next_port >= 60000 {
            40000
        } else {
            self.next_port + 1
        };
        let remote = (IpAddress::Ipv4(Ipv4Address::from_octets(GUEST_IP)), PORT);
        let _ = s.connect(self.iface.context(), remote, self.next_port);
        self.sockets.add(s)
    }

    /// One normal exchange: connect, send `word`, read its echo, close. Whether the echo came back.
    fn exchange(&mut self, word: &[u8; 4], timeout: Duration) -> bool {
        let h = self.dial();
        let mut sent = false;
        let mut back = Vec::new();
        let ok = self
            .pump(timeout, |set| {
                let s = set.get_mut::<tcp::Socket>(h);
                if !s.is_open() {
                    return Some(false);
                }
                if !sent && s.can_send() {
                    sent = s.send_slice(word).is_ok_and(|n| n == 4);
                }
                if s.can_recv() {
                    let mut b = [0u8; 16];
                    if let Ok(n) = s.recv_slice(&mut b) {
                        back.extend_from_slice(&b[..n]);
                    }
                }
                (back.len() >= 4).then(|| back[..4] == word[..])
            })
            .unwrap_or(false);
        self.sockets.get_mut::<tcp::Socket>(h).close();
        let _ = self.pump(Duration::from_millis(200), |set| {
            (!set.get_mut::<tcp::Socket>(h).is_open()).then_some(())
        });
        self.sockets.get_mut::<tcp::Socket>(h).abort();
        self.pump(Duration::from_millis(20), |_| None::<()>);
        self.sockets.remove(h);
        ok
    }

    /// Normal exchanges until one succeeds or `total` has passed (right after a SYN flood the server's backlog
    /// is full of half-open connections, which it gives up after a few seconds; meanwhile it refuses).
    fn exchange_within(&mut self, word: &[u8; 4], total: Duration) -> bool {
        let until = Instant::now() + total;
        while Instant::now() < until {
            if self.exchange(word, Duration::from_secs(2)) {
                return true;
            }
            thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Until the guest's server answers: normal exchanges, each retried after its connection fails. (The case
    /// is made before the suite runs it, or filtered out: this waits as long as it takes, at a few frames a
    /// second.)
    fn wait_for_guest(&mut self) {
        while !self.exchange(b"ping", Duration::from_secs(2)) {
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Connections that send data and then reset (smoltcp's `abort` sends RST) with the echo unread.
    fn resets(&mut self) {
        for _ in 0..RESETS {
            let h = self.dial();
            let _ = self.pump(Duration::from_secs(2), |set| {
                let s = set.get_mut::<tcp::Socket>(h);
                if s.can_send() {
                    let _ = s.send_slice(&[0x55; 3000]);
                    return Some(());
                }
                (!s.is_open()).then_some(())
            });
            let _ = self.pump(Duration::from_millis(5), |_| None::<()>);
            self.sockets.get_mut::<tcp::Socket>(h).abort();
            let _ = self.pump(Duration::from_millis(5), |_| None::<()>);
            self.sockets.remove(h);
        }
    }

    /// SYNs to the server from spoofed sources off the guest's network (routed through the gateway, which is
    /// us and ignores the answers).
    fn syn_flood(&mut self, rng: &mut Rng) {
        for _ in 0..SYNS {
            let src = [198, 51, 100, 1 + rng.below(250) as u8];
            let sport = 1024 + rng.below(60000) as u16;
            let seg = tcp_segment(src, sport, PORT, rng.next() as u32, 0x02, &[]);
            let frame = ethernet(GUEST_MAC, 0x0800, &ipv4(src, 6, 0, &seg));
            self.wire.send(&frame);
        }
    }

    fn malformed(&mut self, rng: &mut Rng) {
        for i in 0..MALFORMED {
            let frame = malformed(i, rng);
            self.wire.send(&frame);
            if i % 256 == 0 {
                // Keep answering ARP and the like meanwhile.
                let _ = self.pump(Duration::ZERO, |_| None::<()>);
            }
        }
    }
}

/// The peer's script; what went wrong, if anything (printed by the test's log).
fn peer(wire: Wire) -> Result<String, String> {
    let mut host = Host::new(wire);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    host.wait_for_guest();
    for word in [b"mark", b"quit"] {
        host.malformed(&mut rng);
        host.resets();
        host.syn_flood(&mut rng);
        if !host.exchange_within(word, SERVED_WITHIN) {
            let word = String::from_utf8_lossy(word);
            return Err(format!("no echo of `{word}` after a hostile round"));
        }
    }
    Ok(format!("{} frames sent by hand", host.wire.raw))
}

/// The hostile-peer case.
pub fn cases() -> Result<Vec<Case>, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp socket: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(|e| e.to_string())?;
    let host = sock.local_addr().map_err(|e| e.to_string())?;
    // QEMU's end: a port free now (QEMU binds it when it starts).
    let qemu = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("udp socket: {e}"))?;
    let wire = Wire { sock, qemu, raw: 0 };
    thread::spawn(move || match peer(wire) {
        Ok(what) => println!("net-hostile-peer: host side done: {what}"),
        Err(e) => println!("net-hostile-peer: host side FAILED: {e}"),
    });
    let mut vm = Vm::new(
        Boot::Pvh,
        128,
        "console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off",
    );
    vm.initrd = Some(
        Initramfs::new("net-hostile")
            .file("/init", &clients::c_program(Libc::Musl, "netstorm")?)?
            .write()?,
    );
    vm.extra = crate::qemu::dgram_net(qemu.port(), host.port(), "");
    Ok(vec![Case {
        name: "net-hostile-peer".into(),
        on: On::Qemu,
        vm,
        input: &[],
        check: Box::new(|o| crate::user_tests::exited(o, 0, &["netstorm: listening", " connections, MemFree at mark"])),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        // A checksummed header sums to zero with its checksum in place.
        let p = ipv4(HOST_IP, 6, 0, &[]);
        assert_eq!(checksum(&p[..20]), 0);
        let t = tcp_segment(HOST_IP, 1, 2, 3, 0x02, b"abc");
        let mut pseudo = [&HOST_IP[..], &GUEST_IP[..], &[0, 6, 0, t.len() as u8], &t[..]].concat();
        assert_eq!(checksum(&pseudo), 0);
        pseudo[20] ^= 1;
        assert_ne!(checksum(&pseudo), 0);
    }

    #[test]
    fn malformed_frames_cover_every_kind_and_repeat() {
        let (mut a, mut b) = (Rng(1), Rng(1));
        let kinds: std::collections::BTreeSet<u16> = (0..200)
            .map(|i| {
                let f = malformed(i, &mut a);
                assert_eq!(f, malformed(i, &mut b));
                assert!(f.len() <= 1514, "frame {i} is {} bytes", f.len());
                f.get(12..14).map_or(0, |t| u16::from_be_bytes([t[0], t[1]]))
            })
            .collect();
        for ethertype in [0x0800, 0x0806, 0x86dd] {
            assert!(kinds.contains(&ethertype), "{kinds:x?}");
        }
    }
}
