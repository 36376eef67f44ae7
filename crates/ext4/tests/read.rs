//! Images filled by `mke2fs -d` from a host directory read back with the crate, entry by entry.

mod common;

use common::*;
use ember_ext4::{BlockDevice, FileType, Fs};
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// A host tree with small, large, empty, sparse and linked files, symlinks, and a directory of many entries.
pub fn host_tree(root: &Path) {
    std::fs::write(root.join("hello.txt"), b"hello ember\n").unwrap();
    std::fs::write(root.join("big.bin"), pattern(1, 3 * 1024 * 1024 + 123)).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::create_dir_all(root.join("sub/dir")).unwrap();
    std::fs::write(root.join("sub/dir/deep.txt"), pattern(2, 5000)).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("link_fast")).unwrap();
    std::os::unix::fs::symlink("x".repeat(100), root.join("link_slow")).unwrap();
    std::fs::hard_link(root.join("hello.txt"), root.join("sub/hard")).unwrap();
    std::fs::set_permissions(root.join("sub/dir/deep.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let f = std::fs::File::create(root.join("sparse")).unwrap();
    f.set_len(1 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"middle", 512 * 1024).unwrap();
    std::fs::create_dir(root.join("many")).unwrap();
    for i in 0..400 {
        std::fs::write(root.join(format!("many/entry-number-{i:04}-with-a-longer-name")), format!("{i}")).unwrap();
    }
}

/// Compares the crate's view of directory `ino` with host directory `host`, recursively.
pub fn compare_tree<D: BlockDevice>(fs: &mut Fs<D>, ino: u32, host: &Path) {
    let entries = fs.dir_entries(ino).unwrap();
    let names: BTreeSet<String> = entries.iter().map(|e| String::from_utf8(e.name.clone()).unwrap()).collect();
    let mut want: BTreeSet<String> =
        std::fs::read_dir(host).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    want.insert(".".into());
    want.insert("..".into());
    if ino == fs.root() {
        want.insert("lost+found".into());
    }
    assert_eq!(names, want, "entries of {host:?}");
    for e in entries {
        let name = String::from_utf8(e.name.clone()).unwrap();
        if name == "." || name == ".." || name == "lost+found" {
            continue;
        }
        let path = host.join(&name);
        let hm = std::fs::symlink_metadata(&path).unwrap();
        let m = fs.stat(e.ino).unwrap();
        assert_eq!(m.perm as u32, hm.mode() & 0o7777, "{path:?}");
        assert_eq!(m.nlink as u64, hm.nlink(), "{path:?}");
        assert_eq!(Some(m.kind), e.kind.or(Some(m.kind)));
        match m.kind {
            FileType::Directory => compare_tree(fs, e.ino, &path),
            FileType::Regular => {
                assert_eq!(m.size, hm.len(), "{path:?}");
                assert_eq!(read_all(fs, e.ino), std::fs::read(&path).unwrap(), "{path:?}");
            }
            FileType::Symlink => {
                let t = std::fs::read_link(&path).unwrap();
                assert_eq!(fs.readlink(e.ino).unwrap(), t.as_os_str().as_encoded_bytes(), "{path:?}");
            }
            k => panic!("unexpected {k:?}"),
        }
    }
}

fn check(kind: &str, extra: &[&str], index_dirs: bool) {
    let dir = tempdir(kind);
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    host_tree(&src);
    let img = mkfs(&dir, kind, "32M", &src, extra);
    if index_dirs {
        // e2fsck -D indexes directories; exit code 1 means it changed something.
        let st = Command::new("e2fsck").args(["-fyD", img.to_str().unwrap()]).output().unwrap();
        assert!(st.status.code().unwrap_or(8) <= 1, "{st:?}");
        assert!(debugfs(&img, "htree many").contains("Root node dump"), "many/ is not indexed");
    }
    let mut fs = mount(&img, ro());
    assert!(fs.read_only_reason().is_some());
    compare_tree(&mut fs, 2, &src);
    let sparse = resolve(&mut fs, "sparse").unwrap();
    let mut b = [1u8; 16];
    assert_eq!(fs.read_at(sparse, 4096, &mut b).unwrap(), 16);
    assert_eq!(b, [0u8; 16]);
    let st = fs.statfs();
    assert_eq!(st.blocks * st.block_size as u64, 32 << 20);
    assert!(st.free_blocks > 0 && st.free_blocks < st.blocks);
    fs.unmount().unwrap();
    fsck_clean(&img);
}

#[test]
fn ext4_default_features_read_back() {
    check("ext4", &[], false);
}

#[test]
fn ext4_htree_directories_read_back() {
    check("ext4", &[], true);
}

#[test]
fn ext4_4k_blocks_read_back() {
    check("ext4", &["-b", "4096"], false);
}

#[test]
fn ext2_read_back() {
    check("ext2", &[], false);
}
