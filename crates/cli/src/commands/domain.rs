//! `cutover domain add|get|verify|remove` (New-/Get-/Remove-AcceptedDomain, and the
//! TXT verification of the seed's step 1). The functions take typed parameters; the
//! clap command (`run`) and the cmdlet shell (`crate::ps`) share them.

use anyhow::{Context, bail};
use chrono::Utc;
use cutover_discover::domain as rules;
use cutover_store::AcceptedDomain;

use super::autodiscover;
use crate::Ctx;
use crate::args::{DnsArgs, DomainCommand};
use crate::output::{Record, time};

fn view(d: &AcceptedDomain) -> Record {
    Record::new()
        .with("DomainName", d.name.as_str())
        .with(
            "Status",
            if d.verified_at.is_some() {
                "Verified"
            } else {
                "Unverified"
            },
        )
        .with("TxtRecordName", d.name.as_str())
        .with("TxtRecordValue", d.token.as_str())
        .with("CreatedTime", time(Some(d.created_at)))
        .with("VerifiedTime", time(d.verified_at))
}

fn parse(name: &str) -> anyhow::Result<String> {
    rules::normalize(name).map_err(anyhow::Error::msg)
}

/// New-AcceptedDomain: adds the domain, unverified, with the token of the TXT record
/// to publish at it.
pub async fn add(ctx: &Ctx, name: &str) -> anyhow::Result<Record> {
    let name = parse(name)?;
    let domain = AcceptedDomain {
        token: rules::new_token(uuid::Uuid::new_v4().as_bytes()),
        name,
        created_at: Utc::now(),
        verified_at: None,
    };
    ctx.store.add_accepted_domain(&domain).await?;
    eprintln!(
        "publish this TXT record, then run `cutover domain verify {}`:\n  {}. IN TXT \"{}\"",
        domain.name, domain.name, domain.token
    );
    Ok(view(&domain))
}

/// Get-AcceptedDomain: one domain, or all of them.
pub async fn get(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<Vec<Record>> {
    match name {
        Some(name) => {
            let name = parse(name)?;
            let d = ctx.store.accepted_domain(&name).await?.with_context(|| {
                format!("accepted domain '{name}' was not found; add it with `cutover domain add {name}`")
            })?;
            Ok(vec![view(&d)])
        }
        None => Ok(ctx
            .store
            .accepted_domains()
            .await?
            .iter()
            .map(view)
            .collect()),
    }
}

/// Looks for the domain's TXT record (at `dns_server`, else the system's resolver) and
/// marks the domain verified when it is there.
pub async fn verify(
    ctx: &Ctx,
    name: &str,
    dns_server: Option<std::net::SocketAddr>,
) -> anyhow::Result<Record> {
    let name = parse(name)?;
    let d = ctx.store.accepted_domain(&name).await?.with_context(|| {
        format!("accepted domain '{name}' was not found; add it with `cutover domain add {name}`")
    })?;
    let resolver = autodiscover::resolver(&DnsArgs { dns_server })?;
    let txt = resolver.txt(&name).await?;
    if !rules::published(&txt, &d.token) {
        let seen = if txt.is_empty() {
            "no TXT record".to_string()
        } else {
            format!(
                "only {}",
                txt.iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        bail!(
            "the verification record of {name} was not found {} ({seen}): publish\n  {name}. IN TXT \"{}\"\nthen run `cutover domain verify {name}` again (DNS changes can take a while to show)",
            resolver.describe(),
            d.token
        );
    }
    ctx.store.set_domain_verified(&name, Utc::now()).await?;
    let d = ctx
        .store
        .accepted_domain(&name)
        .await?
        .context("the domain vanished while it was verified")?;
    eprintln!("domain {name} verified");
    Ok(view(&d))
}

/// Remove-AcceptedDomain.
pub async fn remove(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let name = parse(name)?;
    ctx.store.remove_accepted_domain(&name).await?;
    eprintln!("accepted domain '{name}' removed");
    Ok(())
}

/// The clap front end.
pub async fn run(ctx: &Ctx, command: DomainCommand) -> anyhow::Result<()> {
    match command {
        DomainCommand::Add { name } => ctx.print(&[add(ctx, &name).await?], true),
        DomainCommand::Get { name } => {
            let single = name.is_some();
            ctx.print(&get(ctx, name.as_deref()).await?, single)
        }
        DomainCommand::Verify { name, dns } => {
            ctx.print(&[verify(ctx, &name, dns.dns_server).await?], true)
        }
        DomainCommand::Remove { name } => remove(ctx, &name).await,
    }
}
