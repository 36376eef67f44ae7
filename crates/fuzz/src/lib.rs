//! The fuzz harnesses of ember's pure crates.
//!
//! Each target is a function over the raw fuzz input that drives one parser or state machine and checks what
//! it does against a simple model or its documented invariants, panicking on any difference. libFuzzer runs
//! them through the binaries in `fuzz/` (`cargo xtask fuzz`, nightly); `tests/corpus.rs` runs every input of
//! the seed corpus `fuzz/corpus/<target>/` through them on stable, as part of `cargo test`.
#![forbid(unsafe_code)]

pub mod boot;
pub mod cmdline;
pub mod cpio;
pub mod creds;
pub mod devmem;
pub mod exec;
pub mod ext4;
pub mod filelock;
pub mod frames;
pub mod initramfs;
pub mod input;
pub mod mem;
pub mod partition;
pub mod platform;
pub mod sockmsg;
pub mod sysvipc;
pub mod tty;
pub mod virtio;
pub mod vsock;

/// A harness: runs one fuzz input, panicking when a check fails.
pub type Harness = fn(&[u8]);

/// Every target: its name (the libFuzzer binary's and the corpus directory's) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("cmdline", cmdline::cmdline),
    ("zero_page", boot::zero_page),
    ("pvh", boot::pvh),
    ("memory_map", boot::memory_map),
    ("frames", frames::frames),
    ("acpi", platform::acpi),
    ("dsdt", platform::dsdt),
    ("mptable", platform::mptable),
    ("virtio_transport", virtio::transport),
    ("virtqueue", virtio::virtqueue),
    ("elf", exec::elf),
    ("stack", exec::stack),
    ("cpio", cpio::cpio),
    ("tty", tty::tty),
    ("ip", cmdline::ip),
    ("ext4", ext4::ext4),
    ("initramfs", initramfs::initramfs),
    ("sockmsg", sockmsg::sockmsg),
    ("filelock", filelock::filelock),
    ("creds", creds::creds),
    ("devmem", devmem::devmem),
    ("vsock", vsock::vsock),
    ("sysvipc", sysvipc::sysvipc),
    ("partition", partition::partition),
];
