//! Servers started once per test binary live in statics, which Rust never drops: a
//! small shell beside each one stops it (and removes its directory) when the test
//! process ends, however it ends.

use std::path::Path;
use std::process::{Command, Stdio};

/// Stops `server_pid` (TERM, then KILL after 5 s) and removes `dirs` once this test
/// process has exited.
pub fn stop_when_tests_end(server_pid: u32, dirs: &[&Path]) {
    // Never waited for: it outlives this process on purpose.
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(
            r#"while kill -0 "$0" 2>/dev/null; do sleep 0.5; done
               kill "$1" 2>/dev/null
               for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done
               kill -9 "$1" 2>/dev/null
               shift; rm -rf "$@""#,
        )
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .args(dirs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watchdog shell (sh)");
    std::mem::forget(watchdog);
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on 127.0.0.1:`port`, or the child has exited.
pub fn wait_for_port(
    child: &mut std::process::Child,
    port: u16,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "did not listen on 127.0.0.1:{port} within {timeout:?}"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
