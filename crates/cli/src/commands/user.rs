//! `cutover user get|stats` (Get-MigrationUser, Get-MigrationUserStatistics), and
//! Get-MigrationStatistics.
//!
//! The functions below take typed parameters and return the objects to show; the clap
//! command (`run`) and the cmdlet shell (`crate::ps`) only differ in how they read
//! their parameters and print the result.

use anyhow::{Context, anyhow};
use cutover_model::UserStatus;

use crate::args::UserCommand;
use crate::output::Record;
use crate::{Ctx, views};

/// One user by address, or the users of a batch / in a status.
pub async fn get(
    ctx: &Ctx,
    email: Option<&str>,
    batch: Option<&str>,
    status: Option<UserStatus>,
) -> anyhow::Result<Vec<Record>> {
    if let Some(email) = email {
        let u = ctx
            .store
            .user(email)
            .await?
            .with_context(|| format!("no migration user '{email}'"))?;
        return Ok(vec![views::user(&u)]);
    }
    if let Some(b) = batch
        && ctx.store.batch(b).await?.is_none()
    {
        anyhow::bail!("--batch: batch '{b}' was not found");
    }
    let users = ctx.store.users(batch, status).await?;
    Ok(users.iter().map(views::user).collect())
}

/// A user's statistics, with the skipped items when asked.
pub async fn stats(ctx: &Ctx, email: &str, include_skipped_items: bool) -> anyhow::Result<Record> {
    let u = ctx
        .store
        .user(email)
        .await?
        .with_context(|| format!("no migration user '{email}'"))?;
    let skipped = if include_skipped_items {
        Some(ctx.store.skipped_items(u.email.as_str()).await?)
    } else {
        None
    };
    Ok(views::user_stats(&u, skipped.as_deref()))
}

/// Counts over every migration user (Get-MigrationStatistics; the cmdlet shell only).
pub async fn statistics(ctx: &Ctx) -> anyhow::Result<Record> {
    let users = ctx.store.users(None, None).await?;
    Ok(views::migration_statistics(&users))
}

/// The clap front end.
pub async fn run(ctx: &Ctx, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Get {
            email,
            batch,
            status,
        } => {
            let single = email.is_some();
            let status = status
                .map(|s| {
                    s.parse::<UserStatus>()
                        .map_err(|e| anyhow!("--status: {e}"))
                })
                .transpose()?;
            let records = get(ctx, email.as_deref(), batch.as_deref(), status).await?;
            ctx.print(&records, single)
        }
        UserCommand::Stats {
            email,
            include_skipped_items,
        } => ctx.print(&[stats(ctx, &email, include_skipped_items).await?], true),
    }
}
