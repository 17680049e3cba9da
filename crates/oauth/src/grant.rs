//! The token requests: RFC 6749 client-credentials (with a client secret, or with a
//! certificate's signed assertion, RFC 7523 §2.2) through the `oauth2` crate, and the
//! RFC 7523 JWT-bearer grant of Google's service accounts (signed with `jsonwebtoken`).
//! The answers are oauth2's standard token and error responses.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// How long a token request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A token as the endpoint gave it.
pub struct Issued {
    pub access_token: SecretString,
    pub expires_in: Option<u64>,
}

/// Why a token request failed, before it is put in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantFailure {
    /// The endpoint answered with an RFC 6749 §5.2 error.
    Refused {
        code: String,
        description: Option<String>,
    },
    /// Nothing usable came back: network trouble, an HTTP error without an OAuth error,
    /// an answer that is not a token.
    Unreachable { reason: String, transient: bool },
}

/// What the application signs in with, read from its sealed secret.
pub enum Signer {
    ClientSecret(SecretString),
    /// Microsoft's certificate credential: the private key and the certificate's
    /// SHA-256 thumbprint (the `x5t#S256` header Entra ID looks the certificate up by;
    /// the assertion is signed with PS256).
    Certificate {
        key: EncodingKey,
        x5t_s256: String,
    },
    /// A Google service account's key.
    ServiceAccount {
        key: EncodingKey,
        key_id: Option<String>,
        client_email: String,
    },
}

/// The fields of a Google service account's JSON key that matter here.
#[derive(Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: Option<String>,
}

/// Reads a service account's JSON key, with what is wrong in words.
pub fn read_service_account_key(json: &str) -> Result<(ServiceAccountKey, EncodingKey), String> {
    let key: ServiceAccountKey = serde_json::from_str(json).map_err(|e| {
        format!(
            "the service account key is not a Google JSON key ({e}); download one in the Google Cloud console under IAM & Admin > Service Accounts > Keys > Add key > JSON"
        )
    })?;
    if let Some(kind) = &key.kind
        && kind != "service_account"
    {
        return Err(format!(
            "the key is of type '{kind}', not a service account's; download a service account's JSON key"
        ));
    }
    let signing = EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|e| {
        format!("the service account key's private_key is not an RSA key in PEM ({e})")
    })?;
    Ok((key, signing))
}

/// Reads a PEM holding a certificate and its RSA private key.
pub fn read_certificate(pem: &str) -> Result<(EncodingKey, String), String> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
        format!(
            "the certificate file holds no PEM certificate ({e}); give one PEM file with the certificate uploaded to the application and its private key"
        )
    })?;
    let begin = pem.find("-----BEGIN").and_then(|_| {
        [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----",
        ]
        .iter()
        .find_map(|marker| pem.find(marker).map(|at| (at, *marker)))
    });
    let Some((at, marker)) = begin else {
        return Err(
            "the certificate file holds no private key: put the certificate and its private key (BEGIN PRIVATE KEY) in one PEM file"
                .into(),
        );
    };
    let end_marker = marker.replace("BEGIN", "END");
    let end = pem[at..]
        .find(&end_marker)
        .map(|e| at + e + end_marker.len())
        .ok_or("the certificate file's private key has no END line")?;
    let key = EncodingKey::from_rsa_pem(&pem.as_bytes()[at..end])
        .map_err(|e| format!("the certificate file's private key is not an RSA key ({e})"))?;
    let thumbprint = sha2::Sha256::digest(cert.as_ref());
    Ok((
        key,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(thumbprint),
    ))
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// Asks `token_url` for a token. `subject`: the mailbox, for the grants that name one.
pub async fn request(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    signer: &Signer,
    scope: &str,
    subject: &str,
) -> Result<Issued, GrantFailure> {
    match signer {
        Signer::ClientSecret(secret) => {
            client_credentials(http, token_url, client_id, Some(secret), None, scope).await
        }
        Signer::Certificate { key, x5t_s256 } => {
            let now = Utc::now().timestamp();
            let claims = Assertion {
                iss: client_id,
                sub: client_id,
                aud: token_url,
                scope: None,
                iat: now,
                exp: now + 600,
                nbf: Some(now),
                jti: Some(uuid::Uuid::new_v4().to_string()),
            };
            // As Microsoft's "certificate credentials" page asks today: PS256, and the
            // certificate named by its SHA-256 thumbprint (x5t#S256).
            let mut header = Header::new(Algorithm::PS256);
            header.x5t_s256 = Some(x5t_s256.clone());
            let assertion = sign(&header, &claims, key)?;
            client_credentials(http, token_url, client_id, None, Some(assertion), scope).await
        }
        Signer::ServiceAccount {
            key,
            key_id,
            client_email,
        } => {
            let now = Utc::now().timestamp();
            let claims = Assertion {
                iss: client_email,
                sub: subject,
                aud: token_url,
                scope: Some(scope),
                iat: now,
                exp: now + 3600,
                nbf: None,
                jti: None,
            };
            let mut header = Header::new(Algorithm::RS256);
            header.kid = key_id.clone();
            let assertion = sign(&header, &claims, key)?;
            jwt_bearer(http, token_url, &assertion).await
        }
    }
}

fn sign(
    header: &Header,
    claims: &Assertion<'_>,
    key: &EncodingKey,
) -> Result<SecretString, GrantFailure> {
    jsonwebtoken::encode(header, claims, key)
        .map(SecretString::from)
        .map_err(|e| GrantFailure::Unreachable {
            reason: format!("cannot sign the assertion: {e}"),
            transient: false,
        })
}

async fn client_credentials(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    secret: Option<&SecretString>,
    assertion: Option<SecretString>,
    scope: &str,
) -> Result<Issued, GrantFailure> {
    let url = TokenUrl::new(token_url.to_string()).map_err(|e| GrantFailure::Unreachable {
        reason: format!("the token endpoint '{token_url}' is not a URL: {e}"),
        transient: false,
    })?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_token_uri(url)
        // Microsoft's documentation sends the client's credentials in the form body.
        .set_auth_type(AuthType::RequestBody);
    if let Some(secret) = secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_string()));
    }
    let mut req = client.exchange_client_credentials();
    for s in scope.split_whitespace() {
        req = req.add_scope(Scope::new(s.to_string()));
    }
    if let Some(assertion) = &assertion {
        req = req
            .add_extra_param(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .add_extra_param("client_assertion", assertion.expose_secret().to_string());
    }
    let http = http.clone();
    let send = move |request: oauth2::HttpRequest| {
        let http = http.clone();
        async move {
            let request =
                reqwest::Request::try_from(request).map_err(|e| HttpError(e.to_string()))?;
            let response = http
                .execute(request)
                .await
                .map_err(|e| HttpError(describe_reqwest(&e)))?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| HttpError(describe_reqwest(&e)))?;
            builder
                .body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        }
    };
    match req.request_async(&send).await {
        Ok(token) => Ok(issued(&token)),
        Err(RequestTokenError::ServerResponse(err)) => Err(refused(&err)),
        Err(RequestTokenError::Request(e)) => Err(GrantFailure::Unreachable {
            reason: e.to_string(),
            transient: true,
        }),
        Err(RequestTokenError::Parse(e, _body)) => Err(GrantFailure::Unreachable {
            // Never the body: it may hold a token.
            reason: format!("the answer is neither a token nor an OAuth error ({e})"),
            transient: true,
        }),
        Err(RequestTokenError::Other(e)) => Err(GrantFailure::Unreachable {
            reason: e,
            transient: true,
        }),
    }
}

/// RFC 7523 §2.1, as Google's service accounts use it.
async fn jwt_bearer(
    http: &reqwest::Client,
    token_url: &str,
    assertion: &SecretString,
) -> Result<Issued, GrantFailure> {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.expose_secret()),
    ];
    let unreachable = |e: reqwest::Error| GrantFailure::Unreachable {
        reason: describe_reqwest(&e),
        transient: true,
    };
    let response = http
        .post(token_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unreachable)?;
    if status.is_success() {
        let token: BasicTokenResponse =
            serde_json::from_slice(&body).map_err(|e| GrantFailure::Unreachable {
                reason: format!("the answer is not a token ({e})"),
                transient: true,
            })?;
        return Ok(issued(&token));
    }
    match serde_json::from_slice::<BasicErrorResponse>(&body) {
        Ok(err) => Err(refused(&err)),
        Err(_) => Err(GrantFailure::Unreachable {
            reason: format!("HTTP {status} without an OAuth error"),
            transient: status.is_server_error() || status.as_u16() == 429,
        }),
    }
}

fn issued(token: &BasicTokenResponse) -> Issued {
    Issued {
        access_token: SecretString::from(token.access_token().secret().clone()),
        expires_in: token.expires_in().map(|d| d.as_secs()),
    }
}

fn refused(err: &BasicErrorResponse) -> GrantFailure {
    GrantFailure::Refused {
        code: err.error().to_string(),
        description: err.error_description().cloned(),
    }
}

/// reqwest's error with its causes (the connection refused, the certificate...).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
