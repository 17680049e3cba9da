//! The scheduler: turns the batches' desired state into jobs and runs them.
//!
//! Each [`Scheduler::tick`] does, in order: notes the jobs of this worker that ended;
//! closes the rounds whose last job is done (the batch's status after its pass, its next
//! incremental sync) and settles batches stopped meanwhile; opens a round for every
//! batch that fell due (one mailbox-pass job per user, the biggest mailboxes first);
//! stops the local jobs of batches that were stopped or removed; and claims due jobs
//! within each batch's limit (the endpoint's MaxConcurrentMigrations or
//! MaxConcurrentIncrementalSyncs, lowered for every worker while a server refuses for
//! load), spawning each. A job runs one attempt of the user's pass
//! ([`cutover_sync::attempt_pass`]) under its lease, with a heartbeat; what then
//! becomes of job and user is [`decide`], a plain function. `cutover run`, `cutover
//! worker` and `cutover serve` all run [`work`], the loop around it; tests call `tick`.

mod dav_job;
pub mod decide;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cutover_model::{Batch, BatchStatus, MigrationUser, UserStatus};
use cutover_store::{Job, JobEnd, JobKind, NewJob, Store, StoreError};
use cutover_sync::budget::MemoryBudget;
use cutover_sync::{
    Attempt, EventSink, RunError, Sides, StopReason, StopSignal, SyncEvent, Worker, sizing,
};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::provisioning::{MailboxPassGate, mailbox_pass_waits};

pub use decide::{Decision, decide};

/// What this worker did for one batch, reported when its round closes (or when `--once`
/// ends with the round still open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRun {
    pub batch: String,
    pub status: BatchStatus,
    /// Users whose pass this worker ran to an end (Synced or Failed).
    pub users: u64,
    pub failed: u64,
    pub copied: u64,
    pub bytes: u64,
}

impl BatchRun {
    fn new(batch: &str, status: BatchStatus) -> Self {
        Self {
            batch: batch.to_string(),
            status,
            users: 0,
            failed: 0,
            copied: 0,
            bytes: 0,
        }
    }
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct Tick {
    /// Batches whose round it opened.
    pub opened: Vec<String>,
    /// Jobs it claimed and started.
    pub claimed: usize,
    /// Rounds it closed, with what this worker ran of them.
    pub closed: Vec<BatchRun>,
}

/// How a job's task ended, for the batch's tally.
#[derive(Debug)]
struct JobReport {
    batch: String,
    ended: Option<(UserStatus, u64, u64)>,
}

/// Jobs at once in one worker process, whatever the batches allow (`CUTOVER_WORKER_JOBS`
/// changes it): the memory budget bounds what they hold.
const DEFAULT_CAPACITY: usize = 256;

/// How often a worker looks for the jobs of dead workers of its machine.
const REAP_EVERY: Duration = Duration::from_secs(30);

pub struct Scheduler {
    store: Arc<dyn Store>,
    worker: Worker,
    events: EventSink,
    shutdown: StopSignal,
    memory: MemoryBudget,
    capacity: usize,
    running: JoinSet<JobReport>,
    /// Per batch (lower case) with local jobs: their stop signal and how many run.
    local: HashMap<String, (StopSignal, usize)>,
    /// What this worker ran per batch (lower case) since its round opened or it joined.
    tally: BTreeMap<String, BatchRun>,
    last_reap: Option<std::time::Instant>,
    /// What the last full tick saw, for claims until the next.
    seen: Option<Seen>,
    /// Whether ticks may open rounds (`--once` opens only in its first).
    pub opens_rounds: bool,
}

/// What a full tick saw of the batches with open rounds, which the claims until the
/// next full tick reuse (keys: batch names in lower case).
struct Seen {
    at: std::time::Instant,
    batches: HashMap<String, Batch>,
    /// Per batch (as its round names it): how many of its jobs may be held at once now.
    limits: BTreeMap<String, u32>,
    /// The admin's limit of the batch's round.
    maxes: HashMap<String, u32>,
    /// Batches whose servers' refusals hold the limit below the admin's.
    throttled: HashSet<String>,
    /// Both servers and their credentials, read once per batch and tick.
    sides: HashMap<String, Arc<Sides>>,
}

/// The limits a job runs under, as the tick that claimed it saw them.
#[derive(Debug, Clone, Copy)]
struct JobLimits {
    /// The admin's limit of mailboxes at once for the round.
    max: u32,
    /// Refusals hold the batch's limit below it: a pass that goes through raises it.
    throttled: bool,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        worker: Worker,
        events: EventSink,
        shutdown: StopSignal,
    ) -> Self {
        let capacity = std::env::var("CUTOVER_WORKER_JOBS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_CAPACITY);
        Self {
            store,
            worker,
            events,
            shutdown,
            memory: MemoryBudget::from_env(),
            capacity,
            running: JoinSet::new(),
            local: HashMap::new(),
            tally: BTreeMap::new(),
            last_reap: None,
            seen: None,
            opens_rounds: true,
        }
    }

    /// Jobs running in this process now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// One round of the scheduler's work (see the module's documentation).
    pub async fn tick(&mut self) -> Result<Tick, RunError> {
        let mut tick = Tick::default();
        let now = Utc::now();
        self.collect_ended();
        if self.last_reap.is_none_or(|at| at.elapsed() >= REAP_EVERY) {
            self.worker
                .reap_dead_local_leases(self.store.as_ref())
                .await?;
            self.last_reap = Some(std::time::Instant::now());
        }
        let batches = self.store.batches().await?;
        let rounds = self.store.rounds().await?;
        let open: HashMap<String, bool> = rounds
            .iter()
            .map(|r| (r.batch.to_ascii_lowercase(), r.incremental))
            .collect();
        let held = self.held_per_batch(now).await?;

        // Rounds whose last job is done close; stopped batches settle.
        for batch in &batches {
            let key = batch.name.as_str().to_ascii_lowercase();
            if !open.contains_key(&key) {
                continue;
            }
            if batch.status == BatchStatus::Stopping && held.get(&key).copied().unwrap_or(0) == 0 {
                self.settle_stopped(batch).await?;
            }
            // A local job that ended its row but is not noted yet counts in the tally
            // first.
            if !self.local.contains_key(&key)
                && self.store.close_round(batch.name.as_str()).await?
                && let Some(run) = self.finish_round(batch).await?
            {
                tick.closed.push(run);
            }
        }

        if self.shutdown.reason().is_some() {
            return Ok(tick);
        }

        // Batches that fell due get a round.
        if self.opens_rounds {
            for batch in &batches {
                let key = batch.name.as_str().to_ascii_lowercase();
                if !open.contains_key(&key)
                    && batch.is_due(now)
                    && self.open_round(batch.clone()).await?
                {
                    tick.opened.push(batch.name.to_string());
                }
            }
        }

        // Local jobs of batches stopped or removed stop.
        let by_key: HashMap<String, &Batch> = batches
            .iter()
            .map(|b| (b.name.as_str().to_ascii_lowercase(), b))
            .collect();
        // Rounds open elsewhere that this worker joins are reported too.
        for key in open.keys() {
            if let Some(b) = by_key.get(key).filter(|b| runnable(b.status)) {
                self.tally
                    .entry(key.clone())
                    .or_insert_with(|| BatchRun::new(b.name.as_str(), b.status));
            }
        }
        for (key, (stop, _)) in &self.local {
            let runnable = by_key.get(key).is_some_and(|b| runnable(b.status));
            if !runnable && stop.reason().is_none() {
                info!(
                    batch = key,
                    "the batch was stopped or removed; stopping its passes"
                );
                stop.stop(StopReason::BatchStopped);
            }
        }

        // Claim what is due, within each batch's limit (the rounds read again only when
        // this tick opened some).
        let rounds = if tick.opened.is_empty() {
            rounds
        } else {
            self.store.rounds().await?
        };
        let mut seen = Seen {
            at: std::time::Instant::now(),
            batches: HashMap::new(),
            limits: BTreeMap::new(),
            maxes: HashMap::new(),
            throttled: HashSet::new(),
            sides: HashMap::new(),
        };
        for round in &rounds {
            let key = round.batch.to_ascii_lowercase();
            let Some(batch) = by_key.get(&key) else {
                continue;
            };
            if !runnable(batch.status) {
                continue;
            }
            let Some(endpoint) = self.store.endpoint(batch.source_endpoint.as_str()).await? else {
                continue;
            };
            let max = if round.incremental {
                endpoint.max_concurrent_incremental_syncs
            } else {
                endpoint.max_concurrent_migrations
            }
            .max(1);
            let limit = match self.store.throttle(&round.batch).await? {
                Some(t) => {
                    if t.aimd.limit() < max {
                        seen.throttled.insert(key.clone());
                    }
                    t.limit_at(now).min(max)
                }
                None => max,
            };
            seen.limits.insert(round.batch.clone(), limit);
            seen.maxes.insert(key.clone(), max);
            seen.batches.insert(key, (*batch).clone());
        }
        self.seen = Some(seen);
        tick.claimed = self.claim().await?;
        Ok(tick)
    }

    /// Whether the last full tick is recent enough for [`Scheduler::refill`].
    pub fn fresh(&self) -> bool {
        self.seen
            .as_ref()
            .is_some_and(|s| s.at.elapsed() < BUSY_TICK)
    }

    /// Between full ticks (a job ended): claims what is due with what the last tick saw
    /// of the batches and their limits, so a freed slot is filled at once; the store
    /// holds the limits whatever this worker saw. Returns how many it claimed.
    pub async fn refill(&mut self) -> Result<usize, RunError> {
        self.collect_ended();
        if !self.fresh() || self.shutdown.reason().is_some() {
            return Ok(0);
        }
        self.claim().await
    }

    /// Claims due jobs within the limits the last full tick saw, and spawns each.
    async fn claim(&mut self) -> Result<usize, RunError> {
        let free = self.capacity.saturating_sub(self.running.len());
        let Some(seen) = self.seen.as_ref() else {
            return Ok(0);
        };
        if free == 0 || seen.limits.is_empty() {
            return Ok(0);
        }
        let claimed = self
            .store
            .claim_due(
                &self.worker.id,
                free,
                &seen.limits,
                self.worker.ttl(),
                Utc::now(),
            )
            .await?;
        let n = claimed.len();
        for job in claimed {
            let key = job.batch.to_ascii_lowercase();
            let Some(seen) = self.seen.as_mut() else {
                break;
            };
            let Some(batch) = seen.batches.get(&key).cloned() else {
                continue;
            };
            let sides = match seen.sides.get(&key) {
                Some(sides) => sides.clone(),
                None => {
                    let sides = Arc::new(Sides::of(self.store.as_ref(), &batch).await?);
                    seen.sides.insert(key.clone(), sides.clone());
                    sides
                }
            };
            let limits = JobLimits {
                max: seen.maxes.get(&key).copied().unwrap_or(1),
                throttled: seen.throttled.contains(&key),
            };
            self.spawn(job, batch, sides, limits);
        }
        Ok(n)
    }

    /// Jobs of each batch (lower case) held by a live lease now.
    async fn held_per_batch(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<HashMap<String, u32>, StoreError> {
        let mut held = HashMap::new();
        for job in self.store.leased_jobs().await? {
            if job.is_held(now) {
                *held.entry(job.batch.to_ascii_lowercase()).or_default() += 1;
            }
        }
        Ok(held)
    }

    /// Whether any job this worker could run now or later is left: one of a runnable
    /// batch that no live lease holds (due now, or waiting for a retry).
    pub async fn work_left(&self) -> Result<bool, StoreError> {
        let now = Utc::now();
        let batches = self.store.batches().await?;
        for round in self.store.rounds().await? {
            let Some(batch) = batches
                .iter()
                .find(|b| b.name.as_str().eq_ignore_ascii_case(&round.batch))
            else {
                continue;
            };
            if !runnable(batch.status) {
                continue;
            }
            if self
                .store
                .jobs(Some(&round.batch))
                .await?
                .iter()
                .any(|j| !j.is_held(now))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Notes the local jobs that ended.
    fn collect_ended(&mut self) {
        while let Some(joined) = self.running.try_join_next() {
            self.note(joined);
        }
    }

    fn note(&mut self, joined: Result<JobReport, tokio::task::JoinError>) {
        match joined {
            Ok(report) => {
                let key = report.batch.to_ascii_lowercase();
                if let Some((_, n)) = self.local.get_mut(&key) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.local.remove(&key);
                    }
                }
                if let Some((status, copied, bytes)) = report.ended {
                    let run = self
                        .tally
                        .entry(key)
                        .or_insert_with(|| BatchRun::new(&report.batch, BatchStatus::Syncing));
                    run.users += 1;
                    run.failed += u64::from(status == UserStatus::Failed);
                    run.copied += copied;
                    run.bytes += bytes;
                }
            }
            Err(join) => warn!(error = %join, "a job's task ended abnormally"),
        }
    }

    /// Waits until a local job ends, work may have become due, or `timeout` passed.
    pub async fn wait(&mut self, timeout: Duration) {
        if self.running.is_empty() {
            let store = self.store.clone();
            tokio::select! {
                _ = store.wait_for_work(timeout) => {}
                _ = self.shutdown.stopped() => {}
            }
            return;
        }
        let store = self.store.clone();
        let shutdown = self.shutdown.clone();
        let ended = tokio::select! {
            Some(joined) = self.running.join_next() => Some(joined),
            _ = store.wait_for_work(timeout) => None,
            _ = shutdown.stopped() => None,
        };
        if let Some(joined) = ended {
            self.note(joined);
        }
    }

    /// Waits for every local job to end (they stop when `shutdown` is set), then gives
    /// back whatever this worker still holds.
    pub async fn drain(&mut self) {
        while let Some(joined) = self.running.join_next().await {
            self.note(joined);
        }
        match self.store.release_jobs_of(&self.worker.id).await {
            Ok(n) if n > 0 => info!(jobs = n, "gave back the jobs left"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot give back the worker's jobs; their leases expire"),
        }
    }

    /// What this worker ran of the rounds still open, for `--once`'s report.
    pub async fn open_tallies(&mut self) -> Result<Vec<BatchRun>, StoreError> {
        let mut out = Vec::new();
        for (_, mut run) in std::mem::take(&mut self.tally) {
            if let Some(b) = self.store.batch(&run.batch).await? {
                run.status = b.status;
            }
            out.push(run);
        }
        Ok(out)
    }

    /// Opens `batch`'s round: one job per user not stopped, the biggest mailboxes first
    /// (sized first where no pass has counted them yet).
    async fn open_round(&mut self, batch: Batch) -> Result<bool, RunError> {
        let sides = Sides::of(self.store.as_ref(), &batch).await?;
        // A batch of the organization: new recipients join, and the entries to write
        // into the target's directory get a provision job ahead of the mailbox passes.
        let to_provision = crate::provisioning::prepare_round(self.store.as_ref(), &batch)
            .await
            .map_err(|e| RunError::Provisioning(e.to_string()))?;
        let incremental = batch.status != BatchStatus::Syncing;
        let limit = if incremental {
            sides.endpoint.max_concurrent_incremental_syncs
        } else {
            sides.endpoint.max_concurrent_migrations
        };
        let mut users: Vec<MigrationUser> = self
            .store
            .users(Some(batch.name.as_str()), None)
            .await?
            .into_iter()
            .filter(|u| u.status != UserStatus::Stopped)
            .collect();
        let unsized_users = sizing::to_size(&users, limit.max(1) as usize, incremental);
        if !unsized_users.is_empty() {
            cutover_sync::size_sources(
                self.store.clone(),
                &sides,
                &batch,
                &mut users,
                &unsized_users,
                limit,
                &self.shutdown,
            )
            .await?;
        }
        sizing::pass_order(&mut users);
        let provision_jobs = to_provision.iter().enumerate().map(|(i, email)| NewJob {
            kind: JobKind::Provision,
            subject: email.clone(),
            position: i as i64,
        });
        let first_pass = to_provision.len();
        let mut jobs: Vec<NewJob> = provision_jobs
            .chain(users.iter().enumerate().map(|(i, u)| NewJob {
                kind: JobKind::MailboxPass,
                subject: u.email.to_string(),
                position: (first_pass + i) as i64,
            }))
            .collect();
        // Calendars, contacts and tasks: a job of their own per mailbox, beside its mail
        // pass, when both sides have a DAV server.
        if sides.endpoint.connection.dav.is_some() && sides.target.connection.dav.is_some() {
            jobs.extend(
                users
                    .iter()
                    .enumerate()
                    .filter(|(_, u)| u.kind.has_mailbox())
                    .map(|(i, u)| NewJob {
                        kind: JobKind::DavPass,
                        subject: u.email.to_string(),
                        position: (first_pass + i) as i64,
                    }),
            );
        }
        let opened = self
            .store
            .open_round(batch.name.as_str(), incremental, &jobs, Utc::now())
            .await?;
        if opened {
            info!(batch = %batch.name, users = users.len(), incremental, limit, "pass starting");
            self.tally.insert(
                batch.name.as_str().to_ascii_lowercase(),
                BatchRun::new(batch.name.as_str(), batch.status),
            );
            self.events.send(SyncEvent::BatchStarted {
                batch: batch.name.to_string(),
                users: users.len() as u64,
                incremental,
            });
        }
        Ok(opened)
    }

    /// A batch Stopping with no pass running anywhere is Stopped; its round stays open
    /// with the jobs left, which run when it is started again.
    async fn settle_stopped(&self, batch: &Batch) -> Result<(), StoreError> {
        if self
            .store
            .set_batch_status(
                batch.name.as_str(),
                BatchStatus::Stopping,
                BatchStatus::Stopped,
                None,
            )
            .await?
        {
            info!(batch = %batch.name, "the batch's passes have stopped");
        }
        Ok(())
    }

    /// The round's last job is done: the batch's status after its pass and its next
    /// incremental sync. Only those columns are written, and only over the status read
    /// (an admin's stop or change meanwhile is read again, never overwritten).
    async fn finish_round(&mut self, batch: &Batch) -> Result<Option<BatchRun>, StoreError> {
        let name = batch.name.as_str();
        let current = loop {
            // The batch may have been stopped or removed while the pass ran.
            let Some(mut current) = self.store.batch(name).await? else {
                return Ok(None);
            };
            let now = Utc::now();
            let from = current.status;
            let mut statuses = Vec::new();
            for u in self.store.users(Some(name), None).await? {
                statuses.push(dav_job::with_dav_outcome(self.store.as_ref(), &u).await?);
            }
            current.status = match from {
                BatchStatus::Stopping | BatchStatus::Stopped => BatchStatus::Stopped,
                BatchStatus::Removing => BatchStatus::Removing,
                _ => BatchStatus::after_pass_with_skipped(
                    &statuses,
                    self.store.unapproved_skipped_items(name).await?
                        + self.store.users_with_held_removals(name).await?,
                ),
            };
            let synced = (current.status != BatchStatus::Stopped
                && current.status != BatchStatus::Removing)
                .then(|| (now, now + current.incremental_interval));
            if self
                .store
                .set_batch_status(name, from, current.status, synced)
                .await?
            {
                break current;
            }
        };
        let mut run = self
            .tally
            .remove(&name.to_ascii_lowercase())
            .unwrap_or_else(|| BatchRun::new(name, current.status));
        run.batch = current.name.to_string();
        run.status = current.status;
        info!(batch = %current.name, status = %current.status, users = run.users, failed = run.failed, copied = run.copied, "pass finished");
        self.events.send(SyncEvent::BatchFinished {
            batch: current.name.to_string(),
            status: current.status,
        });
        Ok(Some(run))
    }

    /// Starts a claimed job in its own task.
    fn spawn(&mut self, job: Job, batch: Batch, sides: Arc<Sides>, limits: JobLimits) {
        let key = batch.name.as_str().to_ascii_lowercase();
        let shutdown = self.shutdown.clone();
        // The batch's own stop, which the process's shutdown stops too; a batch started
        // again while its stopped passes still end gets a new one.
        let entry = self
            .local
            .entry(key)
            .or_insert_with(|| (shutdown.child(), 0));
        if entry.0.reason() == Some(StopReason::BatchStopped) {
            entry.0 = shutdown.child();
        }
        entry.1 += 1;
        let stop = entry.0.clone();
        let ctx = JobContext {
            store: self.store.clone(),
            worker: self.worker.clone(),
            events: self.events.clone(),
            memory: self.memory.clone(),
        };
        self.running
            .spawn(async move { ctx.run(job, batch, sides, limits, stop).await });
    }
}

/// Whether a batch's jobs may run: not being stopped or removed.
fn runnable(status: BatchStatus) -> bool {
    !matches!(
        status,
        BatchStatus::Stopping | BatchStatus::Stopped | BatchStatus::Removing
    )
}

/// What a job's task needs.
struct JobContext {
    store: Arc<dyn Store>,
    worker: Worker,
    events: EventSink,
    memory: MemoryBudget,
}

impl JobContext {
    async fn run(
        self,
        job: Job,
        batch: Batch,
        sides: Arc<Sides>,
        limits: JobLimits,
        stop: StopSignal,
    ) -> JobReport {
        let name = batch.name.to_string();
        match self.run_job(&job, &batch, &sides, limits, stop).await {
            Ok(ended) => JobReport { batch: name, ended },
            Err(e) => {
                // The store failed under the job: give it back; it is due again.
                warn!(job = job.id, user = job.subject, error = %e, "the job could not be recorded; giving it back");
                let _ = self
                    .store
                    .end_job(job.id, &self.worker.id, &JobEnd::Release)
                    .await;
                JobReport {
                    batch: name,
                    ended: None,
                }
            }
        }
    }

    /// Runs one attempt of the job's pass under its lease and records what the decision
    /// makes of job and user. Returns the user's status when its pass came to an end.
    async fn run_job(
        &self,
        job: &Job,
        batch: &Batch,
        sides: &Sides,
        limits: JobLimits,
        stop: StopSignal,
    ) -> Result<Option<(UserStatus, u64, u64)>, RunError> {
        let store = self.store.as_ref();
        let user = store.user(&job.subject).await?;
        if job.kind == JobKind::DavPass {
            // A user's calendars wait for its entry on the target, as its mail does.
            if let Some(user) = &user
                && self.provisioning_gate(job, batch, user).await? != MailboxPassGate::Go
            {
                return Ok(None);
            }
            return self.run_dav(job, batch, sides, user, stop).await;
        }
        let Some(mut user) = user else {
            store
                .end_job(job.id, &self.worker.id, &JobEnd::Done)
                .await?;
            return Ok(None);
        };
        if job.kind == JobKind::Provision {
            let end = crate::provisioning::run_job(store, batch, job).await?;
            store.end_job(job.id, &self.worker.id, &end).await?;
            return Ok(None);
        }
        match self.provisioning_gate(job, batch, &user).await? {
            MailboxPassGate::Go => {}
            MailboxPassGate::Wait => return Ok(None),
            MailboxPassGate::Skip => return Ok(Some((UserStatus::Failed, 0, 0))),
        }
        // Its own stop, for a lost lease; it still stops with the batch.
        let mine = stop.child();
        let mailbox = sides
            .job(store, batch, &user, mine.clone(), self.memory.clone())
            .await?;
        let beat = tokio::spawn(self.worker.clone().keep_lease(
            self.store.clone(),
            job.id,
            mine.clone(),
        ));
        let result = self.attempt(job, batch, &mut user, mailbox, limits).await;
        beat.abort();
        result
    }

    /// A mailbox or DAV pass waits for its user's first provisioning, and does not run
    /// when that failed for good. Unless the gate says `Go`, the job is ended here: put
    /// off a second (`Wait`) or done (`Skip`).
    async fn provisioning_gate(
        &self,
        job: &Job,
        batch: &Batch,
        user: &MigrationUser,
    ) -> Result<MailboxPassGate, RunError> {
        let store = self.store.as_ref();
        let gate = mailbox_pass_waits(store, batch, user).await?;
        let end = match gate {
            MailboxPassGate::Go => return Ok(gate),
            MailboxPassGate::Wait => JobEnd::Later {
                run_at: Utc::now() + chrono::Duration::seconds(1),
                attempts: job.attempts,
                refusals: job.refusals,
                error: Some("waiting for the user's entry on the target".into()),
            },
            MailboxPassGate::Skip => JobEnd::Done,
        };
        store.end_job(job.id, &self.worker.id, &end).await?;
        Ok(gate)
    }

    async fn attempt(
        &self,
        job: &Job,
        batch: &Batch,
        user: &mut MigrationUser,
        mailbox: Result<cutover_sync::MailboxJob, String>,
        limits: JobLimits,
    ) -> Result<Option<(UserStatus, u64, u64)>, RunError> {
        let store = self.store.as_ref();
        let owner = self.worker.id.as_str();
        // Mail users, contacts and groups: no mailbox, so no IMAP pass (sync's no_mailbox).
        if !user.kind.has_mailbox() {
            let (status, _) =
                cutover_sync::no_mailbox::pass(store, user.clone(), &self.events).await?;
            store.end_job(job.id, owner, &JobEnd::Done).await?;
            return Ok(Some((status, 0, 0)));
        }
        let mailbox = match mailbox {
            Ok(m) => m,
            Err(reason) => {
                // Its credentials cannot be put together: a failure to report.
                cutover_sync::begin_pass(store, user, &self.events).await?;
                let status =
                    cutover_sync::end_pass(store, batch, user.clone(), Err(reason), &self.events)
                        .await?;
                store.end_job(job.id, owner, &JobEnd::Done).await?;
                return Ok(Some((status, 0, 0)));
            }
        };
        if let Some(reason) = mailbox.stop.reason() {
            return self.give_back(job, user.clone(), reason).await;
        }
        cutover_sync::begin_pass(store, user, &self.events).await?;
        if job.refusals > 0 {
            store.set_throttled(user.email.as_str(), None).await?;
        }
        let attempt =
            cutover_sync::attempt_pass(store, &mailbox, &self.events, user.stats.items_synced)
                .await?;
        let max = limits.max;
        match decide(&attempt, job.attempts, job.refusals) {
            Decision::Finish(result) => {
                let outcome = match &attempt {
                    Attempt::Passed(o) => Some(o.clone()),
                    _ => None,
                };
                let result = result.map(|()| outcome.clone().unwrap_or_default());
                let status =
                    cutover_sync::end_pass(store, batch, user.clone(), result, &self.events)
                        .await?;
                if outcome.is_some() && limits.throttled {
                    store.note_throttle(batch.name.as_str(), max, None).await?;
                }
                store.end_job(job.id, owner, &JobEnd::Done).await?;
                let (copied, bytes) = outcome.map_or((0, 0), |o| (o.copied, o.bytes));
                Ok(Some((status, copied, bytes)))
            }
            Decision::Retry {
                after,
                attempts,
                refusals,
                throttled,
                error,
            } => {
                let run_at = Utc::now() + chrono::Duration::from_std(after).unwrap_or_default();
                if throttled {
                    let state = store
                        .note_throttle(batch.name.as_str(), max, Some(run_at))
                        .await?;
                    store
                        .set_throttled(user.email.as_str(), Some(run_at))
                        .await?;
                    warn!(user = %user.email, refusals, wait_ms = after.as_millis() as u64,
                        limit = state.aimd.limit(), error, "throttled by the server; waiting");
                } else {
                    warn!(user = %user.email, attempts, error, "transient failure; retrying the pass");
                }
                let end = JobEnd::Later {
                    run_at,
                    attempts,
                    refusals,
                    error: Some(error),
                };
                store.end_job(job.id, owner, &end).await?;
                Ok(None)
            }
            Decision::GiveBack(reason) => self.give_back(job, user.clone(), reason).await,
            Decision::LetGo => Ok(None),
        }
    }

    /// Stopped: the user as the stop says, and the job given back.
    async fn give_back(
        &self,
        job: &Job,
        user: MigrationUser,
        reason: StopReason,
    ) -> Result<Option<(UserStatus, u64, u64)>, RunError> {
        let store = self.store.as_ref();
        if reason == StopReason::LeaseLost {
            return Ok(None);
        }
        cutover_sync::stopped(store, user, reason, &self.events).await?;
        store
            .end_job(job.id, &self.worker.id, &JobEnd::Release)
            .await?;
        Ok(None)
    }
}

/// What [`work`] does when a tick fails (no target set, the endpoint removed, the
/// store unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Return the error (`cutover run`).
    Stop,
    /// Log it and try again (`cutover serve`, `cutover worker`: the admin may fix it).
    Retry,
}

/// How [`work`] goes round.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// How often it looks for due work while nothing runs.
    pub poll: Duration,
    /// Run what is due now to its end, then return (`cutover run --once`).
    pub once: bool,
    pub on_error: OnError,
    /// Jobs this process runs at most at once (default: `CUTOVER_WORKER_JOBS`, else 256).
    pub jobs: Option<usize>,
}

/// While jobs run or wait, how often the scheduler ticks.
const BUSY_TICK: Duration = Duration::from_millis(500);

/// The loop of `cutover run`, `cutover worker` and `cutover serve`: ticks until
/// `shutdown` (or, with `once`, until the work due at its start is done or left to other
/// workers). Every job of the worker is given back before it returns. `on_run` sees each
/// round this worker saw close (and, with `once`, what it ran of rounds still open);
/// `after_round` runs after every tick that closed a round, and every `poll` (the
/// service sends the notification mails due there).
pub async fn work<AfterRound: Future<Output = ()>>(
    store: Arc<dyn Store>,
    events: EventSink,
    shutdown: StopSignal,
    worker: &Worker,
    Rounds {
        poll,
        once,
        on_error,
        jobs,
    }: Rounds,
    mut on_run: impl FnMut(BatchRun),
    mut after_round: impl FnMut() -> AfterRound,
) -> Result<(), RunError> {
    let licenses = Arc::clone(&store);
    let (mut licenses_at, mut licenses_error) = (None::<std::time::Instant>, None);
    let mut scheduler = Scheduler::new(store, worker.clone(), events, shutdown.clone());
    if let Some(n) = jobs {
        scheduler.capacity = n.max(1);
    }
    // A failure that lasts (no target set yet) is logged once, not every tick.
    let mut last_error: Option<String> = None;
    let mut last_after_round = std::time::Instant::now();
    let result = loop {
        // A slot freed since a recent full tick is filled at once; the rest of the
        // tick's work (rounds, stops) waits for the next full one.
        if scheduler.fresh() && scheduler.running() > 0 {
            match scheduler.refill().await {
                Ok(_) => {
                    scheduler.wait(BUSY_TICK).await;
                    continue;
                }
                Err(e) if on_error == OnError::Retry && !once => {
                    warn!(error = %e, "claiming jobs failed; trying again");
                }
                Err(e) => break Err(e),
            }
        }
        let tick = scheduler.tick().await;
        if once {
            scheduler.opens_rounds = false;
        }
        let mut idle = false;
        match tick {
            Ok(tick) => {
                if last_error.take().is_some() {
                    info!("the scheduler works again");
                }
                let closed = !tick.closed.is_empty();
                tick.closed.into_iter().for_each(&mut on_run);
                if closed || last_after_round.elapsed() >= poll {
                    after_round().await;
                    last_after_round = std::time::Instant::now();
                }
                idle = scheduler.running() == 0 && tick.claimed == 0 && tick.opened.is_empty();
                // Logins of users whose license grace period ended (crate::licenses).
                if licenses_at.is_none_or(|t| t.elapsed() >= crate::licenses::ENFORCE_EVERY) {
                    crate::licenses::enforce_in_loop(licenses.as_ref(), &mut licenses_error).await;
                    licenses_at = Some(std::time::Instant::now());
                }
            }
            Err(e) if on_error == OnError::Retry && !once => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    warn!(error = text, "the scheduler's tick failed; trying again");
                    last_error = Some(text);
                }
            }
            Err(e) => break Err(e),
        }
        if shutdown.reason().is_some() {
            break Ok(());
        }
        if once && idle {
            match scheduler.work_left().await {
                Ok(false) => {
                    // A round this worker closes last is reported by the next tick.
                    match scheduler.tick().await {
                        Ok(tick) => tick.closed.into_iter().for_each(&mut on_run),
                        Err(e) => break Err(e),
                    }
                    if scheduler.running() == 0 {
                        after_round().await;
                        break Ok(());
                    }
                }
                Ok(true) => {}
                Err(e) => break Err(e.into()),
            }
        }
        let pause = if scheduler.running() > 0 || !idle || once {
            BUSY_TICK
        } else {
            poll.min(Duration::from_secs(1))
        };
        scheduler.wait(pause).await;
    };
    // Jobs stop with the shutdown; whatever is left is given back.
    if result.is_err() {
        shutdown.stop(StopReason::Shutdown);
    }
    scheduler.drain().await;
    if once && result.is_ok() {
        match scheduler.open_tallies().await {
            Ok(runs) => runs.into_iter().for_each(&mut on_run),
            Err(e) => warn!(error = %e, "cannot read the batches for the report"),
        }
    }
    result
}
