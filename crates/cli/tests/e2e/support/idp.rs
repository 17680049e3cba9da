//! A scripted OAuth 2.0 identity provider on 127.0.0.1 for the OAuth tests: a token
//! endpoint that answers the client-credentials grant (client secret, or a certificate's
//! signed client assertion) the way Microsoft's does and the JWT-bearer grant the way
//! Google's does, with short-lived tokens, and the introspection endpoint Dovecot's
//! `oauth2` passdb POSTs tokens to.
//!
//! It really checks: client secrets, JWT signatures (with the service account's and the
//! certificate's public keys), audiences, issuers, the certificate's thumbprint, the
//! scope, and that `sub` is a known mailbox. Everything it did is recorded, so tests can
//! count requests and look for tokens where they must not be.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
pub const MICROSOFT_SCOPE: &str = "https://outlook.office365.com/.default";

#[derive(Clone, Default)]
pub struct IdpOptions {
    /// The registered application (client-credentials grant).
    pub client_id: String,
    pub client_secret: String,
    /// The public key (PEM) of the application's certificate, and the certificate's
    /// SHA-256 thumbprint (base64url), for client assertions.
    pub certificate: Option<(String, String)>,
    /// A service account: its address and its public key (PEM).
    pub service_account: Option<(String, String)>,
    /// The mailboxes that exist.
    pub users: Vec<String>,
    /// How long tokens live (and what `expires_in` says, unless told otherwise).
    pub lifetime_secs: u64,
    /// Serve the token endpoint over HTTPS with this certificate (introspection, for
    /// Dovecot, stays on plain HTTP).
    pub tls: Option<super::TlsFiles>,
}

/// A token request, as the provider saw it.
#[derive(Debug, Clone)]
pub struct Grant {
    /// "client_secret", "client_assertion" or "jwt_bearer".
    pub kind: &'static str,
    /// The mailbox the token is for, if any.
    pub subject: Option<String>,
    /// `None` when a token was issued, else the error code answered.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Introspection {
    pub email: Option<String>,
    pub active: bool,
}

struct Issued {
    token: String,
    email: Option<String>,
    dies: Instant,
}

struct State {
    opts: IdpOptions,
    port: u16,
    tls_port: Option<u16>,
    issued: Vec<Issued>,
    grants: Vec<Grant>,
    introspections: Vec<Introspection>,
    secret_revoked: bool,
    key_revoked: bool,
    /// `expires_in` to announce instead of the real lifetime (a token that dies early).
    announce: Option<u64>,
}

pub struct Idp {
    port: u16,
    tls_port: Option<u16>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Idp {
    pub fn start(opts: IdpOptions) -> Idp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the identity provider");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            opts,
            port,
            tls_port: None,
            issued: Vec::new(),
            grants: Vec::new(),
            introspections: Vec::new(),
            secret_revoked: false,
            key_revoked: false,
            announce: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let tls = state.lock().unwrap().opts.tls.clone().map(|files| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind the HTTPS port");
            let port = listener.local_addr().unwrap().port();
            (listener, port, server_config(&files))
        });
        let tls_port = tls.as_ref().map(|(_, port, _)| *port);
        state.lock().unwrap().tls_port = tls_port;
        let (s, st) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                thread::spawn(move || serve(conn, &s, "http"));
            }
        });
        if let Some((listener, _, config)) = tls {
            let (s, st) = (state.clone(), stop.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if st.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (s, config) = (s.clone(), config.clone());
                    thread::spawn(move || {
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                        let Ok(tls) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(tls, conn), &s, "https");
                    });
                }
            });
        }
        Idp {
            port,
            tls_port,
            state,
            stop,
        }
    }

    /// The token endpoint: HTTPS when started with `tls`.
    pub fn token_url(&self) -> String {
        match self.tls_port {
            Some(port) => format!("https://127.0.0.1:{port}/token"),
            None => format!("http://127.0.0.1:{}/token", self.port),
        }
    }

    /// Microsoft's form of the token endpoint, for a tenant.
    pub fn microsoft_token_url(&self, tenant: &str) -> String {
        format!("http://127.0.0.1:{}/{tenant}/oauth2/v2.0/token", self.port)
    }

    pub fn introspection_url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// The application's client secret no longer works (deleted in the portal).
    pub fn revoke_client_secret(&self) {
        self.state.lock().unwrap().secret_revoked = true;
    }

    /// A new client secret replaces the old one (revoked or not).
    pub fn rotate_client_secret(&self, secret: &str) {
        let mut s = self.state.lock().unwrap();
        s.opts.client_secret = secret.to_string();
        s.secret_revoked = false;
    }

    /// The service account's key no longer works (deleted in the console).
    pub fn revoke_key(&self) {
        self.state.lock().unwrap().key_revoked = true;
    }

    /// Tokens from now on live `lifetime_secs` but announce `expires_in`.
    pub fn tokens_die_early(&self, lifetime_secs: u64, expires_in: u64) {
        let mut s = self.state.lock().unwrap();
        s.opts.lifetime_secs = lifetime_secs;
        s.announce = Some(expires_in);
    }

    pub fn grants(&self) -> Vec<Grant> {
        self.state.lock().unwrap().grants.clone()
    }

    /// Tokens issued for this mailbox.
    pub fn grants_for(&self, mailbox: &str) -> usize {
        self.grants()
            .iter()
            .filter(|g| g.error.is_none() && g.subject.as_deref() == Some(mailbox))
            .count()
    }

    pub fn introspections(&self) -> Vec<Introspection> {
        self.state.lock().unwrap().introspections.clone()
    }

    /// Every token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.issued.iter().map(|i| i.token.clone()).collect()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(port) = self.tls_port {
            let _ = TcpStream::connect(("127.0.0.1", port));
        }
    }
}

fn server_config(files: &super::TlsFiles) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&files.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

fn serve<S: Read + Write>(mut conn: S, state: &Mutex<State>, scheme: &str) {
    // The request: headers up to the blank line, then Content-Length bytes.
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &data[head_end..head_end + length];
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let form = parse_form(&String::from_utf8_lossy(body));
    let (status, answer) = {
        let mut s = state.lock().unwrap();
        match (method, path) {
            ("POST", "/introspect") => (200, introspect(&mut s, &form)),
            ("POST", p) if p.ends_with("/token") => token(&mut s, scheme, p, &form),
            _ => (404, json!({"error": "not_found"})),
        }
    };
    let body = answer.to_string();
    let reason = if status == 200 { "OK" } else { "Error" };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.flush();
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn introspect(s: &mut State, form: &HashMap<String, String>) -> Value {
    let token = form.get("token").cloned().unwrap_or_default();
    let now = Instant::now();
    let found = s.issued.iter().find(|i| i.token == token);
    let active = found.is_some_and(|i| now < i.dies);
    let email = found.and_then(|i| i.email.clone());
    s.introspections.push(Introspection {
        email: email.clone(),
        active,
    });
    match (active, email) {
        (true, Some(email)) => json!({"active": true, "email": email, "scope": "mail"}),
        // An application's token is the application's, not a mailbox's: Dovecot then
        // refuses it for any mailbox, as Exchange Online refuses an application whose
        // service principal has no access to the mailbox.
        (true, None) => {
            json!({"active": true, "email": s.opts.client_id, "client_id": s.opts.client_id})
        }
        (false, _) => json!({"active": false}),
    }
}

fn refuse(
    s: &mut State,
    kind: &'static str,
    subject: Option<String>,
    status: u16,
    code: &str,
    description: &str,
) -> (u16, Value) {
    s.grants.push(Grant {
        kind,
        subject,
        error: Some(code.to_string()),
    });
    (
        status,
        json!({"error": code, "error_description": description}),
    )
}

fn issue(s: &mut State, kind: &'static str, email: Option<String>) -> (u16, Value) {
    let token = format!(
        "tok-{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let lifetime = s.opts.lifetime_secs;
    s.issued.push(Issued {
        token: token.clone(),
        email: email.clone(),
        dies: Instant::now() + Duration::from_secs(lifetime),
    });
    s.grants.push(Grant {
        kind,
        subject: email,
        error: None,
    });
    (
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": s.announce.unwrap_or(lifetime),
            "access_token": token,
        }),
    )
}

fn token(s: &mut State, scheme: &str, path: &str, form: &HashMap<String, String>) -> (u16, Value) {
    let port = match scheme {
        "https" => s.tls_port.unwrap_or(s.port),
        _ => s.port,
    };
    let audience = format!("{scheme}://127.0.0.1:{port}{path}");
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => client_credentials(s, &audience, form),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => jwt_bearer(s, &audience, form),
        _ => refuse(
            s,
            "client_secret",
            None,
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        ),
    }
}

/// The mailbox a scope names (`mail:alice@contoso.test`), for the generic profile; an
/// application-wide scope names none.
fn scope_subject(s: &State, scope: &str) -> Result<Option<String>, ()> {
    if scope == MICROSOFT_SCOPE {
        return Ok(None);
    }
    match scope.strip_prefix("mail:") {
        Some(user) if s.opts.users.iter().any(|u| u == user) => Ok(Some(user.to_string())),
        _ => Err(()),
    }
}

fn client_credentials(
    s: &mut State,
    audience: &str,
    form: &HashMap<String, String>,
) -> (u16, Value) {
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let scope = form.get("scope").cloned().unwrap_or_default();
    let kind = if form.contains_key("client_assertion") {
        "client_assertion"
    } else {
        "client_secret"
    };
    if client_id != s.opts.client_id {
        return refuse(
            s,
            kind,
            None,
            400,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
            ),
        );
    }
    if kind == "client_assertion" {
        let assertion = form.get("client_assertion").cloned().unwrap_or_default();
        let assertion_type = form
            .get("client_assertion_type")
            .cloned()
            .unwrap_or_default();
        let Some((public_pem, thumbprint)) = s.opts.certificate.clone() else {
            return refuse(
                s,
                kind,
                None,
                401,
                "invalid_client",
                "AADSTS700027: no certificate registered",
            );
        };
        let header = jsonwebtoken::decode_header(&assertion).ok();
        let thumb_ok = header
            .as_ref()
            .and_then(|h| h.x5t_s256.clone())
            .is_some_and(|t| t == thumbprint);
        let mut v = Validation::new(Algorithm::PS256);
        v.set_audience(&[audience]);
        v.set_issuer(&[client_id.as_str()]);
        v.sub = Some(client_id.clone());
        let valid = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .ok()
            .is_some_and(|key| jsonwebtoken::decode::<Value>(&assertion, &key, &v).is_ok());
        if assertion_type != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            || !thumb_ok
            || !valid
            || s.secret_revoked
        {
            return refuse(
                s,
                kind,
                None,
                401,
                "invalid_client",
                "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.",
            );
        }
    } else {
        let secret = form.get("client_secret").cloned().unwrap_or_default();
        if secret != s.opts.client_secret || s.secret_revoked {
            return refuse(
                s,
                kind,
                None,
                401,
                "invalid_client",
                &format!(
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            );
        }
    }
    match scope_subject(s, &scope) {
        Ok(subject) => issue(s, kind, subject),
        Err(()) => refuse(
            s,
            kind,
            None,
            400,
            "invalid_scope",
            &format!("AADSTS1002012: The provided value for scope {scope} is not valid."),
        ),
    }
}

fn jwt_bearer(s: &mut State, audience: &str, form: &HashMap<String, String>) -> (u16, Value) {
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let Some((client_email, public_pem)) = s.opts.service_account.clone() else {
        return refuse(
            s,
            "jwt_bearer",
            None,
            400,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[audience]);
    v.set_issuer(&[client_email.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let claims = DecodingKey::from_rsa_pem(public_pem.as_bytes())
        .ok()
        .and_then(|key| jsonwebtoken::decode::<Value>(&assertion, &key, &v).ok())
        .map(|d| d.claims);
    let Some(claims) = claims.filter(|_| !s.key_revoked) else {
        return refuse(
            s,
            "jwt_bearer",
            None,
            400,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    };
    let sub = claims["sub"].as_str().unwrap_or("").to_string();
    if claims["scope"].as_str() != Some(GOOGLE_SCOPE) {
        return refuse(
            s,
            "jwt_bearer",
            Some(sub),
            400,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    if !s.opts.users.contains(&sub) {
        return refuse(
            s,
            "jwt_bearer",
            Some(sub),
            400,
            "invalid_grant",
            "Invalid email or User ID",
        );
    }
    issue(s, "jwt_bearer", Some(sub))
}
