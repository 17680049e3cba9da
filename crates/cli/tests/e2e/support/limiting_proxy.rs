//! A TCP proxy on loopback in front of a real server that lets at most N connections
//! through at once and turns the others away as Dovecot does when a user has too many
//! (`mail_max_userip_connections`): a BYE naming the limit, then the close. What a
//! throttling server looks like to the migration.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

pub struct LimitingProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl LimitingProxy {
    pub fn start(upstream: u16, max_connections: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the limiting proxy");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (stop2, refused2, most2) = (stop.clone(), refused.clone(), most.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = client else { continue };
                if open.load(Ordering::SeqCst) >= max_connections {
                    refused2.fetch_add(1, Ordering::SeqCst);
                    let _ = client.write_all(
                        format!(
                            "* BYE Maximum number of connections from user+IP exceeded \
                             (mail_max_userip_connections={max_connections})\r\n"
                        )
                        .as_bytes(),
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
                    pipe_pair(client, server);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            stop,
            refused,
            most,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections turned away.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn most_at_once(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

impl Drop for LimitingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe_pair(client: TcpStream, server: TcpStream) {
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = thread::spawn(move || pump(c2, s2));
    pump(server, client);
    let _ = up.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
