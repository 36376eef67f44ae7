//! Linux's `ip=` parameter (`Documentation/admin-guide/nfs/nfsroot.rst`):
//! `ip=<client>:<server>:<gateway>:<netmask>:<hostname>:<device>:<autoconf>:...`, or `ip=dhcp`, `ip=off`.

/// An IPv4 address as four bytes.
pub type Ipv4 = [u8; 4];

/// What `ip=` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpConfig<'a> {
    /// No configuration (`off`, `none`, or no `ip=`).
    Off,
    /// Ask a DHCP server (`dhcp`, `on`, `any`, or a static line whose autoconf field says so).
    Dhcp {
        /// The device named, if any.
        device: Option<&'a str>,
    },
    /// A fixed address.
    Static {
        /// The client's address.
        addr: Ipv4,
        /// The prefix length of the netmask (24 when none is given).
        prefix: u8,
        /// The default gateway.
        gateway: Option<Ipv4>,
        /// The device named, if any.
        device: Option<&'a str>,
    },
}

/// Why an `ip=` value is not understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpError {
    /// An address field is not a dotted quad.
    BadAddress,
    /// The netmask is not a contiguous run of ones.
    BadNetmask,
    /// A static line without a client address.
    NoAddress,
    /// An autoconf method ember does not know (`bootp`, `rarp`).
    Method,
}

fn ipv4(s: &str) -> Result<Ipv4, IpError> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for b in &mut out {
        *b = parts.next().and_then(|p| p.parse().ok()).ok_or(IpError::BadAddress)?;
    }
    if parts.next().is_some() {
        return Err(IpError::BadAddress);
    }
    Ok(out)
}

fn prefix(mask: Ipv4) -> Result<u8, IpError> {
    let m = u32::from_be_bytes(mask);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) != 0 {
        return Err(IpError::BadNetmask);
    }
    Ok(ones as u8)
}

fn opt(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.is_empty())
}

impl<'a> IpConfig<'a> {
    /// Parses the value of `ip=`.
    pub fn parse(value: &'a str) -> Result<IpConfig<'a>, IpError> {
        match value {
            "" | "off" | "none" => return Ok(IpConfig::Off),
            "dhcp" | "on" | "any" => return Ok(IpConfig::Dhcp { device: None }),
            _ => {}
        }
        let mut f = value.split(':');
        let client = opt(f.next());
        let _server = f.next();
        let gateway = opt(f.next()).map(ipv4).transpose()?;
        let mask = opt(f.next()).map(ipv4).transpose()?;
        let _hostname = f.next();
        let device = opt(f.next());
        match opt(f.next()).unwrap_or("off") {
            "off" | "none" => {}
            "dhcp" | "on" | "any" => return Ok(IpConfig::Dhcp { device }),
            _ => return Err(IpError::Method),
        }
        let addr = ipv4(client.ok_or(IpError::NoAddress)?)?;
        Ok(IpConfig::Static {
            addr,
            prefix: mask.map(prefix).transpose()?.unwrap_or(24),
            gateway,
            device,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firecracker_style() {
        assert_eq!(
            IpConfig::parse("172.16.0.2::172.16.0.1:255.255.255.252::eth0:off"),
            Ok(IpConfig::Static {
                addr: [172, 16, 0, 2],
                prefix: 30,
                gateway: Some([172, 16, 0, 1]),
                device: Some("eth0"),
            })
        );
        assert_eq!(
            IpConfig::parse("10.0.2.15"),
            Ok(IpConfig::Static {
                addr: [10, 0, 2, 15],
                prefix: 24,
                gateway: None,
                device: None
            })
        );
    }

    #[test]
    fn methods() {
        assert_eq!(IpConfig::parse("dhcp"), Ok(IpConfig::Dhcp { device: None }));
        assert_eq!(IpConfig::parse("off"), Ok(IpConfig::Off));
        assert_eq!(
            IpConfig::parse(":::::eth0:dhcp"),
            Ok(IpConfig::Dhcp { device: Some("eth0") })
        );
        assert_eq!(IpConfig::parse("1.2.3.4:::::eth0:bootp"), Err(IpError::Method));
    }

    #[test]
    fn bad_values() {
        assert_eq!(IpConfig::parse("1.2.3"), Err(IpError::BadAddress));
        assert_eq!(IpConfig::parse("1.2.3.4.5"), Err(IpError::BadAddress));
        assert_eq!(IpConfig::parse("1.2.3.256"), Err(IpError::BadAddress));
        assert_eq!(
            IpConfig::parse("1.2.3.4::1.2.3.1:255.0.255.0"),
            Err(IpError::BadNetmask)
        );
        assert_eq!(IpConfig::parse(":::255.255.255.0::eth0:off"), Err(IpError::NoAddress));
        assert_eq!(
            IpConfig::parse("1.2.3.4:::0.0.0.0"),
            Ok(IpConfig::Static {
                addr: [1, 2, 3, 4],
                prefix: 0,
                gateway: None,
                device: None
            })
        );
    }
}
