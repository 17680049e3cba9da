//! Testing stored settings before they are saved: connect, log in as the admin (or
//! as the admin acting for a test mailbox), open INBOX.

use std::io::IsTerminal;

use anyhow::{Context, anyhow, bail};
use cutover_imap::{ImapError, Limits, MailboxName, Session};
use cutover_model::{
    Connection, Impersonation, OAuthApp, OAuthCredential, OAuthProvider, Security,
};
use cutover_sync::credentials;
use secrecy::{ExposeSecret, SecretString};

use crate::args::{OAuthArgs, OAuthChangeArgs, OAuthSecretArgs, ServerArgs};
use crate::password;

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
    let oauth = oauth_app(&args.oauth)?;
    let admin = match (&args.admin, &oauth) {
        (Some(admin), _) => admin.clone(),
        (None, Some(app)) => app.client_id.clone(),
        (None, None) => bail!(
            "--admin is required: the admin account that acts for every user (or sign in as an OAuth application with --auth oauth2)"
        ),
    };
    Ok(Connection {
        server: server.to_string(),
        port,
        security,
        admin,
        impersonation,
        oauth,
        ca_file: ca_file(args.ca_file.as_deref())?,
        compression: args
            .compression
            .parse()
            .map_err(|e: String| anyhow!("--compression: {e}"))?,
        dav: None,
    })
}

/// The OAuth application of `--auth oauth2`, checked; `None` for password sign-in.
pub fn oauth_app(args: &OAuthArgs) -> anyhow::Result<Option<OAuthApp>> {
    match args.auth.trim().to_ascii_lowercase().as_str() {
        "password" | "basic" => {
            if args.oauth_provider.is_some() || args.secret.given() {
                bail!(
                    "--oauth-provider and the application's secret need --auth oauth2 (the default, --auth password, signs in with the admin's password)"
                );
            }
            return Ok(None);
        }
        "oauth2" | "oauth" => {}
        other => bail!("--auth: unknown sign-in '{other}'; expected password or oauth2"),
    }
    let provider: OAuthProvider = args
        .oauth_provider
        .as_deref()
        .context("--auth oauth2 needs --oauth-provider microsoft, google or generic")?
        .parse()
        .map_err(|e: String| anyhow!("--oauth-provider: {e}"))?;
    let credential = credential_kind(&args.secret);
    let mut client_id = args.client_id.clone().unwrap_or_default();
    let mut token_url = args.token_url.clone();
    if credential == OAuthCredential::ServiceAccountKey
        && let Some(path) = &args.secret.service_account_key
    {
        // Not secret: the service account's address and its token endpoint.
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("--service-account-key {}: cannot read it", path.display()))?;
        let (key, _) = cutover_oauth::read_service_account_key(&json)
            .map_err(|e| anyhow!("--service-account-key {}: {e}", path.display()))?;
        if client_id.is_empty() {
            client_id = key.client_email;
        }
        if token_url.is_none() {
            token_url = key.token_uri;
        }
    }
    let app = OAuthApp {
        provider,
        tenant: args.tenant.clone(),
        client_id,
        credential,
        token_url,
        scope: args.scope.clone(),
    };
    app.check().map_err(|e| anyhow!(e))?;
    Ok(Some(app))
}

/// `endpoint set`'s OAuth settings: `None` when sign-in does not change, else the new
/// application (`Some(None)`: back to the admin's password). The stored settings are
/// the base; a new secret of another kind (a certificate for a client secret) changes
/// the credential. A Google key names its client id and token endpoint again.
pub fn oauth_change(
    stored: Option<&OAuthApp>,
    args: &OAuthChangeArgs,
) -> anyhow::Result<Option<Option<OAuthApp>>> {
    let kind_given = args.secret.given();
    if !(args.changes_settings() || kind_given && stored.is_some()) {
        return Ok(None);
    }
    let oauth = match args.auth.as_deref().map(|a| a.trim().to_ascii_lowercase()) {
        Some(a) if a == "password" || a == "basic" => {
            if args.oauth_provider.is_some() || kind_given {
                bail!(
                    "--auth password takes no OAuth settings or secret; give --password-file or --password-env"
                );
            }
            return Ok(Some(None));
        }
        Some(a) if a == "oauth2" || a == "oauth" => true,
        Some(other) => bail!("--auth: unknown sign-in '{other}'; expected password or oauth2"),
        None => stored.is_some(),
    };
    if !oauth {
        bail!(
            "the endpoint signs in with a password: give --auth oauth2 with the OAuth settings to switch it to an application"
        );
    }
    let mut full = OAuthArgs {
        auth: "oauth2".into(),
        oauth_provider: args
            .oauth_provider
            .clone()
            .or(stored.map(|a| a.provider.as_str().to_string())),
        tenant: args
            .tenant
            .clone()
            .or(stored.and_then(|a| a.tenant.clone())),
        client_id: args.client_id.clone(),
        token_url: args
            .token_url
            .clone()
            .or(stored.and_then(|a| a.token_url.clone())),
        scope: args.scope.clone().or(stored.and_then(|a| a.scope.clone())),
        secret: args.secret.clone(),
    };
    let provider_changed = args
        .oauth_provider
        .as_deref()
        .zip(stored)
        .is_some_and(|(p, a)| p.parse::<OAuthProvider>().ok() != Some(a.provider));
    if full.client_id.is_none() && args.secret.service_account_key.is_none() {
        full.client_id = stored.map(|a| a.client_id.clone());
    }
    let mut app = oauth_app(&full)?.expect("oauth2");
    if !kind_given && let Some(a) = stored {
        app.credential = a.credential;
        app.check().map_err(|e| anyhow!(e))?;
    }
    if (stored.is_none() || provider_changed) && !kind_given {
        bail!(
            "a new OAuth application needs its secret: give --client-secret-file, --certificate-file or --service-account-key"
        );
    }
    Ok(Some(Some(app)))
}

fn credential_kind(args: &OAuthSecretArgs) -> OAuthCredential {
    if args.service_account_key.is_some() {
        OAuthCredential::ServiceAccountKey
    } else if args.certificate_file.is_some() {
        OAuthCredential::Certificate
    } else {
        OAuthCredential::ClientSecret
    }
}

/// The application's secret from where the arguments point (a file, an environment
/// variable, or a prompt for a client secret); `Ok(None)` when none is given and
/// nobody can be asked.
pub fn read_oauth_secret(args: &OAuthSecretArgs) -> anyhow::Result<Option<SecretString>> {
    let whole = |flag: &str, path: &std::path::Path| -> anyhow::Result<SecretString> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
        if text.trim().is_empty() {
            bail!("{flag} {}: the file is empty", path.display());
        }
        Ok(SecretString::from(text))
    };
    if let Some(path) = &args.service_account_key {
        return whole("--service-account-key", path).map(Some);
    }
    if let Some(path) = &args.certificate_file {
        return whole("--certificate-file", path).map(Some);
    }
    if let Some(path) = &args.client_secret_file {
        let secret = whole("--client-secret-file", path)?;
        let line = secret
            .expose_secret()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if line.is_empty() {
            bail!(
                "--client-secret-file {}: the first line is empty",
                path.display()
            );
        }
        return Ok(Some(SecretString::from(line)));
    }
    if let Some(var) = &args.client_secret_env {
        let value = std::env::var(var).with_context(|| {
            format!("--client-secret-env {var}: the environment variable {var} is not set")
        })?;
        if value.trim().is_empty() {
            bail!("--client-secret-env {var}: the environment variable {var} is empty");
        }
        return Ok(Some(SecretString::from(value.trim().to_string())));
    }
    if std::io::stdin().is_terminal() {
        let value = rpassword::prompt_password("Client secret: ")
            .context("cannot read the client secret")?;
        return Ok(Some(SecretString::from(value)));
    }
    Ok(None)
}

/// The secret the connection signs in with: the admin's password, or with
/// `--auth oauth2` the application's secret (client secret, certificate, key).
pub fn secret(args: &ServerArgs, prompt: &str) -> anyhow::Result<SecretString> {
    if oauth_app(&args.oauth)?.is_none() {
        return password::require(&args.password, prompt);
    }
    if args.password.password_env.is_some() || args.password.password_file.is_some() {
        bail!(
            "--auth oauth2 signs in with the application's secret, not a password: give --client-secret-file, --client-secret-env, --certificate-file or --service-account-key instead of --password-*"
        );
    }
    read_oauth_secret(&args.oauth.secret)?.ok_or_else(|| {
        anyhow!(
            "the OAuth application's secret is needed: give --client-secret-file FILE or --client-secret-env VAR (microsoft, generic), --certificate-file PEM (microsoft) or --service-account-key FILE (google); secrets are never taken as plain arguments"
        )
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
    /// OAuth: asking the provider's token endpoint for the mailbox's token.
    TokenRequest,
    /// The admin acting for the test mailbox; with OAuth, the SASL exchange with the
    /// token.
    Login,
    /// Opening the mailbox's INBOX.
    OpenMailbox,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Connect => "Connect",
            Step::TokenRequest => "TokenRequest",
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
        (None, _) if c.oauth.is_some() => {
            let _ = session.logout().await;
            probe.summary = format!(
                "{connected}; the application's tokens are not tested: give a test mailbox to test them"
            );
            return probe;
        }
        (_, Impersonation::PerUser) if c.oauth.is_none() => {
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
            .map_err(LoginFailure::Imap),
        Err(e) => Err(LoginFailure::Settings(e)),
    };
    if let (Err(e), Some(app)) = (&login, &c.oauth) {
        probe.failed = Some(oauth_failure(app, mailbox, e));
        return probe;
    }
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

/// Why a login did not happen.
#[derive(Debug)]
enum LoginFailure {
    /// The stored settings cannot make a login (a bad key, a missing CSV password).
    Settings(String),
    Imap(ImapError),
}

impl std::fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginFailure::Settings(e) => f.write_str(e),
            LoginFailure::Imap(e) => e.fmt(f),
        }
    }
}

/// An OAuth login's failure: the step (the token request, or the SASL exchange) and
/// what usually fixes it (the hints come with the errors).
fn oauth_failure(app: &OAuthApp, mailbox: &str, e: &LoginFailure) -> (Step, String) {
    match e {
        LoginFailure::Imap(ImapError::Token { text, .. }) | LoginFailure::Settings(text) => (
            Step::TokenRequest,
            format!(
                "no token of the {} application {} for the mailbox {mailbox}: {text}",
                app.provider, app.client_id
            ),
        ),
        LoginFailure::Imap(e) => (
            Step::Login,
            format!(
                "the server did not take the {} application's token for the mailbox {mailbox}: {e}",
                app.provider
            ),
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> OAuthApp {
        OAuthApp {
            provider: OAuthProvider::Microsoft,
            tenant: Some("contoso.onmicrosoft.com".into()),
            client_id: "app".into(),
            credential: OAuthCredential::ClientSecret,
            token_url: None,
            scope: None,
        }
    }

    #[test]
    fn endpoint_set_changes_only_what_is_given() {
        let none = OAuthChangeArgs::default();
        assert!(oauth_change(Some(&stored()), &none).unwrap().is_none());
        assert!(oauth_change(None, &none).unwrap().is_none());
        // A new tenant keeps the rest.
        let tenant = OAuthChangeArgs {
            tenant: Some("fabrikam.onmicrosoft.com".into()),
            ..Default::default()
        };
        let app = oauth_change(Some(&stored()), &tenant)
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(app.tenant.as_deref(), Some("fabrikam.onmicrosoft.com"));
        assert_eq!(
            (app.client_id.as_str(), app.credential),
            ("app", OAuthCredential::ClientSecret)
        );
        // A certificate instead of the secret.
        let cert = OAuthChangeArgs {
            secret: OAuthSecretArgs {
                certificate_file: Some("cert.pem".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let app = oauth_change(Some(&stored()), &cert)
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(app.credential, OAuthCredential::Certificate);
        // Back to a password.
        let password = OAuthChangeArgs {
            auth: Some("password".into()),
            ..Default::default()
        };
        assert_eq!(
            oauth_change(Some(&stored()), &password).unwrap(),
            Some(None)
        );
    }

    #[test]
    fn endpoint_set_says_what_a_switch_needs() {
        let switch = OAuthChangeArgs {
            auth: Some("oauth2".into()),
            oauth_provider: Some("generic".into()),
            client_id: Some("app".into()),
            token_url: Some("https://idp.example/token".into()),
            ..Default::default()
        };
        let err = oauth_change(None, &switch).unwrap_err().to_string();
        assert!(err.contains("--client-secret-file"), "{err}");
        let tenant_only = OAuthChangeArgs {
            tenant: Some("t".into()),
            ..Default::default()
        };
        let err = oauth_change(None, &tenant_only).unwrap_err().to_string();
        assert!(err.contains("--auth oauth2"), "{err}");
        let bad = OAuthChangeArgs {
            auth: Some("kerberos".into()),
            ..Default::default()
        };
        assert!(
            oauth_change(None, &bad)
                .unwrap_err()
                .to_string()
                .contains("--auth")
        );
    }
}
