//! Memory calls: `brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`, `msync`, `mlock` and friends.

use super::errno::{Errno, SysResult};
use crate::process::current;
use crate::vm::{Backing, Prot, Region, Vm};
use alloc::sync::Arc;
use linux_raw_sys::general as nr;

const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;
const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;
const MADV_DONTNEED: u64 = 4;
const MS_ASYNC: u64 = 1;
const MS_INVALIDATE: u64 = 2;
const MS_SYNC: u64 = 4;

pub(super) fn handle(n: u64, a: [u64; 6]) -> Option<SysResult> {
    // Only when the call is ours: every call that is not a file call passes through here.
    let vm = || current().vm();
    Some(match n as u32 {
        nr::__NR_brk => Ok(vm().brk(a[0])),
        nr::__NR_mmap => mmap(a),
        nr::__NR_munmap => {
            if !a[0].is_multiple_of(4096) || a[1] == 0 || a[0].checked_add(a[1]).is_none() {
                Err(Errno::EINVAL)
            } else {
                vm().unmap(a[0], a[1]);
                Ok(0)
            }
        }
        nr::__NR_mprotect => {
            if a[2] & !(7 | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
                Err(Errno::EINVAL)
            } else {
                vm().protect(a[0], a[1], Prot::from_bits(a[2])).map(|()| 0)
            }
        }
        nr::__NR_mremap => mremap(&vm(), a),
        nr::__NR_madvise => match a[2] {
            MADV_DONTNEED => vm().discard(a[0], a[1]).map(|()| 0),
            _ => Ok(0),
        },
        nr::__NR_msync => msync(&vm(), a[0], a[1], a[2]),
        nr::__NR_mlock | nr::__NR_munlock | nr::__NR_mlockall | nr::__NR_munlockall => Ok(0),
        _ => return None,
    })
}

fn mmap(a: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, fd, offset] = a;
    if len == 0 || offset % 4096 != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = flags & 0x0F;
    if kind != MAP_SHARED && kind != MAP_PRIVATE && kind != MAP_SHARED_VALIDATE {
        return Err(Errno::EINVAL);
    }
    let shared = kind != MAP_PRIVATE;
    let prot = Prot::from_bits(prot);
    let backing = if flags & MAP_ANONYMOUS != 0 {
        Backing::Anonymous
    } else {
        let (file, writable) = crate::fs::map_file(fd as i32)?;
        if shared {
            // Writing through a shared mapping writes the file: it must be open for writing.
            if prot.write && !writable {
                return Err(Errno::EACCES);
            }
            Backing::Shared {
                writer: writable.then(|| Arc::new(file.writer())),
                file,
                vaddr: 0,
                first_page: offset / 4096,
            }
        } else {
            // The page cache's frames, copied on the first write (up to the end of the file: `SIGBUS` past it).
            Backing::File {
                file,
                vaddr: 0,
                offset,
                len: u64::MAX,
            }
        }
    };
    let vm = current().vm();
    vm.mmap(
        addr,
        len,
        |start, end| {
            let backing = match backing {
                Backing::File { file, offset, len, .. } => Backing::File {
                    file,
                    vaddr: start,
                    offset,
                    len,
                },
                Backing::Shared {
                    file,
                    first_page,
                    writer,
                    ..
                } => Backing::Shared {
                    file,
                    vaddr: start,
                    first_page,
                    writer,
                },
                b => b,
            };
            Region {
                start,
                end,
                prot,
                shared,
                backing,
            }
        },
        flags & MAP_FIXED != 0,
        flags & MAP_FIXED_NOREPLACE != 0,
    )
}

/// `msync(2)`: writes back what was written through the shared disk-file mappings in the range, and with
/// `MS_SYNC` makes it durable as `fsync` does (`MS_INVALIDATE` has nothing to do, since every mapping maps
/// the page cache's own frames).
fn msync(vm: &Vm, addr: u64, len: u64, flags: u64) -> SysResult {
    if !addr.is_multiple_of(4096)
        || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC
    {
        return Err(Errno::EINVAL);
    }
    vm.sync_range(addr, len, flags & MS_SYNC != 0).map(|()| 0)
}

/// `mremap(2)`: grow, shrink or move (`MREMAP_MAYMOVE`), to a given address with `MREMAP_FIXED`;
/// `MREMAP_DONTUNMAP` (with `MREMAP_MAYMOVE`, same length, private anonymous memory, as Linux 5.7) moves the
/// pages and leaves the old range mapped and empty.
fn mremap(vm: &Vm, a: [u64; 6]) -> SysResult {
    let [old, old_len, new_len, flags, new, _] = a;
    let may_move = flags & MREMAP_MAYMOVE != 0;
    let dont_unmap = flags & MREMAP_DONTUNMAP != 0;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 && !may_move)
        || (dont_unmap && old_len != new_len)
    {
        return Err(Errno::EINVAL);
    }
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new);
    if dont_unmap {
        return vm.remap_keeping_old(old, old_len, fixed);
    }
    vm.remap(old, old_len, new_len, may_move, fixed)
}
