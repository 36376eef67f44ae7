//! The tokio load-test server: `rust_net`'s protocol on port 8080, a task per connection on tokio's
//! multi-thread runtime (epoll, eventfd wake-ups and futexes underneath).

#![forbid(unsafe_code)]

use rust_net::{Counters, MAX_HEAD, PORT, Refusal, Route};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Runtime worker threads (more than the guest's CPUs, so they also contend).
const WORKERS: usize = 4;

/// How a connection's task ended without an I/O error.
enum End {
    /// The peer closed between requests, or the server closed after a response.
    Closed,
    /// The peer closed in the middle of a request.
    CutShort,
    /// A `/quit` was answered.
    Quit,
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_io()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            println!("rustnet-tokio: cannot start the runtime: {e}");
            std::process::exit(102);
        }
    };
    runtime.block_on(accept_loop());
}

/// Accepts connections forever, a task each.
async fn accept_loop() {
    // tokio sets SO_REUSEADDR on Unix listeners.
    let listener = match TcpListener::bind(("0.0.0.0", PORT)).await {
        Ok(l) => l,
        Err(e) => {
            println!("rustnet-tokio: cannot listen on {PORT}: {e}");
            std::process::exit(100);
        }
    };
    println!(
        "rustnet-tokio: listening on {PORT} with {WORKERS} workers, MemFree {} KiB",
        rust_net::memfree_kib()
    );
    let counters = Arc::new(Counters::default());
    loop {
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                println!("rustnet-tokio: accept: {e}");
                std::process::exit(101);
            }
        };
        counters.connections.fetch_add(1, Relaxed);
        let counters = counters.clone();
        tokio::spawn(async move {
            match serve(conn, &counters).await {
                Ok(End::Quit) => {
                    println!("rustnet-tokio: quit after {}", counters.summary());
                    std::process::exit(0);
                }
                Ok(End::Closed) => {}
                Ok(End::CutShort) | Err(_) => {
                    counters.cut_short.fetch_add(1, Relaxed);
                }
            }
        });
    }
}

/// Serves one connection's requests until it closes.
async fn serve(conn: TcpStream, counters: &Counters) -> io::Result<End> {
    let mut conn = BufReader::new(conn);
    let mut head = Vec::new();
    loop {
        head.clear();
        loop {
            let start = head.len();
            let limit = (MAX_HEAD + 1 - start) as u64;
            let n = (&mut conn).take(limit).read_until(b'\n', &mut head).await?;
            if n == 0 {
                return Ok(if head.is_empty() { End::Closed } else { End::CutShort });
            }
            if head.len() > MAX_HEAD {
                conn.write_all(Refusal::BadRequest.response()).await?;
                return close(conn).await;
            }
            if rust_net::is_end_of_head(&head[start..]) {
                break;
            }
        }
        let request = match rust_net::parse_head(&head) {
            Ok(r) => r,
            Err(refusal) => {
                conn.write_all(refusal.response()).await?;
                return close(conn).await;
            }
        };
        match request.route {
            Route::Bytes(n) => {
                conn.write_all(rust_net::ok_head(n, request.keep_alive).as_bytes())
                    .await?;
                let mut chunk = vec![0u8; n.min(64 * 1024)];
                let mut sent = 0;
                while sent < n {
                    let len = chunk.len().min(n - sent);
                    rust_net::fill_pattern(sent, &mut chunk[..len]);
                    conn.write_all(&chunk[..len]).await?;
                    sent += len;
                }
            }
            Route::Echo(n) => {
                let mut body = vec![0u8; n];
                if let Err(e) = conn.read_exact(&mut body).await {
                    return if e.kind() == io::ErrorKind::UnexpectedEof {
                        Ok(End::CutShort)
                    } else {
                        Err(e)
                    };
                }
                conn.write_all(rust_net::ok_head(n, request.keep_alive).as_bytes())
                    .await?;
                conn.write_all(&body).await?;
            }
            Route::Mem => {
                let body = format!("{}\n", rust_net::memfree_kib());
                conn.write_all(rust_net::ok_head(body.len(), request.keep_alive).as_bytes())
                    .await?;
                conn.write_all(body.as_bytes()).await?;
            }
            Route::Quit => {
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbye\n")
                    .await?;
                counters.requests.fetch_add(1, Relaxed);
                close(conn).await?;
                return Ok(End::Quit);
            }
        }
        counters.requests.fetch_add(1, Relaxed);
        if !request.keep_alive {
            return close(conn).await;
        }
    }
}

/// Shuts the sending side down after the last response and drains what the peer still sends until it closes.
async fn close(mut conn: BufReader<TcpStream>) -> io::Result<End> {
    conn.shutdown().await?;
    let mut sink = [0u8; 4096];
    while conn.read(&mut sink).await? > 0 {}
    Ok(End::Closed)
}
