//! The reading half of [`crate::StateInspection`], written once for both backends: the
//! dump and the invariants run the same SQL (plain enough for SQLite and PostgreSQL) over
//! one transaction of either, so that the same steps dump the same text on both.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::UserStatus;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{Invariant, InvariantViolation, folder, in_a_pass, num, owner, text, time};
use crate::Result;
use crate::rows::{Columns, parse, u32_col, u64_col};

/// One consistent read of the state (a transaction of either backend).
#[async_trait]
pub(crate) trait Reader: Send {
    type Row: Columns + Send + Sync;
    async fn fetch(&mut self, sql: &'static str) -> Result<Vec<Self::Row>>;
}

#[async_trait]
impl Reader for sqlx::Transaction<'_, sqlx::Sqlite> {
    type Row = SqliteRow;
    async fn fetch(&mut self, sql: &'static str) -> Result<Vec<SqliteRow>> {
        Ok(sqlx::query(sql).fetch_all(&mut **self).await?)
    }
}

#[async_trait]
impl Reader for sqlx::Transaction<'_, sqlx::Postgres> {
    type Row = PgRow;
    async fn fetch(&mut self, sql: &'static str) -> Result<Vec<PgRow>> {
        Ok(sqlx::query(sql).fetch_all(&mut **self).await?)
    }
}

async fn rows<R: Reader>(tx: &mut R, sql: &'static str) -> Result<Vec<R::Row>> {
    tx.fetch(sql).await
}

fn t(row: &impl Columns, col: &str) -> Result<&'static str> {
    let v: Option<DateTime<Utc>> = row.value(col)?;
    Ok(time(v))
}

fn s(row: &impl Columns, col: &str) -> Result<String> {
    let v: Option<String> = row.value(col)?;
    Ok(text(v.as_deref()))
}

fn i(row: &impl Columns, col: &str) -> Result<String> {
    let v: Option<i64> = row.value(col)?;
    Ok(num(v))
}

fn name(row: &impl Columns, col: &str) -> Result<String> {
    let v: Vec<u8> = row.value(col)?;
    Ok(folder(&v))
}

/// Writes a section: its title with the row count, then one indented line per row.
fn section(out: &mut String, title: &str, lines: Vec<String>) {
    let _ = writeln!(out, "{title} ({})", lines.len());
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

fn connection(row: &impl Columns) -> Result<String> {
    Ok(format!(
        "server={} port={} security={} admin={} impersonation={} ca_file={} compression={} oauth={} password=<redacted>",
        s(row, "server")?,
        i(row, "port")?,
        s(row, "security")?,
        s(row, "admin")?,
        s(row, "impersonation")?,
        s(row, "ca_file")?,
        s(row, "compression")?,
        // The OAuth application's settings (JSON); its secret is the sealed "password".
        s(row, "oauth")?,
    ))
}

pub(crate) async fn dump<R: Reader>(tx: &mut R) -> Result<String> {
    let mut out = String::new();
    // Never `SELECT *` where a sealed secret lives: it is not read at all.
    let target = rows(
        tx,
        "SELECT t.server, t.port, t.security, t.admin, t.impersonation, t.ca_file, t.compression,
           t.oauth, t.updated_at, x.settings AS directory
         FROM target t LEFT JOIN target_directory x ON x.id = t.id",
    )
    .await?
    .iter()
    .map(|r| {
        // The target directory's settings (JSON); its bind password is sealed and not read.
        let directory: Option<String> = r.value("directory")?;
        Ok(format!(
            "{} updated_at={}{}",
            connection(r)?,
            t(r, "updated_at")?,
            directory
                .map(|d| format!(" target_directory={d} target_directory_password=<redacted>"))
                .unwrap_or_default(),
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "target", target);

    let endpoints = rows(
        tx,
        "SELECT e.name, e.server, e.port, e.security, e.admin, e.impersonation, e.ca_file,
           e.compression, e.oauth, e.max_concurrent_migrations, e.max_concurrent_incremental_syncs,
           e.created_at, d.email AS discovered_for, d.method, d.discovered_at,
           x.settings AS directory
         FROM endpoints e LEFT JOIN endpoint_discovery d ON d.endpoint = e.name
           LEFT JOIN endpoint_directories x ON x.endpoint = e.name
         ORDER BY e.name",
    )
    .await?
    .iter()
    .map(|r| {
        // The source directory's settings (JSON), when there is one; its bind password is
        // sealed and not read.
        let directory: Option<String> = r.value("directory")?;
        Ok(format!(
            "{} {} max_concurrent_migrations={} max_concurrent_incremental_syncs={} created_at={} \
             autodiscover={} method={} discovered_at={}{}",
            s(r, "name")?,
            connection(r)?,
            i(r, "max_concurrent_migrations")?,
            i(r, "max_concurrent_incremental_syncs")?,
            t(r, "created_at")?,
            s(r, "discovered_for")?,
            s(r, "method")?,
            t(r, "discovered_at")?,
            directory
                .map(|d| format!(" directory={d} directory_password=<redacted>"))
                .unwrap_or_default(),
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "endpoints", endpoints);

    // The token is random (and public once in DNS): whether the domain is verified is
    // what matters.
    let domains = rows(
        tx,
        "SELECT name, created_at, verified_at FROM accepted_domains ORDER BY name",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} token=<redacted> created_at={} verified_at={}",
            s(r, "name")?,
            t(r, "created_at")?,
            t(r, "verified_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "accepted domains", domains);

    let mx = rows(tx, "SELECT * FROM mx_checks ORDER BY domain")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} expected_mx={} first_switch_at={} last_checked_at={} last_state={}",
                s(r, "domain")?,
                s(r, "expected_mx")?,
                t(r, "first_switch_at")?,
                t(r, "last_checked_at")?,
                s(r, "last_state")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "mx checks", mx);

    let batches = rows(tx, "SELECT * FROM batches ORDER BY name")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} source_endpoint={} status={} created_at={} started_at={} initial_sync_at={} \
                 last_synced_at={} next_sync_at={} incremental_interval={}s bad_item_limit={} \
                 large_item_limit={} excluded_folders={} folder_map={} \
                 skipped_item_approval_time={} removal_threshold_percent={} \
                 notification_emails={} report_interval={}s skip_reports={} \
                 domain_check_skipped={} from_directory={}",
                s(r, "name")?,
                s(r, "source_endpoint")?,
                s(r, "status")?,
                t(r, "created_at")?,
                t(r, "started_at")?,
                t(r, "initial_sync_at")?,
                t(r, "last_synced_at")?,
                t(r, "next_sync_at")?,
                i(r, "incremental_interval")?,
                i(r, "bad_item_limit")?,
                i(r, "large_item_limit")?,
                s(r, "excluded_folders")?,
                s(r, "folder_map")?,
                t(r, "skipped_item_approval_time")?,
                i(r, "removal_threshold_percent")?,
                s(r, "notification_emails")?,
                i(r, "report_interval")?,
                i(r, "skip_reports")?,
                i(r, "domain_check_skipped")?,
                i(r, "from_directory")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "batches", batches);

    // last_pass_millis is left out: a measured duration, never the same twice.
    let users = rows(
        tx,
        "SELECT email, batch, position, recipient_type, source_login,
           password_sealed IS NOT NULL AS has_password,
           status, error, initial_sync_done, last_synced_at, source_items, items_synced,
           bytes_synced, items_skipped, bad_items, large_items, folders, last_pass_items,
           skipped_items_approved_at, removals_held, removals_held_detail, removals_approved_at
         FROM users ORDER BY email",
    )
    .await?
    .iter()
    .map(|r| {
        let has_password: bool = r.value("has_password")?;
        let done: bool = r.value("initial_sync_done")?;
        Ok(format!(
            "{} batch={} position={} recipient_type={} source_login={} password={} status={} error={} \
             initial_sync_done={done} last_synced_at={} source_items={} items_synced={} \
             bytes_synced={} items_skipped={} bad_items={} large_items={} folders={} \
             last_pass_items={} skipped_items_approved_at={} removals_held={} \
             removals_held_detail={} removals_approved_at={}",
            s(r, "email")?,
            s(r, "batch")?,
            i(r, "position")?,
            s(r, "recipient_type")?,
            s(r, "source_login")?,
            if has_password { "<redacted>" } else { "-" },
            s(r, "status")?,
            s(r, "error")?,
            t(r, "last_synced_at")?,
            i(r, "source_items")?,
            i(r, "items_synced")?,
            i(r, "bytes_synced")?,
            i(r, "items_skipped")?,
            i(r, "bad_items")?,
            i(r, "large_items")?,
            i(r, "folders")?,
            i(r, "last_pass_items")?,
            t(r, "skipped_items_approved_at")?,
            i(r, "removals_held")?,
            s(r, "removals_held_detail")?,
            t(r, "removals_approved_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "users", users);

    // The desired entry is shown by its digest; an initial password only as being kept.
    let provisioning = rows(
        tx,
        "SELECT email, desired_digest, applied_digest, target_dn, provisioned_at, updated_at,
           error, password_sealed IS NOT NULL AS has_password, password_set_at,
           password_handed_out_at
         FROM provisioning ORDER BY email",
    )
    .await?
    .iter()
    .map(|r| {
        let has_password: bool = r.value("has_password")?;
        Ok(format!(
            "{} desired_digest={} applied_digest={} target_dn={} provisioned_at={} updated_at={} \
             error={} initial_password={} password_set_at={} password_handed_out_at={}",
            s(r, "email")?,
            s(r, "desired_digest")?,
            s(r, "applied_digest")?,
            s(r, "target_dn")?,
            t(r, "provisioned_at")?,
            t(r, "updated_at")?,
            s(r, "error")?,
            if has_password { "<redacted>" } else { "-" },
            t(r, "password_set_at")?,
            t(r, "password_handed_out_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "provisioning", provisioning);

    let folders = rows(tx, "SELECT * FROM folders ORDER BY email, src_name")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} {} uidvalidity={} -> {} uidnext={} highest_modseq={} messages={} mailbox_id={}",
                s(r, "email")?,
                name(r, "src_name")?,
                i(r, "src_uidvalidity")?,
                name(r, "dst_name")?,
                i(r, "uidnext")?,
                i(r, "highest_modseq")?,
                i(r, "messages")?,
                s(r, "mailbox_id")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "folders", folders);

    let messages = rows(
        tx,
        "SELECT * FROM messages ORDER BY email, src_name, src_uidvalidity, src_uid",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} {}:{} -> {}:{} size={} flags={}",
            s(r, "email")?,
            name(r, "src_name")?,
            i(r, "src_uidvalidity")?,
            i(r, "src_uid")?,
            i(r, "dst_uidvalidity")?,
            i(r, "dst_uid")?,
            i(r, "size")?,
            s(r, "flags")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "messages", messages);

    let intents = rows(
        tx,
        "SELECT * FROM intents ORDER BY email, src_name, src_uidvalidity, src_uid",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} {}:{} -> {} uid_floor={} size={} internal_date={} created_at={}",
            s(r, "email")?,
            name(r, "src_name")?,
            i(r, "src_uidvalidity")?,
            i(r, "src_uid")?,
            name(r, "dst_name")?,
            i(r, "dst_uid_floor")?,
            i(r, "size")?,
            i(r, "internal_date")?,
            t(r, "created_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "intents", intents);

    let skipped = rows(
        tx,
        "SELECT * FROM skipped_items ORDER BY email, src_name, src_uid",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} {}:{} kind={} size={} subject={} reason={} skipped_at={} approved_at={}",
            s(r, "email")?,
            name(r, "src_name")?,
            i(r, "src_uidvalidity")?,
            i(r, "src_uid")?,
            s(r, "kind")?,
            i(r, "size")?,
            s(r, "subject")?,
            s(r, "reason")?,
            t(r, "skipped_at")?,
            t(r, "approved_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "skipped items", skipped);

    let rounds = rows(tx, "SELECT * FROM rounds ORDER BY batch")
        .await?
        .iter()
        .map(|r| {
            let incremental: bool = r.value("incremental")?;
            Ok(format!(
                "{} {} started_at={}",
                s(r, "batch")?,
                if incremental {
                    "incremental"
                } else {
                    "initial"
                },
                t(r, "started_at")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "rounds", rounds);

    let jobs = rows(tx, "SELECT * FROM jobs ORDER BY batch, position, id")
        .await?
        .iter()
        .map(|r| {
            let holder: Option<String> = r.value("lease_owner")?;
            let lease = match holder {
                Some(holder) => format!(
                    "owner={} leased_at={} heartbeat_at={} expires_at=<time>",
                    owner(&holder),
                    t(r, "leased_at")?,
                    t(r, "heartbeat_at")?,
                ),
                None => "free".to_string(),
            };
            Ok(format!(
                "{} {} batch={} position={} run_at=<time> attempts={} refusals={} last_error={} {lease}",
                s(r, "kind")?,
                s(r, "subject")?,
                s(r, "batch")?,
                i(r, "position")?,
                i(r, "attempts")?,
                i(r, "refusals")?,
                s(r, "last_error")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "jobs", jobs);

    let throttles = rows(tx, "SELECT * FROM throttles ORDER BY batch")
        .await?
        .iter()
        .map(|r| {
            let closed: Option<i64> = r.value("closed_until")?;
            Ok(format!(
                "{} limit={} credits={} max={} closed_until={}",
                s(r, "batch")?,
                i(r, "lim")?,
                i(r, "credits")?,
                i(r, "max")?,
                if closed.is_some() { "<time>" } else { "-" },
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "throttles", throttles);

    // The relay's sealed password is not read: whether it has one is what matters.
    let relay = rows(
        tx,
        "SELECT host, port, tls, from_address, username, password_sealed IS NOT NULL AS has_password,
           ca_file, updated_at
         FROM smtp_relay",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{}:{} tls={} from={} user={} has_password={} ca_file={} updated_at={}",
            s(r, "host")?,
            i(r, "port")?,
            s(r, "tls")?,
            s(r, "from_address")?,
            s(r, "username")?,
            i(r, "has_password")?,
            s(r, "ca_file")?,
            t(r, "updated_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(&mut out, "smtp relay", relay);

    let notified = rows(tx, "SELECT * FROM batch_notifications ORDER BY batch")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} initial_sync_notified_at={} last_report_at={} failures_announced={}",
                s(r, "batch")?,
                t(r, "initial_sync_notified_at")?,
                t(r, "last_report_at")?,
                s(r, "failures_announced")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(&mut out, "batch notifications", notified);
    licenses(tx, &mut out).await?;
    dump_dav(tx, &mut out).await?;
    Ok(out)
}

/// The calendars-and-contacts part: each side's DAV settings (no secret is in them), then
/// the DAV ledger (records, intents, sync tokens, skipped items) and how each user's last
/// DAV pass ended.
async fn dump_dav<R: Reader>(tx: &mut R, out: &mut String) -> Result<()> {
    let settings = rows(
        tx,
        "SELECT 'target' AS side, dav FROM target WHERE dav IS NOT NULL
         UNION ALL
         SELECT 'endpoint ' || name AS side, dav FROM endpoints WHERE dav IS NOT NULL
         ORDER BY side",
    )
    .await?
    .iter()
    .map(|r| Ok(format!("{} {}", s(r, "side")?, s(r, "dav")?)))
    .collect::<Result<_>>()?;
    section(out, "dav settings", settings);

    let records = rows(
        tx,
        "SELECT * FROM dav_records ORDER BY user_email, source_href",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} etag={} uid={} kind={} -> {} etag={} updated_at={}",
            s(r, "user_email")?,
            s(r, "source_href")?,
            s(r, "source_etag")?,
            s(r, "uid")?,
            s(r, "kind")?,
            s(r, "target_href")?,
            s(r, "target_etag")?,
            t(r, "updated_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(out, "dav records", records);

    let intents = rows(
        tx,
        "SELECT * FROM dav_intents ORDER BY user_email, source_href",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} etag={} uid={} kind={} -> {} created_at={}",
            s(r, "user_email")?,
            s(r, "source_href")?,
            s(r, "source_etag")?,
            s(r, "uid")?,
            s(r, "kind")?,
            s(r, "target_href")?,
            t(r, "created_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(out, "dav intents", intents);

    let tokens = rows(
        tx,
        "SELECT * FROM dav_sync_tokens ORDER BY user_email, source_collection",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} token={} updated_at={}",
            s(r, "user_email")?,
            s(r, "source_collection")?,
            s(r, "token")?,
            t(r, "updated_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(out, "dav sync tokens", tokens);

    let skipped = rows(
        tx,
        "SELECT * FROM dav_skipped ORDER BY user_email, source_href",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} {} kind={} reason={} skipped_at={} approved_at={}",
            s(r, "user_email")?,
            s(r, "source_href")?,
            s(r, "kind")?,
            s(r, "reason")?,
            t(r, "skipped_at")?,
            t(r, "approved_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(out, "dav skipped items", skipped);

    let passes = rows(tx, "SELECT * FROM dav_passes ORDER BY user_email")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} ended_at={} error={}",
                s(r, "user_email")?,
                t(r, "ended_at")?,
                s(r, "error")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(out, "dav passes", passes);
    Ok(())
}

/// The license SKUs, assignments, grace period and disabled logins. Sorted here, not
/// by SQL: SKU names compare without case, and the backends order such names apart.
async fn licenses<R: Reader>(tx: &mut R, out: &mut String) -> Result<()> {
    let sorted = |mut lines: Vec<String>| {
        lines.sort();
        lines
    };
    let skus = rows(
        tx,
        "SELECT s.name, s.units, s.created_at,
           (SELECT COUNT(*) FROM license_assignments a WHERE a.sku = s.name) AS assigned
         FROM license_skus s",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} units={} assigned={} created_at={}",
            s(r, "name")?,
            i(r, "units")?,
            i(r, "assigned")?,
            t(r, "created_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(out, "license skus", sorted(skus));
    let assignments = rows(
        tx,
        "SELECT email, sku, assigned_at FROM license_assignments",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(format!(
            "{} sku={} assigned_at={}",
            s(r, "email")?,
            s(r, "sku")?,
            t(r, "assigned_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    section(out, "license assignments", sorted(assignments));
    let settings = rows(tx, "SELECT grace_seconds, updated_at FROM license_settings")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "grace_seconds={} updated_at={}",
                i(r, "grace_seconds")?,
                t(r, "updated_at")?,
            ))
        })
        .collect::<Result<_>>()?;
    section(out, "license settings", settings);
    let disabled = rows(tx, "SELECT email, disabled_at FROM disabled_logins")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} disabled_at={}",
                s(r, "email")?,
                t(r, "disabled_at")?
            ))
        })
        .collect::<Result<_>>()?;
    section(out, "disabled logins", sorted(disabled));
    let governed = rows(tx, "SELECT email, provisioned_at FROM license_users")
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} provisioned_at={}",
                s(r, "email")?,
                t(r, "provisioned_at")?
            ))
        })
        .collect::<Result<_>>()?;
    section(out, "license users", sorted(governed));
    Ok(())
}

/// [`Invariant::OneCutoverBatch`].
async fn one_cutover_batch<R: Reader>(tx: &mut R, out: &mut Vec<InvariantViolation>) -> Result<()> {
    let names = rows(tx, "SELECT name FROM batches ORDER BY name")
        .await?
        .iter()
        .map(|r| r.value::<String>("name"))
        .collect::<Result<Vec<_>>>()?;
    if names.len() > 1 {
        out.push(InvariantViolation::new(
            Invariant::OneCutoverBatch,
            format!("{} batches exist: {}", names.len(), names.join(", ")),
        ));
    }
    Ok(())
}

/// [`Invariant::UniqueTargetUid`]. The message map does not name the target folder: it
/// is the source folder's (`folders.dst_name`), or, before the first pass saved the
/// folder's state, the source folder itself stands for it (two source folders never
/// go to one target folder).
async fn unique_target_uid<R: Reader>(tx: &mut R, out: &mut Vec<InvariantViolation>) -> Result<()> {
    let shared = rows(
        tx,
        "SELECT * FROM (
           SELECT m.email, m.src_name, m.src_uidvalidity, m.src_uid, m.dst_uidvalidity, m.dst_uid,
             f.dst_name, COALESCE(f.dst_name, m.src_name) AS dst_folder,
             f.dst_name IS NULL AS by_source,
             COUNT(*) OVER (PARTITION BY m.email, COALESCE(f.dst_name, m.src_name),
               f.dst_name IS NULL, m.dst_uidvalidity, m.dst_uid) AS sharing
           FROM messages m LEFT JOIN folders f ON f.email = m.email AND f.src_name = m.src_name
           WHERE m.dst_uid IS NOT NULL AND m.dst_uidvalidity IS NOT NULL) AS mapped
         WHERE sharing > 1
         ORDER BY email, by_source, dst_folder, dst_uidvalidity, dst_uid, src_name,
           src_uidvalidity, src_uid",
    )
    .await?;
    // (user, keyed by source folder, target folder, target UIDVALIDITY, target UID)
    type TargetUid = (String, bool, Vec<u8>, u32, u32);
    let mut groups: BTreeMap<TargetUid, Vec<String>> = BTreeMap::new();
    for r in &shared {
        let key = (
            r.value::<String>("email")?,
            r.value::<bool>("by_source")?,
            r.value::<Vec<u8>>("dst_folder")?,
            u32_col(r, "dst_uidvalidity")?,
            u32_col(r, "dst_uid")?,
        );
        groups.entry(key).or_default().push(format!(
            "{} {}:{}",
            name(r, "src_name")?,
            i(r, "src_uidvalidity")?,
            i(r, "src_uid")?,
        ));
    }
    for ((email, by_source, dst_folder, validity, uid), sources) in groups {
        let target = if by_source {
            format!("the target folder of {}", folder(&dst_folder))
        } else {
            folder(&dst_folder)
        };
        out.push(InvariantViolation::new(
            Invariant::UniqueTargetUid,
            format!(
                "{email}: target UID {validity}:{uid} in {target} is recorded for {} source messages: {}",
                sources.len(),
                sources.join(", ")
            ),
        ));
    }
    Ok(())
}

/// [`Invariant::NoIntentAfterFinishedPass`]. Not by status alone: every status can
/// legitimately hold intents. A pass stopped or shut down after its grace (the server
/// stalled mid-APPEND) leaves them with a Stopped, Queued or (an incremental pass)
/// Synced user; a pass that failed mid-APPEND with a Failed one; a killed worker with a
/// Syncing one. Each is resolved by the next pass. What no pass may do is finish while
/// one is left: a finished pass sets `last_synced_at` after resolving every intent of the
/// folders it visited, so an intent written before that time was passed over.
async fn no_intent_after_finished_pass<R: Reader>(
    tx: &mut R,
    out: &mut Vec<InvariantViolation>,
) -> Result<()> {
    let intents = rows(
        tx,
        "SELECT i.email, i.src_name, i.src_uidvalidity, i.src_uid, i.created_at,
           u.status, u.last_synced_at
         FROM intents i JOIN users u ON u.email = i.email
         ORDER BY i.email, i.src_name, i.src_uidvalidity, i.src_uid",
    )
    .await?;
    for r in &intents {
        let created: DateTime<Utc> = r.value("created_at")?;
        let last: Option<DateTime<Utc>> = r.value("last_synced_at")?;
        if let Some(last) = last.filter(|last| created < *last) {
            out.push(InvariantViolation::new(
                Invariant::NoIntentAfterFinishedPass,
                format!(
                    "{} ({}): the intent for {} {}:{} was written at {} and the pass that \
                     finished at {} left it",
                    s(r, "email")?,
                    s(r, "status")?,
                    name(r, "src_name")?,
                    i(r, "src_uidvalidity")?,
                    i(r, "src_uid")?,
                    created.to_rfc3339(),
                    last.to_rfc3339(),
                ),
            ));
        }
    }
    Ok(())
}

/// [`Invariant::CountersMatchLedger`], for users no pass of which is running
/// ([`in_a_pass`]): a running pass moves `items_synced` as it records copies, but
/// counts the rest at its end.
async fn counters_match_ledger<R: Reader>(
    tx: &mut R,
    out: &mut Vec<InvariantViolation>,
) -> Result<()> {
    let users = rows(
        tx,
        "SELECT u.email, u.status, u.items_synced, u.bytes_synced, u.items_skipped, u.bad_items,
           u.large_items,
           (SELECT COUNT(*) FROM messages m WHERE m.email = u.email) AS copied,
           (SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM messages m WHERE m.email = u.email) AS copied_bytes,
           (SELECT COUNT(*) FROM skipped_items s WHERE s.email = u.email AND s.kind = 'BadItem') AS bad,
           (SELECT COUNT(*) FROM skipped_items s WHERE s.email = u.email AND s.kind = 'LargeItem') AS large,
           (SELECT COUNT(*) FROM skipped_items s WHERE s.email = u.email) AS skipped
         FROM users u ORDER BY u.email",
    )
    .await?;
    for r in &users {
        let status = parse::<UserStatus>(r, "status")?;
        if in_a_pass(status) {
            continue;
        }
        let mut wrong = Vec::new();
        for (counter, ledger, what) in [
            ("items_synced", "copied", "copied messages"),
            ("bytes_synced", "copied_bytes", "bytes of copied messages"),
            ("items_skipped", "skipped", "skipped items"),
            ("bad_items", "bad", "skipped bad items"),
            ("large_items", "large", "skipped large items"),
        ] {
            let (counter_value, ledger_value) = (u64_col(r, counter)?, u64_col(r, ledger)?);
            if counter_value != ledger_value {
                wrong.push(format!(
                    "{counter}={counter_value} but {ledger_value} {what}"
                ));
            }
        }
        if !wrong.is_empty() {
            out.push(InvariantViolation::new(
                Invariant::CountersMatchLedger,
                format!("{} ({status}): {}", s(r, "email")?, wrong.join(", ")),
            ));
        }
    }
    Ok(())
}

/// [`Invariant::SkippedNotCopied`], for the same message (same UIDVALIDITY): a skip at
/// an older UIDVALIDITY names a message that is gone (`record_copies` removes those too,
/// but the next pass does as well).
async fn skipped_not_copied<R: Reader>(
    tx: &mut R,
    out: &mut Vec<InvariantViolation>,
) -> Result<()> {
    let both = rows(
        tx,
        "SELECT s.email, s.src_name, s.src_uidvalidity, s.src_uid, s.kind
         FROM skipped_items s JOIN messages m ON m.email = s.email AND m.src_name = s.src_name
           AND m.src_uidvalidity = s.src_uidvalidity AND m.src_uid = s.src_uid
         ORDER BY s.email, s.src_name, s.src_uidvalidity, s.src_uid",
    )
    .await?;
    for r in &both {
        out.push(InvariantViolation::new(
            Invariant::SkippedNotCopied,
            format!(
                "{}: {} {}:{} is both a skipped item ({}) and a copied message",
                s(r, "email")?,
                name(r, "src_name")?,
                i(r, "src_uidvalidity")?,
                i(r, "src_uid")?,
                s(r, "kind")?,
            ),
        ));
    }
    Ok(())
}

/// [`Invariant::LeaseTimesInOrder`]: a lease written with the wrong unit or sign (the
/// expiry is kept as Unix milliseconds, the other times as times) would be free or held
/// forever. Several leases of one owner are fine (a worker runs many mailboxes), and
/// one job has at most one lease, on its row.
async fn lease_times_in_order<R: Reader>(
    tx: &mut R,
    out: &mut Vec<InvariantViolation>,
) -> Result<()> {
    for r in &rows(
        tx,
        "SELECT * FROM jobs WHERE lease_owner IS NOT NULL ORDER BY id",
    )
    .await?
    {
        let leased: Option<DateTime<Utc>> = r.value("leased_at")?;
        let heartbeat: Option<DateTime<Utc>> = r.value("heartbeat_at")?;
        let expires: Option<i64> = r.value("lease_expires_at")?;
        let in_order = match (leased, heartbeat, expires) {
            (Some(l), Some(h), Some(e)) => l <= h && h.timestamp_millis() < e,
            _ => false,
        };
        if !in_order {
            let expires = expires.map_or_else(
                || "never".to_string(),
                |e| {
                    DateTime::from_timestamp_millis(e)
                        .map_or_else(|| format!("{e} ms"), |e| e.to_rfc3339())
                },
            );
            let show =
                |t: Option<DateTime<Utc>>| t.map_or_else(|| "never".into(), |t| t.to_rfc3339());
            out.push(InvariantViolation::new(
                Invariant::LeaseTimesInOrder,
                format!(
                    "the lease on job {} {}: taken at {}, heartbeat at {}, expires at {expires}",
                    s(r, "kind")?,
                    s(r, "subject")?,
                    show(leased),
                    show(heartbeat),
                ),
            ));
        }
    }
    Ok(())
}

/// Every invariant, over the reader's one transaction.
pub(crate) async fn check<R: Reader>(tx: &mut R) -> Result<Vec<InvariantViolation>> {
    let mut out = Vec::new();
    one_cutover_batch(tx, &mut out).await?;
    unique_target_uid(tx, &mut out).await?;
    no_intent_after_finished_pass(tx, &mut out).await?;
    counters_match_ledger(tx, &mut out).await?;
    skipped_not_copied(tx, &mut out).await?;
    lease_times_in_order(tx, &mut out).await?;
    Ok(out)
}
