//! htree (dir_index) lookups on directories indexed by e2fsprogs (`e2fsck -fyD`), for each hash and
//! signedness, with one and two index levels; inserts, removals and renames that keep indexes (Linux-made
//! ones and the crate's own, from one-block directories that outgrow their block), which `e2fsck -fn`
//! (it checks htree structure) must find clean and `debugfs -R htree` must show indexed; hostile indexes.

mod common;

use common::*;
use ember_ext4::{BlockDevice, Error, FileType, Fs};
use std::path::{Path, PathBuf};
use std::process::Command;

/// File names of the big directory: lengths from 8 to 60 bytes (half-MD4 hashes 32 at a time, TEA 16), each
/// with a byte above 0x7f (signed and unsigned hashes differ there).
fn names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("f{i:05}-caf\u{e9}{}", "x".repeat(i * 7 % 53)))
        .collect()
}

/// An ext4 image (`block_size` bytes per block) whose `/big` holds `n` files, indexed by e2fsck with hash
/// `alg` and the superblock's signedness `flags` (1 signed, 2 unsigned); also how many index levels it has.
fn indexed_image(tag: &str, alg: &str, flags: u32, block_size: &str, n: usize) -> (PathBuf, usize) {
    let dir = tempdir(tag);
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("big")).unwrap();
    for name in names(n) {
        std::fs::write(src.join("big").join(name), b"").unwrap();
    }
    let img = mkfs(&dir, "ext4", "64M", &src, &["-b", block_size, "-N", "8192"]);
    let path = img.to_str().unwrap();
    run("tune2fs", &["-E", &format!("hash_alg={alg}"), path]);
    run("debugfs", &["-w", "-R", &format!("ssv flags {flags}"), path]);
    // Exit status 1: the directories were optimised (indexed).
    let status = Command::new(tool("e2fsck"))
        .args(["-fyD", path])
        .output()
        .unwrap()
        .status;
    assert!(status.code().is_some_and(|c| c <= 1), "e2fsck -fyD failed");
    let htree = debugfs(&img, "htree /big");
    let levels = htree
        .lines()
        .find_map(|l| l.trim().strip_prefix("Indirect levels: "))
        .unwrap_or_else(|| panic!("/big is not indexed:\n{}", &htree[..htree.len().min(2000)]))
        .trim()
        .parse()
        .unwrap();
    assert!(
        htree.contains(&format!("Hash Version: {}", hash_number(alg))),
        "{}",
        &htree[..500]
    );
    (img, levels)
}

/// The hash version an index built with `alg` records (the root holds the signed number; the superblock's
/// flags say whether it is meant unsigned).
fn hash_number(alg: &str) -> u8 {
    match alg {
        "legacy" => 0,
        "half_md4" => 1,
        _ => 2,
    }
}

/// Every name of `/big` is found through the index with the inode the listing gives; absent names are not.
fn check_lookups(img: &Path, n: usize) {
    let mut fs = mount(img, ro());
    let big = resolve(&mut fs, "big").unwrap();
    let listing = fs.dir_entries(big).unwrap();
    assert_eq!(listing.len(), n + 2);
    for e in &listing {
        assert_eq!(
            fs.lookup(big, &e.name),
            Ok(e.ino),
            "{}",
            String::from_utf8_lossy(&e.name)
        );
    }
    for name in ["absent", "f00001-caf\u{e9}", "f99999-caf\u{e9}xxx"] {
        assert_eq!(fs.lookup(big, name.as_bytes()), Err(Error::NotFound));
    }
}

#[test]
fn half_md4_unsigned_two_levels() {
    let (img, levels) = indexed_image("dx-md4u", "half_md4", 2, "1024", 3000);
    assert_eq!(levels, 1);
    check_lookups(&img, 3000);
}

#[test]
fn tea_signed_two_levels() {
    let (img, levels) = indexed_image("dx-teas", "tea", 1, "1024", 3000);
    assert_eq!(levels, 1);
    check_lookups(&img, 3000);
}

#[test]
fn legacy_unsigned_one_level() {
    let (img, levels) = indexed_image("dx-legu", "legacy", 2, "4096", 2000);
    assert_eq!(levels, 0);
    check_lookups(&img, 2000);
}

#[test]
fn half_md4_signed_one_level() {
    let (img, levels) = indexed_image("dx-md4s", "half_md4", 1, "4096", 2000);
    assert_eq!(levels, 0);
    check_lookups(&img, 2000);
}

/// The index depth (`Indirect levels`) `debugfs -R "htree DIR"` reports, `None` when not indexed.
fn htree_levels(img: &Path, dir: &str) -> Option<usize> {
    let out = Command::new(tool("debugfs"))
        .args(["-R", &format!("htree {dir}"), img.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Indirect levels: "))
        .map(|v| v.trim().parse().unwrap())
}

/// Adds `count` files `prefix{i}` to `dir`, removes every third, renames every fifth within `dir` and every
/// seventh to `other`; returns the names `dir` should hold.
fn churn<D: BlockDevice>(fs: &mut Fs<D>, dir: u32, other: u32, prefix: &str, count: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..count {
        let name = format!("{prefix}{i}-{}", "y".repeat(i * 13 % 41));
        fs.create(dir, name.as_bytes(), 0o644, 0, 0).unwrap();
        names.push(name);
    }
    let mut kept = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        if i % 3 == 0 {
            let u = fs.unlink(dir, name.as_bytes()).unwrap();
            fs.release(u.ino).unwrap();
        } else if i % 5 == 0 {
            let new = format!("renamed-{name}");
            fs.rename(dir, name.as_bytes(), dir, new.as_bytes()).unwrap();
            kept.push(new);
        } else if i % 7 == 0 {
            fs.rename(dir, name.as_bytes(), other, name.as_bytes()).unwrap();
        } else {
            kept.push(name);
        }
    }
    kept
}

/// Every name of `kept` resolves in `path` to the inode the listing gives, and the listing holds just them.
fn check_names(img: &Path, path: &str, kept: &[String]) {
    let mut fs = mount(img, ro());
    let dir = resolve(&mut fs, path).unwrap();
    let listing = fs.dir_entries(dir).unwrap();
    let mut listed: Vec<&[u8]> = listing
        .iter()
        .map(|e| &e.name[..])
        .filter(|n| !n.starts_with(b"."))
        .collect();
    let mut want: Vec<&[u8]> = kept.iter().map(|n| n.as_bytes()).collect();
    listed.sort();
    want.sort();
    assert_eq!(listed, want);
    for e in &listing {
        assert_eq!(
            fs.lookup(dir, &e.name),
            Ok(e.ino),
            "{}",
            String::from_utf8_lossy(&e.name)
        );
    }
    assert_eq!(fs.lookup(dir, b"never-made"), Err(Error::NotFound));
}

/// An empty image (no `-d` tree) of `size` made by `mke2fs` with `extra` options.
fn empty_image(tag: &str, size: &str, extra: &[&str]) -> PathBuf {
    let dir = tempdir(tag);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    mkfs(&dir, "ext4", size, &src, &[&["-N", "16384"], extra].concat())
}

/// A directory the crate fills grows an index of its own (two levels with 1 KiB blocks), which stays
/// consistent through removals and renames.
fn grows_an_index(tag: &str, extra: &[&str], count: usize, want_levels: usize) {
    let img = empty_image(tag, "64M", extra);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let big = fs.mkdir(root, b"big", 0o755, 0, 0).unwrap();
    let other = fs.mkdir(root, b"other", 0o755, 0, 0).unwrap();
    let sub = fs.mkdir(big, b"sub", 0o755, 0, 0).unwrap();
    let mut kept = churn(&mut fs, big, other, "file", count);
    // A directory moved out of and back into the indexed one: its ".." and the root's ".." change.
    fs.rename(big, b"sub", other, b"sub").unwrap();
    fs.rename(other, b"sub", big, b"sub2").unwrap();
    assert_eq!(fs.lookup(sub, b".."), Ok(big));
    kept.push("sub2".into());
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert_eq!(htree_levels(&img, "/big"), Some(want_levels));
    check_names(&img, "big", &kept);
}

#[test]
fn a_growing_directory_gets_a_two_level_index() {
    grows_an_index("dx-grow2", &["-b", "1024"], 6000, 1);
}

#[test]
fn a_growing_directory_gets_an_index_without_checksums() {
    grows_an_index("dx-grow-nocsum", &["-b", "1024", "-O", "^metadata_csum"], 6000, 1);
}

#[test]
fn a_growing_directory_gets_a_one_level_index_with_4k_blocks() {
    grows_an_index("dx-grow4k", &["-b", "4096"], 3000, 0);
}

#[test]
fn without_dir_index_directories_stay_linear() {
    let img = empty_image("dx-none", "64M", &["-b", "1024", "-O", "^dir_index"]);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let big = fs.mkdir(root, b"big", 0o755, 0, 0).unwrap();
    let kept = churn(&mut fs, big, root, "f", 500);
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert_eq!(htree_levels(&img, "/big"), None);
    check_names(&img, "big", &kept);
}

/// Linux-made (e2fsck-made) indexes of each hash and signedness stay indexed through inserts that split
/// leaves and nodes, removals and renames.
#[test]
fn linux_made_indexes_stay_indexed() {
    for (alg, flags, bs) in [
        ("half_md4", 2, "1024"),
        ("tea", 1, "1024"),
        ("legacy", 2, "4096"),
        ("tea", 2, "4096"),
    ] {
        let (img, levels) = indexed_image(&format!("dx-keep-{alg}"), alg, flags, bs, 2000);
        let mut fs = mount(&img, rw());
        let big = resolve(&mut fs, "big").unwrap();
        let root = fs.root();
        let mut kept: Vec<String> = names(2000);
        kept.extend(churn(&mut fs, big, root, "new", 2500));
        for name in names(2000).iter().step_by(4) {
            fs.unlink(big, name.as_bytes()).unwrap();
            kept.retain(|k| k != name);
        }
        fs.unmount().unwrap();
        fsck_clean(&img);
        assert!(
            htree_levels(&img, "/big").is_some_and(|l| l >= levels),
            "{alg}: index lost"
        );
        check_names(&img, "big", &kept);
    }
}

#[test]
fn adding_to_an_indexed_directory_keeps_it_consistent() {
    let (img, levels) = indexed_image("dx-add", "half_md4", 2, "1024", 2000);
    let mut fs = mount(&img, rw());
    let big = resolve(&mut fs, "big").unwrap();
    let new = fs.create(big, b"new-file", 0o644, 0, 0).unwrap();
    fs.unlink(big, names(1)[0].as_bytes()).unwrap();
    let sub = fs.mkdir(big, b"sub", 0o755, 0, 0).unwrap();
    assert_eq!(fs.lookup(big, b"new-file"), Ok(new));
    assert_eq!(fs.lookup(big, b"sub"), Ok(sub));
    assert_eq!(fs.lookup(big, names(1)[0].as_bytes()), Err(Error::NotFound));
    assert_eq!(fs.stat(sub).unwrap().kind, FileType::Directory);
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert_eq!(htree_levels(&img, "/big"), Some(levels));
    check_lookups_after_add(&img);
}

/// After the change, every listed name still resolves (through whatever index the directory has now).
fn check_lookups_after_add(img: &Path) {
    let mut fs = mount(img, ro());
    let big = resolve(&mut fs, "big").unwrap();
    for e in fs.dir_entries(big).unwrap() {
        assert_eq!(fs.lookup(big, &e.name), Ok(e.ino));
    }
}

/// Linux's legacy directory hash (names of ASCII bytes), to find colliding names.
fn legacy_hash(name: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0x12a3_fe2du32, 0x37ab_e8f9u32);
    for &b in name {
        let mut h = h1.wrapping_add(h0 ^ (b as u32).wrapping_mul(7_152_373));
        if h & 0x8000_0000 != 0 {
            h = h.wrapping_sub(0x7fff_ffff);
        }
        h1 = h0;
        h0 = h;
    }
    h0 << 1
}

/// `count` distinct names, each sharing its legacy hash with another of them.
fn colliding_names(count: usize) -> Vec<String> {
    let mut hashes: Vec<(u32, u32)> = (0..1_600_000u32)
        .map(|i| (legacy_hash(format!("c{i}").as_bytes()), i))
        .collect();
    hashes.sort_unstable();
    let mut found: Vec<u32> = Vec::new();
    for w in hashes.windows(2).filter(|w| w[0].0 == w[1].0) {
        for i in [w[0].1, w[1].1] {
            if !found.contains(&i) {
                found.push(i);
            }
        }
    }
    assert!(found.len() >= count, "too few collisions");
    found.truncate(count & !1);
    found.into_iter().map(|i| format!("c{i}")).collect()
}

/// Leaves split between two names of the same hash get the "continued" bit in their index entry, and
/// lookups of both names follow it.
#[test]
fn hash_collisions_split_with_the_continued_bit() {
    let img = empty_image("dx-collide", "64M", &["-b", "1024"]);
    run("tune2fs", &["-E", "hash_alg=legacy", img.to_str().unwrap()]);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let dir = fs.mkdir(root, b"c", 0o755, 0, 0).unwrap();
    let mut kept = Vec::new();
    for n in colliding_names(1200) {
        fs.create(dir, n.as_bytes(), 0o644, 0, 0).unwrap();
        kept.push(n);
    }
    fs.unmount().unwrap();
    fsck_clean(&img);
    check_names(&img, "c", &kept);
    let htree = debugfs(&img, "htree /c");
    let continued = htree
        .lines()
        .filter_map(|l| l.split("Hash 0x").nth(1))
        .filter(|h| u32::from_str_radix(&h[..8], 16).unwrap() & 1 == 1)
        .count();
    assert!(continued > 0, "no split fell between colliding names:\n{htree}");
}

/// The physical blocks of directory `path`, in logical order.
fn dir_blocks(img: &Path, path: &str) -> Vec<usize> {
    let out = Command::new(tool("debugfs"))
        .args(["-R", &format!("blocks {path}"), img.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|b| b.parse().unwrap())
        .collect()
}

/// Lookups, inserts, removals, renames and listings of hostile `/big`; errors are expected, panics not.
/// Returns whether an insert was refused as corrupt.
fn exercise_dir<D: BlockDevice>(fs: &mut Fs<D>) -> bool {
    let Ok(big) = fs.lookup(fs.root(), b"big") else {
        return false;
    };
    for i in (0..600).step_by(7) {
        let _ = fs.lookup(big, format!("file{i}-").as_bytes());
    }
    let mut refused = false;
    for i in 0..150 {
        let name = format!("hostile{i}-{}", "z".repeat(i % 50));
        refused |= matches!(fs.create(big, name.as_bytes(), 0o644, 0, 0), Err(Error::Corrupt(_)));
    }
    for i in (0..600).step_by(5) {
        if let Ok(u) = fs.unlink(big, format!("file{i}-").as_bytes()) {
            let _ = fs.release(u.ino);
        }
    }
    let _ = fs.rename(big, b"file1-", big, b"moved");
    let _ = fs.mkdir(big, b"d", 0o755, 0, 0);
    let _ = fs.dir_entries(big);
    let _ = fs.sync();
    refused
}

/// Bit flips and hostile limits, counts, depths, hash versions and block numbers in the index of a
/// crate-made two-level `/big` never panic (with and without checksums, which catch most of them first).
#[test]
fn hostile_indexes_are_refused_without_panics() {
    for extra in [&["-O", "^metadata_csum"][..], &[]] {
        let img = empty_image("dx-hostile", "6M", &[&["-b", "1024", "-N", "1024"], extra].concat());
        let mut fs = mount(&img, rw());
        let root = fs.root();
        let big = fs.mkdir(root, b"big", 0o755, 0, 0).unwrap();
        for i in 0..600 {
            fs.create(big, format!("file{i}-").as_bytes(), 0o644, 0, 0).unwrap();
        }
        fs.unmount().unwrap();
        let blocks = dir_blocks(&img, "/big");
        let base = std::fs::read(&img).unwrap();
        let bs = 1024;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // (offset in the root block, bytes) of hostile header values.
        let root_edits: [(usize, &[u8]); 9] = [
            (34, &[0, 0]),
            (34, &[0xff, 0xff]),
            (32, &[0xff, 0xff]),
            (32, &[1, 0]),
            (30, &[1]),
            (30, &[0xff]),
            (28, &[7]),
            (36, &[0, 0, 0, 0]),
            (44, &[0xff, 0xff, 0xff, 0x0f]),
        ];
        let mut refused = 0;
        for round in 0..120 {
            let mut bytes = base.clone();
            let root_at = blocks[0] * bs;
            if round < root_edits.len() {
                let (off, v) = root_edits[round];
                bytes[root_at + off..root_at + off + v.len()].copy_from_slice(v);
            } else {
                for _ in 0..1 + next() % 3 {
                    // Mostly the index headers and entries at the start of a directory block.
                    let b = blocks[(next() % blocks.len() as u64) as usize];
                    let bit = (next() % (64 * 8)) as usize;
                    bytes[b * bs + bit / 8] ^= 1 << (bit % 8);
                }
            }
            if let Ok(mut fs) = Fs::mount(MemDev(bytes), rw()) {
                refused += exercise_dir(&mut fs) as u32;
            }
        }
        println!("{extra:?}: 120 hostile indexes, {refused} refused an insert as corrupt");
        assert!(refused >= 20, "the hostile indexes hardly reached the index code");
    }
}

/// A listing that goes on after inserts split leaves misses none of the names that were there before (they
/// may show twice: the moved ones also in their new block).
#[test]
fn listing_across_splits_misses_no_name() {
    let img = empty_image("dx-list", "64M", &["-b", "1024"]);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let dir = fs.mkdir(root, b"d", 0o755, 0, 0).unwrap();
    let old: Vec<String> = (0..1500).map(|i| format!("old-{i}")).collect();
    for n in &old {
        fs.create(dir, n.as_bytes(), 0o644, 0, 0).unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut pos = 0;
    for round in 0..3 {
        let mut taken = 0;
        fs.read_dir(dir, pos, |e| {
            seen.insert(e.name.clone());
            pos = e.next;
            taken += 1;
            taken < 400
        })
        .unwrap();
        for i in 0..400 {
            fs.create(dir, format!("new-{round}-{i}").as_bytes(), 0o644, 0, 0)
                .unwrap();
        }
    }
    fs.read_dir(dir, pos, |e| {
        seen.insert(e.name.clone());
        true
    })
    .unwrap();
    for n in &old {
        assert!(seen.contains(n.as_bytes()), "{n} was skipped");
    }
    fs.unmount().unwrap();
    fsck_clean(&img);
}
