//! A TCP proxy on loopback that cuts chosen connections after a number of bytes, to test
//! what a dropped connection in the middle of a literal does to a migration.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// Which way the bytes flow when the cut happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the server (e.g. a FETCH literal).
    ServerToClient,
    /// From the client (e.g. an APPEND literal).
    ClientToServer,
}

/// Cut the `connection`-th accepted connection (0-based) once `after_bytes` have gone
/// in `direction`.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    pub connection: usize,
    pub direction: Direction,
    pub after_bytes: u64,
}

pub struct CuttingProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    cuts_done: Arc<AtomicUsize>,
}

impl CuttingProxy {
    pub fn start(upstream: u16, cuts: Vec<Cut>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let cuts_done = Arc::new(AtomicUsize::new(0));
        let (stop2, done2) = (stop.clone(), cuts_done.clone());
        thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let cut = cuts.iter().find(|c| c.connection == n).copied();
                let done = done2.clone();
                thread::spawn(move || pipe_pair(client, server, cut, done));
            }
        });
        Self {
            port,
            stop,
            cuts_done,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many cuts happened.
    pub fn cuts_done(&self) -> usize {
        self.cuts_done.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe_pair(client: TcpStream, server: TcpStream, cut: Option<Cut>, done: Arc<AtomicUsize>) {
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let limit = |d: Direction| cut.filter(|c| c.direction == d).map(|c| c.after_bytes);
    let up = {
        let done = done.clone();
        let limit = limit(Direction::ClientToServer);
        thread::spawn(move || pump(c2, s2, limit, done))
    };
    pump(server, client, limit(Direction::ServerToClient), done);
    let _ = up.join();
}

/// Copies `from` to `to`; after `limit` bytes, closes both sockets in both directions.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<u64>, done: Arc<AtomicUsize>) {
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = match limit {
            Some(l) if sent + n as u64 >= l => (l - sent) as usize,
            _ => n,
        };
        if to.write_all(&buf[..allowed]).is_err() {
            break;
        }
        sent += allowed as u64;
        if allowed < n || limit == Some(sent) {
            done.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
