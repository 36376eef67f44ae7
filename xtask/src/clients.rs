//! The user-space clients ember's boot tests run, and the initramfs images that carry them, all under
//! `target/clients/`: the C programs in `clients/c/` built static against musl and glibc, the Rust std program
//! in `clients/rust-hello/` and the load-test servers in `clients/rust-net/` (static glibc), and Debian's
//! `busybox-static`.

use crate::cpio::Cpio;
use crate::image::{cargo, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The C programs in `clients/c/`, by file stem.
pub const C_PROGRAMS: [&str; 23] = [
    "hello",
    "syscalls",
    "threads",
    "forkexec",
    "stress",
    "parallel",
    "smp",
    "events",
    "unix",
    "inet",
    "hostile",
    "vsock",
    "vsock-host",
    "vsock-snap",
    "fc-api",
    "mmds",
    "loopback",
    "netstorm",
    "pair",
    "sysv",
    "mapshared",
    "maptrunc",
    "xattr",
];

/// The applets `/bin` links to busybox: what a shell session needs.
const APPLETS: [&str; 13] = [
    "sh", "ls", "cat", "echo", "mkdir", "rm", "sleep", "true", "false", "env", "ps", "mount", "uname",
];

/// The C library a client links statically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Libc {
    /// musl, through `musl-gcc` (Debian's `musl-tools`).
    Musl,
    /// glibc, through `gcc` (Debian's `libc6-dev`).
    Glibc,
}

impl Libc {
    /// Both, musl first.
    pub const ALL: [Libc; 2] = [Libc::Musl, Libc::Glibc];

    /// `musl` or `glibc`: the output directory and what `hello` prints.
    pub fn name(self) -> &'static str {
        match self {
            Libc::Musl => "musl",
            Libc::Glibc => "glibc",
        }
    }

    fn compiler(self) -> &'static str {
        match self {
            Libc::Musl => "musl-gcc",
            Libc::Glibc => "gcc",
        }
    }

    /// Installs the toolchain when it is missing and we are root; otherwise says what to install.
    fn ensure_toolchain(self) -> Result<(), String> {
        match self {
            Libc::Musl => crate::debian::ensure_installed("musl-gcc", &["musl-tools"], || {
                Command::new("musl-gcc")
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            }),
            // Without libc.a, gcc answers the bare file name.
            Libc::Glibc => crate::debian::ensure_installed("gcc with a static glibc", &["gcc", "libc6-dev"], || {
                Command::new("gcc")
                    .arg("-print-file-name=libc.a")
                    .output()
                    .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"/"))
            }),
        }
    }
}

/// `target/clients/`.
pub fn dir() -> PathBuf {
    workspace_root().join("target").join("clients")
}

/// Debian's static busybox, downloaded and unpacked into `target/clients/debian/` once.
pub fn busybox() -> Result<PathBuf, String> {
    let root = dir().join("debian");
    let find = || {
        // bookworm ships bin/busybox; a merged-/usr package would ship usr/bin/busybox.
        ["bin/busybox", "usr/bin/busybox"]
            .iter()
            .map(|p| root.join(p))
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    crate::debian::unpack(&["busybox-static"], &root)?;
    find().ok_or_else(|| "busybox-static holds no bin/busybox".into())
}

/// `clients/c/NAME.c` built with `-static -O2` against `libc` into `target/clients/{musl,glibc}/NAME`, unless the
/// binary is newer than the source.
pub fn c_program(libc: Libc, name: &str) -> Result<PathBuf, String> {
    let source = workspace_root().join("clients/c").join(format!("{name}.c"));
    let out_dir = dir().join(libc.name());
    let out = out_dir.join(name);
    // (Every self-checking client includes check.h, the vsock ones vm_sockets.h, the MMDS ones mmds_http.h.)
    let c = workspace_root().join("clients/c");
    let mut fresh = is_newer(&out, &source)?;
    for header in ["check.h", "vm_sockets.h", "mmds_http.h"] {
        fresh = fresh && is_newer(&out, &c.join(header))?;
    }
    if fresh {
        return Ok(out);
    }
    libc.ensure_toolchain()?;
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    println!("building {}", out.display());
    let status = Command::new(libc.compiler())
        .args([
            "-static",
            "-O2",
            "-std=c99",
            "-D_GNU_SOURCE",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pthread",
        ])
        .arg(format!("-DEMBER_LIBC=\"{}\"", libc.name()))
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", libc.compiler()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&out);
        return Err(format!("{} failed on {}", libc.compiler(), source.display()));
    }
    Ok(out)
}

/// `clients/rust-hello` built static (`+crt-static`, x86_64-unknown-linux-gnu, release) with its own target
/// directory, `target/clients/rust/`; cargo decides whether anything needs rebuilding.
pub fn rust_hello() -> Result<PathBuf, String> {
    Ok(rust_crate("rust-hello")?.join("rust-hello"))
}

/// The two load-test servers of `clients/rust-net`, built as [`rust_hello`] is (same target directory, so the
/// standard library is built once): the std one and the tokio one, in that order.
pub fn rust_net() -> Result<[PathBuf; 2], String> {
    let release = rust_crate("rust-net")?;
    Ok([release.join("rustnet-std"), release.join("rustnet-tokio")])
}

/// Builds `clients/NAME` static for Linux into `target/clients/rust/`; returns the directory of its release
/// binaries.
fn rust_crate(name: &str) -> Result<PathBuf, String> {
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    let target_dir = dir().join("rust");
    let status = Command::new(cargo())
        .args([
            "build",
            "--quiet",
            "--locked",
            "--release",
            "--target",
            TARGET,
            "--manifest-path",
        ])
        .arg(workspace_root().join("clients").join(name).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building clients/{name} failed"));
    }
    Ok(target_dir.join(TARGET).join("release"))
}

/// Whether `out` exists and was modified no earlier than `source`.
pub(crate) fn is_newer(out: &Path, source: &Path) -> Result<bool, String> {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    let source = mtime(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    Ok(mtime(out).is_ok_and(|out: SystemTime| out >= source))
}

/// An initramfs being put together: `/bin /sbin /dev /proc /tmp /etc /root` and `/dev/console` (5:1) from the
/// start; [`Initramfs::write`] makes `target/clients/NAME.cpio`. Paths are absolute; every parent directory is
/// created; a path can be added once.
///
/// ```text
/// Initramfs::new("hello").busybox()?.file("/hello", &path)?.script("/init", "#!/bin/sh\n/hello\n")?.write()?
/// ```
pub struct Initramfs {
    name: String,
    cpio: Cpio,
    paths: Vec<String>,
}

impl Initramfs {
    /// The skeleton of `target/clients/NAME.cpio`.
    pub fn new(name: &str) -> Self {
        let mut cpio = Cpio::default();
        for d in ["bin", "sbin", "dev", "proc", "tmp", "etc", "root"] {
            cpio.dir(d);
        }
        cpio.char_device("dev/console", 5, 1);
        Self {
            name: name.into(),
            cpio,
            paths: vec!["/dev/console".into()],
        }
    }

    /// Adds Debian's static `/bin/busybox` and `/bin/APPLET -> busybox` links for the applets a shell needs.
    pub fn busybox(self) -> Result<Self, String> {
        let mut this = self.file("/bin/busybox", &busybox()?)?;
        for applet in APPLETS {
            this = this.symlink(&format!("/bin/{applet}"), "busybox")?;
        }
        Ok(this)
    }

    /// Adds `/bin/APPLET -> busybox` links for every applet of Debian's busybox (`busybox --list`) that
    /// [`Initramfs::busybox`] did not link, as `busybox --install -s /bin` would (without needing the guest to
    /// make symlinks). Call after [`Initramfs::busybox`].
    pub fn all_applets(mut self) -> Result<Self, String> {
        let out = Command::new(busybox()?)
            .arg("--list")
            .output()
            .map_err(|e| format!("cannot run busybox --list: {e}"))?;
        if !out.status.success() {
            return Err("busybox --list failed".into());
        }
        for applet in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let path = format!("/bin/{applet}");
            if !self.paths.contains(&path) {
                self = self.symlink(&path, "busybox")?;
            }
        }
        Ok(self)
    }

    /// Adds an empty directory at `path`.
    pub fn dir(mut self, path: &str) -> Result<Self, String> {
        let name = self.claim(path)?;
        self.cpio.dir(&name);
        Ok(self)
    }

    /// Adds a character device node at `path`.
    pub fn char_device(mut self, path: &str, major: u32, minor: u32) -> Result<Self, String> {
        let name = self.claim(path)?;
        self.cpio.char_device(&name, major, minor);
        Ok(self)
    }

    /// Adds the host file `source` at `path`, mode 0755.
    pub fn file(mut self, path: &str, source: &Path) -> Result<Self, String> {
        let data = std::fs::read(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let name = self.claim(path)?;
        self.cpio.file(&name, &data, 0o755);
        Ok(self)
    }

    /// Adds a script with the text `text` at `path` (typically `/init`), mode 0755.
    pub fn script(mut self, path: &str, text: &str) -> Result<Self, String> {
        let name = self.claim(path)?;
        self.cpio.file(&name, text.as_bytes(), 0o755);
        Ok(self)
    }

    /// Adds a symbolic link at `path` to `target`.
    pub fn symlink(mut self, path: &str, target: &str) -> Result<Self, String> {
        let name = self.claim(path)?;
        self.cpio.symlink(&name, target);
        Ok(self)
    }

    /// Writes `target/clients/NAME.cpio` (a `newc` archive) and returns its path. Fails without an `/init`.
    pub fn write(self) -> Result<PathBuf, String> {
        self.write_in(&dir())
    }

    /// Writes `DIR/NAME.cpio` (a `newc` archive) and returns its path. Fails without an `/init`.
    pub fn write_in(self, dir: &Path) -> Result<PathBuf, String> {
        if !self.paths.iter().any(|p| p == "/init") {
            return Err(format!("initramfs {} has no /init", self.name));
        }
        self.write_without_init_in(dir)
    }

    /// Writes the archive even though it has no `/init` (for tests of what the kernel does then).
    pub fn write_without_init(self) -> Result<PathBuf, String> {
        self.write_without_init_in(&dir())
    }

    fn write_without_init_in(self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.cpio", self.name));
        std::fs::write(&path, self.cpio.finish()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    /// Checks `path` (absolute, new), creates its parent directories and returns its name in the archive.
    fn claim(&mut self, path: &str) -> Result<String, String> {
        let name = path
            .strip_prefix('/')
            .filter(|n| !n.is_empty() && !n.ends_with('/') && n.split('/').all(|c| !matches!(c, "" | "." | "..")))
            .ok_or_else(|| format!("initramfs {}: {path:?} is not a normal absolute path", self.name))?;
        if self.paths.iter().any(|p| p == path) {
            return Err(format!("initramfs {}: {path} added twice", self.name));
        }
        self.paths.push(path.into());
        let mut parent = String::new();
        for part in name.split('/').rev().skip(1).collect::<Vec<_>>().into_iter().rev() {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.cpio.dir(&parent);
        }
        Ok(name.into())
    }
}

/// `target/clients/busybox.cpio`: busybox, and an `/init` that starts an interactive busybox shell. (`/init`
/// cannot be busybox itself, which would run its `init` applet for the name.) What `cargo xtask run` boots
/// without `--initrd`.
pub fn default_initrd() -> Result<PathBuf, String> {
    Initramfs::new("busybox")
        .busybox()?
        .script(
            "/init",
            "#!/bin/sh\nexport PATH=/bin:/sbin HOME=/root\ncd /root\nexec /bin/sh -i\n",
        )?
        .write()
}

/// The `/init` of `clients.cpio`: every client in turn, each followed by its exit status.
const CLIENTS_INIT: &str = r#"#!/bin/sh
export PATH=/bin:/sbin HOME=/root EMBER_TEST=initramfs
run() { echo "== $*"; "$@"; echo "== $1 exit=$?"; }
for libc in musl glibc; do
  run /$libc/hello a b
  run /$libc/syscalls
  run /$libc/threads
  run /$libc/forkexec
  run /$libc/events
  run /$libc/unix
done
run /musl/stress 1 2000
run /rust-hello
exec /bin/sh -i
"#;

/// Builds every client and both initramfs images: `busybox.cpio` (see [`default_initrd`]) and `clients.cpio`
/// (busybox, every client under `/musl/`, `/glibc/` and `/rust-hello`, the musl `hello` at `/hello` for
/// `forkexec`, and an `/init` that runs them all). Returns every path made.
pub fn build_all() -> Result<Vec<PathBuf>, String> {
    let mut made = vec![busybox()?];
    let mut image = Initramfs::new("clients").busybox()?;
    for libc in Libc::ALL {
        for name in C_PROGRAMS {
            let path = c_program(libc, name)?;
            image = image.file(&format!("/{}/{name}", libc.name()), &path)?;
            if libc == Libc::Musl && name == "hello" {
                image = image.file("/hello", &path)?;
            }
            made.push(path);
        }
    }
    let rust = rust_hello()?;
    image = image.file("/rust-hello", &rust)?;
    made.push(rust);
    made.extend(rust_net()?);
    made.push(default_initrd()?);
    made.push(image.script("/init", CLIENTS_INIT)?.write()?);
    Ok(made)
}
