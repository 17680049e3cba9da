//! [`DavStore`] on SQLite: records, intents and sync tokens in three tables (0021).

use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::Result;
use crate::dav::{DavIntent, DavLedger, DavRecord, DavStore};

fn record_from(row: &SqliteRow) -> Result<DavRecord> {
    Ok(DavRecord {
        source_collection: row.try_get("source_collection")?,
        source_href: row.try_get("source_href")?,
        source_etag: row.try_get("source_etag")?,
        uid: row.try_get("uid")?,
        target_collection: row.try_get("target_collection")?,
        target_href: row.try_get("target_href")?,
        target_etag: row.try_get("target_etag")?,
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
    })
}

#[async_trait]
impl DavStore for SqliteStore {
    async fn dav_ledger(&self, user: &str) -> Result<DavLedger> {
        let records = sqlx::query(
            "SELECT source_collection, source_href, source_etag, uid, target_collection,
                    target_href, target_etag
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
                    target_href
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
                                      uid, target_collection, target_href, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_email, source_href) DO UPDATE SET
               source_collection = excluded.source_collection,
               source_etag = excluded.source_etag, uid = excluded.uid,
               target_collection = excluded.target_collection,
               target_href = excluded.target_href, created_at = excluded.created_at",
        )
        .bind(user)
        .bind(&intent.source_collection)
        .bind(&intent.source_href)
        .bind(&intent.source_etag)
        .bind(&intent.uid)
        .bind(&intent.target_collection)
        .bind(&intent.target_href)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dav_record(&self, user: &str, record: &DavRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO dav_records (user_email, source_collection, source_href, source_etag,
                                      uid, target_collection, target_href, target_etag, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_email, source_href) DO UPDATE SET
               source_collection = excluded.source_collection,
               source_etag = excluded.source_etag, uid = excluded.uid,
               target_collection = excluded.target_collection,
               target_href = excluded.target_href, target_etag = excluded.target_etag,
               updated_at = excluded.updated_at",
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

    async fn dav_skip(&self, user: &str, source_href: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO dav_skipped (user_email, source_href, reason, skipped_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (user_email, source_href) DO UPDATE SET
               reason = excluded.reason, skipped_at = excluded.skipped_at",
        )
        .bind(user)
        .bind(source_href)
        .bind(reason)
        .bind(Utc::now())
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
}
