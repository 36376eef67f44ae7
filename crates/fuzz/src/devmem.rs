//! Device-memory claims and the DMA pool (`ember-devmem`).

use crate::input::Input;
use ember_devmem::{ClaimError, ClaimId, Claims, DmaPool, Holder, PAGE_SIZE};

/// Input: claims by the framework and by drivers (addresses on a few pages, or next to the top of the address
/// space), releases, `framework_holds` queries, and DMA regions given back and taken. Checks against a list of
/// what is held: a claim is refused exactly when it is empty or its page-rounded end overflows (`BadRange`),
/// shares a page with the framework's (`FrameworkOwned`, for a driver), or overlaps a driver's bytes (a
/// driver's) or pages (the framework's) (`Busy`); then no two drivers' bytes overlap and no driver shares a
/// page with the framework; `framework_holds` is "inside one framework range, page-rounded"; the pool hands
/// back only regions given back unused, of the size asked, each once, and counts every quarantined page.
pub fn devmem(data: &[u8]) {
    let mut input = Input::new(data);
    let mut claims = Claims::new();
    let mut held: Vec<(ClaimId, Holder, u64, u64)> = Vec::new();
    let mut pool = DmaPool::new();
    let mut free: Vec<(u64, usize)> = Vec::new();
    let mut quarantined = 0usize;
    while !input.is_empty() {
        let op = input.u8();
        let start = if op & 0x80 != 0 {
            u64::MAX - u64::from(input.u16())
        } else {
            0xFEB0_0000 + u64::from(input.u16() % 0x4000)
        };
        let len = u64::from(input.u16() % 0x2400);
        match op % 5 {
            0 | 1 => {
                let holder = if op.is_multiple_of(5) {
                    Holder::Framework
                } else {
                    Holder::Driver
                };
                let expected = model_claim(&held, start, len, holder);
                match (claims.claim(start, len, holder), expected) {
                    (Ok(id), Ok((s, e))) => held.push((id, holder, s, e)),
                    (Err(got), Err(allowed)) => assert!(
                        allowed.contains(&got),
                        "claim {start:#x}+{len:#x} by {holder:?}: {got:?}, expected one of {allowed:?}"
                    ),
                    (got, want) => panic!("claim {start:#x}+{len:#x} by {holder:?}: {got:?}, expected {want:?}"),
                }
            }
            2 if !held.is_empty() => {
                let (id, ..) = held.swap_remove(input.below(held.len()));
                claims.release(id);
            }
            3 => {
                let expected = start.checked_add(len).is_some_and(|end| {
                    held.iter()
                        .any(|&(_, h, s, e)| h == Holder::Framework && s <= start && end <= e)
                });
                assert_eq!(claims.framework_holds(start, len), expected);
            }
            _ => {
                let pages = 1 + input.below(3);
                if input.bool() {
                    let addr = 0x100_0000 + u64::from(input.u16()) * PAGE_SIZE;
                    let given = input.bool();
                    pool.give_back(addr, pages, given);
                    if given {
                        quarantined += pages;
                    } else {
                        free.push((addr, pages));
                    }
                } else {
                    match pool.take(pages) {
                        Some(addr) => {
                            let i = free
                                .iter()
                                .position(|&r| r == (addr, pages))
                                .expect("the pool handed out a region it was not given unused");
                            free.swap_remove(i);
                        }
                        None => assert!(
                            !free.iter().any(|r| r.1 == pages),
                            "a free region of {pages} pages held back"
                        ),
                    }
                }
                assert_eq!(pool.quarantined_pages(), quarantined);
            }
        }
        for (i, a) in held.iter().enumerate() {
            for b in &held[i + 1..] {
                let bytes = a.2 < b.3 && b.2 < a.3;
                let pages = |x: &(ClaimId, Holder, u64, u64)| (x.2 & !(PAGE_SIZE - 1), x.3.next_multiple_of(PAGE_SIZE));
                let ((pa, pe), (pb, pf)) = (pages(a), pages(b));
                match (a.1, b.1) {
                    (Holder::Driver, Holder::Driver) => assert!(!bytes, "two drivers hold {a:?} and {b:?}"),
                    (Holder::Framework, Holder::Framework) => {}
                    _ => assert!(
                        !(pa < pf && pb < pe),
                        "a driver shares a page with the framework: {a:?} {b:?}"
                    ),
                }
            }
        }
    }
}

/// What a claim should give: the range recorded (page-rounded for the framework), or the errors it may give
/// (a range that clashes with both the framework and a driver may be refused for either).
fn model_claim(
    held: &[(ClaimId, Holder, u64, u64)],
    start: u64,
    len: u64,
    holder: Holder,
) -> Result<(u64, u64), Vec<ClaimError>> {
    let bad = || vec![ClaimError::BadRange];
    let end = start.checked_add(len).filter(|_| len > 0).ok_or_else(bad)?;
    let last = end.checked_next_multiple_of(PAGE_SIZE).ok_or_else(bad)?;
    let first = start & !(PAGE_SIZE - 1);
    let mut errors = Vec::new();
    for &(_, h, s, e) in held {
        let pages = first < e && s < last;
        let bytes = start < e && s < end;
        let error = match (h, holder) {
            (Holder::Framework, Holder::Driver) if pages => ClaimError::FrameworkOwned,
            (Holder::Driver, Holder::Framework) if pages => ClaimError::Busy,
            (Holder::Driver, Holder::Driver) if bytes => ClaimError::Busy,
            _ => continue,
        };
        errors.push(error);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(match holder {
        Holder::Framework => (first, last),
        Holder::Driver => (start, end),
    })
}
