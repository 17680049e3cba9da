//! The store's conformance suite: every test is written once against `&dyn Store` and
//! runs on each backend, SQLite (a file in a temporary directory) and PostgreSQL (a fresh
//! database on a private cluster this binary starts, see `support::postgres`). A test
//! that needs PostgreSQL fails, naming the Debian package, when it is not installed.

mod support;

mod dav;
mod directory;
mod domains;
mod inspect;
mod jobs;
mod licenses;
mod notifications;
mod provisioning;
mod store;

/// One `#[tokio::test]` per test and backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = crate::support::Backend::new(crate::support::Kind::Sqlite).await;
                    crate::$module::$name(b).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = crate::support::Backend::new(crate::support::Kind::Postgres).await;
                    crate::$module::$name(b).await;
                }
            )*
        }
    };
}

on_both_backends!(
    dav::an_intent_stands_until_its_record_replaces_it,
    dav::an_update_intent_stands_beside_the_record_and_its_record_replaces_both,
    dav::dropped_intents_and_forgotten_records_are_gone,
    dav::two_records_never_share_a_target_href,
    dav::a_skipped_item_keeps_its_latest_reason_until_its_record,
    dav::sync_tokens_are_saved_replaced_and_cleared,
    dav::the_summary_counts_items_by_kind_skipped_items_and_the_last_pass,
    dav::skipped_dav_items_are_skipped_items_the_batch_approves,
    dav::dav_settings_are_kept_on_the_endpoint_and_the_target,
    dav::the_dump_shows_the_dav_ledger,
    directory::a_directory_is_stored_with_its_password_sealed,
    directory::the_target_directory_is_stored_sealed_and_forgotten_with_none,
    domains::domains_and_the_first_mx_switch_are_kept,
    inspect::the_dump_shows_every_table_in_order_with_times_tokens_and_secrets_redacted,
    inspect::an_empty_state_dumps_every_section_title,
    inspect::a_second_batch_is_named,
    inspect::two_messages_on_one_target_uid_are_named_with_their_target_folder,
    inspect::an_intent_a_finished_pass_left_is_named,
    inspect::counters_that_drift_from_the_ledger_are_named_unless_a_pass_runs,
    inspect::a_skipped_item_that_was_copied_is_named,
    inspect::a_lease_whose_times_are_out_of_order_is_named,
    provisioning::users_join_a_batch_after_the_others_once,
    provisioning::an_entry_is_desired_then_applied_and_provisioned_once,
    provisioning::an_initial_password_is_kept_sealed_until_handed_out_then_forgotten,
    jobs::a_round_opens_once_and_closes_when_its_last_job_is_done,
    jobs::a_claim_holds_the_batch_s_limit_and_takes_no_job_twice,
    jobs::an_expired_lease_is_taken_over_and_its_old_owner_can_neither_renew_nor_end_it,
    jobs::a_job_ended_later_waits_for_its_time_and_a_released_one_is_due_at_once,
    jobs::the_scheduler_s_batch_writes_touch_their_columns_and_lose_to_a_change_of_status,
    jobs::throttling_is_kept_per_batch_and_shared,
    jobs::two_stores_on_one_state_never_claim_the_same_job,
    jobs::workers_claiming_at_once_never_pass_the_batch_s_limit,
    jobs::waiting_for_work_ends_by_its_timeout_or_when_work_comes,
    jobs::refusals_noted_at_once_by_four_workers_all_count,
    licenses::skus_and_assignments_round_trip_and_a_full_sku_refuses,
    licenses::assignments_at_once_never_pass_the_units,
    licenses::the_grace_period_is_30_days_until_set,
    licenses::a_disabled_login_keeps_its_first_time_until_given_back,
    licenses::the_users_licenses_govern_keep_their_first_provisioning_time,
    notifications::the_relay_round_trips_with_its_password_sealed,
    notifications::the_record_of_what_was_mailed_follows_its_batch,
    store::an_oauth_application_round_trips_with_its_secret_sealed,
    store::endpoints_round_trip_with_sealed_passwords,
    store::only_one_cutover_batch_and_cascade_on_remove,
    store::many_messages_recorded_at_once_land_once_each,
    store::user_progress_is_saved,
    store::subscriptions_seen_are_recorded_forgotten_and_dropped_on_rename,
    store::recorded_copies_move_the_users_counters_at_once_and_once,
    store::skipped_items_are_counted_approved_and_forgotten_once_copied,
    store::a_page_of_users_is_the_slice_of_them_all_filtered_and_sorted,
    store::progress_moves_the_counters_and_fills_the_batch_s_throughput_buckets,
    store::two_processes_creating_the_batch_at_once_make_one,
    store::the_ledger_s_smaller_reads_and_writes,
    store::a_batch_keeps_its_users_kinds_and_its_domain_check,
);

/// The same steps on both backends leave the same state: the dumps are equal, line for
/// line, and both keep every invariant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_steps_dump_the_same_text_on_both_backends() {
    use support::{Backend, Kind, assert_invariants};
    let sqlite = Backend::new(Kind::Sqlite).await;
    let postgres = Backend::new(Kind::Postgres).await;
    for b in [&sqlite, &postgres] {
        inspect::fill_every_table(b.store()).await;
        directory::set_a_target_directory(b.store()).await;
        licenses::fill_licenses(b.store()).await;
        assert_invariants(b.store()).await;
    }
    let (on_sqlite, on_postgres) = (
        sqlite.store().dump_state().await.unwrap(),
        postgres.store().dump_state().await.unwrap(),
    );
    assert!(
        on_sqlite.contains("messages (3)")
            && on_sqlite.contains("target_directory={")
            && on_sqlite.contains("recipient_type=UserMailbox")
            && on_sqlite.contains("domain_check_skipped=0")
            && on_sqlite.contains("license skus (2)\n  E3 units=2 assigned=1")
            && on_sqlite.contains("license settings (1)\n  grace_seconds=90"),
        "{on_sqlite}"
    );
    assert_eq!(on_sqlite, on_postgres);
}

/// PostgreSQL only: the store shows its URL without the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_never_shows_its_password() {
    let url = support::postgres::cluster().new_database();
    let dir = tempfile::tempdir().unwrap();
    let store = cutover_store::PostgresStore::open(&url, &dir.path().join("key"))
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(
        shown.contains("postgres:<redacted>@127.0.0.1")
            && !shown.contains(support::postgres::PASSWORD),
        "{shown}"
    );
}
