//! The embedded SQLite backend (one file, WAL, versioned migrations).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{
    Batch, BatchStatus, Endpoint, MigrationUser, PassStart, SkippedCounts, Target, UserStatus,
};
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::private_file;
use crate::rows::{
    TARGET_OWNER, batch_from_row, connection, copied_message_from_row, endpoint_from_row,
    endpoint_owner, folder_state_from_row, intent_from_row, oauth_json, skipped_item_from_row,
    throughput_from_row, user_from_row, user_owner,
};
pub(crate) use crate::rows::{corrupt, parse, u64_col};
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
mod licenses;
mod notifications;
mod provisioning;

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
        let path = database_path(url)?;
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

/// The database file of a `sqlite://PATH` (or `sqlite:PATH`) URL.
pub(crate) fn database_path(url: &str) -> Result<PathBuf> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| StoreError::UnsupportedUrl(crate::redact_url(url)))
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

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.pool.close().await;
    }

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
               domain_check_skipped, from_directory)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .bind(b.from_directory)
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
        .map(throughput_from_row)
        .collect()
    }

    async fn folder_states(&self, email: &str) -> Result<Vec<FolderState>> {
        sqlx::query("SELECT * FROM folders WHERE email = ? ORDER BY src_name")
            .bind(email)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(folder_state_from_row)
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
        let copies = crate::last_per_uid(copies);
        let mut tx = self.pool.begin().await?;
        // The user's counters move with the map, in the same transaction, so that a pass
        // shows its progress while it runs (a message recorded again counts once).
        let (mut new_items, mut new_bytes) = (0i64, 0i64);
        // A chunk's worth of messages per statement, not a statement per message: each
        // one is a round trip to SQLite's thread.
        for rows in copies.chunks(crate::ROWS_PER_STATEMENT) {
            let mut before =
                QueryBuilder::<Sqlite>::new("SELECT src_uid, size FROM messages WHERE email = ");
            before
                .push_bind(email.to_owned())
                .push(" AND src_name = ")
                .push_bind(src_folder.to_vec())
                .push(" AND src_uidvalidity = ")
                .push_bind(i64::from(src_uidvalidity));
            push_uid_list(&mut before, rows.iter().map(|c| c.src_uid));
            let before: HashMap<i64, i64> = before
                .build_query_as::<(i64, i64)>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            for c in rows {
                let was = before.get(&i64::from(c.src_uid));
                if was.is_none() {
                    new_items += 1;
                }
                new_bytes += i64::from(c.size) - was.copied().unwrap_or(0);
            }
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (email, src_name, src_uidvalidity, src_uid, dst_uidvalidity, dst_uid, size, flags) ",
            );
            insert.push_values(rows, |mut row, c| {
                row.push_bind(email.to_owned())
                    .push_bind(src_folder.to_vec())
                    .push_bind(i64::from(src_uidvalidity))
                    .push_bind(i64::from(c.src_uid))
                    .push_bind(c.dst_uidvalidity.map(i64::from))
                    .push_bind(c.dst_uid.map(i64::from))
                    .push_bind(i64::from(c.size))
                    .push_bind(c.flags.join(" "));
            });
            insert.push(
                " ON CONFLICT DO UPDATE SET dst_uidvalidity = excluded.dst_uidvalidity,
                   dst_uid = excluded.dst_uid, size = excluded.size, flags = excluded.flags",
            );
            insert.build().execute(&mut *tx).await?;
            let mut intents = QueryBuilder::<Sqlite>::new("DELETE FROM intents WHERE email = ");
            intents
                .push_bind(email.to_owned())
                .push(" AND src_name = ")
                .push_bind(src_folder.to_vec())
                .push(" AND src_uidvalidity = ")
                .push_bind(i64::from(src_uidvalidity));
            push_uid_list(&mut intents, rows.iter().map(|c| c.src_uid));
            intents.build().execute(&mut *tx).await?;
            // Copied now, so no longer skipped (whatever UIDVALIDITY the skip saw: a
            // skip of an older UIDVALIDITY names a message that is gone).
            let mut skipped =
                QueryBuilder::<Sqlite>::new("DELETE FROM skipped_items WHERE email = ");
            skipped
                .push_bind(email.to_owned())
                .push(" AND src_name = ")
                .push_bind(src_folder.to_vec());
            push_uid_list(&mut skipped, rows.iter().map(|c| c.src_uid));
            skipped.build().execute(&mut *tx).await?;
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
        .map(copied_message_from_row)
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
        let intents = crate::merge_intents(intents);
        let mut tx = self.pool.begin().await?;
        let now = chrono::Utc::now();
        for rows in intents.chunks(crate::ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO intents (email, src_name, src_uidvalidity, src_uid, dst_name, dst_uid_floor,
                   size, internal_date, created_at) ",
            );
            insert.push_values(rows, |mut row, i| {
                row.push_bind(email.to_owned())
                    .push_bind(src_folder.to_vec())
                    .push_bind(i64::from(i.src_uidvalidity))
                    .push_bind(i64::from(i.src_uid))
                    .push_bind(i.dst_name.clone())
                    .push_bind(i64::from(i.dst_uid_floor))
                    .push_bind(i64::from(i.size))
                    .push_bind(i.internal_date)
                    .push_bind(now);
            });
            insert.push(
                " ON CONFLICT DO UPDATE SET dst_name = excluded.dst_name,
                   dst_uid_floor = MIN(dst_uid_floor, excluded.dst_uid_floor),
                   size = excluded.size, internal_date = excluded.internal_date",
            );
            insert.build().execute(&mut *tx).await?;
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
        .map(intent_from_row)
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
            .map(skipped_item_from_row)
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
            "SELECT (SELECT COUNT(*) FROM skipped_items s JOIN users u ON u.email = s.email
                     WHERE u.batch = ?1 AND s.approved_at IS NULL)
                  + (SELECT COUNT(*) FROM dav_skipped d JOIN users u ON u.email = d.user_email
                     WHERE u.batch = ?1 AND d.approved_at IS NULL)",
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
        // The batch's skipped calendar items and contacts too.
        let approved = approved
            + sqlx::query(
                "UPDATE dav_skipped SET approved_at = ?
                 WHERE approved_at IS NULL
                   AND user_email IN (SELECT email FROM users WHERE batch = ?)",
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

/// ` AND src_uid IN (?, ...)` for a non-empty list of UIDs.
fn push_uid_list(query: &mut QueryBuilder<Sqlite>, uids: impl Iterator<Item = u32>) {
    query.push(" AND src_uid IN (");
    let mut list = query.separated(", ");
    for uid in uids {
        list.push_bind(i64::from(uid));
    }
    list.push_unseparated(")");
}

#[cfg(test)]
mod tests {
    //! SQLite only: an upgrade from its first schema. What every backend does is in
    //! `tests/conformance`.
    use super::*;
    use crate::inspect::assert_invariants;
    use cutover_model::SkippedKind;
    use sqlx::SqlitePool;

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
}
