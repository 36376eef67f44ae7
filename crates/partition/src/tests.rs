//! Tables made by util-linux's `sfdisk` (Debian package `fdisk`) in image files, read back; hand-damaged and
//! bit-flipped tables, which must give errors or fewer partitions, never a panic or a partition outside the disk.

use super::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A disk in memory.
struct Mem(Vec<u8>);

impl Disk for Mem {
    fn sectors(&self) -> u64 {
        (self.0.len() / SECTOR) as u64
    }
    fn read(&mut self, lba: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError> {
        let at = usize::try_from(lba).map_err(|_| IoError)? * SECTOR;
        buf.copy_from_slice(self.0.get(at..at + SECTOR).ok_or(IoError)?);
        Ok(())
    }
}

fn sfdisk() -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = std::path::Path::new(dir).join("sfdisk");
        if p.exists() {
            return p;
        }
    }
    panic!("sfdisk not found: install util-linux's fdisk (apt-get install -y fdisk)");
}

/// An image of `mib` MiB partitioned by `sfdisk` from `script`.
fn image(tag: &str, mib: usize, script: &str) -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("ember-partition-{tag}-{}-{n}.img", std::process::id()));
    std::fs::write(&path, vec![0u8; mib << 20]).unwrap();
    let mut child = Command::new(sfdisk())
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sfdisk: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

const GPT_SCRIPT: &str = "label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
start=2048, size=4096, uuid=6D4B3A2E-1F00-4C5D-9E8F-0A1B2C3D4E5F, name=one
start=8192, size=2048, uuid=00112233-4455-6677-8899-AABBCCDDEEFF
start=12288, size=4063, uuid=DEADBEEF-0000-1111-2222-333344445555
";

fn gpt_image() -> Vec<u8> {
    image("gpt", 8, GPT_SCRIPT)
}

fn dos_image() -> Vec<u8> {
    image(
        "dos",
        8,
        "label: dos
label-id: 0x1234abcd
start=2048, size=2048, type=83
start=4096, size=2048, type=83
start=6144, size=10240, type=5
start=8192, size=1024, type=83
start=12288, size=1024, type=83
",
    )
}

fn parts(t: &Table) -> Vec<(u32, u64, u64, String)> {
    t.partitions
        .iter()
        .map(|p| (p.number, p.start, p.sectors, p.uuid.to_string()))
        .collect()
}

#[test]
fn gpt_made_by_sfdisk_reads_back() {
    let img = gpt_image();
    let sectors = (img.len() / SECTOR) as u64;
    let t = read(&mut Mem(img)).unwrap().unwrap();
    assert_eq!(t.scheme, Scheme::Gpt { from_backup: false });
    assert_eq!(t.dropped, 0);
    // sfdisk leaves the last 33 sectors to the backup array and header.
    assert_eq!(
        parts(&t),
        [
            (1, 2048, 4096, "6d4b3a2e-1f00-4c5d-9e8f-0a1b2c3d4e5f".into()),
            (2, 8192, 2048, "00112233-4455-6677-8899-aabbccddeeff".into()),
            (
                3,
                12288,
                sectors - 33 - 12288,
                "deadbeef-0000-1111-2222-333344445555".into()
            ),
        ]
    );
    assert!(t.partitions[0].uuid.matches("6D4B3A2E-1F00-4C5D-9E8F-0A1B2C3D4E5F"));
    assert!(!t.partitions[0].uuid.matches("6D4B3A2E-1F00-4C5D-9E8F-0A1B2C3D4E5"));
    assert!(!t.partitions[0].uuid.matches("00112233-4455-6677-8899-aabbccddeeff"));
}

#[test]
fn mbr_made_by_sfdisk_reads_back_with_logical_partitions() {
    let t = read(&mut Mem(dos_image())).unwrap().unwrap();
    assert_eq!(t.scheme, Scheme::Mbr { signature: 0x1234_abcd });
    assert_eq!(t.dropped, 0);
    let p = parts(&t);
    assert_eq!(p[0], (1, 2048, 2048, "1234abcd-01".into()));
    assert_eq!(p[1], (2, 4096, 2048, "1234abcd-02".into()));
    // The extended partition shows as 2 sectors, as on Linux.
    assert_eq!(p[2], (3, 6144, 2, "1234abcd-03".into()));
    assert_eq!(p[3], (5, 8192, 1024, "1234abcd-05".into()));
    assert_eq!(p[4], (6, 12288, 1024, "1234abcd-06".into()));
    assert_eq!(p.len(), 5);
    assert!(t.partitions[3].uuid.matches("1234ABCD-05"));
}

#[test]
fn a_damaged_primary_gpt_falls_back_to_the_backup() {
    let mut img = gpt_image();
    img[SECTOR + 100] ^= 1;
    img[SECTOR + 20] ^= 0xff;
    let good = read(&mut Mem(gpt_image())).unwrap().unwrap();
    let t = read(&mut Mem(img)).unwrap().unwrap();
    assert_eq!(t.scheme, Scheme::Gpt { from_backup: true });
    assert_eq!(t.partitions, good.partitions);
}

#[test]
fn damaged_gpts_are_refused() {
    // Both headers gone.
    let mut img = gpt_image();
    let n = img.len();
    img[SECTOR..SECTOR + 8].fill(0);
    img[n - SECTOR..n - SECTOR + 8].fill(0);
    assert_eq!(read(&mut Mem(img)), Err(Error::Corrupt("no GPT header signature")));
    // The entry array changed under a valid header.
    let mut img = gpt_image();
    img[2 * SECTOR + 40] ^= 1;
    assert_eq!(
        read(&mut Mem(img)),
        Err(Error::Corrupt("GPT entry array checksum mismatch"))
    );
    // A disk cut short: the header's usable range runs past its end, and the backup is gone.
    let img = gpt_image()[..4 << 20].to_vec();
    assert_eq!(
        read(&mut Mem(img)),
        Err(Error::Corrupt("GPT usable range outside the disk"))
    );
}

#[test]
fn no_table() {
    assert_eq!(read(&mut Mem(vec![0; 1 << 20])), Ok(None));
    // A boot signature with a bad boot flag is not a table (Linux's rule).
    let mut img = dos_image();
    img[446] = 0x12;
    assert_eq!(read(&mut Mem(img)), Ok(None));
    // A disk too small for one sector: a read error.
    assert_eq!(read(&mut Mem(vec![0; 100])), Err(Error::Io));
}

#[test]
fn mbr_entries_outside_the_disk_are_dropped() {
    let mut img = dos_image()[..5 << 20].to_vec();
    // Partition 2 now starts past the end of the 5 MiB disk.
    img[446 + 16 + 8..446 + 16 + 12].copy_from_slice(&20_000u32.to_le_bytes());
    let t = read(&mut Mem(img)).unwrap().unwrap();
    let numbers: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
    // The extended partition (6144.. past 10240) runs past the end too: it and its chain go.
    assert_eq!(numbers, [1]);
    assert_eq!(t.dropped, 2);
}

/// Writes an extended boot record at `lba`: a logical partition `rel` sectors on (1 sector long) and a link
/// to the record `next` sectors into the extended partition (none when 0).
fn ebr(img: &mut [u8], lba: usize, rel: u32, next: u32) {
    let s = &mut img[lba * SECTOR..(lba + 1) * SECTOR];
    s.fill(0);
    s[446 + 4] = 0x83;
    s[446 + 8..446 + 12].copy_from_slice(&rel.to_le_bytes());
    s[446 + 12..446 + 16].copy_from_slice(&1u32.to_le_bytes());
    if next != 0 {
        s[462 + 4] = 0x05;
        s[462 + 8..462 + 12].copy_from_slice(&next.to_le_bytes());
        s[462 + 12..462 + 16].copy_from_slice(&1u32.to_le_bytes());
    }
    s[510] = 0x55;
    s[511] = 0xaa;
}

#[test]
fn extended_chains_are_bounded_and_move_forward() {
    // sfdisk's extended partition starts at 6144. A chain of 100 records: only 64 are followed.
    let mut img = dos_image();
    for k in 0..100 {
        ebr(&mut img, 6144 + k, 200, k as u32 + 1);
    }
    let t = read(&mut Mem(img)).unwrap().unwrap();
    let logical: Vec<u32> = t.partitions.iter().map(|p| p.number).filter(|&n| n >= 5).collect();
    assert_eq!(logical, (5..5 + 64).collect::<Vec<_>>());
    // A record linking back to itself or an earlier one ends the chain.
    let mut img = dos_image();
    ebr(&mut img, 6144, 200, 1);
    ebr(&mut img, 6145, 200, 1);
    let t = read(&mut Mem(img)).unwrap().unwrap();
    let numbers: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 5, 6]);
}

/// Checks the promises on any table read from `img`.
fn check(img: Vec<u8>) {
    let sectors = (img.len() / SECTOR) as u64;
    if let Ok(Some(t)) = read(&mut Mem(img)) {
        for p in &t.partitions {
            assert!(p.sectors > 0 && p.start > 0 && p.start + p.sectors <= sectors, "{p:?}");
        }
        let mut numbers: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), t.partitions.len(), "numbers repeat");
    }
}

/// Fixes the primary GPT's checksums so that flips reach the checks behind them.
fn fix_gpt(img: &mut [u8]) {
    let h = SECTOR;
    let entries = u32::from_le_bytes(img[h + 80..h + 84].try_into().unwrap()).min(128) as usize;
    let crc = crc32fast::hash(&img[2 * SECTOR..2 * SECTOR + entries * 128]);
    img[h + 88..h + 92].copy_from_slice(&crc.to_le_bytes());
    let size = (u32::from_le_bytes(img[h + 12..h + 16].try_into().unwrap()) as usize).clamp(92, 512);
    img[h + 16..h + 20].fill(0);
    let crc = crc32fast::hash(&img[h..h + size]);
    img[h + 16..h + 20].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn bit_flips_never_panic() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let (gpt, dos) = (gpt_image()[..4 << 20].to_vec(), dos_image()[..4 << 20].to_vec());
    // The interesting bytes: sector 0 (MBR), the GPT header and its first array sector, the first EBRs.
    for round in 0..2000 {
        let (mut img, ranges): (Vec<u8>, &[(usize, usize)]) = if round % 2 == 0 {
            (gpt.clone(), &[(440, 512), (512, 604), (1024, 1536)])
        } else {
            (dos.clone(), &[(440, 512), (6144 * 512 + 446, 6144 * 512 + 512)])
        };
        for _ in 0..1 + next(4) {
            let (a, b) = ranges[next(ranges.len())];
            let at = a + next(b - a);
            img[at] ^= 1 << next(8);
        }
        if round % 4 == 0 {
            fix_gpt(&mut img);
        }
        check(img);
    }
}
