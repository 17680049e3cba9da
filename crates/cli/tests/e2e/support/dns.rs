//! A private DNS server per test: dnsmasq from Debian on a free 127.0.0.1 port, serving
//! only the records the test gives (no upstream, no /etc/hosts, no system config).

use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// The records of a test zone, as dnsmasq options.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    options: Vec<String>,
}

impl Zone {
    pub fn new() -> Self {
        Self::default()
    }

    /// An A record (every test host is on loopback).
    pub fn host(mut self, name: &str) -> Self {
        self.options.push(format!("--host-record={name},127.0.0.1"));
        self
    }

    pub fn srv(mut self, service: &str, target: &str, port: u16, priority: u16) -> Self {
        self.options
            .push(format!("--srv-host={service},{target},{port},{priority},0"));
        self
    }

    pub fn mx(mut self, domain: &str, host: &str, preference: u16) -> Self {
        self.options
            .push(format!("--mx-host={domain},{host},{preference}"));
        self
    }

    /// A CNAME; dnsmasq answers it only when the target is one of this zone's hosts.
    pub fn cname(mut self, alias: &str, target: &str) -> Self {
        self.options.push(format!("--cname={alias},{target}"));
        self
    }

    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.options.push(format!("--txt-record={name},{text}"));
        self
    }
}

/// A running dnsmasq; stopped on drop.
pub struct Dnsmasq {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Dnsmasq {
    pub fn start(zone: &Zone) -> Dnsmasq {
        assert!(
            Path::new(DNSMASQ).exists(),
            "dnsmasq is not installed: apt-get install dnsmasq"
        );
        let dir = tempfile::Builder::new()
            .prefix("cutover-dnsmasq-")
            .tempdir()
            .expect("temp dir for dnsmasq");
        let log = dir.path().join("dnsmasq.log");
        // A port found free can be taken before dnsmasq binds it: try again with another.
        for _ in 0..5 {
            let port = free_port();
            let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
            let mut child = Command::new(DNSMASQ)
                .arg("--keep-in-foreground")
                .arg("--conf-file=/dev/null")
                .arg("--no-resolv")
                .arg("--no-hosts")
                .arg(format!("--port={port}"))
                .arg("--listen-address=127.0.0.1")
                .arg("--bind-interfaces")
                // Names under .test that the zone does not hold are NXDOMAIN at once.
                .arg("--local=/test/")
                .arg("--pid-file=")
                .arg("--user=root")
                .arg(format!("--log-facility={}", log.display()))
                .args(&zone.options)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("run /usr/sbin/dnsmasq");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Dnsmasq { child, port, dir };
                }
                assert!(
                    Instant::now() < deadline,
                    "dnsmasq did not listen on 127.0.0.1:{port}"
                );
                sleep(Duration::from_millis(20));
            }
            let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            if !err.contains("in use") {
                panic!("dnsmasq failed to start: {err}");
            }
        }
        panic!("dnsmasq found no free port in 5 attempts");
    }

    /// `--dns-server` for cutover.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on both UDP and TCP.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}
