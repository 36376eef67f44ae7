//! Extended attributes on disk: attributes set by debugfs (in the inode and in a block) read back by the
//! crate; attributes the crate sets, replaces and removes seen by debugfs, with `e2fsck -fn` clean; shared
//! blocks copied on write; blocks freed with their last entry or their inode.

mod common;

use common::*;
use ember_ext4::{Error, Fs, XattrMode};
use std::path::Path;

/// An image of `kind` with files `a`, `b` and `c`.
fn image(tag: &str, extra: &[&str]) -> std::path::PathBuf {
    let dir = tempdir(tag);
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    for f in ["a", "b", "c"] {
        std::fs::write(src.join(f), format!("file {f}\n")).unwrap();
    }
    std::fs::create_dir(src.join("d")).unwrap();
    mkfs(&dir, "ext4", "16M", &src, extra)
}

/// `debugfs ea_get` of one attribute: its value.
fn ea_get(img: &Path, path: &str, name: &str) -> Vec<u8> {
    let out_file = img.with_extension(format!("ea-{}", name.replace('.', "_")));
    debugfs(img, &format!("ea_get -f {} {path} {name}", out_file.display()));
    std::fs::read(&out_file).unwrap_or_default()
}

/// `debugfs ea_list` of a file.
fn ea_list(img: &Path, path: &str) -> String {
    debugfs(img, &format!("ea_list {path}"))
}

/// The block `debugfs stat` names as the inode's `File ACL`.
fn file_acl(img: &Path, path: &str) -> u64 {
    let text = debugfs(img, &format!("stat {path}"));
    let at = text.find("File ACL: ").unwrap() + "File ACL: ".len();
    text[at..].split_whitespace().next().unwrap().parse().unwrap()
}

fn names(fs: &mut Fs<FileDev>, ino: u32) -> Vec<String> {
    let mut v: Vec<String> = fs
        .xattr_names(ino)
        .unwrap()
        .into_iter()
        .map(|n| String::from_utf8(n).unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn attributes_set_by_debugfs_are_read() {
    for extra in [&[][..], &["-O", "^metadata_csum"], &["-I", "128"], &["-b", "1024"]] {
        let img = image("xattr-read", extra);
        let big = pattern(7, 700);
        let big_file = img.with_extension("big");
        std::fs::write(&big_file, &big).unwrap();
        debugfs_w(&img, "ea_set /a user.small hello");
        debugfs_w(&img, &format!("ea_set -f {} /a user.big", big_file.display()));
        debugfs_w(&img, "ea_set /a trusted.t tval");
        debugfs_w(&img, "ea_set /d security.s0 x");
        debugfs_w(&img, "ea_set /b user.empty \"\"");
        fsck_clean(&img);
        let mut fs = mount(&img, ro());
        let a = resolve(&mut fs, "a").unwrap();
        let b = resolve(&mut fs, "b").unwrap();
        let c = resolve(&mut fs, "c").unwrap();
        let d = resolve(&mut fs, "d").unwrap();
        assert_eq!(names(&mut fs, a), ["trusted.t", "user.big", "user.small"], "{extra:?}");
        assert_eq!(fs.xattr_get(a, b"user.small").unwrap(), b"hello");
        assert_eq!(fs.xattr_get(a, b"user.big").unwrap(), big, "{extra:?}");
        assert_eq!(fs.xattr_get(a, b"trusted.t").unwrap(), b"tval");
        assert_eq!(fs.xattr_get(d, b"security.s0").unwrap(), b"x");
        assert_eq!(fs.xattr_get(b, b"user.empty").unwrap(), b"");
        assert_eq!(fs.xattr_get(a, b"user.none"), Err(Error::NoData));
        assert_eq!(fs.xattr_get(c, b"user.small"), Err(Error::NoData));
        assert!(names(&mut fs, c).is_empty());
        assert!(matches!(fs.xattr_get(a, b"other.x"), Err(Error::Unsupported(_))));
        // A read-only mount refuses changes.
        assert_eq!(fs.xattr_set(a, b"user.x", b"1", XattrMode::Any), Err(Error::ReadOnly));
    }
}

#[test]
fn attributes_written_are_seen_by_debugfs_and_fsck_clean() {
    for extra in [&[][..], &["-O", "^metadata_csum"], &["-I", "128", "-b", "1024"]] {
        let img = image("xattr-write", extra);
        debugfs_w(&img, "ea_set /b user.keep kept");
        let mut fs = mount(&img, rw());
        let a = resolve(&mut fs, "a").unwrap();
        let b = resolve(&mut fs, "b").unwrap();
        let c = resolve(&mut fs, "c").unwrap();
        let d = resolve(&mut fs, "d").unwrap();
        let blocks_before = fs.stat(a).unwrap().blocks;
        // Small ones fit in the inode (when it is large), larger ones go to the block.
        fs.xattr_set(a, b"user.one", b"1", XattrMode::Create).unwrap();
        fs.xattr_set(
            a,
            b"security.capability",
            &[1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0],
            XattrMode::Any,
        )
        .unwrap();
        let big = pattern(3, 600);
        fs.xattr_set(a, b"user.big", &big, XattrMode::Create).unwrap();
        fs.xattr_set(a, b"trusted.empty", b"", XattrMode::Create).unwrap();
        assert_eq!(fs.stat(a).unwrap().blocks, blocks_before + fs.block_size() as u64 / 512);
        // Flags.
        assert_eq!(
            fs.xattr_set(a, b"user.one", b"x", XattrMode::Create),
            Err(Error::Exists)
        );
        assert_eq!(
            fs.xattr_set(a, b"user.two", b"x", XattrMode::Replace),
            Err(Error::NoData)
        );
        assert_eq!(fs.xattr_remove(a, b"user.two"), Err(Error::NoData));
        fs.xattr_set(a, b"user.one", b"one, replaced", XattrMode::Replace)
            .unwrap();
        // Too big for a block, and a block filled up.
        let huge = vec![9u8; fs.block_size() as usize];
        assert_eq!(
            fs.xattr_set(c, b"user.huge", &huge, XattrMode::Any),
            Err(Error::NoSpace)
        );
        let mut n = 0;
        let chunk = vec![5u8; 200];
        loop {
            match fs.xattr_set(c, format!("user.fill{n}").as_bytes(), &chunk, XattrMode::Create) {
                Ok(()) => n += 1,
                Err(e) => {
                    assert_eq!(e, Error::NoSpace);
                    break;
                }
            }
        }
        assert!(n >= 4, "only {n} attributes of 200 bytes fit");
        // A directory's, and changes to attributes debugfs set.
        fs.xattr_set(d, b"user.dir", b"on a directory", XattrMode::Any).unwrap();
        fs.xattr_set(b, b"user.keep", b"changed", XattrMode::Any).unwrap();
        fs.unmount().unwrap();
        fsck_clean(&img);
        let list = ea_list(&img, "/a");
        for want in ["user.one", "user.big", "security.capability", "trusted.empty"] {
            assert!(list.contains(want), "{extra:?}: {want} missing from\n{list}");
        }
        assert_eq!(ea_get(&img, "/a", "user.one"), b"one, replaced");
        assert_eq!(ea_get(&img, "/a", "user.big"), big);
        assert_eq!(ea_get(&img, "/d", "user.dir"), b"on a directory");
        assert_eq!(ea_get(&img, "/b", "user.keep"), b"changed");
        assert_eq!(ea_get(&img, "/c", "user.fill0"), chunk);

        // Removing: the block goes with its last entry; the inode's area empties.
        let mut fs = mount(&img, rw());
        let free = fs.statfs().free_blocks;
        for name in ["user.one", "security.capability", "user.big", "trusted.empty"] {
            fs.xattr_remove(a, name.as_bytes()).unwrap();
        }
        assert!(fs.xattr_names(a).unwrap().is_empty());
        assert_eq!(fs.stat(a).unwrap().blocks, blocks_before);
        assert_eq!(fs.statfs().free_blocks, free + 1);
        // Freeing an inode frees its block.
        let root = fs.root();
        let u = fs.unlink(root, b"c").unwrap();
        assert_eq!(u.nlink, 0);
        fs.release(u.ino).unwrap();
        // a's block, c's data block and c's attribute block.
        assert_eq!(fs.statfs().free_blocks, free + 3);
        fs.unmount().unwrap();
        fsck_clean(&img);
        assert!(!ea_list(&img, "/a").contains("user."));
        assert_eq!(file_acl(&img, "/a"), 0);
    }
}

#[test]
fn shared_blocks_are_copied_on_write() {
    // Without metadata_csum, so that the test can share a block by hand (as Linux's mbcache does).
    let img = image("xattr-shared", &["-O", "^metadata_csum", "-I", "128", "-b", "1024"]);
    let mut fs = mount(&img, rw());
    let a = resolve(&mut fs, "a").unwrap();
    let b = resolve(&mut fs, "b").unwrap();
    fs.xattr_set(a, b"user.shared", b"same value", XattrMode::Create)
        .unwrap();
    fs.unmount().unwrap();
    let block = file_acl(&img, "/a");
    assert_ne!(block, 0);
    let bsectors: u64 = {
        let text = debugfs(&img, "stat /b");
        let at = text.find("Blockcount: ").unwrap() + "Blockcount: ".len();
        text[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    debugfs_w(&img, &format!("sif /b file_acl {block}"));
    debugfs_w(&img, &format!("sif /b blocks {}", bsectors + 2));
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&2u32.to_le_bytes(), block * 1024 + 4).unwrap();
    }
    fsck_clean(&img);
    let mut fs = mount(&img, rw());
    assert_eq!(fs.xattr_get(b, b"user.shared").unwrap(), b"same value");
    // b changes its copy: a keeps the old block, with one reference.
    fs.xattr_set(b, b"user.shared", b"b's own value", XattrMode::Replace)
        .unwrap();
    fs.xattr_set(b, b"user.more", b"m", XattrMode::Create).unwrap();
    assert_eq!(fs.xattr_get(a, b"user.shared").unwrap(), b"same value");
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert_eq!(file_acl(&img, "/a"), block);
    assert_ne!(file_acl(&img, "/b"), block);
    assert_eq!(ea_get(&img, "/b", "user.shared"), b"b's own value");
    assert_eq!(ea_get(&img, "/a", "user.shared"), b"same value");

    // Shared again, then one user removes its last entry: the block stays for the other.
    let block_b = file_acl(&img, "/b");
    debugfs_w(&img, &format!("sif /c file_acl {block_b}"));
    let csectors: u64 = {
        let text = debugfs(&img, "stat /c");
        let at = text.find("Blockcount: ").unwrap() + "Blockcount: ".len();
        text[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    debugfs_w(&img, &format!("sif /c blocks {}", csectors + 2));
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&2u32.to_le_bytes(), block_b * 1024 + 4).unwrap();
    }
    fsck_clean(&img);
    let mut fs = mount(&img, rw());
    let c = resolve(&mut fs, "c").unwrap();
    fs.xattr_remove(c, b"user.shared").unwrap();
    fs.xattr_remove(c, b"user.more").unwrap();
    assert!(fs.xattr_names(c).unwrap().is_empty());
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert_eq!(file_acl(&img, "/c"), 0);
    assert_eq!(ea_get(&img, "/b", "user.more"), b"m");
}

/// Runs a debugfs command that writes.
fn debugfs_w(img: &Path, cmd: &str) {
    run("debugfs", &["-w", "-R", cmd, img.to_str().unwrap()]);
}

/// Where debugfs says inode `path`'s record is: its byte offset in the image.
fn inode_offset(img: &Path, path: &str, bs: u64) -> u64 {
    let text = debugfs(img, &format!("imap {path}"));
    let at = text.find("located at block ").unwrap() + "located at block ".len();
    let mut words = text[at..]
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty());
    let block: u64 = words.next().unwrap().parse().unwrap();
    let off = words.find(|w| w.starts_with("0x")).unwrap();
    block * bs + u64::from_str_radix(&off[2..], 16).unwrap()
}

#[test]
fn corrupt_attribute_areas_give_errors_not_panics() {
    for extra in [&["-O", "^metadata_csum", "-b", "1024"][..], &["-b", "1024"]] {
        let img = image("xattr-hostile", extra);
        let mut fs = mount(&img, rw());
        let a = resolve(&mut fs, "a").unwrap();
        fs.xattr_set(a, b"user.in", b"inode value", XattrMode::Create).unwrap();
        fs.xattr_set(a, b"user.block", &pattern(5, 300), XattrMode::Create)
            .unwrap();
        fs.xattr_set(a, b"trusted.more", &pattern(6, 100), XattrMode::Create)
            .unwrap();
        fs.unmount().unwrap();
        let block = file_acl(&img, "/a");
        let inode_at = inode_offset(&img, "/a", 1024);
        let base = std::fs::read(&img).unwrap();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ extra.len() as u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (mut ok, mut failed) = (0, 0);
        for round in 0..600 {
            let mut bytes = base.clone();
            for _ in 0..1 + next() % 3 {
                // The inode's attribute area (bytes 128..256 of its record) or the block's used start and end.
                let at = match round % 3 {
                    0 => inode_at + 128 + next() % 128,
                    1 => block * 1024 + next() % 160,
                    _ => block * 1024 + 1024 - 1 - next() % 450,
                };
                bytes[at as usize] = next() as u8;
            }
            let mut fs = Fs::mount(MemDev(bytes), rw()).unwrap();
            let r = (|| {
                let names = fs.xattr_names(a)?;
                for n in &names {
                    fs.xattr_get(a, n)?;
                }
                fs.xattr_set(a, b"user.block", b"smaller", XattrMode::Any)?;
                fs.xattr_set(a, b"user.new", &[1; 200], XattrMode::Create)?;
                fs.xattr_remove(a, b"user.in")?;
                fs.xattr_names(a)
            })();
            match r {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
            let _ = fs.unmount();
        }
        println!("{extra:?}: {ok} rounds went through, {failed} failed with an error");
        assert!(failed > 0, "no corruption was noticed");
    }
}
