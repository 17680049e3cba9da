//! The main [`Store`]: endpoints, the one batch, users, the ledger, skipped items,
//! subscriptions, pages of users, progress.

use chrono::{DateTime, Duration};
use cutover_model::{MigrationUser, PassStart, SkippedCounts, SkippedKind, UserStatus};
use cutover_store::{
    CopiedMessage, Intent, Invariant, NewUser, StoreError, ThroughputBucket, UserQuery, UserSort,
};
use secrecy::ExposeSecret;

use crate::support::*;

pub async fn an_oauth_application_round_trips_with_its_secret_sealed(b: Backend) {
    let store = b.store();
    let mut e = endpoint("OAuthEndpoint");
    e.connection.oauth = Some(cutover_model::OAuthApp {
        provider: cutover_model::OAuthProvider::Microsoft,
        tenant: Some("contoso.onmicrosoft.com".into()),
        client_id: "6f1c2a7e".into(),
        credential: cutover_model::OAuthCredential::ClientSecret,
        token_url: None,
        scope: None,
    });
    let secret = secret("cs~client-secret");
    store.insert_endpoint(&e, &secret).await.unwrap();
    let got = store.endpoint("OAuthEndpoint").await.unwrap().unwrap();
    assert_eq!(got.connection, e.connection);
    let stored = b.texts("SELECT oauth FROM endpoints").await.remove(0);
    assert!(stored.contains("6f1c2a7e") && !stored.contains("client-secret"));
    // Back to a password login.
    e.connection.oauth = None;
    store.update_endpoint(&e, None).await.unwrap();
    let got = store.endpoint("OAuthEndpoint").await.unwrap().unwrap();
    assert_eq!(got.connection.oauth, None);
    assert_eq!(
        store
            .endpoint_password("OAuthEndpoint")
            .await
            .unwrap()
            .expose_secret(),
        "cs~client-secret"
    );
}

pub async fn endpoints_round_trip_with_sealed_passwords(b: Backend) {
    let store = b.store();
    let e = endpoint("CutoverEndpoint");
    store
        .insert_endpoint(&e, &secret("adminpass"))
        .await
        .unwrap();
    let err = store.insert_endpoint(&e, &secret("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    let got = store.endpoint("cutoverendpoint").await.unwrap().unwrap();
    assert_eq!(got.connection, e.connection);
    assert_eq!(
        store
            .endpoint_password("CutoverEndpoint")
            .await
            .unwrap()
            .expose_secret(),
        "adminpass"
    );
    assert_invariants(store).await;
    // Nor in the dump, not even sealed.
    let dump = store.dump_state().await.unwrap();
    let sealed = b
        .texts("SELECT password_sealed FROM endpoints")
        .await
        .remove(0);
    assert!(
        !dump.contains(&sealed) && !dump.contains("adminpass"),
        "{dump}"
    );
    // The password is in no column in plain text.
    for column in [
        "name",
        "server",
        "admin",
        "impersonation",
        "password_sealed",
    ] {
        for v in b.texts(&format!("SELECT {column} FROM endpoints")).await {
            assert!(!v.contains("adminpass"), "{column}: {v}");
        }
    }
    // Nor anywhere in SQLite's files.
    if b.kind == Kind::Sqlite {
        store.close().await;
        for f in std::fs::read_dir(b.dir()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(9).any(|w| w == b"adminpass"));
        }
    }
}

pub async fn only_one_cutover_batch_and_cascade_on_remove(b: Backend) {
    let store = b.store();
    store
        .insert_endpoint(&endpoint("E"), &secret("p"))
        .await
        .unwrap();
    let users = [
        new_user("a@b.test", Some("pw-a")),
        new_user("c@b.test", None),
    ];
    store.create_batch(&batch("B1", "E"), &users).await.unwrap();
    let err = store
        .create_batch(&batch("B2", "E"), &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only one cutover batch"), "{err}");
    assert!(matches!(
        store.remove_endpoint("E").await.unwrap_err(),
        StoreError::EndpointInUse { .. }
    ));

    let listed = store.users(Some("B1"), None).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].email.as_str(), "a@b.test");
    assert!(listed[0].has_password && !listed[1].has_password);
    assert_eq!(
        store
            .user_password("a@b.test")
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "pw-a"
    );
    assert!(store.user_password("c@b.test").await.unwrap().is_none());
    let stored = store.batch("B1").await.unwrap().unwrap();
    assert_eq!(stored.excluded_folders, vec!["Junk".to_string()]);
    assert_eq!(stored.folder_map[0].to_string(), "Sent Items=Sent");

    store
        .record_copies(
            "a@b.test",
            b"INBOX",
            7,
            &[CopiedMessage {
                src_uid: 3,
                dst_uidvalidity: Some(9),
                dst_uid: Some(1),
                size: 10,
                flags: vec!["\\Seen".into(), "$Label1".into()],
            }],
        )
        .await
        .unwrap();
    let copied = store
        .copied_messages("a@b.test", b"INBOX", 7)
        .await
        .unwrap();
    assert_eq!(
        copied[0].flags,
        vec!["\\Seen".to_string(), "$Label1".to_string()]
    );
    store
        .update_flags("a@b.test", b"INBOX", 7, &[(3, vec![])])
        .await
        .unwrap();
    assert!(
        store
            .copied_messages("a@b.test", b"INBOX", 7)
            .await
            .unwrap()[0]
            .flags
            .is_empty()
    );
    assert_eq!(
        store.copied_uids("a@b.test", b"INBOX", 7).await.unwrap(),
        vec![3]
    );
    assert!(
        store
            .copied_uids("a@b.test", b"INBOX", 8)
            .await
            .unwrap()
            .is_empty()
    );

    store.remove_batch("B1").await.unwrap();
    assert!(store.users(None, None).await.unwrap().is_empty());
    assert!(
        store
            .copied_uids("a@b.test", b"INBOX", 7)
            .await
            .unwrap()
            .is_empty()
    );
    store.create_batch(&batch("B2", "E"), &users).await.unwrap();
    assert_invariants(store).await;
}

pub async fn user_progress_is_saved(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test"]).await;
    let mut u = store.user("A@b.test").await.unwrap().unwrap();
    u.status = UserStatus::Failed;
    u.error = Some("login failed".into());
    u.stats.items_synced = 42;
    store.update_user(&u).await.unwrap();
    let again = store.user("a@b.test").await.unwrap().unwrap();
    assert_eq!(again, u);
    assert_eq!(
        store
            .users(None, Some(UserStatus::Failed))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .users(None, Some(UserStatus::Synced))
            .await
            .unwrap()
            .is_empty()
    );
    // 42 items synced with no message copied: the check sees the made-up counter.
    let violations = store.check_invariants().await.unwrap();
    assert_eq!(
        violations
            .iter()
            .map(|v| (v.invariant, v.detail.as_str()))
            .collect::<Vec<_>>(),
        [(
            Invariant::CountersMatchLedger,
            "a@b.test (Failed): items_synced=42 but 0 copied messages"
        )]
    );
}
pub async fn subscriptions_seen_are_recorded_forgotten_and_dropped_on_rename(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test", "c@b.test"]).await;
    let a = "a@b.test";
    assert!(store.subscriptions_seen(a).await.unwrap().is_empty());
    let seen = |names: &[(&str, bool)]| -> Vec<(Vec<u8>, bool)> {
        names
            .iter()
            .map(|(n, s)| (n.as_bytes().to_vec(), *s))
            .collect()
    };
    store
        .set_subscriptions_seen(
            a,
            &seen(&[
                ("INBOX", true),
                ("R&-D", false),
                ("Old", true),
                ("Gone", true),
            ]),
        )
        .await
        .unwrap();
    store
        .set_subscriptions_seen("c@b.test", &seen(&[("INBOX", false)]))
        .await
        .unwrap();
    // A later pass changes one; the others stay.
    store
        .set_subscriptions_seen(a, &seen(&[("R&-D", true)]))
        .await
        .unwrap();
    store.forget_folder(a, b"Gone").await.unwrap();
    store
        .rename_folder(a, b"Old", b"New", b"New")
        .await
        .unwrap();
    assert_eq!(
        store.subscriptions_seen(a).await.unwrap(),
        seen(&[("INBOX", true), ("R&-D", true)])
    );
    assert_eq!(
        store.subscriptions_seen("c@b.test").await.unwrap(),
        seen(&[("INBOX", false)])
    );
    store.remove_batch("B").await.unwrap();
    assert!(store.subscriptions_seen(a).await.unwrap().is_empty());
}

pub async fn recorded_copies_move_the_users_counters_at_once_and_once(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test"]).await;
    let copy = |uid: u32, size: u32| CopiedMessage {
        src_uid: uid,
        dst_uidvalidity: Some(9),
        dst_uid: Some(uid),
        size,
        flags: Vec::new(),
    };
    store
        .record_copies("a@b.test", b"INBOX", 7, &[copy(1, 10), copy(2, 20)])
        .await
        .unwrap();
    // UID 2 again (recovery records a landed message a second time), and a new one.
    store
        .record_copies("a@b.test", b"INBOX", 7, &[copy(2, 20), copy(3, 30)])
        .await
        .unwrap();
    let u = store.user("a@b.test").await.unwrap().unwrap();
    assert_eq!((u.stats.items_synced, u.stats.bytes_synced), (3, 60));
    assert_eq!(store.copied_totals("a@b.test").await.unwrap(), (3, 60));
    assert_invariants(store).await;
    assert_eq!(
        dump_section(&store.dump_state().await.unwrap(), "messages"),
        r#"messages (3)
  a@b.test "INBOX" 7:1 -> 9:1 size=10 flags=""
  a@b.test "INBOX" 7:2 -> 9:2 size=20 flags=""
  a@b.test "INBOX" 7:3 -> 9:3 size=30 flags=""
"#
    );
}

pub async fn skipped_items_are_counted_approved_and_forgotten_once_copied(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test"]).await;
    // Passes record skips; a pass counts them into the user's counters at its end.
    start_pass(store, "a@b.test").await;
    let first = skipped(b"INBOX", 1, SkippedKind::LargeItem);
    store.record_skipped("a@b.test", &first).await.unwrap();
    store
        .record_skipped("a@b.test", &skipped(b"R&-D", 2, SkippedKind::BadItem))
        .await
        .unwrap();
    assert_eq!(
        store.skipped_counts("a@b.test").await.unwrap(),
        SkippedCounts {
            bad: 1,
            large: 1,
            unapproved_bad: 1,
            unapproved_large: 1
        }
    );
    assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 2);

    let at = now();
    assert_eq!(store.approve_skipped_items("B", at).await.unwrap(), 2);
    assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 0);
    let b = store.batch("B").await.unwrap().unwrap();
    assert_eq!(b.skipped_item_approval_time, Some(at));
    let u = store.user("a@b.test").await.unwrap().unwrap();
    assert_eq!(u.skipped_items_approved_at, Some(at));
    assert!(matches!(
        store.approve_skipped_items("Nope", at).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));

    // Refused again: still the first time, still approved; a new skip waits.
    let mut again = first.clone();
    again.skipped_at = at + Duration::hours(1);
    store.record_skipped("a@b.test", &again).await.unwrap();
    store
        .record_skipped("a@b.test", &skipped(b"INBOX", 3, SkippedKind::BadItem))
        .await
        .unwrap();
    let items = store.skipped_items("a@b.test").await.unwrap();
    assert_eq!(items.len(), 3);
    let inbox1 = items.iter().find(|i| i.src_uid == 1).unwrap();
    assert_eq!(inbox1.skipped_at, first.skipped_at);
    assert_eq!(inbox1.approved_at, Some(at));
    assert_eq!(inbox1.subject, "Big one");
    assert_eq!(inbox1.kind, SkippedKind::LargeItem);
    assert_eq!(store.unapproved_skipped_items("B").await.unwrap(), 1);

    // Copied by a later pass: no longer skipped.
    store
        .record_copies(
            "a@b.test",
            b"INBOX",
            7,
            &[CopiedMessage {
                src_uid: 1,
                dst_uidvalidity: Some(1),
                dst_uid: Some(1),
                size: 100,
                flags: vec![],
            }],
        )
        .await
        .unwrap();
    let left: Vec<(Vec<u8>, u32)> = store
        .skipped_items("a@b.test")
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.src_name, i.src_uid))
        .collect();
    assert_eq!(left, vec![(b"INBOX".to_vec(), 3), (b"R&-D".to_vec(), 2)]);
    finish_pass(store, "a@b.test").await;
    assert_invariants(store).await;
    assert_eq!(
        dump_section(&store.dump_state().await.unwrap(), "skipped items"),
        r#"skipped items (2)
  a@b.test "INBOX" 7:3 kind=BadItem size=100 subject="Big one" reason="the target refused it: [TOOBIG] too big" skipped_at=<time> approved_at=-
  a@b.test "R&D" (wire "R&-D") 7:2 kind=BadItem size=100 subject="Big one" reason="the target refused it: [TOOBIG] too big" skipped_at=<time> approved_at=<time>
"#
    );
}

/// The reference the database's pages are checked against: every user in memory,
/// filtered, sorted and sliced by hand.
fn page_by_hand(all: &[MigrationUser], q: &UserQuery) -> Vec<String> {
    let filter = q.filter.as_deref().map(|f| f.trim().to_lowercase());
    let mut users: Vec<(usize, &MigrationUser)> = all
        .iter()
        .enumerate()
        .filter(|(_, u)| q.status.is_none_or(|s| u.status == s))
        .filter(|(_, u)| {
            filter.as_deref().is_none_or(|f| {
                f.is_empty()
                    || format!("{} {}", u.email, u.status.as_str())
                        .to_lowercase()
                        .contains(f)
            })
        })
        .collect();
    let share = |u: &MigrationUser| -> f64 {
        if u.stats.source_items == 0 {
            -1.0
        } else {
            u.stats.items_synced.min(u.stats.source_items) as f64 / u.stats.source_items as f64
        }
    };
    users.sort_by(|(pa, a), (pb, b)| {
        let key = match q.sort {
            UserSort::Position => pa.cmp(pb),
            UserSort::Email => a.email.as_str().cmp(b.email.as_str()),
            UserSort::Status => a.status.as_str().cmp(b.status.as_str()),
            UserSort::Progress => share(a).total_cmp(&share(b)),
            UserSort::ItemsSynced => a.stats.items_synced.cmp(&b.stats.items_synced),
            UserSort::ItemsSkipped => a.stats.items_skipped.cmp(&b.stats.items_skipped),
            UserSort::BytesSynced => a.stats.bytes_synced.cmp(&b.stats.bytes_synced),
            UserSort::LastSynced => a.last_synced_at.cmp(&b.last_synced_at),
            UserSort::Error => a
                .error
                .as_deref()
                .unwrap_or("")
                .cmp(b.error.as_deref().unwrap_or("")),
        };
        let key = if q.descending { key.reverse() } else { key };
        key.then(pa.cmp(pb))
    });
    users
        .into_iter()
        .skip(q.offset as usize)
        .take(q.limit.map_or(usize::MAX, |l| l as usize))
        .map(|(_, u)| u.email.to_string())
        .collect()
}

mod pages {
    use super::*;
    use proptest::prelude::*;

    pub const STATUSES: [UserStatus; 4] = [
        UserStatus::Queued,
        UserStatus::Syncing,
        UserStatus::Synced,
        UserStatus::Failed,
    ];

    pub fn user_strategy() -> impl Strategy<Value = (u8, u8, u16, u16, u32, Option<u8>, Option<i64>)>
    {
        (
            0u8..4,
            0u8..20,
            0u16..50,
            0u16..60,
            0u32..5000,
            proptest::option::of(0u8..3),
            proptest::option::of(0i64..4),
        )
    }

    pub fn query_strategy() -> impl Strategy<Value = UserQuery> {
        (
            proptest::option::of(prop_oneof![
                Just("user-1".to_string()),
                Just("FAIL".to_string()),
                Just("sync".to_string()),
                Just("@b.test".to_string()),
                Just(" ".to_string()),
            ]),
            proptest::option::of(0usize..4),
            0usize..UserSort::ALL.len(),
            any::<bool>(),
            0u64..30,
            proptest::option::of(0u64..12),
        )
            .prop_map(
                |(filter, status, sort, descending, offset, limit)| UserQuery {
                    filter,
                    status: status.map(|i| STATUSES[i]),
                    sort: UserSort::ALL[sort],
                    descending,
                    offset,
                    limit,
                },
            )
    }
}

/// Random users and random queries: every page the database cuts is the one cut by hand.
pub async fn a_page_of_users_is_the_slice_of_them_all_filtered_and_sorted(b: Backend) {
    use pages::{STATUSES, query_strategy, user_strategy};
    use proptest::test_runner::{Config, TestRunner};
    let store = b.shared();
    store
        .insert_endpoint(&endpoint("E"), &secret("pw"))
        .await
        .unwrap();
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config::with_cases(24));
    let cases = (
        proptest::collection::vec(user_strategy(), 0..25),
        proptest::collection::vec(query_strategy(), 1..8),
    );
    let result = tokio::task::block_in_place(|| {
        runner.run(&cases, |(users, queries)| {
            handle.block_on(async {
                // Each case on a batch of its own.
                if store.batch("B").await.unwrap().is_some() {
                    store.remove_batch("B").await.unwrap();
                }
                let news: Vec<NewUser> = (0..users.len())
                    .map(|i| new_user(&format!("user-{}@b.test", (i * 7919) % 1000), None))
                    .collect();
                let mut seen = std::collections::HashSet::new();
                let news: Vec<NewUser> = news
                    .into_iter()
                    .filter(|n| seen.insert(n.email.to_string()))
                    .collect();
                store.create_batch(&batch("B", "E"), &news).await.unwrap();
                let now = now();
                let mut all = Vec::new();
                for (n, (status, source, synced, skipped, bytes, error, ago)) in
                    news.iter().zip(&users)
                {
                    let mut u = store.user(n.email.as_str()).await.unwrap().unwrap();
                    u.status = STATUSES[*status as usize];
                    u.stats.source_items = u64::from(*source);
                    u.stats.items_synced = u64::from(*synced);
                    u.stats.items_skipped = u64::from(*skipped);
                    u.stats.bytes_synced = u64::from(*bytes);
                    u.error = error.map(|e| format!("error {e}"));
                    u.last_synced_at = ago.map(|a| now - Duration::hours(a));
                    store.update_user(&u).await.unwrap();
                    all.push(store.user(n.email.as_str()).await.unwrap().unwrap());
                }
                for q in &queries {
                    let page = store.users_page("B", q).await.unwrap();
                    let got: Vec<String> = page.users.iter().map(|u| u.email.to_string()).collect();
                    let mut whole = q.clone();
                    whole.offset = 0;
                    whole.limit = None;
                    assert_eq!(
                        page.total as usize,
                        page_by_hand(&all, &whole).len(),
                        "{q:?}"
                    );
                    assert_eq!(got, page_by_hand(&all, q), "{q:?}");
                }
            });
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

pub async fn progress_moves_the_counters_and_fills_the_batch_s_throughput_buckets(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test", "c@b.test"]).await;
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let start = PassStart {
        at: t0,
        items: 0,
        bytes: 0,
    };
    store
        .start_pass("a@b.test", 10, 1000, &start)
        .await
        .unwrap();
    store
        .record_progress("a@b.test", 2, 200, t0 + Duration::seconds(1))
        .await
        .unwrap();
    store
        .record_progress("c@b.test", 1, 50, t0 + Duration::seconds(9))
        .await
        .unwrap();
    store
        .record_progress("a@b.test", 3, 300, t0 + Duration::seconds(12))
        .await
        .unwrap();
    let a = store.user("a@b.test").await.unwrap().unwrap();
    assert_eq!((a.stats.source_items, a.stats.source_bytes), (10, 1000));
    assert_eq!((a.stats.items_synced, a.stats.bytes_synced), (5, 500));
    assert_eq!(a.pass_start, Some(start));
    let buckets = store.throughput("B", t0).await.unwrap();
    assert_eq!(
        buckets,
        vec![
            ThroughputBucket {
                at: t0,
                messages: 3,
                bytes: 250
            },
            ThroughputBucket {
                at: t0 + Duration::seconds(10),
                messages: 3,
                bytes: 300
            },
        ]
    );
    assert_eq!(
        store
            .throughput("B", t0 + Duration::seconds(10))
            .await
            .unwrap()
            .len(),
        1
    );
    // The batch's removal takes its throughput along.
    store.remove_batch("B").await.unwrap();
    assert_eq!(b.count("throughput").await, 0);
}

/// Two processes create a cutover batch at the same moment: one batch exists after, made
/// by one of them; the other is refused (PostgreSQL: it waits for the first and sees its
/// batch; SQLite: its write lock is refused, or it sees the batch).
pub async fn two_processes_creating_the_batch_at_once_make_one(b: Backend) {
    let store = b.shared();
    store
        .insert_endpoint(&endpoint("E"), &secret("p"))
        .await
        .unwrap();
    for round in 0..5 {
        let other = b.open_again().await;
        // Both connected before the race (a new connection would lose it).
        assert!(other.batches().await.unwrap().is_empty());
        let (one, two) = (format!("One{round}"), format!("Two{round}"));
        let users_one = [new_user(&format!("a{round}@b.test"), None)];
        let users_two = [new_user(&format!("c{round}@b.test"), None)];
        let (batch_one, batch_two) = (batch(&one, "E"), batch(&two, "E"));
        let (first, second) = tokio::join!(
            store.create_batch(&batch_one, &users_one),
            other.create_batch(&batch_two, &users_two),
        );
        assert!(
            first.is_ok() != second.is_ok(),
            "exactly one may create it: {first:?} / {second:?}"
        );
        let batches = store.batches().await.unwrap();
        assert_eq!(batches.len(), 1, "{batches:?}");
        assert_invariants(store.as_ref()).await;
        store.remove_batch(batches[0].name.as_str()).await.unwrap();
        other.close().await;
    }
}

/// The ledger's other reads and writes: intents recorded, read and dropped; target UIDs;
/// messages forgotten (with their skips); the listing digest; the source's size; the
/// throttled wait; held removals approved and spent.
pub async fn the_ledger_s_smaller_reads_and_writes(b: Backend) {
    use cutover_store::Intent;
    let store = b.store();
    store_with_batch(store, &["a@b.test", "c@b.test"]).await;
    let a = "a@b.test";
    let intent = |uid: u32, floor: u32| Intent {
        src_uidvalidity: 7,
        src_uid: uid,
        dst_name: b"INBOX".to_vec(),
        dst_uid_floor: floor,
        size: 10 * uid,
        internal_date: 1_700_000_000 + i64::from(uid),
    };
    store
        .record_intents(a, b"INBOX", &[intent(1, 5), intent(2, 5), intent(3, 5)])
        .await
        .unwrap();
    // Recorded again with a lower floor: the lowest stays.
    store
        .record_intents(a, b"INBOX", &[intent(2, 3), intent(3, 9)])
        .await
        .unwrap();
    let got = store.intents(a, b"INBOX").await.unwrap();
    assert_eq!(
        got.iter()
            .map(|i| (i.src_uid, i.dst_uid_floor))
            .collect::<Vec<_>>(),
        [(1, 5), (2, 3), (3, 5)]
    );
    assert_eq!(got[0], intent(1, 5));
    store.drop_intents(a, b"INBOX", 7, &[1, 3]).await.unwrap();
    assert_eq!(store.intents(a, b"INBOX").await.unwrap(), [intent(2, 3)]);

    let copy = |uid: u32, dst_uid: u32| CopiedMessage {
        src_uid: uid,
        dst_uidvalidity: Some(9),
        dst_uid: Some(dst_uid),
        size: 10,
        flags: vec![],
    };
    store
        .record_copies(a, b"INBOX", 7, &[copy(2, 12), copy(4, 11), copy(5, 13)])
        .await
        .unwrap();
    assert!(store.intents(a, b"INBOX").await.unwrap().is_empty());
    assert_eq!(
        store.copied_dst_uids(a, b"INBOX", 9).await.unwrap(),
        [11, 12, 13]
    );
    store
        .record_skipped(a, &skipped(b"INBOX", 6, SkippedKind::BadItem))
        .await
        .unwrap();
    store
        .forget_messages(a, b"INBOX", 7, &[4, 6])
        .await
        .unwrap();
    assert_eq!(store.copied_uids(a, b"INBOX", 7).await.unwrap(), [2, 5]);
    assert!(store.skipped_items(a).await.unwrap().is_empty());

    assert_eq!(store.source_listing(a).await.unwrap(), None);
    store.set_source_listing(a, Some("digest-1")).await.unwrap();
    assert_eq!(
        store.source_listing(a).await.unwrap().as_deref(),
        Some("digest-1")
    );
    store.set_source_listing(a, None).await.unwrap();
    assert_eq!(store.source_listing(a).await.unwrap(), None);
    store.set_source_size(a, 40, 4000).await.unwrap();
    let until = now() + Duration::seconds(30);
    store.set_throttled(a, Some(until)).await.unwrap();
    let u = store.user(a).await.unwrap().unwrap();
    assert_eq!((u.stats.source_items, u.stats.source_bytes), (40, 4000));
    assert_eq!(u.throttled_until, Some(until));
    store.set_throttled(a, None).await.unwrap();
    assert_eq!(store.user(a).await.unwrap().unwrap().throttled_until, None);

    // Removals held for a, approved (for the batch, and for one user), then spent.
    let mut held = store.user(a).await.unwrap().unwrap();
    held.removals_held = 12;
    held.removals_held_detail = Some("12 of 20 in INBOX".into());
    store.update_user(&held).await.unwrap();
    assert_eq!(store.users_with_held_removals("B").await.unwrap(), 1);
    assert!(matches!(
        store.approve_removals("B", Some("x@b.test"), now()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.approve_removals("Nope", None, now()).await,
        Err(StoreError::NotFound { .. })
    ));
    let at = now();
    assert_eq!(store.approve_removals("B", Some(a), at).await.unwrap(), 1);
    assert_eq!(store.approve_removals("B", None, at).await.unwrap(), 1);
    let approved = store.user(a).await.unwrap().unwrap();
    assert_eq!(approved.removals_approved_at, Some(at));
    // An older approval's time is not this one: nothing spent.
    store
        .spend_removal_approval(a, at - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        store.user(a).await.unwrap().unwrap().removals_approved_at,
        Some(at)
    );
    store.spend_removal_approval(a, at).await.unwrap();
    assert_eq!(
        store.user(a).await.unwrap().unwrap().removals_approved_at,
        None
    );
}

/// What each user is in the source organization and whether the batch skipped the domain
/// check are written with the batch and read back, in the dump too.
pub async fn a_batch_keeps_its_users_kinds_and_its_domain_check(b: Backend) {
    let store = b.store();
    store
        .insert_endpoint(&endpoint("E"), &secret("p"))
        .await
        .unwrap();
    let users: Vec<NewUser> = cutover_model::RecipientKind::ALL
        .iter()
        .enumerate()
        .map(|(n, kind)| NewUser {
            kind: *kind,
            ..new_user(&format!("r{n}@b.test"), None)
        })
        .collect();
    let mut skipped = batch("B", "E");
    skipped.domain_check_skipped = true;
    store.create_batch(&skipped, &users).await.unwrap();
    assert!(
        store
            .batch("B")
            .await
            .unwrap()
            .unwrap()
            .domain_check_skipped
    );
    let listed = store.users(Some("B"), None).await.unwrap();
    assert_eq!(
        listed.iter().map(|u| u.kind).collect::<Vec<_>>(),
        cutover_model::RecipientKind::ALL.to_vec()
    );
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump.contains("domain_check_skipped=1")
            && dump.contains(
                "r3@b.test batch=B position=3 recipient_type=MailUniversalDistributionGroup"
            ),
        "{dump}"
    );
}

/// A pass records a chunk's messages in a few statements; a call of more messages than
/// one statement takes, or one that names a message twice, leaves what recording them
/// one by one would: each message once, its last record, counted once, its intent and
/// skip gone.
pub async fn many_messages_recorded_at_once_land_once_each(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@b.test"]).await;
    let intent = |uid: u32, floor: u32, size: u32| Intent {
        src_uidvalidity: 7,
        src_uid: uid,
        dst_name: b"INBOX".to_vec(),
        dst_uid_floor: floor,
        size,
        internal_date: 1_700_000_000,
    };
    let mut intents: Vec<Intent> = (1..=1200).map(|uid| intent(uid, 10, 100)).collect();
    intents.push(intent(5, 4, 55));
    intents.push(intent(5, 8, 56));
    store
        .record_intents("a@b.test", b"INBOX", &intents)
        .await
        .unwrap();
    let recorded = store.intents("a@b.test", b"INBOX").await.unwrap();
    assert_eq!(recorded.len(), 1200);
    let five = recorded.iter().find(|i| i.src_uid == 5).unwrap();
    assert_eq!((five.dst_uid_floor, five.size), (4, 56));
    store
        .record_skipped("a@b.test", &skipped(b"INBOX", 900, SkippedKind::BadItem))
        .await
        .unwrap();

    let copy = |uid: u32, size: u32| CopiedMessage {
        src_uid: uid,
        dst_uidvalidity: Some(9),
        dst_uid: Some(uid),
        size,
        flags: vec!["\\Seen".into()],
    };
    let mut copies: Vec<CopiedMessage> = (1..=1200).map(|uid| copy(uid, 100)).collect();
    copies.push(copy(3, 250));
    store
        .record_copies("a@b.test", b"INBOX", 7, &copies)
        .await
        .unwrap();
    let u = store.user("a@b.test").await.unwrap().unwrap();
    assert_eq!(
        (u.stats.items_synced, u.stats.bytes_synced),
        (1200, 1199 * 100 + 250)
    );
    assert!(
        store
            .intents("a@b.test", b"INBOX")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.skipped_items("a@b.test").await.unwrap().is_empty());
    let three = store
        .copied_messages("a@b.test", b"INBOX", 7)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.src_uid == 3)
        .unwrap();
    assert_eq!(three.size, 250);

    // Recorded again, bigger: counted once, the bytes follow.
    let again: Vec<CopiedMessage> = (1..=600).map(|uid| copy(uid, 110)).collect();
    store
        .record_copies("a@b.test", b"INBOX", 7, &again)
        .await
        .unwrap();
    let u = store.user("a@b.test").await.unwrap().unwrap();
    assert_eq!(
        (u.stats.items_synced, u.stats.bytes_synced),
        (1200, 600 * 110 + 600 * 100)
    );
    assert_invariants(store).await;
}
