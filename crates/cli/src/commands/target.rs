//! `cutover target set|get`.

use anyhow::Context;
use chrono::Utc;
use cutover_model::Target;

use super::{directory, verify};
use crate::args::TargetCommand;
use crate::{Ctx, output, views};

pub async fn run(ctx: &Ctx, command: TargetCommand) -> anyhow::Result<()> {
    match command {
        TargetCommand::Set(set) => {
            let args = &set.server;
            let mut connection = verify::connection(args)?;
            connection.dav = super::dav::settings_from_args(None, &set.dav)?;
            // The target's directory: the same options, settings and test as a source's.
            let directory = directory::settings_from_args(None, &set.directory)?.map(|(d, pw)| {
                (
                    cutover_model::SourceDirectory {
                        provision: set.directory_provision,
                        ..d
                    },
                    pw.expect("a new directory has its password"),
                )
            });
            if let Some((d, _)) = &directory
                && d.provision
                && d.profile != cutover_model::DirectoryProfile::OpenLdap
            {
                anyhow::bail!(
                    "--directory-provision writes into an OpenLDAP directory \
                     (--directory-profile openldap); writing into {} is not built yet",
                    d.profile
                );
            }
            if let Some((d, _)) = &directory
                && d.provision
                && d.is_plaintext()
                && !cutover_model::endpoint::is_loopback(d.host())
            {
                anyhow::bail!(
                    "--directory-provision sets the users' initial passwords over this connection, \
                     and {} is plain LDAP; use ldaps:// or --directory-starttls",
                    d.url
                );
            }
            let pw = verify::secret(args, "Target admin password: ")?;
            if !args.skip_verification {
                let summary = verify::check(&connection, &pw, args.test_mailbox.as_deref())
                    .await
                    .context("the target server did not pass the test (use --skip-verification to store it anyway)")?;
                output::note(&format!("target verified: {summary}"));
            }
            let target = Target {
                connection,
                updated_at: Utc::now(),
                // A new target is probed again unless the admin says.
                folds_case: match set.folder_case.as_str() {
                    "sensitive" => Some(false),
                    "insensitive" => Some(true),
                    _ => None,
                },
            };
            if let Some((d, dpw)) = &directory
                && !args.skip_verification
            {
                let tested = directory::test_settings(d, dpw).await.context(
                    "the target's directory did not pass the test (use --skip-verification to store it anyway)",
                )?;
                output::note(&format!(
                    "target directory verified: bound to {} as {}, {} recipients under {}",
                    d.url,
                    d.bind_dn,
                    tested.get("Recipients").cloned().unwrap_or_default(),
                    d.base_dn
                ));
            }
            if let Some(dav) = &target.connection.dav
                && !args.skip_verification
            {
                super::dav::verify("the target", dav).await?;
            }
            ctx.store.set_target(&target, &pw).await?;
            // `target set` replaces the DAV settings too: none given, none kept.
            ctx.store
                .set_target_dav(target.connection.dav.as_ref())
                .await?;
            // `target set` replaces the target as a whole: no directory given, none kept.
            ctx.store
                .set_target_directory(directory.as_ref().map(|(d, p)| (d, p)))
                .await?;
            let stored = ctx.store.target_directory().await?;
            ctx.print(&[views::target(&target, stored.as_ref())], true)
        }
        TargetCommand::Get => {
            let target =
                ctx.store.target().await?.context(
                    "no target is set; run `cutover target set --server ... --admin ...`",
                )?;
            let stored = ctx.store.target_directory().await?;
            ctx.print(&[views::target(&target, stored.as_ref())], true)
        }
    }
}
