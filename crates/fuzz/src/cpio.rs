//! The initramfs reader (`ember-cpio`).

use ember_cpio::{CpioError, Entry, Format, entries};

/// Input: an archive. Checks: every entry's name and data lie within the input, after its header and in
/// order; a name holds no NUL; a `crc` file's data sums to its check field; at most one error, which ends the
/// walk, at an offset inside the input (or at its end). Then writes the entries it read into a fresh archive
/// with a writer of our own and reads that back: the same entries must come out.
pub fn cpio(data: &[u8]) {
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let within = |s: &[u8]| range.start <= s.as_ptr() as usize && s.as_ptr() as usize + s.len() <= range.end;
    let mut read: Vec<Entry> = Vec::new();
    let mut it = entries(data);
    let mut last_end = 0;
    while let Some(item) = it.next() {
        match item {
            Ok(e) => {
                assert!(
                    within(e.name) && within(e.data),
                    "entry at {} outside the input",
                    e.offset
                );
                let name_at = e.name.as_ptr() as usize - range.start;
                let data_at = e.data.as_ptr() as usize - range.start;
                assert!(
                    e.offset >= last_end && name_at == e.offset + 110,
                    "entry at {}",
                    e.offset
                );
                assert!(
                    data_at > name_at + e.name.len() && data_at.is_multiple_of(4),
                    "data of the entry at {}",
                    e.offset
                );
                assert!(!e.name.contains(&0));
                if e.format == Format::Crc && e.is_file() {
                    assert_eq!(e.data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b))), e.check);
                }
                last_end = data_at + e.data.len();
                read.push(e);
            }
            Err(err) => {
                assert!(err.offset() <= data.len(), "{err:?} past the end ({})", data.len());
                let _ = err.to_string();
                assert!(it.next().is_none(), "entries after an error");
                break;
            }
        }
        assert!(read.len() <= data.len() / 110, "more entries than headers fit");
    }
    let archive = write(&read);
    let again: Vec<Entry> = entries(&archive)
        .collect::<Result<_, CpioError>>()
        .expect("our own archive reads back");
    assert_eq!(again.len(), read.len());
    for (a, b) in read.iter().zip(&again) {
        assert_eq!(
            (a.name, a.data, a.mode, a.ino, a.nlink),
            (b.name, b.data, b.mode, b.ino, b.nlink)
        );
    }
}

/// A `newc` archive of `list`, padded as Linux's `gen_init_cpio` pads, with a trailer.
fn write(list: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer = [(&b"TRAILER!!!"[..], &b""[..], 0, 0, 1)];
    let all = list
        .iter()
        .map(|e| (e.name, e.data, e.mode, e.ino, e.nlink))
        .chain(trailer);
    for (name, data, mode, ino, nlink) in all {
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name);
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}
