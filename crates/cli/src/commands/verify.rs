//! Testing stored settings before they are saved: connect, log in as the admin (or
//! as the admin acting for a test mailbox), open INBOX.

use anyhow::{Context, anyhow};
use cutover_imap::{Credentials, MailboxName, Session};
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

/// Connects and logs in; returns a one-line summary of what was proven.
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
    let (creds, what) = match test_mailbox {
        Some(mailbox) => (
            credentials::credentials_for(c, admin_password, mailbox, None)
                .map_err(|e| anyhow!(e))?,
            format!("{} opened the mailbox {mailbox}", c.admin),
        ),
        None => (
            match c.impersonation {
                Impersonation::Authzid => Credentials::Plain {
                    authzid: None,
                    authcid: c.admin.clone(),
                    password: admin_password.clone(),
                },
                _ => Credentials::Login {
                    username: c.admin.clone(),
                    password: admin_password.clone(),
                },
            },
            format!("{} logged in", c.admin),
        ),
    };
    session
        .authenticate(&creds)
        .await
        .with_context(|| match test_mailbox {
            Some(m) => format!(
                "the admin {} cannot open the mailbox {m} with impersonation {} \
             (check the password and the admin's right on that mailbox)",
                c.admin, c.impersonation
            ),
            None => format!(
                "the admin {} cannot log in; if this account can only act for others \
             (a Dovecot master user), give --test-mailbox ADDRESS to test it on a mailbox",
                c.admin
            ),
        })?;
    let inbox = session
        .examine(&MailboxName::from_wire(b"INBOX".to_vec()))
        .await
        .context("logged in, but INBOX cannot be opened")?;
    let _ = session.logout().await;
    Ok(format!("{what}; INBOX holds {} messages", inbox.exists))
}
