//! Looking into (and, for tests of other workers, writing into) a state database with
//! Python's sqlite3 module, or a PostgreSQL state with `psql`, independently of the
//! binary under test.

use super::Cutover;

impl Cutover {
    /// Runs one SQL statement with `params` against the state; returns the first column
    /// of the first row, if any, as text.
    pub fn state_sql(&self, sql: &str, params: &[&str]) -> String {
        if let Some(url) = &self.postgres {
            return postgres_sql(url, sql, params);
        }
        let script = "import sqlite3, sys\n\
                      c = sqlite3.connect(sys.argv[1])\n\
                      row = c.execute(sys.argv[2], sys.argv[3:]).fetchone()\n\
                      c.commit()\n\
                      print('' if row is None else row[0])";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(self.state_path())
            .arg(sql)
            .args(params)
            .output()
            .expect("python3 (apt-get install python3)");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// How many jobs a lease holds (expired ones included).
    pub fn leases(&self) -> u64 {
        self.state_sql(
            "SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL",
            &[],
        )
        .parse()
        .unwrap()
    }
}

/// [`Cutover::state_sql`] on PostgreSQL: `psql` reads the statement from stdin, with the
/// parameters as psql variables (`?` becomes `:'pN'`, quoted by psql); the password goes
/// in the environment, never on the command line.
fn postgres_sql(url: &str, sql: &str, params: &[&str]) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let password = super::postgres::PASSWORD;
    let mut n = 0;
    let script: String = sql
        .chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!(":'p{n}'")
            } else {
                c.to_string()
            }
        })
        .collect();
    let mut cmd = std::process::Command::new(super::postgres::cluster().psql());
    cmd.arg(url.replace(&format!(":{password}@"), "@"))
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .env("PGPASSWORD", password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (i, p) in params.iter().enumerate() {
        cmd.arg("-v").arg(format!("p{}={p}", i + 1));
    }
    let mut child = cmd.spawn().expect("run psql");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{script};\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}
