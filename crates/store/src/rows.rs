//! Rows as both backends read them: one way to take a typed value out of a SQLite or a
//! PostgreSQL row ([`Columns`]), and the conversions from a row to the model that both
//! backends share, so that a batch or a user reads the same from either.
//!
//! SQLite keeps flags as integers and PostgreSQL as booleans: a flag reads as `bool`
//! and a number as `i64` from either, whichever the column holds.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use cutover_model::{
    Batch, BatchStatus, Compression, Connection, EmailAddress, Endpoint, Impersonation,
    MigrationUser, Name, PassStart, RecipientKind, Security, UserStats, UserStatus,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::jobs::{Job, JobLease, Round, ThrottleState};
use crate::{CopiedMessage, FolderState, Intent, Result, SkippedItem, StoreError};

/// A type a column can be read as, from either backend.
pub(crate) trait Column: Sized {
    fn from_sqlite(row: &SqliteRow, col: &str) -> Result<Self>;
    fn from_pg(row: &PgRow, col: &str) -> Result<Self>;
}

macro_rules! same_on_both {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_sqlite(row: &SqliteRow, col: &str) -> Result<Self> {
                Ok(row.try_get(col)?)
            }
            fn from_pg(row: &PgRow, col: &str) -> Result<Self> {
                Ok(row.try_get(col)?)
            }
        }
    )*};
}

same_on_both!(
    String,
    Option<String>,
    Vec<u8>,
    Option<Vec<u8>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>
);

fn pg_type(row: &PgRow, col: &str) -> Result<String> {
    use sqlx::{Column as _, TypeInfo as _};
    let column = row
        .columns()
        .iter()
        .find(|c| c.name() == col)
        .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(col.to_string())))?;
    Ok(column.type_info().name().to_string())
}

impl Column for Option<i64> {
    fn from_sqlite(row: &SqliteRow, col: &str) -> Result<Self> {
        Ok(row.try_get(col)?)
    }
    fn from_pg(row: &PgRow, col: &str) -> Result<Self> {
        Ok(match pg_type(row, col)?.as_str() {
            "BOOL" => row.try_get::<Option<bool>, _>(col)?.map(i64::from),
            "INT4" => row.try_get::<Option<i32>, _>(col)?.map(i64::from),
            "INT2" => row.try_get::<Option<i16>, _>(col)?.map(i64::from),
            _ => row.try_get(col)?,
        })
    }
}

impl Column for i64 {
    fn from_sqlite(row: &SqliteRow, col: &str) -> Result<Self> {
        Ok(row.try_get(col)?)
    }
    fn from_pg(row: &PgRow, col: &str) -> Result<Self> {
        Option::<i64>::from_pg(row, col)?.ok_or_else(|| corrupt(format!("column {col} is NULL")))
    }
}

impl Column for Option<bool> {
    fn from_sqlite(row: &SqliteRow, col: &str) -> Result<Self> {
        Ok(row.try_get::<Option<i64>, _>(col)?.map(|v| v != 0))
    }
    fn from_pg(row: &PgRow, col: &str) -> Result<Self> {
        Ok(match pg_type(row, col)?.as_str() {
            "BOOL" => row.try_get(col)?,
            _ => Option::<i64>::from_pg(row, col)?.map(|v| v != 0),
        })
    }
}

impl Column for bool {
    fn from_sqlite(row: &SqliteRow, col: &str) -> Result<Self> {
        Option::<bool>::from_sqlite(row, col)?
            .ok_or_else(|| corrupt(format!("column {col} is NULL")))
    }
    fn from_pg(row: &PgRow, col: &str) -> Result<Self> {
        Option::<bool>::from_pg(row, col)?.ok_or_else(|| corrupt(format!("column {col} is NULL")))
    }
}

/// A row of either backend.
pub(crate) trait Columns {
    fn value<T: Column>(&self, col: &str) -> Result<T>;
}

impl Columns for SqliteRow {
    fn value<T: Column>(&self, col: &str) -> Result<T> {
        T::from_sqlite(self, col)
    }
}

impl Columns for PgRow {
    fn value<T: Column>(&self, col: &str) -> Result<T> {
        T::from_pg(self, col)
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn parse<T: FromStr>(row: &impl Columns, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let raw: String = row.value(col)?;
    raw.parse::<T>()
        .map_err(|e| corrupt(format!("column {col}: {e}")))
}

pub(crate) fn u32_col(row: &impl Columns, col: &str) -> Result<u32> {
    let v: i64 = row.value(col)?;
    u32::try_from(v).map_err(|_| corrupt(format!("column {col}: {v} out of range")))
}

pub(crate) fn opt_u32(row: &impl Columns, col: &str) -> Result<Option<u32>> {
    let v: Option<i64> = row.value(col)?;
    v.map(|v| u32::try_from(v).map_err(|_| corrupt(format!("column {col}: {v} out of range"))))
        .transpose()
}

pub(crate) fn u64_col(row: &impl Columns, col: &str) -> Result<u64> {
    let v: i64 = row.value(col)?;
    Ok(v.max(0) as u64)
}

fn name(row: &impl Columns, col: &str, what: &'static str) -> Result<Name> {
    let raw: String = row.value(col)?;
    Name::parse(what, &raw).map_err(corrupt)
}

pub(crate) fn connection(row: &impl Columns) -> Result<Connection> {
    Ok(Connection {
        server: row.value("server")?,
        port: u16::try_from(u32_col(row, "port")?).map_err(|_| corrupt("port out of range"))?,
        security: parse::<Security>(row, "security")?,
        admin: row.value("admin")?,
        impersonation: parse::<Impersonation>(row, "impersonation")?,
        ca_file: row.value("ca_file")?,
        compression: parse::<Compression>(row, "compression")?,
        oauth: row
            .value::<Option<String>>("oauth")?
            .map(|json| serde_json::from_str(&json).map_err(|e| corrupt(format!("oauth: {e}"))))
            .transpose()?,
        dav: row
            .value::<Option<String>>("dav")?
            .map(|json| serde_json::from_str(&json).map_err(|e| corrupt(format!("dav: {e}"))))
            .transpose()?,
    })
}

/// A side's DAV settings as stored (JSON), NULL for mail only.
pub(crate) fn dav_json(dav: Option<&cutover_model::DavSettings>) -> Option<String> {
    dav.map(|d| serde_json::to_string(d).unwrap_or_default())
}

/// The OAuth settings as stored (JSON), NULL for a password login.
pub(crate) fn oauth_json(c: &Connection) -> Option<String> {
    c.oauth
        .as_ref()
        .map(|app| serde_json::to_string(app).unwrap_or_default())
}

pub(crate) fn endpoint_from_row(row: &impl Columns) -> Result<Endpoint> {
    Ok(Endpoint {
        name: name(row, "name", "endpoint")?,
        connection: connection(row)?,
        max_concurrent_migrations: u32_col(row, "max_concurrent_migrations")?,
        max_concurrent_incremental_syncs: u32_col(row, "max_concurrent_incremental_syncs")?,
        created_at: row.value("created_at")?,
    })
}

pub(crate) fn batch_from_row(row: &impl Columns) -> Result<Batch> {
    let excluded: String = row.value("excluded_folders")?;
    let folder_map: String = row.value("folder_map")?;
    Ok(Batch {
        name: name(row, "name", "batch")?,
        source_endpoint: name(row, "source_endpoint", "endpoint")?,
        status: parse::<BatchStatus>(row, "status")?,
        created_at: row.value("created_at")?,
        started_at: row.value("started_at")?,
        initial_sync_at: row.value("initial_sync_at")?,
        last_synced_at: row.value("last_synced_at")?,
        next_sync_at: row.value("next_sync_at")?,
        incremental_interval: chrono::Duration::seconds(row.value("incremental_interval")?),
        bad_item_limit: u32_col(row, "bad_item_limit")?,
        large_item_limit: u32_col(row, "large_item_limit")?,
        excluded_folders: serde_json::from_str(&excluded).map_err(corrupt)?,
        folder_map: serde_json::from_str(&folder_map).map_err(corrupt)?,
        skipped_item_approval_time: row.value("skipped_item_approval_time")?,
        removal_threshold_percent: u32_col(row, "removal_threshold_percent")?,
        notification_emails: {
            let text: String = row.value("notification_emails")?;
            serde_json::from_str(&text).map_err(corrupt)?
        },
        report_interval: chrono::Duration::seconds(row.value("report_interval")?),
        skip_reports: row.value("skip_reports")?,
        domain_check_skipped: row.value("domain_check_skipped")?,
        from_directory: row.value("from_directory")?,
    })
}

pub(crate) fn provisioning_from_row(
    row: &impl Columns,
) -> Result<crate::provisioning::ProvisioningRecord> {
    Ok(crate::provisioning::ProvisioningRecord {
        email: row.value("email")?,
        desired: row.value("desired")?,
        desired_digest: row.value("desired_digest")?,
        applied_digest: row.value("applied_digest")?,
        target_dn: row.value("target_dn")?,
        provisioned_at: row.value("provisioned_at")?,
        updated_at: row.value("updated_at")?,
        error: row.value("error")?,
        password_set_at: row.value("password_set_at")?,
        password_handed_out_at: row.value("password_handed_out_at")?,
    })
}

pub(crate) fn user_from_row(row: &impl Columns) -> Result<MigrationUser> {
    let email: String = row.value("email")?;
    let sealed: Option<String> = row.value("password_sealed")?;
    Ok(MigrationUser {
        email: EmailAddress::from_str(&email).map_err(corrupt)?,
        batch: name(row, "batch", "batch")?,
        kind: parse::<RecipientKind>(row, "recipient_type")?,
        source_login: row.value("source_login")?,
        has_password: sealed.is_some(),
        status: parse::<UserStatus>(row, "status")?,
        error: row.value("error")?,
        initial_sync_done: row.value("initial_sync_done")?,
        last_synced_at: row.value("last_synced_at")?,
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
                let text: Option<String> = row.value("folders_left_out")?;
                match text {
                    Some(t) => serde_json::from_str(&t).map_err(corrupt)?,
                    None => Vec::new(),
                }
            },
        },
        skipped_items_approved_at: row.value("skipped_items_approved_at")?,
        removals_held: u64_col(row, "removals_held")?,
        removals_held_detail: row.value("removals_held_detail")?,
        removals_approved_at: row.value("removals_approved_at")?,
        throttled_until: row.value("throttled_until")?,
        pass_start: match row.value::<Option<DateTime<Utc>>>("pass_started_at")? {
            Some(at) => Some(PassStart {
                at,
                items: u64_col(row, "pass_items_at_start")?,
                bytes: u64_col(row, "pass_bytes_at_start")?,
            }),
            None => None,
        },
    })
}

pub(crate) fn folder_state_from_row(row: &impl Columns) -> Result<FolderState> {
    let modseq: Option<i64> = row.value("highest_modseq")?;
    Ok(FolderState {
        src_name: row.value("src_name")?,
        src_uidvalidity: u32_col(row, "src_uidvalidity")?,
        dst_name: row.value("dst_name")?,
        uidnext: opt_u32(row, "uidnext")?,
        highest_modseq: modseq.map(|m| m as u64),
        messages: u32_col(row, "messages")?,
        mailbox_id: row.value("mailbox_id")?,
    })
}

pub(crate) fn intent_from_row(row: &impl Columns) -> Result<Intent> {
    Ok(Intent {
        src_uidvalidity: u32_col(row, "src_uidvalidity")?,
        src_uid: u32_col(row, "src_uid")?,
        dst_name: row.value("dst_name")?,
        dst_uid_floor: u32_col(row, "dst_uid_floor")?,
        size: u32_col(row, "size")?,
        internal_date: row.value("internal_date")?,
    })
}

pub(crate) fn copied_message_from_row(row: &impl Columns) -> Result<CopiedMessage> {
    let flags: String = row.value("flags")?;
    Ok(CopiedMessage {
        src_uid: u32_col(row, "src_uid")?,
        dst_uidvalidity: opt_u32(row, "dst_uidvalidity")?,
        dst_uid: opt_u32(row, "dst_uid")?,
        size: u32_col(row, "size")?,
        flags: flags.split_whitespace().map(str::to_string).collect(),
    })
}

pub(crate) fn skipped_item_from_row(row: &impl Columns) -> Result<SkippedItem> {
    Ok(SkippedItem {
        src_name: row.value("src_name")?,
        folder: row.value("folder")?,
        src_uidvalidity: u32_col(row, "src_uidvalidity")?,
        src_uid: u32_col(row, "src_uid")?,
        size: u32_col(row, "size")?,
        kind: parse(row, "kind")?,
        subject: row.value("subject")?,
        reason: row.value("reason")?,
        skipped_at: row.value("skipped_at")?,
        approved_at: row.value("approved_at")?,
    })
}

pub(crate) fn uids(raw: Vec<i64>) -> Result<Vec<u32>> {
    raw.into_iter()
        .map(|u| u32::try_from(u).map_err(|_| corrupt(format!("uid {u} out of range"))))
        .collect()
}

/// A throughput bucket (`bucket` is its start, Unix seconds).
pub(crate) fn throughput_from_row(row: &impl Columns) -> Result<crate::ThroughputBucket> {
    let bucket: i64 = row.value("bucket")?;
    Ok(crate::ThroughputBucket {
        at: DateTime::from_timestamp(bucket, 0)
            .ok_or_else(|| corrupt(format!("throughput bucket {bucket} is not a time")))?,
        messages: u64_col(row, "messages")?,
        bytes: u64_col(row, "bytes")?,
    })
}

/// The sealed secrets' owners (the associated data they are sealed with).
pub(crate) fn endpoint_owner(name: &str) -> String {
    format!("endpoint:{}", name.to_lowercase())
}

pub(crate) fn user_owner(email: &str) -> String {
    format!("user:{email}")
}

pub(crate) const TARGET_OWNER: &str = "target";

/// A user's initial password on the target does not open as its source password.
pub(crate) fn initial_password_owner(email: &str) -> String {
    format!("initial-password:{email}")
}

/// A directory's bind password does not open as another secret.
pub(crate) fn directory_owner(endpoint: &str) -> String {
    format!("directory:{}", endpoint.to_lowercase())
}

/// The associated data the SMTP relay's password is sealed with.
/// The target directory's password owner (no endpoint's: those start `directory:`).
pub(crate) const TARGET_DIRECTORY_OWNER: &str = "target-directory";

pub(crate) const RELAY_OWNER: &str = "smtp-relay";

pub(crate) fn domain_row(row: &impl Columns) -> Result<crate::AcceptedDomain> {
    Ok(crate::AcceptedDomain {
        name: row.value("name")?,
        token: row.value("token")?,
        created_at: row.value("created_at")?,
        verified_at: row.value("verified_at")?,
    })
}

/// A time kept as Unix milliseconds (compared as numbers by both backends).
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn job_from_row(row: &impl Columns) -> Result<Job> {
    let kind: String = row.value("kind")?;
    let owner: Option<String> = row.value("lease_owner")?;
    let lease = match owner {
        Some(owner) => Some(JobLease {
            owner,
            leased_at: row
                .value::<Option<DateTime<Utc>>>("leased_at")?
                .unwrap_or_default(),
            heartbeat_at: row
                .value::<Option<DateTime<Utc>>>("heartbeat_at")?
                .unwrap_or_default(),
            expires_at: from_millis(row.value::<Option<i64>>("lease_expires_at")?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(Job {
        id: row.value("id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        batch: row.value("batch")?,
        subject: row.value("subject")?,
        position: row.value("position")?,
        run_at: from_millis(row.value("run_at")?),
        attempts: row.value::<i64>("attempts")?.try_into().unwrap_or(u32::MAX),
        refusals: row.value::<i64>("refusals")?.try_into().unwrap_or(u32::MAX),
        last_error: row.value("last_error")?,
        lease,
    })
}

pub(crate) fn round_from_row(row: &impl Columns) -> Result<Round> {
    Ok(Round {
        batch: row.value("batch")?,
        incremental: row.value("incremental")?,
        started_at: row.value("started_at")?,
    })
}

pub(crate) fn throttle_from_row(r: &impl Columns) -> Result<ThrottleState> {
    let n =
        |c: &str| -> Result<u32> { Ok(r.value::<i64>(c)?.clamp(0, i64::from(u32::MAX)) as u32) };
    Ok(ThrottleState {
        aimd: cutover_model::Aimd::restore(n("lim")?, n("credits")?, n("max")?),
        closed_until: r.value::<Option<i64>>("closed_until")?.map(from_millis),
    })
}
