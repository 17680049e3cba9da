//! [`StateInspection`]: the dump (the same text on both backends) and each invariant.

use chrono::Duration;
use cutover_model::{SkippedKind, Target};
use cutover_store::{
    AcceptedDomain, CopiedMessage, EndpointDiscovery, FolderState, Intent, Invariant, JobKind,
    MxCheck, NewJob, Store,
};

use crate::support::*;

const A: &str = "a@b.test";

async fn with_batch(store: &dyn Store) {
    store
        .insert_endpoint(&endpoint("E"), &secret("adminpass"))
        .await
        .unwrap();
    store
        .create_batch(
            &batch("B", "E"),
            &[new_user(A, Some("userpass")), new_user("c@b.test", None)],
        )
        .await
        .unwrap();
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

async fn violations(store: &dyn Store) -> Vec<(Invariant, String)> {
    store
        .check_invariants()
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.invariant, v.detail))
        .collect()
}

/// A target, an endpoint found by autodiscover, domains, an MX check, and a@b.test in
/// the middle of its first pass (with a lease): a row in most tables.
pub async fn fill_every_table(store: &dyn Store) {
    with_batch(store).await;
    let now = now();
    store
        .set_provisioning_desired("c@b.test", "{}", "d1")
        .await
        .unwrap();
    store
        .hold_initial_password("c@b.test", &secret("Initial.1"))
        .await
        .unwrap();
    store
        .record_provisioned("c@b.test", "uid=c@b.test,ou=people", "d1", true, now)
        .await
        .unwrap();
    store
        .set_target(
            &Target {
                connection: endpoint("T").connection,
                updated_at: now,
                folds_case: None,
            },
            &secret("targetpass"),
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
    start_pass(store, A).await;
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
}

pub async fn the_dump_shows_every_table_in_order_with_times_tokens_and_secrets_redacted(
    b: Backend,
) {
    let store = b.store();
    fill_every_table(store).await;

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
  B source_endpoint=E status=Created created_at=<time> started_at=<time> initial_sync_at=- last_synced_at=- next_sync_at=- incremental_interval=86400s bad_item_limit=0 large_item_limit=0 excluded_folders="[\"Junk\"]" folder_map="[{\"source\":\"Sent Items\",\"target\":\"Sent\"}]" skipped_item_approval_time=- removal_threshold_percent=10 notification_emails="[]" report_interval=86400s skip_reports=0 domain_check_skipped=0 from_directory=0
users (2)
  a@b.test batch=B position=0 recipient_type=UserMailbox source_login=- password=<redacted> status=Syncing error=- initial_sync_done=false last_synced_at=- source_items=0 items_synced=3 bytes_synced=40 items_skipped=0 bad_items=0 large_items=0 folders=0 last_pass_items=0 skipped_items_approved_at=- removals_held=0 removals_held_detail=- removals_approved_at=-
  c@b.test batch=B position=1 recipient_type=UserMailbox source_login=- password=- status=Queued error=- initial_sync_done=false last_synced_at=- source_items=0 items_synced=0 bytes_synced=0 items_skipped=0 bad_items=0 large_items=0 folders=0 last_pass_items=0 skipped_items_approved_at=- removals_held=0 removals_held_detail=- removals_approved_at=-
provisioning (1)
  c@b.test desired_digest=d1 applied_digest=d1 target_dn="uid=c@b.test,ou=people" provisioned_at=<time> updated_at=<time> error=- initial_password=<redacted> password_set_at=<time> password_handed_out_at=-
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
license skus (0)
license assignments (0)
license settings (0)
disabled logins (0)
license users (0)
dav settings (0)
dav records (0)
dav intents (0)
dav sync tokens (0)
dav skipped items (0)
dav passes (0)
"#
    );
    // No secret, sealed or not, and no random token.
    for query in [
        "SELECT password_sealed FROM target",
        "SELECT password_sealed FROM endpoints",
        "SELECT password_sealed FROM users",
        "SELECT token FROM accepted_domains",
    ] {
        let values = b.texts(query).await;
        assert!(!values.is_empty(), "{query}");
        for v in values {
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
    assert_invariants(store).await;
}

pub async fn an_empty_state_dumps_every_section_title(b: Backend) {
    let store = b.store();
    assert_eq!(
        store.dump_state().await.unwrap(),
        "target (0)\nendpoints (0)\naccepted domains (0)\nmx checks (0)\nbatches (0)\n\
         users (0)\nprovisioning (0)\nfolders (0)\nmessages (0)\nintents (0)\nskipped items (0)\nrounds (0)\njobs (0)\n\
         throttles (0)\nsmtp relay (0)\nbatch notifications (0)\nlicense skus (0)\n\
         license assignments (0)\nlicense settings (0)\ndisabled logins (0)\nlicense users (0)\n\
         dav settings (0)\ndav records (0)\ndav intents (0)\ndav sync tokens (0)\n\
         dav skipped items (0)\ndav passes (0)\n"
    );
    assert_invariants(store).await;
}

pub async fn a_second_batch_is_named(b: Backend) {
    let store = b.store();
    with_batch(store).await;
    assert_invariants(store).await;
    b.execute(
        "INSERT INTO batches (name, source_endpoint, status, created_at, incremental_interval,
           bad_item_limit, large_item_limit, excluded_folders)
         VALUES ('B2', 'E', 'Created', '2025-01-01T00:00:00Z', 86400, 0, 0, '[]')",
    )
    .await;
    assert_eq!(
        violations(store).await,
        [(Invariant::OneCutoverBatch, "2 batches exist: B, B2".into())]
    );
}

pub async fn two_messages_on_one_target_uid_are_named_with_their_target_folder(b: Backend) {
    let store = b.store();
    with_batch(store).await;
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
    assert_invariants(store).await;

    b.execute("UPDATE messages SET dst_uid = 1 WHERE email = 'a@b.test' AND src_uid = 2")
        .await;
    // Sent Items has no folder state yet (its first pass is copying it).
    store
        .record_copies(A, sent, 7, &[copy(3, 9, 1)])
        .await
        .unwrap();
    assert_eq!(
        violations(store).await,
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

pub async fn an_intent_a_finished_pass_left_is_named(b: Backend) {
    let store = b.store();
    with_batch(store).await;
    // A pass running, a pass stopped or failed with a chunk in flight: its intents
    // wait for the next pass.
    start_pass(store, A).await;
    assert!(!store.has_intents(A).await.unwrap());
    store
        .record_intents(A, b"INBOX", &[intent(3, b"INBOX")])
        .await
        .unwrap();
    assert!(store.has_intents(A).await.unwrap());
    assert!(!store.has_intents("c@b.test").await.unwrap());
    assert_invariants(store).await;
    for status in ["Stopped", "Failed", "Queued"] {
        b.execute(&format!(
            "UPDATE users SET status = '{status}' WHERE email = '{A}'"
        ))
        .await;
        assert_invariants(store).await;
    }
    // The next pass resolves it and finishes; a later incremental pass is shut down
    // with a chunk in flight: Synced, and its intent written after the last finish.
    store.drop_intents(A, b"INBOX", 7, &[3]).await.unwrap();
    assert!(!store.has_intents(A).await.unwrap());
    finish_pass(store, A).await;
    store
        .record_intents(A, b"INBOX", &[intent(4, b"INBOX")])
        .await
        .unwrap();
    assert_invariants(store).await;

    // Written before the last pass finished, and still there.
    b.execute("UPDATE intents SET created_at = '2025-01-01T00:00:00+00:00'")
        .await;
    let found = violations(store).await;
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

pub async fn counters_that_drift_from_the_ledger_are_named_unless_a_pass_runs(b: Backend) {
    let store = b.store();
    with_batch(store).await;
    store
        .record_copies(A, b"INBOX", 7, &[copy(1, 9, 1), copy(2, 9, 2)])
        .await
        .unwrap();
    store
        .record_skipped(A, &skipped(b"INBOX", 3, SkippedKind::LargeItem))
        .await
        .unwrap();
    finish_pass(store, A).await;
    assert_invariants(store).await;

    b.execute(
        "UPDATE users SET bytes_synced = bytes_synced + 1, items_skipped = 4, bad_items = 3
         WHERE email = 'a@b.test'",
    )
    .await;
    assert_eq!(
        violations(store).await,
        [(
            Invariant::CountersMatchLedger,
            "a@b.test (Synced): bytes_synced=31 but 30 bytes of copied messages, \
             items_skipped=4 but 1 skipped items, bad_items=3 but 0 skipped bad items"
                .into()
        )]
    );
    // A pass that runs counts at its end.
    for status in ["Syncing", "IncrementalSyncing"] {
        b.execute(&format!(
            "UPDATE users SET status = '{status}' WHERE email = '{A}'"
        ))
        .await;
        assert_invariants(store).await;
    }
}

pub async fn a_skipped_item_that_was_copied_is_named(b: Backend) {
    let store = b.store();
    with_batch(store).await;
    start_pass(store, A).await;
    store
        .record_copies(A, b"INBOX", 7, &[copy(1, 9, 1)])
        .await
        .unwrap();
    // A skip of the same UID at an older UIDVALIDITY names a message that is gone.
    let mut old = skipped(b"INBOX", 1, SkippedKind::BadItem);
    old.src_uidvalidity = 6;
    store.record_skipped(A, &old).await.unwrap();
    assert_invariants(store).await;

    b.execute("UPDATE skipped_items SET src_uidvalidity = 7")
        .await;
    assert_eq!(
        violations(store).await,
        [(
            Invariant::SkippedNotCopied,
            r#"a@b.test: "INBOX" 7:1 is both a skipped item (BadItem) and a copied message"#.into()
        )]
    );
}

pub async fn a_lease_whose_times_are_out_of_order_is_named(b: Backend) {
    let store = b.store();
    with_batch(store).await;
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
    assert_invariants(store).await;
    // The expiry in seconds where milliseconds belong: expired since 1970.
    b.execute(
        "UPDATE jobs SET lease_expires_at = lease_expires_at / 1000 WHERE subject = 'a@b.test'",
    )
    .await;
    assert_eq!(
        violations(store).await,
        [(
            Invariant::LeaseTimesInOrder,
            "the lease on job mailbox-pass a@b.test: taken at 2027-01-15T08:00:00+00:00, heartbeat at \
             2027-01-15T08:00:00+00:00, expires at 1970-01-21T20:00:00.030+00:00"
                .into()
        )]
    );
}
