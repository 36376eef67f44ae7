//! The interface ioctls `ifconfig` and `route`-less tools use on any socket: `SIOCGIFCONF` (the list),
//! `SIOCGIFNAME`/`SIOCGIFINDEX`, and per interface `SIOCGIF{FLAGS,ADDR,BRDADDR,DSTADDR,NETMASK,HWADDR,MTU,
//! METRIC,TXQLEN,MAP}` and the changes `SIOCSIF{FLAGS,ADDR,NETMASK}` (privileged), on an interface or an
//! alias of one (`eth0:1`, an address's label). The `struct ifreq` layout is in `ember-netconf`.

use super::stack;
use crate::process::current;
use crate::syscall::errno::{Errno, SysResult};
use crate::syscall::uaccess;
use ember_creds::caps::CAP_NET_ADMIN;
use ember_netconf::ifreq::{self, IFCONF_LEN, IFREQ_LEN};
use ember_netconf::{IFF_LOOPBACK, IFF_UP, Interface, netmask, prefix_len};

const SIOCGIFNAME: u32 = 0x8910;
const SIOCGIFCONF: u32 = 0x8912;
const SIOCGIFFLAGS: u32 = 0x8913;
const SIOCSIFFLAGS: u32 = 0x8914;
const SIOCGIFADDR: u32 = 0x8915;
const SIOCSIFADDR: u32 = 0x8916;
const SIOCGIFDSTADDR: u32 = 0x8917;
const SIOCGIFBRDADDR: u32 = 0x8919;
const SIOCGIFNETMASK: u32 = 0x891b;
const SIOCSIFNETMASK: u32 = 0x891c;
const SIOCGIFMETRIC: u32 = 0x891d;
const SIOCGIFMTU: u32 = 0x8921;
const SIOCGIFHWADDR: u32 = 0x8927;
const SIOCGIFINDEX: u32 = 0x8933;
const SIOCGIFTXQLEN: u32 = 0x8942;
const SIOCGIFMAP: u32 = 0x8970;

/// Whether `cmd` is one of the interface ioctls.
pub fn is_ifreq(cmd: u32) -> bool {
    (SIOCGIFNAME..=SIOCGIFMAP).contains(&cmd)
}

/// Runs interface ioctl `cmd` on the request at `arg`; `ENOTTY` for one this kernel does not know.
pub fn ioctl(cmd: u32, arg: u64) -> SysResult {
    let ifaces = stack::interfaces();
    if cmd == SIOCGIFCONF {
        return ifconf(&ifaces, arg);
    }
    let mut req = [0u8; IFREQ_LEN];
    uaccess::read_bytes(arg, &mut req)?;
    if cmd == SIOCGIFNAME {
        let index = ifreq::int(&req);
        let i = ifaces.iter().find(|i| i.index as i32 == index).ok_or(Errno::ENODEV)?;
        req[..ifreq::IFNAMSIZ].copy_from_slice(&ifreq::named(i.name)[..ifreq::IFNAMSIZ]);
        return uaccess::write_bytes(arg, &req).map(|()| 0);
    }
    // An alias (`eth0:1`) names its interface and one of its addresses, by label.
    let label = ifreq::name(&req).map_err(|_| Errno::EINVAL)?;
    let name = label.split(':').next().unwrap_or(label);
    let i = ifaces.iter().find(|i| i.name == name).ok_or(Errno::ENODEV)?;
    let addr4 = i.ipv4.iter().find(|a| a.label == label);
    let (addr, prefix) = addr4.map_or(([0; 4], 0), |a| (a.addr, a.prefix));
    match cmd {
        SIOCGIFFLAGS => ifreq::set_flags(&mut req, i.flags as u16),
        SIOCGIFADDR | SIOCGIFDSTADDR | SIOCGIFBRDADDR | SIOCGIFNETMASK => {
            if addr4.is_none() {
                return Err(Errno::EADDRNOTAVAIL);
            }
            let m = netmask(prefix);
            let a = match cmd {
                SIOCGIFADDR => addr,
                SIOCGIFNETMASK => m,
                SIOCGIFBRDADDR if i.flags & IFF_LOOPBACK == 0 => core::array::from_fn(|k| addr[k] | !m[k]),
                _ => [0; 4],
            };
            ifreq::set_inet(&mut req, a);
        }
        SIOCGIFHWADDR => match i.mac {
            Some(mac) => ifreq::set_hwaddr(&mut req, ifreq::ARPHRD_ETHER, mac),
            None => ifreq::set_hwaddr(&mut req, ifreq::ARPHRD_LOOPBACK, [0; 6]),
        },
        SIOCGIFMTU => ifreq::set_int(&mut req, i.mtu as i32),
        SIOCGIFINDEX => ifreq::set_int(&mut req, i.index as i32),
        SIOCGIFMETRIC => ifreq::set_int(&mut req, 0),
        SIOCGIFTXQLEN => ifreq::set_int(&mut req, if i.flags & IFF_LOOPBACK != 0 { 1000 } else { 32 }),
        // `struct ifmap`: no memory window, IRQ or DMA channel to show.
        SIOCGIFMAP => req[ifreq::IFNAMSIZ..].fill(0),
        SIOCSIFFLAGS | SIOCSIFADDR | SIOCSIFNETMASK => return set(cmd, i, label, &req),
        _ => return Err(Errno::ENOTTY),
    }
    uaccess::write_bytes(arg, &req).map(|()| 0)
}

/// The changes: privileged, as on Linux (`CAP_NET_ADMIN`). On an alias (`label` is not the interface's
/// name), the address changes are that alias's, and taking it down removes it, as Linux does.
fn set(cmd: u32, i: &Interface, label: &str, req: &[u8; IFREQ_LEN]) -> SysResult {
    if !current().creds().capable(CAP_NET_ADMIN) {
        return Err(Errno::EPERM);
    }
    let inet = || ifreq::inet(req).map_err(|_| Errno::EINVAL);
    let up = u32::from(ifreq::flags(req)) & IFF_UP != 0;
    match cmd {
        SIOCSIFFLAGS if label == i.name => stack::set_up(i.index, up),
        SIOCSIFFLAGS if !i.ipv4.iter().any(|a| a.label == label) => Err(Errno::EADDRNOTAVAIL),
        SIOCSIFFLAGS if up => Ok(()),
        SIOCSIFFLAGS => stack::remove_label(i.index, label),
        SIOCSIFADDR => stack::set_ipv4(i.index, label, Some(inet()?), None),
        _ => stack::set_ipv4(i.index, label, None, Some(prefix_len(inet()?).ok_or(Errno::EINVAL)?)),
    }
    .map(|()| 0)
}

/// `SIOCGIFCONF`: a `struct ifreq` for each IPv4 address, named by its label (`eth0`, `eth0:1`), as many as
/// fit; a null buffer asks for the length needed.
fn ifconf(ifaces: &[Interface], arg: u64) -> SysResult {
    let mut conf = [0u8; IFCONF_LEN];
    uaccess::read_bytes(arg, &mut conf)?;
    let (len, buf) = ifreq::ifconf(&conf);
    let addressed = ifaces
        .iter()
        .flat_map(|i| i.ipv4.iter().map(|a| (a.label.as_str(), a.addr)));
    let room = usize::try_from(len).map_err(|_| Errno::EINVAL)? / IFREQ_LEN;
    let mut written = 0;
    for (name, addr) in addressed {
        if buf != 0 {
            if written == room {
                break;
            }
            let mut req = ifreq::named(name);
            ifreq::set_inet(&mut req, addr);
            uaccess::write_bytes(buf + (written * IFREQ_LEN) as u64, &req)?;
        }
        written += 1;
    }
    uaccess::write_bytes(arg, &ifreq::encode_ifconf((written * IFREQ_LEN) as i32, buf)).map(|()| 0)
}
