//! Several IPv4 addresses per interface, kept as Linux keeps them: in the order they were added (the first of
//! a subnet is its primary, later ones in the same subnet are secondary), each with a label, the interface's
//! name or an alias such as `eth0:1` (`ifconfig eth0:1 ...`). smoltcp answers ARP for every address in the
//! interface's table and takes the prefix of each as on-link; `lo` answers for all of them (the stack's
//! `mirror`).

use super::stack::Net;
use crate::syscall::errno::Errno;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use smoltcp::wire::{IpCidr, Ipv4Address, Ipv4Cidr};

/// The addresses (IPv4 and IPv6) the device may have in all: smoltcp's table has 8 places, and `lo` holds
/// them beside 127.0.0.1 and ::1.
pub const MAX_DEVICE_ADDRS: usize = 6;

/// Whether `x` and `y` are the same subnet (Linux makes the later one secondary).
fn same_subnet(x: &Ipv4Cidr, y: &Ipv4Cidr) -> bool {
    x.prefix_len() == y.prefix_len() && x.network() == y.network()
}

impl Net {
    /// Whether this is `lo`.
    fn loopback(&self) -> bool {
        self.mac().is_none()
    }

    /// The interface's IPv4 addresses, in order (on `lo`, its loopback ones, not the device's it answers for).
    pub fn ipv4(&self) -> Vec<Ipv4Cidr> {
        let lo = self.loopback();
        self.iface
            .ip_addrs()
            .iter()
            .filter_map(|c| match c {
                IpCidr::Ipv4(v4) if !lo || v4.address().is_loopback() => Some(*v4),
                _ => None,
            })
            .collect()
    }

    /// The label of address `a`.
    pub fn label(&self, a: Ipv4Address) -> String {
        self.labels
            .iter()
            .find(|(x, _)| *x == a)
            .map_or_else(|| self.name().to_string(), |(_, l)| l.clone())
    }

    fn set_label(&mut self, a: Ipv4Address, label: &str) {
        self.labels.retain(|(x, _)| *x != a);
        if label != self.name() {
            self.labels.push((a, label.to_string()));
        }
    }

    /// Adds `cidr` labelled `label` after the interface's other IPv4 addresses: `EEXIST` when it has the
    /// address, `ENOSPC` when its table is full.
    pub fn add_ipv4(&mut self, cidr: Ipv4Cidr, label: &str) -> Result<(), Errno> {
        if self.ipv4().iter().any(|c| c.address() == cidr.address()) {
            return Err(Errno::EEXIST);
        }
        if !self.loopback() && self.iface.ip_addrs().len() >= MAX_DEVICE_ADDRS {
            return Err(Errno::ENOSPC);
        }
        let mut added = false;
        self.iface.update_ip_addrs(|addrs| {
            let at = addrs
                .iter()
                .rposition(|c| matches!(c, IpCidr::Ipv4(_)))
                .map_or(0, |k| k + 1);
            added = addrs.insert(at, IpCidr::Ipv4(cidr)).is_ok();
        });
        if !added {
            return Err(Errno::ENOSPC);
        }
        self.set_label(cidr.address(), label);
        Ok(())
    }

    /// Removes address `a` and, when it was a primary, the secondaries of its subnet (Linux's default, without
    /// `promote_secondaries`); `EADDRNOTAVAIL` when the interface does not have it.
    pub fn del_ipv4(&mut self, a: Ipv4Address) -> Result<(), Errno> {
        let list = self.ipv4();
        let k = list.iter().position(|c| c.address() == a).ok_or(Errno::EADDRNOTAVAIL)?;
        let primary = !list[..k].iter().any(|e| same_subnet(e, &list[k]));
        let gone: Vec<Ipv4Address> = list
            .iter()
            .enumerate()
            .filter(|&(j, c)| j == k || (primary && j > k && same_subnet(c, &list[k])))
            .map(|(_, c)| c.address())
            .collect();
        self.iface
            .update_ip_addrs(|addrs| addrs.retain(|c| !matches!(c, IpCidr::Ipv4(v) if gone.contains(&v.address()))));
        self.labels.retain(|(x, _)| !gone.contains(x));
        Ok(())
    }

    /// Gives the first address labelled `label` the address and prefix length given (each kept when `None`;
    /// `SIOCSIFADDR`, `SIOCSIFNETMASK`, a DHCP lease), or adds one with that label when there is none (8 bits
    /// of prefix on `lo`, 24 elsewhere, unless given); `EADDRNOTAVAIL` when there is none and no address is
    /// given, `EEXIST` when another address of the interface is the new one.
    pub fn set_ipv4(&mut self, label: &str, address: Option<Ipv4Address>, prefix: Option<u8>) -> Result<(), Errno> {
        let current = self.ipv4().into_iter().find(|c| self.label(c.address()) == label);
        let address = address.or(current.map(|c| c.address())).ok_or(Errno::EADDRNOTAVAIL)?;
        let default = if self.loopback() { 8 } else { 24 };
        let new = Ipv4Cidr::new(address, prefix.or(current.map(|c| c.prefix_len())).unwrap_or(default));
        let Some(current) = current else {
            return self.add_ipv4(new, label);
        };
        if current.address() != address && self.ipv4().iter().any(|c| c.address() == address) {
            return Err(Errno::EEXIST);
        }
        self.iface.update_ip_addrs(|addrs| {
            for c in addrs.iter_mut() {
                if *c == IpCidr::Ipv4(current) {
                    *c = IpCidr::Ipv4(new);
                }
            }
        });
        self.labels.retain(|(x, _)| *x != current.address());
        self.set_label(address, label);
        Ok(())
    }

    /// Removes the first address labelled `label` (`ifconfig eth0:1 down`, a lost DHCP lease);
    /// `EADDRNOTAVAIL` when there is none.
    pub fn remove_label(&mut self, label: &str) -> Result<(), Errno> {
        let a = self
            .ipv4()
            .into_iter()
            .find(|c| self.label(c.address()) == label)
            .ok_or(Errno::EADDRNOTAVAIL)?;
        self.del_ipv4(a.address())
    }
}
