//! Pipes: a bounded byte queue between readers and writers, for `pipe(2)` and named FIFOs.

use super::poll;
use crate::process::signal_pending;
use crate::syscall::errno::Errno;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use ember_frame::sync::Mutex;
use ember_frame::task::WaitQueue;
use linux_raw_sys::general::{POLLERR, POLLHUP, POLLIN, POLLOUT};

/// Bytes a pipe holds (Linux's default, 16 pages).
pub const CAPACITY: usize = 65536;
/// Writes up to this size are atomic: all or nothing.
pub const PIPE_BUF: usize = 4096;

struct State {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
    /// Counts opens for writing, so that a FIFO reader waiting in `open` sees a writer that came and went.
    writer_opens: u64,
    reader_opens: u64,
}

/// A pipe's buffer and its ends' counts.
pub struct Pipe {
    state: Mutex<State>,
    /// Readers waiting for data (or for the last writer to go).
    readable: WaitQueue,
    /// Writers waiting for room (or for the last reader to go), and FIFO opens waiting for a peer.
    writable: WaitQueue,
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe::new()
    }
}

/// One open end (or both, for a FIFO opened read-write). Dropping it closes it.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
}

impl Pipe {
    /// An empty pipe with no ends.
    pub fn new() -> Pipe {
        Pipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                readers: 0,
                writers: 0,
                writer_opens: 0,
                reader_opens: 0,
            }),
            readable: WaitQueue::new(),
            writable: WaitQueue::new(),
        }
    }

    fn changed(&self) {
        self.readable.wake_all();
        self.writable.wake_all();
        poll::notify();
    }

    /// Opens an end.
    pub fn open(self: &Arc<Self>, read: bool, write: bool) -> PipeEnd {
        {
            let mut st = self.state.lock();
            if read {
                st.readers += 1;
                st.reader_opens += 1;
            }
            if write {
                st.writers += 1;
                st.writer_opens += 1;
            }
        }
        self.changed();
        PipeEnd {
            pipe: self.clone(),
            read,
            write,
        }
    }

    /// A FIFO's `open`: a reader waits for a writer and a writer for a reader, unless `nonblock` (a writer
    /// then fails with `ENXIO` when nobody reads).
    pub fn open_fifo(self: &Arc<Self>, read: bool, write: bool, nonblock: bool) -> Result<PipeEnd, Errno> {
        let end = self.open(read, write);
        if read && write {
            return Ok(end);
        }
        let (opens_before, peers) = {
            let st = self.state.lock();
            if read {
                (st.writer_opens, st.writers)
            } else {
                (st.reader_opens, st.readers)
            }
        };
        if peers > 0 || (nonblock && read) {
            return Ok(end);
        }
        if nonblock {
            return Err(Errno::ENXIO);
        }
        self.writable.wait_until(|| {
            let st = self.state.lock();
            let opens = if read { st.writer_opens } else { st.reader_opens };
            if opens != opens_before {
                Some(Ok(()))
            } else if signal_pending() {
                Some(Err(Errno::EINTR))
            } else {
                None
            }
        })?;
        Ok(end)
    }
}

impl PipeEnd {
    /// Reads what is there (waiting for some unless `nonblock`); 0 at end of file (no writers left).
    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let p = &self.pipe;
        let r = p.readable.wait_until(|| {
            let mut st = p.state.lock();
            if !st.buf.is_empty() || buf.is_empty() {
                let n = buf.len().min(st.buf.len());
                for (dst, src) in buf.iter_mut().zip(st.buf.drain(..n)) {
                    *dst = src;
                }
                Some(Ok(n))
            } else if st.writers == 0 {
                Some(Ok(0))
            } else if nonblock {
                Some(Err(Errno::EAGAIN))
            } else if signal_pending() {
                Some(Err(Errno::EINTR))
            } else {
                None
            }
        });
        p.changed();
        r
    }

    /// Writes all of `data` (waiting for room unless `nonblock`). Writes of at most [`PIPE_BUF`] bytes are
    /// atomic. With no reader: `EPIPE` (the caller raises `SIGPIPE`), or the count written before.
    pub fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let p = &self.pipe;
        let mut written = 0;
        p.writable.wait_until(|| {
            let mut st = p.state.lock();
            if st.readers == 0 {
                return Some(if written > 0 { Ok(written) } else { Err(Errno::EPIPE) });
            }
            let room = CAPACITY - st.buf.len();
            let left = data.len() - written;
            if room >= left || (data.len() > PIPE_BUF && room > 0) {
                let n = room.min(left);
                st.buf.extend(&data[written..written + n]);
                written += n;
                drop(st);
                p.readable.wake_all();
                poll::notify();
            }
            if written == data.len() {
                Some(Ok(written))
            } else if nonblock || signal_pending() {
                Some(match written {
                    0 if nonblock => Err(Errno::EAGAIN),
                    0 => Err(Errno::EINTR),
                    n => Ok(n),
                })
            } else {
                None
            }
        })
    }

    /// Bytes waiting (FIONREAD).
    pub fn available(&self) -> usize {
        self.pipe.state.lock().buf.len()
    }

    /// `poll` events: readable, writable, hung up, error.
    pub fn poll(&self) -> u32 {
        let st = self.pipe.state.lock();
        let mut events = 0;
        if self.read {
            if !st.buf.is_empty() {
                events |= POLLIN;
            }
            if st.writers == 0 && st.writer_opens > 0 {
                events |= POLLHUP;
            }
        }
        if self.write {
            if st.readers == 0 {
                events |= POLLERR;
            } else if CAPACITY - st.buf.len() >= PIPE_BUF {
                events |= POLLOUT;
            }
        }
        events
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut st = self.pipe.state.lock();
            if self.read {
                st.readers -= 1;
            }
            if self.write {
                st.writers -= 1;
            }
            if st.readers == 0 {
                // Nobody can read what is left.
                st.buf.clear();
            }
        }
        self.pipe.changed();
    }
}
