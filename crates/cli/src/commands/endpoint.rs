//! `cutover endpoint new|get|set|remove` (New-/Get-/Set-/Remove-MigrationEndpoint).

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use cutover_model::{Endpoint, Name};
use cutover_store::EndpointDiscovery;

use super::{autodiscover, verify};
use crate::args::EndpointCommand;
use crate::{Ctx, password, views};

pub async fn run(ctx: &Ctx, command: EndpointCommand) -> anyhow::Result<()> {
    match command {
        EndpointCommand::New {
            name,
            server,
            discover,
            max_concurrent_migrations,
            max_concurrent_incremental_syncs,
        } => {
            let name = Name::parse("endpoint", &name)?;
            Endpoint::check_limits(max_concurrent_migrations, max_concurrent_incremental_syncs)
                .map_err(|e| anyhow!(e))?;
            if ctx.store.endpoint(name.as_str()).await?.is_some() {
                bail!(
                    "endpoint '{name}' already exists; change it with `cutover endpoint set {name} ...`"
                );
            }
            let pw = password::require(&server.password, "Source admin password: ")?;
            let (connection, ips, discovered) = if discover.autodiscover {
                let (found, connection) = autodiscover::discover(&server, &discover, &pw).await?;
                let connection = connection.with_context(|| autodiscover::outcome(&found))?;
                eprintln!("{}", autodiscover::outcome(&found));
                let discovered = found.found().map(|(method, _)| EndpointDiscovery {
                    endpoint: name.to_string(),
                    email: found.email.clone(),
                    method: method.as_str().to_string(),
                    discovered_at: Utc::now(),
                });
                (connection, found.addresses, discovered)
            } else {
                (verify::connection(&server)?, Vec::new(), None)
            };
            if !server.skip_verification {
                let summary = verify::check_at(&connection, &ips, &pw, server.test_mailbox.as_deref())
                    .await
                    .with_context(|| {
                        format!("endpoint '{name}' did not pass the test (use --skip-verification to create it anyway)")
                    })?;
                eprintln!("endpoint verified: {summary}");
            }
            let endpoint = Endpoint {
                name,
                connection,
                max_concurrent_migrations,
                max_concurrent_incremental_syncs,
                created_at: Utc::now(),
            };
            ctx.store.insert_endpoint(&endpoint, &pw).await?;
            if let Some(d) = &discovered {
                ctx.store.set_endpoint_discovery(d).await?;
            }
            ctx.print(&[views::endpoint(&endpoint, discovered.as_ref())], true)
        }
        EndpointCommand::Get { name: Some(name) } => {
            let e = ctx.store.endpoint(&name).await?.with_context(|| {
                format!("endpoint '{name}' was not found; `cutover endpoint get` lists them")
            })?;
            let d = ctx.store.endpoint_discovery(&name).await?;
            ctx.print(&[views::endpoint(&e, d.as_ref())], true)
        }
        EndpointCommand::Get { name: None } => {
            let mut all = Vec::new();
            for e in ctx.store.endpoints().await? {
                let d = ctx.store.endpoint_discovery(e.name.as_str()).await?;
                all.push(views::endpoint(&e, d.as_ref()));
            }
            ctx.print(&all, false)
        }
        EndpointCommand::Set {
            name,
            server,
            port,
            security,
            admin,
            password: password_args,
            impersonation,
            ca_file,
            compression,
            max_concurrent_migrations,
            max_concurrent_incremental_syncs,
            test_mailbox,
            skip_verification,
        } => {
            let mut e = ctx
                .store
                .endpoint(&name)
                .await?
                .with_context(|| format!("endpoint '{name}' was not found"))?;
            let c = &mut e.connection;
            let connection_changed = server.is_some()
                || port.is_some()
                || security.is_some()
                || admin.is_some()
                || impersonation.is_some()
                || ca_file.is_some()
                || compression.is_some()
                || password_args.password_env.is_some()
                || password_args.password_file.is_some();
            let server_changed = server.is_some() || port.is_some() || security.is_some();
            if let Some(v) = server {
                c.server = v;
            }
            if let Some(v) = security {
                c.security = v.parse().map_err(|e: String| anyhow!("--security: {e}"))?;
            }
            if let Some(v) = port {
                c.port = v;
            }
            if let Some(v) = admin {
                c.admin = v;
            }
            if let Some(v) = impersonation {
                c.impersonation = v
                    .parse()
                    .map_err(|e: String| anyhow!("--impersonation: {e}"))?;
            }
            if let Some(p) = ca_file {
                c.ca_file = verify::ca_file(Some(&p))?;
            }
            if let Some(v) = compression {
                c.compression = v
                    .parse()
                    .map_err(|e: String| anyhow!("--compression: {e}"))?;
            }
            if let Some(v) = max_concurrent_migrations {
                e.max_concurrent_migrations = v;
            }
            if let Some(v) = max_concurrent_incremental_syncs {
                e.max_concurrent_incremental_syncs = v;
            }
            Endpoint::check_limits(
                e.max_concurrent_migrations,
                e.max_concurrent_incremental_syncs,
            )
            .map_err(|e| anyhow!(e))?;
            // Only prompt when a password was asked for; otherwise keep the stored one.
            let new_pw =
                if password_args.password_env.is_some() || password_args.password_file.is_some() {
                    password::read(&password_args, "Source admin password: ")?
                } else {
                    None
                };
            if connection_changed && !skip_verification {
                let pw = match &new_pw {
                    Some(p) => p.clone(),
                    None => ctx.store.endpoint_password(e.name.as_str()).await?,
                };
                let summary = verify::check(&e.connection, &pw, test_mailbox.as_deref())
                    .await
                    .with_context(|| {
                        format!("the new settings of endpoint '{name}' did not pass the test")
                    })?;
                eprintln!("endpoint verified: {summary}");
            }
            ctx.store.update_endpoint(&e, new_pw.as_ref()).await?;
            // Settings typed by hand are no longer the discovered ones.
            if server_changed {
                ctx.store.clear_endpoint_discovery(e.name.as_str()).await?;
            }
            let d = ctx.store.endpoint_discovery(e.name.as_str()).await?;
            ctx.print(&[views::endpoint(&e, d.as_ref())], true)
        }
        EndpointCommand::Remove { name } => {
            ctx.store.remove_endpoint(&name).await?;
            eprintln!("endpoint '{name}' removed");
            Ok(())
        }
    }
}
