//! The text of `/proc/net/{dev,tcp,udp,route,unix}`, in Linux's layout (tools parse it with `scanf`).

use crate::{Interface, netmask};
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// A TCP or UDP socket, for `/proc/net/tcp` and `/proc/net/udp` (`A`: an IPv4 address) or
/// `/proc/net/tcp6` and `/proc/net/udp6` (`[u8; 16]`, [`crate::procnet6`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketRow<A = [u8; 4]> {
    /// Local address and port.
    pub local: (A, u16),
    /// Remote address and port (zeros when none).
    pub remote: (A, u16),
    /// Linux's state number (`TCP_ESTABLISHED` 1 … `TCP_LISTEN` 10; 7, `TCP_CLOSE`, for unconnected UDP).
    pub state: u8,
    /// Bytes waiting to be sent.
    pub tx_queue: u32,
    /// Bytes waiting to be read.
    pub rx_queue: u32,
}

/// `TCP_ESTABLISHED`.
pub const TCP_ESTABLISHED: u8 = 1;
/// `TCP_SYN_SENT`.
pub const TCP_SYN_SENT: u8 = 2;
/// `TCP_SYN_RECV`.
pub const TCP_SYN_RECV: u8 = 3;
/// `TCP_FIN_WAIT1`.
pub const TCP_FIN_WAIT1: u8 = 4;
/// `TCP_FIN_WAIT2`.
pub const TCP_FIN_WAIT2: u8 = 5;
/// `TCP_TIME_WAIT`.
pub const TCP_TIME_WAIT: u8 = 6;
/// `TCP_CLOSE`.
pub const TCP_CLOSE: u8 = 7;
/// `TCP_CLOSE_WAIT`.
pub const TCP_CLOSE_WAIT: u8 = 8;
/// `TCP_LAST_ACK`.
pub const TCP_LAST_ACK: u8 = 9;
/// `TCP_LISTEN`.
pub const TCP_LISTEN: u8 = 10;
/// `TCP_CLOSING`.
pub const TCP_CLOSING: u8 = 11;

/// An IPv4 address as `/proc/net` prints it: the 32-bit word in memory order, in hex (127.0.0.1 is 0100007F).
fn hex_addr(a: [u8; 4]) -> String {
    format!("{:08X}", u32::from_le_bytes(a))
}

/// `/proc/net/dev`.
pub fn dev(ifaces: &[Interface]) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for i in ifaces {
        let [rx_packets, rx_bytes, tx_packets, tx_bytes] = i.stats;
        let _ = writeln!(
            s,
            "{:>6}: {rx_bytes:>7} {rx_packets:>7}    0    0    0     0          0         0 {tx_bytes:>8} {tx_packets:>7}    0    0    0     0       0          0",
            i.name
        );
    }
    s
}

/// `/proc/net/tcp` or `/proc/net/udp` (`udp`: its header).
pub fn sockets(rows: &[SocketRow], udp: bool) -> String {
    let mut s = String::from(if udp {
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
    } else {
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    });
    for (n, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "{n:4}: {}:{:04X} {}:{:04X} {:02X} {:08X}:{:08X} 00:00000000 00000000     0        0 0 2 0000000000000000{}",
            hex_addr(r.local.0),
            r.local.1,
            hex_addr(r.remote.0),
            r.remote.1,
            r.state,
            r.tx_queue,
            r.rx_queue,
            if udp { " 0" } else { " 100 0 0 10 0" }
        );
    }
    s
}

/// `/proc/net/route`: each addressed interface's subnet, and its default route when it has a gateway.
pub fn route(ifaces: &[Interface]) -> String {
    let mut s = String::from("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
    for i in ifaces.iter().filter(|i| i.flags & crate::IFF_LOOPBACK == 0) {
        if let Some(g) = i.gateway {
            let _ = writeln!(
                s,
                "{}\t00000000\t{}\t0003\t0\t0\t0\t00000000\t0\t0\t0",
                i.name,
                hex_addr(g)
            );
        }
        for (net, p, _) in i.subnets4() {
            let _ = writeln!(
                s,
                "{}\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0",
                i.name,
                hex_addr(net),
                hex_addr(netmask(p))
            );
        }
    }
    s
}

/// A Unix socket, for `/proc/net/unix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixRow {
    /// `SOCK_STREAM` 1, `SOCK_DGRAM` 2, `SOCK_SEQPACKET` 5.
    pub ty: u16,
    /// Listening (`__SO_ACCEPTCON` in the flags).
    pub listening: bool,
    /// Connected (state `SS_CONNECTED`, else `SS_UNCONNECTED`).
    pub connected: bool,
    /// The inode number shown.
    pub inode: u64,
    /// Its name: a path, `@` and an abstract name, or empty when unnamed.
    pub path: alloc::vec::Vec<u8>,
}

/// `/proc/net/unix` (the kernel address column is zeros, as Linux shows it to the unprivileged).
pub fn unix(rows: &[UnixRow]) -> String {
    let mut s = String::from("Num       RefCount Protocol Flags    Type St Inode Path\n");
    for r in rows {
        let _ = write!(
            s,
            "0000000000000000: 00000002 00000000 {:08X} {:04X} {:02X} {:5}",
            if r.listening { 0x10000 } else { 0 },
            r.ty,
            if r.connected { 3 } else { 1 },
            r.inode
        );
        if !r.path.is_empty() {
            s.push(' ');
            // Abstract names may hold any byte; Linux prints a NUL as `@`.
            s.extend(r.path.iter().map(|&b| if b == 0 { '@' } else { char::from(b) }));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IFF_LOOPBACK, IFF_UP};

    fn eth() -> Interface {
        Interface {
            index: 2,
            name: "eth0",
            flags: IFF_UP,
            mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
            mtu: 1500,
            ipv4: alloc::vec![
                crate::Addr4 {
                    addr: [10, 0, 2, 15],
                    prefix: 24,
                    label: "eth0".into(),
                },
                crate::Addr4 {
                    addr: [10, 0, 2, 16],
                    prefix: 24,
                    label: "eth0".into(),
                },
            ],
            gateway: Some([10, 0, 2, 2]),
            stats: [3, 300, 4, 400],
            ..Default::default()
        }
    }

    #[test]
    fn dev_table() {
        let lo = Interface {
            index: 1,
            name: "lo",
            flags: IFF_UP | IFF_LOOPBACK,
            ..Default::default()
        };
        let t = dev(&[lo, eth()]);
        let lines: alloc::vec::Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].starts_with("    lo:       0       0"));
        // What busybox and net-tools scan: name, then rx bytes, rx packets, ..., tx bytes (9th), tx packets.
        let f: alloc::vec::Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!((f[0], f[1], f[2], f[9], f[10]), ("eth0:", "300", "3", "400", "4"));
    }

    #[test]
    fn socket_table() {
        let row = SocketRow {
            local: ([127, 0, 0, 1], 8080),
            remote: ([10, 0, 2, 2], 80),
            state: TCP_ESTABLISHED,
            tx_queue: 5,
            rx_queue: 0x10,
        };
        let t = sockets(&[row], false);
        let line = t.lines().nth(1).unwrap();
        assert!(
            line.starts_with("   0: 0100007F:1F90 0202000A:0050 01 00000005:00000010 "),
            "{line}"
        );
        assert!(sockets(&[], true).starts_with("   sl  local_address"));
    }

    #[test]
    fn unix_table() {
        let rows = [
            UnixRow {
                ty: 1,
                listening: true,
                inode: 77,
                path: b"/tmp/s".to_vec(),
                ..Default::default()
            },
            UnixRow {
                ty: 2,
                connected: true,
                inode: 78,
                path: b"@a\0b".to_vec(),
                ..Default::default()
            },
            UnixRow {
                ty: 5,
                inode: 79,
                ..Default::default()
            },
        ];
        let t = unix(&rows);
        let lines: alloc::vec::Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Num       RefCount Protocol Flags    Type St Inode Path");
        assert_eq!(
            lines[1],
            "0000000000000000: 00000002 00000000 00010000 0001 01    77 /tmp/s"
        );
        assert_eq!(
            lines[2],
            "0000000000000000: 00000002 00000000 00000000 0002 03    78 @a@b"
        );
        assert_eq!(lines[3], "0000000000000000: 00000002 00000000 00000000 0005 01    79");
    }

    #[test]
    fn routes() {
        let t = route(&[eth()]);
        let lines: alloc::vec::Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0");
        assert_eq!(lines[2], "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0");
    }
}
