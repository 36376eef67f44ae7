use super::*;

fn listing(names: &[(&str, Ino)]) -> Vec<(Vec<u8>, Ino)> {
    names.iter().map(|(n, i)| (n.as_bytes().to_vec(), *i)).collect()
}

#[test]
fn an_empty_cache_knows_nothing() {
    let c = Dcache::new(10);
    assert_eq!(c.lookup(2, b"a"), Lookup::Unknown);
    assert!(c.is_empty());
}

#[test]
fn lookups_and_negative_entries() {
    let mut c = Dcache::new(10);
    c.set(2, b"a", Some(12));
    c.set(2, b"b", None);
    assert_eq!(c.lookup(2, b"a"), Lookup::Found(12));
    assert_eq!(c.lookup(2, b"b"), Lookup::Absent);
    assert_eq!(c.lookup(2, b"c"), Lookup::Unknown);
    assert_eq!(c.lookup(3, b"a"), Lookup::Unknown);
    assert_eq!(c.len(), 2);
    // Creating the absent name replaces the negative entry.
    c.set(2, b"b", Some(13));
    assert_eq!(c.lookup(2, b"b"), Lookup::Found(13));
    assert_eq!(c.len(), 2);
}

#[test]
fn a_complete_directory_answers_absent_for_unlisted_names() {
    let mut c = Dcache::new(10);
    c.fill(2, listing(&[(".", 2), ("..", 2), ("x", 11)]));
    assert!(c.is_complete(2));
    assert_eq!(c.lookup(2, b"x"), Lookup::Found(11));
    assert_eq!(c.lookup(2, b"y"), Lookup::Absent);
    // Unlink: the name goes, absence stays implied.
    c.set(2, b"x", None);
    assert_eq!(c.lookup(2, b"x"), Lookup::Absent);
    assert_eq!(c.len(), 2);
    // Create: found again.
    c.set(2, b"y", Some(14));
    assert_eq!(c.lookup(2, b"y"), Lookup::Found(14));
    assert_eq!(c.len(), 3);
}

#[test]
fn forgetting_a_name_makes_the_directory_incomplete() {
    let mut c = Dcache::new(10);
    c.fill(2, listing(&[("x", 11)]));
    c.forget(2, b"y");
    assert!(!c.is_complete(2));
    assert_eq!(c.lookup(2, b"y"), Lookup::Unknown);
    assert_eq!(c.lookup(2, b"x"), Lookup::Found(11));
    c.forget(2, b"x");
    assert_eq!(c.lookup(2, b"x"), Lookup::Unknown);
    assert!(c.is_empty());
}

#[test]
fn forgetting_a_directory() {
    let mut c = Dcache::new(10);
    c.fill(5, listing(&[("a", 6), ("b", 7)]));
    c.set(2, b"d", Some(5));
    c.forget_dir(5);
    assert_eq!(c.lookup(5, b"a"), Lookup::Unknown);
    assert_eq!(c.lookup(2, b"d"), Lookup::Found(5));
    assert_eq!(c.len(), 1);
}

#[test]
fn refilling_replaces_the_old_listing() {
    let mut c = Dcache::new(10);
    c.fill(2, listing(&[("a", 6), ("b", 7)]));
    c.fill(2, listing(&[("c", 8)]));
    assert_eq!(c.lookup(2, b"a"), Lookup::Absent);
    assert_eq!(c.lookup(2, b"c"), Lookup::Found(8));
    assert_eq!(c.len(), 1);
}

#[test]
fn the_size_is_bounded_by_dropping_directories() {
    let mut c = Dcache::new(4);
    c.fill(2, listing(&[("a", 6), ("b", 7)]));
    c.fill(3, listing(&[("c", 8), ("d", 9)]));
    assert_eq!(c.len(), 4);
    c.set(4, b"e", Some(10));
    assert!(c.len() <= 4);
    assert_eq!(c.lookup(2, b"a"), Lookup::Unknown);
    assert_eq!(c.lookup(4, b"e"), Lookup::Found(10));
    for i in 0..100 {
        c.set(10 + i, b"n", None);
        assert!(c.len() <= 4);
    }
}

#[test]
fn a_listing_too_large_is_not_kept() {
    let mut c = Dcache::new(4);
    c.set(2, b"a", Some(6));
    c.fill(2, listing(&[("a", 6), ("b", 7), ("c", 8)]));
    assert!(!c.is_complete(2));
    assert_eq!(c.lookup(2, b"a"), Lookup::Unknown);
    assert!(c.is_empty());
}
