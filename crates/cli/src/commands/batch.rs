//! `cutover batch new|get|start|stop|remove` (the *-MigrationBatch cmdlets), `batch plan`
//! and `batch report`.
//!
//! The operations themselves are `cutover_service::control`'s, shared with the HTTP
//! API. The functions below take typed parameters, call them and return the objects to
//! show; the clap command (`run`) and the cmdlet shell (`crate::ps`) only differ in how
//! they read their parameters and print the result.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use cutover_model::{Batch, EmailAddress, Name, UserStatus, parse_users_csv};
use cutover_service::control::{self, ControlError};
use cutover_service::views::PreflightView;
use cutover_service::{organization, report};
use cutover_store::NewUser;

use crate::args::BatchCommand;
use crate::output::{self, Format, Record};
use crate::{Ctx, views};

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
        let dav = cutover_service::calendars::batch_dav(ctx.store.as_ref(), b, &users).await?;
        records.push(views::batch(b, &users, dav.as_deref()));
    }
    Ok(records)
}

async fn show_one(ctx: &Ctx, batch: Batch) -> anyhow::Result<Record> {
    let mut records = show(ctx, &[batch]).await?;
    Ok(records.remove(0))
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
    /// Labs only: create it even if the users' domains are not accepted and verified.
    pub skip_domain_check: bool,
    pub bad_item_limit: u32,
    pub large_item_limit: u32,
    pub exclude_folders: Vec<String>,
    pub folder_map: Vec<cutover_model::FolderMapEntry>,
    pub incremental_interval: u32,
    pub removal_threshold: u32,
    /// Who gets the notification e-mails (none: no mail).
    pub notification_emails: Vec<EmailAddress>,
    pub report_interval: u32,
    pub skip_reports: bool,
}

/// Where the users come from: a users CSV (`EmailAddress,UserName,Password`), or the
/// endpoint's directory.
pub enum UsersCsv {
    /// Every recipient of the endpoint's directory (`--all-mailboxes`).
    AllMailboxes,
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
            UsersCsv::AllMailboxes => unreachable!("read from the directory by `new`"),
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
                kind: cutover_model::RecipientKind::Mailbox,
            })
            .collect())
    }
}

/// Creates the cutover batch (and starts it with `auto_start`): `control::create_batch`,
/// which also checks the users' domains.
pub async fn new(ctx: &Ctx, p: NewBatch) -> anyhow::Result<Record> {
    // The name and the endpoint first, before the CSV is read.
    Name::parse("batch", &p.name)?;
    let source_endpoint = &p.source_endpoint;
    ctx.store
        .endpoint(source_endpoint)
        .await?
        .with_context(|| {
            format!("--source-endpoint: endpoint '{source_endpoint}' was not found; create it with `cutover endpoint new`")
        })?;
    if p.incremental_interval == 0 {
        bail!("--incremental-interval must be at least 1 hour");
    }
    if p.report_interval == 0 {
        bail!("--report-interval must be at least 1 hour");
    }
    let from_directory = matches!(p.users, UsersCsv::AllMailboxes);
    let users = if from_directory {
        organization::organization_users(ctx.store.as_ref(), source_endpoint)
            .await
            .with_context(|| {
                format!(
                    "--all-mailboxes: the organization of endpoint '{source_endpoint}' could not                      be read (or give --users-csv FILE)"
                )
            })?
    } else {
        p.users.users()?
    };
    let count = users.len();
    let kinds = kind_counts(&users);
    let batch = control::create_batch(
        ctx.store.as_ref(),
        control::NewBatch {
            name: p.name,
            source_endpoint: source_endpoint.clone(),
            users,
            bad_item_limit: p.bad_item_limit,
            large_item_limit: p.large_item_limit,
            excluded_folders: p.exclude_folders,
            folder_map: p.folder_map,
            incremental_interval_hours: p.incremental_interval,
            removal_threshold_percent: p.removal_threshold,
            notification_emails: p.notification_emails,
            report_interval_hours: p.report_interval,
            skip_reports: p.skip_reports,
            auto_start: p.auto_start,
            skip_domain_check: p.skip_domain_check,
            from_directory,
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
        "batch '{}' created with {} users{}{}",
        batch.name,
        count,
        kinds,
        if p.auto_start {
            " and started; `cutover run` does the work"
        } else {
            "; start it with `cutover batch start`"
        }
    );
    show_one(ctx, batch).await
}

/// "(3 UserMailbox, 1 MailContact)" for users of more than one kind.
fn kind_counts(users: &[NewUser]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for u in users {
        let t = u.kind.recipient_type(true);
        match counts.iter_mut().find(|(k, _)| *k == t) {
            Some((_, n)) => *n += 1,
            None => counts.push((t, 1)),
        }
    }
    if counts.len() < 2 {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(" ({})", parts.join(", "))
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
    load(ctx, name).await?;
    let (b, warnings) = control::start_batch(ctx.store.as_ref(), name).await?;
    if !warnings.is_empty() {
        output::note(&format!(
            "preflight: {} warning(s) of what will not carry over (`cutover batch preflight {name}`)",
            warnings.len()
        ));
    }
    show_one(ctx, b).await
}

/// `batch preflight`: every finding, as records (`--format json`: the whole report, as
/// the API answers it). Fails (exit 1) while a Blocking finding is left.
pub async fn preflight(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    load(ctx, name).await?;
    let (b, findings) = control::preflight(ctx.store.as_ref(), name).await?;
    let view = PreflightView::new(&b, &findings, chrono::Utc::now());
    if ctx.format == Format::Json {
        ctx.print(&[Record::from_view(&view)], true)?;
    } else {
        let records: Vec<Record> = view.findings.iter().map(Record::from_view).collect();
        ctx.print(&records, false)?;
        output::note(&format!(
            "preflight of batch '{}': {} ({} blocking, {} warning(s))",
            b.name, view.result, view.blocking_count, view.warning_count
        ));
    }
    if view.blocking_count > 0 {
        bail!(
            "batch '{name}' cannot start until the {} blocking finding(s) are fixed",
            view.blocking_count
        );
    }
    Ok(())
}

/// Stop-MigrationBatch: queued users stop now, running passes at their next chunk.
pub async fn stop(ctx: &Ctx, name: &str) -> anyhow::Result<Record> {
    load(ctx, name).await?;
    let b = control::stop_batch(ctx.store.as_ref(), name).await?;
    show_one(ctx, b).await
}

/// Set-MigrationBatch's item limits, removal threshold and notification settings; they
/// apply from the next pass. `None` keeps a setting.
pub async fn set(ctx: &Ctx, name: &str, changes: control::BatchChanges) -> anyhow::Result<Record> {
    if changes.is_empty() {
        bail!(
            "nothing to change for batch '{name}': give --bad-item-limit N, --large-item-limit N, \
             --removal-threshold PERCENT, --notification-emails A,B, --report-interval HOURS \
             and/or --skip-reports true|false"
        );
    }
    load(ctx, name).await?;
    // Checked here too, so the error names the option.
    if let Some(p) = changes.removal_threshold_percent {
        control::check_removal_threshold(p).context("--removal-threshold")?;
    }
    if let Some(h) = changes.report_interval_hours {
        control::check_report_interval(h).context("--report-interval")?;
    }
    let b = control::set_batch(ctx.store.as_ref(), name, changes).await?;
    hint_failed_users(ctx, &b).await?;
    show_one(ctx, b).await
}

/// Approves every item the batch's users skipped so far.
pub async fn approve_skipped_items(ctx: &Ctx, name: &str) -> anyhow::Result<Record> {
    load(ctx, name).await?;
    let (b, approved) = control::approve_skipped_items(ctx.store.as_ref(), name).await?;
    eprintln!(
        "{approved} skipped item(s) of batch '{}' approved; items skipped from now on need a new approval",
        b.name
    );
    hint_failed_users(ctx, &b).await?;
    show_one(ctx, b).await
}

/// Approves the removals the brake held, for the batch or one user.
pub async fn approve_removals(ctx: &Ctx, name: &str, user: Option<&str>) -> anyhow::Result<Record> {
    load(ctx, name).await?;
    let (b, approved) = control::approve_removals(ctx.store.as_ref(), name, user).await?;
    if approved == 0 {
        eprintln!("no removals of batch '{}' wait for approval", b.name);
    } else {
        eprintln!(
            "the held removals of {approved} user(s) of batch '{}' are approved; their next pass makes them \
             (`cutover batch start {}` runs it now)",
            b.name, b.name
        );
    }
    show_one(ctx, b).await
}

/// `batch plan`: the steps each mailbox's next pass would take, touching nothing. Text
/// for people (a numbered list per user), or with `--format json` one object per user:
/// `User`, `Steps` (`Kind`, `Folder`, `Messages`, `Bytes`, `Step`: the text) and
/// `Error` when the mailbox could not be looked at; when the batch moves calendars and
/// contacts, `DavSteps` (`Kind`, `Step`) and `DavError` beside them.
pub async fn plan(ctx: &Ctx, name: &str, user: Option<&str>) -> anyhow::Result<()> {
    let batch = load(ctx, name).await?;
    let plans = cutover_sync::plan_batch(ctx.store.as_ref(), &batch, user).await?;
    if let Some(user) = user
        && plans.is_empty()
    {
        bail!(
            "'{user}' is not a user of batch '{name}'; `cutover user get --batch {name}` lists them"
        );
    }
    let mut dav_plans = Vec::with_capacity(plans.len());
    for (email, _) in &plans {
        let dav = match ctx.store.user(email).await? {
            Some(u) => {
                cutover_service::calendars::plan_user(ctx.store.as_ref(), &batch, &u).await?
            }
            None => None,
        };
        dav_plans.push(dav);
    }
    if ctx.format == Format::Json {
        let records: Vec<Record> = plans
            .iter()
            .zip(&dav_plans)
            .map(|((email, plan), dav)| {
                let steps: Vec<serde_json::Value> = plan
                    .as_ref()
                    .map(|p| {
                        p.steps
                            .iter()
                            .map(|s| {
                                serde_json::json!({
                                    "Kind": s.kind(),
                                    "Folder": s.folder(),
                                    "Messages": s.messages(),
                                    "Bytes": s.bytes(),
                                    "Step": s.to_string(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let record = Record::new()
                    .with("User", email.as_str())
                    .with("Steps", steps)
                    .with("Error", plan.as_ref().err().cloned());
                match dav {
                    None => record,
                    Some(dav) => {
                        let steps: Vec<serde_json::Value> = dav
                            .as_ref()
                            .map(|steps| {
                                steps
                                    .iter()
                                    .map(|s| {
                                        serde_json::json!({
                                            "Kind": s.kind(),
                                            "Step": s.to_string(),
                                        })
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        record
                            .with("DavSteps", steps)
                            .with("DavError", dav.as_ref().err().cloned())
                    }
                }
            })
            .collect();
        return ctx.print(&records, false);
    }
    let mut out = String::new();
    for ((email, plan), dav) in plans.iter().zip(&dav_plans) {
        match plan {
            Err(e) => out.push_str(&format!("{email}: cannot plan: {e}\n")),
            Ok(p) if p.steps.is_empty() => out.push_str(&format!("{email}: nothing to do\n")),
            Ok(p) => {
                out.push_str(&format!("{email}: {} steps\n", p.steps.len()));
                for (i, step) in p.steps.iter().enumerate() {
                    out.push_str(&format!("  {:>3}. {step}\n", i + 1));
                }
            }
        }
        match dav {
            None => {}
            Some(Err(e)) => out.push_str(&format!(
                "{email} calendars and contacts: cannot plan: {e}\n"
            )),
            Some(Ok(steps)) if steps.is_empty() => {
                out.push_str(&format!("{email} calendars and contacts: nothing to do\n"))
            }
            Some(Ok(steps)) => {
                out.push_str(&format!(
                    "{email} calendars and contacts: {} steps\n",
                    steps.len()
                ));
                for (i, step) in steps.iter().enumerate() {
                    out.push_str(&format!("  {:>3}. {step}\n", i + 1));
                }
            }
        }
    }
    print!("{}", output::terminal_safe(&out));
    Ok(())
}

/// `batch report`: the batch's MigrationStatistics.csv and MigrationErrors.csv (built by
/// `cutover_service::report`), written into `out` (default: the current directory).
/// Returns where they went and how many rows they hold.
pub async fn report(ctx: &Ctx, name: &str, out: Option<&Path>) -> anyhow::Result<Record> {
    load(ctx, name).await?;
    let (b, users) = control::batch_report(ctx.store.as_ref(), name).await?;
    let dir = out.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "--out {}: cannot create the directory; give a directory you can write to",
            dir.display()
        )
    })?;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let statistics = dir.join(report::STATISTICS_FILE);
    let errors = dir.join(report::ERRORS_FILE);
    for (path, text) in [
        (&statistics, report::statistics_csv(&users)),
        (&errors, report::errors_csv(&users)),
    ] {
        std::fs::write(path, text).with_context(|| {
            format!(
                "cannot write {}; give a directory you can write to with --out DIR",
                path.display()
            )
        })?;
    }
    let error_rows = report::error_count(&users);
    eprintln!(
        "the reports of batch '{}' are written: {} ({} user(s)) and {} ({} row(s))",
        b.name,
        statistics.display(),
        users.len(),
        errors.display(),
        error_rows
    );
    // The initial passwords provisioning set, each written once (0600), then forgotten.
    let passwords = cutover_service::provisioning::hand_out_passwords(
        ctx.store.as_ref(),
        b.name.as_str(),
        &dir,
    )
    .await?;
    if let Some((path, n)) = &passwords {
        eprintln!(
            "{n} initial password(s) are written to {} (readable by you only); hand them to \
             their users: the state does not keep them any more",
            path.display()
        );
    }
    Ok(Record::new()
        .with("Identity", b.name.as_str())
        .with("StatisticsFile", statistics.display().to_string())
        .with("ErrorsFile", errors.display().to_string())
        .with("UserCount", users.len())
        .with("ErrorCount", error_rows)
        .with(
            "PasswordsFile",
            passwords.as_ref().map(|(p, _)| p.display().to_string()),
        )
        .with("PasswordCount", passwords.as_ref().map_or(0, |(_, n)| *n)))
}

/// Remove-MigrationBatch: the batch and its users leave the state; mail stays on the
/// target. `control::remove_batch` refuses while the batch is in its initial sync or
/// before the MX switch and a sync after it, unless `force`.
pub async fn remove(ctx: &Ctx, name: &str, force: bool) -> anyhow::Result<()> {
    load(ctx, name).await?;
    let removed = control::remove_batch(ctx.store.as_ref(), name, force)
        .await
        .map_err(|e| match e {
            ControlError::IllegalState { .. } | ControlError::StillRunning { .. } => {
                anyhow!("{e} (`cutover batch remove {name} --force`)")
            }
            e => e.into(),
        })?;
    if let Some(warning) = removed.warning {
        output::note(&format!("warning: {warning}"));
    }
    eprintln!("batch '{name}' removed; the migrated mail stays on the target");
    Ok(())
}

/// `--notification-emails A,B` of `batch set`: addresses, empty ones left out ('' clears).
pub fn notification_addresses(given: &[String]) -> anyhow::Result<Vec<EmailAddress>> {
    given
        .iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            a.parse::<EmailAddress>()
                .with_context(|| format!("--notification-emails: '{a}' is not an address"))
        })
        .collect()
}

/// The clap front end.
pub async fn run(ctx: &Ctx, command: BatchCommand) -> anyhow::Result<()> {
    let record = match command {
        BatchCommand::New {
            name,
            source_endpoint,
            users_csv,
            all_mailboxes: _,
            auto_start,
            skip_domain_check,
            bad_item_limit,
            large_item_limit,
            exclude_folders,
            folder_map,
            incremental_interval,
            removal_threshold,
            notification_emails,
            report_interval,
            skip_reports,
        } => {
            new(
                ctx,
                NewBatch {
                    name,
                    source_endpoint,
                    // Without a users CSV, the organization from the directory.
                    users: users_csv.map_or(UsersCsv::AllMailboxes, UsersCsv::File),
                    auto_start,
                    skip_domain_check,
                    bad_item_limit,
                    large_item_limit,
                    exclude_folders,
                    folder_map,
                    incremental_interval,
                    removal_threshold,
                    notification_emails,
                    report_interval,
                    skip_reports,
                },
            )
            .await?
        }
        BatchCommand::Get { name } => {
            let single = name.is_some();
            return ctx.print(&get(ctx, name.as_deref()).await?, single);
        }
        BatchCommand::Start { name } => start_named(ctx, &name).await?,
        BatchCommand::Preflight { name } => return preflight(ctx, &name).await,
        BatchCommand::Stop { name } => stop(ctx, &name).await?,
        BatchCommand::Set {
            name,
            bad_item_limit,
            large_item_limit,
            removal_threshold,
            notification_emails,
            report_interval,
            skip_reports,
        } => {
            let changes = control::BatchChanges {
                bad_item_limit,
                large_item_limit,
                removal_threshold_percent: removal_threshold,
                notification_emails: notification_emails
                    .map(|given| notification_addresses(&given))
                    .transpose()?,
                report_interval_hours: report_interval,
                skip_reports,
            };
            set(ctx, &name, changes).await?
        }
        BatchCommand::ApproveSkippedItems { name } => approve_skipped_items(ctx, &name).await?,
        BatchCommand::ApproveRemovals { name, user } => {
            approve_removals(ctx, &name, user.as_deref()).await?
        }
        BatchCommand::Remove { name, force } => return remove(ctx, &name, force).await,
        BatchCommand::Plan { name, user } => return plan(ctx, &name, user.as_deref()).await,
        BatchCommand::Report { name, out } => report(ctx, &name, out.as_deref()).await?,
    };
    ctx.print(&[record], true)
}
