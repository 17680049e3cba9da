//! [`DavStore`] on SQLite: records, intents and sync tokens in three tables (0021).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{DavSettings, SkippedKind};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::Result;
use crate::dav::{DavIntent, DavItemKind, DavLedger, DavRecord, DavStore, DavSummary};
use crate::rows::{corrupt, dav_json};

fn record_from(row: &SqliteRow) -> Result<DavRecord> {
    Ok(DavRecord {
        source_collection: row.try_get("source_collection")?,
        source_href: row.try_get("source_href")?,
        source_etag: row.try_get("source_etag")?,
        uid: row.try_get("uid")?,
        target_collection: row.try_get("target_collection")?,
        target_href: row.try_get("target_href")?,
        target_etag: row.try_get("target_etag")?,
        kind: kind_from(row)?,
    })
}

fn intent_from(row: &SqliteRow) -> Result<DavIntent> {
    Ok(DavIntent {
        source_collection: row.try_get("source_collection")?,
        source_href: row.try_get("source_href")?,
        source_etag: row.try_get("source_etag")?,
        uid: row.try_get("uid")?,
        target_collection: row.try_get("target_collection")?,
        target_href: row.try_get("target_href")?,
        kind: kind_from(row)?,
    })
}

fn skipped_item_from(row: &SqliteRow) -> Result<crate::SkippedItem> {
    let href: String = row.try_get("source_href")?;
    let kind: String = row.try_get("kind")?;
    Ok(crate::SkippedItem {
        src_name: href.clone().into_bytes(),
        folder: href,
        src_uidvalidity: 0,
        src_uid: 0,
        size: 0,
        kind: kind.parse().map_err(corrupt)?,
        subject: String::new(),
        reason: row.try_get("reason")?,
        skipped_at: row.try_get("skipped_at")?,
        approved_at: row.try_get("approved_at")?,
    })
}

fn kind_from(row: &SqliteRow) -> Result<DavItemKind> {
    let kind: String = row.try_get("kind")?;
    kind.parse().map_err(corrupt)
}

#[async_trait]
impl DavStore for SqliteStore {
    async fn dav_ledger(&self, user: &str) -> Result<DavLedger> {
        let records = sqlx::query(
            "SELECT source_collection, source_href, source_etag, uid, target_collection,
                    target_href, target_etag, kind
             FROM dav_records WHERE user_email = ? ORDER BY source_href",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(record_from)
        .collect::<Result<_>>()?;
        let intents = sqlx::query(
            "SELECT source_collection, source_href, source_etag, uid, target_collection,
                    target_href, kind
             FROM dav_intents WHERE user_email = ? ORDER BY source_href",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(intent_from)
        .collect::<Result<_>>()?;
        let sync_tokens = sqlx::query(
            "SELECT source_collection, token FROM dav_sync_tokens
             WHERE user_email = ? ORDER BY source_collection",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_>>()?;
        let skipped = sqlx::query(
            "SELECT source_href, reason FROM dav_skipped WHERE user_email = ? ORDER BY source_href",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_>>()?;
        Ok(DavLedger {
            records,
            intents,
            sync_tokens,
            skipped,
        })
    }

    async fn dav_begin(&self, user: &str, intent: &DavIntent) -> Result<()> {
        sqlx::query(
            "INSERT INTO dav_intents (user_email, source_collection, source_href, source_etag,
                                      uid, target_collection, target_href, created_at, kind)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_email, source_href) DO UPDATE SET
               source_collection = excluded.source_collection,
               source_etag = excluded.source_etag, uid = excluded.uid,
               target_collection = excluded.target_collection,
               target_href = excluded.target_href, created_at = excluded.created_at,
               kind = excluded.kind",
        )
        .bind(user)
        .bind(&intent.source_collection)
        .bind(&intent.source_href)
        .bind(&intent.source_etag)
        .bind(&intent.uid)
        .bind(&intent.target_collection)
        .bind(&intent.target_href)
        .bind(Utc::now())
        .bind(intent.kind.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dav_record(&self, user: &str, record: &DavRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO dav_records (user_email, source_collection, source_href, source_etag,
                                      uid, target_collection, target_href, target_etag, updated_at,
                                      kind)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_email, source_href) DO UPDATE SET
               source_collection = excluded.source_collection,
               source_etag = excluded.source_etag, uid = excluded.uid,
               target_collection = excluded.target_collection,
               target_href = excluded.target_href, target_etag = excluded.target_etag,
               updated_at = excluded.updated_at, kind = excluded.kind",
        )
        .bind(user)
        .bind(&record.source_collection)
        .bind(&record.source_href)
        .bind(&record.source_etag)
        .bind(&record.uid)
        .bind(&record.target_collection)
        .bind(&record.target_href)
        .bind(&record.target_etag)
        .bind(Utc::now())
        .bind(record.kind.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM dav_intents WHERE user_email = ? AND source_href = ?")
            .bind(user)
            .bind(&record.source_href)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dav_skipped WHERE user_email = ? AND source_href = ?")
            .bind(user)
            .bind(&record.source_href)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dav_skip(
        &self,
        user: &str,
        source_href: &str,
        kind: SkippedKind,
        reason: &str,
    ) -> Result<()> {
        // Skipped again: when it was first skipped and its approval stay.
        sqlx::query(
            "INSERT INTO dav_skipped (user_email, source_href, reason, skipped_at, kind)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (user_email, source_href) DO UPDATE SET
               reason = excluded.reason, kind = excluded.kind",
        )
        .bind(user)
        .bind(source_href)
        .bind(reason)
        .bind(Utc::now())
        .bind(kind.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dav_drop_intent(&self, user: &str, source_href: &str) -> Result<()> {
        sqlx::query("DELETE FROM dav_intents WHERE user_email = ? AND source_href = ?")
            .bind(user)
            .bind(source_href)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dav_forget(&self, user: &str, source_href: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM dav_records WHERE user_email = ? AND source_href = ?")
            .bind(user)
            .bind(source_href)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dav_intents WHERE user_email = ? AND source_href = ?")
            .bind(user)
            .bind(source_href)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dav_skipped WHERE user_email = ? AND source_href = ?")
            .bind(user)
            .bind(source_href)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dav_set_sync_token(
        &self,
        user: &str,
        source_collection: &str,
        token: Option<&str>,
    ) -> Result<()> {
        match token {
            Some(token) => {
                sqlx::query(
                    "INSERT INTO dav_sync_tokens (user_email, source_collection, token, updated_at)
                     VALUES (?, ?, ?, ?)
                     ON CONFLICT (user_email, source_collection) DO UPDATE SET
                       token = excluded.token, updated_at = excluded.updated_at",
                )
                .bind(user)
                .bind(source_collection)
                .bind(token)
                .bind(Utc::now())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM dav_sync_tokens WHERE user_email = ? AND source_collection = ?",
                )
                .bind(user)
                .bind(source_collection)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    async fn set_endpoint_dav(&self, endpoint: &str, dav: Option<&DavSettings>) -> Result<()> {
        let done = sqlx::query("UPDATE endpoints SET dav = ? WHERE name = ?")
            .bind(dav_json(dav))
            .bind(endpoint)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound {
                what: "endpoint",
                name: endpoint.to_string(),
            });
        }
        Ok(())
    }

    async fn set_target_dav(&self, dav: Option<&DavSettings>) -> Result<()> {
        let done = sqlx::query("UPDATE target SET dav = ? WHERE id = 1")
            .bind(dav_json(dav))
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound {
                what: "target",
                name: "(not set; run `cutover target set`)".into(),
            });
        }
        Ok(())
    }

    async fn dav_skipped_items(&self, user: &str) -> Result<Vec<crate::SkippedItem>> {
        sqlx::query(
            "SELECT source_href, kind, reason, skipped_at, approved_at FROM dav_skipped
             WHERE user_email = ? ORDER BY source_href",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(skipped_item_from)
        .collect()
    }

    async fn dav_summary(&self, user: &str) -> Result<DavSummary> {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM dav_records WHERE user_email = ?1 AND kind = 'event') AS events,
               (SELECT COUNT(*) FROM dav_records WHERE user_email = ?1 AND kind = 'task') AS tasks,
               (SELECT COUNT(*) FROM dav_records WHERE user_email = ?1 AND kind = 'contact') AS contacts,
               (SELECT COUNT(*) FROM dav_skipped WHERE user_email = ?1) AS skipped,
               (SELECT COUNT(*) FROM dav_skipped WHERE user_email = ?1 AND approved_at IS NULL)
                 AS unapproved,
               (SELECT ended_at FROM dav_passes WHERE user_email = ?1) AS ended_at,
               (SELECT error FROM dav_passes WHERE user_email = ?1) AS error",
        )
        .bind(user)
        .fetch_one(&self.pool)
        .await?;
        let n = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
        Ok(DavSummary {
            events: n("events")?,
            tasks: n("tasks")?,
            contacts: n("contacts")?,
            skipped: n("skipped")?,
            unapproved_skipped: n("unapproved")?,
            last_pass_at: row.try_get("ended_at")?,
            last_error: row.try_get("error")?,
        })
    }

    async fn dav_end_pass(&self, user: &str, at: DateTime<Utc>, error: Option<&str>) -> Result<()> {
        sqlx::query(
            "INSERT INTO dav_passes (user_email, ended_at, error) VALUES (?, ?, ?)
             ON CONFLICT (user_email) DO UPDATE SET ended_at = excluded.ended_at,
               error = excluded.error",
        )
        .bind(user)
        .bind(at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dav_remove_user(&self, user: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM dav_records WHERE user_email = ?",
            "DELETE FROM dav_intents WHERE user_email = ?",
            "DELETE FROM dav_sync_tokens WHERE user_email = ?",
            "DELETE FROM dav_skipped WHERE user_email = ?",
            "DELETE FROM dav_passes WHERE user_email = ?",
        ] {
            sqlx::query(sql).bind(user).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
