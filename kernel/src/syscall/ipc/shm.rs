//! `shmget`, `shmat`, `shmdt`, `shmctl`. A segment's pages are an in-memory file (as Linux's shmem) that every attachment maps
//! shared (so they survive `fork`); its attachment count is the number of regions holding it, as Linux counts
//! mappings, and a removed segment goes when the last one does.

use super::{IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, now, pid, read_perm_set, stat_at_index, write_ds};
use crate::fs::inode::Inode;
use crate::process::current;
use crate::syscall::errno::{Errno, SysResult};
use crate::vm::{Backing, Prot, Region};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use ember_creds::caps::CAP_IPC_LOCK;
use ember_frame::sync::Mutex;
use ember_sysvipc::shm::{SHM_DEST, SHM_LOCKED, SHMALL, SHMMAX, SHMMIN, SHMMNI, Segment};
use ember_sysvipc::{Entry, IPC_PRIVATE, Table, Want};

const SHM_RDONLY: i32 = 0o10000;
const SHM_RND: i32 = 0o20000;
const SHM_REMAP: i32 = 0o40000;
const SHM_EXEC: i32 = 0o100000;
const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;
const PAGE: u64 = 4096;

/// A segment and its pages.
type Shm = (Segment, Arc<Inode>);

/// Every segment.
static SEGMENTS: Mutex<Table<Shm>> = Mutex::new(Table::new(SHMMNI));

/// How many mappings hold `pages` (the table holds one more reference).
pub fn nattch_of(pages: &Arc<Inode>) -> u64 {
    Arc::strong_count(pages).saturating_sub(1) as u64
}

/// Drops removed segments nobody maps any more.
fn prune(t: &mut Table<Shm>) {
    let gone: alloc::vec::Vec<i32> = t
        .iter()
        .filter(|(_, e)| e.perm.mode & SHM_DEST != 0 && nattch_of(&e.obj.1) == 0)
        .map(|(id, _)| id)
        .collect();
    for id in gone {
        let _ = t.remove(id);
    }
}

/// `shmget(key, size, flags)`.
pub fn shmget(key: i32, size: u64, flags: i32) -> SysResult {
    let creds = current().creds();
    let mut t = SEGMENTS.lock();
    prune(&mut t);
    let id = t.get(
        key,
        flags,
        &creds,
        |s| s.0.fits(size),
        || {
            let segment = Segment::new(size, pid(), now())?;
            let pages = Inode::new_zeroed_file(0o600, segment.pages() * PAGE);
            Ok((segment, pages))
        },
    )?;
    Ok(id as u64)
}

/// `shmat(id, addr, flags)`: maps the segment (where there is room, or at `addr`, rounded down with
/// `SHM_RND`; replacing what is there only with `SHM_REMAP`).
pub fn shmat(id: i32, addr: u64, flags: i32) -> SysResult {
    let creds = current().creds();
    let (size, pages) = {
        let mut t = SEGMENTS.lock();
        let e = t.lookup_mut(id)?;
        let want = if flags & SHM_RDONLY != 0 {
            Want::Read
        } else {
            Want::ReadWrite
        };
        if !e.perm.allows(&creds, want) {
            return Err(Errno::EACCES);
        }
        (e.obj.0.pages() * PAGE, e.obj.1.clone())
    };
    let addr = if !addr.is_multiple_of(PAGE) {
        if flags & SHM_RND == 0 {
            return Err(Errno::EINVAL);
        }
        addr & !(PAGE - 1)
    } else {
        addr
    };
    let prot = Prot {
        read: true,
        write: flags & SHM_RDONLY == 0,
        exec: flags & SHM_EXEC != 0,
    };
    let fixed = addr != 0;
    let at = current()
        .vm()
        .mmap(
            addr,
            size,
            |start, end| Region {
                start,
                end,
                prot,
                shared: true,
                backing: Backing::Shared {
                    file: pages,
                    vaddr: start,
                    first_page: 0,
                    writer: None,
                },
            },
            fixed && flags & SHM_REMAP != 0,
            fixed && flags & SHM_REMAP == 0,
        )
        .map_err(|e| if e == Errno::EEXIST { Errno::EINVAL } else { e })?;
    if let Ok(e) = SEGMENTS.lock().lookup_mut(id) {
        e.obj.0.atime = now();
        e.obj.0.lpid = pid();
    }
    Ok(at)
}

/// `shmdt(addr)`: unmaps the segment attached at `addr` (`EINVAL` when none is).
pub fn shmdt(addr: u64) -> SysResult {
    let vm = current().vm();
    let region = vm.region_starting_at(addr).ok_or(Errno::EINVAL)?;
    let Backing::Shared {
        file, first_page: 0, ..
    } = region.backing
    else {
        return Err(Errno::EINVAL);
    };
    let mut t = SEGMENTS.lock();
    let id = t
        .iter()
        .find(|(_, e)| Arc::ptr_eq(&e.obj.1, &file))
        .map(|(id, _)| id)
        .ok_or(Errno::EINVAL)?;
    let size = t.lookup(id)?.obj.0.pages() * PAGE;
    drop(file);
    vm.unmap(addr, size);
    if let Ok(e) = t.lookup_mut(id) {
        e.obj.0.dtime = now();
        e.obj.0.lpid = pid();
    }
    prune(&mut t);
    Ok(0)
}

/// `shmctl(id, cmd, buf)`.
pub fn shmctl(id: i32, cmd: i32, buf: u64) -> SysResult {
    let creds = current().creds();
    let mut t = SEGMENTS.lock();
    prune(&mut t);
    match cmd {
        IPC_INFO => {
            let info = [SHMMAX, SHMMIN, SHMMNI as u64, SHMMNI as u64, SHMALL, 0, 0, 0, 0];
            let bytes: alloc::vec::Vec<u8> = info.iter().flat_map(|v| v.to_ne_bytes()).collect();
            crate::syscall::uaccess::write_bytes(buf, &bytes)?;
            return Ok(t.highest_index() as u64);
        }
        SHM_INFO => {
            let tot: u64 = t.iter().map(|(_, e)| e.obj.0.pages()).sum();
            let rss: u64 = t.iter().map(|(_, e)| e.obj.1.resident_pages() as u64).sum();
            let mut bytes = alloc::vec::Vec::new();
            bytes.extend_from_slice(&(t.len() as i32).to_ne_bytes());
            bytes.extend_from_slice(&[0; 4]);
            for v in [tot, rss, 0, 0, 0] {
                bytes.extend_from_slice(&v.to_ne_bytes());
            }
            crate::syscall::uaccess::write_bytes(buf, &bytes)?;
            return Ok(t.highest_index() as u64);
        }
        SHM_STAT | SHM_STAT_ANY => {
            return stat_at_index(&t, id, cmd == SHM_STAT_ANY, &creds, |e| stat(buf, e));
        }
        _ => {}
    }
    let e = t.lookup_mut(id)?;
    match cmd {
        IPC_STAT if !e.perm.allows(&creds, Want::Read) => Err(Errno::EACCES),
        IPC_STAT => stat(buf, e).map(|()| 0),
        IPC_SET | IPC_RMID if !e.perm.may_change(&creds) => Err(Errno::EPERM),
        IPC_SET => {
            let (uid, gid, mode) = read_perm_set(buf)?;
            e.perm.set(uid, gid, mode);
            e.obj.0.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            // The key is free at once; the pages live while a mapping does.
            e.perm.mode |= SHM_DEST;
            e.perm.key = IPC_PRIVATE;
            prune(&mut t);
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            if !creds.capable(CAP_IPC_LOCK) && creds.uid.effective != e.perm.uid && creds.uid.effective != e.perm.cuid {
                return Err(Errno::EPERM);
            }
            // ember never swaps: locking only records the flag, as `ipcs` shows it.
            if cmd == SHM_LOCK {
                e.perm.mode |= SHM_LOCKED;
            } else {
                e.perm.mode &= !SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Linux's `struct shmid64_ds` at `addr`.
fn stat(addr: u64, e: &Entry<Shm>) -> Result<(), Errno> {
    let s = &e.obj.0;
    let pids = u64::from(s.cpid) | u64::from(s.lpid) << 32;
    write_ds(
        addr,
        &e.perm,
        &[
            s.size,
            s.atime as u64,
            s.dtime as u64,
            s.ctime as u64,
            pids,
            nattch_of(&e.obj.1),
            0,
            0,
        ],
    )
}

/// `/proc/sysvipc/shm`.
pub fn proc_table() -> String {
    let mut out = String::from(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
    );
    let mut t = SEGMENTS.lock();
    prune(&mut t);
    for (id, e) in t.iter() {
        let (p, s) = (&e.perm, &e.obj.0);
        out += &format!(
            "{:10} {:10} {:5o} {:21} {:5} {:5} {:6} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}\n",
            p.key,
            id,
            p.mode,
            s.size,
            s.cpid,
            s.lpid,
            nattch_of(&e.obj.1),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            s.atime,
            s.dtime,
            s.ctime,
            e.obj.1.resident_pages() as u64 * PAGE,
            0
        );
    }
    out
}
