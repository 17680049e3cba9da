//! [`DavStore`]: the CalDAV/CardDAV ledger of records, intents, sync tokens and skipped
//! items.

use cutover_model::{DavAuth, DavSettings, SkippedKind, Target};
use cutover_store::{DavIntent, DavItemKind, DavLedger, DavRecord, DavSummary};

use crate::support::*;

fn intent(href: &str, etag: &str) -> DavIntent {
    DavIntent {
        source_collection: "/cal/home/".into(),
        source_href: format!("/cal/home/{href}"),
        source_etag: etag.into(),
        uid: format!("uid-{href}"),
        target_collection: "/t/home/".into(),
        target_href: format!("/t/home/{href}"),
        kind: DavItemKind::Event,
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
        kind: intent.kind,
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
        .dav_skip(
            "u@example.org",
            &a.source_href,
            SkippedKind::LargeItem,
            "the target answered 413",
        )
        .await
        .unwrap();
    store
        .dav_skip(
            "u@example.org",
            &a.source_href,
            SkippedKind::BadItem,
            "the target answered 409",
        )
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

pub async fn the_summary_counts_items_by_kind_skipped_items_and_the_last_pass(b: Backend) {
    let store = b.store();
    let u = "u@example.org";
    assert_eq!(store.dav_summary(u).await.unwrap(), DavSummary::default());
    for (href, kind) in [
        ("a.ics", DavItemKind::Event),
        ("b.ics", DavItemKind::Event),
        ("t.ics", DavItemKind::Task),
        ("c.vcf", DavItemKind::Contact),
    ] {
        let mut i = intent(href, "\"1\"");
        i.kind = kind;
        store.dav_begin(u, &i).await.unwrap();
        // the kind survives the intent (a crash before the record)
        let ledger = store.dav_ledger(u).await.unwrap();
        assert_eq!(ledger.intents, vec![i.clone()]);
        store.dav_record(u, &record_of(&i, "\"t\"")).await.unwrap();
    }
    store
        .dav_skip(
            u,
            "/cal/home/x.ics",
            SkippedKind::BadItem,
            "the target answered 400",
        )
        .await
        .unwrap();
    let at = now();
    store
        .dav_end_pass(u, at, Some("the target answered 503"))
        .await
        .unwrap();
    let summary = store.dav_summary("U@example.org").await.unwrap();
    assert_eq!(
        summary,
        DavSummary {
            events: 2,
            tasks: 1,
            contacts: 1,
            skipped: 1,
            unapproved_skipped: 1,
            last_pass_at: Some(at),
            last_error: Some("the target answered 503".into()),
        }
    );
    store.dav_end_pass(u, at, None).await.unwrap();
    assert_eq!(store.dav_summary(u).await.unwrap().last_error, None);
    let records = store.dav_ledger(u).await.unwrap().records;
    assert_eq!(
        records.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [
            DavItemKind::Event,
            DavItemKind::Event,
            DavItemKind::Contact,
            DavItemKind::Task
        ]
    );
    // everything of the user goes, and only theirs
    store
        .dav_set_sync_token("v@example.org", "/cal/home/", Some("t"))
        .await
        .unwrap();
    store.dav_remove_user(u).await.unwrap();
    assert_eq!(store.dav_ledger(u).await.unwrap(), DavLedger::default());
    assert_eq!(store.dav_summary(u).await.unwrap(), DavSummary::default());
    assert_eq!(
        store
            .dav_ledger("v@example.org")
            .await
            .unwrap()
            .sync_tokens
            .len(),
        1
    );
}

pub async fn skipped_dav_items_are_skipped_items_the_batch_approves(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test"]).await;
    store
        .dav_skip(
            "a@b.test",
            "/a/cal/big.ics",
            SkippedKind::LargeItem,
            "the target answered 413",
        )
        .await
        .unwrap();
    // skipped again: the first time stays
    let first = store.dav_skipped_items("a@b.test").await.unwrap();
    store
        .dav_skip(
            "a@b.test",
            "/a/cal/big.ics",
            SkippedKind::LargeItem,
            "again 413",
        )
        .await
        .unwrap();
    let items = store.dav_skipped_items("a@b.test").await.unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(
        (item.kind, item.folder.as_str(), item.reason.as_str()),
        (SkippedKind::LargeItem, "/a/cal/big.ics", "again 413")
    );
    assert_eq!(item.skipped_at, first[0].skipped_at);
    assert_eq!(item.approved_at, None);
    // the mail pass's own list is left alone
    assert!(store.skipped_items("a@b.test").await.unwrap().is_empty());
    assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 1);
    assert_eq!(store.approve_skipped_items("B", now()).await.unwrap(), 1);
    assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 0);
    let items = store.dav_skipped_items("a@b.test").await.unwrap();
    assert!(items[0].approved_at.is_some());
    assert_eq!(
        store
            .dav_summary("a@b.test")
            .await
            .unwrap()
            .unapproved_skipped,
        0
    );
}

pub async fn dav_settings_are_kept_on_the_endpoint_and_the_target(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test"]).await;
    let dav = DavSettings {
        url: "https://dav.example.org/".into(),
        ca_file: Some("/etc/ca.pem".into()),
        auth: DavAuth::PerUser,
        discover: false,
        dns_server: None,
    };
    store.set_endpoint_dav("E", Some(&dav)).await.unwrap();
    assert_eq!(
        store.endpoint("e").await.unwrap().unwrap().connection.dav,
        Some(dav.clone())
    );
    // an update of the IMAP settings keeps them
    let e = store.endpoint("E").await.unwrap().unwrap();
    store.update_endpoint(&e, None).await.unwrap();
    assert_eq!(
        store.endpoint("E").await.unwrap().unwrap().connection.dav,
        Some(dav.clone())
    );
    store.set_endpoint_dav("E", None).await.unwrap();
    assert_eq!(
        store.endpoint("E").await.unwrap().unwrap().connection.dav,
        None
    );
    assert!(store.set_endpoint_dav("nope", Some(&dav)).await.is_err());

    // no target yet: said so
    assert!(store.set_target_dav(Some(&dav)).await.is_err());
    let target = Target {
        connection: endpoint("T").connection,
        updated_at: now(),
        folds_case: None,
    };
    store.set_target(&target, &secret("tp")).await.unwrap();
    store.set_target_dav(Some(&dav)).await.unwrap();
    assert_eq!(
        store.target().await.unwrap().unwrap().connection.dav,
        Some(dav.clone())
    );
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump_section(&dump, "dav settings")
            .contains("target \"{\\\"url\\\":\\\"https://dav.example.org/"),
        "{dump}"
    );
    store.set_target_dav(None).await.unwrap();
    assert_eq!(store.target().await.unwrap().unwrap().connection.dav, None);
}

pub async fn the_dump_shows_the_dav_ledger(b: Backend) {
    let store = b.store();
    let mut i = intent("a.ics", "\"1\"");
    i.kind = DavItemKind::Task;
    store
        .dav_record("u@example.org", &record_of(&i, "\"t1\""))
        .await
        .unwrap();
    store
        .dav_begin("u@example.org", &intent("b.ics", "\"2\""))
        .await
        .unwrap();
    store
        .dav_set_sync_token("u@example.org", "/cal/home/", Some("tok"))
        .await
        .unwrap();
    store
        .dav_skip(
            "u@example.org",
            "/cal/home/c.ics",
            SkippedKind::BadItem,
            "no UID",
        )
        .await
        .unwrap();
    store
        .dav_end_pass("u@example.org", now(), None)
        .await
        .unwrap();
    let dump = store.dump_state().await.unwrap();
    let dav: String = [
        "dav records",
        "dav intents",
        "dav sync tokens",
        "dav skipped items",
        "dav passes",
    ]
    .iter()
    .map(|t| dump_section(&dump, t))
    .collect();
    assert_eq!(
        dav,
        r#"dav records (1)
  u@example.org /cal/home/a.ics etag="\"1\"" uid=uid-a.ics kind=task -> /t/home/a.ics etag="\"t1\"" updated_at=<time>
dav intents (1)
  u@example.org /cal/home/b.ics etag="\"2\"" uid=uid-b.ics kind=event -> /t/home/b.ics created_at=<time>
dav sync tokens (1)
  u@example.org /cal/home/ token=tok updated_at=<time>
dav skipped items (1)
  u@example.org /cal/home/c.ics kind=BadItem reason="no UID" skipped_at=<time> approved_at=-
dav passes (1)
  u@example.org ended_at=<time> error=-
"#
    );
}
