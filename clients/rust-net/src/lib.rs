//! The protocol both load-test servers speak: a small HTTP/1.1 with keep-alive (the default) and
//! `Connection: close`.
//!
//! | request | response body |
//! |---|---|
//! | `GET /bytes/N` | N bytes of [`pattern`] (N ≤ [`MAX_BODY`]) |
//! | `POST /echo` with `Content-Length: L` | the L bytes sent (L ≤ [`MAX_BODY`]) |
//! | `GET /mem` | the guest's `MemFree` in KiB, in decimal, and a newline |
//! | `GET /quit` | `bye\n`; the server then prints its counters and exits with status 0 |
//!
//! Anything else gets `400 Bad Request` (or `413` for a body over [`MAX_BODY`]) and the connection is closed,
//! as is every connection whose head exceeds [`MAX_HEAD`].
#![forbid(unsafe_code)]

/// The longest request head a server reads (request line and headers).
pub const MAX_HEAD: usize = 8192;
/// The largest body a request may send or ask for.
pub const MAX_BODY: usize = 4 << 20;
/// The TCP port both servers listen on (all addresses).
pub const PORT: u16 = 8080;

/// Byte `i` of every `/bytes/N` body: position-dependent, so lost, repeated or reordered bytes show.
pub fn pattern(i: usize) -> u8 {
    ((i % 251) as u8) ^ ((i >> 12) as u8)
}

/// Fills `buf` with the pattern bytes from position `start` on.
pub fn fill_pattern(start: usize, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(start + k);
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /bytes/N`.
    Bytes(usize),
    /// `POST /echo` with a body of this many bytes.
    Echo(usize),
    /// `GET /mem`.
    Mem,
    /// `GET /quit`.
    Quit,
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// What is asked.
    pub route: Route,
    /// Whether the connection stays open after the response (HTTP/1.1 without `Connection: close`).
    pub keep_alive: bool,
}

/// Why a head was refused: the status line to answer before closing.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A malformed head or an unknown route.
    BadRequest,
    /// A body over [`MAX_BODY`].
    TooLarge,
}

impl Refusal {
    /// The whole response (it closes the connection).
    pub fn response(&self) -> &'static [u8] {
        match self {
            Refusal::BadRequest => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Refusal::TooLarge => b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        }
    }
}

/// Parses a request head (everything up to and including the empty line).
pub fn parse_head(head: &[u8]) -> Result<Request, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let mut lines = text.split("\r\n");
    let mut words = lines.next().unwrap_or("").split(' ');
    let (method, path, version) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(m), Some(p), Some(v), None) => (m, p, v),
        _ => return Err(Refusal::BadRequest),
    };
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(Refusal::BadRequest),
    };
    let mut length = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(Refusal::BadRequest)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| Refusal::BadRequest)?;
            length = Some(n);
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = value.eq_ignore_ascii_case("keep-alive");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::BadRequest);
        }
    }
    let route = match (method, path) {
        ("GET", "/mem") => Route::Mem,
        ("GET", "/quit") => Route::Quit,
        ("POST", "/echo") => Route::Echo(length.ok_or(Refusal::BadRequest)?),
        ("GET", p) => {
            let n: usize = p
                .strip_prefix("/bytes/")
                .and_then(|n| n.parse().ok())
                .ok_or(Refusal::BadRequest)?;
            Route::Bytes(n)
        }
        _ => return Err(Refusal::BadRequest),
    };
    if let Route::Bytes(n) | Route::Echo(n) = route
        && n > MAX_BODY
    {
        return Err(Refusal::TooLarge);
    }
    if method == "GET" && length.is_some_and(|n| n > 0) {
        return Err(Refusal::BadRequest);
    }
    Ok(Request { route, keep_alive })
}

/// The response head for a `200 OK` with a body of `length` bytes.
pub fn ok_head(length: usize, keep_alive: bool) -> String {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: {connection}\r\n\r\n")
}

/// Whether `line` (as `read_until(b'\n')` gives it) ends a head.
pub fn is_end_of_head(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// The guest's `MemFree` in KiB, from `/proc/meminfo` (0 when it cannot be read).
pub fn memfree_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemFree:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A server's counters, printed when it quits.
#[derive(Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: std::sync::atomic::AtomicU64,
    /// Requests answered.
    pub requests: std::sync::atomic::AtomicU64,
    /// Connections that ended in an error or mid-request.
    pub cut_short: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// `N connections, N requests, N cut short`.
    pub fn summary(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        format!(
            "{} connections, {} requests, {} cut short",
            self.connections.load(Relaxed),
            self.requests.load(Relaxed),
            self.cut_short.load(Relaxed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes_and_keep_alive() {
        let r = parse_head(b"GET /bytes/17 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request {
                route: Route::Bytes(17),
                keep_alive: true
            }
        );
        let r = parse_head(b"POST /echo HTTP/1.1\r\ncontent-length: 5\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request {
                route: Route::Echo(5),
                keep_alive: false
            }
        );
        assert!(!parse_head(b"GET /mem HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    }

    #[test]
    fn refuses_bad_heads() {
        for head in [
            &b"GET /bytes/x HTTP/1.1\r\n\r\n"[..],
            b"POST /echo HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET /mem HTTP/2\r\n\r\n",
            b"GET /mem HTTP/1.1\r\nbroken\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"\xff\r\n\r\n",
        ] {
            assert_eq!(parse_head(head), Err(Refusal::BadRequest), "{head:?}");
        }
        assert_eq!(
            parse_head(b"GET /bytes/99999999 HTTP/1.1\r\n\r\n"),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn pattern_changes_within_and_across_pages() {
        assert_ne!(pattern(0), pattern(251 * 17));
        assert_ne!(pattern(1), pattern(2));
        let mut buf = [0u8; 8];
        fill_pattern(4096, &mut buf);
        assert_eq!(buf[0], pattern(4096));
    }
}
