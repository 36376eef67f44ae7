//! Whole-file `flock` locks of one file.

use crate::Owner;
use alloc::vec::Vec;

/// The `flock` locks held on one file: shared by any number of owners, or exclusive to one.
#[derive(Debug, Default, Clone)]
pub struct FlockLocks {
    holders: Vec<(Owner, bool)>,
}

impl FlockLocks {
    /// No locks.
    pub const fn new() -> FlockLocks {
        FlockLocks { holders: Vec::new() }
    }

    /// Whether no lock is held.
    pub fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }

    /// Gives `owner` a shared or (`exclusive`) exclusive lock, converting one it holds; `false` (and no
    /// change) when another owner's lock is in the way.
    pub fn try_lock(&mut self, owner: Owner, exclusive: bool) -> bool {
        let blocked = self.holders.iter().any(|&(o, x)| o != owner && (exclusive || x));
        if blocked {
            return false;
        }
        self.unlock(owner);
        self.holders.push((owner, exclusive));
        true
    }

    /// Drops `owner`'s lock, if it holds one.
    pub fn unlock(&mut self, owner: Owner) {
        self.holders.retain(|&(o, _)| o != owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_then_exclusive() {
        let mut f = FlockLocks::new();
        assert!(f.try_lock(1, false));
        assert!(f.try_lock(2, false));
        assert!(!f.try_lock(1, true), "another shared holder blocks the upgrade");
        f.unlock(2);
        assert!(f.try_lock(1, true));
        assert!(!f.try_lock(2, false));
        assert!(f.try_lock(1, false), "a downgrade never blocks");
        assert!(f.try_lock(2, false));
        f.unlock(1);
        f.unlock(2);
        assert!(f.is_empty());
    }
}
