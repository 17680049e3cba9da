//! OAuth 2.0 tokens for IMAP logins (XOAUTH2 / OAUTHBEARER) as a registered
//! application: Microsoft 365's client-credentials grant (client secret or certificate),
//! Google Workspace's service-account JWT-bearer grant with `sub` = each mailbox, and a
//! generic client-credentials profile.
//!
//! [`AppTokens`] caches a token per mailbox (or one per application where the provider
//! allows), hands it out until shortly before it expires ([`cache::decide`]), replaces
//! one the server refused, and remembers a refusal that retrying cannot fix, so a
//! revoked secret costs one request and not one per user and login. Tokens and secrets
//! are never logged, stored or put in error messages.

pub mod cache;
pub mod grant;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use cutover_imap::{Bearer, BearerError, BearerTokens, TlsOptions};
use cutover_model::{OAuthApp, OAuthCredential, OAuthProvider};
use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, info, warn};

use crate::cache::{Decision, REFUSAL_MEMORY, TokenTimes};
use crate::grant::{GrantFailure, Signer};

pub use grant::{read_certificate, read_service_account_key};

/// One token and what the cache knows of it.
struct Cached {
    token: SecretString,
    times: TokenTimes,
}

/// A refusal remembered, with when it came.
#[derive(Clone)]
struct Refusal {
    at: DateTime<Utc>,
    error: BearerError,
}

impl Refusal {
    fn current(&self, now: DateTime<Utc>) -> bool {
        now < self.at + REFUSAL_MEMORY
    }
}

#[derive(Default)]
struct Slot {
    cached: Option<Cached>,
    refused: Option<Refusal>,
}

/// The tokens of one application on one connection.
pub struct AppTokens {
    app: OAuthApp,
    token_url: String,
    scope: String,
    signer: Signer,
    http: reqwest::Client,
    /// One per mailbox (or one, keyed "", for application tokens); its lock makes the
    /// logins of one mailbox share one request.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// A refusal of the application itself (its secret, its registration).
    app_refused: Mutex<Option<Refusal>>,
    /// Until a request succeeded (and again after a refusal), one request at a time
    /// goes out: a revoked secret is then refused once, not once per mailbox at once.
    gate: tokio::sync::Mutex<()>,
    proven: AtomicBool,
    serial: AtomicU64,
}

/// Whether a refusal concerns the application (every mailbox would get it) or one
/// mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalScope {
    App,
    Mailbox,
}

/// Which refusals the whole application shares: all of them for an application token;
/// for per-mailbox tokens all but `invalid_grant` about the subject (Google's "Invalid
/// email or User ID", a generic provider's refusal of that mailbox).
pub fn refusal_scope(app: &OAuthApp, code: &str, description: Option<&str>) -> RefusalScope {
    if !app.token_per_mailbox() {
        return RefusalScope::App;
    }
    let description = description.unwrap_or("").to_ascii_lowercase();
    match code {
        "invalid_grant" if description.contains("signature") => RefusalScope::App,
        "invalid_grant" => RefusalScope::Mailbox,
        _ => RefusalScope::App,
    }
}

/// What usually fixes a refusal by the token endpoint.
pub fn token_hint(provider: OAuthProvider, code: &str) -> &'static str {
    match (provider, code) {
        (OAuthProvider::Microsoft, "invalid_client") => {
            "the client secret or certificate is wrong, expired or not this application's: add a new one in Entra ID (App registrations > the application > Certificates & secrets) and store it with `endpoint set` / `target set` --client-secret-file or --certificate-file"
        }
        (OAuthProvider::Microsoft, "unauthorized_client") => {
            "the client id is not an application of this tenant, or it is disabled: check --client-id and --tenant against Entra ID (App registrations > Overview)"
        }
        (OAuthProvider::Microsoft, "invalid_scope") => {
            "ask for the scope https://outlook.office365.com/.default, and give the application the Office 365 Exchange Online permission IMAP.AccessAsApp with admin consent"
        }
        (OAuthProvider::Microsoft, _) => {
            "check the tenant, the client id and the application's secret or certificate in Entra ID; the AADSTS code in the message is explained at https://login.microsoftonline.com/error"
        }
        (OAuthProvider::Google, "unauthorized_client") => {
            "the service account has no domain-wide delegation for https://mail.google.com/: in the Admin console (Security > Access and data control > API controls > Domain-wide delegation) add its client id with that scope"
        }
        (OAuthProvider::Google, "invalid_grant") => {
            "the key was deleted or is not the service account's, the mailbox is not a user of the Workspace domain, or this machine's clock is off; make a new JSON key and store it with --service-account-key"
        }
        (OAuthProvider::Google, _) => {
            "check the service account's key and its domain-wide delegation (scope https://mail.google.com/) in the Admin console"
        }
        (OAuthProvider::Generic, "invalid_client") => {
            "the client id or secret is wrong or revoked: make a new secret at the identity provider and store it with --client-secret-file"
        }
        (OAuthProvider::Generic, _) => {
            "check the client id, the secret and the scope with the identity provider's administrator"
        }
    }
}

/// What usually fixes a token the IMAP server refuses.
pub fn refused_hint(app: &OAuthApp) -> String {
    match app.provider {
        OAuthProvider::Microsoft => format!(
            "Microsoft 365 takes an application's token only when the application has the IMAP.AccessAsApp permission with admin consent, its service principal is registered in Exchange Online (New-ServicePrincipal -AppId {id} -ObjectId <its enterprise application's object id>) and given full access to the mailbox (Add-MailboxPermission -Identity <mailbox> -User <that service principal> -AccessRights FullAccess); changes take up to an hour",
            id = app.client_id
        ),
        OAuthProvider::Google => "Gmail refuses the token when IMAP is off for the user (Admin console > Apps > Google Workspace > Gmail > End User Access) or when the delegation lacks the scope https://mail.google.com/".into(),
        OAuthProvider::Generic => "the server does not accept this application's token for the mailbox: check the scope (it must name the mailbox the server expects) and that the server validates tokens against this identity provider".into(),
    }
}

impl AppTokens {
    /// The application's token source, its secret read now (a malformed key fails here,
    /// not at the first login).
    pub fn new(app: &OAuthApp, secret: &SecretString, tls: &TlsOptions) -> Result<Self, String> {
        app.check()?;
        let token_url = app.token_url()?;
        let signer = match app.credential {
            OAuthCredential::ClientSecret => {
                if secret.expose_secret().trim().is_empty() {
                    return Err("the client secret is empty".into());
                }
                Signer::ClientSecret(SecretString::from(
                    secret.expose_secret().trim().to_string(),
                ))
            }
            OAuthCredential::Certificate => {
                let (key, x5t_s256) = read_certificate(secret.expose_secret())?;
                Signer::Certificate { key, x5t_s256 }
            }
            OAuthCredential::ServiceAccountKey => {
                let (key, signing) = read_service_account_key(secret.expose_secret())?;
                Signer::ServiceAccount {
                    key: signing,
                    key_id: key.private_key_id,
                    client_email: key.client_email,
                }
            }
        };
        let config = tls
            .client_config()
            .map_err(|e| format!("TLS for the token endpoint: {e}"))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*config).clone())
            .timeout(grant::REQUEST_TIMEOUT)
            .connect_timeout(grant::REQUEST_TIMEOUT)
            // A token endpoint that redirects is misconfigured; never replay the secret.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(AppTokens {
            scope: app.scope(),
            app: app.clone(),
            token_url,
            signer,
            http,
            slots: Mutex::new(HashMap::new()),
            app_refused: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
            proven: AtomicBool::new(false),
            serial: AtomicU64::new(0),
        })
    }

    fn key_for(&self, user: &str) -> String {
        if self.app.token_per_mailbox() {
            user.to_ascii_lowercase()
        } else {
            String::new()
        }
    }

    fn app_refusal(&self, now: DateTime<Utc>) -> Option<BearerError> {
        let guard = self.app_refused.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|r| r.current(now))
            .map(|r| r.error.clone())
    }

    fn failure(&self, user: &str, failure: &GrantFailure) -> BearerError {
        let whom = if self.app.token_per_mailbox() {
            format!("for {user}")
        } else {
            "for the application".to_string()
        };
        match failure {
            GrantFailure::Refused { code, description } => BearerError {
                message: format!(
                    "the token request to {url} {whom} was refused by the provider: {code}{desc}; {hint}",
                    url = self.token_url,
                    desc = description
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default(),
                    hint = token_hint(self.app.provider, code)
                ),
                transient: false,
            },
            GrantFailure::Unreachable { reason, transient } => BearerError {
                message: format!(
                    "the token request to {url} {whom} failed: {reason}{hint}",
                    url = self.token_url,
                    hint = if reason.to_ascii_lowercase().contains("certificate") {
                        " (the token endpoint's certificate is not trusted: a private CA? give it with --ca-file)"
                    } else {
                        ""
                    }
                ),
                transient: *transient,
            },
        }
    }
}

#[async_trait::async_trait]
impl BearerTokens for AppTokens {
    async fn bearer(&self, user: &str, refused: Option<u64>) -> Result<Bearer, BearerError> {
        if let Some(e) = self.app_refusal(Utc::now()) {
            return Err(e);
        }
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(self.key_for(user)).or_default().clone()
        };
        let mut slot = slot.lock().await;
        let now = Utc::now();
        // Refused while this login waited for the slot.
        if let Some(e) = self.app_refusal(now) {
            return Err(e);
        }
        if let Some(r) = slot.refused.as_ref().filter(|r| r.current(now)) {
            return Err(r.error.clone());
        }
        let times = slot.cached.as_ref().map(|c| c.times);
        if cache::decide(now, times.as_ref(), refused) == Decision::Use
            && let Some(c) = &slot.cached
        {
            return Ok(Bearer {
                token: c.token.clone(),
                serial: c.times.serial,
            });
        }
        // Logins that queued behind the first request go on together once it succeeded.
        let _gate = if self.proven.load(Ordering::Acquire) {
            None
        } else {
            let gate = self.gate.lock().await;
            (!self.proven.load(Ordering::Acquire)).then_some(gate)
        };
        if let Some(e) = self.app_refusal(Utc::now()) {
            return Err(e);
        }
        debug!(provider = %self.app.provider, user, "asking for a token");
        let issued_at = Utc::now();
        match grant::request(
            &self.http,
            &self.token_url,
            &self.app.client_id,
            &self.signer,
            &self.scope.replace("{user}", user),
            user,
        )
        .await
        {
            Ok(issued) => {
                self.proven.store(true, Ordering::Release);
                let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
                let times = TokenTimes {
                    issued_at,
                    expires_at: cache::expiry(issued_at, issued.expires_in),
                    serial,
                };
                info!(provider = %self.app.provider, user, expires_at = %times.expires_at, "got a token");
                slot.cached = Some(Cached {
                    token: issued.access_token.clone(),
                    times,
                });
                Ok(Bearer {
                    token: issued.access_token,
                    serial,
                })
            }
            Err(failure) => {
                let error = self.failure(user, &failure);
                warn!(provider = %self.app.provider, user, error = %error.message, "token request failed");
                if let GrantFailure::Refused { code, description } = &failure {
                    self.proven.store(false, Ordering::Release);
                    let refusal = Refusal {
                        at: Utc::now(),
                        error: error.clone(),
                    };
                    slot.cached = None;
                    match refusal_scope(&self.app, code, description.as_deref()) {
                        RefusalScope::App => {
                            *self.app_refused.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(refusal)
                        }
                        RefusalScope::Mailbox => slot.refused = Some(refusal),
                    }
                }
                Err(error)
            }
        }
    }

    fn refused_hint(&self) -> String {
        refused_hint(&self.app)
    }
}

struct Registered {
    secret: SecretString,
    tokens: Arc<AppTokens>,
}

/// Every application's tokens in this process, so that the passes of a batch (and the
/// batches after them) share the cache; a changed secret makes a new entry.
static REGISTRY: LazyLock<Mutex<HashMap<String, Registered>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The shared token source of an application on a connection.
pub fn tokens_for(
    app: &OAuthApp,
    secret: &SecretString,
    tls: &TlsOptions,
) -> Result<Arc<AppTokens>, String> {
    let key = format!(
        "{}|{:?}",
        serde_json::to_string(app).unwrap_or_default(),
        tls.ca_file
    );
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = registry.get(&key)
        && r.secret.expose_secret() == secret.expose_secret()
    {
        return Ok(r.tokens.clone());
    }
    let tokens = Arc::new(AppTokens::new(app, secret, tls)?);
    registry.insert(
        key,
        Registered {
            secret: secret.clone(),
            tokens: tokens.clone(),
        },
    );
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(provider: OAuthProvider, scope: Option<&str>) -> OAuthApp {
        OAuthApp {
            provider,
            tenant: Some("t".into()),
            client_id: "c".into(),
            credential: OAuthCredential::ClientSecret,
            token_url: Some("http://127.0.0.1:1/token".into()),
            scope: scope.map(Into::into),
        }
    }

    #[test]
    fn an_application_refusal_is_shared_and_a_mailbox_refusal_is_not() {
        let ms = app(OAuthProvider::Microsoft, None);
        assert_eq!(refusal_scope(&ms, "invalid_grant", None), RefusalScope::App);
        let google = app(OAuthProvider::Google, None);
        assert_eq!(
            refusal_scope(&google, "invalid_grant", Some("Invalid email or User ID")),
            RefusalScope::Mailbox
        );
        assert_eq!(
            refusal_scope(&google, "invalid_grant", Some("Invalid JWT Signature.")),
            RefusalScope::App
        );
        assert_eq!(
            refusal_scope(&google, "unauthorized_client", None),
            RefusalScope::App
        );
        let generic = app(OAuthProvider::Generic, Some("mail:{user}"));
        assert_eq!(
            refusal_scope(&generic, "invalid_client", None),
            RefusalScope::App
        );
        assert_eq!(
            refusal_scope(&generic, "invalid_grant", None),
            RefusalScope::Mailbox
        );
    }

    #[test]
    fn hints_name_the_fix() {
        assert!(
            token_hint(OAuthProvider::Microsoft, "invalid_client")
                .contains("Certificates & secrets")
        );
        assert!(
            token_hint(OAuthProvider::Google, "unauthorized_client")
                .contains("Domain-wide delegation")
        );
        let ms = app(OAuthProvider::Microsoft, None);
        let hint = refused_hint(&ms);
        assert!(
            hint.contains("New-ServicePrincipal") && hint.contains("FullAccess"),
            "{hint}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_transient_failure_naming_it() {
        let tokens = AppTokens::new(
            &app(OAuthProvider::Generic, None),
            &SecretString::from("s3cret-value".to_string()),
            &TlsOptions::default(),
        )
        .unwrap();
        let err = tokens.bearer("a@b.test", None).await.err().unwrap();
        assert!(err.transient, "{}", err.message);
        assert!(
            err.message.contains("http://127.0.0.1:1/token"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("s3cret-value"));
    }

    #[test]
    fn a_bad_key_says_what_to_download() {
        let err = read_service_account_key("{}").err().unwrap();
        assert!(err.contains("JSON key"), "{err}");
        let err = read_certificate("nothing").err().unwrap();
        assert!(err.contains("PEM"), "{err}");
    }
}
