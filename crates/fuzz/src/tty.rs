//! The terminal line discipline (`ember-tty`).

use crate::input::Input;
use ember_tty::{LineDiscipline, MAX_RAW, ReadResult, TERMIOS_SIZE, Termios, lflag};

/// Input: operations on one line discipline: typed bytes, reads of any size, new settings (with or without a
/// flush), flushes, program output. Checks: pending input never exceeds Linux's 4 KiB buffer; a read returns
/// at most what fits, takes exactly that from what is pending, and in canonical mode at most one line (unless
/// non-canonical input was pending when canonical mode came on); a read
/// waits exactly when `readable` says so; nothing is echoed with ECHO and ECHONL off; a signal comes only from
/// its control character with ISIG on; settings survive the trip through user space's bytes.
pub fn tty(data: &[u8]) {
    let mut input = Input::new(data);
    let mut ld = LineDiscipline::new();
    // Input typed in non-canonical mode and still pending when canonical mode comes on joins the line being
    // edited, newlines and all (Linux pushes it as one line): from then until a flush, a read may hold newlines.
    let mut mixed = false;
    while !input.is_empty() {
        match input.u8() % 8 {
            0 => {
                let bytes: [u8; TERMIOS_SIZE] = std::array::from_fn(|_| input.u8());
                let t = Termios::from_bytes(&bytes);
                assert_eq!(t.to_bytes(), bytes);
                let (was_canonical, pending, flush) = (canonical(&ld), ld.available(), input.bool());
                ld.set_termios(t, flush);
                mixed = !flush && (mixed || !was_canonical && canonical(&ld) && pending > 0);
                assert_eq!(ld.termios(), t);
            }
            1 => {
                let mut buf = vec![0u8; input.below(5000)];
                let (before, readable, canonical) = (ld.available(), ld.readable(), canonical(&ld));
                match ld.read(&mut buf) {
                    ReadResult::Data(n) => {
                        assert!(readable, "data from a terminal that was not readable");
                        assert!(
                            n <= buf.len() && n <= before && ld.available() == before - n,
                            "read {n} of {before}"
                        );
                        if canonical && !mixed && n > 1 {
                            let inside = &buf[..n - 1];
                            assert!(
                                !inside.contains(&b'\n'),
                                "one read returned more than a line: {inside:?}"
                            );
                        }
                    }
                    ReadResult::Empty => assert!(!readable, "a readable terminal made a reader wait"),
                }
            }
            2 => {
                ld.flush_input();
                mixed = false;
            }
            3 => {
                let n = input.below(64);
                let mut out = Vec::new();
                let data = input.bytes(n);
                ld.output(data, &mut out);
                assert!(out.len() >= data.len() && out.len() <= 2 * data.len());
            }
            _ => {
                let n = input.below(64);
                for &b in input.bytes(n) {
                    let t = ld.termios();
                    let mut echo = Vec::new();
                    let signal = ld.input(b, &mut echo);
                    if t.lflag & (lflag::ECHO | lflag::ECHONL) == 0 {
                        assert!(echo.is_empty(), "echo {echo:?} with ECHO off");
                    }
                    if signal.is_some() {
                        assert!(t.lflag & lflag::ISIG != 0, "{signal:?} without ISIG");
                    }
                }
            }
        }
        assert!(ld.available() <= MAX_RAW, "{} bytes pending", ld.available());
    }
}

fn canonical(ld: &LineDiscipline) -> bool {
    ld.termios().lflag & lflag::ICANON != 0
}
