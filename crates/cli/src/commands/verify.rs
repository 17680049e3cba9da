//! Testing stored settings before they are saved: connect, log in as the admin (or
//! as the admin acting for a test mailbox), open INBOX.

use anyhow::{Context, anyhow};
use cutover_imap::{MailboxName, Session};
use cutover_model::{Connection, Impersonation, Security};
use cutover_sync::credentials;
use secrecy::SecretString;

use crate::args::ServerArgs;

/// Builds a connection from command-line arguments, with clear errors.
pub fn connection(args: &ServerArgs) -> anyhow::Result<Connection> {
    let security: Security = args
        .security
        .parse()
        .map_err(|e: String| anyhow!("--security: {e}"))?;
    let impersonation: Impersonation = args
        .impersonation
        .parse()
        .map_err(|e: String| anyhow!("--impersonation: {e}"))?;
    Ok(Connection {
        server: args.server.trim().to_string(),
        port: args.port.unwrap_or(default_port(security)),
        security,
        admin: args.admin.clone(),
        impersonation,
        ca_file: ca_file(args.ca_file.as_deref())?,
        compression: args
            .compression
            .parse()
            .map_err(|e: String| anyhow!("--compression: {e}"))?,
    })
}

pub fn default_port(security: Security) -> u16 {
    match security {
        Security::Tls => 993,
        Security::None | Security::StartTls => 143,
    }
}

/// The CA file as an absolute path, checked to be readable now rather than at 3 am.
pub fn ca_file(path: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        let abs = std::fs::canonicalize(p)
            .with_context(|| format!("--ca-file {}: cannot read it", p.display()))?;
        Ok(abs.display().to_string())
    })
    .transpose()
}

/// Connects (TLS checked strictly) and, given a test mailbox, opens it as the admin
/// acting for its owner; returns a one-line summary of what was proven.
pub async fn check(
    c: &Connection,
    admin_password: &SecretString,
    test_mailbox: Option<&str>,
) -> anyhow::Result<String> {
    let addr = credentials::server_addr(c);
    let tls = credentials::tls_options(c);
    let mut session = Session::connect(&addr, &tls)
        .await
        .with_context(|| format!("cannot connect to {}:{} ({})", c.server, c.port, c.security))?;
    let connected = format!("connected to {}:{} ({})", c.server, c.port, c.security);
    // Logging in needs a mailbox to act for: an account that only acts for others (a
    // Dovecot master user) cannot log in as itself, and a failed attempt would only cost
    // the server's failure delay.
    let mailbox = match (test_mailbox, &c.impersonation) {
        (_, Impersonation::PerUser) => {
            let _ = session.logout().await;
            return Ok(format!(
                "{connected}; logins are per user, so they are tested when each mailbox syncs"
            ));
        }
        (None, _) => {
            let _ = session.logout().await;
            return Ok(format!(
                "{connected}; the admin's impersonation is not tested: give --test-mailbox ADDRESS to test it"
            ));
        }
        (Some(m), _) => m,
    };
    let creds =
        credentials::credentials_for(c, admin_password, mailbox, None).map_err(|e| anyhow!(e))?;
    session.authenticate(&creds).await.with_context(|| {
        format!(
            "the admin {} cannot open the mailbox {mailbox} with impersonation {} \
             (check the password and the admin's right on that mailbox)",
            c.admin, c.impersonation
        )
    })?;
    let inbox = session
        .examine(&MailboxName::from_wire(b"INBOX".to_vec()))
        .await
        .context("logged in, but INBOX cannot be opened")?;
    let _ = session.logout().await;
    Ok(format!(
        "{connected}; {} opened the mailbox {mailbox}, whose INBOX holds {} messages",
        c.admin, inbox.exists
    ))
}
