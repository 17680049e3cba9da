//! `cutover user get|stats` (Get-MigrationUser, Get-MigrationUserStatistics),
//! Get-MigrationStatistics, and `user report` (a user's rows of the batch's reports).
//!
//! The functions below take typed parameters and return the objects to show; the clap
//! command (`run`) and the cmdlet shell (`crate::ps`) only differ in how they read
//! their parameters and print the result.

use std::io::Write;

use anyhow::{Context, anyhow};
use cutover_model::UserStatus;
use cutover_service::calendars;
use cutover_service::control::{self, ControlError};
use cutover_service::report::{self, UserReport};

use crate::args::UserCommand;
use crate::output::{self, Format, Record};
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
        let provisioning = ctx.store.provisioning(u.email.as_str()).await?;
        let dav = calendars::user_dav(ctx.store.as_ref(), &u).await?;
        return Ok(vec![Record::from_view(
            &cutover_service::views::UserView::new(&u)
                .with_provisioning(provisioning.as_ref())
                .with_dav(dav.as_ref()),
        )]);
    }
    if let Some(b) = batch
        && ctx.store.batch(b).await?.is_none()
    {
        anyhow::bail!("--batch: batch '{b}' was not found");
    }
    let users = ctx.store.users(batch, status).await?;
    let mut records = Vec::with_capacity(users.len());
    for u in &users {
        let dav = calendars::user_dav(ctx.store.as_ref(), u).await?;
        records.push(views::user(u, dav.as_ref()));
    }
    Ok(records)
}

/// A user's statistics, with the skipped items when asked.
pub async fn stats(ctx: &Ctx, email: &str, include_skipped_items: bool) -> anyhow::Result<Record> {
    let u = ctx
        .store
        .user(email)
        .await?
        .with_context(|| format!("no migration user '{email}'"))?;
    let skipped = if include_skipped_items {
        Some(calendars::skipped_items(ctx.store.as_ref(), u.email.as_str()).await?)
    } else {
        None
    };
    let dav = calendars::user_dav(ctx.store.as_ref(), &u).await?;
    Ok(views::user_stats(&u, skipped.as_deref(), dav.as_ref()))
}

/// A user's report: its row of MigrationStatistics.csv and its rows of
/// MigrationErrors.csv, with every value exact.
pub async fn report(ctx: &Ctx, email: &str) -> anyhow::Result<UserReport> {
    let u = control::user_report(ctx.store.as_ref(), email)
        .await
        .map_err(|e| match e {
            ControlError::NotFound { .. } => {
                anyhow!("no migration user '{email}'; `cutover user get` lists them")
            }
            e => e.into(),
        })?;
    Ok(UserReport::new(&u))
}

/// Prints a user's report: with `--format json` one document (`Statistics`, `Errors`);
/// otherwise the statistics, then each error and skipped item, in the chosen layout.
fn print_report(ctx: &Ctx, report: &UserReport) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return ctx.print(&[Record::from_view(report)], true);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    output::print(
        &mut out,
        ctx.format,
        &ctx.select,
        &[Record::from_view(&report.statistics)],
        true,
    )?;
    // The user's rows of MigrationErrors.csv without the columns the statistics show;
    // in a list, a user's error without the item columns it leaves empty.
    let errors: Vec<Record> = report
        .errors
        .iter()
        .map(|row| {
            let full = Record::from_view(row);
            let skip_empty = ctx.format == Format::List && row.folder.is_none();
            let mut shown = Record::new();
            // MigrationErrors.csv's columns after EmailAddress and Status.
            for &name in &report::ERRORS_COLUMNS[2..] {
                match full.get(name) {
                    Some(serde_json::Value::Null) if skip_empty => {}
                    Some(v) => shown = shown.with(name, v.clone()),
                    None => {}
                }
            }
            shown
        })
        .collect();
    if errors.is_empty() {
        writeln!(out, "No errors and no skipped items.")?;
    } else {
        writeln!(out, "Errors and skipped items: {}", errors.len())?;
        output::print(&mut out, ctx.format, &[], &errors, false)?;
    }
    Ok(())
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
        UserCommand::Report { email } => print_report(ctx, &report(ctx, &email).await?),
    }
}
