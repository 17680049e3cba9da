//! `cutover endpoint new|get|set|remove` (New-/Get-/Set-/Remove-MigrationEndpoint).
//!
//! The functions below take typed parameters and return the objects to show; the clap
//! command (`run`) and the cmdlet shell (`crate::ps`) only differ in how they read
//! their parameters and print the result.

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use cutover_model::{
    Compression, DavSettings, Endpoint, Impersonation, Name, Security, SourceDirectory,
};
use cutover_store::EndpointDiscovery;
use secrecy::SecretString;

use super::autodiscover::{self, Server};
use super::directory::{self, DirectoryChange};
use super::verify;
use crate::args::EndpointCommand;
use crate::output::{self, Record};
use crate::{Ctx, password, views};

/// What New-MigrationEndpoint needs, parsed.
pub struct NewEndpoint {
    pub name: String,
    /// The server, given or to be found by autodiscover.
    pub server: Server,
    pub password: SecretString,
    pub max_concurrent_migrations: u32,
    pub max_concurrent_incremental_syncs: u32,
    pub test_mailbox: Option<String>,
    pub skip_verification: bool,
    /// The source organization's directory and its bind password.
    pub directory: Option<(SourceDirectory, SecretString)>,
    /// The source's CalDAV/CardDAV server.
    pub dav: Option<DavSettings>,
}

/// Set-MigrationEndpoint's changes; `None` keeps the stored value.
#[derive(Default)]
pub struct EndpointChanges {
    pub server: Option<String>,
    pub port: Option<u16>,
    pub security: Option<Security>,
    pub admin: Option<String>,
    pub password: Option<SecretString>,
    pub impersonation: Option<Impersonation>,
    pub ca_file: Option<String>,
    pub compression: Option<Compression>,
    /// New OAuth settings (`Some(None)`: back to the admin's password), as
    /// [`verify::oauth_change`] makes them from the stored ones.
    pub oauth: Option<OAuthChange>,
    pub max_concurrent_migrations: Option<u32>,
    pub max_concurrent_incremental_syncs: Option<u32>,
    pub test_mailbox: Option<String>,
    pub skip_verification: bool,
    pub directory: Option<DirectoryChange>,
    /// New DAV settings (`Some(None)`: the endpoint has none any more).
    pub dav: Option<Option<DavSettings>>,
}

/// How `endpoint set` changes the OAuth settings: worked out from the stored ones.
pub type OAuthChange = crate::args::OAuthChangeArgs;

/// Finds the server when asked to (autodiscover), tests the settings (unless told not
/// to) and stores the endpoint, with how it was discovered.
pub async fn new(ctx: &Ctx, p: NewEndpoint) -> anyhow::Result<Record> {
    let name = Name::parse("endpoint", &p.name)?;
    Endpoint::check_limits(
        p.max_concurrent_migrations,
        p.max_concurrent_incremental_syncs,
    )
    .map_err(|e| anyhow!(e))?;
    if ctx.store.endpoint(name.as_str()).await?.is_some() {
        bail!("endpoint '{name}' already exists; change it with `cutover endpoint set {name} ...`");
    }
    let located = p.server.locate(&p.password).await?;
    let mut discovered = None;
    if let Some(found) = &located.discovery {
        let outcome = autodiscover::outcome(found);
        if located.connection.is_none() {
            bail!("{outcome}");
        }
        output::note(&outcome);
        discovered = found.found().map(|(method, _)| EndpointDiscovery {
            endpoint: name.to_string(),
            email: found.email.clone(),
            method: method.as_str().to_string(),
            discovered_at: Utc::now(),
        });
    }
    let connection = located.connection.expect("a server, given or found");
    if !p.skip_verification {
        let summary = verify::check_at(
            &connection,
            &located.ips,
            &p.password,
            p.test_mailbox.as_deref(),
        )
        .await
        .with_context(|| {
            format!("endpoint '{name}' did not pass the test (use --skip-verification to create it anyway)")
        })?;
        output::note(&format!("endpoint verified: {summary}"));
    }
    if let Some((d, pw)) = &p.directory
        && !p.skip_verification
    {
        verify_directory(&name, d, pw).await?;
    }
    if let Some(dav) = &p.dav
        && !p.skip_verification
    {
        super::dav::verify(&format!("endpoint '{name}'"), dav).await?;
    }
    let mut connection = connection;
    connection.dav = p.dav.clone();
    let endpoint = Endpoint {
        name,
        connection,
        max_concurrent_migrations: p.max_concurrent_migrations,
        max_concurrent_incremental_syncs: p.max_concurrent_incremental_syncs,
        created_at: Utc::now(),
    };
    ctx.store.insert_endpoint(&endpoint, &p.password).await?;
    if let Some(dav) = &endpoint.connection.dav {
        ctx.store
            .set_endpoint_dav(endpoint.name.as_str(), Some(dav))
            .await?;
    }
    if let Some(d) = &discovered {
        ctx.store.set_endpoint_discovery(d).await?;
    }
    if let Some((d, pw)) = &p.directory {
        ctx.store
            .set_endpoint_directory(endpoint.name.as_str(), d, Some(pw))
            .await?;
    }
    Ok(views::endpoint(
        &endpoint,
        discovered.as_ref(),
        p.directory.as_ref().map(|(d, _)| d),
    ))
}

/// Binds to the directory and reads it, before it is stored.
async fn verify_directory(
    name: &Name,
    d: &SourceDirectory,
    pw: &SecretString,
) -> anyhow::Result<()> {
    let tested = directory::test_settings(d, pw).await.with_context(|| {
        format!(
            "the directory of endpoint '{name}' did not pass the test (use --skip-verification to store it anyway)"
        )
    })?;
    let count = tested.get("Recipients").cloned().unwrap_or_default();
    output::note(&format!(
        "directory verified: bound to {} as {}, {count} recipients under {}",
        d.url, d.bind_dn, d.base_dn
    ));
    Ok(())
}

/// One endpoint by name, or all of them.
pub async fn get(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<Vec<Record>> {
    let endpoints = match name {
        Some(name) => vec![ctx.store.endpoint(name).await?.with_context(|| {
            format!("endpoint '{name}' was not found; `cutover endpoint get` lists them")
        })?],
        None => ctx.store.endpoints().await?,
    };
    let mut all = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let d = ctx.store.endpoint_discovery(e.name.as_str()).await?;
        let dir = ctx.store.endpoint_directory(e.name.as_str()).await?;
        all.push(views::endpoint(&e, d.as_ref(), dir.as_ref()));
    }
    Ok(all)
}

/// Applies the changes; new connection settings are tested before they are stored.
pub async fn set(ctx: &Ctx, name: &str, ch: EndpointChanges) -> anyhow::Result<Record> {
    let mut e = ctx
        .store
        .endpoint(name)
        .await?
        .with_context(|| format!("endpoint '{name}' was not found"))?;
    let c = &mut e.connection;
    let connection_changed = ch.server.is_some()
        || ch.port.is_some()
        || ch.security.is_some()
        || ch.admin.is_some()
        || ch.impersonation.is_some()
        || ch.ca_file.is_some()
        || ch.compression.is_some()
        || ch.oauth.is_some()
        || ch.password.is_some();
    let server_changed = ch.server.is_some() || ch.port.is_some() || ch.security.is_some();
    let admin_given = ch.admin.is_some();
    if let Some(v) = ch.server {
        c.server = v;
    }
    if let Some(v) = ch.security {
        c.security = v;
    }
    if let Some(v) = ch.port {
        c.port = v;
    }
    if let Some(v) = ch.admin {
        c.admin = v;
    }
    if let Some(v) = ch.impersonation {
        c.impersonation = v;
    }
    if let Some(v) = ch.ca_file {
        c.ca_file = Some(v);
    }
    if let Some(v) = ch.compression {
        c.compression = v;
    }
    let was_oauth = c.oauth.is_some();
    if let Some(change) = &ch.oauth
        && let Some(new) = verify::oauth_change(c.oauth.as_ref(), change)?
    {
        if new.is_some() != was_oauth && ch.password.is_none() {
            bail!(
                "switching between a password and an OAuth application needs the new secret: give {}",
                if new.is_some() {
                    "--client-secret-file, --certificate-file or --service-account-key"
                } else {
                    "--password-file or --password-env"
                }
            );
        }
        if new.is_some() && !admin_given && !was_oauth {
            c.admin = new
                .as_ref()
                .map(|a| a.client_id.clone())
                .unwrap_or_default();
        }
        c.oauth = new;
    }
    if ch.oauth.as_ref().is_some_and(|o| o.secret.given()) && c.oauth.is_none() {
        bail!(
            "endpoint '{name}' signs in with a password; an application's secret needs --auth oauth2 and the application's settings"
        );
    }
    if let Some(v) = ch.max_concurrent_migrations {
        e.max_concurrent_migrations = v;
    }
    if let Some(v) = ch.max_concurrent_incremental_syncs {
        e.max_concurrent_incremental_syncs = v;
    }
    Endpoint::check_limits(
        e.max_concurrent_migrations,
        e.max_concurrent_incremental_syncs,
    )
    .map_err(|e| anyhow!(e))?;
    if connection_changed && !ch.skip_verification {
        let pw = match &ch.password {
            Some(p) => p.clone(),
            None => ctx.store.endpoint_password(e.name.as_str()).await?,
        };
        let summary = verify::check(&e.connection, &pw, ch.test_mailbox.as_deref())
            .await
            .with_context(|| {
                format!("the new settings of endpoint '{name}' did not pass the test")
            })?;
        output::note(&format!("endpoint verified: {summary}"));
    }
    match &ch.directory {
        Some(DirectoryChange::Set(d, pw)) if !ch.skip_verification => {
            let stored_pw;
            let pw = match pw {
                Some(p) => p,
                None => {
                    stored_pw = ctx
                        .store
                        .endpoint_directory_password(e.name.as_str())
                        .await?;
                    &stored_pw
                }
            };
            verify_directory(&e.name, d, pw).await?;
        }
        _ => {}
    }
    if let Some(Some(dav)) = &ch.dav
        && !ch.skip_verification
    {
        super::dav::verify(&format!("endpoint '{}'", e.name), dav).await?;
    }
    ctx.store.update_endpoint(&e, ch.password.as_ref()).await?;
    if let Some(dav) = &ch.dav {
        ctx.store
            .set_endpoint_dav(e.name.as_str(), dav.as_ref())
            .await?;
        e.connection.dav = dav.clone();
    }
    match &ch.directory {
        Some(DirectoryChange::Set(d, pw)) => {
            ctx.store
                .set_endpoint_directory(e.name.as_str(), d, pw.as_ref())
                .await?
        }
        Some(DirectoryChange::Remove) => {
            ctx.store.remove_endpoint_directory(e.name.as_str()).await?
        }
        None => {}
    }
    // Settings typed by hand are no longer the discovered ones.
    if server_changed {
        ctx.store.clear_endpoint_discovery(e.name.as_str()).await?;
    }
    let d = ctx.store.endpoint_discovery(e.name.as_str()).await?;
    let dir = ctx.store.endpoint_directory(e.name.as_str()).await?;
    Ok(views::endpoint(&e, d.as_ref(), dir.as_ref()))
}

pub async fn remove(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    ctx.store.remove_endpoint(name).await?;
    eprintln!("endpoint '{name}' removed");
    Ok(())
}

/// The clap front end.
pub async fn run(ctx: &Ctx, command: EndpointCommand) -> anyhow::Result<()> {
    match command {
        EndpointCommand::New {
            name,
            server,
            discover,
            max_concurrent_migrations,
            max_concurrent_incremental_syncs,
            directory: directory_args,
            dav,
        } => {
            let dav = super::dav::settings_from_args(None, &dav)?;
            let directory = directory::settings_from_args(None, &directory_args)?
                .map(|(d, pw)| (d, pw.expect("a new directory has its password")));
            let password = verify::secret(&server, "Source admin password: ")?;
            let record = new(
                ctx,
                NewEndpoint {
                    name,
                    server: Server::from_args(&server, &discover)?,
                    password,
                    max_concurrent_migrations,
                    max_concurrent_incremental_syncs,
                    test_mailbox: server.test_mailbox,
                    skip_verification: server.skip_verification,
                    directory,
                    dav,
                },
            )
            .await?;
            ctx.print(&[record], true)
        }
        EndpointCommand::Get { name } => {
            let single = name.is_some();
            ctx.print(&get(ctx, name.as_deref()).await?, single)
        }
        EndpointCommand::Set {
            name,
            server,
            port,
            security,
            admin,
            password: password_args,
            oauth,
            impersonation,
            ca_file,
            compression,
            max_concurrent_migrations,
            max_concurrent_incremental_syncs,
            test_mailbox,
            skip_verification,
            directory: directory_args,
            remove_directory,
            dav: dav_args,
            remove_dav,
        } => {
            let dav = if remove_dav {
                Some(None)
            } else if dav_args.given() {
                let stored = ctx
                    .store
                    .endpoint(&name)
                    .await?
                    .with_context(|| format!("endpoint '{name}' was not found"))?
                    .connection
                    .dav;
                Some(super::dav::settings_from_args(stored.as_ref(), &dav_args)?)
            } else {
                None
            };
            let directory = if remove_directory {
                Some(DirectoryChange::Remove)
            } else if directory_args.given() {
                let stored = ctx.store.endpoint_directory(&name).await?;
                directory::settings_from_args(stored.as_ref(), &directory_args)?
                    .map(|(d, pw)| DirectoryChange::Set(d, pw))
            } else {
                None
            };
            let changes = EndpointChanges {
                server,
                port,
                security: security
                    .map(|v| v.parse().map_err(|e: String| anyhow!("--security: {e}")))
                    .transpose()?,
                admin,
                // Only prompt when a password was asked for; otherwise keep the stored one.
                // An OAuth application's new secret takes the password's place.
                password: if password_args.password_env.is_some()
                    || password_args.password_file.is_some()
                {
                    password::read(&password_args, "Source admin password: ")?
                } else if oauth.secret.given() {
                    verify::read_oauth_secret(&oauth.secret)?
                } else {
                    None
                },
                oauth: (oauth.changes_settings() || oauth.secret.given()).then(|| *oauth.clone()),
                impersonation: impersonation
                    .map(|v| {
                        v.parse()
                            .map_err(|e: String| anyhow!("--impersonation: {e}"))
                    })
                    .transpose()?,
                ca_file: verify::ca_file(ca_file.as_deref())?,
                compression: compression
                    .map(|v| v.parse().map_err(|e: String| anyhow!("--compression: {e}")))
                    .transpose()?,
                max_concurrent_migrations,
                max_concurrent_incremental_syncs,
                test_mailbox,
                skip_verification,
                directory,
                dav,
            };
            let record = set(ctx, &name, changes).await?;
            ctx.print(&[record], true)
        }
        EndpointCommand::Remove { name } => remove(ctx, &name).await,
    }
}
