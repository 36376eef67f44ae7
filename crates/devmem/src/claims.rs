//! Exclusive claims on device memory.
//!
//! Mappings are made page by page, so a claim's page-rounded span is what matters wherever a whole page must
//! stay out of reach: the framework's devices are compared page-rounded (a claim sharing the local APIC's page
//! is refused even when its bytes do not overlap). Two ordinary claims are compared byte by byte: every access
//! through a mapping is bounds-checked to its own claim, and virtio-mmio devices on QEMU microvm sit eight to a
//! page (512-byte slots), each with its own driver.

use alloc::vec::Vec;

/// The page size mappings are made in.
pub const PAGE_SIZE: u64 = 4096;

/// Who holds a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The framework (interrupt controllers and the like): nobody else may map any of its pages.
    Framework,
    /// An ordinary owner of an `IoMem`.
    Driver,
}

/// Why a claim was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Empty, or its end (page-rounded) overflows.
    BadRange,
    /// It shares a page with a range the framework owns.
    FrameworkOwned,
    /// Another owner holds an overlapping range.
    Busy,
}

/// Names a claim, to release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimId(u64);

#[derive(Clone, Copy, Debug)]
struct Claim {
    id: u64,
    holder: Holder,
    /// Bytes claimed: exact for drivers, page-rounded for the framework.
    start: u64,
    end: u64,
}

/// The page-rounded span `[first page, end of last page)` of `len` bytes at `start`, or `None` when it is empty
/// or overflows.
pub fn page_span(start: u64, len: u64) -> Option<(u64, u64)> {
    let end = start.checked_add(len).filter(|_| len > 0)?;
    Some((start & !(PAGE_SIZE - 1), end.checked_next_multiple_of(PAGE_SIZE)?))
}

/// The claimed ranges of device memory.
#[derive(Debug, Default)]
pub struct Claims {
    list: Vec<Claim>,
    next_id: u64,
}

impl Claims {
    /// No claims.
    pub const fn new() -> Self {
        Self {
            list: Vec::new(),
            next_id: 0,
        }
    }

    /// Claims `len` bytes at `start` for `holder`, unless that clashes with a claim already held.
    pub fn claim(&mut self, start: u64, len: u64, holder: Holder) -> Result<ClaimId, ClaimError> {
        let (first, last) = page_span(start, len).ok_or(ClaimError::BadRange)?;
        let end = start + len;
        for c in &self.list {
            let pages_overlap = first < c.end && c.start < last;
            let bytes_overlap = start < c.end && c.start < end;
            match (c.holder, holder) {
                (Holder::Framework, Holder::Driver) if pages_overlap => return Err(ClaimError::FrameworkOwned),
                (Holder::Driver, Holder::Framework) if pages_overlap => return Err(ClaimError::Busy),
                (Holder::Driver, Holder::Driver) if bytes_overlap => return Err(ClaimError::Busy),
                _ => {}
            }
        }
        let (start, end) = match holder {
            Holder::Framework => (first, last),
            Holder::Driver => (start, end),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.list.push(Claim { id, holder, start, end });
        Ok(ClaimId(id))
    }

    /// Gives a claim back.
    pub fn release(&mut self, id: ClaimId) {
        self.list.retain(|c| c.id != id.0);
    }

    /// Whether `len` bytes at `start` lie wholly inside one range the framework holds.
    pub fn framework_holds(&self, start: u64, len: u64) -> bool {
        start.checked_add(len).is_some_and(|end| {
            self.list
                .iter()
                .any(|c| c.holder == Holder::Framework && c.start <= start && end <= c.end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAPIC: u64 = 0xFEE0_0000;

    #[test]
    fn framework_pages_are_refused_whole() {
        let mut c = Claims::new();
        c.claim(LAPIC, 0x400, Holder::Framework).unwrap();
        c.claim(0xFEC0_0000, 0x20, Holder::Framework).unwrap();
        assert_eq!(c.claim(LAPIC, 4, Holder::Driver), Err(ClaimError::FrameworkOwned));
        // Past the APIC's registers but in its page.
        assert_eq!(
            c.claim(LAPIC + 0xFF0, 0x10, Holder::Driver),
            Err(ClaimError::FrameworkOwned)
        );
        // Ends in the IOAPIC's page.
        assert_eq!(
            c.claim(0xFEBF_FFF0, 0x20, Holder::Driver),
            Err(ClaimError::FrameworkOwned)
        );
        assert_eq!(
            c.claim(0xFEC0_0020, 0x20, Holder::Driver),
            Err(ClaimError::FrameworkOwned)
        );
        assert!(c.claim(0xFEC0_1000, 0x20, Holder::Driver).is_ok());
        assert!(c.claim(0xFEBF_F000, 0x1000, Holder::Driver).is_ok());
        assert!(c.framework_holds(0xFEC0_0000, 0x20));
        assert!(c.framework_holds(0xFEC0_0FF0, 0x10));
        assert!(!c.framework_holds(0xFEC0_0FF0, 0x20));
    }

    #[test]
    fn a_second_claim_is_busy_until_the_first_is_released() {
        let mut c = Claims::new();
        let a = c.claim(0xFEB0_0000, 0x200, Holder::Driver).unwrap();
        assert_eq!(c.claim(0xFEB0_0000, 0x200, Holder::Driver), Err(ClaimError::Busy));
        assert_eq!(c.claim(0xFEB0_01FF, 1, Holder::Driver), Err(ClaimError::Busy));
        // The next virtio slot shares the page, not the bytes.
        let b = c.claim(0xFEB0_0200, 0x200, Holder::Driver).unwrap();
        // The framework cannot take a page a driver holds part of.
        assert_eq!(c.claim(0xFEB0_0800, 4, Holder::Framework), Err(ClaimError::Busy));
        c.release(a);
        assert!(c.claim(0xFEB0_0000, 0x200, Holder::Driver).is_ok());
        c.release(b);
        assert!(c.claim(0xFEB0_0200, 0x10, Holder::Driver).is_ok());
    }

    #[test]
    fn bad_ranges_are_refused_without_overflow() {
        let mut c = Claims::new();
        assert_eq!(c.claim(0x1000, 0, Holder::Driver), Err(ClaimError::BadRange));
        assert_eq!(
            c.claim(u64::MAX - 0x10, 0x20, Holder::Driver),
            Err(ClaimError::BadRange)
        );
        // The last page: the end fits, rounding it up does not.
        assert_eq!(
            c.claim(u64::MAX - 0x10, 0x10, Holder::Driver),
            Err(ClaimError::BadRange)
        );
        assert_eq!(page_span(0x1FF0, 0x20), Some((0x1000, 0x3000)));
        assert_eq!(page_span(0x2000, 0x1000), Some((0x2000, 0x3000)));
    }
}
