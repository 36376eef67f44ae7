//! The virtio-vsock protocol (`ember-vsock`).

use crate::input::Input;
use ember_vsock::{
    CID_HOST, ConnId, EVENT_LEN, Event, HEADER_LEN, Header, MAX_PAYLOAD, Mux, Op, PORT_ANY, State, TYPE_STREAM,
    parse_event, parse_packet,
};

const GUEST: u64 = 3;

/// Input: a script of peer packets (raw buffers, as a device would write them, and well-formed headers with
/// any fields) and guest calls (connect, listen, accept, send, receive, shutdown, close, transport reset).
/// Checks: `parse_packet` accepts a buffer exactly when it holds a stream header of a known operation and
/// its payload, and the header encodes back to the bytes; `parse_event` accepts the same buffers exactly when
/// they are 4 bytes long, a transport reset exactly when they are zero; every packet queued comes from the guest's
/// current CID, carries at most 4 KiB with a matching `len`; a send never queues more than the peer's credit
/// or the data given, a receive never more than asked or buffered; no connection buffers more than it offered.
pub fn vsock(data: &[u8]) {
    let mut input = Input::new(data);
    let mut mux = Mux::new(GUEST);
    let mut conns: Vec<ConnId> = Vec::new();
    let mut cid = GUEST;
    while !input.is_empty() {
        let step = input.u8();
        match step % 9 {
            0 => {
                let n = input.u8() as usize;
                let raw = input.bytes(n);
                check_parse(raw);
                check_event(raw);
                if let Ok((h, payload)) = parse_packet(raw) {
                    let _ = mux.receive(&h, payload);
                }
            }
            1 => {
                let op = [
                    Op::Request,
                    Op::Response,
                    Op::Rst,
                    Op::Shutdown,
                    Op::Rw,
                    Op::CreditUpdate,
                    Op::CreditRequest,
                ][input.u8() as usize % 7];
                let len = (input.u8() as usize) * 64;
                let h = Header {
                    src_cid: if input.bool() { CID_HOST } else { input.u64() },
                    dst_cid: cid,
                    src_port: u32::from(input.u8() % 4) + 5000,
                    dst_port: u32::from(input.u8() % 4) + 6000,
                    len: len as u32,
                    ty: TYPE_STREAM,
                    op,
                    flags: input.u32(),
                    buf_alloc: input.u32(),
                    fwd_cnt: input.u32(),
                };
                let payload = vec![0x5a; len];
                let _ = mux.receive(&h, &payload);
            }
            2 => {
                let peer = u32::from(input.u8() % 4) + 5000;
                if let Ok(port) = mux.bind(PORT_ANY)
                    && let Ok(id) = mux.connect(port, CID_HOST, peer)
                {
                    conns.push(id);
                }
            }
            3 => {
                let port = u32::from(input.u8() % 4) + 6000;
                mux.listen(port, usize::from(input.u8() % 4));
            }
            4 => {
                let port = u32::from(input.u8() % 4) + 6000;
                if let Some(id) = mux.accept(port) {
                    assert_eq!(id.local_port, port);
                    conns.push(id);
                }
            }
            5..=7 if !conns.is_empty() => {
                let id = conns[input.u8() as usize % conns.len()];
                match step % 9 {
                    5 => {
                        let n = (input.u8() as usize) * 97;
                        let credit = mux.conn(id).map_or(0, |c| c.credit());
                        let state = mux.conn(id).map(|c| c.state());
                        if let Ok(sent) = mux.send(id, &vec![1u8; n]) {
                            assert!(
                                sent <= n && sent <= credit as usize,
                                "sent {sent} of {n} with credit {credit}"
                            );
                            assert_eq!(state, Some(State::Connected));
                            assert_eq!(drain(&mut mux, cid), sent);
                        }
                    }
                    6 => {
                        let max = input.u8() as usize * 300;
                        let had = mux.conn(id).map_or(0, |c| c.available());
                        if let Ok(d) = mux.recv(id, max, input.bool()) {
                            assert!(d.len() <= max && d.len() <= had);
                        }
                    }
                    _ => {
                        if input.bool() {
                            let _ = mux.shutdown(id, input.u32());
                        } else {
                            mux.close(id);
                            conns.retain(|&c| c != id);
                        }
                    }
                }
            }
            8 => {
                cid = u64::from(input.u8());
                mux.transport_reset(cid);
                assert!(!mux.has_out());
            }
            _ => {}
        }
        for &id in &conns {
            if let Some(c) = mux.conn(id) {
                assert!(c.available() <= ember_vsock::BUF_ALLOC as usize);
            }
        }
        drain(&mut mux, cid);
    }
}

/// Takes every queued packet, checking it; returns the payload bytes.
fn drain(mux: &mut Mux, cid: u64) -> usize {
    let mut bytes = 0;
    while let Some(p) = mux.pop_out() {
        assert_eq!(p.header.src_cid, cid);
        assert_eq!(p.header.len as usize, p.payload.len());
        assert!(p.payload.len() <= MAX_PAYLOAD);
        assert!(p.header.op == Op::Rw || p.payload.is_empty());
        bytes += p.payload.len();
    }
    bytes
}

fn check_event(raw: &[u8]) {
    match parse_event(raw) {
        Some(e) => {
            assert_eq!(raw.len(), EVENT_LEN);
            assert_eq!(e == Event::TransportReset, raw == [0; EVENT_LEN]);
        }
        None => assert_ne!(raw.len(), EVENT_LEN),
    }
}

fn check_parse(raw: &[u8]) {
    let well_formed = raw.len() >= HEADER_LEN
        && u32::from_le_bytes([raw[24], raw[25], raw[26], raw[27]]) as usize <= raw.len() - HEADER_LEN
        && u16::from_le_bytes([raw[28], raw[29]]) == TYPE_STREAM
        && (1..=7).contains(&u16::from_le_bytes([raw[30], raw[31]]));
    match parse_packet(raw) {
        Ok((h, payload)) => {
            assert!(well_formed);
            assert_eq!(payload.len(), h.len as usize);
            assert_eq!(&h.encode()[..], &raw[..HEADER_LEN]);
        }
        Err(_) => assert!(!well_formed),
    }
}
