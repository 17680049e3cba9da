//! [`DavStore`]: the CalDAV/CardDAV ledger of records, intents, sync tokens and skipped
//! items.

use cutover_store::{DavIntent, DavLedger, DavRecord};

use crate::support::*;

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

pub async fn an_intent_stands_until_its_record_replaces_it(b: Backend) {
    let store = b.store();
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

pub async fn an_update_intent_stands_beside_the_record_and_its_record_replaces_both(b: Backend) {
    let store = b.store();
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

pub async fn dropped_intents_and_forgotten_records_are_gone(b: Backend) {
    let store = b.store();
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

pub async fn two_records_never_share_a_target_href(b: Backend) {
    let store = b.store();
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

pub async fn a_skipped_item_keeps_its_latest_reason_until_its_record(b: Backend) {
    let store = b.store();
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

pub async fn sync_tokens_are_saved_replaced_and_cleared(b: Backend) {
    let store = b.store();
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
