//! The embedded SQLite backend (one file, WAL, versioned migrations).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{
    Batch, BatchStatus, Compression, Connection, EmailAddress, Endpoint, Impersonation,
    MigrationUser, Name, PassStart, RecipientKind, Security, SkippedCounts, SkippedKind, Target,
    UserStats, UserStatus,
};
use secrecy::SecretString;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use crate::private_file;
use crate::secrets::Sealer;
use crate::{
    CopiedMessage, FolderState, Intent, NewUser, Result, SkippedItem, Store, StoreError,
    THROUGHPUT_BUCKET_SECONDS, ThroughputBucket, UserPage, UserQuery, UserSort,
};

mod dav;
mod directory;
mod domains;
mod inspect;
mod jobs;
mod notifications;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    sealer: Sealer,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Closes the database, waiting for every connection to finish (dropping the store
    /// lets them close in the background, while the files may still be open).
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// Opens (creating if needed) the database at `url` (`sqlite://PATH` or
    /// `sqlite:PATH`), upgrades its schema, and loads the secrets key from
    /// `key_file` (default: the database path with `.key` appended). The database and
    /// the key file are created 0600; either one (or a SQLite side file) that group or
    /// others may read is refused.
    pub async fn open(url: &str, key_file: Option<&Path>) -> Result<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::KeyFile {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let key_path = key_file.map(Path::to_path_buf).unwrap_or_else(|| {
            let mut p = path.clone().into_os_string();
            p.push(".key");
            PathBuf::from(p)
        });
        let sealer = Sealer::load_or_create(&key_path)?;
        // SQLite would create the file with the umask's mode (often 0644), and gives its
        // -wal, -shm and -journal files the mode of the database: so the database is
        // made here first, 0600, and every one of them is refused if others may read it.
        match private_file::create_new(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(StoreError::StateFile { path, source }),
        }
        private_file::check(&path)?;
        for side in private_file::sqlite_side_files(&path) {
            private_file::check(&side)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // One connection: SQLite has one writer at a time anyway, and concurrent writers
        // in one process would wait in SQLite's busy handler, which sleeps in coarse steps.
        // Queries queue on the pool instead.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, sealer, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn parse<T: FromStr>(row: &SqliteRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let raw: String = row.try_get(col)?;
    raw.parse::<T>()
        .map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn u32_col(row: &SqliteRow, col: &str) -> Result<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v).map_err(|_| corrupt(format!("column {col}: {v} out of range")))
}

fn opt_u32(row: &SqliteRow, col: &str) -> Result<Option<u32>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| u32::try_from(v).map_err(|_| corrupt(format!("column {col}: {v} out of range"))))
        .transpose()
}

fn u64_col(row: &SqliteRow, col: &str) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    Ok(v.max(0) as u64)
}

fn name(row: &SqliteRow, col: &str, what: &'static str) -> Result<Name> {
    let raw: String = row.try_get(col)?;
    Name::parse(what, &raw).map_err(corrupt)
}

fn connection(row: &SqliteRow) -> Result<Connection> {
    Ok(Connection {
        server: row.try_get("server")?,
        port: u16::try_from(u32_col(row, "port")?).map_err(|_| corrupt("port out of range"))?,
        security: parse::<Security>(row, "security")?,
        admin: row.try_get("admin")?,
        impersonation: parse::<Impersonation>(row, "impersonation")?,
        ca_file: row.try_get("ca_file")?,
        compression: parse::<Compression>(row, "compression")?,
        oauth: row
            .try_get::<Option<String>, _>("oauth")?
            .map(|json| serde_json::from_str(&json).map_err(|e| corrupt(format!("oauth: {e}"))))
            .transpose()?,
    })
}

/// The OAuth settings as stored (JSON), NULL for a password login.
fn oauth_json(c: &Connection) -> Option<String> {
    c.oauth
        .as_ref()
        .map(|app| serde_json::to_string(app).unwrap_or_default())
}

fn endpoint_from_row(row: &SqliteRow) -> Result<Endpoint> {
    Ok(Endpoint {
        name: name(row, "name", "endpoint")?,
        connection: connection(row)?,
        max_concurrent_migrations: u32_col(row, "max_concurrent_migrations")?,
        max_concurrent_incremental_syncs: u32_col(row, "max_concurrent_incremental_syncs")?,
        created_at: row.try_get("created_at")?,
    })
}

fn batch_from_row(row: &SqliteRow) -> Result<Batch> {
    let excluded: String = row.try_get("excluded_folders")?;
    let folder_map: String = row.try_get("folder_map")?;
    Ok(Batch {
        name: name(row, "name", "batch")?,
        source_endpoint: name(row, "source_endpoint", "endpoint")?,
        status: parse::<BatchStatus>(row, "status")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        initial_sync_at: row.try_get("initial_sync_at")?,
        last_synced_at: row.try_get("last_synced_at")?,
        next_sync_at: row.try_get("next_sync_at")?,
        incremental_interval: chrono::Duration::seconds(row.try_get("incremental_interval")?),
        bad_item_limit: u32_col(row, "bad_item_limit")?,
        large_item_limit: u32_col(row, "large_item_limit")?,
        excluded_folders: serde_json::from_str(&excluded).map_err(corrupt)?,
        folder_map: serde_json::from_str(&folder_map).map_err(corrupt)?,
        skipped_item_approval_time: row.try_get("skipped_item_approval_time")?,
        removal_threshold_percent: u32_col(row, "removal_threshold_percent")?,
        notification_emails: {
            let text: String = row.try_get("notification_emails")?;
            serde_json::from_str(&text).map_err(corrupt)?
        },
        report_interval: chrono::Duration::seconds(row.try_get("report_interval")?),
        skip_reports: row.try_get("skip_reports")?,
        domain_check_skipped: row.try_get("domain_check_skipped")?,
    })
}

fn user_from_row(row: &SqliteRow) -> Result<MigrationUser> {
    let email: String = row.try_get("email")?;
    let sealed: Option<String> = row.try_get("password_sealed")?;
    let done: i64 = row.try_get("initial_sync_done")?;
    Ok(MigrationUser {
        email: EmailAddress::from_str(&email).map_err(corrupt)?,
        batch: name(row, "batch", "batch")?,
        kind: parse::<RecipientKind>(row, "recipient_type")?,
        source_login: row.try_get("source_login")?,
        has_password: sealed.is_some(),
        status: parse::<UserStatus>(row, "status")?,
        error: row.try_get("error")?,
        initial_sync_done: done != 0,
        last_synced_at: row.try_get("last_synced_at")?,
        stats: UserStats {
            source_items: u64_col(row, "source_items")?,
            items_synced: u64_col(row, "items_synced")?,
            items_skipped: u64_col(row, "items_skipped")?,
            bad_items: u64_col(row, "bad_items")?,
            large_items: u64_col(row, "large_items")?,
            bytes_synced: u64_col(row, "bytes_synced")?,
            source_bytes: u64_col(row, "source_bytes")?,
            folders: u64_col(row, "folders")?,
            last_pass_items: u64_col(row, "last_pass_items")?,
            last_pass_millis: u64_col(row, "last_pass_millis")?,
            folders_left_out: {
                let text: Option<String> = row.try_get("folders_left_out")?;
                match text {
                    Some(t) => serde_json::from_str(&t).map_err(corrupt)?,
                    None => Vec::new(),
                }
            },
        },
        skipped_items_approved_at: row.try_get("skipped_items_approved_at")?,
        removals_held: u64_col(row, "removals_held")?,
        removals_held_detail: row.try_get("removals_held_detail")?,
        removals_approved_at: row.try_get("removals_approved_at")?,
        throttled_until: row.try_get("throttled_until")?,
        pass_start: match row.try_get::<Option<DateTime<Utc>>, _>("pass_started_at")? {
            Some(at) => Some(PassStart {
                at,
                items: u64_col(row, "pass_items_at_start")?,
                bytes: u64_col(row, "pass_bytes_at_start")?,
            }),
            None => None,
        },
    })
}

/// Runs a `DELETE ... WHERE email = ? AND src_name = ? AND src_uidvalidity = ? AND
/// src_uid = ?` once per UID, inside the caller's transaction.
async fn delete_each_uid(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &'static str,
    (email, src_folder, src_uidvalidity): (&str, &[u8], u32),
    uids: &[u32],
) -> Result<()> {
    for uid in uids {
        sqlx::query(sql)
            .bind(email)
            .bind(src_folder)
            .bind(src_uidvalidity as i64)
            .bind(*uid as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn endpoint_owner(name: &str) -> String {
    format!("endpoint:{}", name.to_lowercase())
}

fn user_owner(email: &str) -> String {
    format!("user:{email}")
}

const TARGET_OWNER: &str = "target";

#[async_trait]
impl Store for SqliteStore {
    async fn set_target(&self, target: &Target, password: &SecretString) -> Result<()> {
        let c = &target.connection;
        let sealed = self.sealer.seal(password, TARGET_OWNER)?;
        sqlx::query(
            "INSERT INTO target (id, server, port, security, admin, impersonation, ca_file, password_sealed, updated_at, compression, folds_case, oauth)
             VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET server = excluded.server, port = excluded.port,
               security = excluded.security, admin = excluded.admin, impersonation = excluded.impersonation,
               ca_file = excluded.ca_file, password_sealed = excluded.password_sealed, updated_at = excluded.updated_at,
               compression = excluded.compression, folds_case = excluded.folds_case, oauth = excluded.oauth",
        )
        .bind(&c.server)
        .bind(c.port as i64)
        .bind(c.security.as_str())
        .bind(&c.admin)
        .bind(c.impersonation.to_string())
        .bind(&c.ca_file)
        .bind(sealed)
        .bind(target.updated_at)
        .bind(c.compression.as_str())
        .bind(target.folds_case)
        .bind(oauth_json(c))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn target(&self) -> Result<Option<Target>> {
        let row = sqlx::query("SELECT * FROM target WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Target {
                connection: connection(&row)?,
                updated_at: row.try_get("updated_at")?,
                folds_case: row.try_get("folds_case")?,
            })
        })
        .transpose()
    }

    async fn remember_target_folds_case(&self, folds: bool) -> Result<()> {
        // Only what no one has set: the admin's setting, or an earlier probe, stays.
        sqlx::query("UPDATE target SET folds_case = ? WHERE id = 1 AND folds_case IS NULL")
            .bind(folds)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn target_password(&self) -> Result<SecretString> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT password_sealed FROM target WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        let sealed = sealed.ok_or(StoreError::NotFound {
            what: "target",
            name: "(not set; run `cutover target set`)".into(),
        })?;
        self.sealer.open(&sealed, TARGET_OWNER)
    }

    async fn insert_endpoint(&self, e: &Endpoint, password: &SecretString) -> Result<()> {
        let c = &e.connection;
        let sealed = self
            .sealer
            .seal(password, &endpoint_owner(e.name.as_str()))?;
        let done = sqlx::query(
            "INSERT INTO endpoints (name, server, port, security, admin, impersonation, ca_file, password_sealed,
               max_concurrent_migrations, max_concurrent_incremental_syncs, created_at, compression, oauth)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
        )
        .bind(e.name.as_str())
        .bind(&c.server)
        .bind(c.port as i64)
        .bind(c.security.as_str())
        .bind(&c.admin)
        .bind(c.impersonation.to_string())
        .bind(&c.ca_file)
        .bind(sealed)
        .bind(e.max_concurrent_migrations as i64)
        .bind(e.max_concurrent_incremental_syncs as i64)
        .bind(e.created_at)
        .bind(c.compression.as_str())
        .bind(oauth_json(c))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists {
                what: "endpoint",
                name: e.name.to_string(),
            });
        }
        Ok(())
    }

    async fn update_endpoint(&self, e: &Endpoint, password: Option<&SecretString>) -> Result<()> {
        let c = &e.connection;
        let sealed = password
            .map(|p| self.sealer.seal(p, &endpoint_owner(e.name.as_str())))
            .transpose()?;
        let done = sqlx::query(
            "UPDATE endpoints SET server = ?, port = ?, security = ?, admin = ?, impersonation = ?, ca_file = ?,
               password_sealed = COALESCE(?, password_sealed), max_concurrent_migrations = ?,
               max_concurrent_incremental_syncs = ?, compression = ?, oauth = ?
             WHERE name = ?",
        )
        .bind(&c.server)
        .bind(c.port as i64)
        .bind(c.security.as_str())
        .bind(&c.admin)
        .bind(c.impersonation.to_string())
        .bind(&c.ca_file)
        .bind(sealed)
        .bind(e.max_concurrent_migrations as i64)
        .bind(e.max_concurrent_incremental_syncs as i64)
        .bind(c.compression.as_str())
        .bind(oauth_json(c))
        .bind(e.name.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "endpoint",
                name: e.name.to_string(),
            });
        }
        Ok(())
    }

    async fn endpoint(&self, name: &str) -> Result<Option<Endpoint>> {
        sqlx::query("SELECT * FROM endpoints WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| endpoint_from_row(&r))
            .transpose()
    }

    async fn endpoint_password(&self, name: &str) -> Result<SecretString> {
        let row = sqlx::query("SELECT name, password_sealed FROM endpoints WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "endpoint",
                name: name.to_string(),
            })?;
        let stored_name: String = row.try_get("name")?;
        let sealed: String = row.try_get("password_sealed")?;
        self.sealer.open(&sealed, &endpoint_owner(&stored_name))
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>> {
        sqlx::query("SELECT * FROM endpoints ORDER BY created_at, name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(endpoint_from_row)
            .collect()
    }

    async fn remove_endpoint(&self, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let user: Option<String> =
            sqlx::query_scalar("SELECT name FROM batches WHERE source_endpoint = ? LIMIT 1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(batch) = user {
            return Err(StoreError::EndpointInUse {
                endpoint: name.to_string(),
                batch,
            });
        }
        let done = sqlx::query("DELETE FROM endpoints WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "endpoint",
                name: name.to_string(),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_batch(&self, b: &Batch, users: &[NewUser]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT name FROM batches LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            return Err(StoreError::OneCutoverBatch { existing });
        }
        sqlx::query(
            "INSERT INTO batches (name, source_endpoint, status, created_at, started_at, initial_sync_at,
               last_synced_at, next_sync_at, incremental_interval, bad_item_limit, large_item_limit, excluded_folders,
               folder_map, removal_threshold_percent, notification_emails, report_interval, skip_reports,
               domain_check_skipped)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(b.name.as_str())
        .bind(b.source_endpoint.as_str())
        .bind(b.status.as_str())
        .bind(b.created_at)
        .bind(b.started_at)
        .bind(b.initial_sync_at)
        .bind(b.last_synced_at)
        .bind(b.next_sync_at)
        .bind(b.incremental_interval.num_seconds())
        .bind(b.bad_item_limit as i64)
        .bind(b.large_item_limit as i64)
        .bind(serde_json::to_string(&b.excluded_folders).map_err(corrupt)?)
        .bind(serde_json::to_string(&b.folder_map).map_err(corrupt)?)
        .bind(i64::from(b.removal_threshold_percent))
        .bind(serde_json::to_string(&b.notification_emails).map_err(corrupt)?)
        .bind(b.report_interval.num_seconds())
        .bind(b.skip_reports)
        .bind(b.domain_check_skipped)
        .execute(&mut *tx)
        .await?;
        for (position, u) in users.iter().enumerate() {
            let sealed = u
                .password
                .as_ref()
                .map(|p| self.sealer.seal(p, &user_owner(u.email.as_str())))
                .transpose()?;
            sqlx::query(
                "INSERT INTO users (email, batch, source_login, password_sealed, status, position,
                   recipient_type)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(u.email.as_str())
            .bind(b.name.as_str())
            .bind(&u.source_login)
            .bind(sealed)
            .bind(UserStatus::Queued.as_str())
            .bind(position as i64)
            .bind(u.kind.recipient_type(true))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn batch(&self, name: &str) -> Result<Option<Batch>> {
        sqlx::query("SELECT * FROM batches WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| batch_from_row(&r))
            .transpose()
    }

    async fn batches(&self) -> Result<Vec<Batch>> {
        sqlx::query("SELECT * FROM batches ORDER BY created_at, name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(batch_from_row)
            .collect()
    }

    async fn update_batch(&self, b: &Batch) -> Result<()> {
        let done = sqlx::query(
            "UPDATE batches SET status = ?, started_at = ?, initial_sync_at = ?, last_synced_at = ?,
               next_sync_at = ?, incremental_interval = ?, bad_item_limit = ?, large_item_limit = ?,
               excluded_folders = ?, folder_map = ?, skipped_item_approval_time = ?,
               removal_threshold_percent = ?, notification_emails = ?, report_interval = ?,
               skip_reports = ?
             WHERE name = ?",
        )
        .bind(b.status.as_str())
        .bind(b.started_at)
        .bind(b.initial_sync_at)
        .bind(b.last_synced_at)
        .bind(b.next_sync_at)
        .bind(b.incremental_interval.num_seconds())
        .bind(b.bad_item_limit as i64)
        .bind(b.large_item_limit as i64)
        .bind(serde_json::to_string(&b.excluded_folders).map_err(corrupt)?)
        .bind(serde_json::to_string(&b.folder_map).map_err(corrupt)?)
        .bind(b.skipped_item_approval_time)
        .bind(i64::from(b.removal_threshold_percent))
        .bind(serde_json::to_string(&b.notification_emails).map_err(corrupt)?)
        .bind(b.report_interval.num_seconds())
        .bind(b.skip_reports)
        .bind(b.name.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "batch",
                name: b.name.to_string(),
            });
        }
        Ok(())
    }

    async fn set_batch_status(
        &self,
        name: &str,
        from: BatchStatus,
        to: BatchStatus,
        synced: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<bool> {
        let (at, next) = synced.unzip();
        let done = sqlx::query(
            "UPDATE batches SET status = ?,
               initial_sync_at = CASE WHEN ?2 IS NULL THEN initial_sync_at
                                      ELSE COALESCE(initial_sync_at, ?2) END,
               last_synced_at = COALESCE(?2, last_synced_at),
               next_sync_at = COALESCE(?3, next_sync_at)
             WHERE name = ?4 AND status = ?5",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(next)
        .bind(name)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_batch(&self, name: &str) -> Result<()> {
        // users, folders and messages go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM batches WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "batch",
                name: name.to_string(),
            });
        }
        Ok(())
    }

    async fn users(
        &self,
        batch: Option<&str>,
        status: Option<UserStatus>,
    ) -> Result<Vec<MigrationUser>> {
        sqlx::query(
            "SELECT * FROM users WHERE (?1 IS NULL OR batch = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY batch, position",
        )
        .bind(batch)
        .bind(status.map(UserStatus::as_str))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    async fn users_page(&self, batch: &str, q: &UserQuery) -> Result<UserPage> {
        // The order is one of a fixed set of expressions, never text from the request.
        let key = match q.sort {
            UserSort::Position => "position",
            UserSort::Email => "email",
            UserSort::Status => "status",
            UserSort::Progress => {
                "CASE WHEN source_items = 0 THEN -1.0
                      ELSE CAST(MIN(items_synced, source_items) AS REAL) / source_items END"
            }
            UserSort::ItemsSynced => "items_synced",
            UserSort::ItemsSkipped => "items_skipped",
            UserSort::BytesSynced => "bytes_synced",
            UserSort::LastSynced => "last_synced_at",
            UserSort::Error => "COALESCE(error, '')",
        };
        let direction = if q.descending { "DESC" } else { "ASC" };
        let filter = q
            .filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_lowercase);
        let status = q.status.map(UserStatus::as_str);
        let matching = "batch = ?1 AND (?2 IS NULL OR status = ?2)
             AND (?3 IS NULL OR instr(lower(email || ' ' || status), ?3) > 0)";
        // Both statements are put together from the constants above only.
        let count = format!("SELECT COUNT(*) FROM users WHERE {matching}");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .bind(batch)
            .bind(status)
            .bind(filter.as_deref())
            .fetch_one(&self.pool)
            .await?;
        let limit = q.limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
        let page = format!(
            "SELECT * FROM users WHERE {matching}
             ORDER BY {key} {direction}, position ASC LIMIT ?4 OFFSET ?5"
        );
        let users = sqlx::query(sqlx::AssertSqlSafe(page))
            .bind(batch)
            .bind(status)
            .bind(filter.as_deref())
            .bind(limit)
            .bind(q.offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(UserPage {
            users,
            total: total.max(0) as u64,
        })
    }

    async fn user(&self, email: &str) -> Result<Option<MigrationUser>> {
        sqlx::query("SELECT * FROM users WHERE email = ?")
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    async fn user_password(&self, email: &str) -> Result<Option<SecretString>> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT password_sealed FROM users WHERE email = ?")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .flatten()
            .map(|s| self.sealer.open(&s, &user_owner(email)))
            .transpose()
    }

    async fn update_user(&self, u: &MigrationUser) -> Result<()> {
        let s = &u.stats;
        sqlx::query(
            "UPDATE users SET status = ?, error = ?, initial_sync_done = ?, last_synced_at = ?,
               source_items = ?, items_synced = ?, items_skipped = ?, bytes_synced = ?, folders = ?,
               last_pass_items = ?, last_pass_millis = ?, bad_items = ?, large_items = ?,
               removals_held = ?, removals_held_detail = ?, folders_left_out = ?,
               source_bytes = ?
             WHERE email = ?",
        )
        .bind(u.status.as_str())
        .bind(&u.error)
        .bind(u.initial_sync_done as i64)
        .bind(u.last_synced_at)
        .bind(s.source_items as i64)
        .bind(s.items_synced as i64)
        .bind(s.items_skipped as i64)
        .bind(s.bytes_synced as i64)
        .bind(s.folders as i64)
        .bind(s.last_pass_items as i64)
        .bind(s.last_pass_millis as i64)
        .bind(s.bad_items as i64)
        .bind(s.large_items as i64)
        .bind(u.removals_held as i64)
        .bind(&u.removals_held_detail)
        .bind(serde_json::to_string(&s.folders_left_out).map_err(corrupt)?)
        .bind(s.source_bytes as i64)
        .bind(u.email.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn start_pass(
        &self,
        email: &str,
        source_items: u64,
        source_bytes: u64,
        start: &PassStart,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE users SET source_items = ?, source_bytes = ?, pass_started_at = ?,
               pass_items_at_start = ?, pass_bytes_at_start = ?
             WHERE email = ?",
        )
        .bind(source_items as i64)
        .bind(source_bytes as i64)
        .bind(start.at)
        .bind(start.items as i64)
        .bind(start.bytes as i64)
        .bind(email)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn source_listing(&self, email: &str) -> Result<Option<String>> {
        let digest: Option<Option<String>> =
            sqlx::query_scalar("SELECT source_listing FROM users WHERE email = ?")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
        Ok(digest.flatten())
    }

    async fn set_source_listing(&self, email: &str, digest: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE users SET source_listing = ? WHERE email = ?")
            .bind(digest)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_throttled(&self, email: &str, until: Option<DateTime<Utc>>) -> Result<()> {
        sqlx::query("UPDATE users SET throttled_until = ? WHERE email = ?")
            .bind(until)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_source_size(
        &self,
        email: &str,
        source_items: u64,
        source_bytes: u64,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET source_items = ?, source_bytes = ? WHERE email = ?")
            .bind(source_items as i64)
            .bind(source_bytes as i64)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_progress(
        &self,
        email: &str,
        messages: u64,
        bytes: u64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let bucket =
            at.timestamp().div_euclid(THROUGHPUT_BUCKET_SECONDS) * THROUGHPUT_BUCKET_SECONDS;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE users SET items_synced = items_synced + ?, bytes_synced = bytes_synced + ?
             WHERE email = ?",
        )
        .bind(messages as i64)
        .bind(bytes as i64)
        .bind(email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO throughput (batch, bucket, messages, bytes)
             SELECT batch, ?, ?, ? FROM users WHERE email = ?
             ON CONFLICT (batch, bucket) DO UPDATE SET
               messages = messages + excluded.messages, bytes = bytes + excluded.bytes",
        )
        .bind(bucket)
        .bind(messages as i64)
        .bind(bytes as i64)
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn throughput(&self, batch: &str, since: DateTime<Utc>) -> Result<Vec<ThroughputBucket>> {
        let first =
            since.timestamp().div_euclid(THROUGHPUT_BUCKET_SECONDS) * THROUGHPUT_BUCKET_SECONDS;
        sqlx::query(
            "SELECT bucket, messages, bytes FROM throughput WHERE batch = ? AND bucket >= ?
             ORDER BY bucket",
        )
        .bind(batch)
        .bind(first)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let bucket: i64 = row.try_get("bucket")?;
            Ok(ThroughputBucket {
                at: DateTime::from_timestamp(bucket, 0)
                    .ok_or_else(|| corrupt(format!("throughput bucket {bucket} is not a time")))?,
                messages: u64_col(row, "messages")?,
                bytes: u64_col(row, "bytes")?,
            })
        })
        .collect()
    }

    async fn folder_states(&self, email: &str) -> Result<Vec<FolderState>> {
        sqlx::query("SELECT * FROM folders WHERE email = ? ORDER BY src_name")
            .bind(email)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let modseq: Option<i64> = row.try_get("highest_modseq")?;
                Ok(FolderState {
                    src_name: row.try_get("src_name")?,
                    src_uidvalidity: u32_col(row, "src_uidvalidity")?,
                    dst_name: row.try_get("dst_name")?,
                    uidnext: opt_u32(row, "uidnext")?,
                    highest_modseq: modseq.map(|m| m as u64),
                    messages: u32_col(row, "messages")?,
                    mailbox_id: row.try_get("mailbox_id")?,
                })
            })
            .collect()
    }

    async fn save_folder_state(&self, email: &str, f: &FolderState) -> Result<()> {
        sqlx::query(
            "INSERT INTO folders (email, src_name, src_uidvalidity, dst_name, uidnext, highest_modseq, messages, mailbox_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(email, src_name) DO UPDATE SET src_uidvalidity = excluded.src_uidvalidity,
               dst_name = excluded.dst_name, uidnext = excluded.uidnext,
               highest_modseq = excluded.highest_modseq, messages = excluded.messages,
               mailbox_id = COALESCE(excluded.mailbox_id, folders.mailbox_id)",
        )
        .bind(email)
        .bind(&f.src_name)
        .bind(f.src_uidvalidity as i64)
        .bind(&f.dst_name)
        .bind(f.uidnext.map(|v| v as i64))
        .bind(f.highest_modseq.map(|v| v as i64))
        .bind(f.messages as i64)
        .bind(&f.mailbox_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn copied_uids(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
    ) -> Result<Vec<u32>> {
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT src_uid FROM messages WHERE email = ? AND src_name = ? AND src_uidvalidity = ?
             ORDER BY src_uid",
        )
        .bind(email)
        .bind(src_folder)
        .bind(src_uidvalidity as i64)
        .fetch_all(&self.pool)
        .await?;
        uids.into_iter()
            .map(|u| u32::try_from(u).map_err(|_| corrupt(format!("uid {u} out of range"))))
            .collect()
    }

    async fn record_copies(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        copies: &[CopiedMessage],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // The user's counters move with the map, in the same transaction, so that a pass
        // shows its progress while it runs (a message recorded again counts once).
        let (mut new_items, mut new_bytes) = (0i64, 0i64);
        for c in copies {
            let before: Option<i64> = sqlx::query_scalar(
                "SELECT size FROM messages
                 WHERE email = ? AND src_name = ? AND src_uidvalidity = ? AND src_uid = ?",
            )
            .bind(email)
            .bind(src_folder)
            .bind(src_uidvalidity as i64)
            .bind(c.src_uid as i64)
            .fetch_optional(&mut *tx)
            .await?;
            if before.is_none() {
                new_items += 1;
            }
            new_bytes += c.size as i64 - before.unwrap_or(0);
            sqlx::query(
                "INSERT INTO messages (email, src_name, src_uidvalidity, src_uid, dst_uidvalidity, dst_uid, size, flags)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT DO UPDATE SET dst_uidvalidity = excluded.dst_uidvalidity,
                   dst_uid = excluded.dst_uid, size = excluded.size, flags = excluded.flags",
            )
            .bind(email)
            .bind(src_folder)
            .bind(src_uidvalidity as i64)
            .bind(c.src_uid as i64)
            .bind(c.dst_uidvalidity.map(|v| v as i64))
            .bind(c.dst_uid.map(|v| v as i64))
            .bind(c.size as i64)
            .bind(c.flags.join(" "))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM intents WHERE email = ? AND src_name = ? AND src_uidvalidity = ? AND src_uid = ?",
            )
            .bind(email)
            .bind(src_folder)
            .bind(src_uidvalidity as i64)
            .bind(c.src_uid as i64)
            .execute(&mut *tx)
            .await?;
            // Copied now, so no longer skipped (whatever UIDVALIDITY the skip saw: a
            // skip of an older UIDVALIDITY names a message that is gone).
            sqlx::query(
                "DELETE FROM skipped_items WHERE email = ? AND src_name = ? AND src_uid = ?",
            )
            .bind(email)
            .bind(src_folder)
            .bind(c.src_uid as i64)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE users SET items_synced = items_synced + ?, bytes_synced = bytes_synced + ?
             WHERE email = ?",
        )
        .bind(new_items)
        .bind(new_bytes)
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn copied_totals(&self, email: &str) -> Result<(u64, u64)> {
        let (count, bytes): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages WHERE email = ?")
                .bind(email)
                .fetch_one(&self.pool)
                .await?;
        Ok((count.max(0) as u64, bytes.max(0) as u64))
    }

    async fn copied_messages(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
    ) -> Result<Vec<CopiedMessage>> {
        sqlx::query(
            "SELECT * FROM messages WHERE email = ? AND src_name = ? AND src_uidvalidity = ?
             ORDER BY src_uid",
        )
        .bind(email)
        .bind(src_folder)
        .bind(src_uidvalidity as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let flags: String = row.try_get("flags")?;
            Ok(CopiedMessage {
                src_uid: u32_col(row, "src_uid")?,
                dst_uidvalidity: opt_u32(row, "dst_uidvalidity")?,
                dst_uid: opt_u32(row, "dst_uid")?,
                size: u32_col(row, "size")?,
                flags: flags.split_whitespace().map(str::to_string).collect(),
            })
        })
        .collect()
    }

    async fn update_flags(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        flags: &[(u32, Vec<String>)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (uid, f) in flags {
            sqlx::query(
                "UPDATE messages SET flags = ? WHERE email = ? AND src_name = ? AND src_uidvalidity = ? AND src_uid = ?",
            )
            .bind(f.join(" "))
            .bind(email)
            .bind(src_folder)
            .bind(src_uidvalidity as i64)
            .bind(*uid as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn forget_messages(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        src_uids: &[u32],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        delete_each_uid(
            &mut tx,
            "DELETE FROM messages WHERE email = ? AND src_name = ? AND src_uidvalidity = ? AND src_uid = ?",
            (email, src_folder, src_uidvalidity),
            src_uids,
        )
        .await?;
        for uid in src_uids {
            // A message gone from the source is no longer a skipped item either.
            sqlx::query(
                "DELETE FROM skipped_items WHERE email = ? AND src_name = ? AND src_uid = ?",
            )
            .bind(email)
            .bind(src_folder)
            .bind(*uid as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn subscriptions_seen(&self, email: &str) -> Result<Vec<(Vec<u8>, bool)>> {
        Ok(sqlx::query_as(
            "SELECT src_name, src_subscribed FROM subscriptions WHERE email = ? ORDER BY src_name",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_subscriptions_seen(&self, email: &str, seen: &[(Vec<u8>, bool)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (src_name, subscribed) in seen {
            sqlx::query(
                "INSERT INTO subscriptions (email, src_name, src_subscribed) VALUES (?, ?, ?)
                 ON CONFLICT(email, src_name) DO UPDATE SET src_subscribed = excluded.src_subscribed",
            )
            .bind(email)
            .bind(src_name)
            .bind(subscribed)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn forget_folder(&self, email: &str, src_folder: &[u8]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM folders WHERE email = ? AND src_name = ?",
            "DELETE FROM messages WHERE email = ? AND src_name = ?",
            "DELETE FROM intents WHERE email = ? AND src_name = ?",
            "DELETE FROM skipped_items WHERE email = ? AND src_name = ?",
            "DELETE FROM subscriptions WHERE email = ? AND src_name = ?",
        ] {
            sqlx::query(sql)
                .bind(email)
                .bind(src_folder)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn rename_folder(
        &self,
        email: &str,
        from: &[u8],
        to: &[u8],
        dst_name: &[u8],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE folders SET src_name = ?, dst_name = ? WHERE email = ? AND src_name = ?",
        )
        .bind(to)
        .bind(dst_name)
        .bind(email)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "UPDATE messages SET src_name = ? WHERE email = ? AND src_name = ?",
            "UPDATE intents SET src_name = ? WHERE email = ? AND src_name = ?",
            "UPDATE skipped_items SET src_name = ? WHERE email = ? AND src_name = ?",
        ] {
            sqlx::query(sql)
                .bind(to)
                .bind(email)
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE intents SET dst_name = ? WHERE email = ? AND src_name = ?")
            .bind(dst_name)
            .bind(email)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM subscriptions WHERE email = ? AND src_name IN (?, ?)")
            .bind(email)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_intents(
        &self,
        email: &str,
        src_folder: &[u8],
        intents: &[Intent],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = chrono::Utc::now();
        for i in intents {
            sqlx::query(
                "INSERT INTO intents (email, src_name, src_uidvalidity, src_uid, dst_name, dst_uid_floor,
                   size, internal_date, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT DO UPDATE SET dst_name = excluded.dst_name,
                   dst_uid_floor = MIN(dst_uid_floor, excluded.dst_uid_floor),
                   size = excluded.size, internal_date = excluded.internal_date",
            )
            .bind(email)
            .bind(src_folder)
            .bind(i.src_uidvalidity as i64)
            .bind(i.src_uid as i64)
            .bind(&i.dst_name)
            .bind(i.dst_uid_floor as i64)
            .bind(i.size as i64)
            .bind(i.internal_date)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn has_intents(&self, email: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT EXISTS (SELECT 1 FROM intents WHERE email = ?)")
                .bind(email)
                .fetch_one(&self.pool)
                .await?
                != 0,
        )
    }

    async fn intents(&self, email: &str, src_folder: &[u8]) -> Result<Vec<Intent>> {
        sqlx::query(
            "SELECT * FROM intents WHERE email = ? AND src_name = ? ORDER BY src_uidvalidity, src_uid",
        )
        .bind(email)
        .bind(src_folder)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Intent {
                src_uidvalidity: u32_col(row, "src_uidvalidity")?,
                src_uid: u32_col(row, "src_uid")?,
                dst_name: row.try_get("dst_name")?,
                dst_uid_floor: u32_col(row, "dst_uid_floor")?,
                size: u32_col(row, "size")?,
                internal_date: row.try_get("internal_date")?,
            })
        })
        .collect()
    }

    async fn drop_intents(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        src_uids: &[u32],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        delete_each_uid(
            &mut tx,
            "DELETE FROM intents WHERE email = ? AND src_name = ? AND src_uidvalidity = ? AND src_uid = ?",
            (email, src_folder, src_uidvalidity),
            src_uids,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn copied_dst_uids(
        &self,
        email: &str,
        src_folder: &[u8],
        dst_uidvalidity: u32,
    ) -> Result<Vec<u32>> {
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT dst_uid FROM messages WHERE email = ? AND src_name = ? AND dst_uidvalidity = ?
               AND dst_uid IS NOT NULL ORDER BY dst_uid",
        )
        .bind(email)
        .bind(src_folder)
        .bind(dst_uidvalidity as i64)
        .fetch_all(&self.pool)
        .await?;
        uids.into_iter()
            .map(|u| u32::try_from(u).map_err(|_| corrupt(format!("uid {u} out of range"))))
            .collect()
    }

    async fn record_skipped(&self, email: &str, item: &SkippedItem) -> Result<()> {
        // Skipped again: keep when it was first skipped and whether it was approved,
        // unless the UID now names another message (UIDVALIDITY changed).
        sqlx::query(
            "INSERT INTO skipped_items (email, src_name, folder, src_uidvalidity, src_uid, size, kind,
               subject, reason, skipped_at, approved_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET folder = excluded.folder, size = excluded.size,
               kind = excluded.kind, subject = excluded.subject, reason = excluded.reason,
               skipped_at = CASE WHEN src_uidvalidity = excluded.src_uidvalidity
                 THEN skipped_at ELSE excluded.skipped_at END,
               approved_at = CASE WHEN src_uidvalidity = excluded.src_uidvalidity
                 THEN approved_at ELSE excluded.approved_at END,
               src_uidvalidity = excluded.src_uidvalidity",
        )
        .bind(email)
        .bind(&item.src_name)
        .bind(&item.folder)
        .bind(item.src_uidvalidity as i64)
        .bind(item.src_uid as i64)
        .bind(item.size as i64)
        .bind(item.kind.as_str())
        .bind(&item.subject)
        .bind(&item.reason)
        .bind(item.skipped_at)
        .bind(item.approved_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn skipped_items(&self, email: &str) -> Result<Vec<SkippedItem>> {
        sqlx::query("SELECT * FROM skipped_items WHERE email = ? ORDER BY folder, src_uid")
            .bind(email)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(SkippedItem {
                    src_name: row.try_get("src_name")?,
                    folder: row.try_get("folder")?,
                    src_uidvalidity: u32_col(row, "src_uidvalidity")?,
                    src_uid: u32_col(row, "src_uid")?,
                    size: u32_col(row, "size")?,
                    kind: parse::<SkippedKind>(row, "kind")?,
                    subject: row.try_get("subject")?,
                    reason: row.try_get("reason")?,
                    skipped_at: row.try_get("skipped_at")?,
                    approved_at: row.try_get("approved_at")?,
                })
            })
            .collect()
    }

    async fn skipped_counts(&self, email: &str) -> Result<SkippedCounts> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(kind = 'BadItem'), 0) AS bad,
                    COALESCE(SUM(kind = 'LargeItem'), 0) AS large,
                    COALESCE(SUM(kind = 'BadItem' AND approved_at IS NULL), 0) AS unapproved_bad,
                    COALESCE(SUM(kind = 'LargeItem' AND approved_at IS NULL), 0) AS unapproved_large
             FROM skipped_items WHERE email = ?",
        )
        .bind(email)
        .fetch_one(&self.pool)
        .await?;
        Ok(SkippedCounts {
            bad: u64_col(&row, "bad")?,
            large: u64_col(&row, "large")?,
            unapproved_bad: u64_col(&row, "unapproved_bad")?,
            unapproved_large: u64_col(&row, "unapproved_large")?,
        })
    }

    async fn unapproved_skipped_items(&self, batch: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM skipped_items s JOIN users u ON u.email = s.email
             WHERE u.batch = ? AND s.approved_at IS NULL",
        )
        .bind(batch)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn approve_skipped_items(
        &self,
        batch: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE batches SET skipped_item_approval_time = ? WHERE name = ?")
            .bind(at)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "batch",
                name: batch.to_string(),
            });
        }
        sqlx::query("UPDATE users SET skipped_items_approved_at = ? WHERE batch = ?")
            .bind(at)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        let approved = sqlx::query(
            "UPDATE skipped_items SET approved_at = ?
             WHERE approved_at IS NULL AND email IN (SELECT email FROM users WHERE batch = ?)",
        )
        .bind(at)
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(approved)
    }

    async fn users_with_held_removals(&self, batch: &str) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE batch = ? AND removals_held > 0")
                .bind(batch)
                .fetch_one(&self.pool)
                .await?;
        Ok(n.max(0) as u64)
    }

    async fn approve_removals(
        &self,
        batch: &str,
        user: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let found: Option<String> = sqlx::query_scalar("SELECT name FROM batches WHERE name = ?")
            .bind(batch)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                what: "batch",
                name: batch.to_string(),
            });
        }
        if let Some(email) = user {
            let member: Option<String> =
                sqlx::query_scalar("SELECT email FROM users WHERE batch = ? AND email = ?")
                    .bind(batch)
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            if member.is_none() {
                return Err(StoreError::NotFound {
                    what: "user",
                    name: format!("{email} (in batch {batch})"),
                });
            }
        }
        let approved = sqlx::query(
            "UPDATE users SET removals_approved_at = ?
             WHERE batch = ? AND removals_held > 0 AND (? IS NULL OR email = ?)",
        )
        .bind(at)
        .bind(batch)
        .bind(user)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(approved)
    }

    async fn spend_removal_approval(
        &self,
        email: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE users SET removals_approved_at = NULL WHERE email = ? AND removals_approved_at = ?",
        )
        .bind(email)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{Invariant, StateInspection, assert_invariants, dump_section};
    use chrono::Duration;
    use secrecy::ExposeSecret;

    pub(super) async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = SqliteStore::open(&url, None).await.unwrap();
        (dir, store)
    }

    pub(super) fn endpoint(name: &str) -> Endpoint {
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
            },
            max_concurrent_migrations: 100,
            max_concurrent_incremental_syncs: 20,
            created_at: chrono::Utc::now(),
        }
    }

    pub(super) fn batch(name: &str, endpoint: &str) -> Batch {
        Batch {
            excluded_folders: vec!["Junk".into()],
            folder_map: vec!["Sent Items=Sent".parse().unwrap()],
            ..Batch::new(
                Name::parse("batch", name).unwrap(),
                Name::parse("endpoint", endpoint).unwrap(),
                chrono::Utc::now(),
            )
        }
    }

    pub(super) fn new_user(email: &str, password: Option<&str>) -> NewUser {
        NewUser {
            email: email.parse().unwrap(),
            source_login: None,
            password: password.map(|p| SecretString::from(p.to_string())),
            kind: cutover_model::RecipientKind::Mailbox,
        }
    }

    /// A store holding endpoint `E` and batch `B` with these users (no passwords).
    pub(super) async fn store_with_batch(emails: &[&str]) -> (tempfile::TempDir, SqliteStore) {
        let (dir, store) = store().await;
        store
            .insert_endpoint(&endpoint("E"), &SecretString::from("p".to_string()))
            .await
            .unwrap();
        let users: Vec<NewUser> = emails.iter().map(|e| new_user(e, None)).collect();
        store.create_batch(&batch("B", "E"), &users).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn an_oauth_application_round_trips_with_its_secret_sealed() {
        let (_dir, store) = store().await;
        let mut e = endpoint("OAuthEndpoint");
        e.connection.oauth = Some(cutover_model::OAuthApp {
            provider: cutover_model::OAuthProvider::Microsoft,
            tenant: Some("contoso.onmicrosoft.com".into()),
            client_id: "6f1c2a7e".into(),
            credential: cutover_model::OAuthCredential::ClientSecret,
            token_url: None,
            scope: None,
        });
        let secret = SecretString::from("cs~client-secret".to_string());
        store.insert_endpoint(&e, &secret).await.unwrap();
        let got = store.endpoint("OAuthEndpoint").await.unwrap().unwrap();
        assert_eq!(got.connection, e.connection);
        let stored: String = sqlx::query_scalar("SELECT oauth FROM endpoints")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(stored.contains("6f1c2a7e") && !stored.contains("client-secret"));
        // Back to a password login.
        e.connection.oauth = None;
        store.update_endpoint(&e, None).await.unwrap();
        let got = store.endpoint("OAuthEndpoint").await.unwrap().unwrap();
        assert_eq!(got.connection.oauth, None);
        assert_eq!(
            store
                .endpoint_password("OAuthEndpoint")
                .await
                .unwrap()
                .expose_secret(),
            "cs~client-secret"
        );
    }

    #[tokio::test]
    async fn endpoints_round_trip_with_sealed_passwords() {
        let (dir, store) = store().await;
        let e = endpoint("CutoverEndpoint");
        store
            .insert_endpoint(&e, &SecretString::from("adminpass".to_string()))
            .await
            .unwrap();
        let err = store
            .insert_endpoint(&e, &SecretString::from("x".to_string()))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
        let got = store.endpoint("cutoverendpoint").await.unwrap().unwrap();
        assert_eq!(got.connection, e.connection);
        assert_eq!(
            store
                .endpoint_password("CutoverEndpoint")
                .await
                .unwrap()
                .expose_secret(),
            "adminpass"
        );
        assert_invariants(&store).await;
        // Nor in the dump, not even sealed.
        let dump = store.dump_state().await.unwrap();
        let sealed: String = sqlx::query_scalar("SELECT password_sealed FROM endpoints")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(
            !dump.contains(&sealed) && !dump.contains("adminpass"),
            "{dump}"
        );
        // The password is nowhere in the database file in plain text.
        drop(store);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(9).any(|w| w == b"adminpass"));
        }
    }

    #[tokio::test]
    async fn only_one_cutover_batch_and_cascade_on_remove() {
        let (_dir, store) = store().await;
        store
            .insert_endpoint(&endpoint("E"), &SecretString::from("p".to_string()))
            .await
            .unwrap();
        let users = [
            new_user("a@b.test", Some("pw-a")),
            new_user("c@b.test", None),
        ];
        store.create_batch(&batch("B1", "E"), &users).await.unwrap();
        let err = store
            .create_batch(&batch("B2", "E"), &[])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("only one cutover batch"), "{err}");
        assert!(matches!(
            store.remove_endpoint("E").await.unwrap_err(),
            StoreError::EndpointInUse { .. }
        ));

        let listed = store.users(Some("B1"), None).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].email.as_str(), "a@b.test");
        assert!(listed[0].has_password && !listed[1].has_password);
        assert_eq!(
            store
                .user_password("a@b.test")
                .await
                .unwrap()
                .unwrap()
                .expose_secret(),
            "pw-a"
        );
        assert!(store.user_password("c@b.test").await.unwrap().is_none());
        let stored = store.batch("B1").await.unwrap().unwrap();
        assert_eq!(stored.excluded_folders, vec!["Junk".to_string()]);
        assert_eq!(stored.folder_map[0].to_string(), "Sent Items=Sent");

        store
            .record_copies(
                "a@b.test",
                b"INBOX",
                7,
                &[CopiedMessage {
                    src_uid: 3,
                    dst_uidvalidity: Some(9),
                    dst_uid: Some(1),
                    size: 10,
                    flags: vec!["\\Seen".into(), "$Label1".into()],
                }],
            )
            .await
            .unwrap();
        let copied = store
            .copied_messages("a@b.test", b"INBOX", 7)
            .await
            .unwrap();
        assert_eq!(
            copied[0].flags,
            vec!["\\Seen".to_string(), "$Label1".to_string()]
        );
        store
            .update_flags("a@b.test", b"INBOX", 7, &[(3, vec![])])
            .await
            .unwrap();
        assert!(
            store
                .copied_messages("a@b.test", b"INBOX", 7)
                .await
                .unwrap()[0]
                .flags
                .is_empty()
        );
        assert_eq!(
            store.copied_uids("a@b.test", b"INBOX", 7).await.unwrap(),
            vec![3]
        );
        assert!(
            store
                .copied_uids("a@b.test", b"INBOX", 8)
                .await
                .unwrap()
                .is_empty()
        );

        store.remove_batch("B1").await.unwrap();
        assert!(store.users(None, None).await.unwrap().is_empty());
        assert!(
            store
                .copied_uids("a@b.test", b"INBOX", 7)
                .await
                .unwrap()
                .is_empty()
        );
        store.create_batch(&batch("B2", "E"), &users).await.unwrap();
        assert_invariants(&store).await;
    }

    #[tokio::test]
    async fn user_progress_is_saved() {
        let (_dir, store) = store_with_batch(&["a@b.test"]).await;
        let mut u = store.user("A@b.test").await.unwrap().unwrap();
        u.status = UserStatus::Failed;
        u.error = Some("login failed".into());
        u.stats.items_synced = 42;
        store.update_user(&u).await.unwrap();
        let again = store.user("a@b.test").await.unwrap().unwrap();
        assert_eq!(again, u);
        assert_eq!(
            store
                .users(None, Some(UserStatus::Failed))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .users(None, Some(UserStatus::Synced))
                .await
                .unwrap()
                .is_empty()
        );
        // 42 items synced with no message copied: the check sees the made-up counter.
        let violations = store.check_invariants().await.unwrap();
        assert_eq!(
            violations
                .iter()
                .map(|v| (v.invariant, v.detail.as_str()))
                .collect::<Vec<_>>(),
            [(
                Invariant::CountersMatchLedger,
                "a@b.test (Failed): items_synced=42 but 0 copied messages"
            )]
        );
    }
    #[tokio::test]
    async fn subscriptions_seen_are_recorded_forgotten_and_dropped_on_rename() {
        let (_dir, store) = store_with_batch(&["a@b.test", "c@b.test"]).await;
        let a = "a@b.test";
        assert!(store.subscriptions_seen(a).await.unwrap().is_empty());
        let seen = |names: &[(&str, bool)]| -> Vec<(Vec<u8>, bool)> {
            names
                .iter()
                .map(|(n, s)| (n.as_bytes().to_vec(), *s))
                .collect()
        };
        store
            .set_subscriptions_seen(
                a,
                &seen(&[
                    ("INBOX", true),
                    ("R&-D", false),
                    ("Old", true),
                    ("Gone", true),
                ]),
            )
            .await
            .unwrap();
        store
            .set_subscriptions_seen("c@b.test", &seen(&[("INBOX", false)]))
            .await
            .unwrap();
        // A later pass changes one; the others stay.
        store
            .set_subscriptions_seen(a, &seen(&[("R&-D", true)]))
            .await
            .unwrap();
        store.forget_folder(a, b"Gone").await.unwrap();
        store
            .rename_folder(a, b"Old", b"New", b"New")
            .await
            .unwrap();
        assert_eq!(
            store.subscriptions_seen(a).await.unwrap(),
            seen(&[("INBOX", true), ("R&-D", true)])
        );
        assert_eq!(
            store.subscriptions_seen("c@b.test").await.unwrap(),
            seen(&[("INBOX", false)])
        );
        store.remove_batch("B").await.unwrap();
        assert!(store.subscriptions_seen(a).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn recorded_copies_move_the_users_counters_at_once_and_once() {
        let (_dir, store) = store_with_batch(&["a@b.test"]).await;
        let copy = |uid: u32, size: u32| CopiedMessage {
            src_uid: uid,
            dst_uidvalidity: Some(9),
            dst_uid: Some(uid),
            size,
            flags: Vec::new(),
        };
        store
            .record_copies("a@b.test", b"INBOX", 7, &[copy(1, 10), copy(2, 20)])
            .await
            .unwrap();
        // UID 2 again (recovery records a landed message a second time), and a new one.
        store
            .record_copies("a@b.test", b"INBOX", 7, &[copy(2, 20), copy(3, 30)])
            .await
            .unwrap();
        let u = store.user("a@b.test").await.unwrap().unwrap();
        assert_eq!((u.stats.items_synced, u.stats.bytes_synced), (3, 60));
        assert_eq!(store.copied_totals("a@b.test").await.unwrap(), (3, 60));
        assert_invariants(&store).await;
        assert_eq!(
            dump_section(&store.dump_state().await.unwrap(), "messages"),
            r#"messages (3)
  a@b.test "INBOX" 7:1 -> 9:1 size=10 flags=""
  a@b.test "INBOX" 7:2 -> 9:2 size=20 flags=""
  a@b.test "INBOX" 7:3 -> 9:3 size=30 flags=""
"#
        );
    }

    pub(super) fn skipped(folder: &[u8], uid: u32, kind: SkippedKind) -> SkippedItem {
        SkippedItem {
            src_name: folder.to_vec(),
            folder: String::from_utf8_lossy(folder).into_owned(),
            src_uidvalidity: 7,
            src_uid: uid,
            size: 100,
            kind,
            subject: "Big one".into(),
            reason: "the target refused it: [TOOBIG] too big".into(),
            skipped_at: chrono::Utc::now(),
            approved_at: None,
        }
    }

    #[tokio::test]
    async fn skipped_items_are_counted_approved_and_forgotten_once_copied() {
        let (_dir, store) = store_with_batch(&["a@b.test"]).await;
        // Passes record skips; a pass counts them into the user's counters at its end.
        start_pass(&store, "a@b.test").await;
        let first = skipped(b"INBOX", 1, SkippedKind::LargeItem);
        store.record_skipped("a@b.test", &first).await.unwrap();
        store
            .record_skipped("a@b.test", &skipped(b"R&-D", 2, SkippedKind::BadItem))
            .await
            .unwrap();
        assert_eq!(
            store.skipped_counts("a@b.test").await.unwrap(),
            SkippedCounts {
                bad: 1,
                large: 1,
                unapproved_bad: 1,
                unapproved_large: 1
            }
        );
        assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 2);

        let at = chrono::Utc::now();
        assert_eq!(store.approve_skipped_items("B", at).await.unwrap(), 2);
        assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 0);
        let b = store.batch("B").await.unwrap().unwrap();
        assert_eq!(b.skipped_item_approval_time, Some(at));
        let u = store.user("a@b.test").await.unwrap().unwrap();
        assert_eq!(u.skipped_items_approved_at, Some(at));
        assert!(matches!(
            store.approve_skipped_items("Nope", at).await.unwrap_err(),
            StoreError::NotFound { .. }
        ));

        // Refused again: still the first time, still approved; a new skip waits.
        let mut again = first.clone();
        again.skipped_at = at + Duration::hours(1);
        store.record_skipped("a@b.test", &again).await.unwrap();
        store
            .record_skipped("a@b.test", &skipped(b"INBOX", 3, SkippedKind::BadItem))
            .await
            .unwrap();
        let items = store.skipped_items("a@b.test").await.unwrap();
        assert_eq!(items.len(), 3);
        let inbox1 = items.iter().find(|i| i.src_uid == 1).unwrap();
        assert_eq!(inbox1.skipped_at, first.skipped_at);
        assert_eq!(inbox1.approved_at, Some(at));
        assert_eq!(inbox1.subject, "Big one");
        assert_eq!(inbox1.kind, SkippedKind::LargeItem);
        assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 1);

        // Copied by a later pass: no longer skipped.
        store
            .record_copies(
                "a@b.test",
                b"INBOX",
                7,
                &[CopiedMessage {
                    src_uid: 1,
                    dst_uidvalidity: Some(1),
                    dst_uid: Some(1),
                    size: 100,
                    flags: vec![],
                }],
            )
            .await
            .unwrap();
        let left: Vec<(Vec<u8>, u32)> = store
            .skipped_items("a@b.test")
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.src_name, i.src_uid))
            .collect();
        assert_eq!(left, vec![(b"INBOX".to_vec(), 3), (b"R&-D".to_vec(), 2)]);
        finish_pass(&store, "a@b.test").await;
        assert_invariants(&store).await;
        assert_eq!(
            dump_section(&store.dump_state().await.unwrap(), "skipped items"),
            r#"skipped items (2)
  a@b.test "INBOX" 7:3 kind=BadItem size=100 subject="Big one" reason="the target refused it: [TOOBIG] too big" skipped_at=<time> approved_at=-
  a@b.test "R&D" (wire "R&-D") 7:2 kind=BadItem size=100 subject="Big one" reason="the target refused it: [TOOBIG] too big" skipped_at=<time> approved_at=<time>
"#
        );
    }

    /// What a pass does to its user first (runner::run_user): running.
    pub(super) async fn start_pass(store: &SqliteStore, email: &str) {
        let mut u = store.user(email).await.unwrap().unwrap();
        u.status = UserStatus::running(u.initial_sync_done);
        store.update_user(&u).await.unwrap();
    }

    /// What a pass that finished does to its user (runner::run_user): Synced, with the
    /// counters taken from the ledger.
    pub(super) async fn finish_pass(store: &SqliteStore, email: &str) {
        let mut u = store.user(email).await.unwrap().unwrap();
        let (copied, bytes) = store.copied_totals(email).await.unwrap();
        let counts = store.skipped_counts(email).await.unwrap();
        u.status = UserStatus::Synced;
        u.initial_sync_done = true;
        u.last_synced_at = Some(chrono::Utc::now());
        u.stats.items_synced = copied;
        u.stats.bytes_synced = bytes;
        u.stats.items_skipped = counts.total();
        u.stats.bad_items = counts.bad;
        u.stats.large_items = counts.large;
        store.update_user(&u).await.unwrap();
    }
    #[tokio::test]
    async fn skipped_rows_of_the_first_schema_get_wire_names_and_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        // A database at the first schema, with the skips it could hold.
        let v1 = dir.path().join("v1");
        std::fs::create_dir(&v1).unwrap();
        // Compiled in, not read at run time: the binary may outlive its checkout's path.
        std::fs::write(
            v1.join("0001_initial.sql"),
            include_str!("../migrations/sqlite/0001_initial.sql"),
        )
        .unwrap();
        crate::private_file::create_new(&db).unwrap();
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&db)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::migrate::Migrator::new(v1.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO endpoints VALUES ('E', 'h', 143, 'None', 'admin', 'authzid', NULL, 'x', 1, 1, '2025-01-01T00:00:00Z')",
            "INSERT INTO batches (name, source_endpoint, status, created_at, incremental_interval, bad_item_limit,
               large_item_limit, excluded_folders) VALUES ('B', 'E', 'Synced', '2025-01-01T00:00:00Z', 86400, 0, 0, '[]')",
            "INSERT INTO users (email, batch, status, items_skipped, position) VALUES ('a@b.test', 'B', 'Synced', 5, 0)",
            "INSERT INTO folders (email, src_name, src_uidvalidity, dst_name, messages) VALUES ('a@b.test', X'52262D44', 42, X'52262D44', 3)",
            "INSERT INTO skipped_items VALUES ('a@b.test', 'R&D', 7, 10, 'the target refused it: APPEND failed: [TOOBIG] too big', '2025-01-02T00:00:00Z')",
            "INSERT INTO skipped_items VALUES ('a@b.test', 'INBOX', 8, 10, 'cannot read it from the source: gone', '2025-01-02T00:00:00Z')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = SqliteStore::open(&format!("sqlite://{}", db.display()), None)
            .await
            .unwrap();
        let items = store.skipped_items("a@b.test").await.unwrap();
        let got: Vec<(&[u8], u32, u32, SkippedKind)> = items
            .iter()
            .map(|i| (i.src_name.as_slice(), i.src_uidvalidity, i.src_uid, i.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"INBOX"[..], 0, 8, SkippedKind::BadItem),
                (&b"R&-D"[..], 42, 7, SkippedKind::LargeItem),
            ]
        );
        let u = store.user("a@b.test").await.unwrap().unwrap();
        assert_eq!(
            (
                u.stats.items_skipped,
                u.stats.bad_items,
                u.stats.large_items
            ),
            (2, 1, 1)
        );
        assert_invariants(&store).await;
    }

    /// The reference the database's pages are checked against: every user in memory,
    /// filtered, sorted and sliced by hand.
    fn page_by_hand(all: &[MigrationUser], q: &UserQuery) -> Vec<String> {
        let filter = q.filter.as_deref().map(|f| f.trim().to_lowercase());
        let mut users: Vec<(usize, &MigrationUser)> = all
            .iter()
            .enumerate()
            .filter(|(_, u)| q.status.is_none_or(|s| u.status == s))
            .filter(|(_, u)| {
                filter.as_deref().is_none_or(|f| {
                    f.is_empty()
                        || format!("{} {}", u.email, u.status.as_str())
                            .to_lowercase()
                            .contains(f)
                })
            })
            .collect();
        let share = |u: &MigrationUser| -> f64 {
            if u.stats.source_items == 0 {
                -1.0
            } else {
                u.stats.items_synced.min(u.stats.source_items) as f64 / u.stats.source_items as f64
            }
        };
        users.sort_by(|(pa, a), (pb, b)| {
            let key = match q.sort {
                UserSort::Position => pa.cmp(pb),
                UserSort::Email => a.email.as_str().cmp(b.email.as_str()),
                UserSort::Status => a.status.as_str().cmp(b.status.as_str()),
                UserSort::Progress => share(a).total_cmp(&share(b)),
                UserSort::ItemsSynced => a.stats.items_synced.cmp(&b.stats.items_synced),
                UserSort::ItemsSkipped => a.stats.items_skipped.cmp(&b.stats.items_skipped),
                UserSort::BytesSynced => a.stats.bytes_synced.cmp(&b.stats.bytes_synced),
                UserSort::LastSynced => a.last_synced_at.cmp(&b.last_synced_at),
                UserSort::Error => a
                    .error
                    .as_deref()
                    .unwrap_or("")
                    .cmp(b.error.as_deref().unwrap_or("")),
            };
            let key = if q.descending { key.reverse() } else { key };
            key.then(pa.cmp(pb))
        });
        users
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit.map_or(usize::MAX, |l| l as usize))
            .map(|(_, u)| u.email.to_string())
            .collect()
    }

    mod pages {
        use super::*;
        use proptest::prelude::*;

        const STATUSES: [UserStatus; 4] = [
            UserStatus::Queued,
            UserStatus::Syncing,
            UserStatus::Synced,
            UserStatus::Failed,
        ];

        fn user_strategy() -> impl Strategy<Value = (u8, u8, u16, u16, u32, Option<u8>, Option<i64>)>
        {
            (
                0u8..4,
                0u8..20,
                0u16..50,
                0u16..60,
                0u32..5000,
                proptest::option::of(0u8..3),
                proptest::option::of(0i64..4),
            )
        }

        fn query_strategy() -> impl Strategy<Value = UserQuery> {
            (
                proptest::option::of(prop_oneof![
                    Just("user-1".to_string()),
                    Just("FAIL".to_string()),
                    Just("sync".to_string()),
                    Just("@b.test".to_string()),
                    Just(" ".to_string()),
                ]),
                proptest::option::of(0usize..4),
                0usize..UserSort::ALL.len(),
                any::<bool>(),
                0u64..30,
                proptest::option::of(0u64..12),
            )
                .prop_map(|(filter, status, sort, descending, offset, limit)| {
                    UserQuery {
                        filter,
                        status: status.map(|i| STATUSES[i]),
                        sort: UserSort::ALL[sort],
                        descending,
                        offset,
                        limit,
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn a_page_of_users_is_the_slice_of_them_all_filtered_and_sorted(
                users in proptest::collection::vec(user_strategy(), 0..25),
                queries in proptest::collection::vec(query_strategy(), 1..8),
            ) {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    let (_dir, store) = store().await;
                    store.insert_endpoint(&endpoint("E"), &SecretString::from("pw".to_string())).await.unwrap();
                    let news: Vec<NewUser> = (0..users.len())
                        .map(|i| new_user(&format!("user-{}@b.test", (i * 7919) % 1000), None))
                        .collect();
                    let mut seen = std::collections::HashSet::new();
                    let news: Vec<NewUser> = news.into_iter().filter(|n| seen.insert(n.email.to_string())).collect();
                    store.create_batch(&batch("B", "E"), &news).await.unwrap();
                    let now = chrono::Utc::now();
                    let mut all = Vec::new();
                    for (n, (status, source, synced, skipped, bytes, error, ago)) in news.iter().zip(&users) {
                        let mut u = store.user(n.email.as_str()).await.unwrap().unwrap();
                        u.status = STATUSES[*status as usize];
                        u.stats.source_items = u64::from(*source);
                        u.stats.items_synced = u64::from(*synced);
                        u.stats.items_skipped = u64::from(*skipped);
                        u.stats.bytes_synced = u64::from(*bytes);
                        u.error = error.map(|e| format!("error {e}"));
                        u.last_synced_at = ago.map(|a| now - Duration::hours(a));
                        store.update_user(&u).await.unwrap();
                        all.push(store.user(n.email.as_str()).await.unwrap().unwrap());
                    }
                    for q in &queries {
                        let page = store.users_page("B", q).await.unwrap();
                        let got: Vec<String> = page.users.iter().map(|u| u.email.to_string()).collect();
                        let mut whole = q.clone();
                        whole.offset = 0;
                        whole.limit = None;
                        assert_eq!(page.total as usize, page_by_hand(&all, &whole).len(), "{q:?}");
                        assert_eq!(got, page_by_hand(&all, q), "{q:?}");
                    }
                });
            }
        }
    }

    #[tokio::test]
    async fn progress_moves_the_counters_and_fills_the_batch_s_throughput_buckets() {
        let (_dir, store) = store_with_batch(&["a@b.test", "c@b.test"]).await;
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let start = PassStart {
            at: t0,
            items: 0,
            bytes: 0,
        };
        store
            .start_pass("a@b.test", 10, 1000, &start)
            .await
            .unwrap();
        store
            .record_progress("a@b.test", 2, 200, t0 + Duration::seconds(1))
            .await
            .unwrap();
        store
            .record_progress("c@b.test", 1, 50, t0 + Duration::seconds(9))
            .await
            .unwrap();
        store
            .record_progress("a@b.test", 3, 300, t0 + Duration::seconds(12))
            .await
            .unwrap();
        let a = store.user("a@b.test").await.unwrap().unwrap();
        assert_eq!((a.stats.source_items, a.stats.source_bytes), (10, 1000));
        assert_eq!((a.stats.items_synced, a.stats.bytes_synced), (5, 500));
        assert_eq!(a.pass_start, Some(start));
        let buckets = store.throughput("B", t0).await.unwrap();
        assert_eq!(
            buckets,
            vec![
                ThroughputBucket {
                    at: t0,
                    messages: 3,
                    bytes: 250
                },
                ThroughputBucket {
                    at: t0 + Duration::seconds(10),
                    messages: 3,
                    bytes: 300
                },
            ]
        );
        assert_eq!(
            store
                .throughput("B", t0 + Duration::seconds(10))
                .await
                .unwrap()
                .len(),
            1
        );
        // The batch's removal takes its throughput along.
        store.remove_batch("B").await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throughput")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
