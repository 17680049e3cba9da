//! The PostgreSQL backend, for scale-out: many workers on many machines share one
//! database. The same tables as SQLite (migrations in `migrations/postgres`), the same
//! row conversions (`rows`), the same dump and invariants (`inspect::read`); what differs
//! is the SQL's dialect and how a read-decide-write rule is kept against other
//! processes: a row lock (`SELECT ... FOR UPDATE`) or, where a rule spans rows (one
//! cutover batch, a lease not yet stored), an advisory transaction lock.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{
    Batch, BatchStatus, Endpoint, MigrationUser, PassStart, SkippedCounts, Target, UserStatus,
};
use secrecy::SecretString;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use crate::rows::{
    TARGET_OWNER, batch_from_row, connection, copied_message_from_row, endpoint_from_row,
    endpoint_owner, folder_state_from_row, intent_from_row, oauth_json, skipped_item_from_row,
    throughput_from_row, uids, user_from_row, user_owner,
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock held while a batch is created: "one cutover batch" spans rows.
const ONE_BATCH_LOCK: i64 = 0x6375_746f_0001;

pub struct PostgresStore {
    pool: PgPool,
    sealer: Sealer,
    /// The `LISTEN` side of [`crate::JobStore::wait_for_work`], started on first use.
    wakeups: tokio::sync::OnceCell<jobs::Wakeups>,
    /// The URL without its password (for Debug and errors).
    url: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Whether `url` names a PostgreSQL database.
pub(crate) fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL with its password (if any) replaced by `<redacted>`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; its user info at the last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut tail = tail.to_string();
    // libpq also takes the password as a query parameter.
    if let Some(q) = tail.find('?') {
        let (path, query) = tail.split_at(q + 1);
        let query = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=<redacted>"),
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        tail = format!("{path}{query}");
    }
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}{tail}"),
            None => format!("{scheme}://{userinfo}@{host}{tail}"),
        },
        None => format!("{scheme}://{authority}{tail}"),
    }
}

impl PostgresStore {
    /// Opens the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or
    /// `postgresql://...`, with libpq's query parameters such as `host=/run/socket/dir`),
    /// upgrades its schema, and loads the secrets key from `key_file`. The key cannot
    /// live beside a server's database, so it is required here; it is created (0600) when
    /// missing, and refused when group or others may read it.
    pub async fn open(url: &str, key_file: &Path) -> Result<Self> {
        let shown = redact_url(url);
        if !is_postgres_url(url) {
            return Err(StoreError::UnsupportedUrl(shown));
        }
        // sqlx's parse errors may quote the URL: they are replaced, never passed on.
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl {
            url: shown.clone(),
            reason: match e {
                sqlx::Error::Configuration(_) => "it is not a valid postgres:// URL".to_string(),
                _ => "it cannot be read".to_string(),
            },
        })?;
        let sealer = Sealer::load_or_create(key_file)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            sealer,
            wakeups: tokio::sync::OnceCell::new(),
            url: shown,
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Runs a `DELETE ... WHERE email = $1 AND src_name = $2 AND src_uidvalidity = $3 AND
/// src_uid = ANY($4)` for the UIDs, inside the caller's transaction.
async fn delete_each_uid(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sql: &'static str,
    (email, src_folder, src_uidvalidity): (&str, &[u8], u32),
    uids: &[u32],
) -> Result<()> {
    let uids: Vec<i64> = uids.iter().map(|u| i64::from(*u)).collect();
    sqlx::query(sql)
        .bind(email)
        .bind(src_folder)
        .bind(i64::from(src_uidvalidity))
        .bind(uids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn close(&self) {
        if let Some(w) = self.wakeups.get() {
            w.stop();
        }
        self.pool.close().await;
    }

    async fn set_target(&self, target: &Target, password: &SecretString) -> Result<()> {
        let c = &target.connection;
        let sealed = self.sealer.seal(password, TARGET_OWNER)?;
        sqlx::query(
            "INSERT INTO target (id, server, port, security, admin, impersonation, ca_file, password_sealed, updated_at, compression, folds_case, oauth)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
        sqlx::query("UPDATE target SET folds_case = $1 WHERE id = 1 AND folds_case IS NULL")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT(name) DO NOTHING",
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
            "UPDATE endpoints SET server = $1, port = $2, security = $3, admin = $4, impersonation = $5, ca_file = $6,
               password_sealed = COALESCE($7, password_sealed), max_concurrent_migrations = $8,
               max_concurrent_incremental_syncs = $9, compression = $10, oauth = $11
             WHERE name = $12",
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
        sqlx::query("SELECT * FROM endpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| endpoint_from_row(&r))
            .transpose()
    }

    async fn endpoint_password(&self, name: &str) -> Result<SecretString> {
        let row = sqlx::query("SELECT name, password_sealed FROM endpoints WHERE name = $1")
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
        // A batch created meanwhile would wait for this row lock (its foreign key).
        sqlx::query("SELECT name FROM endpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let user: Option<String> =
            sqlx::query_scalar("SELECT name FROM batches WHERE source_endpoint = $1 LIMIT 1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(batch) = user {
            return Err(StoreError::EndpointInUse {
                endpoint: name.to_string(),
                batch,
            });
        }
        let done = sqlx::query("DELETE FROM endpoints WHERE name = $1")
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
        // Two processes creating a batch at once must not both see "none yet".
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ONE_BATCH_LOCK)
            .execute(&mut *tx)
            .await?;
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
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
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        sqlx::query("SELECT * FROM batches WHERE name = $1")
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
            "UPDATE batches SET status = $1, started_at = $2, initial_sync_at = $3, last_synced_at = $4,
               next_sync_at = $5, incremental_interval = $6, bad_item_limit = $7, large_item_limit = $8,
               excluded_folders = $9, folder_map = $10, skipped_item_approval_time = $11,
               removal_threshold_percent = $12, notification_emails = $13, report_interval = $14,
               skip_reports = $15
             WHERE name = $16",
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
        // One statement: the status compared and set under the row's lock.
        let done = sqlx::query(
            "UPDATE batches SET status = $1,
               initial_sync_at = CASE WHEN $2::TIMESTAMPTZ IS NULL THEN initial_sync_at
                                      ELSE COALESCE(initial_sync_at, $2) END,
               last_synced_at = COALESCE($2, last_synced_at),
               next_sync_at = COALESCE($3, next_sync_at)
             WHERE name = $4 AND status = $5",
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
        let done = sqlx::query("DELETE FROM batches WHERE name = $1")
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
            "SELECT * FROM users WHERE ($1 IS NULL OR batch = $1) AND ($2 IS NULL OR status = $2)
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
                      ELSE CAST(LEAST(items_synced, source_items) AS DOUBLE PRECISION) / source_items END"
            }
            UserSort::ItemsSynced => "items_synced",
            UserSort::ItemsSkipped => "items_skipped",
            UserSort::BytesSynced => "bytes_synced",
            // Never synced first, as SQLite sorts NULL (PostgreSQL would put it last).
            UserSort::LastSynced => "COALESCE(last_synced_at, '-infinity'::TIMESTAMPTZ)",
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
        let matching = "batch = $1 AND ($2::TEXT IS NULL OR status = $2)
             AND ($3::TEXT IS NULL OR strpos(lower(email || ' ' || status), $3) > 0)";
        // Both statements are put together from the constants above only.
        let count = format!("SELECT COUNT(*) FROM users WHERE {matching}");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .bind(batch)
            .bind(status)
            .bind(filter.as_deref())
            .fetch_one(&self.pool)
            .await?;
        // LIMIT NULL: no limit.
        let limit = q.limit.map(|l| l.min(i64::MAX as u64) as i64);
        let page = format!(
            "SELECT * FROM users WHERE {matching}
             ORDER BY {key} {direction}, position ASC LIMIT $4 OFFSET $5"
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
        sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    async fn user_password(&self, email: &str) -> Result<Option<SecretString>> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT password_sealed FROM users WHERE email = $1")
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
            "UPDATE users SET status = $1, error = $2, initial_sync_done = $3, last_synced_at = $4,
               source_items = $5, items_synced = $6, items_skipped = $7, bytes_synced = $8, folders = $9,
               last_pass_items = $10, last_pass_millis = $11, bad_items = $12, large_items = $13,
               removals_held = $14, removals_held_detail = $15, folders_left_out = $16,
               source_bytes = $17
             WHERE email = $18",
        )
        .bind(u.status.as_str())
        .bind(&u.error)
        .bind(u.initial_sync_done)
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
            "UPDATE users SET source_items = $1, source_bytes = $2, pass_started_at = $3,
               pass_items_at_start = $4, pass_bytes_at_start = $5
             WHERE email = $6",
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
            sqlx::query_scalar("SELECT source_listing FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
        Ok(digest.flatten())
    }

    async fn set_source_listing(&self, email: &str, digest: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE users SET source_listing = $1 WHERE email = $2")
            .bind(digest)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_throttled(&self, email: &str, until: Option<DateTime<Utc>>) -> Result<()> {
        sqlx::query("UPDATE users SET throttled_until = $1 WHERE email = $2")
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
        sqlx::query("UPDATE users SET source_items = $1, source_bytes = $2 WHERE email = $3")
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
            "UPDATE users SET items_synced = items_synced + $1, bytes_synced = bytes_synced + $2
             WHERE email = $3",
        )
        .bind(messages as i64)
        .bind(bytes as i64)
        .bind(email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO throughput (batch, bucket, messages, bytes)
             SELECT batch, $1, $2, $3 FROM users WHERE email = $4
             ON CONFLICT (batch, bucket) DO UPDATE SET
               messages = throughput.messages + excluded.messages,
               bytes = throughput.bytes + excluded.bytes",
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
            "SELECT bucket, messages, bytes FROM throughput WHERE batch = $1 AND bucket >= $2
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
        sqlx::query("SELECT * FROM folders WHERE email = $1 ORDER BY src_name")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
        let raw: Vec<i64> = sqlx::query_scalar(
            "SELECT src_uid FROM messages WHERE email = $1 AND src_name = $2 AND src_uidvalidity = $3
             ORDER BY src_uid",
        )
        .bind(email)
        .bind(src_folder)
        .bind(src_uidvalidity as i64)
        .fetch_all(&self.pool)
        .await?;
        uids(raw)
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
        // one is a round trip to the server.
        for rows in copies.chunks(crate::ROWS_PER_STATEMENT) {
            let mut before =
                QueryBuilder::<Postgres>::new("SELECT src_uid, size FROM messages WHERE email = ");
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
            let mut insert = QueryBuilder::<Postgres>::new(
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
                " ON CONFLICT (email, src_name, src_uidvalidity, src_uid) DO UPDATE SET dst_uidvalidity = excluded.dst_uidvalidity,
                   dst_uid = excluded.dst_uid, size = excluded.size, flags = excluded.flags",
            );
            insert.build().execute(&mut *tx).await?;
            let mut intents = QueryBuilder::<Postgres>::new("DELETE FROM intents WHERE email = ");
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
                QueryBuilder::<Postgres>::new("DELETE FROM skipped_items WHERE email = ");
            skipped
                .push_bind(email.to_owned())
                .push(" AND src_name = ")
                .push_bind(src_folder.to_vec());
            push_uid_list(&mut skipped, rows.iter().map(|c| c.src_uid));
            skipped.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE users SET items_synced = items_synced + $1, bytes_synced = bytes_synced + $2
             WHERE email = $3",
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
            sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM messages WHERE email = $1")
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
            "SELECT * FROM messages WHERE email = $1 AND src_name = $2 AND src_uidvalidity = $3
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
                "UPDATE messages SET flags = $1 WHERE email = $2 AND src_name = $3 AND src_uidvalidity = $4 AND src_uid = $5",
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
            "DELETE FROM messages WHERE email = $1 AND src_name = $2 AND src_uidvalidity = $3 AND src_uid = ANY($4)",
            (email, src_folder, src_uidvalidity),
            src_uids,
        )
        .await?;
        for uid in src_uids {
            // A message gone from the source is no longer a skipped item either.
            sqlx::query(
                "DELETE FROM skipped_items WHERE email = $1 AND src_name = $2 AND src_uid = $3",
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
            "SELECT src_name, src_subscribed FROM subscriptions WHERE email = $1 ORDER BY src_name",
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
                "INSERT INTO subscriptions (email, src_name, src_subscribed) VALUES ($1, $2, $3)
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
            "DELETE FROM folders WHERE email = $1 AND src_name = $2",
            "DELETE FROM messages WHERE email = $1 AND src_name = $2",
            "DELETE FROM intents WHERE email = $1 AND src_name = $2",
            "DELETE FROM skipped_items WHERE email = $1 AND src_name = $2",
            "DELETE FROM subscriptions WHERE email = $1 AND src_name = $2",
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
            "UPDATE folders SET src_name = $1, dst_name = $2 WHERE email = $3 AND src_name = $4",
        )
        .bind(to)
        .bind(dst_name)
        .bind(email)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "UPDATE messages SET src_name = $1 WHERE email = $2 AND src_name = $3",
            "UPDATE intents SET src_name = $1 WHERE email = $2 AND src_name = $3",
            "UPDATE skipped_items SET src_name = $1 WHERE email = $2 AND src_name = $3",
        ] {
            sqlx::query(sql)
                .bind(to)
                .bind(email)
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE intents SET dst_name = $1 WHERE email = $2 AND src_name = $3")
            .bind(dst_name)
            .bind(email)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM subscriptions WHERE email = $1 AND src_name IN ($2, $3)")
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
            let mut insert = QueryBuilder::<Postgres>::new(
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
                " ON CONFLICT (email, src_name, src_uidvalidity, src_uid) DO UPDATE SET
                   dst_name = excluded.dst_name,
                   dst_uid_floor = LEAST(intents.dst_uid_floor, excluded.dst_uid_floor),
                   size = excluded.size, internal_date = excluded.internal_date",
            );
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn has_intents(&self, email: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM intents WHERE email = $1)")
                .bind(email)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn intents(&self, email: &str, src_folder: &[u8]) -> Result<Vec<Intent>> {
        sqlx::query(
            "SELECT * FROM intents WHERE email = $1 AND src_name = $2 ORDER BY src_uidvalidity, src_uid",
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
            "DELETE FROM intents WHERE email = $1 AND src_name = $2 AND src_uidvalidity = $3 AND src_uid = ANY($4)",
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
        let raw: Vec<i64> = sqlx::query_scalar(
            "SELECT dst_uid FROM messages WHERE email = $1 AND src_name = $2 AND dst_uidvalidity = $3
               AND dst_uid IS NOT NULL ORDER BY dst_uid",
        )
        .bind(email)
        .bind(src_folder)
        .bind(dst_uidvalidity as i64)
        .fetch_all(&self.pool)
        .await?;
        uids(raw)
    }

    async fn record_skipped(&self, email: &str, item: &SkippedItem) -> Result<()> {
        // Skipped again: keep when it was first skipped and whether it was approved,
        // unless the UID now names another message (UIDVALIDITY changed).
        sqlx::query(
            "INSERT INTO skipped_items (email, src_name, folder, src_uidvalidity, src_uid, size, kind,
               subject, reason, skipped_at, approved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (email, src_name, src_uid) DO UPDATE SET folder = excluded.folder,
               size = excluded.size, kind = excluded.kind, subject = excluded.subject,
               reason = excluded.reason,
               skipped_at = CASE WHEN skipped_items.src_uidvalidity = excluded.src_uidvalidity
                 THEN skipped_items.skipped_at ELSE excluded.skipped_at END,
               approved_at = CASE WHEN skipped_items.src_uidvalidity = excluded.src_uidvalidity
                 THEN skipped_items.approved_at ELSE excluded.approved_at END,
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
        sqlx::query("SELECT * FROM skipped_items WHERE email = $1 ORDER BY folder, src_uid")
            .bind(email)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(skipped_item_from_row)
            .collect()
    }

    async fn skipped_counts(&self, email: &str) -> Result<SkippedCounts> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE kind = 'BadItem') AS bad,
                    COUNT(*) FILTER (WHERE kind = 'LargeItem') AS large,
                    COUNT(*) FILTER (WHERE kind = 'BadItem' AND approved_at IS NULL) AS unapproved_bad,
                    COUNT(*) FILTER (WHERE kind = 'LargeItem' AND approved_at IS NULL) AS unapproved_large
             FROM skipped_items WHERE email = $1",
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
                     WHERE u.batch = $1 AND s.approved_at IS NULL)
                  + (SELECT COUNT(*) FROM dav_skipped d JOIN users u ON d.user_email = u.email COLLATE nocase
                     WHERE u.batch = $1 AND d.approved_at IS NULL)",
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
        let done =
            sqlx::query("UPDATE batches SET skipped_item_approval_time = $1 WHERE name = $2")
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
        sqlx::query("UPDATE users SET skipped_items_approved_at = $1 WHERE batch = $2")
            .bind(at)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        let approved = sqlx::query(
            "UPDATE skipped_items SET approved_at = $1
             WHERE approved_at IS NULL AND email IN (SELECT email FROM users WHERE batch = $2)",
        )
        .bind(at)
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The batch's skipped calendar items and contacts too.
        let approved = approved
            + sqlx::query(
                "UPDATE dav_skipped SET approved_at = $1
                 WHERE approved_at IS NULL
                   AND user_email IN (SELECT email COLLATE nocase FROM users WHERE batch = $2)",
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
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE batch = $1 AND removals_held > 0")
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
        let found: Option<String> = sqlx::query_scalar("SELECT name FROM batches WHERE name = $1")
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
                sqlx::query_scalar("SELECT email FROM users WHERE batch = $1 AND email = $2")
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
            "UPDATE users SET removals_approved_at = $1
             WHERE batch = $2 AND removals_held > 0 AND ($3 IS NULL OR email = $4)",
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
            "UPDATE users SET removals_approved_at = NULL WHERE email = $1 AND removals_approved_at = $2",
        )
        .bind(email)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// ` AND src_uid IN ($n, ...)` for a non-empty list of UIDs.
fn push_uid_list(query: &mut QueryBuilder<Postgres>, uids: impl Iterator<Item = u32>) {
    query.push(" AND src_uid IN (");
    let mut list = query.separated(", ");
    for uid in uids {
        list.push_bind(i64::from(uid));
    }
    list.push_unseparated(")");
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn a_url_never_shows_its_password() {
        assert_eq!(
            redact_url("postgres://cutover:s3cr%40t@db.test:5432/state"),
            "postgres://cutover:<redacted>@db.test:5432/state"
        );
        // An '@' in the password (unescaped): the host is after the last one.
        assert_eq!(
            redact_url("postgresql://u:p@ss@127.0.0.1/db?sslmode=require"),
            "postgresql://u:<redacted>@127.0.0.1/db?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db.test/state?user=u&password=pw&sslmode=disable"),
            "postgres://db.test/state?user=u&password=<redacted>&sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://u@db.test/state"),
            "postgres://u@db.test/state"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/state.db"),
            "sqlite:///var/lib/state.db"
        );
    }
}
