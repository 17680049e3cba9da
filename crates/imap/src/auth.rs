//! LOGIN and AUTHENTICATE PLAIN (RFC 4616, with authorization identity for admin /
//! master-user access). Credentials never reach logs or error messages; the buffers
//! that carry them on the way out are zeroized.

use std::{borrow::Cow, fmt};

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
        let tag = self.conn.next_tag();
        let (command, parts): (&'static str, Vec<Out<'static>>) = match creds {
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
}
