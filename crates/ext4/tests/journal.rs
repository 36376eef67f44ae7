//! Journal recovery: transactions written by debugfs (`jo`/`jw`/`jc`, which leaves the file system marked as
//! needing recovery) are replayed at a read-write mount, revoked blocks are not, and e2fsck -fn is clean after.

mod common;

use common::*;
use ember_ext4::{Error, Fs};
use std::io::Write;
use std::process::{Command, Stdio};

fn journal_case(jo: &str, kind_extra: &[&str]) {
    journal_case_flag(jo, kind_extra, true);
}

/// `keep_flag` false clears needs_recovery after logging: the journal still holds transactions, which a
/// read-write mount replays like Linux's jbd2 does.
fn journal_case_flag(jo: &str, kind_extra: &[&str], keep_flag: bool) {
    let dir = tempdir("journal");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), pattern(1, 1024)).unwrap();
    let img = mkfs(&dir, "ext4", "8M", &src, kind_extra);
    let bmap = debugfs(&img, "bmap /f 0");
    let fblock: u64 = bmap.lines().filter_map(|l| l.trim().parse().ok()).next().expect("bmap");
    let new = pattern(2, 1024);
    let revoked = pattern(3, 1024);
    std::fs::write(dir.join("new"), &new).unwrap();
    std::fs::write(dir.join("revoked"), &revoked).unwrap();
    let script = format!(
        "{jo}\njw -b {fblock} {new}\njw -b 8001 {rev}\njw -r 8001\njc\n",
        new = dir.join("new").display(),
        rev = dir.join("revoked").display()
    );
    let mut child = Command::new(tool("debugfs"))
        .args(["-w", "-f", "-", img.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("debugfs (install e2fsprogs)");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(run("dumpe2fs", &["-h", img.to_str().unwrap()]).contains("needs_recovery"));
    if !keep_flag {
        run(
            "debugfs",
            &["-w", "-R", "feature -needs_recovery", img.to_str().unwrap()],
        );
        assert!(!run("dumpe2fs", &["-h", img.to_str().unwrap()]).contains("needs_recovery"));
    }

    // Read-only: not replayed, and said so.
    let mut fs = mount(&img, ro());
    assert!(!keep_flag || fs.read_only_reason().unwrap().contains("recovery"));
    let f = resolve(&mut fs, "f").unwrap();
    assert_eq!(read_all(&mut fs, f), pattern(1, 1024));
    assert_eq!(fs.create(2, b"x", 0o644, 0, 0), Err(Error::ReadOnly));
    drop(fs.unmount().unwrap());

    // Read-write: replayed.
    let mut fs = mount(&img, rw());
    assert_eq!(fs.read_only_reason(), None);
    assert_eq!(read_all(&mut fs, f), new);
    let g = fs.create(2, b"g", 0o644, 0, 0).unwrap();
    fs.write_at(g, 0, b"after recovery").unwrap();
    fs.unmount().unwrap();
    let dump = run("dumpe2fs", &["-h", img.to_str().unwrap()]);
    assert!(!dump.contains("needs_recovery"), "{dump}");
    assert!(dump.contains("Journal start:            0"), "{dump}");
    fsck_clean(&img);
    assert_eq!(debugfs_cat(&img, "/f"), new);
    let img_bytes = std::fs::read(&img).unwrap();
    assert_ne!(
        &img_bytes[8001 * 1024..8002 * 1024],
        &revoked[..],
        "a revoked block was replayed"
    );
    // A second mount finds nothing to replay.
    let fs = Fs::mount(open_dev(&img), rw()).unwrap();
    fs.unmount().unwrap();
    fsck_clean(&img);
}

#[test]
fn replay_checksum_v3() {
    journal_case("jo -c", &[]);
}

#[test]
fn replay_checksum_v2() {
    journal_case("jo -c -v 2", &[]);
}

#[test]
fn replay_unflagged_journal() {
    journal_case_flag("jo -c", &[], false);
}

#[test]
fn replay_without_checksums() {
    journal_case("jo", &["-O", "^metadata_csum"]);
}

/// An orphan list left by a Linux that stopped while a file was open but unlinked, and while another was
/// being truncated: a read-write mount frees the first and trims the second, and e2fsck -fn is clean.
#[test]
fn orphan_list_processed() {
    let dir = tempdir("orphans");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("gone"), pattern(1, 50_000)).unwrap();
    std::fs::write(src.join("trimmed"), pattern(2, 100_000)).unwrap();
    let img = mkfs(&dir, "ext4", "8M", &src, &[]);
    let ino_of = |name: &str| -> u32 {
        let out = debugfs(&img, &format!("stat /{name}"));
        out.split("Inode: ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (gone, trimmed) = (ino_of("gone"), ino_of("trimmed"));
    let free_before = {
        let fs = mount(&img, ro());
        fs.statfs().free_blocks
    };
    let script = format!(
        "unlink /gone\nsif <{gone}> links_count 0\nsif <{gone}> dtime {trimmed}\nsif <{trimmed}> size 1000\n\
         ssv last_orphan {gone}\n"
    );
    let mut child = Command::new(tool("debugfs"))
        .args(["-w", "-f", "-", img.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(run("dumpe2fs", &["-h", img.to_str().unwrap()]).contains("First orphan inode:"));
    let mut fs = mount(&img, rw());
    let t = resolve(&mut fs, "trimmed").unwrap();
    assert_eq!(read_all(&mut fs, t), &pattern(2, 100_000)[..1000]);
    // 50 000 + 99 000 bytes of 1 KiB blocks came back.
    assert_eq!(fs.statfs().free_blocks, free_before + 49 + 97);
    fs.unmount().unwrap();
    assert!(!run("dumpe2fs", &["-h", img.to_str().unwrap()]).contains("First orphan inode:"));
    fsck_clean(&img);
}
