//! `cutover batch new|get|start|stop|remove` (the *-MigrationBatch cmdlets).
//!
//! The functions below take typed parameters and return the objects to show; the clap
//! command (`run`) and the cmdlet shell (`crate::ps`) only differ in how they read
//! their parameters and print the result.

use anyhow::{Context, anyhow, bail};
use chrono::{Duration, Utc};
use cutover_model::{Batch, BatchStatus, Name, UserStatus, parse_users_csv};
use cutover_store::NewUser;

use crate::args::BatchCommand;
use crate::output::Record;
use crate::{Ctx, views};

/// How long `batch remove` waits for running passes to stop, and with --force.
const REMOVE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
const FORCED_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until no user of the batch is in a pass (they stop when they see the batch
/// Stopping or Removing), at most `limit`; returns how many still were, if any.
async fn wait_for_passes_to_stop(
    ctx: &Ctx,
    batch: &Batch,
    limit: std::time::Duration,
) -> anyhow::Result<Option<usize>> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let running = ctx
            .store
            .users(Some(batch.name.as_str()), None)
            .await?
            .iter()
            .filter(|u| !u.status.is_settled() && u.status != UserStatus::Queued)
            .count();
        if running == 0 {
            return Ok(None);
        }
        if std::time::Instant::now() > deadline {
            return Ok(Some(running));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn load(ctx: &Ctx, name: &str) -> anyhow::Result<Batch> {
    ctx.store
        .batch(name)
        .await?
        .with_context(|| format!("batch '{name}' was not found; `cutover batch get` lists them"))
}

async fn show(ctx: &Ctx, batches: &[Batch]) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::with_capacity(batches.len());
    for b in batches {
        let users = ctx.store.users(Some(b.name.as_str()), None).await?;
        records.push(views::batch(b, &users));
    }
    Ok(records)
}

async fn show_one(ctx: &Ctx, batch: Batch) -> anyhow::Result<Record> {
    let mut records = show(ctx, &[batch]).await?;
    Ok(records.remove(0))
}

/// Moves a batch (and its users) to running, as Start-MigrationBatch does.
async fn start(ctx: &Ctx, batch: &mut Batch) -> anyhow::Result<()> {
    batch
        .status
        .check_start()
        .map_err(|why| anyhow!("batch '{}' cannot be started: {why}", batch.name))?;
    let now = Utc::now();
    batch.started_at.get_or_insert(now);
    if batch.initial_sync_at.is_some() {
        // Synced (or stopped after its initial sync): an incremental pass, now.
        if !matches!(batch.status, BatchStatus::SyncedWithErrors) {
            batch.status = BatchStatus::Synced;
        }
        batch.next_sync_at = Some(now);
    } else {
        batch.status = BatchStatus::Syncing;
    }
    for mut u in ctx.store.users(Some(batch.name.as_str()), None).await? {
        if matches!(u.status, UserStatus::Stopped | UserStatus::Failed) {
            u.status = UserStatus::Queued;
            ctx.store.update_user(&u).await?;
        }
    }
    ctx.store.update_batch(batch).await?;
    Ok(())
}

/// Users failed over the item limits stay Failed until they sync again.
async fn hint_failed_users(ctx: &Ctx, batch: &Batch) -> anyhow::Result<()> {
    let failed = ctx
        .store
        .users(Some(batch.name.as_str()), Some(UserStatus::Failed))
        .await?
        .len();
    if failed > 0 {
        eprintln!(
            "{failed} user(s) of batch '{name}' are Failed; `cutover batch start {name}` syncs them again",
            name = batch.name
        );
    }
    Ok(())
}

/// What New-MigrationBatch needs, parsed.
pub struct NewBatch {
    pub name: String,
    pub source_endpoint: String,
    pub users: UsersCsv,
    pub auto_start: bool,
    pub bad_item_limit: u32,
    pub large_item_limit: u32,
    pub exclude_folders: Vec<String>,
    pub folder_map: Vec<cutover_model::FolderMapEntry>,
    pub incremental_interval: u32,
}

/// Where the users CSV (`EmailAddress,UserName,Password`) comes from.
pub enum UsersCsv {
    File(std::path::PathBuf),
    /// Text given inline; `origin` names it in errors (a parameter).
    Text {
        text: String,
        origin: String,
    },
}

impl UsersCsv {
    fn users(&self) -> anyhow::Result<Vec<NewUser>> {
        let (text, origin) = match self {
            UsersCsv::File(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("--users-csv {}: cannot read it", path.display()))?,
                format!("--users-csv {}", path.display()),
            ),
            UsersCsv::Text { text, origin } => (text.clone(), origin.clone()),
        };
        let rows = parse_users_csv(&text).with_context(|| origin)?;
        Ok(rows
            .into_iter()
            .map(|r| NewUser {
                email: r.email,
                source_login: r.user_name,
                password: r.password,
            })
            .collect())
    }
}

/// Creates the cutover batch (and starts it with `auto_start`).
pub async fn new(ctx: &Ctx, p: NewBatch) -> anyhow::Result<Record> {
    let name = Name::parse("batch", &p.name)?;
    let source_endpoint = &p.source_endpoint;
    let endpoint = ctx
        .store
        .endpoint(source_endpoint)
        .await?
        .with_context(|| {
            format!("--source-endpoint: endpoint '{source_endpoint}' was not found; create it with `cutover endpoint new`")
        })?;
    if p.incremental_interval == 0 {
        bail!("--incremental-interval must be at least 1 hour");
    }
    let users = p.users.users()?;
    let mut batch = Batch {
        name,
        source_endpoint: endpoint.name.clone(),
        status: BatchStatus::Created,
        created_at: Utc::now(),
        started_at: None,
        initial_sync_at: None,
        last_synced_at: None,
        next_sync_at: None,
        incremental_interval: Duration::hours(i64::from(p.incremental_interval)),
        bad_item_limit: p.bad_item_limit,
        large_item_limit: p.large_item_limit,
        excluded_folders: p
            .exclude_folders
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        folder_map: p.folder_map,
        skipped_item_approval_time: None,
    };
    ctx.store.create_batch(&batch, &users).await?;
    if p.auto_start {
        start(ctx, &mut batch).await?;
    }
    eprintln!(
        "batch '{}' created with {} users{}",
        batch.name,
        users.len(),
        if p.auto_start {
            " and started; `cutover run` does the work"
        } else {
            "; start it with `cutover batch start`"
        }
    );
    show_one(ctx, batch).await
}

/// One batch by name, or all of them.
pub async fn get(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<Vec<Record>> {
    match name {
        Some(name) => {
            let b = load(ctx, name).await?;
            Ok(vec![show_one(ctx, b).await?])
        }
        None => {
            let all = ctx.store.batches().await?;
            show(ctx, &all).await
        }
    }
}

/// Start-MigrationBatch: starts the batch, or asks a Synced one for an incremental sync now.
pub async fn start_named(ctx: &Ctx, name: &str) -> anyhow::Result<Record> {
    let mut b = load(ctx, name).await?;
    start(ctx, &mut b).await?;
    show_one(ctx, b).await
}

/// Stop-MigrationBatch: queued users stop now, running passes at their next chunk.
pub async fn stop(ctx: &Ctx, name: &str) -> anyhow::Result<Record> {
    let mut b = load(ctx, name).await?;
    b.status
        .check_stop()
        .map_err(|why| anyhow!("batch '{name}' cannot be stopped: {why}"))?;
    let mut running = false;
    for mut u in ctx.store.users(Some(b.name.as_str()), None).await? {
        match u.status {
            UserStatus::Syncing | UserStatus::IncrementalSyncing | UserStatus::Provisioning => {
                running = true
            }
            UserStatus::Queued => {
                u.status = UserStatus::Stopped;
                ctx.store.update_user(&u).await?;
            }
            _ => {}
        }
    }
    b.status = if running {
        BatchStatus::Stopping
    } else {
        BatchStatus::Stopped
    };
    ctx.store.update_batch(&b).await?;
    show_one(ctx, b).await
}

/// Set-MigrationBatch's item limits; they apply from the next pass.
pub async fn set(
    ctx: &Ctx,
    name: &str,
    bad_item_limit: Option<u32>,
    large_item_limit: Option<u32>,
) -> anyhow::Result<Record> {
    if bad_item_limit.is_none() && large_item_limit.is_none() {
        bail!(
            "nothing to change for batch '{name}': give --bad-item-limit N and/or --large-item-limit N"
        );
    }
    let mut b = load(ctx, name).await?;
    if let Some(n) = bad_item_limit {
        b.bad_item_limit = n;
    }
    if let Some(n) = large_item_limit {
        b.large_item_limit = n;
    }
    ctx.store.update_batch(&b).await?;
    hint_failed_users(ctx, &b).await?;
    show_one(ctx, b).await
}

/// Approves every item the batch's users skipped so far.
pub async fn approve_skipped_items(ctx: &Ctx, name: &str) -> anyhow::Result<Record> {
    let b = load(ctx, name).await?;
    let approved = ctx
        .store
        .approve_skipped_items(b.name.as_str(), Utc::now())
        .await?;
    // Reloaded: the store recorded the approval time on it.
    let mut b = load(ctx, b.name.as_str()).await?;
    if b.status == BatchStatus::SyncedWithErrors {
        let statuses: Vec<UserStatus> = ctx
            .store
            .users(Some(b.name.as_str()), None)
            .await?
            .iter()
            .map(|u| u.status)
            .collect();
        b.status = BatchStatus::after_pass_with_skipped(&statuses, 0);
        ctx.store.update_batch(&b).await?;
    }
    eprintln!(
        "{approved} skipped item(s) of batch '{}' approved; items skipped from now on need a new approval",
        b.name
    );
    hint_failed_users(ctx, &b).await?;
    show_one(ctx, b).await
}

/// Remove-MigrationBatch: the batch and its users leave the state; mail stays on the target.
pub async fn remove(ctx: &Ctx, name: &str, force: bool) -> anyhow::Result<()> {
    let b = load(ctx, name).await?;
    if b.initial_sync_at.is_none() && b.status == BatchStatus::Syncing && !force {
        bail!(
            "batch '{name}' is still in its initial sync; removing it now leaves mailboxes half copied. \
             Stop it first, or use --force"
        );
    }
    // Passes still running stop when they see Removing; their last records must
    // land before the rows go. With --force a pass that does not stop (a killed
    // run leaves its users saying Syncing) is not waited for long.
    let mut b = b;
    b.status = BatchStatus::Removing;
    ctx.store.update_batch(&b).await?;
    let stopped =
        wait_for_passes_to_stop(ctx, &b, if force { FORCED_WAIT } else { REMOVE_WAIT }).await?;
    if let Some(running) = stopped.filter(|_| !force) {
        bail!(
            "batch '{name}' is Removing, but {running} mailbox pass(es) have not stopped after \
             {}s; if no `cutover run` is running any more (it was killed), use \
             `cutover batch remove {name} --force`",
            REMOVE_WAIT.as_secs()
        );
    }
    ctx.store.remove_batch(b.name.as_str()).await?;
    eprintln!("batch '{name}' removed; the migrated mail stays on the target");
    Ok(())
}

/// The clap front end.
pub async fn run(ctx: &Ctx, command: BatchCommand) -> anyhow::Result<()> {
    let record = match command {
        BatchCommand::New {
            name,
            source_endpoint,
            users_csv,
            auto_start,
            bad_item_limit,
            large_item_limit,
            exclude_folders,
            folder_map,
            incremental_interval,
        } => {
            new(
                ctx,
                NewBatch {
                    name,
                    source_endpoint,
                    users: UsersCsv::File(users_csv),
                    auto_start,
                    bad_item_limit,
                    large_item_limit,
                    exclude_folders,
                    folder_map,
                    incremental_interval,
                },
            )
            .await?
        }
        BatchCommand::Get { name } => {
            let single = name.is_some();
            return ctx.print(&get(ctx, name.as_deref()).await?, single);
        }
        BatchCommand::Start { name } => start_named(ctx, &name).await?,
        BatchCommand::Stop { name } => stop(ctx, &name).await?,
        BatchCommand::Set {
            name,
            bad_item_limit,
            large_item_limit,
        } => set(ctx, &name, bad_item_limit, large_item_limit).await?,
        BatchCommand::ApproveSkippedItems { name } => approve_skipped_items(ctx, &name).await?,
        BatchCommand::Remove { name, force } => return remove(ctx, &name, force).await,
    };
    ctx.print(&[record], true)
}
