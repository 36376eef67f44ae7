//! The terminal line discipline, as Linux's `n_tty` does it for the common flags: a pure state machine fed
//! with input bytes, which says what to echo, which signal to raise, and what a reader gets.
//!
//! Kept: `c_iflag` ISTRIP, INLCR, IGNCR, ICRNL; `c_oflag` OPOST with ONLCR and OCRNL; `c_lflag` ISIG, ICANON,
//! ECHO, ECHOE, ECHOK, ECHONL, ECHOCTL, NOFLSH; the control characters VINTR, VQUIT, VSUSP, VEOF, VEOL, VERASE,
//! VWERASE, VKILL, VMIN, VTIME. Non-canonical reads return as soon as one byte is there (any VMIN above 0
//! counts as 1); with VMIN=0 a read waits at most VTIME tenths of a second ([`LineDiscipline::read_timeout_ns`]),
//! not at all when VTIME is 0.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod termios;

pub use termios::{TERMIOS_SIZE, Termios, cc, iflag, lflag, oflag};

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The longest line canonical mode keeps (Linux's `N_TTY_BUF_SIZE` less one for the newline).
pub const MAX_LINE: usize = 4095;
/// Input kept for readers, as Linux's `N_TTY_BUF_SIZE`: bytes in non-canonical mode; in canonical mode bytes of
/// the completed lines and the line being edited, an empty end-of-file line counting as one. Input past it is
/// dropped.
pub const MAX_RAW: usize = 4096;

/// A signal a control character raises for the terminal's foreground process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// VINTR (^C): `SIGINT`.
    Interrupt,
    /// VQUIT (^\): `SIGQUIT`.
    Quit,
    /// VSUSP (^Z): `SIGTSTP`.
    Suspend,
}

impl Signal {
    /// The Linux signal number.
    pub fn number(self) -> u32 {
        match self {
            Signal::Interrupt => 2,
            Signal::Quit => 3,
            Signal::Suspend => 20,
        }
    }
}

/// What a read finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// `n` bytes were copied (0 is end of file: ^D on an empty line, or VMIN=0 with nothing typed).
    Data(usize),
    /// Nothing to read yet: the reader waits.
    Empty,
}

/// One terminal's line discipline state.
#[derive(Debug, Clone)]
pub struct LineDiscipline {
    termios: Termios,
    /// The line being edited (canonical mode).
    line: Vec<u8>,
    /// Completed lines, each with its newline (or without, when ended by VEOF; empty = end of file).
    lines: VecDeque<Vec<u8>>,
    /// Bytes for non-canonical readers.
    raw: VecDeque<u8>,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        LineDiscipline::new()
    }
}

impl LineDiscipline {
    /// A line discipline with Linux's default termios.
    pub fn new() -> LineDiscipline {
        LineDiscipline {
            termios: Termios::default(),
            line: Vec::new(),
            lines: VecDeque::new(),
            raw: VecDeque::new(),
        }
    }

    /// The current settings.
    pub fn termios(&self) -> Termios {
        self.termios
    }

    /// Changes the settings; `flush` discards pending input first (TCSETSF). Input typed in one mode stays
    /// readable in the other.
    pub fn set_termios(&mut self, termios: Termios, flush: bool) {
        if flush {
            self.flush_input();
        }
        let was_canonical = self.canonical();
        self.termios = termios;
        match (was_canonical, self.canonical()) {
            (true, false) => {
                for l in self.lines.drain(..) {
                    self.raw.extend(l);
                }
                self.raw.extend(self.line.drain(..));
            }
            (false, true) => self.line.extend(self.raw.drain(..)),
            _ => {}
        }
    }

    /// Discards all pending input (TCFLSH, or a signal character without NOFLSH).
    pub fn flush_input(&mut self) {
        self.line.clear();
        self.lines.clear();
        self.raw.clear();
    }

    fn canonical(&self) -> bool {
        self.termios.lflag & lflag::ICANON != 0
    }

    fn is_cc(&self, byte: u8, index: usize) -> bool {
        let c = self.termios.cc[index];
        c != 0 && c == byte
    }

    /// Takes one typed byte. Echo (already output-processed) is appended to `echo`; a signal character returns
    /// the signal to raise for the foreground process group.
    pub fn input(&mut self, byte: u8, echo: &mut Vec<u8>) -> Option<Signal> {
        let t = self.termios;
        let mut c = byte;
        if t.iflag & iflag::ISTRIP != 0 {
            c &= 0x7f;
        }
        match c {
            b'\r' if t.iflag & iflag::IGNCR != 0 => return None,
            b'\r' if t.iflag & iflag::ICRNL != 0 => c = b'\n',
            b'\n' if t.iflag & iflag::INLCR != 0 => c = b'\r',
            _ => {}
        }
        if t.lflag & lflag::ISIG != 0 {
            let signal = if self.is_cc(c, cc::VINTR) {
                Some(Signal::Interrupt)
            } else if self.is_cc(c, cc::VQUIT) {
                Some(Signal::Quit)
            } else if self.is_cc(c, cc::VSUSP) {
                Some(Signal::Suspend)
            } else {
                None
            };
            if let Some(signal) = signal {
                if t.lflag & lflag::NOFLSH == 0 {
                    self.flush_input();
                }
                self.echo_char(c, echo);
                return Some(signal);
            }
        }
        if !self.canonical() {
            if self.raw.len() < MAX_RAW {
                self.raw.push_back(c);
            }
            self.echo_char(c, echo);
            return None;
        }
        if self.is_cc(c, cc::VERASE) || c == 0x08 || c == 0x7f {
            if self.erase_char() && t.lflag & lflag::ECHO != 0 && t.lflag & lflag::ECHOE != 0 {
                self.output(b"\x08 \x08", echo);
            }
        } else if self.is_cc(c, cc::VWERASE) {
            let mut n = 0;
            while self.line.last().is_some_and(|b| *b == b' ' || *b == b'\t') && self.erase_char() {
                n += 1;
            }
            while self.line.last().is_some_and(|b| *b != b' ' && *b != b'\t') && self.erase_char() {
                n += 1;
            }
            self.echo_erase(n, echo);
        } else if self.is_cc(c, cc::VKILL) {
            let mut n = 0;
            while self.erase_char() {
                n += 1;
            }
            if t.lflag & lflag::ECHOK != 0 || t.lflag & lflag::ECHOE != 0 {
                self.echo_erase(n, echo);
            }
        } else if self.is_cc(c, cc::VEOF) {
            if self.line.is_empty() && self.canonical_pending() >= MAX_RAW {
                return None;
            }
            let line = core::mem::take(&mut self.line);
            self.lines.push_back(line);
        } else if c == b'\n' || self.is_cc(c, cc::VEOL) || self.is_cc(c, cc::VEOL2) {
            if self.canonical_pending() >= MAX_RAW {
                return None;
            }
            let mut line = core::mem::take(&mut self.line);
            line.push(c);
            self.lines.push_back(line);
            if t.lflag & (lflag::ECHO | lflag::ECHONL) != 0 {
                self.output(&[c], echo);
            }
        } else if self.line.len() < MAX_LINE && self.canonical_pending() + 2 <= MAX_RAW {
            // The last slot stays free for the byte that ends the line.
            self.line.push(c);
            self.echo_char(c, echo);
        }
        None
    }

    /// Canonical-mode input held, as counted against [`MAX_RAW`].
    fn canonical_pending(&self) -> usize {
        self.line.len() + self.lines.iter().map(|l| l.len().max(1)).sum::<usize>()
    }

    /// Removes the last character of the line being edited (all bytes of a UTF-8 sequence); whether there
    /// was one.
    fn erase_char(&mut self) -> bool {
        while let Some(b) = self.line.pop() {
            if b & 0xC0 != 0x80 {
                return true;
            }
        }
        false
    }

    fn echo_erase(&self, chars: usize, echo: &mut Vec<u8>) {
        if self.termios.lflag & lflag::ECHO != 0 {
            for _ in 0..chars {
                self.output(b"\x08 \x08", echo);
            }
        }
    }

    /// Echoes a typed character: control characters as `^X` with ECHOCTL (except tab and newline).
    fn echo_char(&self, c: u8, echo: &mut Vec<u8>) {
        let t = self.termios;
        if t.lflag & lflag::ECHO == 0 {
            return;
        }
        if t.lflag & lflag::ECHOCTL != 0 && (c < 0x20 || c == 0x7f) && c != b'\t' && c != b'\n' {
            echo.extend_from_slice(&[b'^', c ^ 0x40]);
        } else {
            self.output(&[c], echo);
        }
    }

    /// Whether a read would return now (data or end of file).
    pub fn readable(&self) -> bool {
        if self.canonical() {
            !self.lines.is_empty()
        } else {
            !self.raw.is_empty() || self.nonblocking_raw()
        }
    }

    /// How long a read may wait for input before returning 0: `Some` only in non-canonical mode with VMIN=0
    /// and VTIME above 0 (VTIME tenths of a second).
    pub fn read_timeout_ns(&self) -> Option<u64> {
        let (vmin, vtime) = (self.termios.cc[cc::VMIN], self.termios.cc[cc::VTIME]);
        (!self.canonical() && vmin == 0 && vtime > 0).then_some(vtime as u64 * 100_000_000)
    }

    fn nonblocking_raw(&self) -> bool {
        self.termios.cc[cc::VMIN] == 0 && self.termios.cc[cc::VTIME] == 0
    }

    /// Bytes a read could return now (FIONREAD).
    pub fn available(&self) -> usize {
        if self.canonical() {
            self.lines.iter().map(Vec::len).sum()
        } else {
            self.raw.len()
        }
    }

    /// Reads into `buf`: in canonical mode at most one line.
    pub fn read(&mut self, buf: &mut [u8]) -> ReadResult {
        if self.canonical() {
            let Some(mut line) = self.lines.pop_front() else {
                return ReadResult::Empty;
            };
            let n = line.len().min(buf.len());
            buf[..n].copy_from_slice(&line[..n]);
            if n < line.len() {
                line.drain(..n);
                self.lines.push_front(line);
            }
            ReadResult::Data(n)
        } else if self.raw.is_empty() {
            if self.nonblocking_raw() {
                ReadResult::Data(0)
            } else {
                ReadResult::Empty
            }
        } else {
            let n = self.raw.len().min(buf.len());
            for (dst, src) in buf.iter_mut().zip(self.raw.drain(..n)) {
                *dst = src;
            }
            ReadResult::Data(n)
        }
    }

    /// Appends `data` to `out` as the terminal shows program output (OPOST: ONLCR, OCRNL).
    pub fn output(&self, data: &[u8], out: &mut Vec<u8>) {
        let o = self.termios.oflag;
        if o & oflag::OPOST == 0 {
            out.extend_from_slice(data);
            return;
        }
        for &b in data {
            match b {
                b'\n' if o & oflag::ONLCR != 0 => out.extend_from_slice(b"\r\n"),
                b'\r' if o & oflag::OCRNL != 0 => out.push(b'\n'),
                _ => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests;
