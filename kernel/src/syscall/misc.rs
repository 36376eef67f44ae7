//! Everything else: `uname`, `sysinfo`, `getrandom`, `arch_prctl`, `getcpu`, `reboot`.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::{Thread, current};
use crate::uts;
use ember_creds::caps::{CAP_SYS_ADMIN, CAP_SYS_BOOT};
use ember_frame::user::UserContext;
use linux_raw_sys::general as nr;

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

pub(super) fn arch_prctl(ctx: &mut UserContext, a: [u64; 6]) -> SysResult {
    match a[0] {
        ARCH_SET_FS => ctx.set_fs_base(a[1]).then_some(0).ok_or(Errno::EPERM),
        ARCH_SET_GS => ctx.set_gs_base(a[1]).then_some(0).ok_or(Errno::EPERM),
        ARCH_GET_FS => uaccess::write_u64(a[1], ctx.fs_base()).map(|()| 0),
        ARCH_GET_GS => uaccess::write_u64(a[1], ctx.gs_base()).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

pub(super) fn handle(_thread: &Thread, n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match n as u32 {
        nr::__NR_uname => uname(a[0]),
        nr::__NR_sethostname => set_uts_name(a[0], a[1], uts::set_hostname),
        nr::__NR_setdomainname => set_uts_name(a[0], a[1], uts::set_domainname),
        nr::__NR_personality => personality(a[0] as u32),
        nr::__NR_sysinfo => sysinfo(a[0]),
        nr::__NR_getrandom => getrandom(a),
        nr::__NR_getcpu => {
            // The CPU and its NUMA node (one node).
            let cpu = ember_frame::cpu::current_index() as u32;
            for (&at, value) in a[..2].iter().zip([cpu, 0]) {
                if at != 0
                    && let Err(e) = uaccess::write_u32(at, value)
                {
                    return Some(Err(e));
                }
            }
            Ok(0)
        }
        nr::__NR_get_robust_list => Err(Errno::EPERM),
        nr::__NR_reboot => reboot(a),
        _ => return None,
    })
}

/// `personality(2)`'s flag that makes `uname` report a 2.6 release (for programs that parse "2.6.x").
const UNAME26: u32 = 0x0020000;

fn uname(at: u64) -> SysResult {
    let mut b = [0u8; 65 * 6];
    let (host, domain) = (uts::hostname(), uts::domainname());
    let release: &[u8] = if current().personality() & UNAME26 != 0 {
        b"2.6.61-ember"
    } else {
        uts::RELEASE
    };
    let fields: [&[u8]; 6] = [uts::SYSNAME, &host, release, uts::VERSION, uts::MACHINE, &domain];
    for (i, f) in fields.iter().enumerate() {
        b[i * 65..i * 65 + f.len()].copy_from_slice(f);
    }
    uaccess::write_bytes(at, &b).map(|()| 0)
}

/// `sethostname(2)` and `setdomainname(2)`: privileged; at most 64 bytes.
fn set_uts_name(name: u64, len: u64, set: fn(&[u8])) -> SysResult {
    let len = usize::try_from(len as i64)
        .ok()
        .filter(|&l| l <= uts::MAX_NAME)
        .ok_or(Errno::EINVAL)?;
    if !current().creds().capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut buf = [0u8; uts::MAX_NAME];
    uaccess::read_bytes(name, &mut buf[..len])?;
    set(&buf[..len]);
    Ok(0)
}

/// `personality(2)`: returns the previous persona; `0xffffffff` only queries. Only the persona's flags that
/// change what a system call returns are acted on (`UNAME26`).
fn personality(persona: u32) -> SysResult {
    let p = current();
    let old = p.personality();
    if persona != u32::MAX {
        p.set_personality(persona);
    }
    Ok(old as u64)
}

fn sysinfo(at: u64) -> SysResult {
    let mut b = [0u8; 112];
    let put = |b: &mut [u8], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    put(&mut b, 0, ember_frame::time::now_ns() / 1_000_000_000);
    put(&mut b, 32, ember_frame::mm::usable_bytes());
    put(&mut b, 40, ember_frame::mm::free_bytes());
    b[80..82].copy_from_slice(&(crate::process::all().len() as u16).to_ne_bytes());
    b[104..108].copy_from_slice(&1u32.to_ne_bytes()); // mem_unit
    uaccess::write_bytes(at, &b).map(|()| 0)
}

fn getrandom(a: [u64; 6]) -> SysResult {
    if a[2] & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    let len = (a[1] as usize).min(1 << 25);
    let mut buf = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len());
        crate::random::fill(&mut buf[..n]);
        uaccess::write_bytes(a[0] + done as u64, &buf[..n])?;
        done += n;
    }
    Ok(len as u64)
}

/// `reboot`: power off, halt and restart all end the VM (a microVM's VMM restarts it if it wants to).
fn reboot(a: [u64; 6]) -> SysResult {
    const MAGIC1: u64 = 0xfee1_dead;
    const MAGIC2: [u64; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];
    const CMD_RESTART: u64 = 0x0123_4567;
    const CMD_HALT: u64 = 0xCDEF_0123;
    const CMD_POWER_OFF: u64 = 0x4321_FEDC;
    const CMD_CAD_ON: u64 = 0x89AB_CDEF;
    const CMD_CAD_OFF: u64 = 0;
    if a[0] as u32 as u64 != MAGIC1 || !MAGIC2.contains(&(a[1] as u32 as u64)) {
        return Err(Errno::EINVAL);
    }
    if !current().creds().capable(CAP_SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    match a[2] as u32 as u64 {
        CMD_RESTART | CMD_HALT | CMD_POWER_OFF => {
            ember_frame::println!("ember: reboot: power off");
            crate::fs::disk::shutdown();
            ember_frame::power::power_off(ember_frame::power::ExitStatus::Success)
        }
        CMD_CAD_ON | CMD_CAD_OFF => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
