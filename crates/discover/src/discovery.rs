//! The discovery itself: each method in turn until one finds an IMAP server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cutover_model::Security;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;

use crate::dns::Dns;
use crate::pox::PoxAnswer;
use crate::settings::{Attempt, Discovery, ImapSettings, Method, Withheld, email_domain};
use crate::{autoconfig, mx, pox, srv, trust};

/// How discovery reaches the outside.
#[derive(Clone)]
pub struct DiscoverOptions {
    pub dns: Dns,
    /// Trust for HTTPS (the same roots and `--ca-file` as IMAP).
    pub tls: Arc<rustls::ClientConfig>,
    /// The HTTPS port of `autoconfig.DOMAIN`, `DOMAIN` and `autodiscover.DOMAIN` (443;
    /// the `_autodiscover._tcp` SRV record brings its own).
    pub https_port: u16,
    /// The port (and its security) to try on guessed hosts instead of 993 then 143.
    pub guess_port: Option<(u16, Security)>,
    /// The admin's login for Autodiscover, which asks for one (HTTP Basic over TLS). It
    /// goes only to hosts in the address's domain and to `allowed_hosts`.
    pub credentials: Option<(String, SecretString)>,
    /// Hosts outside the address's domain that may get the admin's login anyway
    /// (`--allow-redirect HOST`: an Autodiscover service run by a hoster).
    pub allowed_hosts: Vec<String>,
    /// Use settings without TLS (`--allow-plaintext`); otherwise they are withheld.
    pub allow_plaintext: bool,
    pub timeout: Duration,
}

/// Discovery cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("--email '{0}' is not an address (user@domain)")]
    NotAnAddress(String),
    #[error("cannot set up HTTPS for autodiscover: {0}")]
    Http(String),
}

/// Tries SRV, autoconfig, Autodiscover, then MX guesses for `email`; every method tried
/// is in the result with what it saw. Failing lookups are reported, not raised.
pub async fn discover(email: &str, opts: &DiscoverOptions) -> Result<Discovery, DiscoverError> {
    let (_, domain) =
        email_domain(email).ok_or_else(|| DiscoverError::NotAnAddress(email.to_string()))?;
    let http = http_client(opts, true)?;
    // Autodiscover's own redirects (HTTP 30x) are followed by hand, each one checked
    // before the admin's login goes along.
    let pox_http = http_client(opts, false)?;
    let mut discovery = Discovery {
        email: email.trim().to_string(),
        domain: domain.clone(),
        attempts: Vec::new(),
        addresses: Vec::new(),
    };
    for method in Method::ALL {
        let attempt = match method {
            Method::Srv => by_srv(&domain, opts).await,
            Method::Autoconfig => by_autoconfig(email.trim(), &domain, opts, &http).await,
            Method::Autodiscover => by_autodiscover(email.trim(), &domain, opts, &pox_http).await,
            Method::MxGuess => by_mx_guess(&domain, opts).await,
        };
        let mut attempt = attempt;
        attempt.withhold_plaintext(opts.allow_plaintext);
        let found = attempt.found.is_some();
        discovery.attempts.push(attempt);
        if found {
            break;
        }
    }
    if let Some((_, settings)) = discovery.found() {
        let host = settings.host.clone();
        discovery.addresses = opts.dns.ips(&host).await.unwrap_or_default();
    }
    Ok(discovery)
}

fn http_client(
    opts: &DiscoverOptions,
    follow_redirects: bool,
) -> Result<reqwest::Client, DiscoverError> {
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured((*opts.tls).clone())
        .https_only(true)
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")));
    if !follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    if opts.dns.server().is_some() {
        // A proxy would resolve names itself, not with the server we were given.
        b = b.dns_resolver(opts.dns.clone()).no_proxy();
    }
    b.build().map_err(|e| DiscoverError::Http(chain(&e)))
}

/// An error with its causes, on one line (reqwest hides the TLS reason in a source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

async fn by_srv(domain: &str, opts: &DiscoverOptions) -> Attempt {
    let mut attempt = Attempt::new(Method::Srv);
    for (service, security) in [
        ("_imaps._tcp", Security::Tls),
        ("_imap._tcp", Security::StartTls),
    ] {
        let name = format!("{service}.{domain}");
        let records = match opts.dns.srv(&name).await {
            Ok(r) => r,
            Err(e) => {
                attempt.steps.push(format!("{name}: {e}"));
                continue;
            }
        };
        if records.is_empty() {
            attempt.steps.push(format!("{name}: no record"));
            continue;
        }
        let ordered = srv::order(&records);
        if ordered.is_empty() {
            attempt
                .steps
                .push(format!("{name}: target '.', the service is not offered"));
            continue;
        }
        for r in ordered {
            if !has_address(&mut attempt, &r.target, opts).await {
                continue;
            }
            attempt
                .steps
                .push(format!("{name}: {}:{} ({security})", r.target, r.port));
            attempt.found = Some(ImapSettings {
                host: r.target,
                port: r.port,
                security,
                username: None,
            });
            return attempt;
        }
    }
    attempt
}

/// Whether `host` resolves; says so in the attempt when it does not.
async fn has_address(attempt: &mut Attempt, host: &str, opts: &DiscoverOptions) -> bool {
    match opts.dns.ips(host).await {
        Ok(ips) if !ips.is_empty() => true,
        Ok(_) => {
            attempt
                .steps
                .push(format!("{host}: no address {}", opts.dns.describe()));
            false
        }
        Err(e) => {
            attempt.steps.push(e.to_string());
            false
        }
    }
}

fn https_url(host: &str, port: u16, path: &str) -> String {
    if port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{port}{path}")
    }
}

async fn by_autoconfig(
    email: &str,
    domain: &str,
    opts: &DiscoverOptions,
    http: &reqwest::Client,
) -> Attempt {
    let mut attempt = Attempt::new(Method::Autoconfig);
    let places = [
        (
            format!("autoconfig.{domain}"),
            format!("/mail/config-v1.1.xml?emailaddress={}", query_escape(email)),
        ),
        (
            domain.to_string(),
            "/.well-known/autoconfig/mail/config-v1.1.xml".to_string(),
        ),
    ];
    for (host, path) in places {
        if !has_address(&mut attempt, &host, opts).await {
            continue;
        }
        let url = https_url(&host, opts.https_port, &path);
        let text = match get_text(http.get(&url)).await {
            Ok(t) => t,
            Err(why) => {
                attempt.steps.push(format!("{url}: {why}"));
                continue;
            }
        };
        match autoconfig::parse(&text, email) {
            Ok(servers) => {
                let s = pick(servers, opts.allow_plaintext);
                attempt
                    .steps
                    .push(format!("{url}: {}:{} ({})", s.host, s.port, s.security));
                attempt.found = Some(s);
                return attempt;
            }
            Err(e) => attempt.steps.push(format!("{url}: {e}")),
        }
    }
    attempt
}

/// The first of a method's settings that may be used with the admin's password (the
/// publisher's order otherwise), or the first: `withhold_plaintext` then says why not.
fn pick(settings: Vec<ImapSettings>, allow_plaintext: bool) -> ImapSettings {
    let usable = settings
        .iter()
        .position(|s| trust::may_use_with_password(s.security, allow_plaintext))
        .unwrap_or(0);
    settings
        .into_iter()
        .nth(usable)
        .expect("the parsers return some settings")
}

/// Sends a request; the body of a 200 answer, or why there is none.
async fn get_text(req: reqwest::RequestBuilder) -> Result<String, String> {
    let resp = req.send().await.map_err(|e| chain(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    resp.text().await.map_err(|e| chain(&e))
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Redirects followed before giving up (Outlook stops at 10; loops are the usual cause).
const MAX_REDIRECTS: usize = 5;

async fn by_autodiscover(
    email: &str,
    domain: &str,
    opts: &DiscoverOptions,
    http: &reqwest::Client,
) -> Attempt {
    let mut attempt = Attempt::new(Method::Autodiscover);
    const PATH: &str = "/autodiscover/autodiscover.xml";
    let host = format!("autodiscover.{domain}");
    let mut urls = Vec::new();
    if has_address(&mut attempt, &host, opts).await {
        urls.push(https_url(&host, opts.https_port, PATH));
    }
    for url in urls {
        if pox_at(&mut attempt, url, email, domain, opts, http).await {
            return attempt;
        }
    }
    let name = format!("_autodiscover._tcp.{domain}");
    match opts.dns.srv(&name).await {
        Err(e) => attempt.steps.push(format!("{name}: {e}")),
        Ok(records) if records.is_empty() => attempt.steps.push(format!("{name}: no record")),
        Ok(records) => {
            for r in srv::order(&records) {
                if !has_address(&mut attempt, &r.target, opts).await {
                    continue;
                }
                let url = https_url(&r.target, r.port, PATH);
                attempt.steps.push(format!("{name}: {url}"));
                if pox_at(&mut attempt, url, email, domain, opts, http).await {
                    return attempt;
                }
            }
        }
    }
    attempt
}

/// Posts the POX request at `url`, following redirects (`redirectUrl`, `redirectAddr`,
/// HTTP 30x); true when settings were found. Before each POST the host is checked: the
/// admin's login goes only to hosts in `domain` (the address's) or allowed by the
/// admin; at any other host the step stops and says how to allow it.
async fn pox_at(
    attempt: &mut Attempt,
    mut url: String,
    email: &str,
    domain: &str,
    opts: &DiscoverOptions,
    http: &reqwest::Client,
) -> bool {
    let mut email = email.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let host = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        if opts.credentials.is_some()
            && !trust::may_send_credentials(domain, &host, &opts.allowed_hosts)
        {
            attempt.steps.push(format!(
                "POST {url}: not sent: {host} is not in {domain}, and the admin's login goes \
                 there only with {} {host}",
                trust::ALLOW_REDIRECT
            ));
            attempt.withheld.push(Withheld::Credentials { host, url });
            return false;
        }
        let mut req = http
            .post(&url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(pox::request(&email));
        if let Some((user, password)) = &opts.credentials {
            req = req.basic_auth(user, Some(password.expose_secret()));
        }
        let text = match post(req).await {
            Ok(Posted::Body(t)) => t,
            Ok(Posted::Redirect { status, location }) => {
                let next = match reqwest::Url::parse(&url).and_then(|u| u.join(&location)) {
                    Ok(next) => next.to_string(),
                    Err(e) => {
                        attempt.steps.push(format!(
                            "POST {url}: HTTP {status} to '{location}', which is not a URL ({e})"
                        ));
                        return false;
                    }
                };
                if !next.starts_with("https://") {
                    attempt.steps.push(format!(
                        "POST {url}: HTTP {status} to {next}, which is not https; not followed"
                    ));
                    return false;
                }
                attempt
                    .steps
                    .push(format!("POST {url}: HTTP {status} to {next}"));
                url = next;
                continue;
            }
            Err(why) => {
                let hint = if why.contains("401") {
                    " (the admin's name or password was refused)"
                } else {
                    ""
                };
                attempt.steps.push(format!("POST {url}: {why}{hint}"));
                return false;
            }
        };
        match pox::parse(&text) {
            Ok(PoxAnswer::Imap(settings)) => {
                let s = pick(settings, opts.allow_plaintext);
                attempt.steps.push(format!(
                    "POST {url}: {}:{} ({})",
                    s.host, s.port, s.security
                ));
                attempt.found = Some(s);
                return true;
            }
            Ok(PoxAnswer::RedirectAddr(addr)) => {
                attempt
                    .steps
                    .push(format!("POST {url}: redirected to address {addr}"));
                email = addr;
            }
            Ok(PoxAnswer::RedirectUrl(next)) => {
                if !next.starts_with("https://") {
                    attempt.steps.push(format!(
                        "POST {url}: redirected to {next}, which is not https; not followed"
                    ));
                    return false;
                }
                attempt
                    .steps
                    .push(format!("POST {url}: redirected to {next}"));
                url = next;
            }
            Err(e) => {
                attempt.steps.push(format!("POST {url}: {e}"));
                return false;
            }
        }
    }
    attempt
        .steps
        .push(format!("more than {MAX_REDIRECTS} redirects; given up"));
    false
}

/// What a POST brought back.
enum Posted {
    Body(String),
    Redirect { status: u16, location: String },
}

/// Sends a request without following redirects: the body of a 200 answer, where a 30x
/// points, or why there is neither.
async fn post(req: reqwest::RequestBuilder) -> Result<Posted, String> {
    let resp = req.send().await.map_err(|e| chain(&e))?;
    let status = resp.status();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("HTTP {status} without a Location"))?;
        return Ok(Posted::Redirect {
            status: status.as_u16(),
            location: location.to_string(),
        });
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    resp.text().await.map(Posted::Body).map_err(|e| chain(&e))
}

async fn by_mx_guess(domain: &str, opts: &DiscoverOptions) -> Attempt {
    let mut attempt = Attempt::new(Method::MxGuess);
    let records = match opts.dns.mx(domain).await {
        Ok(r) => {
            if r.is_empty() {
                attempt.steps.push(format!("{domain}: no MX record"));
            }
            r
        }
        Err(e) => {
            attempt.steps.push(e.to_string());
            Vec::new()
        }
    };
    let ports: Vec<(u16, Security)> = match opts.guess_port {
        Some(p) => vec![p],
        None => vec![(993, Security::Tls), (143, Security::StartTls)],
    };
    for host in mx::guesses(domain, &records) {
        let ips = match opts.dns.ips(&host).await {
            Ok(ips) if !ips.is_empty() => ips,
            Ok(_) => {
                attempt.steps.push(format!("{host}: no address"));
                continue;
            }
            Err(e) => {
                attempt.steps.push(e.to_string());
                continue;
            }
        };
        for (port, security) in &ports {
            if tcp_open(&ips, *port, opts.timeout.min(PROBE_TIMEOUT)).await {
                attempt
                    .steps
                    .push(format!("{host}: port {port} answers ({security})"));
                attempt.found = Some(ImapSettings {
                    host: host.clone(),
                    port: *port,
                    security: *security,
                    username: None,
                });
                return attempt;
            }
        }
        let tried: Vec<String> = ports.iter().map(|(p, _)| p.to_string()).collect();
        attempt.steps.push(format!(
            "{host}: nothing answers on port {}",
            tried.join(" or ")
        ));
    }
    attempt
}

/// A guessed host that does not answer within this is not the server: guesses are many,
/// and a filtered port would otherwise cost the whole timeout each.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

async fn tcp_open(ips: &[IpAddr], port: u16, limit: Duration) -> bool {
    let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    matches!(
        tokio::time::timeout(limit, TcpStream::connect(&addrs[..])).await,
        Ok(Ok(_))
    )
}
