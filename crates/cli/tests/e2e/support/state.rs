//! Looking into (and, for tests of other workers, writing into) a state database with
//! Python's sqlite3 module, independently of the binary under test.

use super::Cutover;

impl Cutover {
    /// Runs one SQL statement with `params` against the state; returns the first column
    /// of the first row, if any, as text.
    pub fn state_sql(&self, sql: &str, params: &[&str]) -> String {
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
