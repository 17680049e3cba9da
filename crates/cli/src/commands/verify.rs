//! Testing stored settings before they are saved: connect, log in as the admin (or
//! as the admin acting for a test mailbox), open INBOX.

use anyhow::{Context, anyhow};
use cutover_imap::{Limits, MailboxName, Session};
use cutover_model::{Connection, Impersonation, Security};
use cutover_sync::credentials;
use secrecy::SecretString;

use crate::args::ServerArgs;

/// Builds a connection from command-line arguments, with clear errors.
pub fn connection(args: &ServerArgs) -> anyhow::Result<Connection> {
    let server = args
        .server
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            anyhow!("--server is required (test-server and endpoint new also take --autodiscover --email ADDRESS)")
        })?;
    let security = security(args)?.unwrap_or(Security::Tls);
    connection_to(
        args,
        server,
        args.port.unwrap_or(default_port(security)),
        security,
    )
}

/// `--security`, when given.
pub fn security(args: &ServerArgs) -> anyhow::Result<Option<Security>> {
    args.security
        .as_deref()
        .map(|s| s.parse().map_err(|e: String| anyhow!("--security: {e}")))
        .transpose()
}

/// A connection to a given server with the rest (admin, impersonation, CA, compression)
/// from the arguments: for settings found by autodiscover.
pub fn connection_to(
    args: &ServerArgs,
    server: &str,
    port: u16,
    security: Security,
) -> anyhow::Result<Connection> {
    let impersonation: Impersonation = args
        .impersonation
        .parse()
        .map_err(|e: String| anyhow!("--impersonation: {e}"))?;
    Ok(Connection {
        server: server.to_string(),
        port,
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

/// The step of a connection test that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TCP, TLS (or STARTTLS) and the greeting.
    Connect,
    /// The admin acting for the test mailbox.
    Login,
    /// Opening the mailbox's INBOX.
    OpenMailbox,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Connect => "Connect",
            Step::Login => "Login",
            Step::OpenMailbox => "OpenMailbox",
        }
    }
}

/// What a connection test proved, or where it stopped.
#[derive(Debug, Clone)]
pub struct Probe {
    pub failed: Option<(Step, String)>,
    /// What the server advertised (after login when there was one).
    pub capabilities: Vec<String>,
    pub inbox_messages: Option<u32>,
    pub summary: String,
}

/// Connects (TLS checked strictly) and, given a test mailbox, opens it as the admin
/// acting for its owner. Never fails: the failed step and why are in the result.
///
/// It connects to `ips` (resolved by the resolver the command was given) when there are
/// some, else to the host name; TLS is verified against the host name either way.
pub async fn probe_at(
    c: &Connection,
    ips: &[std::net::IpAddr],
    admin_password: &SecretString,
    test_mailbox: Option<&str>,
) -> Probe {
    let mut probe = Probe {
        failed: None,
        capabilities: Vec::new(),
        inbox_messages: None,
        summary: String::new(),
    };
    let addr = credentials::server_addr(c);
    let tls = credentials::tls_options(c);
    let connected = match Limits::from_env() {
        Ok(limits) => Session::connect_limited(&addr, ips, &tls, limits).await,
        Err(e) => Err(e),
    };
    let mut session = match connected {
        Ok(s) => s,
        Err(e) => {
            probe.failed = Some((
                Step::Connect,
                format!(
                    "cannot connect to {}:{} ({}): {e}",
                    c.server, c.port, c.security
                ),
            ));
            return probe;
        }
    };
    probe.capabilities = session.capabilities().iter().map(str::to_string).collect();
    let connected = format!("connected to {}:{} ({})", c.server, c.port, c.security);
    // Logging in needs a mailbox to act for: an account that only acts for others (a
    // Dovecot master user) cannot log in as itself, and a failed attempt would only cost
    // the server's failure delay.
    let mailbox = match (test_mailbox, &c.impersonation) {
        (_, Impersonation::PerUser) => {
            let _ = session.logout().await;
            probe.summary = format!(
                "{connected}; logins are per user, so they are tested when each mailbox syncs"
            );
            return probe;
        }
        (None, _) => {
            let _ = session.logout().await;
            probe.summary = format!(
                "{connected}; the admin's impersonation is not tested: give a test mailbox to test it"
            );
            return probe;
        }
        (Some(m), _) => m,
    };
    let login = match credentials::credentials_for(c, admin_password, mailbox, None) {
        Ok(creds) => session
            .authenticate(&creds)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = login {
        probe.failed = Some((
            Step::Login,
            format!(
                "the admin {} cannot open the mailbox {mailbox} with impersonation {} \
                 (check the password and the admin's right on that mailbox): {e}",
                c.admin, c.impersonation
            ),
        ));
        return probe;
    }
    probe.capabilities = session.capabilities().iter().map(str::to_string).collect();
    match session
        .examine(&MailboxName::from_wire(b"INBOX".to_vec()))
        .await
    {
        Ok(inbox) => {
            probe.inbox_messages = inbox.exists;
            let holds = inbox
                .exists
                .map_or_else(|| "an unknown number of".to_string(), |n| n.to_string());
            probe.summary = format!(
                "{connected}; {} opened the mailbox {mailbox}, whose INBOX holds {holds} messages",
                c.admin
            );
        }
        Err(e) => {
            probe.failed = Some((
                Step::OpenMailbox,
                format!("logged in as {mailbox}, but its INBOX cannot be opened: {e}"),
            ));
        }
    }
    let _ = session.logout().await;
    probe
}

/// [`probe_at`] as an error for the commands that store settings.
pub async fn check(
    c: &Connection,
    admin_password: &SecretString,
    test_mailbox: Option<&str>,
) -> anyhow::Result<String> {
    check_at(c, &[], admin_password, test_mailbox).await
}

/// [`check`] connecting to resolved addresses (see [`probe_at`]).
pub async fn check_at(
    c: &Connection,
    ips: &[std::net::IpAddr],
    admin_password: &SecretString,
    test_mailbox: Option<&str>,
) -> anyhow::Result<String> {
    let p = probe_at(c, ips, admin_password, test_mailbox).await;
    match p.failed {
        Some((_, why)) => Err(anyhow!(why)),
        None => Ok(p.summary),
    }
}
