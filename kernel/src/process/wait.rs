//! `wait4` and `waitid`: collecting the status of children that ended.

use super::{Process, exit, signal_pending};
use crate::syscall::errno::Errno;
use alloc::sync::Arc;

/// Which children a wait is for.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Any child.
    Any,
    /// The child with this pid.
    Pid(u32),
    /// Children in this process group.
    Group(u32),
}

/// `WNOHANG`
pub const WNOHANG: u64 = 1;
/// `WUNTRACED` (`WSTOPPED` for waitid): report children that stopped.
pub const WUNTRACED: u64 = 2;
/// `WEXITED` (waitid; implied by `wait4`): report children that ended.
pub const WEXITED: u64 = 4;
/// `WCONTINUED`: report children that continued.
pub const WCONTINUED: u64 = 8;
/// `WNOWAIT` (waitid): leave the child waitable.
pub const WNOWAIT: u64 = 0x0100_0000;

/// Waits for a child matching `target` to end (`WEXITED`), stop (`WUNTRACED`) or continue (`WCONTINUED`);
/// returns its pid and wait status, or `None` with `WNOHANG` when none has yet.
pub fn wait(parent: &Arc<Process>, target: Target, options: u64) -> Result<Option<(u32, u32)>, Errno> {
    parent.child_wait.wait_until(|| {
        let mut children = parent.children.lock();
        let matches = |c: &Arc<Process>| match target {
            Target::Any => true,
            Target::Pid(pid) => c.pid == pid,
            Target::Group(g) => c.pgid() == g,
        };
        if !children.iter().any(matches) {
            return Some(Err(Errno::ECHILD));
        }
        let zombie = children.iter().position(|c| {
            options & WEXITED != 0 && matches(c) && c.threads.lock().is_empty() && c.status.lock().is_some()
        });
        let (untraced, continued) = (options & WUNTRACED != 0, options & WCONTINUED != 0);
        if zombie.is_none() {
            // A tracee's stops are reported whatever the options say.
            for c in children.iter().filter(|c| matches(c)) {
                if let Some(status) = super::ptrace::take_report(c, options & WNOWAIT != 0) {
                    return Some(Ok(Some((c.pid, status))));
                }
            }
        }
        if zombie.is_none() && (untraced || continued) {
            for c in children.iter().filter(|c| matches(c)) {
                if let Some(status) = super::jobctl::take_report(c, untraced, continued, options & WNOWAIT != 0) {
                    return Some(Ok(Some((c.pid, status))));
                }
            }
        }
        if let Some(i) = zombie {
            let status = children[i].status.lock().unwrap_or(0);
            let pid = children[i].pid;
            if options & WNOWAIT == 0 {
                let child = children.remove(i);
                exit::reap(&child);
            }
            return Some(Ok(Some((pid, status))));
        }
        if options & WNOHANG != 0 {
            return Some(Ok(None));
        }
        signal_pending().then_some(Err(Errno::EINTR))
    })
}
