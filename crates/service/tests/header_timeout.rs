//! The HTTP server closes a connection whose request headers do not arrive within the
//! header-read timeout (a client that sends them slowly, or never), and still answers
//! a client that sends them at once.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use cutover_service::server::serve_http;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const TIMEOUT: Duration = Duration::from_secs(1);

async fn start() -> (
    std::net::SocketAddr,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "hello" }));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve_http(tcp, router, TIMEOUT, stopped));
    (addr, stop, task)
}

/// Reads until the server closes the connection; what it sent, and when it closed.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, Option<Instant>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(Instant::now()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

#[tokio::test]
async fn a_partial_request_line_is_cut_off_after_the_timeout() {
    let (addr, stop, task) = start().await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let sent = Instant::now();
    slow.write_all(b"GET / HT").await.unwrap();
    let (answer, closed) = read_to_close(&mut slow, TIMEOUT * 5).await;
    let closed = closed.expect("the server kept a connection without headers open");
    let after = closed - sent;
    assert!(
        after >= TIMEOUT - Duration::from_millis(100) && after < TIMEOUT * 3,
        "closed after {after:?}"
    );
    // hyper may answer 408 before closing; it never answers the request.
    assert!(!answer.contains("hello"), "{answer}");

    // Connecting and sending nothing at all is cut off too.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_to_close(&mut silent, TIMEOUT * 5).await;
    assert!(closed.is_some(), "an idle connection was kept open");

    // A client that sends its request at once is answered.
    let mut quick = TcpStream::connect(addr).await.unwrap();
    quick
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_to_close(&mut quick, TIMEOUT * 5).await;
    assert!(
        closed.is_some() && answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
        "{answer}"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve_http ends when told to stop")
        .unwrap();
}
