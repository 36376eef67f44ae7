//! Changes made with the crate on `mke2fs` images: e2fsck -fn must find the image clean, and debugfs (and a
//! second mount) must see the same bytes.

mod common;

use common::*;
use ember_ext4::{Error, FileType, Fs, SetAttr, Timestamp};
use std::collections::BTreeMap;

type Model = BTreeMap<String, Vec<u8>>;

fn write_file(fs: &mut Fs<FileDev>, model: &mut Model, path: &str, off: u64, data: &[u8]) {
    let ino = resolve(fs, path).unwrap();
    assert_eq!(fs.write_at(ino, off, data).unwrap(), data.len());
    let v = model.get_mut(path).unwrap();
    let end = off as usize + data.len();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[off as usize..end].copy_from_slice(data);
}

fn create(fs: &mut Fs<FileDev>, model: &mut Model, dir: &str, name: &str) -> u32 {
    let d = resolve(fs, dir).unwrap();
    let ino = fs.create(d, name.as_bytes(), 0o644, 0, 0).unwrap();
    model.insert(format!("{dir}/{name}").trim_start_matches('/').to_string(), Vec::new());
    ino
}

fn rename_in_model(model: &mut Model, from: &str, to: &str) {
    let moved: Vec<String> = model
        .keys()
        .filter(|k| *k == from || k.starts_with(&format!("{from}/")))
        .cloned()
        .collect();
    for k in moved {
        let v = model.remove(&k).unwrap();
        model.insert(format!("{to}{}", &k[from.len()..]), v);
    }
}

fn exercise(kind: &str, extra: &[&str], index_dirs: bool) {
    let (src, img) = host_image(kind, "48M", extra, index_dirs);
    let mut model = Model::new();
    for (p, data) in [
        ("hello.txt", b"hello ember\n".to_vec()),
        ("big.bin", pattern(1, 3 * 1024 * 1024 + 123)),
        ("empty", Vec::new()),
        ("sub/dir/deep.txt", pattern(2, 5000)),
    ] {
        model.insert(p.to_string(), data);
    }
    let mut fs = mount(&img, rw());
    assert_eq!(fs.read_only_reason(), None);
    let free_before = fs.statfs().free_blocks;

    // New files; two written in alternation so that both get many extents (a depth-1 tree on ext4).
    create(&mut fs, &mut model, "", "new.txt");
    write_file(&mut fs, &mut model, "new.txt", 0, b"first version");
    create(&mut fs, &mut model, "", "big2.bin");
    create(&mut fs, &mut model, "", "frag.bin");
    let chunk = 48 * 1024;
    for i in 0..128u64 {
        write_file(
            &mut fs,
            &mut model,
            "big2.bin",
            i * chunk,
            &pattern(100 + i, chunk as usize),
        );
        write_file(
            &mut fs,
            &mut model,
            "frag.bin",
            i * chunk,
            &pattern(300 + i, chunk as usize),
        );
    }
    // Overwrite inside, append, unaligned writes, a write far past the end (a hole).
    write_file(&mut fs, &mut model, "big.bin", 1_000_001, &pattern(7, 10_000));
    write_file(&mut fs, &mut model, "hello.txt", 12, b"appended\n");
    write_file(&mut fs, &mut model, "new.txt", 3, &pattern(8, 3000));
    create(&mut fs, &mut model, "", "holes");
    write_file(&mut fs, &mut model, "holes", 5 << 20, b"after a 5 MiB hole");
    write_file(&mut fs, &mut model, "holes", 100, b"early");

    // Rename: a file across directories, a directory across directories, over an existing file.
    let root = fs.root();
    let sub = resolve(&mut fs, "sub").unwrap();
    fs.rename(root, b"hello.txt", sub, b"renamed.txt").unwrap();
    rename_in_model(&mut model, "hello.txt", "sub/renamed.txt");
    fs.rename(sub, b"dir", root, b"moved_dir").unwrap();
    rename_in_model(&mut model, "sub/dir", "moved_dir");
    let moved = resolve(&mut fs, "moved_dir").unwrap();
    assert_eq!(fs.lookup(moved, b"..").unwrap(), root);
    let gone = fs.rename(root, b"new.txt", root, b"empty").unwrap().unwrap();
    assert_eq!(gone.nlink, 0);
    assert!(fs.is_orphan(gone.ino));
    assert!(!fs.is_orphan(moved));
    fs.release(gone.ino).unwrap();
    assert!(!fs.is_orphan(gone.ino));
    rename_in_model(&mut model, "new.txt", "empty");
    assert_eq!(fs.rename(root, b"moved_dir", moved, b"x"), Err(Error::InvalidArgument));

    // Exchange two files across directories and back, then a file and a directory and back.
    let (i1, i2) = (
        resolve(&mut fs, "big2.bin").unwrap(),
        resolve(&mut fs, "sub/renamed.txt").unwrap(),
    );
    fs.exchange(root, b"big2.bin", sub, b"renamed.txt").unwrap();
    assert_eq!(
        (
            fs.lookup(root, b"big2.bin").unwrap(),
            fs.lookup(sub, b"renamed.txt").unwrap()
        ),
        (i2, i1)
    );
    fs.exchange(root, b"big2.bin", sub, b"renamed.txt").unwrap();
    fs.exchange(root, b"moved_dir", sub, b"renamed.txt").unwrap();
    assert_eq!(fs.lookup(moved, b"..").unwrap(), sub);
    fs.exchange(root, b"moved_dir", sub, b"renamed.txt").unwrap();
    assert_eq!(fs.lookup(moved, b"..").unwrap(), root);
    assert_eq!(
        fs.exchange(root, b"moved_dir", moved, b"deep.txt"),
        Err(Error::InvalidArgument)
    );

    // Hard link, then truncate (shrink and grow).
    let big2 = resolve(&mut fs, "big2.bin").unwrap();
    fs.link(big2, sub, b"big2.link").unwrap();
    model.insert("sub/big2.link".into(), model["big2.bin"].clone());
    assert_eq!(fs.stat(big2).unwrap().nlink, 2);
    let big = resolve(&mut fs, "big.bin").unwrap();
    fs.truncate(big, 100_000).unwrap();
    model.get_mut("big.bin").unwrap().truncate(100_000);
    let frag = resolve(&mut fs, "frag.bin").unwrap();
    fs.truncate(frag, 2_500_000 + 17).unwrap();
    model.get_mut("frag.bin").unwrap().truncate(2_500_017);
    fs.truncate(frag, 2_600_000).unwrap();
    model.get_mut("frag.bin").unwrap().resize(2_600_000, 0);

    // Deletes: files, symlink, an empty directory; a non-empty one is refused.
    let u = fs.unlink(root, b"sparse").unwrap();
    fs.release(u.ino).unwrap();
    let u = fs.unlink(root, b"link_slow").unwrap();
    fs.release(u.ino).unwrap();
    assert_eq!(fs.rmdir(root, b"moved_dir"), Err(Error::NotEmpty));
    fs.mkdir(root, b"tmpdir", 0o755, 0, 0).unwrap();
    let u = fs.rmdir(root, b"tmpdir").unwrap();
    fs.release(u.ino).unwrap();
    assert_eq!(fs.unlink(root, b"sub"), Err(Error::IsDir));
    assert_eq!(fs.lookup(root, b"sparse"), Err(Error::NotFound));

    // A big directory: remove half, add new entries.
    let many = resolve(&mut fs, "many").unwrap();
    for i in (0..400).step_by(2) {
        let u = fs
            .unlink(many, format!("entry-number-{i:04}-with-a-longer-name").as_bytes())
            .unwrap();
        fs.release(u.ino).unwrap();
    }
    for i in 0..150 {
        let ino = create(&mut fs, &mut model, "many", &format!("added-{i}"));
        let p = format!("many/added-{i}");
        write_file(&mut fs, &mut model, &p, 0, p.as_bytes());
        assert_eq!(fs.lookup(many, &p.as_bytes()[5..]).unwrap(), ino);
    }
    // A new directory tree with symlinks, a FIFO and a device.
    let nd = fs.mkdir(root, b"newdir", 0o750, 1000, 1000).unwrap();
    for i in 0..60 {
        create(&mut fs, &mut model, "newdir", &format!("f{i}"));
    }
    let inner = fs.mkdir(nd, b"inner", 0o755, 0, 0).unwrap();
    assert_eq!(fs.stat(nd).unwrap().nlink, 3);
    fs.symlink(inner, b"fast", b"../f1", 0, 0).unwrap();
    let long_target = "y/".repeat(150);
    fs.symlink(inner, b"slow", long_target.as_bytes(), 0, 0).unwrap();
    fs.mknod(inner, b"fifo", FileType::Fifo, 0o600, 0, 0, (0, 0)).unwrap();
    fs.mknod(inner, b"tty", FileType::CharDevice, 0o620, 0, 5, (4, 1))
        .unwrap();
    fs.mknod(inner, b"bigdev", FileType::BlockDevice, 0o660, 0, 6, (259, 300))
        .unwrap();
    let bigdev = resolve(&mut fs, "newdir/inner/bigdev").unwrap();
    assert_eq!(fs.stat(bigdev).unwrap().rdev, (259, 300));
    assert_eq!(fs.create(nd, b"f1", 0o644, 0, 0), Err(Error::Exists));
    let t = Timestamp {
        sec: 1_234_567_890,
        nsec: 5,
    };
    let f1 = resolve(&mut fs, "newdir/f1").unwrap();
    fs.setattr(
        f1,
        &SetAttr {
            perm: Some(0o600),
            uid: Some(1000),
            gid: Some(100),
            mtime: Some(t),
            ..Default::default()
        },
    )
    .unwrap();
    let m = fs.stat(f1).unwrap();
    assert_eq!((m.perm, m.uid, m.gid, m.mtime), (0o600, 1000, 100, t));

    // An unlinked file stays usable until released.
    let tmp = create(&mut fs, &mut model, "", "open-unlinked");
    fs.write_at(tmp, 0, b"still here").unwrap();
    model.remove("open-unlinked");
    assert_eq!(fs.unlink(root, b"open-unlinked").unwrap().nlink, 0);
    let mut b = [0u8; 10];
    assert_eq!(fs.read_at(tmp, 0, &mut b).unwrap(), 10);
    assert_eq!(&b, b"still here");

    for (p, data) in &model {
        let ino = resolve(&mut fs, p).unwrap();
        assert!(read_all(&mut fs, ino) == *data, "{p} differs before unmount");
    }
    assert!(fs.statfs().free_blocks < free_before);
    fs.unmount().unwrap();

    fsck_clean(&img);
    for (p, data) in &model {
        assert!(
            debugfs_cat(&img, &format!("/{p}")) == *data,
            "debugfs sees other bytes in {p}"
        );
    }
    if kind == "ext4" {
        // The interleaved writes left big2.bin with more extents than the inode holds: a tree of depth >= 1.
        let ex = debugfs(&img, "ex /big2.bin");
        assert!(
            ex.contains("Level Entries") && ex.lines().any(|l| l.trim_start().starts_with("1/")),
            "{ex}"
        );
    }
    let stat = debugfs(&img, "stat /newdir/f1");
    assert!(stat.contains("Mode:  0600") && stat.contains("User:  1000"), "{stat}");
    // Mount again with the crate: same bytes and links.
    let mut fs = mount(&img, rw());
    for (p, data) in &model {
        let ino = resolve(&mut fs, p).unwrap();
        assert!(read_all(&mut fs, ino) == *data, "{p} differs after remount");
    }
    let slow = resolve(&mut fs, "newdir/inner/slow").unwrap();
    assert_eq!(fs.readlink(slow).unwrap(), long_target.as_bytes());
    let fast = resolve(&mut fs, "newdir/inner/fast").unwrap();
    assert_eq!(fs.readlink(fast).unwrap(), b"../f1");
    // Delete everything big; the space comes back.
    for p in ["big.bin", "big2.bin", "frag.bin", "holes"] {
        let u = fs.unlink(root, p.as_bytes()).unwrap();
        fs.release(u.ino).unwrap();
    }
    let u = fs.unlink(sub, b"big2.link").unwrap();
    fs.release(u.ino).unwrap();
    fs.unmount().unwrap();
    fsck_clean(&img);
    let _ = std::fs::remove_dir_all(src.parent().unwrap());
}

#[test]
fn ext4_write_rename_link_truncate_delete() {
    exercise("ext4", &[], false);
}

#[test]
fn ext4_indexed_directories_written() {
    exercise("ext4", &[], true);
}

#[test]
fn ext4_4k_blocks_written() {
    exercise("ext4", &["-b", "4096"], false);
}

#[test]
fn ext2_written() {
    exercise("ext2", &[], false);
}

#[test]
fn ext4_without_metadata_csum_written() {
    exercise("ext4", &["-O", "^metadata_csum,uninit_bg"], false);
}

/// More inodes than group 0 holds: allocation moves on to `INODE_UNINIT` groups (their bitmaps are
/// initialised and `bg_itable_unused` kept right), and blocks to `BLOCK_UNINIT` groups.
#[test]
fn ext4_inodes_and_blocks_spill_into_uninitialised_groups() {
    let dir = tempdir("spill");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    let img = mkfs(&dir, "ext4", "48M", &src, &[]);
    let dump = run("dumpe2fs", &[img.to_str().unwrap()]);
    assert!(dump.contains("INODE_UNINIT") && dump.contains("BLOCK_UNINIT"), "{dump}");
    let per_group: u32 = dump
        .lines()
        .find_map(|l| l.strip_prefix("Inodes per group:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let mut last = 0;
    let data = pattern(5, 3000);
    for d in 0..30 {
        let sub = fs.mkdir(root, format!("d{d}").as_bytes(), 0o755, 0, 0).unwrap();
        for f in 0..(per_group / 28) {
            last = fs.create(sub, format!("file{f}").as_bytes(), 0o644, 0, 0).unwrap();
            if f % 10 == 0 {
                fs.write_at(last, 0, &data).unwrap();
            }
        }
    }
    assert!(last > per_group, "inode {last} is still in group 0");
    let big = fs.create(root, b"big", 0o644, 0, 0).unwrap();
    let chunk = pattern(6, 1 << 20);
    for i in 0..20 {
        fs.write_at(big, i << 20, &chunk).unwrap();
    }
    fs.unmount().unwrap();
    fsck_clean(&img);
    let back = debugfs_cat(&img, "/big");
    assert_eq!(back.len(), 20 << 20);
    assert!(back.chunks(1 << 20).all(|c| c == chunk));
    let _ = std::fs::remove_dir_all(&dir);
}

/// fallocate: unwritten extents read as zeros, writes into them convert only what they cover, KEEP_SIZE
/// leaves the size alone; e2fsck and debugfs agree.
#[test]
fn ext4_fallocate_unwritten_extents() {
    let dir = tempdir("falloc");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), pattern(1, 10_000)).unwrap();
    let img = mkfs(&dir, "ext4", "16M", &src, &[]);
    let mut fs = mount(&img, rw());
    let f = resolve(&mut fs, "f").unwrap();
    let mut want = pattern(1, 10_000);
    let free = fs.statfs().free_blocks;
    fs.allocate(f, 5000, 3 << 20, false).unwrap();
    want.resize(5000 + (3 << 20), 0);
    assert!(fs.statfs().free_blocks <= free - (3 << 10) + 10);
    assert_eq!(read_all(&mut fs, f), want);
    let mid = pattern(2, 70_000);
    fs.write_at(f, 1_000_003, &mid).unwrap();
    want[1_000_003..1_070_003].copy_from_slice(&mid);
    fs.allocate(f, want.len() as u64 + 4096, 1 << 20, true).unwrap();
    assert_eq!(fs.stat(f).unwrap().size, want.len() as u64);
    assert_eq!(read_all(&mut fs, f), want);
    let g = fs.create(2, b"g", 0o644, 0, 0).unwrap();
    fs.allocate(g, 0, 100 << 10, true).unwrap();
    fs.write_at(g, 50 << 10, b"x").unwrap();
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert!(debugfs_cat(&img, "/f") == want);
    assert!(debugfs(&img, "ex /f").contains("Uninit"));
    let mut g_want = vec![0u8; (50 << 10) + 1];
    g_want[50 << 10] = b'x';
    assert_eq!(debugfs_cat(&img, "/g"), g_want);
}

#[test]
fn ext2_fallocate_is_unsupported() {
    let dir = tempdir("falloc2");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    let img = mkfs(&dir, "ext2", "8M", &src, &[]);
    let mut fs = mount(&img, rw());
    let f = resolve(&mut fs, "f").unwrap();
    assert!(matches!(fs.allocate(f, 0, 4096, false), Err(Error::Unsupported(_))));
    fs.unmount().unwrap();
    fsck_clean(&img);
}

/// Filling the file system: writes come back short or with NoSpace, fragmented files whose extent tree
/// needs a block that is not there are left as they were, and the image stays consistent; deleting gives the
/// space back.
fn fill_up(kind: &str) {
    let dir = tempdir("full");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    let img = mkfs(&dir, kind, "8M", &src, &[]);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let free = fs.statfs().free_blocks;
    let files: Vec<u32> = (0..3)
        .map(|i| fs.create(root, format!("f{i}").as_bytes(), 0o644, 0, 0).unwrap())
        .collect();
    let chunk = pattern(9, 3000);
    let mut sizes = [0u64; 3];
    let mut full = 0;
    'outer: for round in 0..10_000u64 {
        for (k, &f) in files.iter().enumerate() {
            match fs.write_at(f, sizes[k], &chunk) {
                Ok(n) => sizes[k] += n as u64,
                Err(Error::NoSpace) => {
                    full += 1;
                    if full > 20 {
                        break 'outer;
                    }
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        }
    }
    assert!(full > 0, "never ran out of space");
    assert!(fs.statfs().free_blocks < 4);
    assert_eq!(fs.mkdir(root, b"d", 0o755, 0, 0).err(), Some(Error::NoSpace));
    for (k, &f) in files.iter().enumerate() {
        assert_eq!(fs.stat(f).unwrap().size, sizes[k]);
        let data = read_all(&mut fs, f);
        assert!(data.chunks(3000).all(|c| c == &chunk[..c.len()]));
    }
    fs.unmount().unwrap();
    fsck_clean(&img);
    let mut fs = mount(&img, rw());
    for i in 0..3 {
        let u = fs.unlink(root, format!("f{i}").as_bytes()).unwrap();
        fs.release(u.ino).unwrap();
    }
    assert_eq!(fs.statfs().free_blocks, free);
    fs.unmount().unwrap();
    fsck_clean(&img);
}

/// Inodes and blocks freed while the file system is full are allocated again (the allocator remembers where
/// each bitmap's free bits start, and every free must move that back), and the image stays consistent.
#[test]
fn space_freed_when_full_is_found_again() {
    let dir = tempdir("refill");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    let img = mkfs(&dir, "ext4", "8M", &src, &[]);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let mut files = Vec::new();
    loop {
        match fs.create(root, format!("f{}", files.len()).as_bytes(), 0o644, 0, 0) {
            Ok(ino) => files.push(ino),
            Err(Error::NoSpace) => break,
            Err(e) => panic!("create: {e}"),
        }
    }
    assert!(files.len() > 100, "only {} inodes", files.len());
    let u = fs.unlink(root, format!("f{}", files.len() / 2).as_bytes()).unwrap();
    fs.release(u.ino).unwrap();
    assert_eq!(fs.create(root, b"again", 0o644, 0, 0), Ok(u.ino));
    assert_eq!(fs.create(root, b"more", 0o644, 0, 0).err(), Some(Error::NoSpace));
    // Blocks: two files fill the space; the first one's blocks, freed, go to the second.
    let chunk = pattern(5, 4096);
    let (a, b) = (files[0], files[1]);
    let mut sizes = [0u64; 2];
    // What b holds: a write that runs out of space part-way stores fewer bytes than the chunk (whole blocks),
    // and the next one goes on from there.
    let mut want_b = Vec::new();
    'full: loop {
        for (k, f) in [a, b].into_iter().enumerate() {
            match fs.write_at(f, sizes[k], &chunk) {
                Ok(n) => {
                    sizes[k] += n as u64;
                    if k == 1 {
                        want_b.extend_from_slice(&chunk[..n]);
                    }
                }
                Err(Error::NoSpace) => break 'full,
                Err(e) => panic!("write: {e}"),
            }
        }
    }
    let u = fs.unlink(root, b"f0").unwrap();
    fs.release(u.ino).unwrap();
    assert!(fs.statfs().free_blocks >= sizes[0] / 4096);
    loop {
        match fs.write_at(b, sizes[1], &chunk) {
            Ok(n) => {
                sizes[1] += n as u64;
                want_b.extend_from_slice(&chunk[..n]);
            }
            Err(Error::NoSpace) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(fs.statfs().free_blocks < 4, "{} blocks left", fs.statfs().free_blocks);
    assert!(read_all(&mut fs, b) == want_b, "b does not hold what was written");
    fs.unmount().unwrap();
    fsck_clean(&img);
}

#[test]
fn ext4_full_file_system() {
    fill_up("ext4");
}

#[test]
fn ext2_full_file_system() {
    fill_up("ext2");
}

/// getdents-style listing resumed from each entry's `next` sees every entry once, even when entries are
/// removed between calls; bad names and targets are refused with the errors Linux gives.
#[test]
fn listing_resumes_and_bad_arguments_are_refused() {
    let dir = tempdir("resume");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..200 {
        std::fs::write(src.join(format!("d/name-{i:03}")), b"").unwrap();
    }
    let img = mkfs(&dir, "ext4", "8M", &src, &[]);
    let mut fs = mount(&img, rw());
    let d = resolve(&mut fs, "d").unwrap();
    let all = fs.dir_entries(d).unwrap();
    assert_eq!(all.len(), 202);
    let mut seen = Vec::new();
    let mut pos = 0;
    loop {
        let mut batch = Vec::new();
        fs.read_dir(d, pos, |e| {
            batch.push(e.clone());
            batch.len() < 7
        })
        .unwrap();
        let Some(last) = batch.last() else { break };
        pos = last.next;
        seen.extend(batch.into_iter().map(|e| e.name));
        // Remove an entry that was already listed: nothing later is skipped or repeated.
        if let Some(n) = seen
            .iter()
            .find(|n| n.starts_with(b"name-") && fs.lookup(d, n).is_ok())
            .cloned()
        {
            let u = fs.unlink(d, &n).unwrap();
            fs.release(u.ino).unwrap();
        }
    }
    let mut want: Vec<Vec<u8>> = all.into_iter().map(|e| e.name).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want);

    let root = fs.root();
    assert_eq!(fs.create(root, &[b'a'; 256], 0o644, 0, 0), Err(Error::NameTooLong));
    assert!(fs.create(root, &[b'a'; 255], 0o644, 0, 0).is_ok());
    for bad in [&b""[..], b".", b"..", b"a/b", b"nul\0"] {
        assert_eq!(
            fs.create(root, bad, 0o644, 0, 0),
            Err(Error::InvalidArgument),
            "{bad:?}"
        );
    }
    assert_eq!(fs.symlink(root, b"l", &[b'x'; 1024], 0, 0), Err(Error::NameTooLong));
    assert_eq!(fs.symlink(root, b"l", b"", 0, 0), Err(Error::NotFound));
    assert_eq!(fs.link(d, root, b"dirlink"), Err(Error::NotPermitted));
    let lf = resolve(&mut fs, "lost+found").unwrap();
    assert_eq!(fs.lookup(lf, b"x"), Err(Error::NotFound));
    let f = fs.create(root, b"plain", 0o644, 0, 0).unwrap();
    assert_eq!(fs.lookup(f, b"x"), Err(Error::NotDir));
    assert_eq!(fs.create(f, b"x", 0o644, 0, 0), Err(Error::NotDir));
    assert_eq!(fs.read_at(d, 0, &mut [0u8; 4]), Err(Error::IsDir));
    assert_eq!(fs.rmdir(root, b"plain"), Err(Error::NotDir));
    assert_eq!(fs.rename(root, b"plain", root, b"d"), Err(Error::IsDir));
    assert_eq!(fs.rename(root, b"d", root, b"plain"), Err(Error::NotDir));
    fs.unmount().unwrap();
    fsck_clean(&img);
    let mut fs = mount(&img, ro());
    assert_eq!(fs.create(2, b"x", 0o644, 0, 0), Err(Error::ReadOnly));
    assert_eq!(fs.write_at(f, 0, b"x"), Err(Error::ReadOnly));
}

#[test]
fn remount_read_only_and_back() {
    let dir = tempdir("remount");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    host_tree(&src);
    let img = mkfs(&dir, "ext4", "16M", &src, &[]);
    let mut fs = mount(&img, rw());
    let root = fs.root();
    let ino = fs.create(root, b"before", 0o644, 0, 0).unwrap();
    fs.write_at(ino, 0, b"written before").unwrap();
    fs.remount(true).unwrap();
    assert_eq!(fs.read_only_reason(), Some("remounted read-only"));
    // Read-only now: every change refused, and the image is clean as after an unmount.
    assert!(matches!(fs.create(root, b"after", 0o644, 0, 0), Err(Error::ReadOnly)));
    assert!(matches!(fs.write_at(ino, 0, b"x"), Err(Error::ReadOnly)));
    assert!(matches!(fs.unlink(root, b"before"), Err(Error::ReadOnly)));
    fsck_clean(&img);
    assert_eq!(debugfs_cat(&img, "/before"), b"written before");
    // Writable again, then unmounted clean.
    fs.remount(false).unwrap();
    assert_eq!(fs.read_only_reason(), None);
    let ino = fs.create(root, b"after", 0o644, 0, 0).unwrap();
    fs.write_at(ino, 0, b"written after").unwrap();
    fs.unmount().unwrap();
    fsck_clean(&img);
    assert_eq!(debugfs_cat(&img, "/after"), b"written after");
    // A mount read-only on request can be made writable.
    let mut fs = mount(&img, ro());
    fs.remount(false).unwrap();
    assert_eq!(fs.read_only_reason(), None);
    fs.unmount().unwrap();
    fsck_clean(&img);
}

/// An image file as a block device that counts the bytes written to it.
struct Counting(FileDev, std::rc::Rc<std::cell::Cell<u64>>);

impl ember_ext4::BlockDevice for Counting {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ember_ext4::IoError> {
        self.0.read(offset, buf)
    }
    fn write(&mut self, offset: u64, buf: &[u8]) -> Result<(), ember_ext4::IoError> {
        self.1.set(self.1.get() + buf.len() as u64);
        self.0.write(offset, buf)
    }
    fn flush(&mut self) -> Result<(), ember_ext4::IoError> {
        self.0.flush()
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
}

#[test]
fn sync_with_nothing_changed_writes_nothing() {
    let dir = tempdir("idle-sync");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    let img = mkfs(&dir, "ext4", "16M", &src, &[]);
    let written = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut fs = Fs::mount(Counting(open_dev(&img), written.clone()), rw()).unwrap();
    let root = fs.root();
    let ino = fs.create(root, b"file", 0o644, 0, 0).unwrap();
    fs.write_at(ino, 0, b"data").unwrap();
    fs.sync().unwrap();
    let after_first = written.get();
    fs.sync().unwrap();
    assert_eq!(written.get(), after_first, "a second sync with nothing changed wrote");
    // A change that moves the free counts writes the summary again.
    fs.write_at(ino, 8192, b"more").unwrap();
    let before = written.get();
    fs.sync().unwrap();
    assert!(
        written.get() > before,
        "the sync after an allocation did not write the summary"
    );
    fs.unmount().unwrap();
    fsck_clean(&img);
}
