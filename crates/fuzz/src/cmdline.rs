//! The command line (`ember-cmdline`): Linux's parameter grammar and `virtio_mmio.device=`.

use crate::input::Input;
use ember_cmdline::{Cmdline, IpConfig, VirtioMmioDevice, memparse, names_equal, parse_integer};

/// Splits the input (lossy UTF-8) into parameters and parses every value as a `virtio_mmio.device=`. Checks:
/// every parameter is a piece of the line, a name holds spaces only when quotes grouped them, `value`/`has` agree with the
/// parameter list, and an accepted device prints back to itself.
pub fn cmdline(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let line = Cmdline::new(&text);
    let range = text.as_ptr() as usize..text.as_ptr() as usize + text.len() + 1;
    let mut count = 0;
    for p in line.params() {
        count += 1;
        assert!(count <= text.len(), "more parameters than bytes");
        assert!(range.contains(&(p.name.as_ptr() as usize)), "a name outside the line");
        if p.name.contains(|c: char| c.is_ascii_whitespace() || c == '\0') {
            assert!(text.contains('"'), "space in {:?} without quotes", p.name);
        }
        // Each look-up walks the whole line: check the first few, to keep a run linear.
        if count <= 8 {
            let last = line.params().filter(|q| names_equal(q.name, p.name)).last();
            assert_eq!(line.value(p.name), last.map(|q| q.value.unwrap_or("")));
            assert!(line.has(p.name));
        }
        if let Some(v) = p.value {
            assert!(range.contains(&(v.as_ptr() as usize)), "a value outside the line");
            virtio_mmio(v);
        }
    }
    let _ = line.loglevel();
    virtio_mmio(&text);
}

fn virtio_mmio(s: &str) {
    let _ = memparse(s);
    if let Some((v, rest)) = parse_integer(s, None) {
        assert!(
            s.ends_with(rest) && rest.len() < s.len(),
            "parse_integer consumed nothing for {v}"
        );
    }
    let Ok(d) = VirtioMmioDevice::parse(s) else {
        return;
    };
    assert!(d.size > 0 && d.irq != 0, "{d:?}");
    assert!(d.base.checked_add(d.size).is_some(), "{d:?} wraps");
    let id = d.id.map(|i| format!(":{i}")).unwrap_or_default();
    let printed = format!("{}@{:#x}:{}{id}", d.size, d.base, d.irq);
    assert_eq!(VirtioMmioDevice::parse(&printed), Ok(d), "{s:?} printed as {printed:?}");
}

/// Input: a mode byte, then either an `ip=` value as text (lossy UTF-8), or a static configuration drawn from
/// the bytes and written out in Linux's syntax. Checks: a parse never panics; a static result has a prefix of
/// at most 32 and a device without `:`; a written-out configuration parses back to exactly itself; `off`,
/// `none`, `dhcp`, `on`, `any` mean what Linux says.
pub fn ip(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8() & 1 == 0 {
        let text = String::from_utf8_lossy(input.rest());
        match IpConfig::parse(&text) {
            Ok(IpConfig::Static { prefix, device, .. }) => {
                assert!(prefix <= 32);
                assert!(device.is_none_or(|d| !d.is_empty() && !d.contains(':')));
            }
            Ok(IpConfig::Dhcp { device }) => assert!(device.is_none_or(|d| !d.is_empty() && !d.contains(':'))),
            Ok(IpConfig::Off) | Err(_) => {}
        }
        match text.as_ref() {
            "" | "off" | "none" => assert_eq!(IpConfig::parse(&text), Ok(IpConfig::Off)),
            "dhcp" | "on" | "any" => assert_eq!(IpConfig::parse(&text), Ok(IpConfig::Dhcp { device: None })),
            _ => {}
        }
        return;
    }
    let quad = |i: &mut Input| [i.u8(), i.u8(), i.u8(), i.u8()];
    let addr = quad(&mut input);
    let prefix = input.u8() % 33;
    let gateway = input.bool().then(|| quad(&mut input));
    let device: String = (0..input.below(6))
        .map(|_| char::from(b'a' + input.u8() % 26))
        .collect();
    let device = (!device.is_empty()).then_some(device.as_str());
    let dotted = |q: [u8; 4]| format!("{}.{}.{}.{}", q[0], q[1], q[2], q[3]);
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0).to_be_bytes();
    let line = format!(
        "{}::{}:{}::{}:off",
        dotted(addr),
        gateway.map(dotted).unwrap_or_default(),
        dotted(mask),
        device.unwrap_or("")
    );
    assert_eq!(
        IpConfig::parse(&line),
        Ok(IpConfig::Static {
            addr,
            prefix,
            gateway,
            device
        }),
        "{line}"
    );
}
