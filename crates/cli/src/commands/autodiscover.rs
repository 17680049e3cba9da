//! `--autodiscover --email ADDRESS` for `test-server` and `endpoint new`: the discovery
//! (crate `cutover-discover`) turned into connection settings.

use std::net::{IpAddr, SocketAddr};
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

/// What `--autodiscover` needs, parsed: the address, and where to ask.
#[derive(Debug, Clone)]
pub struct Autodiscover {
    pub email: String,
    /// `--dns-server`: ask it instead of the system's resolver.
    pub dns_server: Option<SocketAddr>,
    /// The HTTPS port of the autoconfig and Autodiscover hosts (443).
    pub https_port: u16,
    /// The port (and its security) to try on guessed host names instead of 993 and 143.
    pub guess_port: Option<(u16, Security)>,
    /// `--allow-redirect`: hosts outside the domain that may get the admin's login.
    pub allowed_hosts: Vec<String>,
    /// `--allow-plaintext`: settings without TLS may be used.
    pub allow_plaintext: bool,
}

/// Where a server is: given, or found from an address. `like` holds the rest of the
/// settings a found server gets (admin, impersonation, CA, compression).
#[derive(Debug, Clone)]
pub enum Server {
    Given(Connection),
    Discover {
        find: Autodiscover,
        like: Connection,
    },
}

/// The server to connect to; with the discovery when there was one (its connection is
/// `None` when no method found a server).
pub struct Located {
    pub connection: Option<Connection>,
    /// The addresses the resolver of `--dns-server` gave for the host found; empty
    /// when the system's resolver is to be used on connect.
    pub ips: Vec<IpAddr>,
    pub discovery: Option<Discovery>,
}

impl Server {
    /// The clap form: `--server ...`, or `--autodiscover --email ...`.
    pub fn from_args(server: &ServerArgs, args: &AutodiscoverArgs) -> anyhow::Result<Server> {
        if !args.autodiscover {
            return Ok(Server::Given(verify::connection(server)?));
        }
        let email = args
            .email
            .clone()
            .context("--autodiscover needs --email ADDRESS")?;
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
        Ok(Server::Discover {
            find: Autodiscover {
                email,
                dns_server: args.dns.dns_server,
                https_port: args.autodiscover_port,
                guess_port,
                allowed_hosts: args.allow_redirect.clone(),
                allow_plaintext: args.allow_plaintext,
            },
            like: verify::connection_to(server, "", 0, Security::Tls)?,
        })
    }

    /// Runs the discovery, if any.
    pub async fn locate(&self, admin_password: &SecretString) -> anyhow::Result<Located> {
        match self {
            Server::Given(c) => Ok(Located {
                connection: Some(c.clone()),
                ips: Vec::new(),
                discovery: None,
            }),
            Server::Discover { find, like } => {
                let (discovery, connection) = discover(find, like, admin_password).await?;
                Ok(Located {
                    connection,
                    ips: discovery.addresses.clone(),
                    discovery: Some(discovery),
                })
            }
        }
    }
}

/// Runs the discovery for the address; with the connection it found, if any.
pub async fn discover(
    find: &Autodiscover,
    like: &Connection,
    admin_password: &SecretString,
) -> anyhow::Result<(Discovery, Option<Connection>)> {
    let tls = TlsOptions {
        ca_file: like.ca_file.clone().map(Into::into),
    }
    .client_config()?;
    let opts = DiscoverOptions {
        dns: Dns::new(find.dns_server)?,
        tls,
        https_port: find.https_port,
        guess_port: find.guess_port,
        // An OAuth application's secret is for its token endpoint only.
        credentials: like
            .oauth
            .is_none()
            .then(|| (like.admin.clone(), admin_password.clone())),
        allowed_hosts: find.allowed_hosts.clone(),
        allow_plaintext: find.allow_plaintext,
        timeout: Duration::from_secs(10),
    };
    let discovery = cutover_discover::discover(&find.email, &opts).await?;
    let connection = discovery.found().map(|(_, s)| Connection {
        server: s.host.clone(),
        port: s.port,
        security: s.security,
        ..like.clone()
    });
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

/// The sentence that says what was found, or why nothing was; then what discovery
/// did not do without the admin's consent, with the option that allows it.
pub fn outcome(d: &Discovery) -> String {
    let mut text = found_or_not(d);
    for hint in d.hints() {
        text.push_str("\nnot done: ");
        text.push_str(&hint);
    }
    text
}

fn found_or_not(d: &Discovery) -> String {
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
