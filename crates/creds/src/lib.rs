//! Process credentials as Linux keeps them, as pure state: real, effective, saved and file-system user and
//! group ids, supplementary groups, capabilities ([`caps`]), the `set*id` transition rules and the mode-bit
//! permission check.
//!
//! Privilege is Linux's capability model: `setuid` needs `CAP_SETUID`, the permission check yields to
//! `CAP_DAC_OVERRIDE`/`CAP_DAC_READ_SEARCH`, and the user-id changes and `execve` move the capability sets as
//! Linux's `commoncap` does. The file-system ids follow the effective ones, as Linux keeps them.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod caps;

use alloc::vec::Vec;
use caps::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID, Caps};

/// Linux's `NGROUPS_MAX`: the most supplementary groups a process has.
pub const NGROUPS_MAX: usize = 65536;

/// "Leave unchanged" in the `setre*id`/`setres*id` calls (`(uid_t)-1`).
pub const UNCHANGED: u32 = u32::MAX;

/// Why a credential change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// `EPERM`: the caller may not take that id.
    NotPermitted,
    /// `EINVAL`: the argument is not an id (`-1` where a real id is needed) or too many groups.
    Invalid,
}

/// What a permission check asks for (any combination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// Read (`r`, `R_OK`).
    pub read: bool,
    /// Write (`w`, `W_OK`).
    pub write: bool,
    /// Execute, or search for a directory (`x`, `X_OK`).
    pub exec: bool,
}

/// One side (user or group) of the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// Real id.
    pub real: u32,
    /// Effective id (what permission checks other than the file system's use).
    pub effective: u32,
    /// Saved set-id.
    pub saved: u32,
    /// File-system id (what file permission checks use).
    pub fs: u32,
}

impl Ids {
    const fn all(id: u32) -> Ids {
        Ids {
            real: id,
            effective: id,
            saved: id,
            fs: id,
        }
    }

    fn is_one_of_mine(&self, id: u32) -> bool {
        id == self.real || id == self.effective || id == self.saved
    }

    /// `setuid`/`setgid`.
    fn set(&mut self, id: u32, privileged: bool) -> Result<(), Denied> {
        if id == UNCHANGED {
            return Err(Denied::Invalid);
        }
        if privileged {
            *self = Ids::all(id);
        } else if id == self.real || id == self.saved {
            self.effective = id;
            self.fs = id;
        } else {
            return Err(Denied::NotPermitted);
        }
        Ok(())
    }

    /// `setreuid`/`setregid`.
    fn set_re(&mut self, real: u32, effective: u32, privileged: bool) -> Result<(), Denied> {
        if !privileged {
            let real_ok = real == UNCHANGED || real == self.real || real == self.effective;
            let eff_ok = effective == UNCHANGED || self.is_one_of_mine(effective);
            if !real_ok || !eff_ok {
                return Err(Denied::NotPermitted);
            }
        }
        let old_real = self.real;
        if real != UNCHANGED {
            self.real = real;
        }
        if effective != UNCHANGED {
            self.effective = effective;
        }
        if real != UNCHANGED || (effective != UNCHANGED && effective != old_real) {
            self.saved = self.effective;
        }
        self.fs = self.effective;
        Ok(())
    }

    /// `setresuid`/`setresgid`.
    fn set_res(&mut self, real: u32, effective: u32, saved: u32, privileged: bool) -> Result<(), Denied> {
        if !privileged
            && [real, effective, saved]
                .iter()
                .any(|&id| id != UNCHANGED && !self.is_one_of_mine(id))
        {
            return Err(Denied::NotPermitted);
        }
        if real != UNCHANGED {
            self.real = real;
        }
        if effective != UNCHANGED {
            self.effective = effective;
        }
        if saved != UNCHANGED {
            self.saved = saved;
        }
        self.fs = self.effective;
        Ok(())
    }

    /// `setfsuid`/`setfsgid`: returns the previous file-system id, whether or not the change was allowed.
    fn set_fs(&mut self, id: u32, privileged: bool) -> u32 {
        let old = self.fs;
        if id != UNCHANGED && (privileged || self.is_one_of_mine(id) || id == self.fs) {
            self.fs = id;
        }
        old
    }
}

/// A process's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User ids.
    pub uid: Ids,
    /// Group ids.
    pub gid: Ids,
    /// Capability sets and securebits.
    pub caps: Caps,
    groups: Vec<u32>,
}

impl Default for Credentials {
    fn default() -> Credentials {
        Credentials::root()
    }
}

impl Credentials {
    /// Root's: every id 0, no supplementary groups (init's at boot).
    pub const fn root() -> Credentials {
        Credentials {
            uid: Ids::all(0),
            gid: Ids::all(0),
            caps: Caps::full(),
            groups: Vec::new(),
        }
    }

    /// Whether capability `cap` (`caps::CAP_*`) is in the effective set.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps.has(cap)
    }

    fn uids(&self) -> [u32; 3] {
        [self.uid.real, self.uid.effective, self.uid.saved]
    }

    /// Runs a user-id change and applies Linux's capability fix-up when it succeeded.
    fn change_uid(&mut self, change: impl FnOnce(&mut Ids, bool) -> Result<(), Denied>) -> Result<(), Denied> {
        let old = self.uids();
        change(&mut self.uid, self.caps.has(CAP_SETUID))?;
        self.caps.fix_setuid(old, self.uids());
        Ok(())
    }

    /// The supplementary groups.
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }

    /// `setuid(2)`: any id with `CAP_SETUID` (all four ids), else the real or saved one (effective and fs).
    pub fn set_uid(&mut self, uid: u32) -> Result<(), Denied> {
        self.change_uid(|ids, p| ids.set(uid, p))
    }

    /// `setgid(2)`: as `setuid`, with `CAP_SETGID`.
    pub fn set_gid(&mut self, gid: u32) -> Result<(), Denied> {
        let p = self.capable(CAP_SETGID);
        self.gid.set(gid, p)
    }

    /// `setreuid(2)` ([`UNCHANGED`] leaves an id as it is).
    pub fn set_reuid(&mut self, real: u32, effective: u32) -> Result<(), Denied> {
        self.change_uid(|ids, p| ids.set_re(real, effective, p))
    }

    /// `setregid(2)`.
    pub fn set_regid(&mut self, real: u32, effective: u32) -> Result<(), Denied> {
        let p = self.capable(CAP_SETGID);
        self.gid.set_re(real, effective, p)
    }

    /// `setresuid(2)`.
    pub fn set_resuid(&mut self, real: u32, effective: u32, saved: u32) -> Result<(), Denied> {
        self.change_uid(|ids, p| ids.set_res(real, effective, saved, p))
    }

    /// `setresgid(2)`.
    pub fn set_resgid(&mut self, real: u32, effective: u32, saved: u32) -> Result<(), Denied> {
        let p = self.capable(CAP_SETGID);
        self.gid.set_res(real, effective, saved, p)
    }

    /// `setfsuid(2)`: the previous file-system user id. The file-system capabilities follow an id 0.
    pub fn set_fsuid(&mut self, uid: u32) -> u32 {
        let p = self.capable(CAP_SETUID);
        let old = self.uid.set_fs(uid, p);
        self.caps.fix_setfsuid(old, self.uid.fs);
        old
    }

    /// `setfsgid(2)`: the previous file-system group id.
    pub fn set_fsgid(&mut self, gid: u32) -> u32 {
        let p = self.capable(CAP_SETGID);
        self.gid.set_fs(gid, p)
    }

    /// `setgroups(2)`: needs `CAP_SETGID`.
    pub fn set_groups(&mut self, groups: Vec<u32>) -> Result<(), Denied> {
        if groups.len() > NGROUPS_MAX {
            return Err(Denied::Invalid);
        }
        if !self.capable(CAP_SETGID) {
            return Err(Denied::NotPermitted);
        }
        self.groups = groups;
        Ok(())
    }

    /// `execve` of a file with mode `mode` owned by `owner`/`group`: set-user-id and set-group-id bits take
    /// effect, the saved ids become the effective ones, and the capability sets change as Linux's
    /// ([`Caps::exec`]).
    pub fn exec(&mut self, mode: u32, owner: u32, group: u32) {
        if mode & 0o4000 != 0 {
            self.uid.effective = owner;
        }
        if mode & 0o2000 != 0 && mode & 0o010 != 0 {
            self.gid.effective = group;
        }
        let setid = self.uid.effective != self.uid.real || self.gid.effective != self.gid.real;
        self.caps.exec(self.uid.real, self.uid.effective, setid);
        self.uid.saved = self.uid.effective;
        self.uid.fs = self.uid.effective;
        self.gid.saved = self.gid.effective;
        self.gid.fs = self.gid.effective;
    }

    /// Whether the process may send a signal to a process with credentials `target` (Linux's `kill_ok`): its
    /// real or effective user id is the target's real or saved one, or it holds `CAP_KILL`.
    pub fn may_signal(&self, target: &Credentials) -> bool {
        [self.uid.real, self.uid.effective]
            .iter()
            .any(|&u| u == target.uid.real || u == target.uid.saved)
            || self.capable(CAP_KILL)
    }

    /// Whether the process is in group `gid` (file-system group or a supplementary one).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid.fs == gid || self.groups.contains(&gid)
    }

    /// Whether the file-system ids may access a file of mode `mode` (permission bits), owner `owner` and group
    /// `group` as `want` says, by Linux's rule: owner bits for the owner, else group bits for a member, else the
    /// other bits; then `CAP_DAC_READ_SEARCH` allows reading any file and reading and searching any directory,
    /// and `CAP_DAC_OVERRIDE` allows anything but executing a file without an execute bit.
    pub fn may(&self, want: Access, mode: u32, owner: u32, group: u32, is_dir: bool) -> bool {
        if self.mode_allows(want, mode, owner, group) {
            return true;
        }
        let read_only = !want.write && (is_dir || !want.exec);
        if read_only && self.capable(CAP_DAC_READ_SEARCH) {
            return true;
        }
        (!want.exec || is_dir || mode & 0o111 != 0) && self.capable(CAP_DAC_OVERRIDE)
    }

    fn mode_allows(&self, want: Access, mode: u32, owner: u32, group: u32) -> bool {
        let bits = if self.uid.fs == owner {
            mode >> 6
        } else if self.in_group(group) {
            mode >> 3
        } else {
            mode
        } & 7;
        (!want.read || bits & 4 != 0) && (!want.write || bits & 2 != 0) && (!want.exec || bits & 1 != 0)
    }

    /// Whether the process owns a file owned by `owner`, or holds `CAP_FOWNER` (who may `chmod`, set times,
    /// and remove it from a sticky directory).
    pub fn owns(&self, owner: u32) -> bool {
        self.uid.fs == owner || self.capable(CAP_FOWNER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Access = Access {
        read: true,
        write: false,
        exec: false,
    };
    const W: Access = Access {
        read: false,
        write: true,
        exec: false,
    };
    const X: Access = Access {
        read: false,
        write: false,
        exec: true,
    };

    #[test]
    fn root_setuid_drops_everything_for_good() {
        let mut c = Credentials::root();
        c.set_uid(65534).unwrap();
        assert_eq!(c.uid, Ids::all(65534));
        assert_eq!(c.set_uid(0), Err(Denied::NotPermitted));
        assert_eq!(c.set_uid(UNCHANGED), Err(Denied::Invalid));
    }

    #[test]
    fn effective_only_switch_keeps_the_way_back() {
        let mut c = Credentials::root();
        c.set_resuid(UNCHANGED, 1000, UNCHANGED).unwrap();
        assert!(!c.capable(caps::CAP_SETUID));
        assert_eq!((c.uid.real, c.uid.effective, c.uid.saved, c.uid.fs), (0, 1000, 0, 1000));
        c.set_uid(0).unwrap();
        assert!(c.capable(caps::CAP_SETUID));
        assert_eq!(c.uid.effective, 0);
        assert_eq!(c.uid.saved, 0);
    }

    #[test]
    fn setreuid_sets_saved_like_linux() {
        let mut c = Credentials::root();
        c.set_reuid(1000, 2000).unwrap();
        assert_eq!((c.uid.real, c.uid.effective, c.uid.saved), (1000, 2000, 2000));
        // Unprivileged: swap real and effective.
        c.set_reuid(2000, 1000).unwrap();
        assert_eq!((c.uid.real, c.uid.effective, c.uid.saved), (2000, 1000, 1000));
        assert_eq!(c.set_reuid(3000, UNCHANGED), Err(Denied::NotPermitted));
        assert_eq!(c.set_reuid(UNCHANGED, 3000), Err(Denied::NotPermitted));
    }

    #[test]
    fn unprivileged_setresgid_only_among_own_ids() {
        let mut c = Credentials::root();
        c.set_resgid(10, 20, 30).unwrap();
        c.set_uid(1000).unwrap();
        c.set_resgid(30, 10, 20).unwrap();
        assert_eq!((c.gid.real, c.gid.effective, c.gid.saved), (30, 10, 20));
        assert_eq!(c.set_resgid(40, UNCHANGED, UNCHANGED), Err(Denied::NotPermitted));
        assert_eq!(c.set_groups(alloc::vec![1]), Err(Denied::NotPermitted));
    }

    #[test]
    fn setfsuid_returns_the_old_id_even_when_refused() {
        let mut c = Credentials::root();
        assert_eq!(c.set_fsuid(5), 0);
        assert_eq!(c.set_fsuid(UNCHANGED), 5);
        c.set_uid(7).unwrap();
        assert_eq!(c.set_fsuid(9), 7);
        assert_eq!(c.uid.fs, 7);
    }

    #[test]
    fn permission_bits_owner_group_other_and_root() {
        let mut c = Credentials::root();
        assert!(c.may(W, 0o000, 5, 5, false));
        assert!(!c.may(X, 0o600, 5, 5, false));
        assert!(c.may(X, 0o010, 5, 5, false));
        assert!(c.may(X, 0o000, 5, 5, true));
        c.set_groups(alloc::vec![50]).unwrap();
        c.set_gid(40).unwrap();
        c.set_uid(1000).unwrap();
        // Owner bits win even when they give less than the group's.
        assert!(!c.may(R, 0o077, 1000, 40, false));
        assert!(c.may(R, 0o040, 1, 50, false));
        assert!(c.may(W, 0o020, 1, 40, false));
        assert!(!c.may(W, 0o775, 1, 2, false));
        assert!(c.may(R, 0o004, 1, 2, false));
        assert!(c.owns(1000) && !c.owns(0));
    }

    #[test]
    fn exec_of_setuid_file() {
        let mut c = Credentials::root();
        c.set_uid(1000).unwrap();
        c.exec(0o4755, 0, 0);
        assert_eq!((c.uid.real, c.uid.effective, c.uid.saved), (1000, 0, 0));
        assert!(c.capable(caps::CAP_SETUID));
    }

    #[test]
    fn signals_need_a_shared_user_or_cap_kill() {
        let root = Credentials::root();
        let mut user = Credentials::root();
        user.set_resuid(1000, 1000, 1000).unwrap();
        let mut other = Credentials::root();
        other.set_resuid(2000, 2000, 2000).unwrap();
        assert!(root.may_signal(&user) && user.may_signal(&user));
        assert!(!user.may_signal(&root) && !user.may_signal(&other));
        // A set-user-id program's saved id lets its invoker signal it.
        let mut suid = other.clone();
        suid.uid.saved = 1000;
        assert!(user.may_signal(&suid));
    }

    #[test]
    fn root_without_dac_override_is_held_to_the_mode_bits() {
        let mut c = Credentials::root();
        let all = c.caps.permitted;
        c.caps.set(all & !caps::bit(CAP_DAC_OVERRIDE), all, 0).unwrap();
        // Read stays through CAP_DAC_READ_SEARCH; write does not.
        assert!(c.may(R, 0o600, 1000, 1000, false));
        assert!(!c.may(W, 0o600, 1000, 1000, false));
        c.caps
            .set(
                all & !caps::bit(CAP_DAC_OVERRIDE) & !caps::bit(CAP_DAC_READ_SEARCH),
                all,
                0,
            )
            .unwrap();
        assert!(!c.may(R, 0o600, 1000, 1000, false));
        assert!(!c.may(X, 0o000, 1000, 1000, true));
        assert!(c.may(R, 0o600, 0, 0, false));
        c.caps.set(all & !caps::bit(CAP_FOWNER), all, 0).unwrap();
        assert!(!c.owns(1000) && c.owns(0));
    }
}
