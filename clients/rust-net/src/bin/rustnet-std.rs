//! The std load-test server: `rust_net`'s protocol on port 8080, a thread per connection, blocking I/O.

#![forbid(unsafe_code)]

use rust_net::{Counters, MAX_HEAD, PORT, Refusal, Request, Route};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread;
use std::time::Duration;

/// How long a connection may stay silent.
const IDLE: Duration = Duration::from_secs(60);

/// How a connection's loop ended without an I/O error.
enum End {
    /// The peer closed between requests, or the server closed after a response.
    Closed,
    /// The peer closed in the middle of a request.
    CutShort,
    /// A `/quit` was answered.
    Quit,
}

fn main() {
    // std sets SO_REUSEADDR on Unix listeners.
    let listener = match TcpListener::bind(("0.0.0.0", PORT)) {
        Ok(l) => l,
        Err(e) => {
            println!("rustnet-std: cannot listen on {PORT}: {e}");
            std::process::exit(100);
        }
    };
    println!(
        "rustnet-std: listening on {PORT}, MemFree {} KiB",
        rust_net::memfree_kib()
    );
    let counters = Arc::new(Counters::default());
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                println!("rustnet-std: accept: {e}");
                std::process::exit(101);
            }
        };
        counters.connections.fetch_add(1, Relaxed);
        let counters = counters.clone();
        thread::spawn(move || match serve(&conn, &counters) {
            Ok(End::Quit) => {
                println!("rustnet-std: quit after {}", counters.summary());
                std::process::exit(0);
            }
            Ok(End::Closed) => {}
            Ok(End::CutShort) | Err(_) => {
                counters.cut_short.fetch_add(1, Relaxed);
            }
        });
    }
}

/// Serves one connection's requests until it closes.
fn serve(conn: &TcpStream, counters: &Counters) -> io::Result<End> {
    // A peer silent this long is gone (a reset the guest never saw).
    conn.set_read_timeout(Some(IDLE))?;
    let mut reader = BufReader::new(conn);
    let mut writer = conn;
    let mut head = Vec::new();
    loop {
        head.clear();
        // The head, line by line (a line may arrive in pieces; `read_until` keeps reading).
        loop {
            let start = head.len();
            let limit = (MAX_HEAD + 1 - start) as u64;
            let n = (&mut reader).take(limit).read_until(b'\n', &mut head)?;
            if n == 0 {
                return Ok(if head.is_empty() { End::Closed } else { End::CutShort });
            }
            if head.len() > MAX_HEAD {
                writer.write_all(Refusal::BadRequest.response())?;
                return close(conn);
            }
            if rust_net::is_end_of_head(&head[start..]) {
                break;
            }
        }
        let request: Request = match rust_net::parse_head(&head) {
            Ok(r) => r,
            Err(refusal) => {
                writer.write_all(refusal.response())?;
                return close(conn);
            }
        };
        match request.route {
            Route::Bytes(n) => {
                writer.write_all(rust_net::ok_head(n, request.keep_alive).as_bytes())?;
                let mut chunk = vec![0u8; n.min(64 * 1024)];
                let mut sent = 0;
                while sent < n {
                    let len = chunk.len().min(n - sent);
                    rust_net::fill_pattern(sent, &mut chunk[..len]);
                    writer.write_all(&chunk[..len])?;
                    sent += len;
                }
            }
            Route::Echo(n) => {
                // The whole body first: a client may send all of it before reading.
                let mut body = vec![0u8; n];
                if let Err(e) = reader.read_exact(&mut body) {
                    return if e.kind() == io::ErrorKind::UnexpectedEof {
                        Ok(End::CutShort)
                    } else {
                        Err(e)
                    };
                }
                writer.write_all(rust_net::ok_head(n, request.keep_alive).as_bytes())?;
                writer.write_all(&body)?;
            }
            Route::Mem => {
                let body = format!("{}\n", rust_net::memfree_kib());
                writer.write_all(rust_net::ok_head(body.len(), request.keep_alive).as_bytes())?;
                writer.write_all(body.as_bytes())?;
            }
            Route::Quit => {
                writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbye\n")?;
                counters.requests.fetch_add(1, Relaxed);
                close(conn)?;
                return Ok(End::Quit);
            }
        }
        counters.requests.fetch_add(1, Relaxed);
        if !request.keep_alive {
            return close(conn);
        }
    }
}

/// Closes as a server should after its last response: shuts the sending side down (the peer reads the end of
/// the stream after the response) and drains what the peer still sends until it closes too.
fn close(conn: &TcpStream) -> io::Result<End> {
    conn.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 4096];
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    while (&*conn).read(&mut sink)? > 0 {}
    Ok(End::Closed)
}
