//! A private PostgreSQL cluster for a test binary: `initdb` and `pg_ctl` from
//! `/usr/lib/postgresql/<version>/bin` (the newest installed), run as the `postgres` OS
//! user when the tests run as root, listening on 127.0.0.1 at a free port and on a unix
//! socket in its own directory. Started once per test binary; each test takes a fresh
//! database of its own ([`Cluster::new_database`]). A watchdog shell stops it
//! (`pg_ctl stop -m fast`) and removes its directory once the test process has exited,
//! however it exits (statics are never dropped).
//!
//! Shared by the store's conformance suite and the CLI's end-to-end tests (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The password of the cluster's superuser over TCP (scram-sha-256), so that URLs carry
/// one and the tests can check it is never shown.
pub const PASSWORD: &str = "pg-secret-5ae1c";

pub struct Cluster {
    bin: PathBuf,
    socket_dir: PathBuf,
    pub port: u16,
    /// Run the server's tools as this OS user (`None`: as ourselves).
    run_as: Option<&'static str>,
    next: AtomicU32,
}

/// The cluster of this test binary, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("{e}")))
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `pg_ctl` in it.
fn server_bin() -> Result<PathBuf, String> {
    let missing = "PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): \
                   install the Debian package `postgresql` (apt-get install postgresql)";
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing.to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| missing.to_string())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = server_bin()?;
        let run_as = is_root().then_some("postgres");
        let root = tempfile::Builder::new()
            .prefix("cutover-pg-")
            .tempdir()
            .map_err(|e| format!("cannot make the PostgreSQL test directory: {e}"))?
            .keep();
        let data = root.join("data");
        let socket_dir = root.join("socket");
        std::fs::create_dir(&socket_dir).map_err(|e| e.to_string())?;
        let pwfile = root.join("pwfile");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        if let Some(user) = run_as {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:{user}"))
                .arg(&root)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!("chown -R {user} {} failed", root.display()));
            }
        }
        let cluster = Cluster {
            bin,
            socket_dir,
            port: free_port(),
            run_as,
            next: AtomicU32::new(0),
        };
        cluster.tool(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "--encoding=UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
            ],
        )?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            cluster.port,
            cluster.socket_dir.display()
        );
        let log = root.join("server.log");
        cluster.tool(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-w".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
            ],
        )?;
        cluster.stop_when_tests_end(&data, &root);
        Ok(cluster)
    }

    /// Runs one of the server's tools (as the postgres user when we are root).
    fn tool(&self, name: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
        let program = self.bin.join(name);
        let mut command = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}{}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn stop_when_tests_end(&self, data: &Path, root: &Path) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match self.run_as {
            Some(user) => format!(
                "runuser -u {user} -- '{}' stop -D '{}' -m fast",
                pg_ctl.display(),
                data.display()
            ),
            None => format!(
                "'{}' stop -D '{}' -m fast",
                pg_ctl.display(),
                data.display()
            ),
        };
        // Never waited for: it outlives this process on purpose.
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                r#"while kill -0 "$0" 2>/dev/null; do sleep 0.5; done
                   {stop} >/dev/null 2>&1
                   rm -rf '{}'"#,
                root.display()
            ))
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the PostgreSQL watchdog shell (sh)");
        std::mem::forget(watchdog);
    }

    /// The cluster's `psql`, to look into a state independently of cutover.
    #[allow(dead_code)] // the CLI's e2e tests use it (support/state.rs), this suite does not
    pub fn psql(&self) -> PathBuf {
        self.bin.join("psql")
    }

    /// A new, empty database; its URL over TCP to 127.0.0.1, with the password.
    pub fn new_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let port = self.port.to_string();
        self.tool(
            "createdb",
            &[
                "-h".as_ref(),
                self.socket_dir.as_os_str(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                name.as_ref(),
            ],
        )
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }
}

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}
