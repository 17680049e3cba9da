//! `cutover dns check`: where a domain's mail and Autodiscover point during the cutover,
//! and the first time MX was seen pointing to the target (the MX switch that `batch
//! remove` waits for).

use chrono::Utc;
use cutover_discover::{domain as rules, mx};
use cutover_store::MxCheck;
use serde_json::Value;

use super::autodiscover;
use crate::Ctx;
use crate::args::DnsCommand;
use crate::output::{Record, time};

pub async fn run(ctx: &Ctx, command: DnsCommand) -> anyhow::Result<()> {
    let DnsCommand::Check {
        domain,
        expect_mx,
        expect_autodiscover,
        dns,
    } = command;
    let domain = rules::normalize(&domain).map_err(anyhow::Error::msg)?;
    let resolver = autodiscover::resolver(&dns)?;
    let previous = ctx.store.mx_check(&domain).await?;

    // The target's MX hosts: given now (and remembered), given before, or the target
    // server's host name.
    let expected: Vec<String> = if !expect_mx.is_empty() {
        expect_mx
            .iter()
            .map(|h| cutover_discover::settings::normalize_host(h))
            .collect()
    } else if let Some(p) = previous.as_ref().filter(|p| !p.expected_mx.is_empty()) {
        p.expected_mx.clone()
    } else if let Some(t) = ctx.store.target().await? {
        vec![cutover_discover::settings::normalize_host(
            &t.connection.server,
        )]
    } else {
        Vec::new()
    };
    let records = resolver.mx(&domain).await?;
    let state = mx::compare(&records, &expected);
    let now = Utc::now();
    let check = MxCheck {
        domain: domain.clone(),
        expected_mx: if expect_mx.is_empty() {
            previous
                .as_ref()
                .map(|p| p.expected_mx.clone())
                .unwrap_or_default()
        } else {
            expected.clone()
        },
        first_switch_at: state.switched().then_some(now),
        last_checked_at: Some(now),
        last_state: Some(state.as_str().to_string()),
    };
    ctx.store.save_mx_check(&check).await?;
    let saved = ctx.store.mx_check(&domain).await?.unwrap_or(check);

    let autodiscover_host = format!("autodiscover.{domain}");
    let cname = resolver.cname(&autodiscover_host).await?;
    let autodiscover_ok = expect_autodiscover.as_ref().map(|want| {
        cname.as_deref() == Some(cutover_discover::settings::normalize_host(want).as_str())
    });

    let accepted = ctx.store.accepted_domain(&domain).await?;
    let txt_found = match &accepted {
        Some(d) => Some(rules::published(&resolver.txt(&domain).await?, &d.token)),
        None => None,
    };

    let record = Record::new()
        .with("Domain", domain.as_str())
        .with(
            "MxRecords",
            Value::from(
                records
                    .iter()
                    .map(|r| format!("{} {}", r.preference, r.exchange))
                    .collect::<Vec<_>>(),
            ),
        )
        .with("ExpectedMx", Value::from(expected.clone()))
        .with("MxState", state.as_str())
        .with("MxPointsToTarget", state.switched())
        .with("MxSwitchFirstSeen", time(saved.first_switch_at))
        .with("AutodiscoverCname", cname.clone())
        .with("ExpectedAutodiscover", expect_autodiscover.clone())
        .with("AutodiscoverPointsToTarget", autodiscover_ok)
        .with("AcceptedDomain", accepted.is_some())
        .with("VerificationTxtFound", txt_found)
        .with("Resolver", resolver.describe());
    if expected.is_empty() {
        eprintln!(
            "note: no target MX host is known for {domain}: give --expect-mx HOST (remembered) or set the target first"
        );
    }
    ctx.print(&[record], true)
}
