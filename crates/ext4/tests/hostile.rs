//! Hostile images: truncated and bit-flipped images must be refused or give errors, never panic.

mod common;

use common::*;
use ember_ext4::{BlockDevice, FileType, Fs, XattrMode};

/// Walks the tree (bounded), reads everything, then tries a few changes; errors are expected and ignored.
fn exercise<D: BlockDevice>(fs: &mut Fs<D>) {
    let mut stack = vec![(fs.root(), 0)];
    let mut seen = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs.dir_entries(dir) else { continue };
        for e in entries {
            seen += 1;
            if seen > 2000 || e.name == b"." || e.name == b".." {
                continue;
            }
            let Ok(m) = fs.stat(e.ino) else { continue };
            match m.kind {
                FileType::Directory if depth < 6 => stack.push((e.ino, depth + 1)),
                FileType::Regular => {
                    for name in fs.xattr_names(e.ino).unwrap_or_default() {
                        let _ = fs.xattr_get(e.ino, &name);
                    }
                    let _ = fs.read_at(e.ino, 0, &mut buf);
                    let _ = fs.read_at(e.ino, m.size.saturating_sub(100), &mut buf);
                }
                FileType::Symlink => {
                    let _ = fs.readlink(e.ino);
                }
                _ => {}
            }
        }
    }
    let root = fs.root();
    if let Ok(ino) = fs.create(root, b"hostile-new", 0o644, 0, 0) {
        let _ = fs.write_at(ino, 0, &buf);
        let _ = fs.write_at(ino, 300_000, &buf[..5000]);
        let _ = fs.truncate(ino, 1000);
    }
    let _ = fs.mkdir(root, b"hostile-dir", 0o755, 0, 0);
    for file in [&b"small"[..], b"other"] {
        if let Ok(ino) = fs.lookup(root, file) {
            let _ = fs.xattr_set(ino, b"user.in", b"v", XattrMode::Replace);
            let _ = fs.xattr_set(ino, b"user.new", &buf[..300], XattrMode::Create);
            let _ = fs.xattr_remove(ino, b"user.block");
        }
    }
    let _ = fs.rename(root, b"small", root, b"renamed");
    if let Ok(u) = fs.unlink(root, b"frag") {
        let _ = fs.release(u.ino);
    }
    if let Ok(ino) = fs.lookup(root, b"many") {
        for i in 0..5 {
            if let Ok(u) = fs.unlink(ino, format!("n{i}").as_bytes()) {
                let _ = fs.release(u.ino);
            }
        }
    }
    let _ = fs.statfs();
    let _ = fs.sync();
}

/// A small image with files, a many-entry directory and a fragmented (multi-extent) file.
fn base_image(kind: &str, extra: &[&str]) -> Vec<u8> {
    let dir = tempdir("hostile");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("many")).unwrap();
    std::fs::write(src.join("small"), b"small file").unwrap();
    for i in 0..60 {
        std::fs::write(src.join(format!("many/n{i}")), b"x").unwrap();
    }
    std::os::unix::fs::symlink("z".repeat(80), src.join("slowlink")).unwrap();
    let img = mkfs(&dir, kind, "8M", &src, extra);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let a = fs.create(root, b"frag", 0o644, 0, 0).unwrap();
    let b = fs.create(root, b"other", 0o644, 0, 0).unwrap();
    let zeros = vec![0u8; 2048];
    for i in 0..20u64 {
        // Zero-filled data keeps data blocks out of the flipped set (only non-zero blocks are flipped).
        fs.write_at(a, i * 2048, &zeros).unwrap();
        fs.write_at(b, i * 2048, &zeros).unwrap();
    }
    // Attributes in the inode (when it is large enough) and in a block, so that flips land in both.
    let small = fs.lookup(root, b"small").unwrap();
    fs.xattr_set(small, b"user.in", b"inode", XattrMode::Create).unwrap();
    fs.xattr_set(b, b"user.block", &[0x5a; 400], XattrMode::Create).unwrap();
    fs.xattr_set(b, b"security.s", b"x", XattrMode::Create).unwrap();
    fs.unmount().unwrap();
    fsck_clean(&img);
    let bytes = std::fs::read(&img).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// Rounds per flip test: 300, or `EXT4_FLIP_ROUNDS` for a longer campaign.
fn rounds() -> u32 {
    std::env::var("EXT4_FLIP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn flip_loop(kind: &str, extra: &[&str], rounds: u32) {
    let base = base_image(kind, extra);
    if extra.is_empty() && kind == "ext4" {
        let mut same = base.clone();
        fix_checksums(&mut same);
        assert!(same == base, "fix_checksums changes a good image");
    }
    let bs = 1024;
    let meta: Vec<usize> = (0..base.len() / bs)
        .filter(|&b| base[b * bs..(b + 1) * bs].iter().any(|&x| x != 0))
        .collect();
    let mut rng = 0x1234_5678_9abc_def0u64 ^ kind.len() as u64 ^ extra.len() as u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut mounted, mut refused) = (0, 0);
    for round in 0..rounds {
        let mut img = base.clone();
        for _ in 0..1 + next() % 3 {
            // Mostly the superblock, descriptors and the first metadata blocks; sometimes anywhere.
            let block = if round % 3 == 0 {
                1 + (next() % 8) as usize
            } else {
                meta[(next() % meta.len() as u64) as usize]
            };
            let bitpos = (next() % (bs as u64 * 8)) as usize;
            img[block * bs + bitpos / 8] ^= 1 << (bitpos % 8);
        }
        let opts = if round % 4 == 3 { ro() } else { rw() };
        match Fs::mount(MemDev(img), opts) {
            Ok(mut fs) => {
                mounted += 1;
                exercise(&mut fs);
                let _ = fs.unmount();
            }
            Err(_) => refused += 1,
        }
    }
    println!("{kind} {extra:?}: {rounds} flipped images, {mounted} mounted, {refused} refused");
    assert_eq!(mounted + refused, rounds);
}

fn crc32c(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Recomputes the superblock checksum and those of the 64-byte descriptors in block 2 (1 KiB blocks).
fn fix_checksums(img: &mut [u8]) {
    let sb = &mut img[1024..2048];
    let c = crc32c(!0, &sb[..0x3FC]);
    sb[0x3FC..].copy_from_slice(&c.to_le_bytes());
    let seed = crc32c(!0, &sb[0x68..0x78]);
    let le = |o: usize| u32::from_le_bytes([sb[o], sb[o + 1], sb[o + 2], sb[o + 3]]);
    let groups = (le(0x4).saturating_sub(le(0x14))).div_ceil(le(0x20).max(1)).min(16);
    for g in 0..groups {
        let d = &mut img[2048 + 64 * g as usize..2048 + 64 * (g as usize + 1)];
        let mut c = crc32c(seed, &g.to_le_bytes());
        c = crc32c(c, &d[..0x1E]);
        c = crc32c(c, &[0, 0]);
        c = crc32c(c, &d[0x20..]);
        d[0x1E..0x20].copy_from_slice(&(c as u16).to_le_bytes());
    }
}

#[test]
fn bit_flips_ext4() {
    flip_loop("ext4", &[], rounds());
}

#[test]
fn bit_flips_ext4_without_checksums() {
    flip_loop("ext4", &["-O", "^metadata_csum"], rounds());
}

#[test]
fn bit_flips_ext2() {
    flip_loop("ext2", &[], rounds());
}

#[test]
fn truncated_images() {
    let base = base_image("ext4", &[]);
    for len in [
        0,
        512,
        1024,
        2047,
        2048,
        4096,
        8192,
        65536,
        base.len() / 2,
        base.len() - 1024,
    ] {
        match Fs::mount(MemDev(base[..len].to_vec()), rw()) {
            Ok(mut fs) => exercise(&mut fs),
            Err(e) => println!("{len} bytes: {e}"),
        }
    }
    // The size check refuses images shorter than the superblock says.
    assert!(Fs::mount(MemDev(base[..base.len() / 2].to_vec()), rw()).is_err());
    // A device that claims the full size but whose reads and writes past its data fail (a truncated backing
    // file): I/O errors surface as errors.
    let (mut tried, mut failed) = (0, 0);
    for len in (64..base.len() / 1024).step_by(97).map(|k| k * 1024) {
        match Fs::mount(ShortDev(base[..len].to_vec(), base.len() as u64), rw()) {
            Ok(mut fs) => {
                exercise(&mut fs);
                if fs.unmount().is_err() {
                    failed += 1;
                }
            }
            Err(_) => failed += 1,
        }
        tried += 1;
    }
    println!("short devices: {tried} tried, {failed} refused or failed at unmount");
}

/// Data shorter than the size it reports: requests past the data fail.
struct ShortDev(Vec<u8>, u64);

impl BlockDevice for ShortDev {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ember_ext4::IoError> {
        let s = self
            .0
            .get(offset as usize..offset as usize + buf.len())
            .ok_or(ember_ext4::IoError)?;
        buf.copy_from_slice(s);
        Ok(())
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), ember_ext4::IoError> {
        let s = self
            .0
            .get_mut(offset as usize..offset as usize + buf.len())
            .ok_or(ember_ext4::IoError)?;
        s.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ember_ext4::IoError> {
        Ok(())
    }
    fn size(&self) -> u64 {
        self.1
    }
}

#[test]
fn a_root_that_is_not_a_directory_is_refused() {
    // Found by the ext4 fuzz target: a root inode of another type mounted, and every path walk then went
    // astray. Linux refuses such a mount ("corrupt root inode").
    let dir = tempdir("badroot");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    let img = mkfs(&dir, "ext4", "1M", &src, &[]);
    run("debugfs", &["-w", "-R", "sif <2> mode 060644", img.to_str().unwrap()]);
    for opts in [rw(), ro()] {
        match Fs::mount(open_dev(&img), opts) {
            Err(ember_ext4::Error::Corrupt(why)) => assert_eq!(why, "the root inode is not a directory"),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => panic!("a block-device root mounted"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn entry_names_a_path_cannot_hold_are_refused() {
    // Found by the ext4 fuzz target: an entry with an empty name was listed (a '/' or a NUL would have been too).
    let dir = tempdir("badname");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("abc"), b"x").unwrap();
    let img = mkfs(&dir, "ext4", "1M", &src, &["-O", "^metadata_csum"]);
    let mut bytes = std::fs::read(&img).unwrap();
    for bad in [&b"a/c"[..], b"a\0c"] {
        let at = bytes.windows(3).position(|w| w == b"abc").expect("the entry for abc");
        bytes[at..at + 3].copy_from_slice(bad);
        let mut fs = Fs::mount(MemDev(bytes.clone()), ro()).unwrap();
        let root = fs.root();
        assert_eq!(
            fs.dir_entries(root).err(),
            Some(ember_ext4::Error::Corrupt("directory entry name")),
            "{bad:?}"
        );
        bytes[at..at + 3].copy_from_slice(b"abc");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
