//! One stream connection: its state, received bytes, and both sides' credit (virtio 1.2 §5.10.6.3).
//!
//! The peer may send at most `buf_alloc - (bytes sent - fwd_cnt)` bytes, as last told: each side tells its
//! `buf_alloc` and `fwd_cnt` (bytes its application took, wrapping) in every packet it sends.

use crate::header::{Header, Op};
use crate::{BUF_ALLOC, MAX_PAYLOAD, SHUTDOWN_BOTH, SHUTDOWN_RCV, SHUTDOWN_SEND};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A request was sent; no answer yet.
    Connecting,
    /// Both sides may send.
    Connected,
    /// The peer answered the request with a reset.
    Refused,
    /// The peer reset it or shut it down both ways (received bytes stay readable).
    Closed,
    /// The transport was reset (`VIRTIO_VSOCK_EVENT_TRANSPORT_RESET`): the connection is gone.
    TransportReset,
}

/// A packet a connection wants sent: operation, flags, payload.
pub(crate) struct Reply {
    pub op: Op,
    pub flags: u32,
    pub payload: Vec<u8>,
}

impl Reply {
    pub(crate) fn control(op: Op, flags: u32) -> Reply {
        Reply {
            op,
            flags,
            payload: Vec::new(),
        }
    }
}

/// Why a call on a connection cannot go on now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnError {
    /// Not connected (yet, or refused).
    NotConnected,
    /// The transport was reset.
    Reset,
    /// Sending is shut down, or the peer is gone.
    Pipe,
    /// Nothing to read, or no credit to send: wait.
    WouldBlock,
}

/// One connection.
pub struct Connection {
    state: State,
    rx: VecDeque<u8>,
    /// Bytes the application took from `rx`, ever (wrapping).
    fwd_cnt: u32,
    /// `fwd_cnt` as last told to the peer.
    told_fwd_cnt: u32,
    peer_buf_alloc: u32,
    peer_fwd_cnt: u32,
    /// Bytes sent, ever (wrapping).
    tx_cnt: u32,
    /// A credit request is out and unanswered.
    asked_credit: bool,
    peer_shutdown: u32,
    local_shutdown: u32,
}

impl Connection {
    fn new(state: State) -> Connection {
        Connection {
            state,
            rx: VecDeque::new(),
            fwd_cnt: 0,
            told_fwd_cnt: 0,
            peer_buf_alloc: 0,
            peer_fwd_cnt: 0,
            tx_cnt: 0,
            asked_credit: false,
            peer_shutdown: 0,
            local_shutdown: 0,
        }
    }

    /// A connection whose request was just sent.
    pub(crate) fn connecting() -> Connection {
        Connection::new(State::Connecting)
    }

    /// A connection accepted from the peer's request `h`.
    pub(crate) fn accepted(h: &Header) -> Connection {
        let mut c = Connection::new(State::Connected);
        c.credit_from(h);
        c
    }

    /// Its state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Bytes received and not yet read.
    pub fn available(&self) -> usize {
        self.rx.len()
    }

    /// What the peer shut down (`SHUTDOWN_*` flags).
    pub fn peer_shutdown(&self) -> u32 {
        self.peer_shutdown
    }

    /// What this side shut down.
    pub fn local_shutdown(&self) -> u32 {
        self.local_shutdown
    }

    /// Bytes the peer can take now.
    pub fn credit(&self) -> u32 {
        let in_flight = self.tx_cnt.wrapping_sub(self.peer_fwd_cnt);
        self.peer_buf_alloc.saturating_sub(in_flight)
    }

    /// The `fwd_cnt` to put in a packet being sent (which tells it to the peer).
    pub(crate) fn tell_fwd_cnt(&mut self) -> u32 {
        self.told_fwd_cnt = self.fwd_cnt;
        self.fwd_cnt
    }

    /// Whether a read would not wait: bytes, end of stream, or an error.
    pub fn readable(&self) -> bool {
        !self.rx.is_empty() || self.state != State::Connected || self.peer_shutdown & SHUTDOWN_SEND != 0
    }

    /// Whether a send would not wait (also when it would fail at once).
    pub fn writable(&self) -> bool {
        self.state != State::Connecting && (self.state != State::Connected || self.credit() > 0 || self.send_closed())
    }

    fn send_closed(&self) -> bool {
        self.local_shutdown & SHUTDOWN_SEND != 0 || self.peer_shutdown & SHUTDOWN_RCV != 0
    }

    fn credit_from(&mut self, h: &Header) {
        self.peer_buf_alloc = h.buf_alloc;
        self.peer_fwd_cnt = h.fwd_cnt;
        self.asked_credit = false;
    }

    /// Takes packet `h` with `payload` from the peer; what to answer goes to `out`.
    pub(crate) fn receive(&mut self, h: &Header, payload: &[u8], out: &mut Vec<Reply>) {
        match self.state {
            State::Connecting => match h.op {
                Op::Response => {
                    self.credit_from(h);
                    self.state = State::Connected;
                }
                Op::Rst => self.state = State::Refused,
                _ => {
                    out.push(Reply::control(Op::Rst, 0));
                    self.state = State::Refused;
                }
            },
            State::Connected => {
                self.credit_from(h);
                match h.op {
                    Op::Rw => {
                        let room = (BUF_ALLOC as usize).saturating_sub(self.rx.len());
                        if payload.len() > room {
                            // The peer ignored the credit it was given.
                            out.push(Reply::control(Op::Rst, 0));
                            self.state = State::Closed;
                        } else if self.local_shutdown & SHUTDOWN_RCV == 0 {
                            self.rx.extend(payload);
                        } else {
                            // Nobody will read them: count them as taken so the peer's credit stays true.
                            self.fwd_cnt = self.fwd_cnt.wrapping_add(payload.len() as u32);
                        }
                    }
                    Op::CreditUpdate => {}
                    Op::CreditRequest => out.push(Reply::control(Op::CreditUpdate, 0)),
                    Op::Shutdown => {
                        self.peer_shutdown |= h.flags & SHUTDOWN_BOTH;
                        if self.peer_shutdown == SHUTDOWN_BOTH {
                            out.push(Reply::control(Op::Rst, 0));
                            self.state = State::Closed;
                        }
                    }
                    Op::Rst => self.state = State::Closed,
                    Op::Request | Op::Response => {
                        out.push(Reply::control(Op::Rst, 0));
                        self.state = State::Closed;
                    }
                }
            }
            State::Refused | State::Closed | State::TransportReset => {
                if h.op != Op::Rst {
                    out.push(Reply::control(Op::Rst, 0));
                }
            }
        }
    }

    /// Queues as much of `data` as the peer's credit allows, in packets of at most [`MAX_PAYLOAD`] bytes;
    /// returns how much. Without credit it asks for some (once) and gives `WouldBlock`.
    pub(crate) fn send(&mut self, data: &[u8], out: &mut Vec<Reply>) -> Result<usize, ConnError> {
        match self.state {
            State::Connected => {}
            State::Connecting | State::Refused => return Err(ConnError::NotConnected),
            State::Closed => return Err(ConnError::Pipe),
            State::TransportReset => return Err(ConnError::Reset),
        }
        if self.send_closed() {
            return Err(ConnError::Pipe);
        }
        let n = data.len().min(self.credit() as usize);
        if n == 0 && !data.is_empty() {
            if !self.asked_credit {
                self.asked_credit = true;
                out.push(Reply::control(Op::CreditRequest, 0));
            }
            return Err(ConnError::WouldBlock);
        }
        for chunk in data[..n].chunks(MAX_PAYLOAD) {
            out.push(Reply {
                op: Op::Rw,
                flags: 0,
                payload: chunk.to_vec(),
            });
        }
        self.tx_cnt = self.tx_cnt.wrapping_add(n as u32);
        Ok(n)
    }

    /// Takes (or, with `peek`, copies) up to `max` received bytes. An empty result is the end of the stream.
    /// Freed room is told to the peer when it amounts to a quarter of the buffer or the buffer ran empty.
    pub(crate) fn recv(&mut self, max: usize, peek: bool, out: &mut Vec<Reply>) -> Result<Vec<u8>, ConnError> {
        if self.rx.is_empty() {
            return match self.state {
                State::Connecting | State::Refused => Err(ConnError::NotConnected),
                State::TransportReset => Err(ConnError::Reset),
                State::Closed => Ok(Vec::new()),
                State::Connected if self.peer_shutdown & SHUTDOWN_SEND != 0 => Ok(Vec::new()),
                State::Connected if self.local_shutdown & SHUTDOWN_RCV != 0 => Ok(Vec::new()),
                State::Connected => Err(ConnError::WouldBlock),
            };
        }
        let n = max.min(self.rx.len());
        if peek {
            return Ok(self.rx.iter().take(n).copied().collect());
        }
        let data: Vec<u8> = self.rx.drain(..n).collect();
        self.fwd_cnt = self.fwd_cnt.wrapping_add(n as u32);
        let untold = self.fwd_cnt.wrapping_sub(self.told_fwd_cnt);
        if self.state == State::Connected && untold > 0 && (untold >= BUF_ALLOC / 4 || self.rx.is_empty()) {
            out.push(Reply::control(Op::CreditUpdate, 0));
        }
        Ok(data)
    }

    /// Shuts down receiving and/or sending (`SHUTDOWN_*` flags), telling the peer.
    pub(crate) fn shutdown(&mut self, how: u32, out: &mut Vec<Reply>) -> Result<(), ConnError> {
        match self.state {
            State::Connected => {}
            State::TransportReset => return Err(ConnError::Reset),
            State::Closed => {
                self.local_shutdown |= how & SHUTDOWN_BOTH;
                return Ok(());
            }
            State::Connecting | State::Refused => return Err(ConnError::NotConnected),
        }
        let new = how & SHUTDOWN_BOTH & !self.local_shutdown;
        if new != 0 {
            self.local_shutdown |= new;
            out.push(Reply::control(Op::Shutdown, self.local_shutdown));
        }
        Ok(())
    }

    /// The transport went away.
    pub(crate) fn transport_reset(&mut self) {
        self.state = State::TransportReset;
        self.rx.clear();
    }

    /// What closing the socket sends: a shutdown both ways when connected, a reset while connecting.
    pub(crate) fn close(&self) -> Option<Reply> {
        match self.state {
            State::Connected => Some(Reply::control(Op::Shutdown, SHUTDOWN_BOTH)),
            State::Connecting => Some(Reply::control(Op::Rst, 0)),
            _ => None,
        }
    }
}
