//! Which notification mails are due for a batch, and what is recorded once one went out:
//! pure functions over plain data, property-tested below. The IO (reading the store,
//! sending) is in [`super`].
//!
//! The rules, as Exchange's -NotificationEmails, -ReportInterval and -SkipReports:
//!
//! * no notification addresses, a batch never started, or one being removed: no mail;
//! * [`Notice::InitialSyncFinished`] once, when the batch's initial sync is done;
//! * [`Notice::UsersFailed`] for users that failed since the last such mail (a user that
//!   recovers is forgotten, so failing again is announced again);
//! * [`Notice::Report`] every report interval (counted from the start, then from the last
//!   mail), unless skip-reports. Every mail carries the two reports, so a round that
//!   sends another notice sends no separate report, and any mail starts the interval again.
//!
//! Nothing is recorded for a mail the relay did not take: it is due again next round.

use chrono::{DateTime, Utc};
use cutover_model::{Batch, BatchStatus, EmailAddress, UserStatus};
use cutover_store::NotificationRecord;

/// One notification mail to send about a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Every user finished its first pass (InitialSyncDateTime is set).
    InitialSyncFinished,
    /// These users failed since the last mail that announced failures.
    UsersFailed { users: Vec<EmailAddress> },
    /// The periodic report.
    Report,
}

/// What the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct NoticeFacts<'a> {
    /// Its status, start, initial sync and notification settings.
    pub batch: &'a Batch,
    /// Its users' statuses, in the order of the users CSV.
    pub users: &'a [(EmailAddress, UserStatus)],
    /// What was already mailed.
    pub sent: &'a NotificationRecord,
    pub now: DateTime<Utc>,
}

/// The notices due now, in the order to send them.
pub fn notices_due(f: &NoticeFacts<'_>) -> Vec<Notice> {
    let b = f.batch;
    if b.notification_emails.is_empty() || b.status == BatchStatus::Removing {
        return Vec::new();
    }
    let Some(started_at) = b.started_at else {
        return Vec::new();
    };
    let mut due = Vec::new();
    if b.initial_sync_at.is_some() && f.sent.initial_sync_notified_at.is_none() {
        due.push(Notice::InitialSyncFinished);
    }
    let newly_failed: Vec<EmailAddress> = f
        .users
        .iter()
        .filter(|(email, status)| {
            *status == UserStatus::Failed && !f.sent.failures_announced.contains(email)
        })
        .map(|(email, _)| email.clone())
        .collect();
    if !newly_failed.is_empty() {
        due.push(Notice::UsersFailed {
            users: newly_failed,
        });
    }
    let since = f.sent.last_report_at.unwrap_or(started_at);
    if due.is_empty() && !b.skip_reports && f.now >= since + b.report_interval {
        due.push(Notice::Report);
    }
    due
}

/// The record once `notice` went out at `now`.
pub fn record_sent(
    record: &NotificationRecord,
    notice: &Notice,
    now: DateTime<Utc>,
) -> NotificationRecord {
    let mut next = record.clone();
    // Every mail carries the reports: the interval starts again.
    next.last_report_at = Some(now);
    match notice {
        Notice::InitialSyncFinished => next.initial_sync_notified_at = Some(now),
        Notice::UsersFailed { users } => {
            for u in users {
                if !next.failures_announced.contains(u) {
                    next.failures_announced.push(u.clone());
                }
            }
        }
        Notice::Report => {}
    }
    next
}

/// The record without the announced failures of users that are no longer failed (or no
/// longer in the batch), so that failing again is announced again.
pub fn forget_recovered(
    record: &NotificationRecord,
    users: &[(EmailAddress, UserStatus)],
) -> NotificationRecord {
    let mut next = record.clone();
    next.failures_announced.retain(|announced| {
        users
            .iter()
            .any(|(email, status)| email == announced && *status == UserStatus::Failed)
    });
    next
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;
    use cutover_model::Name;

    const STATUSES: [UserStatus; 7] = [
        UserStatus::Queued,
        UserStatus::Provisioning,
        UserStatus::Syncing,
        UserStatus::Synced,
        UserStatus::IncrementalSyncing,
        UserStatus::Stopped,
        UserStatus::Failed,
    ];
    const BATCH_STATUSES: [BatchStatus; 8] = [
        BatchStatus::Created,
        BatchStatus::Syncing,
        BatchStatus::Synced,
        BatchStatus::SyncedWithErrors,
        BatchStatus::Stopping,
        BatchStatus::Stopped,
        BatchStatus::Failed,
        BatchStatus::Removing,
    ];

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn email(i: usize) -> EmailAddress {
        format!("user{i}@contoso.test").parse().unwrap()
    }

    fn batch() -> Batch {
        Batch {
            status: BatchStatus::Syncing,
            started_at: Some(t0()),
            notification_emails: vec!["admin@contoso.test".parse().unwrap()],
            ..Batch::new(
                Name::parse("batch", "B").unwrap(),
                Name::parse("endpoint", "E").unwrap(),
                t0(),
            )
        }
    }

    /// A batch, its users, what was sent and the time, all drawn at random.
    #[derive(Debug, Clone)]
    struct World {
        batch: Batch,
        users: Vec<(EmailAddress, UserStatus)>,
        sent: NotificationRecord,
        now: DateTime<Utc>,
    }

    impl World {
        fn facts(&self) -> NoticeFacts<'_> {
            NoticeFacts {
                batch: &self.batch,
                users: &self.users,
                sent: &self.sent,
                now: self.now,
            }
        }
    }

    fn hours(range: std::ops::Range<i64>) -> impl Strategy<Value = Option<DateTime<Utc>>> {
        proptest::option::of(range.prop_map(|h| t0() + Duration::hours(h)))
    }

    fn world() -> impl Strategy<Value = World> {
        (
            (
                0..BATCH_STATUSES.len(),
                any::<bool>(),
                hours(0..100),
                proptest::option::of(0..3usize),
                1..72i64,
                any::<bool>(),
            ),
            proptest::collection::vec(0..STATUSES.len(), 0..6),
            (
                hours(0..100),
                hours(0..200),
                proptest::collection::vec(0..8usize, 0..4),
            ),
            0..300i64,
        )
            .prop_map(
                |(
                    (status, started, initial, emails, interval, skip),
                    statuses,
                    (notified, last_report, announced),
                    now,
                )| {
                    let mut b = batch();
                    b.status = BATCH_STATUSES[status];
                    b.started_at = started.then(t0);
                    b.initial_sync_at = initial;
                    b.notification_emails = (0..emails.unwrap_or(0))
                        .map(|i| format!("admin{i}@contoso.test").parse().unwrap())
                        .collect();
                    b.report_interval = Duration::hours(interval);
                    b.skip_reports = skip;
                    World {
                        batch: b,
                        users: statuses
                            .into_iter()
                            .enumerate()
                            .map(|(i, s)| (email(i), STATUSES[s]))
                            .collect(),
                        sent: NotificationRecord {
                            initial_sync_notified_at: notified,
                            last_report_at: last_report,
                            failures_announced: announced.into_iter().map(email).collect(),
                        },
                        now: t0() + Duration::hours(now),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn without_addresses_or_a_start_nothing_is_sent(w in world()) {
            let due = notices_due(&w.facts());
            if w.batch.notification_emails.is_empty()
                || w.batch.started_at.is_none()
                || w.batch.status == BatchStatus::Removing
            {
                prop_assert!(due.is_empty(), "{due:?}");
            }
        }

        #[test]
        fn once_recorded_nothing_is_due_again_at_the_same_time(w in world()) {
            let mut record = w.sent.clone();
            for n in notices_due(&w.facts()) {
                record = record_sent(&record, &n, w.now);
            }
            let again = NoticeFacts { sent: &record, ..w.facts() };
            prop_assert_eq!(notices_due(&again), vec![]);
        }

        #[test]
        fn a_mail_not_recorded_is_due_again(w in world()) {
            // A send that failed records nothing: the next round finds the same notices.
            prop_assert_eq!(notices_due(&w.facts()), notices_due(&w.facts()));
            let later = NoticeFacts { now: w.now + Duration::hours(1), ..w.facts() };
            for n in notices_due(&w.facts()) {
                if n != Notice::Report {
                    prop_assert!(notices_due(&later).contains(&n), "{n:?} lost");
                }
            }
        }

        #[test]
        fn the_initial_sync_is_announced_exactly_once(w in world()) {
            let due = notices_due(&w.facts());
            let announced = due.contains(&Notice::InitialSyncFinished);
            let mailing = !w.batch.notification_emails.is_empty()
                && w.batch.started_at.is_some()
                && w.batch.status != BatchStatus::Removing;
            prop_assert_eq!(
                announced,
                mailing && w.batch.initial_sync_at.is_some() && w.sent.initial_sync_notified_at.is_none()
            );
        }

        #[test]
        fn each_failure_is_announced_once(w in world()) {
            let failed: Vec<EmailAddress> = notices_due(&w.facts())
                .into_iter()
                .flat_map(|n| match n {
                    Notice::UsersFailed { users } => users,
                    _ => vec![],
                })
                .collect();
            for u in &failed {
                prop_assert!(!w.sent.failures_announced.contains(u), "{u} announced twice");
                prop_assert!(w.users.contains(&(u.clone(), UserStatus::Failed)), "{u} is not failed");
            }
            let mailing = !w.batch.notification_emails.is_empty()
                && w.batch.started_at.is_some()
                && w.batch.status != BatchStatus::Removing;
            if mailing {
                for (u, s) in &w.users {
                    if *s == UserStatus::Failed && !w.sent.failures_announced.contains(u) {
                        prop_assert!(failed.contains(u), "{u} failed unannounced");
                    }
                }
            }
        }

        #[test]
        fn reports_follow_the_interval_unless_skipped(w in world()) {
            let due = notices_due(&w.facts());
            let reported = due.contains(&Notice::Report);
            if w.batch.skip_reports {
                prop_assert!(!reported);
            }
            if reported {
                prop_assert_eq!(due.len(), 1, "a report goes alone: other mails carry it");
                let since = w.sent.last_report_at.or(w.batch.started_at).unwrap();
                prop_assert!(w.now >= since + w.batch.report_interval);
            }
            // Once sent, the next one is due a whole interval later, not before.
            if reported {
                let record = record_sent(&w.sent, &Notice::Report, w.now);
                let just_before = w.now + w.batch.report_interval - Duration::seconds(1);
                let before = NoticeFacts { sent: &record, now: just_before, ..w.facts() };
                prop_assert!(!notices_due(&before).contains(&Notice::Report));
                let at = NoticeFacts { sent: &record, now: w.now + w.batch.report_interval, ..w.facts() };
                prop_assert!(notices_due(&at).contains(&Notice::Report));
            }
        }

        #[test]
        fn recovered_users_are_forgotten_and_failed_ones_kept(w in world()) {
            let pruned = forget_recovered(&w.sent, &w.users);
            for u in &w.sent.failures_announced {
                let failed = w.users.contains(&(u.clone(), UserStatus::Failed));
                prop_assert_eq!(pruned.failures_announced.contains(u), failed);
            }
        }
    }

    #[test]
    fn a_started_batch_reports_after_its_first_interval() {
        let b = batch();
        let users = [(email(0), UserStatus::Syncing)];
        let sent = NotificationRecord::default();
        let facts = |now| NoticeFacts {
            batch: &b,
            users: &users,
            sent: &sent,
            now,
        };
        assert_eq!(notices_due(&facts(t0() + Duration::hours(23))), vec![]);
        assert_eq!(
            notices_due(&facts(t0() + Duration::hours(24))),
            vec![Notice::Report]
        );
    }

    #[test]
    fn the_end_of_the_initial_sync_and_a_failure_go_out_together() {
        let mut b = batch();
        b.initial_sync_at = Some(t0() + Duration::hours(1));
        let users = [
            (email(0), UserStatus::Synced),
            (email(1), UserStatus::Failed),
        ];
        let sent = NotificationRecord::default();
        let now = t0() + Duration::hours(2);
        let due = notices_due(&NoticeFacts {
            batch: &b,
            users: &users,
            sent: &sent,
            now,
        });
        assert_eq!(
            due,
            vec![
                Notice::InitialSyncFinished,
                Notice::UsersFailed {
                    users: vec![email(1)]
                }
            ]
        );
    }
}
