//! `cutover user get|stats` (Get-MigrationUser, Get-MigrationUserStatistics).

use anyhow::{Context, anyhow};
use cutover_model::UserStatus;

use crate::args::UserCommand;
use crate::{Ctx, views};

pub async fn run(ctx: &Ctx, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Get {
            email: Some(email), ..
        } => {
            let u = ctx
                .store
                .user(&email)
                .await?
                .with_context(|| format!("no migration user '{email}'"))?;
            ctx.print(&[views::user(&u)], true)
        }
        UserCommand::Get {
            email: None,
            batch,
            status,
        } => {
            let status = status
                .map(|s| {
                    s.parse::<UserStatus>()
                        .map_err(|e| anyhow!("--status: {e}"))
                })
                .transpose()?;
            if let Some(b) = &batch
                && ctx.store.batch(b).await?.is_none()
            {
                anyhow::bail!("--batch: batch '{b}' was not found");
            }
            let users = ctx.store.users(batch.as_deref(), status).await?;
            let records: Vec<_> = users.iter().map(views::user).collect();
            ctx.print(&records, false)
        }
        UserCommand::Stats {
            email,
            include_skipped_items,
        } => {
            let u = ctx
                .store
                .user(&email)
                .await?
                .with_context(|| format!("no migration user '{email}'"))?;
            let skipped = if include_skipped_items {
                Some(ctx.store.skipped_items(u.email.as_str()).await?)
            } else {
                None
            };
            ctx.print(&[views::user_stats(&u, skipped.as_deref())], true)
        }
    }
}
