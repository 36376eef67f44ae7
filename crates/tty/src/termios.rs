//! `struct termios` as the TCGETS/TCSETS ioctls exchange it (36 bytes on x86-64), with Linux's defaults.

/// Input flags (`c_iflag`).
pub mod iflag {
    /// Strip the eighth bit.
    pub const ISTRIP: u32 = 0o40;
    /// Newline → carriage return.
    pub const INLCR: u32 = 0o100;
    /// Ignore carriage return.
    pub const IGNCR: u32 = 0o200;
    /// Carriage return → newline.
    pub const ICRNL: u32 = 0o400;
    /// XON/XOFF output flow control (accepted, not acted on).
    pub const IXON: u32 = 0o2000;
}

/// Output flags (`c_oflag`).
pub mod oflag {
    /// Process output.
    pub const OPOST: u32 = 0o1;
    /// Newline → carriage return, newline.
    pub const ONLCR: u32 = 0o4;
    /// Carriage return → newline.
    pub const OCRNL: u32 = 0o10;
}

/// Local flags (`c_lflag`).
pub mod lflag {
    /// Signal characters.
    pub const ISIG: u32 = 0o1;
    /// Canonical mode (line editing).
    pub const ICANON: u32 = 0o2;
    /// Echo input.
    pub const ECHO: u32 = 0o10;
    /// Erase echoes as backspace, space, backspace.
    pub const ECHOE: u32 = 0o20;
    /// Kill erases the line on screen.
    pub const ECHOK: u32 = 0o40;
    /// Echo newline even without ECHO.
    pub const ECHONL: u32 = 0o100;
    /// Do not flush input on signal characters.
    pub const NOFLSH: u32 = 0o200;
    /// Echo control characters as `^X`.
    pub const ECHOCTL: u32 = 0o1000;
    /// Kill erases each character (accepted; erasing is what ECHOK does here).
    pub const ECHOKE: u32 = 0o4000;
    /// Extended input processing (accepted).
    pub const IEXTEN: u32 = 0o100000;
}

/// Indices into `c_cc`.
pub mod cc {
    /// Interrupt (^C).
    pub const VINTR: usize = 0;
    /// Quit (^\).
    pub const VQUIT: usize = 1;
    /// Erase a character (DEL).
    pub const VERASE: usize = 2;
    /// Erase the line (^U).
    pub const VKILL: usize = 3;
    /// End of file (^D).
    pub const VEOF: usize = 4;
    /// Non-canonical read timeout (tenths of a second).
    pub const VTIME: usize = 5;
    /// Non-canonical read minimum.
    pub const VMIN: usize = 6;
    /// Suspend (^Z).
    pub const VSUSP: usize = 10;
    /// Extra end of line.
    pub const VEOL: usize = 11;
    /// Erase a word (^W).
    pub const VWERASE: usize = 14;
    /// Second extra end of line.
    pub const VEOL2: usize = 16;
    /// Number of control characters.
    pub const NCCS: usize = 19;
}

/// The size of `struct termios` on x86-64.
pub const TERMIOS_SIZE: usize = 36;

/// Terminal settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termios {
    /// Input flags.
    pub iflag: u32,
    /// Output flags.
    pub oflag: u32,
    /// Control flags (kept, not acted on).
    pub cflag: u32,
    /// Local flags.
    pub lflag: u32,
    /// Line discipline number (kept).
    pub line: u8,
    /// Control characters.
    pub cc: [u8; cc::NCCS],
}

impl Default for Termios {
    /// Linux's settings for a new terminal (`tty_std_termios`).
    fn default() -> Self {
        Termios {
            iflag: iflag::ICRNL | iflag::IXON,
            oflag: oflag::OPOST | oflag::ONLCR,
            // B38400 | CS8 | CREAD | HUPCL
            cflag: 0o000017 | 0o000060 | 0o000200 | 0o002000,
            lflag: lflag::ISIG
                | lflag::ICANON
                | lflag::ECHO
                | lflag::ECHOE
                | lflag::ECHOK
                | lflag::ECHOCTL
                | lflag::ECHOKE
                | lflag::IEXTEN,
            line: 0,
            // ^C ^\ DEL ^U ^D VTIME=0 VMIN=1 - ^Q ^S ^Z - ^R ^O ^W ^V -
            cc: [
                3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0, 0,
            ],
        }
    }
}

impl Termios {
    /// The settings as user space sees them.
    pub fn to_bytes(&self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_ne_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_ne_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_ne_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_ne_bytes());
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    /// Settings from user space's bytes.
    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut cc = [0u8; cc::NCCS];
        cc.copy_from_slice(&b[17..]);
        Termios {
            iflag: word(0),
            oflag: word(4),
            cflag: word(8),
            lflag: word(12),
            line: b[16],
            cc,
        }
    }
}
