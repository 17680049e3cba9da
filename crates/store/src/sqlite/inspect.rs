//! [`StateInspection`] on SQLite: the dump and the invariants, each read in one
//! transaction so that a process writing meanwhile cannot make them disagree with
//! themselves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::UserStatus;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, parse, u32_col, u64_col};
use crate::Result;
use crate::inspect::{
    Invariant, InvariantViolation, StateInspection, folder, in_a_pass, num, owner, text, time,
};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

async fn rows(tx: &mut Tx<'_>, sql: &'static str) -> Result<Vec<SqliteRow>> {
    Ok(sqlx::query(sql).fetch_all(&mut **tx).await?)
}

fn t(row: &SqliteRow, col: &str) -> Result<&'static str> {
    let v: Option<DateTime<Utc>> = row.try_get(col)?;
    Ok(time(v))
}

fn s(row: &SqliteRow, col: &str) -> Result<String> {
    let v: Option<String> = row.try_get(col)?;
    Ok(text(v.as_deref()))
}

fn i(row: &SqliteRow, col: &str) -> Result<String> {
    let v: Option<i64> = row.try_get(col)?;
    Ok(num(v))
}

fn name(row: &SqliteRow, col: &str) -> Result<String> {
    let v: Vec<u8> = row.try_get(col)?;
    Ok(folder(&v))
}

/// Writes a section: its title with the row count, then one indented line per row.
fn section(out: &mut String, title: &str, lines: Vec<String>) {
    let _ = writeln!(out, "{title} ({})", lines.len());
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

fn connection(row: &SqliteRow) -> Result<String> {
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

async fn dump(tx: &mut Tx<'_>) -> Result<String> {
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
        let directory: Option<String> = r.try_get("directory")?;
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
        let directory: Option<String> = r.try_get("directory")?;
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
                 domain_check_skipped={}",
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
        let has_password: bool = r.try_get("has_password")?;
        let done: bool = r.try_get("initial_sync_done")?;
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
            let incremental: bool = r.try_get("incremental")?;
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
            let holder: Option<String> = r.try_get("lease_owner")?;
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
            let closed: Option<i64> = r.try_get("closed_until")?;
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
    Ok(out)
}

/// [`Invariant::OneCutoverBatch`].
async fn one_cutover_batch(tx: &mut Tx<'_>, out: &mut Vec<InvariantViolation>) -> Result<()> {
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM batches ORDER BY name")
        .fetch_all(&mut **tx)
        .await?;
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
async fn unique_target_uid(tx: &mut Tx<'_>, out: &mut Vec<InvariantViolation>) -> Result<()> {
    let shared = rows(
        tx,
        "SELECT * FROM (
           SELECT m.email, m.src_name, m.src_uidvalidity, m.src_uid, m.dst_uidvalidity, m.dst_uid,
             f.dst_name, COALESCE(f.dst_name, m.src_name) AS dst_folder,
             f.dst_name IS NULL AS by_source,
             COUNT(*) OVER (PARTITION BY m.email, COALESCE(f.dst_name, m.src_name),
               f.dst_name IS NULL, m.dst_uidvalidity, m.dst_uid) AS sharing
           FROM messages m LEFT JOIN folders f ON f.email = m.email AND f.src_name = m.src_name
           WHERE m.dst_uid IS NOT NULL AND m.dst_uidvalidity IS NOT NULL)
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
            r.try_get::<String, _>("email")?,
            r.try_get::<bool, _>("by_source")?,
            r.try_get::<Vec<u8>, _>("dst_folder")?,
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
async fn no_intent_after_finished_pass(
    tx: &mut Tx<'_>,
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
        let created: DateTime<Utc> = r.try_get("created_at")?;
        let last: Option<DateTime<Utc>> = r.try_get("last_synced_at")?;
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
async fn counters_match_ledger(tx: &mut Tx<'_>, out: &mut Vec<InvariantViolation>) -> Result<()> {
    let users = rows(
        tx,
        "SELECT u.email, u.status, u.items_synced, u.bytes_synced, u.items_skipped, u.bad_items,
           u.large_items,
           (SELECT COUNT(*) FROM messages m WHERE m.email = u.email) AS copied,
           (SELECT COALESCE(SUM(m.size), 0) FROM messages m WHERE m.email = u.email) AS copied_bytes,
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
async fn skipped_not_copied(tx: &mut Tx<'_>, out: &mut Vec<InvariantViolation>) -> Result<()> {
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
/// expiry is kept as Unix milliseconds, the other times as text) would be free or held
/// forever. Several leases of one owner are fine (a worker runs many mailboxes), and
/// one job has at most one lease, on its row.
async fn lease_times_in_order(tx: &mut Tx<'_>, out: &mut Vec<InvariantViolation>) -> Result<()> {
    for r in &rows(
        tx,
        "SELECT * FROM jobs WHERE lease_owner IS NOT NULL ORDER BY id",
    )
    .await?
    {
        let leased: Option<DateTime<Utc>> = r.try_get("leased_at")?;
        let heartbeat: Option<DateTime<Utc>> = r.try_get("heartbeat_at")?;
        let expires: Option<i64> = r.try_get("lease_expires_at")?;
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

#[async_trait]
impl StateInspection for SqliteStore {
    async fn dump_state(&self) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        let text = dump(&mut tx).await?;
        tx.commit().await?;
        Ok(text)
    }

    async fn check_invariants(&self) -> Result<Vec<InvariantViolation>> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::new();
        one_cutover_batch(&mut tx, &mut out).await?;
        unique_target_uid(&mut tx, &mut out).await?;
        no_intent_after_finished_pass(&mut tx, &mut out).await?;
        counters_match_ledger(&mut tx, &mut out).await?;
        skipped_not_copied(&mut tx, &mut out).await?;
        lease_times_in_order(&mut tx, &mut out).await?;
        tx.commit().await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use cutover_model::{SkippedKind, Target};
    use secrecy::SecretString;

    use super::super::tests::{batch, endpoint, finish_pass, new_user, skipped, start_pass, store};
    use super::*;
    use crate::inspect::assert_invariants;
    use crate::{
        AcceptedDomain, CopiedMessage, DomainStore, EndpointDiscovery, FolderState, Intent,
        JobKind, JobStore, MxCheck, NewJob, Store,
    };

    const A: &str = "a@b.test";

    async fn with_batch() -> (tempfile::TempDir, SqliteStore) {
        let (dir, store) = store().await;
        store
            .insert_endpoint(&endpoint("E"), &SecretString::from("adminpass".to_string()))
            .await
            .unwrap();
        store
            .create_batch(
                &batch("B", "E"),
                &[new_user(A, Some("userpass")), new_user("c@b.test", None)],
            )
            .await
            .unwrap();
        (dir, store)
    }

    fn copy(uid: u32, dst_uidvalidity: u32, dst_uid: u32) -> CopiedMessage {
        CopiedMessage {
            src_uid: uid,
            dst_uidvalidity: Some(dst_uidvalidity),
            dst_uid: Some(dst_uid),
            size: 10 * uid,
            flags: vec!["\\Seen".into()],
        }
    }

    fn intent(uid: u32, dst: &[u8]) -> Intent {
        Intent {
            src_uidvalidity: 7,
            src_uid: uid,
            dst_name: dst.to_vec(),
            dst_uid_floor: 3,
            size: 30,
            internal_date: 1_700_000_000,
        }
    }

    fn folder_state(src: &[u8], dst: &[u8]) -> FolderState {
        FolderState {
            src_name: src.to_vec(),
            src_uidvalidity: 7,
            dst_name: dst.to_vec(),
            uidnext: Some(4),
            highest_modseq: None,
            messages: 3,
            mailbox_id: None,
        }
    }

    async fn sql(store: &SqliteStore, sql: &'static str) {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }

    async fn violations(store: &SqliteStore) -> Vec<(Invariant, String)> {
        store
            .check_invariants()
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.invariant, v.detail))
            .collect()
    }

    #[tokio::test]
    async fn the_dump_shows_every_table_in_order_with_times_tokens_and_secrets_redacted() {
        let (_dir, store) = with_batch().await;
        let now = chrono::Utc::now();
        store
            .set_target(
                &Target {
                    connection: endpoint("T").connection,
                    updated_at: now,
                    folds_case: None,
                },
                &SecretString::from("targetpass".to_string()),
            )
            .await
            .unwrap();
        store
            .set_endpoint_discovery(&EndpointDiscovery {
                endpoint: "E".into(),
                email: "admin@b.test".into(),
                method: "SRV".into(),
                discovered_at: now,
            })
            .await
            .unwrap();
        for name in ["b.test", "a.test"] {
            store
                .add_accepted_domain(&AcceptedDomain {
                    name: name.into(),
                    token: format!("cutover-verification=token-of-{name}"),
                    created_at: now,
                    verified_at: None,
                })
                .await
                .unwrap();
        }
        store.set_domain_verified("b.test", now).await.unwrap();
        store
            .save_mx_check(&MxCheck {
                domain: "b.test".into(),
                expected_mx: vec!["mx.new.test".into()],
                first_switch_at: Some(now),
                last_checked_at: Some(now),
                last_state: Some("Target".into()),
            })
            .await
            .unwrap();
        // a@b.test in the middle of its first pass: INBOX done, Sent Items being copied
        // (its state is saved when it is done), a chunk in flight, a refused message.
        start_pass(&store, A).await;
        let sent = b"&AMk-l&AOk-ments envoy&AOk-s".as_slice();
        store
            .save_folder_state(A, &folder_state(b"INBOX", b"INBOX"))
            .await
            .unwrap();
        store
            .record_copies(A, b"INBOX", 7, &[copy(2, 9, 2), copy(1, 9, 1)])
            .await
            .unwrap();
        store
            .record_copies(A, sent, 7, &[copy(1, 11, 1)])
            .await
            .unwrap();
        store
            .record_intents(A, sent, &[intent(3, b"Sent")])
            .await
            .unwrap();
        store
            .record_skipped(A, &skipped(sent, 2, SkippedKind::LargeItem))
            .await
            .unwrap();
        let jobs = [A, "c@b.test"].map(|u| NewJob {
            kind: JobKind::MailboxPass,
            subject: u.into(),
            position: 0,
        });
        store.open_round("B", false, &jobs, now).await.unwrap();
        let limits = std::collections::BTreeMap::from([("B".to_string(), 1)]);
        store
            .claim_due("run@host/42/12345", 5, &limits, Duration::seconds(30), now)
            .await
            .unwrap();

        let dump = store.dump_state().await.unwrap();
        assert_eq!(
            dump,
            r#"target (1)
  server=127.0.0.1 port=143 security=None admin=admin impersonation=template:{user}*{admin} ca_file=- compression=auto oauth=- password=<redacted> updated_at=<time>
endpoints (1)
  E server=127.0.0.1 port=143 security=None admin=admin impersonation=template:{user}*{admin} ca_file=- compression=auto oauth=- password=<redacted> max_concurrent_migrations=100 max_concurrent_incremental_syncs=20 created_at=<time> autodiscover=admin@b.test method=SRV discovered_at=<time>
accepted domains (2)
  a.test token=<redacted> created_at=<time> verified_at=-
  b.test token=<redacted> created_at=<time> verified_at=<time>
mx checks (1)
  b.test expected_mx="[\"mx.new.test\"]" first_switch_at=<time> last_checked_at=<time> last_state=Target
batches (1)
  B source_endpoint=E status=Created created_at=<time> started_at=<time> initial_sync_at=- last_synced_at=- next_sync_at=- incremental_interval=86400s bad_item_limit=0 large_item_limit=0 excluded_folders="[\"Junk\"]" folder_map="[{\"source\":\"Sent Items\",\"target\":\"Sent\"}]" skipped_item_approval_time=- removal_threshold_percent=10 notification_emails="[]" report_interval=86400s skip_reports=0 domain_check_skipped=0
users (2)
  a@b.test batch=B position=0 recipient_type=UserMailbox source_login=- password=<redacted> status=Syncing error=- initial_sync_done=false last_synced_at=- source_items=0 items_synced=3 bytes_synced=40 items_skipped=0 bad_items=0 large_items=0 folders=0 last_pass_items=0 skipped_items_approved_at=- removals_held=0 removals_held_detail=- removals_approved_at=-
  c@b.test batch=B position=1 recipient_type=UserMailbox source_login=- password=- status=Queued error=- initial_sync_done=false last_synced_at=- source_items=0 items_synced=0 bytes_synced=0 items_skipped=0 bad_items=0 large_items=0 folders=0 last_pass_items=0 skipped_items_approved_at=- removals_held=0 removals_held_detail=- removals_approved_at=-
folders (1)
  a@b.test "INBOX" uidvalidity=7 -> "INBOX" uidnext=4 highest_modseq=- messages=3 mailbox_id=-
messages (3)
  a@b.test "Éléments envoyés" (wire "&AMk-l&AOk-ments envoy&AOk-s") 7:1 -> 11:1 size=10 flags="\\Seen"
  a@b.test "INBOX" 7:1 -> 9:1 size=10 flags="\\Seen"
  a@b.test "INBOX" 7:2 -> 9:2 size=20 flags="\\Seen"
intents (1)
  a@b.test "Éléments envoyés" (wire "&AMk-l&AOk-ments envoy&AOk-s") 7:3 -> "Sent" uid_floor=3 size=30 internal_date=1700000000 created_at=<time>
skipped items (1)
  a@b.test "Éléments envoyés" (wire "&AMk-l&AOk-ments envoy&AOk-s") 7:2 kind=LargeItem size=100 subject="Big one" reason="the target refused it: [TOOBIG] too big" skipped_at=<time> approved_at=-
rounds (1)
  B initial started_at=<time>
jobs (2)
  mailbox-pass a@b.test batch=B position=0 run_at=<time> attempts=0 refusals=0 last_error=- owner="run"@<redacted> leased_at=<time> heartbeat_at=<time> expires_at=<time>
  mailbox-pass c@b.test batch=B position=0 run_at=<time> attempts=0 refusals=0 last_error=- free
throttles (0)
smtp relay (0)
batch notifications (0)
"#
        );
        // No secret, sealed or not, and no random token.
        for query in [
            "SELECT password_sealed FROM target",
            "SELECT password_sealed FROM endpoints",
            "SELECT password_sealed FROM users",
            "SELECT token FROM accepted_domains",
        ] {
            let values: Vec<Option<String>> = sqlx::query_scalar(query)
                .fetch_all(&store.pool)
                .await
                .unwrap();
            assert!(!values.is_empty(), "{query}");
            for v in values.into_iter().flatten() {
                assert!(!dump.contains(&v), "{query}: {v} is in the dump");
            }
        }
        for secret in [
            "targetpass",
            "adminpass",
            "userpass",
            "v1.",
            "token-of",
            "/42/",
        ] {
            assert!(!dump.contains(secret), "{secret} is in the dump");
        }
        // Mid-pass, every invariant holds.
        assert_invariants(&store).await;
    }

    #[tokio::test]
    async fn an_empty_state_dumps_every_section_title() {
        let (_dir, store) = store().await;
        assert_eq!(
            store.dump_state().await.unwrap(),
            "target (0)\nendpoints (0)\naccepted domains (0)\nmx checks (0)\nbatches (0)\n\
             users (0)\nfolders (0)\nmessages (0)\nintents (0)\nskipped items (0)\nrounds (0)\njobs (0)\n\
             throttles (0)\nsmtp relay (0)\nbatch notifications (0)\n"
        );
        assert_invariants(&store).await;
    }

    #[tokio::test]
    async fn a_second_batch_is_named() {
        let (_dir, store) = with_batch().await;
        assert_invariants(&store).await;
        sql(
            &store,
            "INSERT INTO batches (name, source_endpoint, status, created_at, incremental_interval,
               bad_item_limit, large_item_limit, excluded_folders)
             VALUES ('B2', 'E', 'Created', '2025-01-01T00:00:00Z', 86400, 0, 0, '[]')",
        )
        .await;
        assert_eq!(
            violations(&store).await,
            [(Invariant::OneCutoverBatch, "2 batches exist: B, B2".into())]
        );
    }

    #[tokio::test]
    async fn two_messages_on_one_target_uid_are_named_with_their_target_folder() {
        let (_dir, store) = with_batch().await;
        let sent = b"Sent Items".as_slice();
        store
            .save_folder_state(A, &folder_state(b"INBOX", b"INBOX"))
            .await
            .unwrap();
        store
            .record_copies(A, b"INBOX", 7, &[copy(1, 9, 1), copy(2, 9, 2)])
            .await
            .unwrap();
        // The same target UID in another target folder, or at another UIDVALIDITY of the
        // same folder (recreated on the target), is another message.
        store
            .record_copies(A, sent, 7, &[copy(1, 9, 1)])
            .await
            .unwrap();
        store
            .record_copies(A, b"INBOX", 8, &[copy(1, 10, 1)])
            .await
            .unwrap();
        // Another user's mailbox is another mailbox.
        store
            .record_copies("c@b.test", b"INBOX", 7, &[copy(1, 9, 1)])
            .await
            .unwrap();
        // Without a target UID (a server without UIDPLUS) nothing can clash.
        let no_uid = CopiedMessage {
            dst_uidvalidity: None,
            dst_uid: None,
            ..copy(5, 0, 0)
        };
        store
            .record_copies(
                A,
                b"INBOX",
                7,
                &[
                    no_uid.clone(),
                    CopiedMessage {
                        src_uid: 6,
                        ..no_uid
                    },
                ],
            )
            .await
            .unwrap();
        assert_invariants(&store).await;

        sql(&store, "UPDATE messages SET dst_uid = 1 WHERE src_name = CAST('INBOX' AS BLOB) AND src_uid = 2").await;
        // Sent Items has no folder state yet (its first pass is copying it).
        store
            .record_copies(A, sent, 7, &[copy(3, 9, 1)])
            .await
            .unwrap();
        assert_eq!(
            violations(&store).await,
            [
                (
                    Invariant::UniqueTargetUid,
                    r#"a@b.test: target UID 9:1 in "INBOX" is recorded for 2 source messages: "INBOX" 7:1, "INBOX" 7:2"#
                        .into()
                ),
                (
                    Invariant::UniqueTargetUid,
                    r#"a@b.test: target UID 9:1 in the target folder of "Sent Items" is recorded for 2 source messages: "Sent Items" 7:1, "Sent Items" 7:3"#
                        .into()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn an_intent_a_finished_pass_left_is_named() {
        let (_dir, store) = with_batch().await;
        // A pass running, a pass stopped or failed with a chunk in flight: its intents
        // wait for the next pass.
        start_pass(&store, A).await;
        assert!(!store.has_intents(A).await.unwrap());
        store
            .record_intents(A, b"INBOX", &[intent(3, b"INBOX")])
            .await
            .unwrap();
        assert!(store.has_intents(A).await.unwrap());
        assert!(!store.has_intents("c@b.test").await.unwrap());
        assert_invariants(&store).await;
        for status in ["Stopped", "Failed", "Queued"] {
            sqlx::query("UPDATE users SET status = ? WHERE email = ?")
                .bind(status)
                .bind(A)
                .execute(&store.pool)
                .await
                .unwrap();
            assert_invariants(&store).await;
        }
        // The next pass resolves it and finishes; a later incremental pass is shut down
        // with a chunk in flight: Synced, and its intent written after the last finish.
        store.drop_intents(A, b"INBOX", 7, &[3]).await.unwrap();
        assert!(!store.has_intents(A).await.unwrap());
        finish_pass(&store, A).await;
        store
            .record_intents(A, b"INBOX", &[intent(4, b"INBOX")])
            .await
            .unwrap();
        assert_invariants(&store).await;

        // Written before the last pass finished, and still there.
        sql(
            &store,
            "UPDATE intents SET created_at = '2025-01-01T00:00:00+00:00'",
        )
        .await;
        let found = violations(&store).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Invariant::NoIntentAfterFinishedPass);
        assert!(
            found[0].1.starts_with(
                r#"a@b.test (Synced): the intent for "INBOX" 7:4 was written at 2025-01-01T00:00:00+00:00 and the pass that finished at "#
            ),
            "{}",
            found[0].1
        );
    }

    #[tokio::test]
    async fn counters_that_drift_from_the_ledger_are_named_unless_a_pass_runs() {
        let (_dir, store) = with_batch().await;
        store
            .record_copies(A, b"INBOX", 7, &[copy(1, 9, 1), copy(2, 9, 2)])
            .await
            .unwrap();
        store
            .record_skipped(A, &skipped(b"INBOX", 3, SkippedKind::LargeItem))
            .await
            .unwrap();
        finish_pass(&store, A).await;
        assert_invariants(&store).await;

        sql(
            &store,
            "UPDATE users SET bytes_synced = bytes_synced + 1, items_skipped = 4, bad_items = 3
             WHERE email = 'a@b.test'",
        )
        .await;
        assert_eq!(
            violations(&store).await,
            [(
                Invariant::CountersMatchLedger,
                "a@b.test (Synced): bytes_synced=31 but 30 bytes of copied messages, \
                 items_skipped=4 but 1 skipped items, bad_items=3 but 0 skipped bad items"
                    .into()
            )]
        );
        // A pass that runs counts at its end.
        for status in ["Syncing", "IncrementalSyncing"] {
            sqlx::query("UPDATE users SET status = ? WHERE email = ?")
                .bind(status)
                .bind(A)
                .execute(&store.pool)
                .await
                .unwrap();
            assert_invariants(&store).await;
        }
    }

    #[tokio::test]
    async fn a_skipped_item_that_was_copied_is_named() {
        let (_dir, store) = with_batch().await;
        start_pass(&store, A).await;
        store
            .record_copies(A, b"INBOX", 7, &[copy(1, 9, 1)])
            .await
            .unwrap();
        // A skip of the same UID at an older UIDVALIDITY names a message that is gone.
        let mut old = skipped(b"INBOX", 1, SkippedKind::BadItem);
        old.src_uidvalidity = 6;
        store.record_skipped(A, &old).await.unwrap();
        assert_invariants(&store).await;

        sql(&store, "UPDATE skipped_items SET src_uidvalidity = 7").await;
        assert_eq!(
            violations(&store).await,
            [(
                Invariant::SkippedNotCopied,
                r#"a@b.test: "INBOX" 7:1 is both a skipped item (BadItem) and a copied message"#
                    .into()
            )]
        );
    }

    #[tokio::test]
    async fn a_lease_whose_times_are_out_of_order_is_named() {
        let (_dir, store) = with_batch().await;
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let jobs = [A, "c@b.test"].map(|u| NewJob {
            kind: JobKind::MailboxPass,
            subject: u.into(),
            position: 0,
        });
        store.open_round("B", false, &jobs, now).await.unwrap();
        let limits = std::collections::BTreeMap::from([("B".to_string(), 2)]);
        let claimed = store
            .claim_due("w", 2, &limits, Duration::seconds(30), now)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        assert_invariants(&store).await;
        // The expiry in seconds where milliseconds belong: expired since 1970.
        sql(
            &store,
            "UPDATE jobs SET lease_expires_at = lease_expires_at / 1000 WHERE subject = 'a@b.test'",
        )
        .await;
        assert_eq!(
            violations(&store).await,
            [(
                Invariant::LeaseTimesInOrder,
                "the lease on job mailbox-pass a@b.test: taken at 2027-01-15T08:00:00+00:00, heartbeat at \
                 2027-01-15T08:00:00+00:00, expires at 1970-01-21T20:00:00.030+00:00"
                    .into()
            )]
        );
    }
}
