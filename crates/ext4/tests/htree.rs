//! htree (dir_index) lookups on directories indexed by e2fsprogs (`e2fsck -fyD`), for each hash and
//! signedness, with one and two index levels; then a write into an indexed directory, which `e2fsck -fn`
//! must find clean.

mod common;

use common::*;
use ember_ext4::{Error, FileType};
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

#[test]
fn adding_to_an_indexed_directory_keeps_it_consistent() {
    let (img, _) = indexed_image("dx-add", "half_md4", 2, "1024", 2000);
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
