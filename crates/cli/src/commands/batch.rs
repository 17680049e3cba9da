//! `cutover batch new|get|start|stop|remove` (the *-MigrationBatch cmdlets); the
//! operations themselves are `cutover_service::control`'s, shared with the HTTP API.

use anyhow::{Context, anyhow, bail};
use cutover_model::{Batch, Name, UserStatus, parse_users_csv};
use cutover_service::control::{self, ControlError, NewBatch};
use cutover_store::NewUser;

use crate::args::BatchCommand;
use crate::{Ctx, views};

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
            skip_domain_check,
            bad_item_limit,
            large_item_limit,
            exclude_folders,
            folder_map,
            incremental_interval,
        } => {
            // The name and the endpoint first, before the CSV is read.
            Name::parse("batch", &name)?;
            ctx.store
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
            let count = users.len();
            let batch = control::create_batch(
                ctx.store.as_ref(),
                NewBatch {
                    name,
                    source_endpoint: source_endpoint.clone(),
                    users,
                    bad_item_limit,
                    large_item_limit,
                    excluded_folders: exclude_folders,
                    folder_map,
                    incremental_interval_hours: incremental_interval,
                    auto_start,
                    skip_domain_check,
                },
            )
            .await
            .map_err(|e| match e {
                ControlError::NotFound {
                    what: "endpoint", ..
                } => anyhow!("--source-endpoint: {e}; create it with `cutover endpoint new`"),
                e => e.into(),
            })?;
            eprintln!(
                "batch '{}' created with {} users{}",
                batch.name,
                count,
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
            load(ctx, &name).await?;
            let b = control::start_batch(ctx.store.as_ref(), &name).await?;
            show(ctx, &[b], true).await
        }
        BatchCommand::Stop { name } => {
            load(ctx, &name).await?;
            let b = control::stop_batch(ctx.store.as_ref(), &name).await?;
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
            load(ctx, &name).await?;
            let (b, approved) = control::approve_skipped_items(ctx.store.as_ref(), &name).await?;
            eprintln!(
                "{approved} skipped item(s) of batch '{}' approved; items skipped from now on need a new approval",
                b.name
            );
            hint_failed_users(ctx, &b).await?;
            show(ctx, &[b], true).await
        }
        BatchCommand::Remove { name, force } => {
            load(ctx, &name).await?;
            let removed = control::remove_batch(ctx.store.as_ref(), &name, force)
                .await
                .map_err(|e| match e {
                    ControlError::IllegalState { .. } | ControlError::StillRunning { .. } => {
                        anyhow!("{e} (`cutover batch remove {name} --force`)")
                    }
                    e => e.into(),
                })?;
            if let Some(warning) = removed.warning {
                eprintln!("warning: {warning}");
            }
            eprintln!("batch '{name}' removed; the migrated mail stays on the target");
            Ok(())
        }
    }
}
