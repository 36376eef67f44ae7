use super::*;
use alloc::vec;

fn feed(ld: &mut LineDiscipline, input: &[u8]) -> (Vec<u8>, Vec<Signal>) {
    let mut echo = Vec::new();
    let mut signals = Vec::new();
    for &b in input {
        if let Some(s) = ld.input(b, &mut echo) {
            signals.push(s);
        }
    }
    (echo, signals)
}

fn read_all(ld: &mut LineDiscipline) -> ReadResult {
    let mut buf = [0u8; 64];
    ld.read(&mut buf)
}

#[test]
fn canonical_line_with_carriage_return() {
    let mut ld = LineDiscipline::new();
    let (echo, sig) = feed(&mut ld, b"ls\r");
    assert_eq!(echo, b"ls\r\n");
    assert!(sig.is_empty());
    assert!(ld.readable());
    let mut buf = [0u8; 8];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(3));
    assert_eq!(&buf[..3], b"ls\n");
    assert_eq!(ld.read(&mut buf), ReadResult::Empty);
}

#[test]
fn partial_line_reads_keep_the_rest() {
    let mut ld = LineDiscipline::new();
    feed(&mut ld, b"hello\n");
    let mut buf = [0u8; 2];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(2));
    assert_eq!(ld.available(), 4);
    let mut rest = [0u8; 8];
    assert_eq!(ld.read(&mut rest), ReadResult::Data(4));
    assert_eq!(&rest[..4], b"llo\n");
}

#[test]
fn erase_and_kill() {
    let mut ld = LineDiscipline::new();
    let (echo, _) = feed(&mut ld, b"ab\x7fc\n");
    assert_eq!(echo, b"ab\x08 \x08c\r\n");
    let mut buf = [0u8; 8];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(3));
    assert_eq!(&buf[..3], b"ac\n");
    feed(&mut ld, b"xyz\x15ok\n");
    assert_eq!(ld.read(&mut buf), ReadResult::Data(3));
    assert_eq!(&buf[..3], b"ok\n");
    // Erasing past the start of the line does nothing.
    let (echo, _) = feed(&mut ld, b"\x7f\x08");
    assert!(echo.is_empty());
}

#[test]
fn erase_removes_a_whole_utf8_character() {
    let mut ld = LineDiscipline::new();
    feed(&mut ld, "aé\x7f\n".as_bytes());
    let mut buf = [0u8; 8];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(2));
    assert_eq!(&buf[..2], b"a\n");
}

#[test]
fn word_erase() {
    let mut ld = LineDiscipline::new();
    feed(&mut ld, b"echo hello \x17x\n");
    let mut buf = [0u8; 16];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(7));
    assert_eq!(&buf[..7], b"echo x\n");
}

#[test]
fn eof_on_empty_line_and_after_text() {
    let mut ld = LineDiscipline::new();
    feed(&mut ld, b"abc\x04");
    let mut buf = [0u8; 8];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(3));
    assert_eq!(ld.read(&mut buf), ReadResult::Empty);
    feed(&mut ld, b"\x04");
    assert!(ld.readable());
    assert_eq!(ld.read(&mut buf), ReadResult::Data(0));
}

#[test]
fn signal_characters_flush_and_echo() {
    let mut ld = LineDiscipline::new();
    let (echo, sig) = feed(&mut ld, b"partial\x03");
    assert_eq!(sig, vec![Signal::Interrupt]);
    assert!(echo.ends_with(b"^C"));
    assert!(!ld.readable());
    feed(&mut ld, b"\n");
    assert_eq!(read_all(&mut ld), ReadResult::Data(1));
    let (_, sig) = feed(&mut ld, b"\x1c\x1a");
    assert_eq!(sig, vec![Signal::Quit, Signal::Suspend]);
    assert_eq!(Signal::Suspend.number(), 20);
}

#[test]
fn raw_mode_without_echo() {
    let mut ld = LineDiscipline::new();
    let mut t = ld.termios();
    t.lflag &= !(lflag::ICANON | lflag::ECHO);
    ld.set_termios(t, false);
    let (echo, _) = feed(&mut ld, b"q\x7f");
    assert!(echo.is_empty());
    let mut buf = [0u8; 8];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(2));
    assert_eq!(&buf[..2], b"q\x7f");
    assert_eq!(ld.read(&mut buf), ReadResult::Empty);
    assert_eq!(ld.read_timeout_ns(), None);
    t.cc[cc::VMIN] = 0;
    ld.set_termios(t, false);
    assert_eq!(ld.read(&mut buf), ReadResult::Data(0));
    t.cc[cc::VTIME] = 5;
    ld.set_termios(t, false);
    assert_eq!(ld.read(&mut buf), ReadResult::Empty);
    assert_eq!(ld.read_timeout_ns(), Some(500_000_000));
}

#[test]
fn mode_switch_keeps_typed_input() {
    let mut ld = LineDiscipline::new();
    feed(&mut ld, b"ab");
    let mut t = ld.termios();
    t.lflag &= !lflag::ICANON;
    ld.set_termios(t, false);
    assert_eq!(ld.available(), 2);
    ld.set_termios(t, true);
    assert_eq!(ld.available(), 0);
}

#[test]
fn output_processing() {
    let mut ld = LineDiscipline::new();
    let mut out = Vec::new();
    ld.output(b"a\nb", &mut out);
    assert_eq!(out, b"a\r\nb");
    let mut t = ld.termios();
    t.oflag &= !oflag::OPOST;
    ld.set_termios(t, false);
    out.clear();
    ld.output(b"a\n", &mut out);
    assert_eq!(out, b"a\n");
}

#[test]
fn termios_bytes_round_trip_and_defaults() {
    let t = Termios::default();
    let b = t.to_bytes();
    assert_eq!(Termios::from_bytes(&b), t);
    assert_eq!(t.lflag, 0x8a3b);
    assert_eq!(t.iflag, 0x500);
    assert_eq!(t.oflag, 0x5);
    assert_eq!(t.cflag, 0x4bf);
    assert_eq!(b[17 + cc::VMIN], 1);
}

#[test]
fn echoctl_shows_control_characters() {
    let mut ld = LineDiscipline::new();
    let (echo, _) = feed(&mut ld, b"\x01\t");
    assert_eq!(echo, b"^A\t");
}

#[test]
fn long_lines_are_cut() {
    let mut ld = LineDiscipline::new();
    let long = vec![b'x'; MAX_LINE + 10];
    feed(&mut ld, &long);
    feed(&mut ld, b"\n");
    assert_eq!(ld.available(), MAX_LINE + 1);
}

#[test]
fn canonical_input_is_bounded_like_linux_buffer() {
    // Found by fuzzing (`fuzz/corpus/tty/flood`): a flood of newlines or ^D queued lines without limit, so a
    // hostile serial line could grow the kernel heap until an allocation failed.
    let mut ld = LineDiscipline::new();
    let mut echo = Vec::new();
    for _ in 0..10_000 {
        ld.input(b'\n', &mut echo);
        ld.input(4, &mut echo);
    }
    assert_eq!(ld.available(), MAX_RAW / 2);
    // Full: ordinary bytes and line ends are dropped until a reader makes room.
    ld.input(b'x', &mut echo);
    ld.input(b'\n', &mut echo);
    assert_eq!(ld.available(), MAX_RAW / 2);
    let mut buf = [0u8; 8];
    assert_eq!(ld.read(&mut buf), ReadResult::Data(1));
    assert_eq!(ld.read(&mut buf), ReadResult::Data(0));
    ld.input(b'x', &mut echo);
    ld.input(b'\n', &mut echo);
    let mut total = 0;
    while let ReadResult::Data(n) = ld.read(&mut buf) {
        total += n;
        if !ld.readable() {
            break;
        }
    }
    assert_eq!(total, MAX_RAW / 2 - 1 + 2);
}

#[test]
fn a_long_line_can_still_be_ended_when_the_buffer_is_full() {
    let mut ld = LineDiscipline::new();
    let mut echo = Vec::new();
    for _ in 0..3 {
        for _ in 0..2000 {
            ld.input(b'y', &mut echo);
        }
        ld.input(b'\n', &mut echo);
    }
    // Two lines of 2001 bytes, then 93 more bytes fit with room left for the newline that ends them.
    assert_eq!(ld.available(), 2001 * 2 + 93 + 1);
    assert_eq!(ld.available(), MAX_RAW);
}
