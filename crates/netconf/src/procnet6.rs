//! The IPv6 tables of `/proc/net`: `if_inet6`, `ipv6_route`, `tcp6`, `udp6`, in Linux's layout.

use crate::procnet::SocketRow;
use crate::{IFF_LOOPBACK, Interface, prefix6, scope6};
use alloc::string::String;
use core::fmt::Write;

/// An IPv6 address as `/proc/net` prints it: 32 hex digits in network order (`if_inet6`, `ipv6_route`).
fn hex6(a: [u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in a {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// An IPv6 address as the socket tables print it: four 32-bit words, each in memory order, in hex.
fn hex6_words(a: [u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for w in a.chunks_exact(4) {
        let _ = write!(s, "{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    s
}

/// `/proc/net/if_inet6`: address, interface index, prefix length, scope, flags (permanent, and duplicate
/// address detection's), name.
pub fn if_inet6(ifaces: &[Interface]) -> String {
    let mut s = String::new();
    for i in ifaces {
        for &(a, len, flags) in &i.ipv6 {
            let _ = writeln!(
                s,
                "{} {:02x} {len:02x} {:02x} {:02x} {:>8}",
                hex6(a),
                i.index,
                scope6(a),
                flags | crate::dad::IFA_F_PERMANENT,
                i.name
            );
        }
    }
    s
}

/// `/proc/net/ipv6_route`: the prefixes of each interface's addresses (on-link), its routes through
/// routers, and `lo`'s host routes; destination, length, source, length, next hop, metric, reference count,
/// use, flags (`RTF_UP` 1, `RTF_GATEWAY` 2, `RTF_HOST` 4), name.
pub fn ipv6_route(ifaces: &[Interface]) -> String {
    let mut s = String::new();
    let zero = hex6([0; 16]);
    let mut line = |dst: [u8; 16], len: u8, via: [u8; 16], metric: u32, flags: u32, name: &str| {
        let _ = writeln!(
            s,
            "{} {len:02x} {zero} 00 {} {metric:08x} 00000001 00000000 {flags:08x} {name:>8}",
            hex6(dst),
            hex6(via)
        );
    };
    for i in ifaces {
        let loopback = i.flags & IFF_LOOPBACK != 0;
        // An address that failed duplicate address detection has no route.
        for &(a, len, _) in i.ipv6.iter().filter(|a| a.2 & crate::dad::IFA_F_DADFAILED == 0) {
            if loopback {
                line(a, 128, [0; 16], 0, 0x5, i.name);
            } else if len < 128 {
                line(prefix6(a, len), len, [0; 16], 256, 0x1, i.name);
            }
        }
        for r in &i.routes6 {
            line(prefix6(r.dst, r.prefix), r.prefix, r.gateway, 1024, 0x3, i.name);
        }
    }
    s
}

/// `/proc/net/tcp6` or `/proc/net/udp6` (`udp`: its header).
pub fn sockets6(rows: &[SocketRow<[u8; 16]>], udp: bool) -> String {
    let mut s = String::from(if udp {
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
    } else {
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    });
    for (n, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "{n:4}: {}:{:04X} {}:{:04X} {:02X} {:08X}:{:08X} 00:00000000 00000000     0        0 0 2 0000000000000000{}",
            hex6_words(r.local.0),
            r.local.1,
            hex6_words(r.remote.0),
            r.remote.1,
            r.state,
            r.tx_queue,
            r.rx_queue,
            if udp { " 0" } else { " 100 0 0 10 0" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procnet::TCP_LISTEN;
    use crate::{IFF_UP, Route6};

    fn lo6() -> [u8; 16] {
        core::array::from_fn(|k| u8::from(k == 15))
    }

    fn ifaces() -> [Interface; 2] {
        let ll = [
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56,
        ];
        let mut site = ll;
        site[1] = 0xc0;
        [
            Interface {
                index: 1,
                name: "lo",
                flags: IFF_UP | IFF_LOOPBACK,
                ipv6: alloc::vec![(lo6(), 128, 0)],
                ..Default::default()
            },
            Interface {
                index: 2,
                name: "eth0",
                flags: IFF_UP,
                ipv6: alloc::vec![(ll, 64, 0), (site, 64, 0x44)],
                routes6: alloc::vec![Route6 {
                    dst: [0; 16],
                    prefix: 0,
                    gateway: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                }],
                ..Default::default()
            },
        ]
    }

    #[test]
    fn addresses() {
        let t = if_inet6(&ifaces());
        let lines: alloc::vec::Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "00000000000000000000000000000001 01 80 10 80       lo");
        assert_eq!(lines[1], "fe80000000000000505400fffe123456 02 40 20 80     eth0");
        // A tentative, optimistic address: its detection flags beside permanent.
        assert_eq!(lines[2], "fec0000000000000505400fffe123456 02 40 40 c4     eth0");
    }

    #[test]
    fn routes() {
        let t = ipv6_route(&ifaces());
        let lines: alloc::vec::Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        let z = "00000000000000000000000000000000";
        assert_eq!(
            lines[0],
            alloc::format!(
                "{}1 80 {z} 00 {z} 00000000 00000001 00000000 00000005       lo",
                &z[..31]
            )
        );
        assert_eq!(
            lines[1],
            alloc::format!(
                "fe800000000000000000000000000000 40 {z} 00 {z} 00000100 00000001 00000000 00000001     eth0"
            )
        );
        assert!(lines[3].starts_with(&alloc::format!(
            "{z} 00 {z} 00 fe800000000000000000000000000002 00000400"
        )));
        assert!(lines[3].ends_with("00000003     eth0"));
    }

    #[test]
    fn socket_table() {
        let row = SocketRow {
            local: (lo6(), 8080),
            remote: ([0; 16], 0),
            state: TCP_LISTEN,
            tx_queue: 0,
            rx_queue: 0,
        };
        let t = sockets6(&[row], false);
        let line = t.lines().nth(1).unwrap();
        assert!(
            line.starts_with("   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "),
            "{line}"
        );
        assert!(sockets6(&[], true).ends_with("drops\n"));
    }
}
