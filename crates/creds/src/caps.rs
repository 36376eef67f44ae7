//! Capabilities as Linux keeps them (version 3, 64-bit sets): effective, permitted, inheritable, bounding and
//! ambient sets and the securebits, with the rules of `capset(2)`, `prctl(2)`'s capability options, and the
//! transformations of the user-id changes and `execve` (Linux's `security/commoncap.c`, without file
//! capabilities).

/// `CAP_CHOWN`: change any file's owner and group.
pub const CAP_CHOWN: u32 = 0;
/// `CAP_DAC_OVERRIDE`: bypass file read, write and execute permission checks.
pub const CAP_DAC_OVERRIDE: u32 = 1;
/// `CAP_DAC_READ_SEARCH`: bypass file read and directory read/search checks.
pub const CAP_DAC_READ_SEARCH: u32 = 2;
/// `CAP_FOWNER`: act as the owner of any file.
pub const CAP_FOWNER: u32 = 3;
/// `CAP_FSETID`: keep set-id bits on change; set the set-group-id bit for a group one is not in.
pub const CAP_FSETID: u32 = 4;
/// `CAP_KILL`: send signals to any process.
pub const CAP_KILL: u32 = 5;
/// `CAP_SETGID`: take any group id, set the supplementary groups.
pub const CAP_SETGID: u32 = 6;
/// `CAP_SETUID`: take any user id.
pub const CAP_SETUID: u32 = 7;
/// `CAP_SETPCAP`: change the bounding set and securebits, raise any inheritable capability of the bounding set.
pub const CAP_SETPCAP: u32 = 8;
/// `CAP_LINUX_IMMUTABLE`: set the immutable and append-only file flags.
pub const CAP_LINUX_IMMUTABLE: u32 = 9;
/// `CAP_NET_ADMIN`: configure network interfaces and routes.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`: use raw sockets.
pub const CAP_NET_RAW: u32 = 13;
/// `CAP_IPC_LOCK`: lock memory (`mlock`, `SHM_LOCK`).
pub const CAP_IPC_LOCK: u32 = 14;
/// `CAP_IPC_OWNER`: bypass System V IPC permission checks.
pub const CAP_IPC_OWNER: u32 = 15;
/// `CAP_SYS_CHROOT`: `chroot(2)`.
pub const CAP_SYS_CHROOT: u32 = 18;
/// `CAP_SYS_PTRACE`: trace any process.
pub const CAP_SYS_PTRACE: u32 = 19;
/// `CAP_SYS_ADMIN`: mount, set host names, trusted extended attributes, and more.
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_SYS_BOOT`: `reboot(2)`.
pub const CAP_SYS_BOOT: u32 = 22;
/// `CAP_SYS_NICE`: raise priority, change other users' processes' priority and scheduling.
pub const CAP_SYS_NICE: u32 = 23;
/// `CAP_SYS_RESOURCE`: raise hard resource limits, exceed System V IPC limits.
pub const CAP_SYS_RESOURCE: u32 = 24;
/// `CAP_MKNOD`: make device files.
pub const CAP_MKNOD: u32 = 27;
/// `CAP_MAC_OVERRIDE`: override mandatory access control.
pub const CAP_MAC_OVERRIDE: u32 = 32;
/// The highest capability number Linux 6.x knows (`CAP_CHECKPOINT_RESTORE`), `/proc/sys/kernel/cap_last_cap`.
pub const CAP_LAST_CAP: u32 = 40;
/// Every valid capability.
pub const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

/// The capabilities that follow the file-system user id (`CAP_FS_SET`): dropped from the effective set when it
/// leaves 0, raised again from the permitted set when it returns.
const CAP_FS_SET: u64 = bit(CAP_CHOWN)
    | bit(CAP_DAC_OVERRIDE)
    | bit(CAP_DAC_READ_SEARCH)
    | bit(CAP_FOWNER)
    | bit(CAP_FSETID)
    | bit(CAP_LINUX_IMMUTABLE)
    | bit(CAP_MKNOD)
    | bit(CAP_MAC_OVERRIDE);

/// `SECBIT_NOROOT`: user id 0 gets no capabilities at `execve`.
pub const SECBIT_NOROOT: u32 = 1 << 0;
/// `SECBIT_NO_SETUID_FIXUP`: user-id changes leave the capability sets alone.
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
/// `SECBIT_KEEP_CAPS`: leaving user id 0 keeps the permitted set (`PR_SET_KEEPCAPS`); cleared by `execve`.
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
/// `SECBIT_NO_CAP_AMBIENT_RAISE`: `PR_CAP_AMBIENT_RAISE` is refused.
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// Every securebit Linux defines (each has a lock bit just above it).
const SECURE_ALL_BITS: u32 = SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS | SECBIT_NO_CAP_AMBIENT_RAISE;
const SECURE_ALL_LOCKS: u32 = SECURE_ALL_BITS << 1;

/// `PR_CAP_AMBIENT_IS_SET`.
pub const PR_CAP_AMBIENT_IS_SET: u64 = 1;
/// `PR_CAP_AMBIENT_RAISE`.
pub const PR_CAP_AMBIENT_RAISE: u64 = 2;
/// `PR_CAP_AMBIENT_LOWER`.
pub const PR_CAP_AMBIENT_LOWER: u64 = 3;
/// `PR_CAP_AMBIENT_CLEAR_ALL`.
pub const PR_CAP_AMBIENT_CLEAR_ALL: u64 = 4;

/// The set holding capability `cap` alone.
pub const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// Why a capability operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapError {
    /// `EPERM`.
    NotPermitted,
    /// `EINVAL`.
    Invalid,
}

/// The capability state of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// What the process may use now.
    pub effective: u64,
    /// What it may make effective.
    pub permitted: u64,
    /// What `execve` may carry into the permitted set.
    pub inheritable: u64,
    /// The limit on what `execve` grants.
    pub bounding: u64,
    /// What `execve` of an ordinary program keeps.
    pub ambient: u64,
    /// `SECBIT_*` and their lock bits.
    pub securebits: u32,
}

impl Caps {
    /// Root's at boot: every capability effective and permitted, none inheritable, a full bounding set.
    pub const fn full() -> Caps {
        Caps {
            effective: CAP_FULL_SET,
            permitted: CAP_FULL_SET,
            inheritable: 0,
            bounding: CAP_FULL_SET,
            ambient: 0,
            securebits: 0,
        }
    }

    /// Whether `cap` is effective.
    pub fn has(&self, cap: u32) -> bool {
        cap <= CAP_LAST_CAP && self.effective & bit(cap) != 0
    }

    fn secure(&self, bit: u32) -> bool {
        self.securebits & bit != 0
    }

    /// `capset(2)` on oneself, by Linux's rules: the new inheritable set within the old inheritable and permitted
    /// ones (unless `CAP_SETPCAP`) and within the old inheritable and bounding ones; permitted never grows;
    /// effective within the new permitted. The ambient set keeps only what is both permitted and inheritable.
    pub fn set(&mut self, effective: u64, permitted: u64, inheritable: u64) -> Result<(), CapError> {
        let (effective, permitted, inheritable) = (
            effective & CAP_FULL_SET,
            permitted & CAP_FULL_SET,
            inheritable & CAP_FULL_SET,
        );
        let subset = |a: u64, b: u64| a & !b == 0;
        if !self.has(CAP_SETPCAP) && !subset(inheritable, self.inheritable | self.permitted) {
            return Err(CapError::NotPermitted);
        }
        if !subset(inheritable, self.inheritable | self.bounding)
            || !subset(permitted, self.permitted)
            || !subset(effective, permitted)
        {
            return Err(CapError::NotPermitted);
        }
        self.effective = effective;
        self.permitted = permitted;
        self.inheritable = inheritable;
        self.ambient &= permitted & inheritable;
        Ok(())
    }

    /// The change of a `setuid`/`setreuid`/`setresuid` from user ids `old` to `new` (real, effective, saved):
    /// leaving 0 altogether clears permitted and effective (unless `SECBIT_KEEP_CAPS`) and ambient; an effective
    /// id leaving 0 clears effective; one returning to 0 makes the permitted set effective.
    pub fn fix_setuid(&mut self, old: [u32; 3], new: [u32; 3]) {
        if self.secure(SECBIT_NO_SETUID_FIXUP) {
            return;
        }
        if old.contains(&0) && !new.contains(&0) {
            if !self.secure(SECBIT_KEEP_CAPS) {
                self.permitted = 0;
                self.effective = 0;
            }
            self.ambient = 0;
        }
        if old[1] == 0 && new[1] != 0 {
            self.effective = 0;
        }
        if old[1] != 0 && new[1] == 0 {
            self.effective = self.permitted;
        }
    }

    /// The change of a file-system user id from `old` to `new`: the file-system capabilities leave the
    /// effective set with 0 and come back (as far as permitted) with it.
    pub fn fix_setfsuid(&mut self, old: u32, new: u32) {
        if self.secure(SECBIT_NO_SETUID_FIXUP) {
            return;
        }
        if old == 0 && new != 0 {
            self.effective &= !CAP_FS_SET;
        }
        if old != 0 && new == 0 {
            self.effective |= self.permitted & CAP_FS_SET;
        }
    }

    /// `execve` of a file without file capabilities, with the new real and effective user ids and whether the
    /// ids changed (a set-user-id or set-group-id program): root (either id 0, unless `SECBIT_NOROOT`) gets the
    /// bounding and inheritable sets as permitted, all effective when the effective id is 0; anyone else keeps
    /// only the ambient set, which a set-id program clears. `SECBIT_KEEP_CAPS` is cleared.
    pub fn exec(&mut self, real: u32, effective: u32, setid: bool) {
        self.securebits &= !SECBIT_KEEP_CAPS;
        let mut permitted = 0;
        let mut all_effective = false;
        if !self.secure(SECBIT_NOROOT) {
            if real == 0 || effective == 0 {
                permitted = self.bounding | self.inheritable;
            }
            all_effective = effective == 0;
        }
        if setid {
            self.ambient = 0;
        }
        self.permitted = permitted | self.ambient;
        self.effective = if all_effective { self.permitted } else { self.ambient };
    }

    /// `PR_CAPBSET_READ`.
    pub fn bounding_has(&self, cap: u64) -> Result<bool, CapError> {
        let cap = valid(cap)?;
        Ok(self.bounding & bit(cap) != 0)
    }

    /// `PR_CAPBSET_DROP`: needs `CAP_SETPCAP`.
    pub fn drop_bounding(&mut self, cap: u64) -> Result<(), CapError> {
        if !self.has(CAP_SETPCAP) {
            return Err(CapError::NotPermitted);
        }
        self.bounding &= !bit(valid(cap)?);
        Ok(())
    }

    /// `PR_SET_SECUREBITS`: needs `CAP_SETPCAP`; a locked bit cannot change, a lock cannot be released, and
    /// only Linux's bits exist.
    pub fn set_securebits(&mut self, bits: u64) -> Result<(), CapError> {
        let old = u64::from(self.securebits);
        let locked_changed = ((old & u64::from(SECURE_ALL_LOCKS)) >> 1) & (old ^ bits) != 0;
        let unlocked = old & u64::from(SECURE_ALL_LOCKS) & !bits != 0;
        let unknown = bits & !u64::from(SECURE_ALL_LOCKS | SECURE_ALL_BITS) != 0;
        if locked_changed || unlocked || unknown || !self.has(CAP_SETPCAP) {
            return Err(CapError::NotPermitted);
        }
        self.securebits = bits as u32;
        Ok(())
    }

    /// `PR_GET_KEEPCAPS`.
    pub fn keep_caps(&self) -> bool {
        self.secure(SECBIT_KEEP_CAPS)
    }

    /// `PR_SET_KEEPCAPS`: 0 or 1, refused when the bit is locked.
    pub fn set_keep_caps(&mut self, on: u64) -> Result<(), CapError> {
        if on > 1 {
            return Err(CapError::Invalid);
        }
        if self.secure(SECBIT_KEEP_CAPS << 1) {
            return Err(CapError::NotPermitted);
        }
        if on == 1 {
            self.securebits |= SECBIT_KEEP_CAPS;
        } else {
            self.securebits &= !SECBIT_KEEP_CAPS;
        }
        Ok(())
    }

    /// `PR_CAP_AMBIENT` with its sub-command and arguments: the value the call returns (1 or 0 for
    /// `PR_CAP_AMBIENT_IS_SET`, else 0). Raising needs the capability permitted and inheritable.
    pub fn ambient_op(&mut self, op: u64, cap: u64, arg4: u64, arg5: u64) -> Result<u64, CapError> {
        if op == PR_CAP_AMBIENT_CLEAR_ALL {
            if cap | arg4 | arg5 != 0 {
                return Err(CapError::Invalid);
            }
            self.ambient = 0;
            return Ok(0);
        }
        if arg4 | arg5 != 0 {
            return Err(CapError::Invalid);
        }
        let b = bit(valid(cap)?);
        match op {
            PR_CAP_AMBIENT_IS_SET => Ok(u64::from(self.ambient & b != 0)),
            PR_CAP_AMBIENT_RAISE => {
                if self.permitted & self.inheritable & b == 0 || self.secure(SECBIT_NO_CAP_AMBIENT_RAISE) {
                    return Err(CapError::NotPermitted);
                }
                self.ambient |= b;
                Ok(0)
            }
            PR_CAP_AMBIENT_LOWER => {
                self.ambient &= !b;
                Ok(0)
            }
            _ => Err(CapError::Invalid),
        }
    }
}

fn valid(cap: u64) -> Result<u32, CapError> {
    if cap <= u64::from(CAP_LAST_CAP) {
        Ok(cap as u32)
    } else {
        Err(CapError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capset_follows_linux_subset_rules() {
        let mut c = Caps::full();
        c.set(bit(CAP_KILL), bit(CAP_KILL), 0).unwrap();
        // capset03: no CAP_SETPCAP, inheritable outside old inheritable | permitted.
        assert_eq!(
            c.set(bit(CAP_KILL), bit(CAP_KILL), bit(CAP_NET_RAW)),
            Err(CapError::NotPermitted)
        );
        // Permitted never grows; effective within permitted.
        assert_eq!(c.set(0, bit(CAP_KILL) | 1, 0), Err(CapError::NotPermitted));
        assert_eq!(c.set(bit(CAP_CHOWN), 0, 0), Err(CapError::NotPermitted));
        c.set(0, bit(CAP_KILL), bit(CAP_KILL)).unwrap();
        assert_eq!((c.effective, c.inheritable), (0, bit(CAP_KILL)));
        // With CAP_SETPCAP, any inheritable of the bounding set.
        let mut r = Caps::full();
        r.set(CAP_FULL_SET, CAP_FULL_SET, bit(CAP_NET_RAW)).unwrap();
        r.bounding &= !bit(CAP_SYS_ADMIN);
        assert_eq!(
            r.set(CAP_FULL_SET, CAP_FULL_SET, bit(CAP_SYS_ADMIN)),
            Err(CapError::NotPermitted)
        );
    }

    #[test]
    fn leaving_root_drops_capabilities_unless_kept() {
        let mut c = Caps::full();
        c.fix_setuid([0; 3], [1000; 3]);
        assert_eq!((c.effective, c.permitted), (0, 0));

        let mut k = Caps::full();
        k.set_keep_caps(1).unwrap();
        k.fix_setuid([0; 3], [1000; 3]);
        assert_eq!((k.effective, k.permitted), (0, CAP_FULL_SET));
        // The effective id back to 0 (impossible here without the saved id, but the rule is the rule).
        k.fix_setuid([1000; 3], [1000, 0, 1000]);
        assert_eq!(k.effective, CAP_FULL_SET);

        // An effective-only switch keeps permitted and brings effective back.
        let mut e = Caps::full();
        e.fix_setuid([0; 3], [0, 1000, 0]);
        assert_eq!((e.effective, e.permitted), (0, CAP_FULL_SET));
        e.fix_setuid([0, 1000, 0], [0; 3]);
        assert_eq!(e.effective, CAP_FULL_SET);
    }

    #[test]
    fn fsuid_moves_only_the_file_system_capabilities() {
        let mut c = Caps::full();
        c.fix_setfsuid(0, 1000);
        assert!(!c.has(CAP_DAC_OVERRIDE) && !c.has(CAP_CHOWN) && c.has(CAP_KILL));
        c.fix_setfsuid(1000, 0);
        assert_eq!(c.effective, CAP_FULL_SET);
    }

    #[test]
    fn exec_as_root_and_not() {
        let mut c = Caps::full();
        c.bounding &= !bit(CAP_SYS_ADMIN);
        c.exec(0, 0, false);
        assert_eq!(c.effective, CAP_FULL_SET & !bit(CAP_SYS_ADMIN));
        // Real id 0, effective not: permitted but not effective.
        let mut r = Caps::full();
        r.exec(0, 1000, true);
        assert_eq!((r.effective, r.permitted), (0, CAP_FULL_SET));
        // Not root: only the ambient set survives.
        let mut u = Caps::full();
        u.fix_setuid([0; 3], [0, 0, 1000]);
        u.set(CAP_FULL_SET, CAP_FULL_SET, bit(CAP_KILL)).unwrap();
        u.ambient_op(PR_CAP_AMBIENT_RAISE, u64::from(CAP_KILL), 0, 0).unwrap();
        u.exec(1000, 1000, false);
        assert_eq!(
            (u.effective, u.permitted, u.ambient),
            (bit(CAP_KILL), bit(CAP_KILL), bit(CAP_KILL))
        );
        u.exec(1000, 1000, true);
        assert_eq!((u.effective, u.permitted), (0, 0));
        let mut k = Caps::full();
        k.set_keep_caps(1).unwrap();
        k.exec(0, 0, false);
        assert!(!k.keep_caps());
    }

    #[test]
    fn prctl_options_and_their_errors() {
        let mut c = Caps::full();
        assert_eq!(c.bounding_has(u64::from(CAP_LAST_CAP) + 1), Err(CapError::Invalid));
        c.drop_bounding(u64::from(CAP_SYS_ADMIN)).unwrap();
        assert_eq!(c.bounding_has(u64::from(CAP_SYS_ADMIN)), Ok(false));
        assert_eq!(c.drop_bounding(99), Err(CapError::Invalid));
        assert_eq!(c.ambient_op(PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0), Err(CapError::Invalid));
        assert_eq!(
            c.ambient_op(PR_CAP_AMBIENT_IS_SET, u64::MAX, 0, 0),
            Err(CapError::Invalid)
        );
        assert_eq!(c.ambient_op(u64::MAX, 0, 0, 0), Err(CapError::Invalid));
        assert_eq!(c.ambient_op(PR_CAP_AMBIENT_RAISE, 1, 0, 0), Err(CapError::NotPermitted));
        // Locks: a locked bit cannot change, a lock cannot go.
        c.set_securebits(u64::from(SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS << 1))
            .unwrap();
        assert_eq!(c.set_keep_caps(0), Err(CapError::NotPermitted));
        assert_eq!(
            c.set_securebits(u64::from(SECBIT_KEEP_CAPS)),
            Err(CapError::NotPermitted)
        );
        assert_eq!(c.set_securebits(1 << 20), Err(CapError::NotPermitted));
        assert_eq!(c.set_keep_caps(2), Err(CapError::Invalid));
        // Without CAP_SETPCAP (prctl02).
        c.effective &= !bit(CAP_SETPCAP);
        assert_eq!(c.drop_bounding(1), Err(CapError::NotPermitted));
        assert_eq!(c.set_securebits(0), Err(CapError::NotPermitted));
    }
}
