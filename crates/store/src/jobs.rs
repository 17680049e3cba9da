//! Work as jobs: one row per unit of work (a user's mailbox pass, or writing its entry
//! into the target's directory; calendar passes are another kind), with when it may run, how often it was tried, and
//! the lease of the worker running it.
//!
//! A batch's pass is a *round*: when the batch falls due the scheduler opens a round
//! with one job per user, workers claim due jobs ([`JobStore::claim_due`]) within each
//! batch's limit of mailboxes at once, heartbeat their leases ([`JobStore::renew_job`])
//! and end each job ([`JobStore::end_job`]): done (the row goes), later (a retry or a
//! throttled wait), or released (a stop; it runs again when the batch is started). A
//! worker that dies stops renewing; once its lease has expired the job is due again for
//! any worker. A round closes when its last job is done. Which due jobs a claim takes
//! is [`choose_claims`], a plain function; the backends only make read-decide-write one
//! transaction (`BEGIN IMMEDIATE` on SQLite; on PostgreSQL a lock on the claim and
//! `FOR UPDATE SKIP LOCKED`), so the limits hold across every worker of every machine.
//!
//! The throttling state of each batch ([`ThrottleState`], an [`Aimd`]) lives here too:
//! when a server refuses for load, every worker backs off together.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use cutover_model::Aimd;

use crate::Result;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    /// One pass over a user's mailbox (the initial sync or an incremental one).
    MailboxPass,
    /// Writing the user's entry into the target's directory; its mailbox pass of the
    /// round waits for it.
    Provision,
    /// One pass over a user's calendars, contacts and tasks (CalDAV/CardDAV), in the
    /// rounds of batches whose source and target both have a DAV server.
    DavPass,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::MailboxPass => "mailbox-pass",
            JobKind::Provision => "provision",
            JobKind::DavPass => "dav-pass",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mailbox-pass" => Ok(JobKind::MailboxPass),
            "provision" => Ok(JobKind::Provision),
            "dav-pass" => Ok(JobKind::DavPass),
            other => Err(format!("unknown job kind '{other}'")),
        }
    }
}

/// A worker's hold on a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub owner: String,
    pub leased_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl JobLease {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub batch: String,
    /// What it works on: the user's address.
    pub subject: String,
    /// Its place in the round: lower first (the biggest mailboxes get the lowest).
    pub position: i64,
    /// Not before this.
    pub run_at: DateTime<Utc>,
    /// Tries in a row that failed and moved nothing.
    pub attempts: u32,
    /// Refusals for load in a row.
    pub refusals: u32,
    pub last_error: Option<String>,
    /// The worker holding it, if one does (an expired lease is held by no one).
    pub lease: Option<JobLease>,
}

impl Job {
    /// Whether a live lease holds it at `now`.
    pub fn is_held(&self, now: DateTime<Utc>) -> bool {
        self.lease.as_ref().is_some_and(|l| !l.is_expired(now))
    }

    /// Whether a worker may take it at `now`: due and held by no one.
    pub fn is_claimable(&self, now: DateTime<Utc>) -> bool {
        self.run_at <= now && !self.is_held(now)
    }
}

/// A job of a new round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub subject: String,
    pub position: i64,
}

/// A batch's pass under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub batch: String,
    /// An incremental pass (after the initial sync), or the initial sync.
    pub incremental: bool,
    pub started_at: DateTime<Utc>,
}

/// How a worker ends a job it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// The work is done (or failed for good): the job goes.
    Done,
    /// Run it again at `run_at`, with these counts.
    Later {
        run_at: DateTime<Utc>,
        attempts: u32,
        refusals: u32,
        error: Option<String>,
    },
    /// Give it back as it was (stopped): due again when its batch runs.
    Release,
}

/// How many of a batch's mailboxes may run at once after the servers' refusals, and
/// until when none may start (the wait a refusal asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub aimd: Aimd,
    pub closed_until: Option<DateTime<Utc>>,
}

impl ThrottleState {
    /// How many may run at once at `now` (none while closed).
    pub fn limit_at(&self, now: DateTime<Utc>) -> u32 {
        match self.closed_until {
            Some(until) if until > now => 0,
            _ => self.aimd.limit(),
        }
    }

    /// The state after a pass went through (`refused_until` None) or a server refused
    /// for load until then; `max` is the admin's limit now.
    pub fn after(
        current: Option<ThrottleState>,
        max: u32,
        refused_until: Option<DateTime<Utc>>,
    ) -> Self {
        let mut state = current.map_or_else(
            || ThrottleState {
                aimd: Aimd::new(max),
                closed_until: None,
            },
            |s| ThrottleState {
                aimd: Aimd::restore(s.aimd.limit(), s.aimd.credits(), max),
                closed_until: s.closed_until,
            },
        );
        match refused_until {
            None => state.aimd.succeeded(),
            Some(until) => {
                state.aimd.throttled();
                state.closed_until = Some(state.closed_until.map_or(until, |c| c.max(until)));
            }
        }
        state
    }
}

/// Which of the `candidates` (due and free, in claim order: position, then id) a
/// worker takes: at most `n`, and per batch no more than its limit less the jobs held
/// now (`held`). Batches without a limit are not claimed (stopped, or not the
/// scheduler's to run).
pub fn choose_claims(
    candidates: &[Job],
    held: &BTreeMap<String, u32>,
    limits: &BTreeMap<String, u32>,
    n: usize,
) -> Vec<i64> {
    let mut room: BTreeMap<&str, u32> = limits
        .iter()
        .map(|(b, l)| {
            (
                b.as_str(),
                l.saturating_sub(held.get(b).copied().unwrap_or(0)),
            )
        })
        .collect();
    let mut chosen = Vec::new();
    for job in candidates {
        if chosen.len() >= n {
            break;
        }
        if let Some(left) = room.get_mut(job.batch.as_str())
            && *left > 0
        {
            *left -= 1;
            chosen.push(job.id);
        }
    }
    chosen
}

/// Jobs and rounds; every [`crate::Store`] has them.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Opens a round of `batch` with its jobs (due at `now`), and marks the batch started
    /// then if it never was, in one transaction; false (and nothing written) when the
    /// batch has a round open already.
    async fn open_round(
        &self,
        batch: &str,
        incremental: bool,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// The rounds open now.
    async fn rounds(&self) -> Result<Vec<Round>>;
    /// Closes the round of `batch` if it has no job left; true when it closed it.
    async fn close_round(&self, batch: &str) -> Result<bool>;
    /// Takes up to `n` due jobs for `owner` until `now + ttl`, within each batch's limit
    /// of jobs held at once (`limits`; batches not in it are left alone), in one
    /// transaction: no two workers take one job, and no batch goes over its limit
    /// whatever the number of workers.
    async fn claim_due(
        &self,
        owner: &str,
        n: usize,
        limits: &BTreeMap<String, u32>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>>;
    /// The heartbeat: extends `owner`'s lease to `now + ttl`. False when the job is no
    /// longer the owner's (the lease expired and another worker took it, or the job is
    /// gone): the worker must stop working on it.
    async fn renew_job(
        &self,
        id: i64,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Ends `owner`'s job as `end` says; false (and nothing written) when it is not the
    /// owner's any more.
    async fn end_job(&self, id: i64, owner: &str, end: &JobEnd) -> Result<bool>;
    /// Gives back every job `owner` holds (a worker shutting down); returns how many.
    async fn release_jobs_of(&self, owner: &str) -> Result<u64>;
    /// The jobs of one batch, or of all, in claim order.
    async fn jobs(&self, batch: Option<&str>) -> Result<Vec<Job>>;
    /// The jobs a lease holds, expired leases included (to find dead workers' jobs).
    async fn leased_jobs(&self) -> Result<Vec<Job>>;
    /// The throttling state of `batch` (None: no server refused yet).
    async fn throttle(&self, batch: &str) -> Result<Option<ThrottleState>>;
    /// A pass of `batch` went through (`refused_until` None) or a server refused for
    /// load: moves the shared state on ([`ThrottleState::after`]) in one transaction.
    async fn note_throttle(
        &self,
        batch: &str,
        max: u32,
        refused_until: Option<DateTime<Utc>>,
    ) -> Result<ThrottleState>;
    /// Waits until jobs may have become due (another worker opened a round or gave a job
    /// back) or `timeout` passed. A backend without notifications just waits.
    async fn wait_for_work(&self, timeout: std::time::Duration) {
        tokio::time::sleep(timeout).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn job(id: i64, batch: &str) -> Job {
        Job {
            id,
            kind: JobKind::MailboxPass,
            batch: batch.into(),
            subject: format!("u{id}@example.test"),
            position: id,
            run_at: DateTime::UNIX_EPOCH,
            attempts: 0,
            refusals: 0,
            last_error: None,
            lease: None,
        }
    }

    #[test]
    fn a_claim_takes_in_order_within_each_batch_s_room() {
        let jobs: Vec<Job> = (1..=6)
            .map(|i| job(i, if i % 2 == 0 { "B" } else { "A" }))
            .collect();
        let limits = BTreeMap::from([("A".to_string(), 2), ("B".to_string(), 3)]);
        let held = BTreeMap::from([("B".to_string(), 2)]);
        assert_eq!(choose_claims(&jobs, &held, &limits, 10), vec![1, 2, 3]);
        assert_eq!(choose_claims(&jobs, &held, &limits, 2), vec![1, 2]);
        // A batch without a limit (stopped) is not claimed.
        let only_b = BTreeMap::from([("B".to_string(), 5)]);
        assert_eq!(
            choose_claims(&jobs, &BTreeMap::new(), &only_b, 10),
            vec![2, 4, 6]
        );
    }

    #[test]
    fn a_refusal_closes_the_batch_until_its_wait_and_halves_the_limit() {
        let now = DateTime::UNIX_EPOCH + Duration::hours(1);
        let s = ThrottleState::after(None, 8, Some(now + Duration::seconds(10)));
        assert_eq!(s.aimd.limit(), 4);
        assert_eq!(s.limit_at(now), 0);
        assert_eq!(s.limit_at(now + Duration::seconds(10)), 4);
        // A shorter wait of a later refusal does not open it earlier.
        let s2 = ThrottleState::after(Some(s), 8, Some(now + Duration::seconds(2)));
        assert_eq!(s2.closed_until, Some(now + Duration::seconds(10)));
        assert_eq!(s2.aimd.limit(), 2);
        // The admin lowered the limit meanwhile: it holds.
        let s3 = ThrottleState::after(Some(ThrottleState::after(None, 8, None)), 3, None);
        assert_eq!(s3.aimd.limit(), 3);
    }

    proptest! {
        #[test]
        fn claims_never_pass_a_limit_or_n_and_take_the_first_that_fit(
            batches in proptest::collection::vec(0usize..4, 0..60),
            limits in proptest::collection::vec(0u32..6, 4),
            held in proptest::collection::vec(0u32..6, 4),
            limited in proptest::collection::vec(any::<bool>(), 4),
            n in 0usize..20,
        ) {
            let names = ["a", "b", "c", "d"];
            let jobs: Vec<Job> = batches.iter().enumerate()
                .map(|(i, b)| job(i as i64, names[*b])).collect();
            let limit_map: BTreeMap<String, u32> = (0..4).filter(|i| limited[*i])
                .map(|i| (names[i].to_string(), limits[i])).collect();
            let held_map: BTreeMap<String, u32> = (0..4)
                .map(|i| (names[i].to_string(), held[i])).collect();
            let chosen = choose_claims(&jobs, &held_map, &limit_map, n);
            prop_assert!(chosen.len() <= n);
            let mut per: BTreeMap<&str, u32> = BTreeMap::new();
            for id in &chosen {
                let b = jobs[*id as usize].batch.as_str();
                *per.entry(b).or_default() += 1;
            }
            for (b, c) in &per {
                let limit = limit_map.get(*b).copied();
                prop_assert!(limit.is_some(), "claimed from a batch without a limit");
                prop_assert!(c + held_map[*b] <= limit.unwrap().max(held_map[*b]));
                prop_assert!(*c <= limit.unwrap().saturating_sub(held_map[*b]));
            }
            // In order, and a job left out is one whose batch had no room left then
            // (or n was reached).
            prop_assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            if chosen.len() < n {
                for j in &jobs {
                    if !chosen.contains(&j.id) {
                        let room = limit_map.get(&j.batch).map_or(0, |l| l.saturating_sub(held_map[&j.batch]));
                        let taken = chosen.iter().filter(|id| jobs[**id as usize].batch == j.batch && **id < j.id).count() as u32;
                        prop_assert!(taken >= room, "job {} was left though its batch had room", j.id);
                    }
                }
            }
        }
    }
}
