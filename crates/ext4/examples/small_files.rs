//! A host-side replay of `cargo xtask bench ext4`'s small-file row, for profiling the crate (e.g. under
//! `valgrind --tool=callgrind`): a fresh 512 MiB ext4 image from Debian's `mke2fs` (4 KiB blocks, as the
//! bench makes it), mounted over an `ember-bcache` cache of an in-memory copy (as the kernel stacks them),
//! then `FILES` times what the kernel asks of the crate for `open(O_CREAT)` + `write(100 B)` + `close` +
//! `unlink`: create, stat, write, stat, unlink, release. Prints the time per file; `e2fsck -fn` checks the
//! image written back after unmount.
//!
//! `cargo run --release -p ember-ext4 --example small_files [FILES]`

mod common;

use std::time::Instant;

fn main() {
    let files: u32 = std::env::args()
        .nth(1)
        .map_or(1000, |a| a.parse().expect("FILES: a number"));
    let (mut fs, img, image) = common::fresh("small-files");
    let small = fs.mkdir(fs.root(), b"small", 0o755, 0, 0).expect("mkdir");
    let text = [b'x'; 100];
    let t0 = Instant::now();
    for i in 0..files {
        let name = format!("f{i}");
        let ino = fs.create(small, name.as_bytes(), 0o644, 0, 0).expect("create");
        fs.stat(ino).expect("stat");
        assert_eq!(fs.write_at(ino, 0, &text).expect("write"), text.len());
        fs.stat(ino).expect("stat");
        fs.unlink(small, name.as_bytes()).expect("unlink");
        fs.release(ino).expect("release");
    }
    let each = t0.elapsed().as_secs_f64() * 1e6 / files.max(1) as f64;
    println!("small_files: {files} files, {each:.2} us each");
    common::check(fs, &img, &image, None);
}
