//! A bounded reader for the two things ember needs from AML: virtio-mmio devices in the DSDT (`_HID
//! "LNRO0005"`, `_CRS` with Memory32Fixed and an (extended) Interrupt), as Firecracker and QEMU microvm
//! describe them, and where the VM generation ID is (Firecracker's `VMGENCTR` device, `ADDR`). It does not
//! execute AML; it scans the bytes of each `Device` for those named objects, and every length it follows is
//! checked against what it has.

use crate::topology::{Polarity, Trigger};
use crate::{le16, le32};

/// Most devices reported.
pub const MAX_MMIO_DEVICES: usize = 32;

/// A virtio-mmio device described in the DSDT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioDevice {
    /// Register window base.
    pub base: u64,
    /// Register window size.
    pub size: u64,
    /// Its interrupt (GSI).
    pub gsi: u32,
    /// Trigger mode from the descriptor.
    pub trigger: Trigger,
    /// Polarity from the descriptor.
    pub polarity: Polarity,
}

/// The virtio-mmio devices found, in DSDT order, without duplicates.
#[derive(Clone, Debug)]
pub struct MmioDevices {
    list: [Option<MmioDevice>; MAX_MMIO_DEVICES],
}

impl MmioDevices {
    /// The devices.
    pub fn iter(&self) -> impl Iterator<Item = MmioDevice> + '_ {
        self.list.iter().flatten().copied()
    }

    fn push(&mut self, d: MmioDevice) {
        if self.iter().any(|e| e.base == d.base) {
            return;
        }
        if let Some(slot) = self.list.iter_mut().find(|s| s.is_none()) {
            *slot = Some(d);
        }
    }
}

const DEVICE_OP: [u8; 2] = [0x5B, 0x82];
const HID_LNRO0005: &[u8] = b"\x08_HID\x0DLNRO0005\x00";
const CRS_BUFFER: &[u8] = b"\x08_CRS\x11";
/// The VM generation ID device's `_HID` as Firecracker names it (`devices/acpi/vmgenid.rs`).
const HID_VMGENCTR: &[u8] = b"\x08_HID\x0DVMGENCTR\x00";
/// The `_CID` Microsoft's VM generation ID specification gives the device.
const CID_VM_GEN_COUNTER: &[u8] = b"\x08_CID\x0DVM_Gen_Counter\x00";
/// `Name (ADDR, Package () {...})`: where the 16-byte ID is, low and high 32 bits.
const ADDR_PACKAGE: &[u8] = b"\x08ADDR\x12";

/// Decodes an AML PkgLength at the start of `b`: (length, bytes the encoding took).
fn pkg_length(b: &[u8]) -> Option<(usize, usize)> {
    let lead = *b.first()?;
    let follow = (lead >> 6) as usize;
    if follow == 0 {
        return Some(((lead & 0x3F) as usize, 1));
    }
    let mut len = (lead & 0x0F) as usize;
    for i in 0..follow {
        len |= (*b.get(1 + i)? as usize) << (4 + 8 * i);
    }
    Some((len, 1 + follow))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The bytes of each `Device` in a DSDT (from its PkgLength to its end, cut at the table's end), in order;
/// a device inside another's bytes comes again on its own.
fn devices(dsdt: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = 0;
    core::iter::from_fn(move || {
        loop {
            let at = dsdt.get(i..).and_then(|rest| find(rest, &DEVICE_OP))?;
            let start = i + at + 2;
            i = start;
            if let Some((len, _)) = pkg_length(&dsdt[start..]) {
                return Some(&dsdt[start..start.saturating_add(len).min(dsdt.len())]);
            }
        }
    })
}

/// Scans the body of a DSDT (the whole table) for virtio-mmio devices.
pub fn virtio_mmio_devices(dsdt: &[u8]) -> MmioDevices {
    let mut found = MmioDevices {
        list: [None; MAX_MMIO_DEVICES],
    };
    for device in devices(dsdt) {
        if find(device, HID_LNRO0005).is_some()
            && let Some(d) = crs(device)
        {
            found.push(d);
        }
    }
    found
}

/// The guest-physical address of the 16-byte VM generation ID, from the DSDT's VM generation ID device
/// (`_HID "VMGENCTR"` or `_CID "VM_Gen_Counter"`) whose `ADDR` is a package of two integers, the low and high
/// 32 bits, as Firecracker writes it. `None` without one (QEMU's `ADDR` is a method, which this does not run).
pub fn vmgenid_address(dsdt: &[u8]) -> Option<u64> {
    devices(dsdt)
        .filter(|d| find(d, HID_VMGENCTR).is_some() || find(d, CID_VM_GEN_COUNTER).is_some())
        .find_map(generation_id_addr)
}

/// The address `ADDR` names in a VM generation ID device's bytes (nonzero, both halves 32-bit).
fn generation_id_addr(device: &[u8]) -> Option<u64> {
    let at = find(device, ADDR_PACKAGE)? + ADDR_PACKAGE.len();
    let (_, pkg_bytes) = pkg_length(device.get(at..)?)?;
    let mut j = at + pkg_bytes;
    if *device.get(j)? != 2 {
        return None;
    }
    j += 1;
    let (low, n) = integer(device.get(j..)?)?;
    let (high, _) = integer(device.get(j + n..)?)?;
    let addr = (low <= u32::MAX.into() && high <= u32::MAX.into()).then_some(high << 32 | low)?;
    (addr != 0).then_some(addr)
}

/// An AML integer constant (Zero, One, or a byte, word, dword or qword) at the start of `b`: its value and
/// the bytes it took.
fn integer(b: &[u8]) -> Option<(u64, usize)> {
    let n = match *b.first()? {
        0x00 => return Some((0, 1)),
        0x01 => return Some((1, 1)),
        0x0A => 1,
        0x0B => 2,
        0x0C => 4,
        0x0E => 8,
        _ => return None,
    };
    let value = b.get(1..1 + n)?.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x));
    Some((value, 1 + n))
}

/// The Memory32Fixed window and first interrupt of the `_CRS` buffer in `device`.
fn crs(device: &[u8]) -> Option<MmioDevice> {
    let at = find(device, CRS_BUFFER)? + CRS_BUFFER.len();
    let (pkg, pkg_bytes) = pkg_length(&device[at..])?;
    let end = at.checked_add(pkg)?.min(device.len());
    let mut j = at + pkg_bytes;
    // BufferSize: a byte, word or dword constant, or Zero/One.
    j += match *device.get(j)? {
        0x0A => 2,
        0x0B => 3,
        0x0C => 5,
        0x00 | 0x01 => 1,
        _ => return None,
    };
    let (mut window, mut irq) = (None, None);
    while j < end {
        let tag = device[j];
        if tag & 0x80 != 0 {
            let len = le16(device.get(j + 1..j + 3)?, 0) as usize;
            let body = device.get(j + 3..(j + 3 + len).min(end))?;
            match tag {
                0x86 if body.len() >= 9 => window = Some((le32(body, 1) as u64, le32(body, 5) as u64)),
                0x89 if body.len() >= 6 && irq.is_none() => {
                    let flags = body[0];
                    let trigger = if flags & 2 != 0 { Trigger::Edge } else { Trigger::Level };
                    let polarity = if flags & 4 != 0 { Polarity::Low } else { Polarity::High };
                    irq = Some((le32(body, 2), trigger, polarity));
                }
                _ => {}
            }
            j += 3 + len;
        } else {
            if (tag >> 3) & 0xF == 0xF {
                break; // end tag
            }
            j += 1 + (tag & 7) as usize;
        }
    }
    let ((base, size), (gsi, trigger, polarity)) = (window?, irq?);
    (size > 0).then_some(MmioDevice {
        base,
        size,
        gsi,
        trigger,
        polarity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Device (Vnnn) { Name (_HID, "LNRO0005") Name (_UID, n) Name (_CRS, ResourceTemplate () {
    /// Memory32Fixed (ReadWrite, base, 0x1000) Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {irq}
    /// }) }`, as Firecracker's `acpi_tables` crate encodes it.
    fn device(name: &[u8; 4], base: u32, irq: u32, flags: u8) -> Vec<u8> {
        let mut crs = vec![0x86, 9, 0, 1];
        crs.extend_from_slice(&base.to_le_bytes());
        crs.extend_from_slice(&0x1000u32.to_le_bytes());
        crs.extend_from_slice(&[0x89, 6, 0, flags, 1]);
        crs.extend_from_slice(&irq.to_le_bytes());
        crs.extend_from_slice(&[0x79, 0]);
        let mut buf = vec![0x0A, crs.len() as u8];
        buf.extend_from_slice(&crs);
        let mut body = name.to_vec();
        body.extend_from_slice(HID_LNRO0005);
        body.extend_from_slice(b"\x08_UID\x0A\x01");
        body.extend_from_slice(CRS_BUFFER);
        body.push((buf.len() + 1) as u8);
        body.extend_from_slice(&buf);
        let mut d = DEVICE_OP.to_vec();
        let len = body.len() + 2;
        d.extend_from_slice(&[0x40 | (len & 0xF) as u8, (len >> 4) as u8]);
        d.extend_from_slice(&body);
        d
    }

    fn dsdt(devices: &[Vec<u8>]) -> Vec<u8> {
        let mut t = vec![0u8; 36];
        t[..4].copy_from_slice(b"DSDT");
        for d in devices {
            t.extend_from_slice(d);
        }
        t
    }

    #[test]
    fn finds_firecracker_devices() {
        let t = dsdt(&[
            device(b"V000", 0xc000_1000, 5, 0x03),
            device(b"V001", 0xc000_2000, 6, 0x03),
        ]);
        let found: Vec<_> = virtio_mmio_devices(&t).iter().collect();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            MmioDevice {
                base: 0xc000_1000,
                size: 0x1000,
                gsi: 5,
                trigger: Trigger::Edge,
                polarity: Polarity::High
            }
        );
        assert_eq!(found[1].gsi, 6);
    }

    #[test]
    fn level_low_interrupts_and_duplicates() {
        let d = device(b"VR00", 0xfeb0_0000, 16, 0x05);
        let found: Vec<_> = virtio_mmio_devices(&dsdt(&[d.clone(), d])).iter().collect();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].trigger, found[0].polarity), (Trigger::Level, Polarity::Low));
    }

    #[test]
    fn other_devices_are_ignored() {
        let mut d = device(b"COM1", 0x3f8, 4, 3);
        let at = find(&d, b"LNRO0005").unwrap();
        d[at..at + 8].copy_from_slice(b"PNP0501\0");
        assert_eq!(virtio_mmio_devices(&dsdt(&[d])).iter().count(), 0);
    }

    /// `Device (_SB_.VGEN) { Name (_HID, "VMGENCTR") Name (_CID, "VM_Gen_Counter") Name (_DDN,
    /// "VM_Gen_Counter") Name (ADDR, Package () { low, high }) }`, as Firecracker's `acpi_tables` encodes it.
    fn vmgenid_device(hid: &[u8], addr: u64) -> Vec<u8> {
        let mut body = b"\x2E_SB_VGEN".to_vec();
        body.extend_from_slice(hid);
        body.extend_from_slice(CID_VM_GEN_COUNTER);
        body.extend_from_slice(b"\x08_DDN\x0DVM_Gen_Counter\x00");
        body.extend_from_slice(ADDR_PACKAGE);
        body.extend_from_slice(&[12, 2, 0x0C]);
        body.extend_from_slice(&(addr as u32).to_le_bytes());
        body.push(0x0C);
        body.extend_from_slice(&((addr >> 32) as u32).to_le_bytes());
        let mut d = DEVICE_OP.to_vec();
        let len = body.len() + 2;
        d.extend_from_slice(&[0x40 | (len & 0xF) as u8, (len >> 4) as u8]);
        d.extend_from_slice(&body);
        d
    }

    #[test]
    fn finds_the_vm_generation_id() {
        let vgen = vmgenid_device(HID_VMGENCTR, 0xdfff0);
        let t = dsdt(&[device(b"V000", 0xc000_1000, 5, 3), vgen.clone()]);
        assert_eq!(vmgenid_address(&t), Some(0xdfff0));
        assert_eq!(
            vmgenid_address(&dsdt(&[vmgenid_device(b"\x08_HID\x0DQEMUVGID\x00", 0x1_0000_0010)])),
            Some(0x1_0000_0010)
        );
        assert_eq!(vmgenid_address(&dsdt(&[device(b"V000", 0xc000_1000, 5, 3)])), None);
        assert_eq!(vmgenid_address(&dsdt(&[vmgenid_device(HID_VMGENCTR, 0)])), None);
        // Smaller integer encodings: One for the high half, a word for the low one.
        let mut small = vmgenid_device(HID_VMGENCTR, 0);
        let at = find(&small, ADDR_PACKAGE).unwrap() + ADDR_PACKAGE.len() + 2;
        small.splice(at..at + 10, [0x0B, 0x34, 0x12, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(vmgenid_address(&dsdt(&[small])), Some(0x1_0000_1234));
        for cut in 0..t.len() {
            let _ = vmgenid_address(&t[..cut]);
        }
    }

    #[test]
    fn truncated_and_garbage_tables_never_panic() {
        let full = dsdt(&[device(b"V000", 0xc000_1000, 5, 3)]);
        for cut in 0..full.len() {
            let _ = virtio_mmio_devices(&full[..cut]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut t = full.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = 36 + (x as usize % (t.len() - 36));
                t[at] = (x >> 40) as u8;
            }
            let _ = virtio_mmio_devices(&t);
            let _ = vmgenid_address(&t);
        }
        assert_eq!(virtio_mmio_devices(&[0x5B, 0x82, 0xFF]).iter().count(), 0);
    }
}
