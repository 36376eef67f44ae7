//! Linux's `root=` without an initramfs: `root=/dev/vdX`, a partition `root=/dev/vdXN`, or
//! `root=PARTUUID=…` (a GPT partition's unique GUID, or `SSSSSSSS-PP` for an MBR disk signature and partition
//! number), `rootfstype=` (ext2, ext3, ext4), `ro` (the default, as on Linux) or `rw`, `rootwait` (disks are
//! all found before this runs, so a missing one is reported at once).
//! The disk becomes `/`, and the kernel's `/dev` (devtmpfs, as Linux's automount), `/proc`, `/sys` and a
//! fresh tmpfs on `/tmp` are mounted over those directories when the image has them.

use super::disk::{self, Disk};
use super::inode::Inode;
use super::mount;
use alloc::string::String;
use alloc::sync::Arc;
use ember_cmdline::Cmdline;
use ember_frame::sync::Mutex;

/// `/proc/mounts`' line for `/` when a disk is the root.
static ROOT_LINE: Mutex<Option<String>> = Mutex::new(None);

/// What `root=` names: `Ok(None)` when it has a supported form but no such disk or partition exists.
fn find(spec: &str) -> Result<Option<Arc<Disk>>, ()> {
    if let Some(uuid) = spec.strip_prefix("PARTUUID=") {
        return Ok(disk::by_partuuid(uuid));
    }
    let name = spec.strip_prefix("/dev/vd").ok_or(())?;
    let (letter, number) = name.split_at_checked(1).ok_or(())?;
    let letter = letter.as_bytes()[0];
    let part = match number {
        "" => 0,
        n => n
            .parse::<u32>()
            .ok()
            .filter(|&n| (1..disk::MINORS).contains(&n))
            .ok_or(())?,
    };
    if !letter.is_ascii_lowercase() {
        return Err(());
    }
    Ok(disk::get(u32::from(letter - b'a') * disk::MINORS + part))
}

/// The disk `root=` names, mounted; `None` (with a log line saying why) when there is none or it fails.
pub fn mount_root(cmdline: &Cmdline<'_>) -> Option<Arc<Inode>> {
    let spec = cmdline.value("root")?;
    let Ok(found) = find(spec) else {
        log::error!("rootfs: root={spec} not supported (/dev/vdX, /dev/vdXN or PARTUUID=)");
        return None;
    };
    if let Some(t) = cmdline.value("rootfstype")
        && !t.split(',').any(|t| matches!(t, "ext2" | "ext3" | "ext4"))
    {
        log::error!("rootfs: rootfstype={t} not supported (ext2, ext3, ext4)");
        return None;
    }
    let Some(d) = found else {
        log::error!(
            "rootfs: {spec}: no such disk{}",
            if cmdline.has("rootwait") {
                " (rootwait: every disk is already found)"
            } else {
                ""
            }
        );
        return None;
    };
    let read_only = !cmdline.has("rw");
    let root = super::ext::mount(&d, read_only).ok()?;
    let ro = root.disk().and_then(|n| n.mount().read_only_reason()).is_some();
    let dev = alloc::format!("/dev/{}", d.name());
    *ROOT_LINE.lock() = Some(alloc::format!("{dev} / ext4 {} 0 0\n", if ro { "ro" } else { "rw" }));
    log::info!(
        "rootfs: {spec} ({dev}) mounted on / ({})",
        if ro { "read-only" } else { "read-write" }
    );
    Some(root)
}

/// A directory of the root, what to mount there, and its file-system type.
type Automount = (&'static [u8], Option<Arc<Inode>>, &'static str);

/// Mounts the kernel tree's `/dev`, `/proc`, `/sys` and a new tmpfs over the disk root's directories of
/// those names (each one only where the image has that directory).
pub fn populate(root: &Arc<Inode>, tree: &Arc<Inode>) {
    let mounts: [Automount; 4] = [
        (b"dev", tree.lookup(b"dev").ok(), "devtmpfs"),
        (b"proc", super::proc::root(), "proc"),
        (b"sys", tree.lookup(b"sys").ok(), "sysfs"),
        (b"tmp", Some(Inode::new_dir(0o1777, None)), "tmpfs"),
    ];
    for (name, what, fstype) in mounts {
        let shown = String::from_utf8_lossy(name);
        match (root.lookup(name), what) {
            (Ok(point), Some(what)) if point.is_dir() => {
                let path = [b"/", name].concat();
                mount::mount(point, what, fstype.as_bytes(), path, fstype, String::from("rw"));
            }
            _ => log::warn!("rootfs: no /{shown} directory on the root file system; {fstype} not mounted"),
        }
    }
}

/// `/proc/mounts`' first line: the root.
pub fn root_line() -> String {
    ROOT_LINE
        .lock()
        .clone()
        .unwrap_or_else(|| String::from("tmpfs / tmpfs rw 0 0\n"))
}
