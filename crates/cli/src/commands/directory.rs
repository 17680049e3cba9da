//! `cutover directory get|test` and the `--directory*` options of `endpoint new|set`:
//! the source organization's directory (LDAP) of an endpoint.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use cutover_directory::{DirectoryReader, Recipient, parse_override};
use cutover_model::{DirectoryProfile, RecipientKind, SourceDirectory};
use cutover_service::views::RecipientView;
use secrecy::SecretString;

use super::verify;
use crate::Ctx;
use crate::args::{DirectoryArgs, DirectoryCommand};
use crate::output::{self, Record};

/// What `endpoint set` does to the directory.
pub enum DirectoryChange {
    /// New settings; the password only when a new one was given.
    Set(SourceDirectory, Option<SecretString>),
    Remove,
}

/// The directory the options describe, over the stored one (`endpoint set`) or from
/// nothing (`endpoint new`); `None` when no option was given. Reads the password from
/// where the options say, and checks what can be checked without the server.
pub fn settings_from_args(
    stored: Option<&SourceDirectory>,
    args: &DirectoryArgs,
) -> anyhow::Result<Option<(SourceDirectory, Option<SecretString>)>> {
    if !args.given() {
        return Ok(None);
    }
    let mut d = match stored {
        Some(d) => d.clone(),
        None => {
            let missing: Vec<&str> = [
                ("--directory URL", args.directory.is_none()),
                ("--directory-base DN", args.directory_base.is_none()),
                ("--directory-bind DN", args.directory_bind.is_none()),
            ]
            .into_iter()
            .filter_map(|(o, m)| m.then_some(o))
            .collect();
            if !missing.is_empty() {
                bail!(
                    "a source directory needs {} (and its password with --directory-password-file or --directory-password-env)",
                    missing.join(", ")
                );
            }
            SourceDirectory {
                url: String::new(),
                base_dn: String::new(),
                bind_dn: String::new(),
                starttls: false,
                ca_file: None,
                profile: DirectoryProfile::ActiveDirectory,
                attributes: BTreeMap::new(),
                provision: false,
            }
        }
    };
    if let Some(v) = &args.directory {
        d.url = v.trim().to_string();
    }
    if let Some(v) = &args.directory_base {
        d.base_dn = v.trim().to_string();
    }
    if let Some(v) = &args.directory_bind {
        d.bind_dn = v.trim().to_string();
    }
    if let Some(v) = args.directory_starttls {
        d.starttls = v;
    }
    if let Some(p) = &args.directory_ca_file {
        d.ca_file = verify::ca_file(Some(p)).context("--directory-ca-file")?;
    }
    if let Some(p) = &args.directory_profile {
        d.profile = p
            .parse()
            .map_err(|e: String| anyhow!("--directory-profile: {e}"))?;
    }
    for a in &args.directory_attributes {
        let (field, attrs) = parse_override(a).map_err(|e| anyhow!(e))?;
        d.attributes.insert(field, attrs);
    }
    d.check().map_err(|e| anyhow!(e))?;
    if d.is_plaintext() && !cutover_model::endpoint::is_loopback(d.host()) {
        output::note(&format!(
            "warning: {} is plain LDAP: the bind password crosses the network in clear; \
             use ldaps:// or --directory-starttls",
            d.url
        ));
    }
    let password = read_password(args)?;
    if stored.is_none() && password.is_none() {
        bail!(
            "the directory's bind password is needed: give --directory-password-file FILE or \
             --directory-password-env VAR (passwords are never taken as plain arguments)"
        );
    }
    Ok(Some((d, password)))
}

fn read_password(args: &DirectoryArgs) -> anyhow::Result<Option<SecretString>> {
    if let Some(var) = &args.directory_password_env {
        let value = std::env::var(var).map_err(|_| {
            anyhow!("--directory-password-env {var}: the environment variable {var} is not set")
        })?;
        if value.is_empty() {
            bail!("--directory-password-env {var}: the environment variable {var} is empty");
        }
        return Ok(Some(SecretString::from(value)));
    }
    if let Some(path) = &args.directory_password_file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "--directory-password-file {}: cannot read it",
                path.display()
            )
        })?;
        let line = text.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            bail!(
                "--directory-password-file {}: the first line is empty",
                path.display()
            );
        }
        return Ok(Some(SecretString::from(line)));
    }
    Ok(None)
}

/// Binds, reads the base and every recipient: what `directory test` shows, and what
/// `endpoint new|set` checks before storing a directory.
pub async fn test_settings(d: &SourceDirectory, password: &SecretString) -> anyhow::Result<Record> {
    let mut reader = DirectoryReader::connect(d, password).await?;
    let base = reader.check_base().await?;
    let recipients = reader.recipients().await?;
    reader.unbind().await;
    let count = |k: RecipientKind| recipients.iter().filter(|r| r.kind == k).count();
    Ok(Record::new()
        .with("Result", "Success")
        .with("Directory", d.url.clone())
        .with("DirectoryBase", base.base_dn)
        .with("DirectoryBind", d.bind_dn.clone())
        .with("DirectoryProfile", d.profile.as_str())
        .with(
            "Security",
            if d.url.to_ascii_lowercase().starts_with("ldaps://") {
                "Tls"
            } else if d.starttls {
                "StartTls"
            } else {
                "None"
            },
        )
        .with("NamingContexts", base.naming_contexts)
        .with("Recipients", recipients.len())
        .with("Mailboxes", count(RecipientKind::Mailbox))
        .with("MailUsers", count(RecipientKind::MailUser))
        .with("MailContacts", count(RecipientKind::MailContact))
        .with(
            "DistributionGroups",
            count(RecipientKind::DistributionGroup),
        )
        .with("SecurityGroups", count(RecipientKind::SecurityGroup)))
}

async fn stored(ctx: &Ctx, endpoint: &str) -> anyhow::Result<(SourceDirectory, SecretString)> {
    let e = ctx.store.endpoint(endpoint).await?.with_context(|| {
        format!("endpoint '{endpoint}' was not found; `cutover endpoint get` lists them")
    })?;
    let d = ctx
        .store
        .endpoint_directory(e.name.as_str())
        .await?
        .with_context(|| {
            format!(
                "endpoint '{endpoint}' has no source directory; add one with \
                 `cutover endpoint set {endpoint} --directory ldaps://HOST --directory-base DN \
                 --directory-bind DN --directory-password-file FILE`"
            )
        })?;
    let pw = ctx
        .store
        .endpoint_directory_password(e.name.as_str())
        .await?;
    Ok((d, pw))
}

/// The endpoint's recipients, of one kind or all.
pub async fn get(
    ctx: &Ctx,
    endpoint: &str,
    kind: Option<RecipientKind>,
    members: bool,
) -> anyhow::Result<Vec<Record>> {
    let (d, pw) = stored(ctx, endpoint).await?;
    let mut reader = DirectoryReader::connect(&d, &pw).await?;
    let recipients: Vec<Recipient> = reader.recipients().await?;
    reader.unbind().await;
    Ok(recipients
        .iter()
        .filter(|r| kind.is_none_or(|k| r.kind == k))
        .map(|r| Record::from_view(&RecipientView::new(r, members)))
        .collect())
}

/// The clap front end.
pub async fn run(ctx: &Ctx, command: DirectoryCommand) -> anyhow::Result<()> {
    match command {
        DirectoryCommand::Get {
            endpoint,
            kind,
            members,
        } => {
            let kind = kind
                .map(|k| k.parse().map_err(|e: String| anyhow!("--kind: {e}")))
                .transpose()?;
            ctx.print(&get(ctx, &endpoint, kind, members).await?, false)
        }
        DirectoryCommand::Test { endpoint } => {
            let (d, pw) = stored(ctx, &endpoint).await?;
            let record = test_settings(&d, &pw).await.with_context(|| {
                format!("the directory of endpoint '{endpoint}' did not pass the test")
            })?;
            ctx.print(&[record], true)
        }
    }
}
