//! The IP stack: `smoltcp` on `lo` (127.0.0.1/8 and ::1, always there) and the first virtio network device,
//! configured from `ip=` (a fixed address or DHCP) for IPv4, with a link-local IPv6 address from its MAC
//! (EUI-64) and more from router advertisements (SLAAC). Each interface has its own sockets ([`Net`]); a socket lives on the
//! interface that reaches its peer ([`Stack::route`]), a listener on every interface its address is on. A kernel task polls it when the device interrupts, when a socket call asks ([`kick`]), and when
//! smoltcp's own timers (retransmits, DHCP) are due; after each poll that changed sockets it wakes
//! [`SOCKETS`] and the pollers.

use crate::fs::poll;
use crate::syscall::errno::Errno;
use crate::virtio::net::VirtioNet;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use ember_cmdline::{Cmdline, IpConfig};
use ember_frame::sync::Mutex;
use ember_frame::task::{Task, WaitQueue};
use ember_frame::time::now_ns;
use ember_netconf::dad::Dad;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::{AnySocket, dhcpv4, icmp, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr,
};

/// The loopback interface's index in [`Stack::nets`] (Linux numbers `lo` 1, the first device 2).
pub const LO: usize = 0;
/// The first network device's index in [`Stack::nets`], when there is one.
pub const ETH: usize = 1;

/// What an interface sends through.
enum Dev {
    /// The virtio network device.
    Virtio(Box<VirtioNet>),
    /// `lo`: every packet sent is received, in order.
    Loopback(VecDeque<Vec<u8>>),
}

/// One interface with its own sockets: smoltcp routes a socket through the interface it is polled with, so
/// each socket lives on the one interface its addresses belong to.
pub struct Net {
    dev: Dev,
    /// Packets and bytes through the device.
    pub stats: Stats,
    /// Up (`IFF_UP`): a down interface is neither polled nor routed through.
    pub up: bool,
    /// The interface (addresses, routes).
    pub iface: Interface,
    /// The sockets on this interface.
    pub sockets: SocketSet<'static>,
    /// The router and lifetime of the last router advertisement received, not yet applied.
    advert: Option<(Ipv6Address, smoltcp::time::Duration)>,
    /// Duplicate address detection of the IPv6 addresses (the device's; `lo` has none).
    pub dad: Dad,
    /// Addresses other nodes said were theirs (advertisements, their own detection) since the last poll.
    conflicts: Vec<Ipv6Address>,
    /// The labels of IPv4 addresses that have one other than the interface's name (aliases: `eth0:1`).
    pub labels: Vec<(Ipv4Address, String)>,
}

impl Net {
    /// Polls the interface once; true when sockets may have changed.
    fn poll(&mut self) -> bool {
        if !self.up {
            return false;
        }
        let room = &mut self.syn_room();
        let stats = &mut self.stats;
        let r = match &mut self.dev {
            Dev::Virtio(nic) => {
                let (advert, conflicts) = (&mut self.advert, &mut self.conflicts);
                let phy = &mut Phy {
                    nic,
                    stats,
                    advert,
                    conflicts,
                    room,
                };
                self.iface.poll(now(), phy, &mut self.sockets)
            }
            Dev::Loopback(queue) => self
                .iface
                .poll(now(), &mut Loop { queue, stats, room }, &mut self.sockets),
        };
        if let Some((router, lifetime)) = self.advert.take() {
            self.default_route6(router, lifetime);
        }
        self.detect_duplicates();
        r == PollResult::SocketStateChanged
    }

    /// Duplicate address detection on the device: takes off the tentative addresses other nodes have (one
    /// log line each), starts detecting new addresses, sends the solicitations due (RFC 4862, optimistic).
    fn detect_duplicates(&mut self) {
        let Dev::Virtio(nic) = &mut self.dev else { return };
        let t = now();
        // Most polls have nothing to do here: no claim, no timer, no address added or gone.
        let v6 = self.iface.ip_addrs().iter().filter_map(|c| match c {
            IpCidr::Ipv6(c) => Some(c.address()),
            _ => None,
        });
        if self.conflicts.is_empty() && self.dad.next_at().is_none_or(|at| at > t) && self.dad.tracks(v6) {
            return;
        }
        let mut gone: Vec<Ipv6Address> = Vec::new();
        for a in self.conflicts.drain(..) {
            if self.dad.conflict(a) {
                log::warn!("net: eth0: IPv6 address {a} is another node's (duplicate address detection); removed");
                gone.push(a);
            }
        }
        let current: Vec<(Ipv6Address, u8)> = self
            .iface
            .ip_addrs()
            .iter()
            .filter_map(|c| match c {
                IpCidr::Ipv6(c) if !gone.contains(&c.address()) => Some((c.address(), c.prefix_len())),
                _ => None,
            })
            .collect();
        gone.extend(self.dad.track(&current));
        if !gone.is_empty() {
            self.iface.update_ip_addrs(|addrs| {
                addrs.retain(|c| !matches!(c, IpCidr::Ipv6(c) if gone.contains(&c.address())))
            });
        }
        let mac = nic.mac();
        for target in self.dad.tick(t) {
            if nic.can_send() {
                let frame = ember_netconf::dad::solicitation(mac, target);
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += frame.len() as u64;
                nic.send(frame.len(), |buf| buf.copy_from_slice(&frame));
            }
        }
    }

    /// The listening slots free on this interface, by listening port. On the way, a slot whose connection
    /// completed its handshake loses the half-open timeout it listened with: it waits in the accept queue for
    /// as long as the server takes to accept it, as on Linux (the timeout is due at a poll, and this runs
    /// before every poll's sockets do).
    fn syn_room(&mut self) -> SynRoom {
        let mut room: SynRoom = super::inet::listening_ports().into_iter().map(|p| (p, 0)).collect();
        if room.is_empty() {
            return room;
        }
        for (_, socket) in self.sockets.iter_mut() {
            let Some(t) = tcp::Socket::downcast_mut(socket) else {
                continue;
            };
            match t.state() {
                tcp::State::Listen => {
                    if let Some(n) = room.get_mut(&t.listen_endpoint().port) {
                        *n += 1;
                    }
                }
                tcp::State::SynReceived | tcp::State::Closed => {}
                _ if t.timeout().is_some() => t.set_timeout(None),
                _ => {}
            }
        }
        room
    }

    /// Applies a router advertisement: a default route through `router` for `lifetime`, none at 0 (smoltcp's
    /// SLAAC adds no route while an IPv4 one is in the table; [`ember_netconf::ra`]).
    fn default_route6(&mut self, router: Ipv6Address, lifetime: smoltcp::time::Duration) {
        let default = IpCidr::Ipv6(Ipv6Cidr::new(Ipv6Address::UNSPECIFIED, 0));
        let expires_at = Some(now() + lifetime);
        self.iface.routes_mut().update(|routes| {
            let through = |r: &smoltcp::iface::Route| r.cidr == default && r.via_router == IpAddress::Ipv6(router);
            if lifetime == smoltcp::time::Duration::ZERO {
                routes.retain(|r| !through(r));
            } else if let Some(r) = routes.iter_mut().find(|r| through(r)) {
                r.expires_at = expires_at;
            } else {
                let _ = routes.push(smoltcp::iface::Route {
                    cidr: default,
                    via_router: IpAddress::Ipv6(router),
                    preferred_until: None,
                    expires_at,
                });
            }
        });
    }

    /// The interface's name.
    pub fn name(&self) -> &'static str {
        match self.dev {
            Dev::Virtio(_) => "eth0",
            Dev::Loopback(_) => "lo",
        }
    }

    /// The MAC address (none for `lo`).
    pub fn mac(&self) -> Option<[u8; 6]> {
        match &self.dev {
            Dev::Virtio(nic) => Some(nic.mac()),
            Dev::Loopback(_) => None,
        }
    }
}

/// Traffic counters of an interface (`/proc/net/dev`).
#[derive(Clone, Copy, Default, Debug)]
pub struct Stats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// A smoltcp socket: the interface it lives on ([`Stack::nets`] index) and its handle there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sock {
    /// The interface.
    pub net: usize,
    /// The handle in that interface's socket set.
    pub handle: SocketHandle,
}

/// The stack: `lo` and the device's interface.
pub struct Stack {
    /// The interfaces: [`LO`], then [`ETH`] when there is a network device.
    pub nets: Vec<Net>,
    dhcp: Option<SocketHandle>,
    /// TCP sockets closed by their files, left to finish their close, removed once closed.
    pub orphans: Vec<Sock>,
}

/// `fe80::`, the link-local prefix.
const LINK_LOCAL_PREFIX: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0);

/// `lo`'s MTU: the largest IPv4 packet (Linux says 65536, which an IPv4 length cannot hold).
pub const LOOP_MTU: usize = 65535;
/// Packets `lo` holds before it refuses more (the protocols above retry).
const LOOP_QUEUE: usize = 256;
/// How long the poll task waits, at most, for the device's interrupt when smoltcp has frames to send and the
/// transmit queue is full (the interrupt of a finished transmit buffer ends the wait sooner).
const TX_FULL_WAIT: smoltcp::time::Duration = smoltcp::time::Duration::from_millis(1);

/// Claims of other nodes noted between two polls (a flood of advertisements must not take memory).
const MAX_CONFLICTS: usize = 16;

static STACK: Mutex<Option<Stack>> = Mutex::new(None);
/// The poll task waits here.
static POLLER: WaitQueue = WaitQueue::new();
/// Set when the poll task should run now.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Set once the poll task is spawned: at start with a device, at the first socket call on `lo` alone (so a
/// machine that never uses the network runs no extra task).
static TASK: AtomicBool = AtomicBool::new(false);
/// Socket calls waiting for the stack.
pub static SOCKETS: WaitQueue = WaitQueue::new();

/// The network device's interrupt: poll soon.
pub fn device_interrupt() {
    kick();
}

/// Asks the poll task to run.
pub fn kick() {
    PENDING.store(true, Ordering::SeqCst);
    POLLER.wake_all();
}

fn now() -> Instant {
    Instant::from_micros((now_ns() / 1000) as i64)
}

/// Runs `f` on the stack without polling it (`None` without a network device): for looking.
pub fn peek<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    STACK.lock().as_mut().map(f)
}

/// Runs `f` on the stack (`None` without a network device), then polls it so that what `f` queued goes out.
///
/// That poll may take in what a waiter waits for (a SYN-ACK, data): when it changed sockets, the waiters are
/// woken here, since the poll task will find nothing new to report. (Without this, a `connect` whose
/// SYN-ACK arrived during its own re-check slept forever: busybox `wget`'s first connection after boot.)
pub fn with<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    spawn_task();
    let (r, changed) = {
        let mut guard = STACK.lock();
        let s = guard.as_mut()?;
        let r = f(s);
        let mut changed = s.poll();
        // What went out on `lo` comes back in on the next poll: deliver it now.
        for _ in 0..4 {
            if !s.loopback_pending() {
                break;
            }
            changed |= s.poll();
        }
        (r, changed)
    };
    if changed {
        SOCKETS.wake_all();
        poll::notify();
    }
    kick();
    Some(r)
}

impl Stack {
    /// Polls every interface once; true when sockets may have changed.
    fn poll(&mut self) -> bool {
        let mut changed = false;
        for net in &mut self.nets {
            changed |= net.poll();
        }
        changed |= self.dhcp_events();
        self.mirror();
        let nets = &mut self.nets;
        self.orphans.retain(|&o| {
            let sockets = &mut nets[o.net].sockets;
            let done = matches!(
                sockets.get::<tcp::Socket>(o.handle).state(),
                tcp::State::Closed | tcp::State::TimeWait
            );
            if done {
                sockets.remove(o.handle);
            }
            !done
        });
        changed
    }

    /// Whether the network device can take no frame now (every transmit buffer is with the device).
    fn device_full(&mut self) -> bool {
        match self.nets.get_mut(ETH).map(|n| &mut n.dev) {
            Some(Dev::Virtio(nic)) => !nic.can_send(),
            _ => false,
        }
    }

    /// Whether `lo` holds packets not yet received.
    fn loopback_pending(&self) -> bool {
        matches!(&self.nets[LO].dev, Dev::Loopback(q) if !q.is_empty())
    }

    /// When the poll task should poll next: at once while `lo` holds packets, else when smoltcp wants to, but
    /// when that is now while the device's transmit queue is full, at the device's interrupt (a transmit buffer
    /// done), or [`TX_FULL_WAIT`] at the latest. (Polling again at once only spun: half of a TCP stream's
    /// instructions went to polls that could send nothing.)
    fn next_poll(&mut self) -> Option<smoltcp::time::Duration> {
        if self.loopback_pending() {
            return Some(smoltcp::time::Duration::ZERO);
        }
        match self.poll_delay() {
            Some(d) if d == smoltcp::time::Duration::ZERO && self.device_full() => Some(TX_FULL_WAIT),
            d => d,
        }
    }

    /// When smoltcp, or duplicate address detection, next wants to be polled.
    fn poll_delay(&mut self) -> Option<smoltcp::time::Duration> {
        let t = now();
        let dad = self
            .nets
            .iter()
            .filter(|n| n.up)
            .filter_map(|n| n.dad.next_at())
            .min()
            .map(|at| if at > t { at - t } else { smoltcp::time::Duration::ZERO });
        self.nets
            .iter_mut()
            .filter_map(|n| n.iface.poll_delay(t, &n.sockets))
            .chain(dad)
            .min()
    }

    /// Gives `lo` the device's addresses (as /32 and /128) whenever they changed (`ip=`, DHCP, SLAAC, `ip
    /// addr`, `ifconfig`), so that connections to them stay on `lo`, as Linux's local routing table has it.
    fn mirror(&mut self) {
        let own: Vec<IpAddress> = self
            .nets
            .get(ETH)
            .map(|eth| eth.iface.ip_addrs().iter().map(|c| c.address()).collect())
            .unwrap_or_default();
        let lo = &mut self.nets[LO].iface;
        let mirrored = |c: &IpCidr| !is_loopback(c.address());
        let same =
            lo.ip_addrs().iter().filter(|c| mirrored(c)).count() == own.len() && own.iter().all(|&a| lo.has_ip_addr(a));
        if !same {
            lo.update_ip_addrs(|addrs| {
                addrs.retain(|c| !mirrored(c));
                for a in own {
                    let _ = addrs.push(IpCidr::new(
                        a,
                        if a.version() == smoltcp::wire::IpVersion::Ipv4 {
                            32
                        } else {
                            128
                        },
                    ));
                }
            });
        }
    }

    /// The interface that reaches `dst`: `lo` for 127/8, ::1 and the stack's own addresses, else the
    /// device's; `ENETUNREACH` without one.
    pub fn route(&self, a: IpAddress) -> Result<usize, Errno> {
        if is_loopback(a) || self.nets.iter().any(|n| n.iface.has_ip_addr(a)) {
            Ok(LO)
        } else if self.nets.get(ETH).is_some_and(|n| n.up) {
            Ok(ETH)
        } else {
            Err(Errno::ENETUNREACH)
        }
    }

    /// The interfaces a socket bound to `local` listens on: all for the wildcard address, else those that
    /// have it (`lo` has the device's addresses too); `EADDRNOTAVAIL` when none does.
    pub fn nets_for(&self, a: IpAddress) -> Result<Vec<usize>, Errno> {
        let nets: Vec<usize> = (0..self.nets.len())
            .filter(|&i| a.is_unspecified() || (is_loopback(a) && i == LO) || self.nets[i].iface.has_ip_addr(a))
            .collect();
        if nets.is_empty() {
            Err(Errno::EADDRNOTAVAIL)
        } else {
            Ok(nets)
        }
    }

    /// Adds `socket` to interface `net`.
    pub fn add<T: AnySocket<'static>>(&mut self, net: usize, socket: T) -> Sock {
        Sock {
            net,
            handle: self.nets[net].sockets.add(socket),
        }
    }

    /// Removes a socket.
    pub fn remove(&mut self, s: Sock) {
        self.nets[s.net].sockets.remove(s.handle);
    }

    /// A TCP socket.
    pub fn tcp(&self, s: Sock) -> &tcp::Socket<'static> {
        self.nets[s.net].sockets.get(s.handle)
    }

    /// A TCP socket, to change.
    pub fn tcp_mut(&mut self, s: Sock) -> &mut tcp::Socket<'static> {
        self.nets[s.net].sockets.get_mut(s.handle)
    }

    /// An ICMP socket, to change.
    pub fn icmp_mut(&mut self, s: Sock) -> &mut icmp::Socket<'static> {
        self.nets[s.net].sockets.get_mut(s.handle)
    }

    /// An ICMP socket.
    pub fn icmp(&self, s: Sock) -> &icmp::Socket<'static> {
        self.nets[s.net].sockets.get(s.handle)
    }

    /// A UDP socket.
    pub fn udp(&self, s: Sock) -> &udp::Socket<'static> {
        self.nets[s.net].sockets.get(s.handle)
    }

    /// A UDP socket, to change.
    pub fn udp_mut(&mut self, s: Sock) -> &mut udp::Socket<'static> {
        self.nets[s.net].sockets.get_mut(s.handle)
    }

    /// Applies what DHCP reported; true when the address changed.
    fn dhcp_events(&mut self) -> bool {
        let Some(h) = self.dhcp else { return false };
        let Some(eth) = self.nets.get_mut(ETH) else {
            return false;
        };
        let has_address = eth.iface.ipv4_addr().is_some();
        // (The event borrows the socket: take its values out first.)
        let lease = match eth.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return false,
            Some(dhcpv4::Event::Configured(c)) => Some((c.address, c.router)),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match lease {
            Some((address, router)) => {
                log::info!(
                    "net: eth0 {address} from DHCP{}",
                    router.map(|r| alloc::format!(", gateway {r}")).unwrap_or_default()
                );
                self.set_address(Some(address), router);
                true
            }
            // (smoltcp reports one at start, before any lease.)
            None if !has_address => false,
            None => {
                log::info!("net: eth0 lost its DHCP lease");
                self.set_address(None, None);
                true
            }
        }
    }

    /// Gives the device its primary address `address` (the first labelled with its name; `None` removes it)
    /// and a default route through `gateway` (none: no default route): `ip=`, DHCP.
    fn set_address(&mut self, address: Option<Ipv4Cidr>, gateway: Option<Ipv4Address>) {
        let Some(eth) = self.nets.get_mut(ETH) else { return };
        let name = eth.name();
        let r = match address {
            Some(a) => eth.set_ipv4(name, Some(a.address()), Some(a.prefix_len())),
            None => eth.remove_label(name),
        };
        if let Err(e) = r {
            log::warn!("net: eth0's address not changed ({e:?})");
        }
        let routes = eth.iface.routes_mut();
        match gateway {
            Some(g) => {
                let _ = routes.add_default_ipv4_route(g);
            }
            None => {
                routes.remove_default_ipv4_route();
            }
        }
    }
}

/// Whether `a` is a loopback address (127/8, ::1).
fn is_loopback(a: IpAddress) -> bool {
    match a {
        IpAddress::Ipv4(a) => a.is_loopback(),
        IpAddress::Ipv6(a) => a.is_loopback(),
    }
}

fn seeded_config(hw: HardwareAddress) -> Config {
    let mut config = Config::new(hw);
    let mut seed = [0u8; 8];
    crate::random::fill(&mut seed);
    config.random_seed = u64::from_ne_bytes(seed);
    config
}

/// Starts the stack: `lo` (127.0.0.1/8) always, and an interface on `nic` when there is one, configured
/// from `ip=`.
pub fn start(nic: Option<VirtioNet>, cmdline: &Cmdline<'_>) {
    // TCP sequence numbers and ports want a seed; an entropy device, if any, has given it by now.
    crate::random::seed_if_unseeded();
    let (mut queue, mut stats) = (VecDeque::new(), Stats::default());
    let mut lo = Loop {
        queue: &mut queue,
        stats: &mut stats,
        room: &mut SynRoom::new(),
    };
    let mut lo_iface = Interface::new(seeded_config(HardwareAddress::Ip), &mut lo, now());
    lo_iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(127, 0, 0, 1), 8)));
        let _ = a.push(IpCidr::Ipv6(Ipv6Cidr::new(Ipv6Address::LOCALHOST, 128)));
    });
    let mut stack = Stack {
        nets: alloc::vec![Net {
            dev: Dev::Loopback(queue),
            stats,
            up: true,
            iface: lo_iface,
            sockets: SocketSet::new(Vec::new()),
            advert: None,
            dad: Dad::new(),
            conflicts: Vec::new(),
            labels: Vec::new(),
        }],
        dhcp: None,
        orphans: Vec::new(),
    };
    if let Some(mut nic) = nic {
        let hw = HardwareAddress::Ethernet(EthernetAddress(nic.mac()));
        let mut config = seeded_config(hw);
        // Addresses from router advertisements; smoltcp solicits them from the link-local address below.
        config.slaac = true;
        let mut stats = Stats::default();
        let mut iface = Interface::new(
            config,
            &mut Phy {
                nic: &mut nic,
                stats: &mut stats,
                advert: &mut None,
                conflicts: &mut Vec::new(),
                room: &mut SynRoom::new(),
            },
            now(),
        );
        // fe80::/64 with the EUI-64 interface identifier of the MAC, as Linux's `addrgenmode eui64`.
        let link_local = Ipv6Cidr::from_link_prefix(&Ipv6Cidr::new(LINK_LOCAL_PREFIX, 64), hw);
        iface.update_ip_addrs(|a| {
            if let Some(ll) = link_local {
                let _ = a.push(IpCidr::Ipv6(ll));
            }
        });
        stack.nets.push(Net {
            dev: Dev::Virtio(Box::new(nic)),
            stats,
            up: true,
            iface,
            sockets: SocketSet::new(Vec::new()),
            advert: None,
            dad: Dad::new(),
            conflicts: Vec::new(),
            labels: Vec::new(),
        });
        match IpConfig::parse(cmdline.value("ip").unwrap_or("")) {
            Ok(IpConfig::Off) => log::info!("net: eth0 up, no address (no ip=)"),
            Ok(IpConfig::Dhcp { .. }) => {
                log::info!("net: eth0 up, asking DHCP");
                stack.dhcp = Some(stack.nets[ETH].sockets.add(dhcpv4::Socket::new()));
            }
            Ok(IpConfig::Static {
                addr, prefix, gateway, ..
            }) => {
                let a = Ipv4Address::from(addr);
                stack.set_address(Some(Ipv4Cidr::new(a, prefix)), gateway.map(Ipv4Address::from));
                log::info!(
                    "net: eth0 {a}/{prefix}{}",
                    gateway
                        .map(|g| alloc::format!(", gateway {}", Ipv4Address::from(g)))
                        .unwrap_or_default()
                );
            }
            Err(e) => log::warn!("net: ip= not understood ({e:?}); eth0 up without an address"),
        }
    }
    let device = stack.nets.len() > ETH;
    *STACK.lock() = Some(stack);
    if device {
        spawn_task();
    }
}

/// Spawns the poll task unless it runs already.
fn spawn_task() {
    if !TASK.swap(true, Ordering::SeqCst) && Task::spawn(poll_task, ()).is_err() {
        log::error!("net: no task for the network stack; it runs only when sockets are used");
    }
}

/// With `ip=dhcp`, waits up to `timeout_ns` for the lease, as Linux's `ipconfig` does before it starts init
/// (a program's first `connect` would otherwise find no address); logs a warning when none came.
pub fn wait_for_lease(timeout_ns: u64) {
    let leased = || peek(|s| s.nets.get(ETH).is_none_or(|n| n.iface.ipv4_addr().is_some())).unwrap_or(true);
    if peek(|s| s.dhcp.is_none()).unwrap_or(true) || leased() {
        return;
    }
    let deadline = now_ns().saturating_add(timeout_ns);
    if SOCKETS
        .wait_until_deadline(|| leased().then_some(()), Some(deadline))
        .is_none()
    {
        log::warn!(
            "net: no DHCP lease after {} s; starting init without an address",
            timeout_ns / 1_000_000_000
        );
    }
}

fn poll_task() {
    // A smoltcp timer (a retransmission, a timeout that closes a socket, the end of TIME-WAIT) can change a
    // socket without the poll saying so: the poll after one wakes the waiters too.
    let mut timer_fired = false;
    loop {
        let (changed, delay) = {
            let mut guard = STACK.lock();
            let Some(s) = guard.as_mut() else { return };
            let mut changed = timer_fired;
            // Poll until the devices have nothing more to give (what `lo` sent is received by the next poll).
            for _ in 0..64 {
                let c = s.poll();
                changed |= c;
                if !c && !s.loopback_pending() {
                    break;
                }
            }
            (changed, s.next_poll())
        };
        if changed {
            SOCKETS.wake_all();
            poll::notify();
        }
        if delay == Some(smoltcp::time::Duration::ZERO) {
            // More to do at once: let other tasks run first.
            ember_frame::task::yield_now();
            continue;
        }
        let deadline = delay.map(|d| now_ns().saturating_add(d.total_micros().saturating_mul(1000)));
        timer_fired = POLLER
            .wait_until_deadline(|| PENDING.swap(false, Ordering::SeqCst).then_some(()), deadline)
            .is_none();
    }
}

/// The listening slots free on an interface, by listening port, as a poll finds them ([`Net::syn_room`]).
type SynRoom = BTreeMap<u16, usize>;

/// Whether a received packet, a connection request to `syn_port` if any, finds the backlog of a listening
/// port full: it is then dropped, as Linux drops it when the accept queue is full (the peer retransmits it),
/// where smoltcp would answer it with a reset. Otherwise it takes a slot from `room` (so a burst of SYNs in
/// one poll cannot overrun the slots either).
fn backlog_full(room: &mut SynRoom, syn_port: Option<u16>) -> bool {
    match syn_port.and_then(|p| room.get_mut(&p)) {
        Some(0) => true,
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

/// smoltcp's view of `lo`: what is sent is received, in order.
struct Loop<'a> {
    queue: &'a mut VecDeque<Vec<u8>>,
    stats: &'a mut Stats,
    /// Free listening slots.
    room: &'a mut SynRoom,
}

/// A packet `lo` sends.
struct LoopTx<'a>(&'a mut VecDeque<Vec<u8>>, &'a mut Stats);

impl phy::TxToken for LoopTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = alloc::vec![0u8; len];
        let r = f(&mut packet);
        self.0.push_back(packet);
        self.1.tx_packets += 1;
        self.1.tx_bytes += len as u64;
        r
    }
}

impl phy::Device for Loop<'_> {
    type RxToken<'a>
        = Rx
    where
        Self: 'a;
    type TxToken<'a>
        = LoopTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Rx, LoopTx<'_>)> {
        let packet = loop {
            let packet = self.queue.pop_front()?;
            if !backlog_full(self.room, ember_netconf::syn::syn_port_ip(&packet)) {
                break packet;
            }
        };
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += packet.len() as u64;
        Some((Rx(packet), LoopTx(self.queue, self.stats)))
    }

    fn transmit(&mut self, _: Instant) -> Option<LoopTx<'_>> {
        // Bounded, so that a sender faster than the receiver cannot take all memory.
        (self.queue.len() < LOOP_QUEUE).then_some(LoopTx(self.queue, self.stats))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = LOOP_MTU;
        c.checksum = ChecksumCapabilities::ignored();
        c
    }
}

/// smoltcp's view of the device.
struct Phy<'a> {
    nic: &'a mut VirtioNet,
    stats: &'a mut Stats,
    /// Where a router advertisement received is noted.
    advert: &'a mut Option<(Ipv6Address, smoltcp::time::Duration)>,
    /// Where the addresses other nodes claim (duplicate address detection) are noted.
    conflicts: &'a mut Vec<Ipv6Address>,
    /// Free listening slots.
    room: &'a mut SynRoom,
}

/// A received frame.
struct Rx(Vec<u8>);

/// Room to send one frame.
struct Tx<'a>(&'a mut VirtioNet, &'a mut Stats);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.1.tx_packets += 1;
        self.1.tx_bytes += len as u64;
        self.0.send(len, f)
    }
}

impl phy::Device for Phy<'_> {
    type RxToken<'a>
        = Rx
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = loop {
            let frame = self.nic.receive()?;
            if !backlog_full(self.room, ember_netconf::syn::syn_port_ethernet(&frame)) {
                break frame;
            }
        };
        if let Some(ra) = ember_netconf::ra::router_advert(&frame) {
            *self.advert = Some(ra);
        }
        if let Some(a) = ember_netconf::dad::conflict(&frame, self.nic.mac())
            && self.conflicts.len() < MAX_CONFLICTS
        {
            self.conflicts.push(a);
        }
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += frame.len() as u64;
        Some((Rx(frame), Tx(self.nic, self.stats)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        self.nic.can_send().then_some(Tx(self.nic, self.stats))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = ember_virtio::net::MAX_FRAME;
        c.max_burst_size = Some(crate::virtio::net::TX_SLOTS);
        c
    }
}

/// Every interface as user space sees it (`ifconfig`, `/proc/net/dev`); empty before the stack starts.
pub fn interfaces() -> Vec<ember_netconf::Interface> {
    use ember_netconf::{IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST, IFF_RUNNING, IFF_UP};
    peek(|s| {
        s.nets
            .iter_mut()
            .enumerate()
            .map(|(i, n)| {
                let lo = i == LO;
                let mut flags = if lo {
                    IFF_LOOPBACK
                } else {
                    IFF_BROADCAST | IFF_MULTICAST
                };
                if n.up {
                    flags |= IFF_UP | IFF_RUNNING;
                }
                let ipv4 = n
                    .ipv4()
                    .iter()
                    .map(|c| ember_netconf::Addr4 {
                        addr: c.address().octets(),
                        prefix: c.prefix_len(),
                        label: n.label(c.address()),
                    })
                    .collect();
                let gateway = n
                    .iface
                    .routes()
                    .get_default_ipv4_route()
                    .and_then(|r| match r.via_router {
                        IpAddress::Ipv4(g) => Some(g.octets()),
                        _ => None,
                    });
                // `lo` shows ::1 only (the device's addresses it answers for are the device's); the device shows
                // the addresses that failed duplicate address detection too.
                let mut ipv6: Vec<([u8; 16], u8, u8)> = n
                    .iface
                    .ip_addrs()
                    .iter()
                    .filter_map(|c| match c {
                        IpCidr::Ipv6(v6) if !lo || v6.address().is_loopback() => {
                            Some((v6.address().octets(), v6.prefix_len(), n.dad.flags(v6.address())))
                        }
                        _ => None,
                    })
                    .collect();
                ipv6.extend(n.dad.failed().map(|(a, p)| (a.octets(), p, n.dad.flags(a))));
                let mut routes6 = Vec::new();
                n.iface.routes_mut().update(|routes| {
                    for r in routes.iter() {
                        if let (IpCidr::Ipv6(dst), IpAddress::Ipv6(via)) = (r.cidr, r.via_router) {
                            routes6.push(ember_netconf::Route6 {
                                dst: dst.address().octets(),
                                prefix: dst.prefix_len(),
                                gateway: via.octets(),
                            });
                        }
                    }
                });
                ember_netconf::Interface {
                    index: i as u32 + 1,
                    name: n.name(),
                    flags,
                    mac: n.mac(),
                    mtu: if lo { LOOP_MTU as u32 } else { 1500 },
                    ipv4,
                    gateway,
                    ipv6,
                    routes6,
                    stats: [
                        n.stats.rx_packets,
                        n.stats.rx_bytes,
                        n.stats.tx_packets,
                        n.stats.tx_bytes,
                    ],
                }
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Brings interface `index` (1-based) up or down (`SIOCSIFFLAGS`); `ENODEV` when there is none.
pub fn set_up(index: u32, up: bool) -> Result<(), Errno> {
    with(|s| {
        let n = s.nets.get_mut((index as usize).wrapping_sub(1)).ok_or(Errno::ENODEV)?;
        n.up = up;
        Ok(())
    })
    .unwrap_or(Err(Errno::ENODEV))
}

/// Sets the address labelled `label` (the interface's name or an alias, `eth0:1`) of interface `index`, or its
/// prefix length, adding one with that label when there is none ([`Net::set_ipv4`]): `SIOCSIFADDR`,
/// `SIOCSIFNETMASK`.
pub fn set_ipv4(index: u32, label: &str, address: Option<[u8; 4]>, prefix: Option<u8>) -> Result<(), Errno> {
    with(|s| {
        let n = s.nets.get_mut((index as usize).wrapping_sub(1)).ok_or(Errno::ENODEV)?;
        n.set_ipv4(label, address.map(Ipv4Address::from), prefix)
    })
    .unwrap_or(Err(Errno::ENODEV))
}

/// Removes the address labelled `label` of interface `index` (`ifconfig eth0:1 down`).
pub fn remove_label(index: u32, label: &str) -> Result<(), Errno> {
    with(|s| {
        let n = s.nets.get_mut((index as usize).wrapping_sub(1)).ok_or(Errno::ENODEV)?;
        n.remove_label(label)
    })
    .unwrap_or(Err(Errno::ENODEV))
}

/// The TCP (`tcp`) or UDP sockets of every interface: those with IPv4 addresses for `/proc/net/tcp` and
/// `/proc/net/udp`, those with IPv6 ones for `tcp6` and `udp6` (bound to the wildcard: in both, since smoltcp
/// takes either family there).
pub fn socket_rows(
    tcp: bool,
) -> (
    Vec<ember_netconf::procnet::SocketRow>,
    Vec<ember_netconf::procnet::SocketRow<[u8; 16]>>,
) {
    use ember_netconf::procnet::*;
    use smoltcp::socket::Socket;
    /// An address for either table: (IPv4, IPv6); the wildcard is both.
    fn split(a: Option<IpAddress>) -> (Option<[u8; 4]>, Option<[u8; 16]>) {
        match a {
            Some(IpAddress::Ipv4(a)) => (Some(a.octets()), None),
            Some(IpAddress::Ipv6(a)) => (None, Some(a.octets())),
            None => (Some([0; 4]), Some([0; 16])),
        }
    }
    peek(|s| {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let mut push = |local: (Option<IpAddress>, u16), remote: Option<smoltcp::wire::IpEndpoint>, state, tx, rx| {
            let (l4, l6) = split(local.0);
            let (r4, r6) = split(remote.map(|r| r.addr));
            let rport = remote.map_or(0, |r| r.port);
            if let (Some(l), Some(r)) = (l4, r4) {
                v4.push(SocketRow {
                    local: (l, local.1),
                    remote: (r, rport),
                    state,
                    tx_queue: tx,
                    rx_queue: rx,
                });
            }
            if let (Some(l), Some(r)) = (l6, r6) {
                v6.push(SocketRow {
                    local: (l, local.1),
                    remote: (r, rport),
                    state,
                    tx_queue: tx,
                    rx_queue: rx,
                });
            }
        };
        for n in &s.nets {
            for (_, sock) in n.sockets.iter() {
                match sock {
                    Socket::Tcp(t) if tcp => {
                        let state = match t.state() {
                            tcp::State::Closed => continue,
                            tcp::State::Listen => TCP_LISTEN,
                            tcp::State::SynSent => TCP_SYN_SENT,
                            tcp::State::SynReceived => TCP_SYN_RECV,
                            tcp::State::Established => TCP_ESTABLISHED,
                            tcp::State::FinWait1 => TCP_FIN_WAIT1,
                            tcp::State::FinWait2 => TCP_FIN_WAIT2,
                            tcp::State::CloseWait => TCP_CLOSE_WAIT,
                            tcp::State::Closing => TCP_CLOSING,
                            tcp::State::LastAck => TCP_LAST_ACK,
                            tcp::State::TimeWait => TCP_TIME_WAIT,
                        };
                        let local = if state == TCP_LISTEN {
                            let l = t.listen_endpoint();
                            (l.addr, l.port)
                        } else {
                            let l = t.local_endpoint();
                            (l.map(|l| l.addr), l.map_or(0, |l| l.port))
                        };
                        push(
                            local,
                            t.remote_endpoint(),
                            state,
                            t.send_queue() as u32,
                            t.recv_queue() as u32,
                        );
                    }
                    Socket::Udp(u) if !tcp && u.is_open() => {
                        let l = u.endpoint();
                        push(
                            (l.addr, l.port),
                            None,
                            TCP_CLOSE,
                            u.send_queue() as u32,
                            u.recv_queue() as u32,
                        );
                    }
                    _ => {}
                }
            }
        }
        (v4, v6)
    })
    .unwrap_or_default()
}
