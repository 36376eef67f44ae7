//! The IP stack: `smoltcp` over the first virtio network device, configured from `ip=` (a fixed address or
//! DHCP). A kernel task polls it when the device interrupts, when a socket call asks ([`kick`]), and when
//! smoltcp's own timers (retransmits, DHCP) are due; after each poll that changed sockets it wakes
//! [`SOCKETS`] and the pollers.

use crate::fs::poll;
use crate::virtio::net::VirtioNet;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use ember_cmdline::{Cmdline, IpConfig};
use ember_frame::task::{Task, WaitQueue};
use ember_frame::time::now_ns;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::{dhcpv4, tcp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};
use spin::Mutex;

/// The stack: device, interface, sockets.
pub struct Stack {
    nic: VirtioNet,
    /// The interface (addresses, routes).
    pub iface: Interface,
    /// Every smoltcp socket.
    pub sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    /// TCP sockets closed by their files, left to finish their close, removed once closed.
    pub orphans: Vec<SocketHandle>,
}

static STACK: Mutex<Option<Stack>> = Mutex::new(None);
/// The poll task waits here.
static POLLER: WaitQueue = WaitQueue::new();
/// Set when the poll task should run now.
static PENDING: AtomicBool = AtomicBool::new(false);
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

/// Whether there is a network device.
pub fn present() -> bool {
    STACK.lock().is_some()
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
    let (r, changed) = {
        let mut guard = STACK.lock();
        let s = guard.as_mut()?;
        let r = f(s);
        (r, s.poll())
    };
    if changed {
        SOCKETS.wake_all();
        poll::notify();
    }
    kick();
    Some(r)
}

impl Stack {
    /// Polls the interface once; true when sockets may have changed.
    fn poll(&mut self) -> bool {
        let changed =
            self.iface.poll(now(), &mut Phy(&mut self.nic), &mut self.sockets) == PollResult::SocketStateChanged;
        let changed = self.dhcp_events() || changed;
        let sockets = &mut self.sockets;
        self.orphans.retain(|&h| {
            let done = matches!(
                sockets.get::<tcp::Socket>(h).state(),
                tcp::State::Closed | tcp::State::TimeWait
            );
            if done {
                sockets.remove(h);
            }
            !done
        });
        changed
    }

    /// Applies what DHCP reported; true when the address changed.
    fn dhcp_events(&mut self) -> bool {
        let Some(h) = self.dhcp else { return false };
        match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => false,
            Some(dhcpv4::Event::Configured(c)) => {
                log::info!(
                    "net: eth0 {} from DHCP{}",
                    c.address,
                    c.router.map(|r| alloc::format!(", gateway {r}")).unwrap_or_default()
                );
                let (address, router) = (c.address, c.router);
                set_address(&mut self.iface, address, router);
                true
            }
            // (smoltcp reports one at start, before any lease.)
            Some(dhcpv4::Event::Deconfigured) if self.iface.ipv4_addr().is_none() => false,
            Some(dhcpv4::Event::Deconfigured) => {
                log::info!("net: eth0 lost its DHCP lease");
                self.iface.update_ip_addrs(|a| a.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                true
            }
        }
    }
}

fn set_address(iface: &mut Interface, address: Ipv4Cidr, gateway: Option<Ipv4Address>) {
    iface.update_ip_addrs(|a| {
        a.clear();
        let _ = a.push(IpCidr::Ipv4(address));
    });
    match gateway {
        Some(g) => {
            let _ = iface.routes_mut().add_default_ipv4_route(g);
        }
        None => {
            iface.routes_mut().remove_default_ipv4_route();
        }
    }
}

/// Starts the stack on `nic` (nothing without one), configured from `ip=`.
pub fn start(nic: Option<VirtioNet>, cmdline: &Cmdline<'_>) {
    let Some(mut nic) = nic else { return };
    // TCP sequence numbers and ports want a seed; an entropy device, if any, has given it by now.
    crate::random::seed_if_unseeded();
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(nic.mac())));
    let mut seed = [0u8; 8];
    crate::random::fill(&mut seed);
    config.random_seed = u64::from_ne_bytes(seed);
    let mut iface = Interface::new(config, &mut Phy(&mut nic), now());
    let mut sockets = SocketSet::new(Vec::new());
    let mut dhcp = None;
    match IpConfig::parse(cmdline.value("ip").unwrap_or("")) {
        Ok(IpConfig::Off) => log::info!("net: eth0 up, no address (no ip=)"),
        Ok(IpConfig::Dhcp { .. }) => {
            log::info!("net: eth0 up, asking DHCP");
            dhcp = Some(sockets.add(dhcpv4::Socket::new()));
        }
        Ok(IpConfig::Static {
            addr, prefix, gateway, ..
        }) => {
            let a = Ipv4Address::from(addr);
            set_address(&mut iface, Ipv4Cidr::new(a, prefix), gateway.map(Ipv4Address::from));
            log::info!(
                "net: eth0 {a}/{prefix}{}",
                gateway
                    .map(|g| alloc::format!(", gateway {}", Ipv4Address::from(g)))
                    .unwrap_or_default()
            );
        }
        Err(e) => log::warn!("net: ip= not understood ({e:?}); eth0 up without an address"),
    }
    *STACK.lock() = Some(Stack {
        nic,
        iface,
        sockets,
        dhcp,
        orphans: Vec::new(),
    });
    if Task::spawn(poll_task, ()).is_err() {
        log::error!("net: no task for the network stack; it runs only when sockets are used");
    }
}

/// With `ip=dhcp`, waits up to `timeout_ns` for the lease, as Linux's `ipconfig` does before it starts init
/// (a program's first `connect` would otherwise find no address); logs a warning when none came.
pub fn wait_for_lease(timeout_ns: u64) {
    if !peek(|s| s.dhcp.is_some() && s.iface.ipv4_addr().is_none()).unwrap_or(false) {
        return;
    }
    let deadline = now_ns().saturating_add(timeout_ns);
    let leased = SOCKETS.wait_until_deadline(
        || peek(|s| s.iface.ipv4_addr().is_some()).unwrap_or(true).then_some(()),
        Some(deadline),
    );
    if leased.is_none() {
        log::warn!("net: no DHCP lease after {} s; starting init without an address", timeout_ns / 1_000_000_000);
    }
}

fn poll_task() {
    loop {
        let (changed, delay) = {
            let mut guard = STACK.lock();
            let Some(s) = guard.as_mut() else { return };
            let mut changed = false;
            // Poll until the device has nothing more to give.
            for _ in 0..64 {
                if !s.poll() {
                    break;
                }
                changed = true;
            }
            (changed, s.iface.poll_delay(now(), &s.sockets))
        };
        if changed {
            SOCKETS.wake_all();
            poll::notify();
        }
        let deadline = delay.map(|d| now_ns().saturating_add(d.total_micros().saturating_mul(1000)));
        POLLER.wait_until_deadline(|| PENDING.swap(false, Ordering::SeqCst).then_some(()), deadline);
    }
}

/// smoltcp's view of the device.
struct Phy<'a>(&'a mut VirtioNet);

/// A received frame.
struct Rx(Vec<u8>);

/// Room to send one frame.
struct Tx<'a>(&'a mut VirtioNet);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
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
        let frame = self.0.receive()?;
        Some((Rx(frame), Tx(self.0)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        self.0.can_send().then_some(Tx(self.0))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = ember_virtio::net::MAX_FRAME;
        c.max_burst_size = Some(crate::virtio::net::TX_SLOTS);
        c
    }
}
