//! `cutover notify set|show|test`: the SMTP relay of the notification e-mails, set once
//! for the installation. Its password is read from a file, a variable or the prompt,
//! sealed in the state like the target's, and never shown. Sending is
//! `cutover_service::notify`'s.

use anyhow::{Context, bail};
use chrono::Utc;
use cutover_model::{SmtpRelay, SmtpTls};
use cutover_service::notify::{self, Relay};

use crate::args::{NotifyCommand, NotifySetArgs};
use crate::output::{Record, time};
use crate::{Ctx, output, password};

pub async fn run(ctx: &Ctx, command: NotifyCommand) -> anyhow::Result<()> {
    match command {
        NotifyCommand::Set(args) => set(ctx, args).await,
        NotifyCommand::Show => {
            let relay = ctx.store.smtp_relay().await?.context(
                "no SMTP relay is set; run `cutover notify set --smtp-host HOST --from ADDRESS ...`",
            )?;
            let has_password = ctx.store.smtp_relay_password().await?.is_some();
            ctx.print(&[view(&relay, has_password)], true)
        }
        NotifyCommand::Test { address } => {
            let relay = notify::send_test(ctx.store.as_ref(), &address)
                .await
                .context("the test mail was not sent")?;
            output::note(&format!(
                "test mail sent to {address} through {}",
                relay.address()
            ));
            Ok(())
        }
    }
}

async fn set(ctx: &Ctx, args: NotifySetArgs) -> anyhow::Result<()> {
    let tls: SmtpTls = args.tls.parse().map_err(anyhow::Error::msg)?;
    let given_password =
        args.password.password_env.is_some() || args.password.password_file.is_some();
    if args.user.is_none() && given_password {
        bail!("--password-file/--password-env: the password goes with a login; give --user too");
    }
    let password = match &args.user {
        Some(user) => Some(password::require(
            &args.password,
            &format!("Password of {user} at the SMTP relay: "),
        )?),
        None => None,
    };
    // Kept absolute: `run` and `serve` may start elsewhere.
    let ca_file = args
        .ca_file
        .as_ref()
        .map(|p| {
            std::fs::canonicalize(p)
                .with_context(|| format!("--ca-file {}: cannot read it", p.display()))
        })
        .transpose()?;
    let relay = SmtpRelay {
        host: args.smtp_host.trim().to_string(),
        port: args.smtp_port.unwrap_or(tls.default_port()),
        tls,
        from: args.from,
        user: args.user,
        ca_file: ca_file.map(|p| p.display().to_string()),
        updated_at: Utc::now(),
    };
    notify::check_relay(&relay, password.is_some()).map_err(anyhow::Error::msg)?;
    // Reads the CA file as sending will, so a bad one is refused now.
    Relay::new(relay.clone(), password.as_ref())?;
    ctx.store.set_smtp_relay(&relay, password.as_ref()).await?;
    output::note(&format!(
        "SMTP relay {} set; `cutover notify test ADDRESS` sends a test mail through it",
        relay.address()
    ));
    ctx.print(&[view(&relay, password.is_some())], true)
}

fn view(relay: &SmtpRelay, has_password: bool) -> Record {
    Record::new()
        .with("SmtpHost", relay.host.as_str())
        .with("SmtpPort", relay.port)
        .with("Tls", relay.tls.as_str())
        .with("From", relay.from.as_str())
        .with("User", relay.user.clone())
        .with("Password", if has_password { "(set)" } else { "(none)" })
        .with("CaFile", relay.ca_file.clone())
        .with("LastModifiedDateTime", time(Some(relay.updated_at)))
}
