//! A TCP proxy on loopback in front of a real server that delays every byte by a fixed
//! one-way delay in each direction: a distant server, as far as the migration can tell
//! (this machine's kernel has no netem). Optionally it lets at most N connections through
//! at once and turns the others away as Dovecot does (`mail_max_userip_connections`), or
//! paces each connection to a slow link's bytes per second.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub struct DelayingProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    most: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl DelayingProxy {
    /// `one_way`: the delay each way (the round trip is twice it).
    pub fn start(upstream: u16, one_way: Duration, max_connections: Option<usize>) -> Self {
        Self::start_with(upstream, one_way, max_connections, None)
    }

    /// A slow link too: each connection moves at most `bytes_per_second` each way.
    pub fn start_paced(upstream: u16, one_way: Duration, bytes_per_second: u64) -> Self {
        Self::start_with(upstream, one_way, None, Some(bytes_per_second))
    }

    fn start_with(
        upstream: u16,
        one_way: Duration,
        max_connections: Option<usize>,
        pace: Option<u64>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the delaying proxy");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let most = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (stop2, most2, refused2) = (stop.clone(), most.clone(), refused.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = client else { continue };
                if max_connections.is_some_and(|max| open.load(Ordering::SeqCst) >= max) {
                    refused2.fetch_add(1, Ordering::SeqCst);
                    let _ = client.write_all(
                        b"* BYE Maximum number of connections from user+IP exceeded\r\n",
                    );
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most2.fetch_max(now, Ordering::SeqCst);
                let open = open.clone();
                thread::spawn(move || {
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let up = thread::spawn(move || delayed(client, server, one_way, pace));
                    delayed(s2, c2, one_way, pace);
                    let _ = up.join();
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            stop,
            most,
            refused,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The most connections that were open at once.
    pub fn most_at_once(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Connections turned away.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for DelayingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the stop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to`, each piece written `delay` after it was read and, with a
/// `pace`, no sooner than that many bytes per second allow.
fn delayed(mut from: TcpStream, mut to: TcpStream, delay: Duration, pace: Option<u64>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        // When the link is free again: each piece takes its bytes' time on the wire.
        let mut free = Instant::now();
        for (due, bytes) in rx {
            let mut due = due;
            if let Some(rate) = pace {
                free = free.max(Instant::now())
                    + Duration::from_secs_f64(bytes.len() as f64 / rate as f64);
                due = due.max(free);
            }
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}
