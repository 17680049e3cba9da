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

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use super::*;

    fn intent(href: &str, etag: &str) -> DavIntent {
        DavIntent {
            source_collection: "/cal/home/".into(),
            source_href: format!("/cal/home/{href}"),
            source_etag: etag.into(),
            uid: format!("uid-{href}"),
            target_collection: "/t/home/".into(),
            target_href: format!("/t/home/{href}"),
        }
    }

    fn record_of(intent: &DavIntent, target_etag: &str) -> DavRecord {
        DavRecord {
            source_collection: intent.source_collection.clone(),
            source_href: intent.source_href.clone(),
            source_etag: intent.source_etag.clone(),
            uid: intent.uid.clone(),
            target_collection: intent.target_collection.clone(),
            target_href: intent.target_href.clone(),
            target_etag: target_etag.into(),
        }
    }

    #[tokio::test]
    async fn an_intent_stands_until_its_record_replaces_it() {
        let (_dir, store) = store().await;
        let a = intent("a.ics", "\"1\"");
        store.dav_begin("u@example.org", &a).await.unwrap();
        let ledger = store.dav_ledger("U@example.org").await.unwrap();
        assert_eq!(ledger.intents, vec![a.clone()]);
        assert!(ledger.records.is_empty());

        store
            .dav_record("u@example.org", &record_of(&a, "\"t1\""))
            .await
            .unwrap();
        let ledger = store.dav_ledger("u@example.org").await.unwrap();
        assert!(ledger.intents.is_empty());
        assert_eq!(ledger.records, vec![record_of(&a, "\"t1\"")]);
        // another user's ledger is their own
        assert_eq!(
            store.dav_ledger("v@example.org").await.unwrap(),
            DavLedger::default()
        );
    }

    #[tokio::test]
    async fn an_update_intent_stands_beside_the_record_and_its_record_replaces_both() {
        let (_dir, store) = store().await;
        let first = intent("a.ics", "\"1\"");
        store
            .dav_record("u@example.org", &record_of(&first, "\"t1\""))
            .await
            .unwrap();
        let update = intent("a.ics", "\"2\"");
        store.dav_begin("u@example.org", &update).await.unwrap();
        let ledger = store.dav_ledger("u@example.org").await.unwrap();
        assert_eq!(ledger.records, vec![record_of(&first, "\"t1\"")]);
        assert_eq!(ledger.intents, vec![update.clone()]);

        store
            .dav_record("u@example.org", &record_of(&update, "\"t2\""))
            .await
            .unwrap();
        let ledger = store.dav_ledger("u@example.org").await.unwrap();
        assert_eq!(ledger.records, vec![record_of(&update, "\"t2\"")]);
        assert!(ledger.intents.is_empty());
    }

    #[tokio::test]
    async fn dropped_intents_and_forgotten_records_are_gone() {
        let (_dir, store) = store().await;
        let (a, b) = (intent("a.ics", "\"1\""), intent("b.ics", "\"1\""));
        store.dav_begin("u@example.org", &a).await.unwrap();
        store
            .dav_record("u@example.org", &record_of(&b, "\"t\""))
            .await
            .unwrap();
        store
            .dav_drop_intent("u@example.org", &a.source_href)
            .await
            .unwrap();
        store
            .dav_forget("u@example.org", &b.source_href)
            .await
            .unwrap();
        assert_eq!(
            store.dav_ledger("u@example.org").await.unwrap(),
            DavLedger::default()
        );
    }

    #[tokio::test]
    async fn two_records_never_share_a_target_href() {
        let (_dir, store) = store().await;
        let a = intent("a.ics", "\"1\"");
        let mut b = intent("b.ics", "\"1\"");
        b.target_href = a.target_href.clone();
        store
            .dav_record("u@example.org", &record_of(&a, "\"t\""))
            .await
            .unwrap();
        assert!(
            store
                .dav_record("u@example.org", &record_of(&b, "\"t\""))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_skipped_item_keeps_its_latest_reason_until_its_record() {
        let (_dir, store) = store().await;
        let a = intent("a.ics", "\"1\"");
        store
            .dav_skip("u@example.org", &a.source_href, "the target answered 413")
            .await
            .unwrap();
        store
            .dav_skip("u@example.org", &a.source_href, "the target answered 409")
            .await
            .unwrap();
        assert_eq!(
            store.dav_ledger("u@example.org").await.unwrap().skipped,
            vec![(a.source_href.clone(), "the target answered 409".to_string())]
        );
        store
            .dav_record("u@example.org", &record_of(&a, "\"t\""))
            .await
            .unwrap();
        assert!(
            store
                .dav_ledger("u@example.org")
                .await
                .unwrap()
                .skipped
                .is_empty()
        );
    }

    #[tokio::test]
    async fn sync_tokens_are_saved_replaced_and_cleared() {
        let (_dir, store) = store().await;
        store
            .dav_set_sync_token("u@example.org", "/cal/home/", Some("t1"))
            .await
            .unwrap();
        store
            .dav_set_sync_token("u@example.org", "/cal/home/", Some("t2"))
            .await
            .unwrap();
        assert_eq!(
            store.dav_ledger("u@example.org").await.unwrap().sync_tokens,
            vec![("/cal/home/".to_string(), "t2".to_string())]
        );
        store
            .dav_set_sync_token("u@example.org", "/cal/home/", None)
            .await
            .unwrap();
        assert!(
            store
                .dav_ledger("u@example.org")
                .await
                .unwrap()
                .sync_tokens
                .is_empty()
        );
    }
}
