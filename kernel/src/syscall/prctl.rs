//! `prctl(2)` and the capability calls `capget(2)`/`capset(2)`. The capability rules are [`ember_creds::caps`]'s.

use super::errno::{Errno, SysResult};
use super::uaccess;
use crate::process::{self, current};
use ember_creds::caps::{CapError, Caps};
use linux_raw_sys::general as nr;

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_GET_KEEPCAPS: u64 = 7;
const PR_SET_KEEPCAPS: u64 = 8;
const PR_GET_TIMING: u64 = 13;
const PR_SET_TIMING: u64 = 14;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_CAPBSET_READ: u64 = 23;
const PR_CAPBSET_DROP: u64 = 24;
const PR_GET_SECUREBITS: u64 = 27;
const PR_SET_SECUREBITS: u64 = 28;
const PR_SET_NO_NEW_PRIVS: u64 = 38;
const PR_GET_NO_NEW_PRIVS: u64 = 39;
const PR_SET_THP_DISABLE: u64 = 41;
const PR_GET_THP_DISABLE: u64 = 42;
const PR_CAP_AMBIENT: u64 = 47;
const PR_GET_SPECULATION_CTRL: u64 = 52;

/// `_LINUX_CAPABILITY_VERSION_1`: one 32-bit set each.
const CAP_V1: u32 = 0x1998_0330;
/// `_LINUX_CAPABILITY_VERSION_2` (deprecated, same layout as 3).
const CAP_V2: u32 = 0x2007_1026;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit halves of each set.
const CAP_V3: u32 = 0x2008_0522;

impl From<CapError> for Errno {
    fn from(e: CapError) -> Errno {
        match e {
            CapError::NotPermitted => Errno::EPERM,
            CapError::Invalid => Errno::EINVAL,
        }
    }
}

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match n as u32 {
        nr::__NR_prctl => prctl(a),
        nr::__NR_capget => capget(a[0], a[1]),
        nr::__NR_capset => capset(a[0], a[1]),
        _ => return None,
    })
}

/// Runs `change` on the caller's capability state (committed only when it succeeds).
fn with_caps<T>(change: impl FnOnce(&mut Caps) -> Result<T, CapError>) -> Result<T, Errno> {
    current().update_creds(|c| {
        let mut caps = c.caps;
        let r = change(&mut caps)?;
        c.caps = caps;
        Ok(r)
    })
}

fn prctl(a: [u64; 6]) -> SysResult {
    let p = current();
    let unused = |from: usize| a[from..5].iter().any(|&x| x != 0);
    match a[0] {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            uaccess::read_bytes(a[1], &mut name[..15]).or_else(|_| {
                let s = uaccess::read_cstring(a[1], 4096)?;
                let n = s.len().min(15);
                name[..n].copy_from_slice(&s[..n]);
                Ok::<(), Errno>(())
            })?;
            p.set_name(&name);
            Ok(0)
        }
        PR_GET_NAME => uaccess::write_bytes(a[1], &p.name()).map(|()| 0),
        PR_SET_PDEATHSIG => {
            let sig = u32::try_from(a[1]).ok().filter(|&s| s <= 64).ok_or(Errno::EINVAL)?;
            p.update_prctl(|f| f.pdeathsig = sig);
            Ok(0)
        }
        PR_GET_PDEATHSIG => uaccess::write_u32(a[1], p.prctl().pdeathsig).map(|()| 0),
        PR_SET_DUMPABLE => {
            if a[1] > 1 {
                return Err(Errno::EINVAL);
            }
            p.update_prctl(|f| f.dumpable = a[1] == 1);
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(u64::from(p.prctl().dumpable)),
        PR_GET_TIMING => Ok(0),
        // Only PR_TIMING_STATISTICAL (0) exists.
        PR_SET_TIMING => (a[1] == 0).then_some(0).ok_or(Errno::EINVAL),
        PR_SET_NO_NEW_PRIVS => {
            if a[1] != 1 || unused(2) {
                return Err(Errno::EINVAL);
            }
            p.update_prctl(|f| f.no_new_privs = true);
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS if unused(1) => Err(Errno::EINVAL),
        PR_GET_NO_NEW_PRIVS => Ok(u64::from(p.no_new_privs())),
        PR_SET_THP_DISABLE if unused(2) => Err(Errno::EINVAL),
        PR_SET_THP_DISABLE => {
            p.update_prctl(|f| f.thp_disable = a[1] != 0);
            Ok(0)
        }
        PR_GET_THP_DISABLE if unused(1) => Err(Errno::EINVAL),
        PR_GET_THP_DISABLE => Ok(u64::from(p.prctl().thp_disable)),
        // Speculation control: x86's store bypass (0) and indirect branch (1) are reported as not affecting
        // this machine (ember has no mitigation to switch); anything else is unknown.
        PR_GET_SPECULATION_CTRL if unused(2) => Err(Errno::EINVAL),
        PR_GET_SPECULATION_CTRL if a[1] <= 1 => Ok(0),
        PR_GET_SPECULATION_CTRL => Err(Errno::ENODEV),
        PR_CAPBSET_READ => Ok(u64::from(p.creds().caps.bounding_has(a[1])?)),
        PR_CAPBSET_DROP => with_caps(|c| c.drop_bounding(a[1])).map(|()| 0),
        PR_GET_SECUREBITS => Ok(u64::from(p.creds().caps.securebits)),
        PR_SET_SECUREBITS => with_caps(|c| c.set_securebits(a[1])).map(|()| 0),
        PR_GET_KEEPCAPS => Ok(u64::from(p.creds().caps.keep_caps())),
        PR_SET_KEEPCAPS => with_caps(|c| c.set_keep_caps(a[1])).map(|()| 0),
        PR_CAP_AMBIENT => with_caps(|c| c.ambient_op(a[1], a[2], a[3], a[4])),
        _ => Err(Errno::EINVAL),
    }
}

/// Reads the header's version and pid: the number of 12-byte data structures the version uses, or `EINVAL`
/// after writing the version the kernel prefers back (Linux's version negotiation).
fn header(at: u64) -> Result<(usize, i32), Errno> {
    let version = uaccess::read_u32(at)?;
    let pid = uaccess::read_u32(at + 4)? as i32;
    match version {
        CAP_V1 => Ok((1, pid)),
        CAP_V2 | CAP_V3 => Ok((2, pid)),
        _ => {
            uaccess::write_u32(at, CAP_V3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// `capget(header, data)`: the effective, permitted and inheritable sets of the caller or of process `pid`.
/// A null `data` with a bad version only negotiates (returns 0).
fn capget(hdr: u64, data: u64) -> SysResult {
    let (count, pid) = match header(hdr) {
        Err(Errno::EINVAL) if data == 0 => return Ok(0),
        r => r?,
    };
    if data == 0 {
        return Ok(0);
    }
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let target = if pid == 0 {
        current()
    } else {
        process::find(pid as u32).ok_or(Errno::ESRCH)?
    };
    let c = target.creds().caps;
    let mut out = [0u8; 24];
    for i in 0..count {
        for (j, set) in [c.effective, c.permitted, c.inheritable].into_iter().enumerate() {
            let word = (set >> (32 * i)) as u32;
            out[i * 12 + j * 4..][..4].copy_from_slice(&word.to_ne_bytes());
        }
    }
    uaccess::write_bytes(data, &out[..count * 12]).map(|()| 0)
}

/// `capset(header, data)`: only the caller's own sets (`EPERM` for another pid), by [`Caps::set`]'s rules.
fn capset(hdr: u64, data: u64) -> SysResult {
    let (count, pid) = header(hdr)?;
    if pid != 0 && pid as u32 != current().pid() {
        return Err(Errno::EPERM);
    }
    let mut raw = [0u8; 24];
    uaccess::read_bytes(data, &mut raw[..count * 12])?;
    let mut sets = [0u64; 3];
    for i in 0..count {
        for (j, set) in sets.iter_mut().enumerate() {
            let at = i * 12 + j * 4;
            let word = u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
            *set |= u64::from(word) << (32 * i);
        }
    }
    with_caps(|c| c.set(sets[0], sets[1], sets[2])).map(|()| 0)
}
