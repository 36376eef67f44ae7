//! `execve`: replacing a process's program with a static ELF executable (or a `#!` script's interpreter).

use super::{Process, Thread};
use crate::fs::Executable;
use crate::syscall::errno::Errno;
use crate::vm::{Backing, PAGE, Prot, Region, STACK_SIZE, STACK_TOP, Vm};
use alloc::sync::Arc;
use alloc::vec::Vec;
use ember_exec::{AuxValues, LoadPlan, build_stack, load_bias};
use ember_frame::user::UserContext;

/// Most `#!` interpreters in a chain (Linux allows 4 nested ones).
const MAX_INTERPRETERS: usize = 4;
/// Most bytes of arguments and environment (a quarter of the 8 MiB stack, as Linux).
pub const MAX_ARG_BYTES: usize = 2 << 20;

/// `execve` for the calling thread: on success `ctx` starts the new program.
pub fn execve(
    thread: &Thread,
    ctx: &mut UserContext,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    let mut path = path.to_vec();
    let mut argv = argv;
    for _ in 0..=MAX_INTERPRETERS {
        let found = crate::fs::resolve_exec(&path)?;
        let (mode, owner, group) = found.owner;
        if let Some((interp, arg)) = shebang(&found.contents) {
            // argv becomes: interpreter [arg] path argv[1..]
            let mut new = alloc::vec![interp.clone()];
            new.extend(arg);
            new.push(path.clone());
            new.extend(argv.into_iter().skip(1));
            argv = new;
            path = interp;
            continue;
        }
        let a: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let e: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
        // The set-id bits count unless `PR_SET_NO_NEW_PRIVS` is set; the capability sets change as Linux's.
        let mode = if thread.process.no_new_privs() {
            mode & !0o6000
        } else {
            mode
        };
        let mut creds = thread.process.creds();
        creds.exec(mode, owner, group);
        load(&thread.process, ctx, &path, &found, &a, &e, &creds)?;
        thread.process.update_creds(|c| *c = creds);
        *thread.process.exe.lock() = found.path;
        *thread.process.args.lock() = (nul_joined(&a), nul_joined(&e));
        thread.files.lock().lock().close_on_exec();
        *thread.altstack.lock() = (0, 0, super::signal::SS_DISABLE);
        thread.clear_child_tid.store(0, core::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    Err(Errno::ELOOP)
}

/// The strings, each followed by a NUL.
fn nul_joined(strings: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings {
        out.extend_from_slice(s);
        out.push(0);
    }
    out
}

/// The interpreter and optional argument of a `#!` line.
fn shebang(data: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let rest = data.strip_prefix(b"#!")?;
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()).min(255)];
    let mut words = line.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty());
    let interp = words.next()?.to_vec();
    let arg_start = line.windows(interp.len()).position(|w| w == interp.as_slice())? + interp.len();
    let arg = line[arg_start..].trim_ascii();
    Some((interp, (!arg.is_empty()).then(|| arg.to_vec())))
}

/// Loads the ELF executable `exe` into a fresh address space for `process` and points `ctx` at its entry;
/// `creds` are the credentials after the exec (for the auxiliary vector). The segments map the file
/// privately: their pages are the page cache's until written.
pub fn load(
    process: &Arc<Process>,
    ctx: &mut UserContext,
    path: &[u8],
    exe: &Executable,
    argv: &[&[u8]],
    envp: &[&[u8]],
    creds: &ember_creds::Credentials,
) -> Result<(), Errno> {
    let plan = LoadPlan::parse(&exe.contents).map_err(|e| {
        let name = core::str::from_utf8(path).unwrap_or("?");
        log::warn!("execve {name}: {e}");
        Errno::ENOEXEC
    })?;
    let bias = load_bias(&plan, ember_exec::ELF_ET_DYN_BASE).map_err(|_| Errno::ENOEXEC)?;
    let vm = Vm::new()?;
    let mut highest = 0;
    let mut last_end = 0;
    for s in &plan.segments {
        let vaddr = s.vaddr + bias;
        let start = vaddr & !(PAGE - 1);
        let end = (vaddr + s.mem_size).next_multiple_of(PAGE);
        if start < last_end {
            // Two segments share a page, which would need the page to carry both segments' bytes and rights.
            log::warn!(
                "execve {}: segments share a page; not supported",
                core::str::from_utf8(path).unwrap_or("?")
            );
            return Err(Errno::ENOEXEC);
        }
        let prot = Prot {
            read: s.readable,
            write: s.writable,
            exec: s.executable,
        };
        let backing = Backing::File {
            file: exe.inode.clone(),
            vaddr,
            offset: s.file_offset,
            len: s.file_size,
        };
        vm.insert(Region {
            start,
            end,
            prot,
            shared: false,
            backing,
        })?;
        last_end = end;
        highest = highest.max(end);
    }
    vm.set_brk_start(highest);
    vm.insert(Region::anonymous(STACK_TOP - STACK_SIZE, STACK_TOP, Prot::RW, false))?;

    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    let mut aux = AuxValues::new(&plan, bias);
    aux.hwcap = ember_frame::cpu::hwcap();
    aux.sysinfo_ehdr = Some(crate::vdso::map_into(&vm)?);
    (aux.uid, aux.euid, aux.gid, aux.egid) = (creds.uid.real, creds.uid.effective, creds.gid.real, creds.gid.effective);
    aux.secure = aux.uid != aux.euid || aux.gid != aux.egid;
    let stack =
        build_stack(STACK_TOP, argv, envp, path, random, &aux, MAX_ARG_BYTES as u64).map_err(|_| Errno::E2BIG)?;
    vm.write(stack.rsp, &stack.bytes)?;

    *process.vm.lock() = vm.clone();
    vm.space().activate();
    process.set_name(path.rsplit(|&b| b == b'/').next().unwrap_or(path));
    process.actions.lock().reset_for_exec();
    super::clone::vfork_release(process);

    *ctx = UserContext::default();
    ctx.regs.rip = plan.entry + bias;
    ctx.regs.rsp = stack.rsp;
    Ok(())
}
