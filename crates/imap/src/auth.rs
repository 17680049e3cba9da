//! LOGIN, AUTHENTICATE PLAIN (RFC 4616, with authorization identity for admin /
//! master-user access), and OAuth 2.0 bearer tokens with OAUTHBEARER (RFC 7628) or
//! XOAUTH2. Credentials never reach logs or error messages; the buffers that carry them
//! on the way out are zeroized.

use std::{borrow::Cow, fmt, sync::Arc};

use base64::Engine as _;
use imap_types::{auth::AuthMechanism, command::CommandBody};
use secrecy::{ExposeSecret, SecretString};
use tracing::debug;
use zeroize::Zeroizing;

use crate::{
    connection::{Logging, Out},
    error::ImapError,
    response::{Code, StatusKind},
    session::{Capabilities, Session, encode_command},
};

/// How to log in.
#[derive(Clone)]
pub enum Credentials {
    /// LOGIN user password (also used for Dovecot master-user templates like "user*admin").
    Login {
        username: String,
        password: SecretString,
    },
    /// AUTHENTICATE PLAIN with authorization identity (RFC 4616): authzid = mailbox to act
    /// as, authcid = admin.
    Plain {
        authzid: Option<String>,
        authcid: String,
        password: SecretString,
    },
    /// An OAuth 2.0 bearer token for `user`'s mailbox (OAUTHBEARER or XOAUTH2, as the
    /// server offers), from `tokens`; refused once, a fresh token is asked for and tried.
    OAuth {
        user: String,
        tokens: Arc<dyn BearerTokens>,
    },
}

/// A bearer token, and a number that tells it from the tokens before and after it.
pub struct Bearer {
    pub token: SecretString,
    pub serial: u64,
}

/// Why no token could be had (the token endpoint's answer, with what to do).
#[derive(Debug, Clone)]
pub struct BearerError {
    pub message: String,
    /// Whether asking again later may succeed (network trouble, the provider's 5xx).
    pub transient: bool,
}

/// Where bearer tokens come from: the OAuth token cache of a connection.
#[async_trait::async_trait]
pub trait BearerTokens: Send + Sync {
    /// A token for `user`'s mailbox. `refused`: the serial of a token the server just
    /// refused, which must not be handed out again.
    async fn bearer(&self, user: &str, refused: Option<u64>) -> Result<Bearer, BearerError>;

    /// What usually fixes a token the IMAP server refuses, for error messages.
    fn refused_hint(&self) -> String;
}

/// The SASL mechanism that carries a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism {
    /// RFC 7628, the standard one.
    OAuthBearer,
    /// Google's and Microsoft's older mechanism.
    XOAuth2,
}

impl OAuthMechanism {
    pub fn name(self) -> &'static str {
        match self {
            OAuthMechanism::OAuthBearer => "OAUTHBEARER",
            OAuthMechanism::XOAuth2 => "XOAUTH2",
        }
    }

    /// The initial client response carrying `token` for `user`.
    fn initial_response(self, user: &str, token: &str) -> Zeroizing<Vec<u8>> {
        let text = match self {
            // RFC 7628 §3.1: gs2-header "n,a=" saslname "," then kvpairs, each ended by
            // %x01, and a final %x01; saslname escapes '=' and ',' (RFC 5801 §4).
            OAuthMechanism::OAuthBearer => format!(
                "n,a={},\x01auth=Bearer {token}\x01\x01",
                user.replace('=', "=3D").replace(',', "=2C")
            ),
            // https://developers.google.com/gmail/imap/xoauth2-protocol
            OAuthMechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        };
        Zeroizing::new(text.into_bytes())
    }

    /// What the client answers to the server's error challenge: RFC 7628 §3.2.3's
    /// dummy %x01; XOAUTH2's empty response.
    fn failure_reply(self) -> &'static [u8] {
        match self {
            OAuthMechanism::OAuthBearer => b"AQ==",
            OAuthMechanism::XOAuth2 => b"",
        }
    }
}

/// The mechanism for a bearer token from the server's capabilities: OAUTHBEARER when
/// offered, else XOAUTH2 (Microsoft 365 offers only that), else none.
pub fn choose_oauth_mechanism<'a>(
    caps: impl IntoIterator<Item = &'a str>,
) -> Option<OAuthMechanism> {
    let mut best = None;
    for cap in caps {
        if cap.eq_ignore_ascii_case("AUTH=OAUTHBEARER") {
            return Some(OAuthMechanism::OAuthBearer);
        }
        if cap.eq_ignore_ascii_case("AUTH=XOAUTH2") {
            best = Some(OAuthMechanism::XOAuth2);
        }
    }
    best
}

/// The server's error for a refused token in words: RFC 7628 §3.2.2's JSON (`status`,
/// `scope`, `schemes`) when it sent one, then its NO text.
pub fn describe_refusal(challenge: Option<&[u8]>, text: &str) -> String {
    let json = challenge
        .map(|c| String::from_utf8_lossy(c).trim().to_string())
        .filter(|c| !c.is_empty());
    match json {
        Some(json) => format!("{text} (the server's error: {json})"),
        None => text.to_string(),
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Login { username, .. } => f
                .debug_struct("Login")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::Plain {
                authzid, authcid, ..
            } => f
                .debug_struct("Plain")
                .field("authzid", authzid)
                .field("authcid", authcid)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::OAuth { user, .. } => f
                .debug_struct("OAuth")
                .field("user", user)
                .field("tokens", &"<redacted>")
                .finish(),
        }
    }
}

impl Credentials {
    /// The identity whose mailbox the session will act on, for logs.
    pub fn identity(&self) -> &str {
        match self {
            Credentials::Login { username, .. } => username,
            Credentials::Plain {
                authzid: Some(z), ..
            } => z,
            Credentials::Plain { authcid, .. } => authcid,
            Credentials::OAuth { user, .. } => user,
        }
    }
}

impl Session {
    /// Logs in. PLAIN sends its initial response inline when SASL-IR is advertised, else
    /// waits for the `+`. Capabilities are refreshed afterwards (from the OK's code when
    /// present). A rejection is [`ImapError::AuthenticationFailed`] with the server's
    /// text, except a NO [UNAVAILABLE], which is [`ImapError::No`] so that it counts as
    /// transient.
    pub async fn authenticate(&mut self, creds: &Credentials) -> Result<(), ImapError> {
        if self.authenticated {
            debug!("already authenticated (PREAUTH); skipping login");
            return Ok(());
        }
        if let Credentials::OAuth { user, tokens } = creds {
            return self.authenticate_oauth(user, tokens.as_ref()).await;
        }
        let tag = self.conn.next_tag();
        let (command, parts): (&'static str, Vec<Out<'static>>) = match creds {
            Credentials::OAuth { .. } => unreachable!("handled above"),
            Credentials::Login { username, password } => {
                if self.caps.has("LOGINDISABLED") {
                    return Err(ImapError::AuthenticationFailed {
                        text: "server advertises LOGINDISABLED (use TLS/STARTTLS or AUTHENTICATE)"
                            .into(),
                    });
                }
                let body = CommandBody::login(username.as_str(), password.expose_secret())
                    .map_err(|_| {
                        ImapError::InvalidArgument(
                            "username or password cannot be sent with LOGIN".into(),
                        )
                    })?;
                ("LOGIN", encode_command(&tag, body)?)
            }
            Credentials::Plain {
                authzid,
                authcid,
                password,
            } => {
                let mut payload = Zeroizing::new(Vec::new());
                payload.extend_from_slice(authzid.as_deref().unwrap_or("").as_bytes());
                payload.push(0);
                payload.extend_from_slice(authcid.as_bytes());
                payload.push(0);
                payload.extend_from_slice(password.expose_secret().as_bytes());
                if self.caps.has("SASL-IR") {
                    let body = CommandBody::authenticate_with_ir(
                        AuthMechanism::Plain,
                        Cow::Borrowed(payload.as_slice()),
                    );
                    ("AUTHENTICATE", encode_command(&tag, body)?)
                } else {
                    let mut parts =
                        encode_command(&tag, CommandBody::authenticate(AuthMechanism::Plain))?;
                    let mut line = base64::engine::general_purpose::STANDARD
                        .encode(payload.as_slice())
                        .into_bytes();
                    line.extend_from_slice(b"\r\n");
                    parts.push(Out::AwaitContinuation);
                    parts.push(Out::Bytes(line.into()));
                    ("AUTHENTICATE", parts)
                }
            }
        };
        // Move every piece into a zeroizing buffer; they hold the password.
        let owned: Vec<Option<Zeroizing<Vec<u8>>>> = parts
            .into_iter()
            .map(|p| match p {
                Out::Bytes(b) => Some(Zeroizing::new(b.into_owned())),
                Out::AwaitContinuation | Out::Spool(_) => None,
            })
            .collect();
        let parts: Vec<Out<'_>> = owned
            .iter()
            .map(|o| match o {
                Some(b) => Out::Bytes(Cow::Borrowed(b.as_slice())),
                None => Out::AwaitContinuation,
            })
            .collect();
        let done = match self
            .conn
            .execute(command, &tag, parts, Logging::Redacted)
            .await
        {
            Ok(done) => done,
            // An AUTHENTICATE exchange answered with a second `+` means the server wants
            // more than PLAIN gives: treat as a failed login.
            Err(ImapError::Protocol(text)) => {
                return Err(ImapError::AuthenticationFailed { text });
            }
            Err(e) => return Err(e),
        };
        drop(owned);
        match done.status.kind {
            StatusKind::Ok => {}
            StatusKind::No
                if done
                    .status
                    .code
                    .as_ref()
                    .is_some_and(|c| c.is("UNAVAILABLE")) =>
            {
                return Err(ImapError::No {
                    command,
                    code: done.status.code.map(|c| c.text()),
                    text: done.status.text,
                });
            }
            StatusKind::No | StatusKind::Bad => {
                return Err(ImapError::AuthenticationFailed {
                    text: done.status.text,
                });
            }
        }
        self.authenticated = true;
        debug!(identity = creds.identity(), "authenticated");
        match done.status.code {
            Some(Code::Capability(caps)) => self.caps = Capabilities::new(caps),
            _ => self.refresh_capabilities().await?,
        }
        Ok(())
    }

    /// OAUTHBEARER or XOAUTH2 with a token for `user`; a refused token is replaced once
    /// (it may have been revoked or expired early) before the login counts as failed.
    async fn authenticate_oauth(
        &mut self,
        user: &str,
        tokens: &dyn BearerTokens,
    ) -> Result<(), ImapError> {
        let Some(mechanism) = choose_oauth_mechanism(self.caps.iter()) else {
            return Err(ImapError::AuthenticationFailed {
                text: "the server offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2, so it \
                       does not take OAuth tokens; use its password login (--auth password)"
                    .into(),
            });
        };
        let token_error = |e: BearerError| ImapError::Token {
            text: e.message,
            transient: e.transient,
        };
        let bearer = tokens.bearer(user, None).await.map_err(token_error)?;
        let refusal = match self.sasl_bearer(mechanism, user, &bearer).await? {
            None => return Ok(()),
            Some(refusal) => refusal,
        };
        debug!(
            user,
            mechanism = mechanism.name(),
            refusal = %refusal,
            "token refused; asking for a fresh one"
        );
        let fresh = tokens
            .bearer(user, Some(bearer.serial))
            .await
            .map_err(token_error)?;
        match self.sasl_bearer(mechanism, user, &fresh).await? {
            None => Ok(()),
            Some(again) => Err(ImapError::AuthenticationFailed {
                text: format!(
                    "{} refused the token for {user}: {}; {}",
                    mechanism.name(),
                    again,
                    tokens.refused_hint()
                ),
            }),
        }
    }

    /// One AUTHENTICATE with a token: `None` when logged in, else the server's refusal.
    async fn sasl_bearer(
        &mut self,
        mechanism: OAuthMechanism,
        user: &str,
        bearer: &Bearer,
    ) -> Result<Option<String>, ImapError> {
        let tag = self.conn.next_tag();
        let payload = mechanism.initial_response(user, bearer.token.expose_secret());
        let auth_mechanism = match mechanism {
            OAuthMechanism::OAuthBearer => AuthMechanism::OAuthBearer,
            OAuthMechanism::XOAuth2 => AuthMechanism::XOAuth2,
        };
        let mut parts = Vec::new();
        if self.caps.has("SASL-IR") {
            let body = CommandBody::authenticate_with_ir(
                auth_mechanism,
                Cow::Borrowed(payload.as_slice()),
            );
            for part in encode_command(&tag, body)? {
                if let Out::Bytes(b) = part {
                    parts.push(Zeroizing::new(b.into_owned()));
                }
            }
        } else {
            for part in encode_command(&tag, CommandBody::authenticate(auth_mechanism))? {
                if let Out::Bytes(b) = part {
                    parts.push(Zeroizing::new(b.into_owned()));
                }
            }
            let mut line = base64::engine::general_purpose::STANDARD
                .encode(payload.as_slice())
                .into_bytes();
            line.extend_from_slice(b"\r\n");
            parts.push(Zeroizing::new(line));
        }
        let with_ir = self.caps.has("SASL-IR");
        let out: Vec<Out<'_>> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                let wait = (!with_ir && i + 1 == parts.len()).then_some(Out::AwaitContinuation);
                wait.into_iter()
                    .chain(std::iter::once(Out::Bytes(Cow::Borrowed(b.as_slice()))))
            })
            .collect();
        let (done, challenge) = self
            .conn
            .execute_sasl("AUTHENTICATE", &tag, out, mechanism.failure_reply())
            .await?;
        drop(parts);
        match done.status.kind {
            StatusKind::Ok => {}
            StatusKind::No
                if done
                    .status
                    .code
                    .as_ref()
                    .is_some_and(|c| c.is("UNAVAILABLE")) =>
            {
                return Err(ImapError::No {
                    command: "AUTHENTICATE",
                    code: done.status.code.map(|c| c.text()),
                    text: done.status.text,
                });
            }
            StatusKind::No | StatusKind::Bad => {
                return Ok(Some(describe_refusal(
                    challenge.as_deref(),
                    &done.status.text,
                )));
            }
        }
        self.authenticated = true;
        debug!(
            identity = user,
            mechanism = mechanism.name(),
            "authenticated"
        );
        match done.status.code {
            Some(Code::Capability(caps)) => self.caps = Capabilities::new(caps),
            _ => self.refresh_capabilities().await?,
        }
        Ok(None)
    }
}

#[cfg(test)]
mod oauth_tests {
    use super::*;

    #[test]
    fn oauthbearer_is_preferred_and_xoauth2_is_the_fallback() {
        let caps = ["IMAP4rev1", "SASL-IR", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"];
        assert_eq!(
            choose_oauth_mechanism(caps),
            Some(OAuthMechanism::OAuthBearer)
        );
        // Microsoft 365 offers only XOAUTH2.
        let caps = ["IMAP4rev1", "AUTH=PLAIN", "auth=xoauth2"];
        assert_eq!(choose_oauth_mechanism(caps), Some(OAuthMechanism::XOAuth2));
        assert_eq!(choose_oauth_mechanism(["IMAP4rev1", "AUTH=PLAIN"]), None);
    }

    #[test]
    fn initial_responses_follow_their_specs() {
        let x = OAuthMechanism::XOAuth2.initial_response("a@b.test", "tok");
        assert_eq!(x.as_slice(), b"user=a@b.test\x01auth=Bearer tok\x01\x01");
        let o = OAuthMechanism::OAuthBearer.initial_response("a,b=c@d.test", "tok");
        assert_eq!(
            o.as_slice(),
            b"n,a=a=2Cb=3Dc@d.test,\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn a_refusal_carries_the_servers_json() {
        let text = describe_refusal(
            Some(br#"{"status":"invalid_token","schemes":"bearer"}"#),
            "Authentication failed",
        );
        assert!(text.contains("invalid_token") && text.starts_with("Authentication failed"));
        assert_eq!(describe_refusal(Some(b" "), "No"), "No");
    }
}
