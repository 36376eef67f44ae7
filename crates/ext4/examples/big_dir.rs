//! A host-side measure of big directories: `FILES` (10,000) empty files created in one directory of a fresh
//! 512 MiB ext4 image (as `small_files` makes it), then each looked up, then every second one removed; prints the time
//! per file of each phase and whether the directory ended up indexed (`debugfs -R "htree"`), after
//! `e2fsck -fn` found the image clean.
//!
//! `cargo run --release -p ember-ext4 --example big_dir [FILES]`

mod common;

use std::time::Instant;

fn main() {
    let files: u32 = std::env::args()
        .nth(1)
        .map_or(10_000, |a| a.parse().expect("FILES: a number"));
    let (mut fs, img, image) = common::fresh("big-dir");
    let big = fs.mkdir(fs.root(), b"big", 0o755, 0, 0).expect("mkdir");
    let name = |i: u32| format!("file-{i:06}.txt");
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / files.max(1) as f64;
    let t0 = Instant::now();
    let inos: Vec<u32> = (0..files)
        .map(|i| fs.create(big, name(i).as_bytes(), 0o644, 0, 0).expect("create"))
        .collect();
    let create = per(t0);
    let t0 = Instant::now();
    for (i, ino) in inos.iter().enumerate() {
        assert_eq!(fs.lookup(big, name(i as u32).as_bytes()), Ok(*ino));
    }
    let lookup = per(t0);
    let t0 = Instant::now();
    for (i, ino) in inos.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        fs.unlink(big, name(i as u32).as_bytes()).expect("unlink");
        fs.release(*ino).expect("release");
    }
    let unlink = 2.0 * per(t0);
    println!("big_dir: {files} files, create {create:.2} us, lookup {lookup:.2} us, unlink (half) {unlink:.2} us each");
    let levels = common::check(fs, &img, &image, Some("htree /big"));
    let indexed = levels.lines().find(|l| l.contains("Indirect levels"));
    println!("htree /big: {}", indexed.map_or("not indexed", str::trim));
}
