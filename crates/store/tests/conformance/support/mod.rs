//! The backends the conformance suite runs against, and the fixtures its tests share.

pub mod postgres;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cutover_model::{
    Batch, Compression, Connection, Endpoint, Impersonation, Name, Security, SkippedKind,
    UserStatus,
};
use cutover_store::{NewUser, SkippedItem, StateInspection, Store};
use secrecy::SecretString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// One backend's fresh, empty state for one test: a SQLite file in a temporary
/// directory, or a new database on the binary's PostgreSQL cluster.
pub struct Backend {
    pub kind: Kind,
    store: Arc<dyn Store>,
    url: String,
    key_file: PathBuf,
    dir: tempfile::TempDir,
}

impl Backend {
    pub async fn new(kind: Kind) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("state.key");
        let url = match kind {
            Kind::Sqlite => format!("sqlite://{}", dir.path().join("state.db").display()),
            Kind::Postgres => postgres::cluster().new_database(),
        };
        let store = cutover_store::open(&url, Some(&key_file))
            .await
            .unwrap_or_else(|e| panic!("open the {kind:?} state: {e}"));
        Backend {
            kind,
            store,
            url,
            key_file,
            dir,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn shared(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Another store on the same state, as a second process would open it.
    pub async fn open_again(&self) -> Arc<dyn Store> {
        cutover_store::open(&self.url, Some(&self.key_file))
            .await
            .unwrap()
    }

    /// The temporary directory of the test (the SQLite database and the key file).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs a statement behind the store's back (to break an invariant on purpose, or to
    /// look at what is stored), on a connection of its own.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.kind {
            Kind::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Kind::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// The text values of a one-column query (NULLs left out).
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let values: Vec<Option<String>> = match self.kind {
            Kind::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                v
            }
            Kind::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                v
            }
        };
        values.into_iter().flatten().collect()
    }

    /// The rows a table holds.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        match self.kind {
            Kind::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
            Kind::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
        }
    }
}

/// Now, to the microsecond: what both backends keep of a time (PostgreSQL's precision).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

pub fn endpoint(name: &str) -> Endpoint {
    Endpoint {
        name: Name::parse("endpoint", name).unwrap(),
        connection: Connection {
            server: "127.0.0.1".into(),
            port: 143,
            security: Security::None,
            admin: "admin".into(),
            impersonation: Impersonation::Template("{user}*{admin}".into()),
            ca_file: None,
            compression: Compression::Auto,
            oauth: None,
            dav: None,
        },
        max_concurrent_migrations: 100,
        max_concurrent_incremental_syncs: 20,
        created_at: now(),
    }
}

pub fn batch(name: &str, endpoint: &str) -> Batch {
    Batch {
        excluded_folders: vec!["Junk".into()],
        folder_map: vec!["Sent Items=Sent".parse().unwrap()],
        ..Batch::new(
            Name::parse("batch", name).unwrap(),
            Name::parse("endpoint", endpoint).unwrap(),
            now(),
        )
    }
}

pub fn new_user(email: &str, password: Option<&str>) -> NewUser {
    NewUser {
        email: email.parse().unwrap(),
        source_login: None,
        kind: cutover_model::RecipientKind::Mailbox,
        password: password.map(secret),
    }
}

/// Endpoint `E` and batch `B` with these users (no passwords).
pub async fn store_with_batch(store: &dyn Store, emails: &[&str]) {
    store
        .insert_endpoint(&endpoint("E"), &secret("p"))
        .await
        .unwrap();
    let users: Vec<NewUser> = emails.iter().map(|e| new_user(e, None)).collect();
    store.create_batch(&batch("B", "E"), &users).await.unwrap();
}

pub fn skipped(folder: &[u8], uid: u32, kind: SkippedKind) -> SkippedItem {
    SkippedItem {
        src_name: folder.to_vec(),
        folder: String::from_utf8_lossy(folder).into_owned(),
        src_uidvalidity: 7,
        src_uid: uid,
        size: 100,
        kind,
        subject: "Big one".into(),
        reason: "the target refused it: [TOOBIG] too big".into(),
        skipped_at: now(),
        approved_at: None,
    }
}

/// What a pass does to its user first (runner::run_user): running.
pub async fn start_pass(store: &dyn Store, email: &str) {
    let mut u = store.user(email).await.unwrap().unwrap();
    u.status = UserStatus::running(u.initial_sync_done);
    store.update_user(&u).await.unwrap();
}

/// What a pass that finished does to its user (runner::run_user): Synced, with the
/// counters taken from the ledger.
pub async fn finish_pass(store: &dyn Store, email: &str) {
    let mut u = store.user(email).await.unwrap().unwrap();
    let (copied, bytes) = store.copied_totals(email).await.unwrap();
    let counts = store.skipped_counts(email).await.unwrap();
    u.status = UserStatus::Synced;
    u.initial_sync_done = true;
    u.last_synced_at = Some(now());
    u.stats.items_synced = copied;
    u.stats.bytes_synced = bytes;
    u.stats.items_skipped = counts.total();
    u.stats.bad_items = counts.bad;
    u.stats.large_items = counts.large;
    store.update_user(&u).await.unwrap();
}

/// Panics, naming every violation, unless the state keeps every invariant.
pub async fn assert_invariants(store: &dyn StateInspection) {
    let violations = store
        .check_invariants()
        .await
        .expect("the state can be read");
    assert!(
        violations.is_empty(),
        "the state breaks its invariants:\n{}\n{}",
        violations
            .iter()
            .map(|v| format!("  {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        store.dump_state().await.unwrap_or_default()
    );
}

/// One section of a dump (its title line and rows), to compare a part.
pub fn dump_section(dump: &str, title: &str) -> String {
    let mut lines = dump
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{title} (")));
    let Some(head) = lines.next() else {
        return String::new();
    };
    let mut out = format!("{head}\n");
    for l in lines.take_while(|l| l.starts_with("  ")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}
