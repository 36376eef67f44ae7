//! Ending threads and processes: `exit`, `exit_group`, death by signal, zombies, reparenting, and init's end.

use super::{INIT_PID, Process, Thread, find, signal};
use crate::syscall::futex;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use ember_frame::power::{ExitStatus, power_off};

/// The wait status of a normal exit with `code`.
pub fn exited(code: u64) -> u32 {
    ((code & 0xFF) as u32) << 8
}

/// Ends `thread` with wait status `status`; with `group`, the whole process ends (its other threads stop at
/// their next return to the kernel). The last thread out makes the process a zombie.
pub fn exit_thread(thread: &Arc<Thread>, status: u32, group: bool) {
    let p = thread.process.clone();
    if group && !p.exiting.swap(true, Ordering::AcqRel) {
        let mut s = p.status.lock();
        if s.is_none() {
            *s = Some(status);
        }
        drop(s);
        for t in p.threads.lock().iter() {
            t.kick();
        }
    }
    let clear = thread.clear_child_tid.swap(0, Ordering::AcqRel);
    if clear != 0 && !p.is_exiting() {
        let _ = crate::syscall::uaccess::write_u32(clear, 0);
        // Linux wakes the shared futex here (no private flag): a waiter may be in another process.
        let _ = futex::wake(&p.vm(), clear, 0, 1, u32::MAX);
    }
    *thread.files.lock() = Arc::new(ember_frame::sync::Mutex::new(crate::fs::FdTable::new()));
    let last = {
        let mut threads = p.threads.lock();
        threads.retain(|t| !Arc::ptr_eq(t, thread));
        threads.is_empty()
    };
    if last {
        let status = *p.status.lock().get_or_insert(status);
        exit_process(&p, status);
    }
}

fn exit_process(p: &Arc<Process>, status: u32) {
    p.exiting.store(true, Ordering::Release);
    *p.status.lock() = Some(status);
    p.alarm_changed.wake_all();
    super::clone::vfork_release(p);
    crate::fs::lock::process_exited(p.pid);
    crate::syscall::ipc::process_exited(p.pid);
    if p.pid == INIT_PID {
        init_exited(status);
    }
    // Children go to init.
    let children = core::mem::take(&mut *p.children.lock());
    if let Some(init) = find(INIT_PID) {
        for c in &children {
            *c.parent.lock() = Arc::downgrade(&init);
            let sig = c.prctl().pdeathsig;
            if sig != 0 {
                signal::send_to_process(c, sig);
            }
            super::ptrace::tracer_gone(c);
        }
        let has_zombie = children
            .iter()
            .any(|c| c.status.lock().is_some() && c.threads.lock().is_empty());
        init.children.lock().extend(children);
        if has_zombie {
            init.child_wait.wake_all();
        }
    }
    // The address space goes now; the zombie keeps only its status.
    if let Ok(empty) = crate::vm::Vm::new() {
        *p.vm.lock() = empty;
    }
    // A pidfd of the process has become readable.
    crate::fs::poll::notify();
    match p.parent.lock().upgrade() {
        Some(parent) => {
            signal::send_to_process(&parent, signal::SIGCHLD);
            parent.child_wait.wake_all();
        }
        None => reap(p),
    }
}

/// Removes a reaped (or orphaned) process from the table.
pub fn reap(p: &Process) {
    super::PROCESSES.lock().remove(&p.pid);
}

fn init_exited(status: u32) -> ! {
    let code = if status & 0x7F == 0 {
        let code = (status >> 8) & 0xFF;
        ember_frame::println!("ember: init exited with status {code}");
        code as u8
    } else {
        ember_frame::println!("ember: init killed by signal {}", status & 0x7F);
        128 + (status & 0x7F) as u8
    };
    crate::fs::disk::shutdown();
    if ember_frame::sync::lockstat::enabled() {
        ember_frame::println!("ember: lockstat\n{}ember: lockstat end", crate::lockstat::report());
    }
    power_off(ExitStatus::Code(code))
}
