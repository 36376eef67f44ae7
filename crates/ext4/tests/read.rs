//! Images filled by `mke2fs -d` from a host directory read back with the crate, entry by entry.

mod common;

use common::*;

fn check(kind: &str, extra: &[&str], index_dirs: bool) {
    let (src, img) = host_image(kind, "32M", extra, index_dirs);
    if index_dirs {
        assert!(
            debugfs(&img, "htree many").contains("Root node dump"),
            "many/ is not indexed"
        );
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
