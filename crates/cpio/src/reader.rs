//! Walking the entries of one or more concatenated archives.

use crate::header::{self, HEADER_LEN};
use crate::{CpioError, Entry, Format, detect_compression};

/// The name of the entry that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";

/// Iterates over the entries of `input`: one archive or several concatenated ones, separated by zero padding.
pub fn entries(input: &[u8]) -> Entries<'_> {
    Entries {
        input,
        pos: 0,
        state: State::BetweenArchives,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first archive or after a trailer: zeros are skipped, then an archive must start aligned.
    BetweenArchives,
    /// Inside an archive: the next entry header follows.
    InArchive,
    /// The input is exhausted or an error was returned.
    Done,
}

/// Iterator over the entries of concatenated cpio archives; see [`entries`]. Trailers are not yielded. After the
/// first error it yields nothing more.
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    input: &'a [u8],
    pos: usize,
    state: State,
}

impl<'a> Entries<'a> {
    /// The offset in the input where reading will continue.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Moves to the start of the next archive, skipping zero bytes; `Ok(false)` at the end of the input.
    fn skip_padding(&mut self) -> Result<bool, CpioError> {
        let rest = self.input.get(self.pos..).unwrap_or(&[]);
        let zeros = rest.iter().take_while(|&&b| b == 0).count();
        self.pos = self.pos.saturating_add(zeros);
        let rest = self.input.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(false);
        }
        if let Some(format) = detect_compression(rest) {
            return Err(CpioError::Compressed {
                offset: self.pos,
                format,
            });
        }
        if !self.pos.is_multiple_of(4) {
            return Err(CpioError::BrokenPadding { offset: self.pos });
        }
        Ok(true)
    }

    /// Reads the entry at `self.pos`, including trailers, and moves past it.
    fn read_entry(&mut self) -> Result<Entry<'a>, CpioError> {
        let start = self.pos;
        let truncated = CpioError::Truncated { offset: start };
        let rest = self.input.get(start..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(CpioError::MissingTrailer { offset: start });
        }
        if rest.len() < 6 {
            // A header cut inside its magic is a truncation, not a different magic.
            let valid_prefix = b"070701".starts_with(rest) || b"070702".starts_with(rest);
            return Err(if valid_prefix {
                truncated
            } else {
                CpioError::BadMagic { offset: start }
            });
        }
        let format = header::format_of(rest.get(..6).unwrap_or(rest), start)?;
        let bytes: &[u8; HEADER_LEN] = rest
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(truncated)?;
        let h = header::parse(bytes, start)?;

        let name_start = start.checked_add(HEADER_LEN).ok_or(truncated)?;
        let name_len = usize::try_from(h.name_size).map_err(|_| truncated)?;
        let name_end = name_start.checked_add(name_len).ok_or(truncated)?;
        let data_start = align4(name_end).ok_or(truncated)?;
        let data_len = usize::try_from(h.file_size).map_err(|_| truncated)?;
        let data_end = data_start.checked_add(data_len).ok_or(truncated)?;

        let name_with_nul = self
            .input
            .get(name_start..name_end)
            .ok_or(CpioError::Truncated { offset: name_start })?;
        if self.input.len() < data_start {
            return Err(CpioError::Truncated { offset: name_start });
        }
        let name = match name_with_nul.split_last() {
            Some((0, name)) if !name.contains(&0) => name,
            _ => return Err(CpioError::BadName { offset: name_start }),
        };
        let data = self
            .input
            .get(data_start..data_end)
            .ok_or(CpioError::Truncated { offset: data_start })?;

        let entry = Entry {
            format,
            offset: start,
            ino: h.ino,
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            nlink: h.nlink,
            mtime: h.mtime,
            dev_major: h.dev_major,
            dev_minor: h.dev_minor,
            rdev_major: h.rdev_major,
            rdev_minor: h.rdev_minor,
            check: h.check,
            name,
            data,
        };
        if format == Format::Crc && entry.is_file() {
            let actual = data.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)));
            if actual != h.check {
                return Err(CpioError::BadChecksum {
                    offset: start,
                    expected: h.check,
                    actual,
                });
            }
        }
        // The data's padding may be missing at the very end of the input.
        self.pos = align4(data_end).map_or(self.input.len(), |end| end.min(self.input.len()));
        Ok(entry)
    }

    fn step(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::BetweenArchives => {
                    if !self.skip_padding()? {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    self.state = State::InArchive;
                }
                State::InArchive => {
                    let entry = self.read_entry()?;
                    if entry.name == TRAILER {
                        self.state = State::BetweenArchives;
                    } else {
                        return Ok(Some(entry));
                    }
                }
            }
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(entry) => entry.map(Ok),
            Err(e) => {
                self.state = State::Done;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// `n` rounded up to a multiple of 4, if that fits.
fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}
