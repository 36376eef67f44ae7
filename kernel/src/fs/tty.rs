//! The serial console as a terminal: [`ember_tty`]'s line discipline between the UART and programs, the
//! foreground process group, the window size, and the terminal ioctls.
//!
//! Input is processed as it arrives, by a kernel task the console interrupt wakes, so that ^C reaches the
//! foreground process group even when nobody reads.

use super::poll;
use crate::process::{current_pgid, signal_pending, signal_process_group};
use crate::syscall::errno::{Errno, SysResult};
use crate::syscall::uaccess;
use alloc::vec::Vec;
use ember_frame::console;
use ember_frame::sync::Mutex;
use ember_frame::task::{Task, WaitQueue};
use ember_tty::{LineDiscipline, ReadResult, TERMIOS_SIZE, Termios};
use linux_raw_sys::general::{POLLIN, POLLOUT};
use linux_raw_sys::ioctl::{
    FIONREAD, TCFLSH, TCGETS, TCSBRK, TCSETS, TCSETSF, TCSETSW, TCXONC, TIOCGPGRP, TIOCGWINSZ, TIOCNOTTY, TIOCSCTTY,
    TIOCSPGRP, TIOCSWINSZ,
};
use spin::Once;

/// A terminal.
pub struct Tty {
    ldisc: Mutex<LineDiscipline>,
    /// Readers waiting for input.
    readers: WaitQueue,
    /// The foreground process group (`None` until the first open).
    foreground: Mutex<Option<u32>>,
    /// `struct winsize`: rows, columns, x pixels, y pixels.
    winsize: Mutex<[u16; 4]>,
}

static CONSOLE: Once<Tty> = Once::new();
/// The input task waits here; the console interrupt wakes it.
static INPUT: WaitQueue = WaitQueue::new();

/// The console terminal.
pub fn console() -> &'static Tty {
    CONSOLE.call_once(|| Tty {
        ldisc: Mutex::new(LineDiscipline::new()),
        readers: WaitQueue::new(),
        foreground: Mutex::new(None),
        winsize: Mutex::new([24, 80, 0, 0]),
    })
}

/// Starts taking console input: registers the interrupt's waker and spawns the task that feeds the line
/// discipline.
pub fn start() {
    static STARTED: Once<()> = Once::new();
    STARTED.call_once(|| {
        console::set_input_waker(|| INPUT.wake_all());
        if Task::spawn(input_task, ()).is_err() {
            log::warn!("tty: no task for console input; the console is output-only");
        }
    });
}

fn input_task() {
    loop {
        let byte = INPUT.wait_until(console::try_read_byte);
        console().receive(byte);
    }
}

impl Tty {
    /// Takes one byte typed on the terminal.
    fn receive(&self, byte: u8) {
        let mut echo = Vec::new();
        let signal = self.ldisc.lock().input(byte, &mut echo);
        if !echo.is_empty() {
            console::write_bytes(&echo);
        }
        if let Some(signal) = signal {
            let foreground = *self.foreground.lock();
            if let Some(pgid) = foreground {
                signal_process_group(pgid, signal.number());
            }
        }
        self.readers.wake_all();
        poll::notify();
    }

    /// Called on every open: the first opener's process group becomes the foreground one.
    pub fn opened(&self) {
        let mut fg = self.foreground.lock();
        if fg.is_none() {
            *fg = Some(current_pgid());
        }
    }

    /// Reads input as the line discipline delivers it, waiting for some unless `nonblock` (or for at most
    /// VTIME with VMIN=0).
    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self
            .ldisc
            .lock()
            .read_timeout_ns()
            .map(|t| ember_frame::time::now_ns().saturating_add(t));
        let read = self.readers.wait_until_deadline(
            || match self.ldisc.lock().read(buf) {
                ReadResult::Data(n) => Some(Ok(n)),
                ReadResult::Empty if nonblock => Some(Err(Errno::EAGAIN)),
                ReadResult::Empty if signal_pending() => Some(Err(Errno::EINTR)),
                ReadResult::Empty => None,
            },
            deadline,
        );
        // Only a VTIME wait has a deadline: when it passes, the read returns nothing.
        read.unwrap_or(Ok(0))
    }

    /// Writes program output (with output processing); never waits.
    pub fn write(&self, data: &[u8]) -> usize {
        let mut out = Vec::with_capacity(data.len() + data.len() / 8);
        self.ldisc.lock().output(data, &mut out);
        console::write_bytes(&out);
        data.len()
    }

    /// `poll` events.
    pub fn poll(&self) -> u32 {
        if self.ldisc.lock().readable() {
            POLLIN | POLLOUT
        } else {
            POLLOUT
        }
    }

    /// The terminal ioctls; `ENOTTY` for others.
    pub fn ioctl(&self, cmd: u32, arg: u64) -> SysResult {
        match cmd {
            TCGETS => {
                let t = self.ldisc.lock().termios();
                uaccess::write_bytes(arg, &t.to_bytes())?;
            }
            TCSETS | TCSETSW | TCSETSF => {
                let mut b = [0u8; TERMIOS_SIZE];
                uaccess::read_bytes(arg, &mut b)?;
                self.ldisc.lock().set_termios(Termios::from_bytes(&b), cmd == TCSETSF);
                self.readers.wake_all();
            }
            TIOCGWINSZ => {
                let ws = *self.winsize.lock();
                let mut b = [0u8; 8];
                for (chunk, v) in b.chunks_exact_mut(2).zip(ws) {
                    chunk.copy_from_slice(&v.to_ne_bytes());
                }
                uaccess::write_bytes(arg, &b)?;
            }
            TIOCSWINSZ => {
                let mut b = [0u8; 8];
                uaccess::read_bytes(arg, &mut b)?;
                let mut ws = [0u16; 4];
                for (v, chunk) in ws.iter_mut().zip(b.chunks_exact(2)) {
                    *v = u16::from_ne_bytes([chunk[0], chunk[1]]);
                }
                *self.winsize.lock() = ws;
            }
            TIOCGPGRP => {
                let fg = self.foreground.lock().unwrap_or_else(current_pgid);
                uaccess::write_u32(arg, fg)?;
            }
            TIOCSPGRP => {
                let pgid = uaccess::read_u32(arg)?;
                if pgid as i32 <= 0 {
                    return Err(Errno::EINVAL);
                }
                *self.foreground.lock() = Some(pgid);
            }
            FIONREAD => uaccess::write_u32(arg, self.ldisc.lock().available() as u32)?,
            // TCIFLUSH (0) and TCIOFLUSH (2) discard input; output is never queued.
            TCFLSH => {
                if arg == 0 || arg == 2 {
                    self.ldisc.lock().flush_input();
                }
            }
            TIOCSCTTY | TIOCNOTTY | TCSBRK | TCXONC => {}
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }
}
