//! The boot structures (`ember-boot`): zero page, PVH start info, memory map, usable ranges.

use crate::input::Input;
use crate::mem::FuzzMem;
use ember_boot::{
    BootInfo, CMDLINE_MAX, DIRECT_MAP_LIMIT, MAX_REGIONS, MemoryKind, MemoryMap, PhysRange, Protocol, Warning,
    parse_linux, parse_pvh, usable_ranges,
};

/// Physical address the input is placed at. Not 0, so that a pointer of 0 ("none") cannot reach it.
const BASE: u64 = 0x1000;

/// The input is guest memory at [`BASE`], with a zero page at its start.
pub fn zero_page(data: &[u8]) {
    let ptr = u64::from(le32(data, 0x228)) | u64::from(le32(data, 0xc8)) << 32;
    let size = match le32(data, 0x238) {
        0 => 255,
        n => n as usize,
    };
    let cmdline = expected_cmdline(data, ptr, size);
    let mut mem = FuzzMem {
        bytes: data.to_vec(),
        base: BASE,
    };
    parse(Protocol::Linux64, &cmdline, |info, warn| {
        parse_linux(&mut mem, BASE, info, warn)
    });
}

/// The input is guest memory at [`BASE`], with a PVH start info at its start.
pub fn pvh(data: &[u8]) {
    let ptr = u64::from(le32(data, 24)) | u64::from(le32(data, 28)) << 32;
    let cmdline = expected_cmdline(data, ptr, CMDLINE_MAX + 1);
    let mut mem = FuzzMem {
        bytes: data.to_vec(),
        base: BASE,
    };
    parse(Protocol::Pvh, &cmdline, |info, warn| {
        parse_pvh(&mut mem, BASE, info, warn)
    });
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// The command line a parser must find at `ptr` in the memory `bytes` (at [`BASE`]), reading at most `max`
/// bytes: up to the first NUL, the end of memory or [`CMDLINE_MAX`], with non-ASCII bytes shown as `?` unless
/// it is UTF-8.
fn expected_cmdline(bytes: &[u8], ptr: u64, max: usize) -> String {
    if ptr == 0 {
        return String::new();
    }
    let at = ptr.checked_sub(BASE).and_then(|o| usize::try_from(o).ok());
    let raw = at.and_then(|o| bytes.get(o..)).unwrap_or_default();
    let raw = &raw[..raw.len().min(max).min(CMDLINE_MAX)];
    let raw = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect(),
    }
}

fn parse(
    protocol: Protocol,
    cmdline: &str,
    parser: impl FnOnce(&mut BootInfo, &mut dyn FnMut(Warning)) -> Result<(), ember_boot::BootError>,
) {
    let mut info = BootInfo::empty(protocol, 0);
    if let Err(e) = parser(&mut info, &mut |w| {
        let _ = w.to_string();
    }) {
        let _ = e.to_string();
        return;
    }
    assert_eq!(info.protocol, protocol);
    check_map(&info.memory);
    assert!(info.memory.ram_bytes() > 0, "accepted without RAM");
    assert_eq!(info.cmdline(), cmdline, "command line");
    if let Some(r) = info.initrd {
        assert!(r.start != 0 && r.start < r.end, "initrd {r}");
    }
}

/// A validated map: sorted, disjoint, nothing empty, touching regions of one kind merged, at most
/// [`MAX_REGIONS`], direct-mapped kinds below [`DIRECT_MAP_LIMIT`].
fn check_map(map: &MemoryMap) {
    let regions = map.regions();
    assert!(regions.len() <= MAX_REGIONS);
    for r in regions {
        assert!(r.range.start < r.range.end, "empty region {}", r.range);
        if matches!(
            r.kind,
            MemoryKind::Ram | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs
        ) {
            assert!(
                r.range.end <= DIRECT_MAP_LIMIT,
                "{:?} {} past the direct map",
                r.kind,
                r.range
            );
        }
    }
    for w in regions.windows(2) {
        assert!(
            w[0].range.end <= w[1].range.start,
            "unsorted or overlapping: {} {}",
            w[0].range,
            w[1].range
        );
        assert!(
            !(w[0].range.end == w[1].range.start && w[0].kind == w[1].kind),
            "touching regions of one kind not merged: {} {}",
            w[0].range,
            w[1].range
        );
    }
}

/// Entries inserted into a [`MemoryMap`] from the input (start, size, type), then a cut at a CPU width, then
/// usable ranges around reservations and a few takes. Checks the map against a byte-range model: it is exactly
/// the union, kind by kind, of the entries taken without a warning (or cut at the direct map's end). Checks the
/// usable ranges: page aligned, inside RAM, clear of every reservation; a take comes from them.
pub fn memory_map(data: &[u8]) {
    let mut input = Input::new(data);
    let mut map = MemoryMap::new();
    let mut accepted: Vec<(PhysRange, MemoryKind)> = Vec::new();
    let entries = input.below(MAX_REGIONS + 8);
    for _ in 0..entries {
        let (start, size) = (small_or_any(&mut input), small_or_any(&mut input));
        let ty = u32::from(input.u8() % 7);
        let mut warnings = Vec::new();
        map.insert(start, size, ty, &mut |w| {
            let _ = w.to_string();
            warnings.push(w);
        });
        // Taken whole without a warning, or cut at the direct map's end with just that warning.
        let taken = match warnings.as_slice() {
            [] => Some(PhysRange::new(start, start + size)),
            [Warning::BeyondDirectMap { limit, .. }] if start < *limit => Some(PhysRange::new(start, *limit)),
            _ => None,
        };
        if let Some(range) = taken {
            accepted.push((range, MemoryKind::from_e820(ty)));
        }
        check_map(&map);
    }
    // The map is exactly the union of what was taken, kind by kind.
    let overlap = |a: &PhysRange, b: &PhysRange| a.end.min(b.end).saturating_sub(a.start.max(b.start));
    for (range, kind) in &accepted {
        let covered: u64 = map
            .regions()
            .iter()
            .filter(|r| r.kind == *kind)
            .map(|r| overlap(&r.range, range))
            .sum();
        assert_eq!(covered, range.len(), "accepted {kind:?} {range} not covered");
    }
    for r in map.regions() {
        let given: u64 = accepted
            .iter()
            .filter(|(_, k)| *k == r.kind)
            .map(|(a, _)| overlap(a, &r.range))
            .sum();
        assert_eq!(
            given,
            r.range.len(),
            "{:?} {} holds bytes no entry gave",
            r.kind,
            r.range
        );
    }
    let ram_before = map.ram_bytes();
    let width = 32 + u64::from(input.u8() % 21);
    map.limit_direct_mapped(1 << width, &mut |w| {
        let _ = w.to_string();
    });
    check_map(&map);
    assert!(map.ram_bytes() <= ram_before);
    assert!(map.ram().all(|r| r.end <= 1 << width));

    let reserved: Vec<PhysRange> = (0..input.below(6))
        .map(|_| {
            let start = small_or_any(&mut input);
            PhysRange::new(start, start.saturating_add(small_or_any(&mut input)))
        })
        .collect();
    let mut free = usable_ranges(&map, &reserved);
    check_free(&map, &reserved, free.as_slice());
    for _ in 0..input.below(4) {
        let (bytes, below) = (small_or_any(&mut input), small_or_any(&mut input));
        let before = free.bytes();
        if let Some(t) = free.take(bytes, below) {
            assert!(
                t.end <= below && t.len() >= bytes && t.len() % 4096 == 0,
                "took {t} for {bytes:#x} below {below:#x}"
            );
            assert!(
                map.ram().any(|r| r.start <= t.start && t.end <= r.end),
                "took {t} outside RAM"
            );
            assert!(
                free.as_slice().iter().all(|r| !r.overlaps(&t)),
                "{t} still free after the take"
            );
            assert!(free.bytes() <= before - t.len());
        }
        check_free(&map, &reserved, free.as_slice());
    }
}

fn check_free(map: &MemoryMap, reserved: &[PhysRange], free: &[PhysRange]) {
    for r in free {
        assert!(
            !r.is_empty() && r.start % 4096 == 0 && r.end % 4096 == 0,
            "free range {r}"
        );
        assert!(
            map.ram().any(|ram| ram.start <= r.start && r.end <= ram.end),
            "free {r} outside RAM"
        );
        assert!(
            reserved.iter().all(|h| !h.overlaps(r)),
            "free {r} overlaps a reservation"
        );
    }
    for w in free.windows(2) {
        assert!(w[0].end <= w[1].start, "free ranges out of order: {} {}", w[0], w[1]);
    }
}

/// Mostly small, page-ish numbers (so that ranges meet), sometimes anything.
fn small_or_any(input: &mut Input) -> u64 {
    match input.u8() % 4 {
        0 => input.u64(),
        1 => u64::from(input.u32()) << 12,
        _ => u64::from(input.u16()) << 8,
    }
}
