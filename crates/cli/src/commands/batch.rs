//! `cutover batch new|get|start|stop|remove` (the *-MigrationBatch cmdlets).

use anyhow::{Context, anyhow, bail};
use chrono::{Duration, Utc};
use cutover_model::{Batch, BatchStatus, Name, UserStatus, parse_users_csv};
use cutover_store::NewUser;

use crate::args::BatchCommand;
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

async fn show(ctx: &Ctx, batches: &[Batch], single: bool) -> anyhow::Result<()> {
    let mut records = Vec::with_capacity(batches.len());
    for b in batches {
        let users = ctx.store.users(Some(b.name.as_str()), None).await?;
        records.push(views::batch(b, &users));
    }
    ctx.print(&records, single)
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

pub async fn run(ctx: &Ctx, command: BatchCommand) -> anyhow::Result<()> {
    match command {
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
            let name = Name::parse("batch", &name)?;
            let endpoint = ctx
                .store
                .endpoint(&source_endpoint)
                .await?
                .with_context(|| {
                    format!("--source-endpoint: endpoint '{source_endpoint}' was not found; create it with `cutover endpoint new`")
                })?;
            if incremental_interval == 0 {
                bail!("--incremental-interval must be at least 1 hour");
            }
            let text = std::fs::read_to_string(&users_csv)
                .with_context(|| format!("--users-csv {}: cannot read it", users_csv.display()))?;
            let rows = parse_users_csv(&text)
                .with_context(|| format!("--users-csv {}", users_csv.display()))?;
            let users: Vec<NewUser> = rows
                .into_iter()
                .map(|r| NewUser {
                    email: r.email,
                    source_login: r.user_name,
                    password: r.password,
                })
                .collect();
            check_accepted_domains(ctx, &users).await?;
            let mut batch = Batch {
                name,
                source_endpoint: endpoint.name.clone(),
                status: BatchStatus::Created,
                created_at: Utc::now(),
                started_at: None,
                initial_sync_at: None,
                last_synced_at: None,
                next_sync_at: None,
                incremental_interval: Duration::hours(i64::from(incremental_interval)),
                bad_item_limit,
                large_item_limit,
                excluded_folders: exclude_folders
                    .into_iter()
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect(),
                folder_map,
                skipped_item_approval_time: None,
            };
            ctx.store.create_batch(&batch, &users).await?;
            if auto_start {
                start(ctx, &mut batch).await?;
            }
            eprintln!(
                "batch '{}' created with {} users{}",
                batch.name,
                users.len(),
                if auto_start {
                    " and started; `cutover run` does the work"
                } else {
                    "; start it with `cutover batch start`"
                }
            );
            show(ctx, &[batch], true).await
        }
        BatchCommand::Get { name: Some(name) } => {
            let b = load(ctx, &name).await?;
            show(ctx, &[b], true).await
        }
        BatchCommand::Get { name: None } => {
            let all = ctx.store.batches().await?;
            show(ctx, &all, false).await
        }
        BatchCommand::Start { name } => {
            let mut b = load(ctx, &name).await?;
            start(ctx, &mut b).await?;
            show(ctx, &[b], true).await
        }
        BatchCommand::Stop { name } => {
            let mut b = load(ctx, &name).await?;
            b.status
                .check_stop()
                .map_err(|why| anyhow!("batch '{name}' cannot be stopped: {why}"))?;
            let mut running = false;
            for mut u in ctx.store.users(Some(b.name.as_str()), None).await? {
                match u.status {
                    UserStatus::Syncing
                    | UserStatus::IncrementalSyncing
                    | UserStatus::Provisioning => running = true,
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
            show(ctx, &[b], true).await
        }
        BatchCommand::Set {
            name,
            bad_item_limit,
            large_item_limit,
        } => {
            if bad_item_limit.is_none() && large_item_limit.is_none() {
                bail!(
                    "nothing to change for batch '{name}': give --bad-item-limit N and/or --large-item-limit N"
                );
            }
            let mut b = load(ctx, &name).await?;
            if let Some(n) = bad_item_limit {
                b.bad_item_limit = n;
            }
            if let Some(n) = large_item_limit {
                b.large_item_limit = n;
            }
            ctx.store.update_batch(&b).await?;
            hint_failed_users(ctx, &b).await?;
            show(ctx, &[b], true).await
        }
        BatchCommand::ApproveSkippedItems { name } => {
            let b = load(ctx, &name).await?;
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
            show(ctx, &[b], true).await
        }
        BatchCommand::Remove { name, force } => {
            let b = load(ctx, &name).await?;
            if b.initial_sync_at.is_none() && b.status == BatchStatus::Syncing && !force {
                bail!(
                    "batch '{name}' is still in its initial sync; removing it now leaves mailboxes half copied. \
                     Stop it first, or use --force"
                );
            }
            check_mx_switch(ctx, &b, force).await?;
            // Passes still running stop when they see Removing; their last records must
            // land before the rows go. With --force a pass that does not stop (a killed
            // run leaves its users saying Syncing) is not waited for long.
            let mut b = b;
            b.status = BatchStatus::Removing;
            ctx.store.update_batch(&b).await?;
            let stopped =
                wait_for_passes_to_stop(ctx, &b, if force { FORCED_WAIT } else { REMOVE_WAIT })
                    .await?;
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
    }
}

/// The seed's step 1: every user's primary SMTP domain must be an accepted, verified
/// domain. Names every user and domain that is not.
async fn check_accepted_domains(ctx: &Ctx, users: &[NewUser]) -> anyhow::Result<()> {
    let accepted: Vec<(String, bool)> = ctx
        .store
        .accepted_domains()
        .await?
        .into_iter()
        .map(|d| (d.name, d.verified_at.is_some()))
        .collect();
    let problems =
        cutover_discover::domain::unaccepted(users.iter().map(|u| u.email.as_str()), &accepted);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|(domain, known, users)| {
            let (what, fix) = if *known {
                (
                    "is accepted but not verified",
                    format!("publish its TXT record (`cutover domain get {domain}`), then `cutover domain verify {domain}`"),
                )
            } else {
                (
                    "is not an accepted domain",
                    format!("`cutover domain add {domain}`, publish the TXT record it prints, then `cutover domain verify {domain}`"),
                )
            };
            format!("  {domain} {what} ({} user(s): {}); {fix}", users.len(), users.join(", "))
        })
        .collect();
    bail!(
        "the batch cannot be created: a mailbox migrates only to an accepted, verified domain of \
         the target, and these users' primary SMTP domains are not:\n{}",
        lines.join("\n")
    )
}

/// `batch remove` waits for the MX switch of every domain of the batch and a sync after
/// it (the rule is `cutover_discover::guard::removal`).
async fn check_mx_switch(ctx: &Ctx, batch: &Batch, force: bool) -> anyhow::Result<()> {
    use cutover_discover::guard::{Removal, RemovalFacts, removal};
    let mut domains: Vec<String> = ctx
        .store
        .users(Some(batch.name.as_str()), None)
        .await?
        .iter()
        .filter_map(|u| {
            u.email
                .as_str()
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
        })
        .collect();
    domains.sort();
    domains.dedup();
    let mut latest = None;
    let mut unseen = Vec::new();
    for domain in &domains {
        match ctx
            .store
            .mx_check(domain)
            .await?
            .and_then(|c| c.first_switch_at)
        {
            Some(t) => latest = latest.max(Some(t)),
            None => unseen.push(domain.as_str()),
        }
    }
    let facts = RemovalFacts {
        started: batch.started_at.is_some(),
        last_synced: batch.last_synced_at,
        mx_switched: if unseen.is_empty() { latest } else { None },
        now: Utc::now(),
        force,
    };
    match removal(facts) {
        Removal::Allow => Ok(()),
        Removal::Warn(why) => {
            eprintln!("warning: {why}");
            Ok(())
        }
        Removal::Refuse(why) if !unseen.is_empty() => bail!(
            "batch '{}' is not removed: {why} (domains without a seen switch: {})",
            batch.name,
            unseen.join(", ")
        ),
        Removal::Refuse(why) => bail!("batch '{}' is not removed: {why}", batch.name),
    }
}
