//! A scripted server on an in-memory pipe: it sends its steps in order, with pauses,
//! and reads (and forgets) whatever the client writes. After the script it stays
//! silent without closing, so that a client waiting for more sees a stall, not EOF.

#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

pub enum Step {
    Send(Vec<u8>),
    Pause(Duration),
}

pub fn send(bytes: impl AsRef<[u8]>) -> Step {
    Step::Send(bytes.as_ref().to_vec())
}

pub fn pause_ms(ms: u64) -> Step {
    Step::Pause(Duration::from_millis(ms))
}

/// A server that plays `steps` and reads everything the client sends.
pub fn serve(steps: Vec<Step>) -> DuplexStream {
    let (client, server) = tokio::io::duplex(1 << 20);
    let (mut read, mut write) = tokio::io::split(server);
    tokio::spawn(async move {
        let mut buf = vec![0; 1 << 16];
        while read.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    tokio::spawn(async move {
        play(&mut write, steps).await;
        // Keep the write half (and so the pipe) open until the test ends.
        std::future::pending::<()>().await;
    });
    client
}

/// A server that plays `steps` and never reads: the client's writes stall once the
/// pipe's `capacity` is full.
pub fn serve_without_reading(steps: Vec<Step>, capacity: usize) -> DuplexStream {
    let (client, mut server) = tokio::io::duplex(capacity);
    tokio::spawn(async move {
        play(&mut server, steps).await;
        std::future::pending::<()>().await;
    });
    client
}

async fn play(out: &mut (impl AsyncWriteExt + Unpin), steps: Vec<Step>) {
    for step in steps {
        match step {
            Step::Send(bytes) => {
                if out.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Pause(d) => tokio::time::sleep(d).await,
        }
    }
}
