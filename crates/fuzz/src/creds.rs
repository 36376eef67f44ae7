//! Process credentials (`ember-creds`): the `set*id` rules and the permission check.

use crate::input::Input;
use ember_creds::caps::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SETGID, CAP_SETUID};
use ember_creds::{Access, Credentials, Ids, UNCHANGED};

/// Input: a sequence of `setuid`, `setgid`, `setreuid`, `setregid`, `setresuid`, `setresgid`, `setfsuid`,
/// `setfsgid`, `setgroups`, `execve` and permission checks with ids drawn from a few values (0, 1, 2, 1000, -1).
/// Checks: a process that is not privileged never gains a user or group id it did not hold as real, effective
/// or saved id (file-system ids: or as file-system id) except through a set-id `execve`; a refused call
/// changes nothing; `-1` leaves an id alone in the `setre*`/`setres*` calls and is refused by `setuid`; the
/// file-system ids follow the effective ones after every `set*id`; a process whose ids left 0 altogether holds
/// no capability; the permission check is Linux's, written again.
pub fn creds(data: &[u8]) {
    let mut input = Input::new(data);
    let mut c = Credentials::root();
    let id = |i: &mut Input| [0, 1, 2, 1000, UNCHANGED][i.below(5)];
    while !input.is_empty() {
        let before = c.clone();
        let (uid_privileged, gid_privileged) = (c.capable(CAP_SETUID), c.capable(CAP_SETGID));
        let op = input.u8() % 12;
        let (a, b, s) = (id(&mut input), id(&mut input), id(&mut input));
        let result = match op {
            0 => c.set_uid(a),
            1 => c.set_gid(a),
            2 => c.set_reuid(a, b),
            3 => c.set_regid(a, b),
            4 => c.set_resuid(a, b, s),
            5 => c.set_resgid(a, b, s),
            6 => {
                assert_eq!(c.set_fsuid(a), before.uid.fs);
                Ok(())
            }
            7 => {
                assert_eq!(c.set_fsgid(a), before.gid.fs);
                Ok(())
            }
            8 => {
                let groups: Vec<u32> = (0..input.below(4)).map(|_| id(&mut input)).collect();
                let r = c.set_groups(groups.clone());
                if r.is_ok() {
                    assert_eq!(c.groups(), &groups[..]);
                }
                r
            }
            9 => {
                let mode = u32::from(input.u16()) & 0o7777;
                c.exec(mode, a, b);
                assert_eq!((c.uid.saved, c.gid.saved), (c.uid.effective, c.gid.effective));
                let uid = if mode & 0o4000 != 0 { a } else { before.uid.effective };
                assert_eq!(c.uid.effective, uid);
                continue;
            }
            _ => {
                permission(&c, &mut input);
                continue;
            }
        };
        match result {
            Err(_) => assert_eq!(c, before, "a refused call changed the credentials"),
            Ok(()) => {
                if matches!(op, 0 | 2 | 4) {
                    assert_eq!(
                        c.uid.fs, c.uid.effective,
                        "the fs uid does not follow the effective one"
                    );
                }
                if matches!(op, 1 | 3 | 5) {
                    assert_eq!(
                        c.gid.fs, c.gid.effective,
                        "the fs gid does not follow the effective one"
                    );
                }
                if op == 0 || op == 1 {
                    assert_ne!(a, UNCHANGED, "setuid(-1) accepted");
                }
                if op == 2 || op == 4 {
                    unchanged_stay(&before.uid, &c.uid, a, b, if op == 4 { s } else { 0 });
                }
                if op == 3 || op == 5 {
                    unchanged_stay(&before.gid, &c.gid, a, b, if op == 5 { s } else { 0 });
                }
                if !uid_privileged {
                    never_gained(&before.uid, &c.uid);
                }
                if !gid_privileged {
                    never_gained(&before.gid, &c.gid);
                    assert_eq!(c.groups(), before.groups());
                }
            }
        }
        if ![c.uid.real, c.uid.effective, c.uid.saved].contains(&0) && matches!(op, 0 | 2 | 4) {
            assert_eq!(
                (c.caps.effective, c.caps.permitted),
                (0, 0),
                "capabilities kept after leaving root"
            );
        }
    }
}

fn unchanged_stay(old: &Ids, new: &Ids, real: u32, effective: u32, saved: u32) {
    if real == UNCHANGED {
        assert_eq!(new.real, old.real);
    }
    if effective == UNCHANGED {
        assert_eq!(new.effective, old.effective);
    }
    if saved == UNCHANGED && real == UNCHANGED && effective == UNCHANGED {
        assert_eq!(new.saved, old.saved);
    }
}

fn never_gained(old: &Ids, new: &Ids) {
    let had = [old.real, old.effective, old.saved];
    for id in [new.real, new.effective, new.saved] {
        assert!(had.contains(&id), "gained id {id} from {old:?}: {new:?}");
    }
    assert!(
        had.contains(&new.fs) || new.fs == old.fs,
        "gained fs id {} from {old:?}",
        new.fs
    );
}

fn permission(c: &Credentials, input: &mut Input) {
    let mode = u32::from(input.u16()) & 0o777;
    let (owner, group) = ([0, 1, 2, 1000][input.below(4)], [0, 1, 2, 1000][input.below(4)]);
    let w = input.u8();
    let want = Access {
        read: w & 1 != 0,
        write: w & 2 != 0,
        exec: w & 4 != 0,
    };
    let is_dir = w & 8 != 0;
    let by_mode = {
        let shift = if c.uid.fs == owner {
            6
        } else if c.gid.fs == group || c.groups().contains(&group) {
            3
        } else {
            0
        };
        let need = u32::from(want.read) << 2 | u32::from(want.write) << 1 | u32::from(want.exec);
        (mode >> shift) & need == need
    };
    let read_search = !want.write && (is_dir || !want.exec) && c.capable(CAP_DAC_READ_SEARCH);
    let overridden = (!want.exec || is_dir || mode & 0o111 != 0) && c.capable(CAP_DAC_OVERRIDE);
    let expected = by_mode || read_search || overridden;
    assert_eq!(
        c.may(want, mode, owner, group, is_dir),
        expected,
        "{c:?} {want:?} {mode:o} {owner} {group}"
    );
    assert_eq!(c.owns(owner), c.capable(CAP_FOWNER) || c.uid.fs == owner);
}
