//! OAuth 2.0 application settings of a connection (the admin's registered app).
//!
//! Only what is not secret lives here; the client secret, the certificate's private key
//! or the service account's key is sealed by the store in the connection's secret slot
//! (where a password would be).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Whose token endpoint and grant the application uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OAuthProvider {
    /// Microsoft 365 (Entra ID): client-credentials grant for the tenant, one token for
    /// the application; the mailbox is the SASL user.
    Microsoft,
    /// Google Workspace: a service account with domain-wide delegation signs a JWT
    /// (RFC 7523 JWT-bearer grant) whose `sub` is the mailbox: one token per mailbox.
    Google,
    /// Any RFC 6749 token endpoint: client-credentials grant with client id and secret.
    /// A scope that names `{user}` gets one token per mailbox, else one per application.
    Generic,
}

impl OAuthProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthProvider::Microsoft => "microsoft",
            OAuthProvider::Google => "google",
            OAuthProvider::Generic => "generic",
        }
    }
}

impl fmt::Display for OAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OAuthProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "microsoft" | "microsoft365" | "m365" | "office365" | "entra" | "azure" => {
                Ok(OAuthProvider::Microsoft)
            }
            "google" | "gmail" | "workspace" => Ok(OAuthProvider::Google),
            "generic" => Ok(OAuthProvider::Generic),
            _ => Err(format!(
                "unknown OAuth provider '{s}'; expected microsoft, google or generic"
            )),
        }
    }
}

/// What the sealed secret of an OAuth connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OAuthCredential {
    /// The application's client secret.
    ClientSecret,
    /// A PEM file with the application's certificate and its private key (Microsoft):
    /// the client authenticates with a signed assertion (RFC 7523 §2.2).
    Certificate,
    /// A Google service account's JSON key.
    ServiceAccountKey,
}

impl OAuthCredential {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCredential::ClientSecret => "ClientSecret",
            OAuthCredential::Certificate => "Certificate",
            OAuthCredential::ServiceAccountKey => "ServiceAccountKey",
        }
    }
}

/// The scope Microsoft's IMAP service needs for an application's token.
pub const MICROSOFT_SCOPE: &str = "https://outlook.office365.com/.default";
/// The scope Gmail's IMAP service needs.
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
/// Google's token endpoint, when the key names none.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// A registered application that gets tokens for the connection's mailboxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthApp {
    pub provider: OAuthProvider,
    /// Microsoft: the tenant (its id or a verified domain).
    pub tenant: Option<String>,
    /// The application (client) id; for Google, the service account's `client_email`.
    pub client_id: String,
    pub credential: OAuthCredential,
    /// The token endpoint when not the provider's usual one (tests, sovereign clouds,
    /// the generic profile).
    pub token_url: Option<String>,
    /// The scope when not the provider's usual one.
    pub scope: Option<String>,
}

impl OAuthApp {
    /// The token endpoint to ask.
    pub fn token_url(&self) -> Result<String, String> {
        if let Some(url) = &self.token_url {
            return Ok(url.clone());
        }
        match self.provider {
            OAuthProvider::Microsoft => {
                let tenant = self.tenant.as_deref().ok_or(
                    "a Microsoft application needs its tenant: give --tenant (the tenant id or its domain)",
                )?;
                Ok(format!(
                    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
                ))
            }
            OAuthProvider::Google => Ok(GOOGLE_TOKEN_URL.to_string()),
            OAuthProvider::Generic => {
                Err("the generic OAuth profile needs its token endpoint: give --token-url".into())
            }
        }
    }

    /// The scope asked for, before `{user}` is filled in.
    pub fn scope(&self) -> String {
        match (&self.scope, self.provider) {
            (Some(s), _) => s.clone(),
            (None, OAuthProvider::Microsoft) => MICROSOFT_SCOPE.into(),
            (None, OAuthProvider::Google) => GOOGLE_SCOPE.into(),
            (None, OAuthProvider::Generic) => String::new(),
        }
    }

    /// Whether each mailbox needs its own token (else one serves the application).
    pub fn token_per_mailbox(&self) -> bool {
        match self.provider {
            OAuthProvider::Google => true,
            OAuthProvider::Microsoft | OAuthProvider::Generic => self.scope().contains("{user}"),
        }
    }

    /// The settings' own consistency, with what to do.
    pub fn check(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() {
            return Err("the OAuth application needs its client id: give --client-id".into());
        }
        match (self.provider, self.credential) {
            (OAuthProvider::Google, OAuthCredential::ServiceAccountKey) => {}
            (OAuthProvider::Google, _) => {
                return Err(
                    "a Google application signs in with its service account's JSON key: give --service-account-key FILE"
                        .into(),
                );
            }
            (_, OAuthCredential::ServiceAccountKey) => {
                return Err(format!(
                    "a service account key is for the google profile, not {}: give --client-secret-file or --certificate-file",
                    self.provider
                ));
            }
            (OAuthProvider::Generic, OAuthCredential::Certificate) => {
                return Err(
                    "the generic profile signs in with a client secret: give --client-secret-file"
                        .into(),
                );
            }
            _ => {}
        }
        let url = self.token_url()?;
        check_token_url(&url)
    }
}

/// A token endpoint must be HTTPS, except on loopback (tests): the client secret and the
/// tokens would travel in clear.
pub fn check_token_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        let host_port = rest.split('/').next().unwrap_or("");
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host_port.split(':').next().unwrap_or(""),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        return Err(format!(
            "the token endpoint {url} is plain HTTP: secrets and tokens would travel in clear; use its https:// URL"
        ));
    }
    Err(format!(
        "the token endpoint '{url}' is not an https:// URL; give the provider's token endpoint, e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/token"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(provider: OAuthProvider, credential: OAuthCredential) -> OAuthApp {
        OAuthApp {
            provider,
            tenant: Some("contoso.onmicrosoft.com".into()),
            client_id: "app".into(),
            credential,
            token_url: None,
            scope: None,
        }
    }

    #[test]
    fn providers_have_their_endpoints_and_scopes() {
        let ms = app(OAuthProvider::Microsoft, OAuthCredential::ClientSecret);
        assert_eq!(
            ms.token_url().unwrap(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(ms.scope(), MICROSOFT_SCOPE);
        assert!(!ms.token_per_mailbox());
        let g = app(OAuthProvider::Google, OAuthCredential::ServiceAccountKey);
        assert_eq!(g.token_url().unwrap(), GOOGLE_TOKEN_URL);
        assert!(g.token_per_mailbox());
        assert!(g.check().is_ok());
        let mut generic = app(OAuthProvider::Generic, OAuthCredential::ClientSecret);
        assert!(generic.check().unwrap_err().contains("--token-url"));
        generic.token_url = Some("http://127.0.0.1:8080/token".into());
        generic.scope = Some("mail:{user}".into());
        assert!(generic.check().is_ok());
        assert!(generic.token_per_mailbox());
    }

    #[test]
    fn bad_settings_say_what_to_give() {
        let mut ms = app(OAuthProvider::Microsoft, OAuthCredential::ClientSecret);
        ms.tenant = None;
        assert!(ms.check().unwrap_err().contains("--tenant"));
        let g = app(OAuthProvider::Google, OAuthCredential::ClientSecret);
        assert!(g.check().unwrap_err().contains("--service-account-key"));
        let mut ms = app(OAuthProvider::Microsoft, OAuthCredential::ClientSecret);
        ms.client_id = " ".into();
        assert!(ms.check().unwrap_err().contains("--client-id"));
        assert!("okta".parse::<OAuthProvider>().is_err());
        assert_eq!(
            "Microsoft".parse::<OAuthProvider>().unwrap(),
            OAuthProvider::Microsoft
        );
    }

    #[test]
    fn token_endpoints_must_be_https_off_loopback() {
        assert!(check_token_url("https://login.microsoftonline.com/x/oauth2/v2.0/token").is_ok());
        assert!(check_token_url("http://127.0.0.1:9000/token").is_ok());
        assert!(check_token_url("http://localhost/token").is_ok());
        assert!(check_token_url("http://[::1]:80/token").is_ok());
        assert!(check_token_url("http://idp.example/token").is_err());
        assert!(check_token_url("http://127.0.0.1.evil.example/token").is_err());
        assert!(check_token_url("ftp://x").is_err());
    }
}
