//! A Rust std client: 4 threads send numbers over a channel, the main thread sums them, then a file round trip in
//! `/tmp` (skipped, not failed, when the file system says no).

use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;

const THREADS: u64 = 4;
const PER_THREAD: u64 = 100;

fn main() -> ExitCode {
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for n in t * PER_THREAD + 1..=(t + 1) * PER_THREAD {
                    tx.send(n).expect("the receiver lives");
                }
            })
        })
        .collect();
    drop(tx);
    let sum: u64 = rx.iter().sum();
    let joined = handles.into_iter().all(|h| h.join().is_ok());
    match file_round_trip() {
        Ok(()) => println!("file: ok"),
        Err(e) => println!("file: skipped ({e})"),
    }
    println!("rust: sum={sum}");
    let n = THREADS * PER_THREAD;
    if joined && sum == n * (n + 1) / 2 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn file_round_trip() -> std::io::Result<()> {
    let path = std::path::PathBuf::from(format!("/tmp/rust-hello.{}", std::process::id()));
    let text = b"written by rust-hello\n";
    std::fs::write(&path, text)?;
    let back = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    if back? != text {
        return Err(std::io::Error::other("read back different bytes"));
    }
    Ok(())
}
