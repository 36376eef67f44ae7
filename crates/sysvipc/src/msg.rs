//! Message queues: typed messages in order, `msgrcv`'s type selection (`0`, `> 0`, `< 0`, `MSG_EXCEPT`),
//! `MSG_NOERROR`, and the byte limit of a queue.

use crate::Error;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// `MSGMAX`: the longest message.
pub const MSGMAX: usize = 8192;
/// `MSGMNB`: a new queue's byte limit.
pub const MSGMNB: usize = 16384;
/// `MSGMNI`: the most queues.
pub const MSGMNI: usize = 32000;
/// `MSG_NOERROR`: truncate a message longer than the buffer instead of failing with `E2BIG`.
pub const MSG_NOERROR: i32 = 0o10000;
/// `MSG_EXCEPT`: with a positive type, the first message of any other type.
pub const MSG_EXCEPT: i32 = 0o20000;

/// A message queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Queue {
    msgs: VecDeque<(i64, Vec<u8>)>,
    /// Bytes in the queue.
    pub cbytes: usize,
    /// The most bytes (and messages) it holds.
    pub qbytes: usize,
    /// Process of the last `msgsnd`.
    pub lspid: u32,
    /// Process of the last `msgrcv`.
    pub lrpid: u32,
    /// Time of the last `msgsnd`.
    pub stime: i64,
    /// Time of the last `msgrcv`.
    pub rtime: i64,
    /// Time of the last change.
    pub ctime: i64,
}

impl Queue {
    /// A new empty queue holding `MSGMNB` bytes.
    pub fn new(now: i64) -> Queue {
        Queue {
            qbytes: MSGMNB,
            ctime: now,
            ..Queue::default()
        }
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// `msgsnd`: `EINVAL` for a type below 1 or a message over `MSGMAX`; `EAGAIN` when the queue is full
    /// (the caller waits unless `IPC_NOWAIT`).
    pub fn send(&mut self, mtype: i64, text: Vec<u8>, pid: u32, now: i64) -> Result<(), Error> {
        if mtype < 1 || text.len() > MSGMAX {
            return Err(Error::Invalid);
        }
        if self.cbytes + text.len() > self.qbytes || self.msgs.len() + 1 > self.qbytes {
            return Err(Error::Again);
        }
        self.cbytes += text.len();
        self.msgs.push_back((mtype, text));
        self.lspid = pid;
        self.stime = now;
        Ok(())
    }

    /// `msgrcv` into a buffer of `max` bytes: the type and text of the message `mtype` and `flags` select.
    /// `ENOMSG` when there is none (the caller waits unless `IPC_NOWAIT`); `E2BIG` when it is longer than
    /// `max` without `MSG_NOERROR` (it stays queued).
    pub fn receive(&mut self, mtype: i64, max: usize, flags: i32, pid: u32, now: i64) -> Result<(i64, Vec<u8>), Error> {
        let index = if mtype == 0 {
            (!self.msgs.is_empty()).then_some(0)
        } else if mtype > 0 && flags & MSG_EXCEPT != 0 {
            self.msgs.iter().position(|m| m.0 != mtype)
        } else if mtype > 0 {
            self.msgs.iter().position(|m| m.0 == mtype)
        } else {
            let limit = mtype.checked_neg().unwrap_or(i64::MAX);
            let lowest = self.msgs.iter().map(|m| m.0).filter(|&t| t <= limit).min();
            lowest.and_then(|l| self.msgs.iter().position(|m| m.0 == l))
        };
        let index = index.ok_or(Error::NoMessage)?;
        if self.msgs[index].1.len() > max && flags & MSG_NOERROR == 0 {
            return Err(Error::TooBig);
        }
        let (t, mut text) = self.msgs.remove(index).ok_or(Error::NoMessage)?;
        self.cbytes -= text.len();
        text.truncate(max);
        self.lrpid = pid;
        self.rtime = now;
        Ok((t, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn types_select_messages() {
        let mut q = Queue::new(0);
        for (t, b) in [(3, b'a'), (1, b'b'), (2, b'c'), (1, b'd')] {
            q.send(t, vec![b], 9, 1).unwrap();
        }
        assert_eq!(q.receive(1, 8, 0, 4, 2), Ok((1, vec![b'b'])));
        assert_eq!(q.receive(1, 8, MSG_EXCEPT, 4, 2), Ok((3, vec![b'a'])));
        assert_eq!(q.receive(-3, 8, 0, 4, 2), Ok((1, vec![b'd'])));
        assert_eq!(q.receive(5, 8, 0, 4, 2), Err(Error::NoMessage));
        assert_eq!(q.receive(0, 8, 0, 4, 2), Ok((2, vec![b'c'])));
        assert!(q.is_empty() && q.cbytes == 0 && q.lrpid == 4);
        assert_eq!(q.receive(i64::MIN, 8, 0, 4, 2), Err(Error::NoMessage));
    }

    #[test]
    fn size_limits_and_noerror() {
        let mut q = Queue::new(0);
        assert_eq!(q.send(0, vec![1], 1, 1), Err(Error::Invalid));
        assert_eq!(q.send(1, vec![0; MSGMAX + 1], 1, 1), Err(Error::Invalid));
        q.send(1, vec![7; 10], 1, 1).unwrap();
        assert_eq!(q.receive(0, 4, 0, 2, 2), Err(Error::TooBig));
        assert_eq!(q.len(), 1);
        assert_eq!(q.receive(0, 4, MSG_NOERROR, 2, 2), Ok((1, vec![7; 4])));
        q.qbytes = 16;
        q.send(1, vec![0; 10], 1, 1).unwrap();
        assert_eq!(q.send(1, vec![0; 10], 1, 1), Err(Error::Again));
        assert_eq!(q.cbytes, 10);
    }
}
