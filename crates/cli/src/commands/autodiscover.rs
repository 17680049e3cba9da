//! `--autodiscover --email ADDRESS` for `test-server` and `endpoint new`: the discovery
//! (crate `cutover-discover`) turned into connection settings.

use std::time::Duration;

use anyhow::Context;
use cutover_discover::{DiscoverOptions, Discovery, Dns};
use cutover_imap::TlsOptions;
use cutover_model::{Connection, Security};
use secrecy::SecretString;
use serde_json::Value;

use super::verify;
use crate::args::{AutodiscoverArgs, DnsArgs, ServerArgs};

/// The resolver of `--dns-server`, or the system's.
pub fn resolver(args: &DnsArgs) -> anyhow::Result<Dns> {
    Ok(Dns::new(args.dns_server)?)
}

/// Runs the discovery for `--email`; with the connection it found, if any.
pub async fn discover(
    server: &ServerArgs,
    args: &AutodiscoverArgs,
    admin_password: &SecretString,
) -> anyhow::Result<(Discovery, Option<Connection>)> {
    let email = args
        .email
        .as_deref()
        .context("--autodiscover needs --email ADDRESS")?;
    let tls = TlsOptions {
        ca_file: verify::ca_file(server.ca_file.as_deref())?.map(Into::into),
    }
    .client_config()?;
    let guess_port = server.port.map(|p| {
        let security = verify::security(server)
            .ok()
            .flatten()
            .unwrap_or(if p == 993 {
                Security::Tls
            } else {
                Security::StartTls
            });
        (p, security)
    });
    let opts = DiscoverOptions {
        dns: resolver(&args.dns)?,
        tls,
        https_port: args.autodiscover_port,
        guess_port,
        credentials: Some((server.admin.clone(), admin_password.clone())),
        timeout: Duration::from_secs(10),
    };
    let discovery = cutover_discover::discover(email, &opts).await?;
    let connection = match discovery.found() {
        Some((_, s)) => Some(verify::connection_to(server, &s.host, s.port, s.security)?),
        None => None,
    };
    Ok((discovery, connection))
}

/// One line per method tried, for output.
pub fn log(d: &Discovery) -> Value {
    Value::from(
        d.attempts
            .iter()
            .map(|a| a.summary())
            .collect::<Vec<String>>(),
    )
}

/// The sentence that says what was found, or why nothing was.
pub fn outcome(d: &Discovery) -> String {
    match d.found() {
        Some((method, s)) => {
            let before: Vec<&str> = d
                .attempts
                .iter()
                .filter(|a| a.found.is_none())
                .map(|a| a.method.as_str())
                .collect();
            let why = if before.is_empty() {
                String::new()
            } else {
                format!(" ({} found nothing)", before.join(", "))
            };
            format!(
                "{method} found {}:{} ({}) for {}{why}",
                s.host, s.port, s.security, d.email
            )
        }
        None => format!(
            "no method found an IMAP server for {} (domain {}): publish _imaps._tcp SRV \
             records, an autoconfig or Autodiscover service, or give --server:\n{}",
            d.email,
            d.domain,
            d.explanation()
        ),
    }
}
