//! `cutover license sku add|set|get`, `license assign|unassign USER SKU`, `license get`,
//! `license grace set|get` and `license enforce`: the seed's Section 7. The functions
//! take typed parameters; the clap command (`run`) and the cmdlet shell (`crate::ps`:
//! Get-MsolAccountSku, Set-MsolUserLicense, Get-MsolUser) share them. The operations and
//! the enforcement are `cutover_service::licenses`'s.

use anyhow::Context;
use chrono::Utc;
use cutover_service::licenses::{self, AssignOutcome, Enforcement};

use crate::Ctx;
use crate::args::{LicenseCommand, LicenseGraceCommand, LicenseSkuCommand};
use crate::output::{self, Record};

pub async fn run(ctx: &Ctx, command: LicenseCommand) -> anyhow::Result<()> {
    match command {
        LicenseCommand::Sku(LicenseSkuCommand::Add { name, units }) => {
            let r = sku_add(ctx, &name, units).await?;
            ctx.print(&[r], true)
        }
        LicenseCommand::Sku(LicenseSkuCommand::Set {
            name,
            units,
            unlimited,
        }) => {
            let units = if unlimited { None } else { units };
            let r = Record::from_view(
                &licenses::set_sku_units(ctx.store.as_ref(), &name, units).await?,
            );
            ctx.print(&[r], true)
        }
        LicenseCommand::Sku(LicenseSkuCommand::Get { name }) => {
            let single = name.is_some();
            ctx.print(&sku_get(ctx, name.as_deref()).await?, single)
        }
        LicenseCommand::Assign { user, sku } => assign(ctx, &user, &sku).await,
        LicenseCommand::Unassign { user, sku } => unassign(ctx, &user, &sku).await,
        LicenseCommand::Get {
            user,
            unlicensed_only,
        } => {
            let single = user.is_some();
            ctx.print(&get(ctx, user.as_deref(), unlicensed_only).await?, single)
        }
        LicenseCommand::Grace(LicenseGraceCommand::Set { period }) => {
            let g = licenses::set_grace(ctx.store.as_ref(), &period).await?;
            ctx.print(&[grace_view(g)], true)
        }
        LicenseCommand::Grace(LicenseGraceCommand::Get) => {
            let g = ctx.store.grace_period().await?;
            ctx.print(&[grace_view(g)], true)
        }
        LicenseCommand::Enforce => {
            let done = licenses::enforce(ctx.store.as_ref(), Utc::now())
                .await
                .context("the license enforcement failed")?;
            note_enforcement(&done);
            if !done.failed.is_empty() {
                anyhow::bail!(
                    "{} login(s) could not be changed on the target directory (see above); the scheduler tries again",
                    done.failed.len()
                );
            }
            Ok(())
        }
    }
}

fn grace_view(g: cutover_model::GracePeriod) -> Record {
    Record::new()
        .with("GracePeriod", g.to_string())
        .with("GracePeriodSeconds", g.seconds())
}

fn note_enforcement(done: &Enforcement) {
    for e in &done.disabled {
        output::note(&format!(
            "{e}: no license and the grace period is over: login disabled on the target"
        ));
    }
    for e in &done.enabled {
        output::note(&format!("{e}: login given back on the target"));
    }
    for (e, why) in &done.failed {
        output::note(&format!("{e}: the login could not be changed: {why}"));
    }
}

/// `license sku add`: a SKU and its units.
pub async fn sku_add(ctx: &Ctx, name: &str, units: Option<u64>) -> anyhow::Result<Record> {
    Ok(Record::from_view(
        &licenses::add_sku(ctx.store.as_ref(), name, units).await?,
    ))
}

/// Get-MsolAccountSku: one SKU or all of them.
pub async fn sku_get(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<Vec<Record>> {
    let all = licenses::skus(ctx.store.as_ref()).await?;
    let shown: Vec<_> = all
        .iter()
        .filter(|s| name.is_none_or(|n| s.account_sku_id.eq_ignore_ascii_case(n.trim())))
        .map(Record::from_view)
        .collect();
    if let Some(n) = name
        && shown.is_empty()
    {
        anyhow::bail!(
            "license SKU '{n}' was not found; add it with `cutover license sku add {n} --units N`"
        );
    }
    Ok(shown)
}

/// Get-MsolUser: each provisioned user's licenses and grace period.
pub async fn get(
    ctx: &Ctx,
    user: Option<&str>,
    unlicensed_only: bool,
) -> anyhow::Result<Vec<Record>> {
    let all = licenses::user_licenses(ctx.store.as_ref(), Utc::now(), unlicensed_only).await?;
    let wanted = user.map(licenses::user_address).transpose()?;
    let shown: Vec<_> = all
        .iter()
        .filter(|u| {
            wanted
                .as_ref()
                .is_none_or(|w| u.user_principal_name == w.as_str())
        })
        .map(Record::from_view)
        .collect();
    if let Some(w) = wanted
        && shown.is_empty()
    {
        anyhow::bail!(
            "{w} is not a provisioned user{}; `cutover license get` lists them",
            if unlicensed_only {
                " without a license"
            } else {
                ""
            }
        );
    }
    Ok(shown)
}

fn note_outcome(user: &str, sku: &str, out: &AssignOutcome, verb: &str) {
    if !out.changed {
        output::note(&format!(
            "{user} {} {sku}: nothing changed",
            if verb == "assigned" {
                "holds already"
            } else {
                "does not hold"
            }
        ));
    } else {
        output::note(&format!("{sku} {verb}: {user}"));
    }
    if out.not_provisioned {
        output::note(&format!(
            "{user} is not a provisioned user (yet): the license counts once it is"
        ));
    }
    match &out.enforced {
        Some(Ok(done)) => note_enforcement(done),
        Some(Err(e)) => output::note(&format!(
            "the logins on the target were not changed now ({e}); the scheduler tries again"
        )),
        None => {}
    }
}

/// Set-MsolUserLicense -AddLicenses.
pub async fn assign(ctx: &Ctx, user: &str, sku: &str) -> anyhow::Result<()> {
    let out = licenses::assign(ctx.store.as_ref(), user, sku, Utc::now()).await?;
    note_outcome(user, sku, &out, "assigned");
    Ok(())
}

/// Set-MsolUserLicense -RemoveLicenses.
pub async fn unassign(ctx: &Ctx, user: &str, sku: &str) -> anyhow::Result<()> {
    let out = licenses::unassign(ctx.store.as_ref(), user, sku).await?;
    note_outcome(user, sku, &out, "unassigned");
    Ok(())
}
