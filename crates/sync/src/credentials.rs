//! How the stored connection settings become IMAP logins for one user.

use cutover_imap::{Credentials, Security as ImapSecurity, ServerAddr, TlsOptions};
use cutover_model::{Compression, Connection, Impersonation, Security, endpoint::is_loopback};

use crate::link::{CompressChoice, LinkMeter};
use secrecy::SecretString;

/// One side of a mailbox pass: where to connect and how to log in as the user.
#[derive(Debug, Clone)]
pub struct Side {
    pub addr: ServerAddr,
    pub tls: TlsOptions,
    pub credentials: Credentials,
    /// Whether to ask for COMPRESS=DEFLATE after login.
    pub compress: CompressChoice,
}

pub fn server_addr(c: &Connection) -> ServerAddr {
    ServerAddr {
        host: c.server.clone(),
        port: c.port,
        security: match c.security {
            Security::None => ImapSecurity::None,
            Security::StartTls => ImapSecurity::StartTls,
            Security::Tls => ImapSecurity::Tls,
        },
    }
}

pub fn tls_options(c: &Connection) -> TlsOptions {
    TlsOptions {
        ca_file: c.ca_file.as_ref().map(Into::into),
    }
}

/// The login that opens `user`'s mailbox: the user's own password when the CSV gave
/// one, else an OAuth token of the connection's application for the mailbox, else the
/// admin acting for the user as the connection's impersonation says. `secret` is the
/// admin's password, or the application's secret for OAuth.
pub fn credentials_for(
    c: &Connection,
    secret: &SecretString,
    user: &str,
    user_password: Option<&SecretString>,
) -> Result<Credentials, String> {
    if let Some(password) = user_password {
        return Ok(Credentials::Login {
            username: user.to_string(),
            password: password.clone(),
        });
    }
    if let Some(app) = &c.oauth {
        // A bearer token opens the mailbox to whoever reads it on the way.
        if c.security == Security::None && !is_loopback(&c.server) {
            return Err(format!(
                "{} is reached without TLS (--security none): the OAuth token would cross the network in clear; use --security tls or starttls",
                c.server
            ));
        }
        // Shared by every login of the process, so tokens are cached across users and
        // passes.
        let tokens = cutover_oauth::tokens_for(app, secret, &tls_options(c))
            .map_err(|e| format!("the OAuth application of {}: {e}", c.server))?;
        return Ok(Credentials::OAuth {
            user: user.to_string(),
            tokens,
        });
    }
    let admin_password = secret;
    match &c.impersonation {
        Impersonation::Authzid => Ok(Credentials::Plain {
            authzid: Some(user.to_string()),
            authcid: c.admin.clone(),
            password: admin_password.clone(),
        }),
        Impersonation::Template(_) => Ok(Credentials::Login {
            username: c
                .impersonation
                .login_for(user, &c.admin)
                .unwrap_or_default(),
            password: admin_password.clone(),
        }),
        Impersonation::PerUser => Err(format!(
            "the connection uses per-user logins, but the users CSV gives no Password for {user}"
        )),
    }
}

/// `auto` on a server over a network is decided by what copies from it measured
/// ([`crate::link`]); `on`, `off` and loopback are fixed.
fn compress_choice(c: &Connection) -> CompressChoice {
    match c.compression {
        Compression::Auto if !is_loopback(&c.server) || crate::link::loopback_is_a_link() => {
            CompressChoice::Measured(LinkMeter::of(&c.server, c.port))
        }
        Compression::Auto | Compression::Off => CompressChoice::Fixed(false),
        Compression::On => CompressChoice::Fixed(true),
    }
}

/// The side for a user on a connection.
pub fn side(
    c: &Connection,
    admin_password: &SecretString,
    user: &str,
    user_password: Option<&SecretString>,
) -> Result<Side, String> {
    Ok(Side {
        addr: server_addr(c),
        tls: tls_options(c),
        credentials: credentials_for(c, admin_password, user, user_password)?,
        compress: compress_choice(c),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(imp: Impersonation) -> Connection {
        Connection {
            server: "127.0.0.1".into(),
            port: 143,
            security: Security::None,
            admin: "admin".into(),
            impersonation: imp,
            ca_file: None,
            compression: Default::default(),
            oauth: None,
            dav: None,
        }
    }

    #[test]
    fn each_impersonation_gives_its_login() {
        let pw = SecretString::from("adminpass".to_string());
        match credentials_for(&conn(Impersonation::Authzid), &pw, "a@b.test", None).unwrap() {
            Credentials::Plain {
                authzid, authcid, ..
            } => {
                assert_eq!(
                    (authzid.as_deref(), authcid.as_str()),
                    (Some("a@b.test"), "admin")
                )
            }
            other => panic!("{other:?}"),
        }
        let t = Impersonation::Template("{user}*{admin}".into());
        match credentials_for(&conn(t), &pw, "a@b.test", None).unwrap() {
            Credentials::Login { username, .. } => assert_eq!(username, "a@b.test*admin"),
            other => panic!("{other:?}"),
        }
        let own = SecretString::from("own".to_string());
        match credentials_for(&conn(Impersonation::Authzid), &pw, "a@b.test", Some(&own)).unwrap() {
            Credentials::Login { username, .. } => assert_eq!(username, "a@b.test"),
            other => panic!("{other:?}"),
        }
        let err =
            credentials_for(&conn(Impersonation::PerUser), &pw, "a@b.test", None).unwrap_err();
        assert!(err.contains("no Password for a@b.test"), "{err}");
    }

    #[test]
    fn an_oauth_connection_logs_in_with_the_applications_token() {
        let mut c = conn(Impersonation::Authzid);
        c.oauth = Some(cutover_model::OAuthApp {
            provider: cutover_model::OAuthProvider::Generic,
            tenant: None,
            client_id: "app".into(),
            credential: cutover_model::OAuthCredential::ClientSecret,
            token_url: Some("http://127.0.0.1:9/token".into()),
            scope: Some("mail:{user}".into()),
        });
        let secret = SecretString::from("s".to_string());
        match credentials_for(&c, &secret, "a@b.test", None).unwrap() {
            Credentials::OAuth { user, .. } => assert_eq!(user, "a@b.test"),
            other => panic!("{other:?}"),
        }
        c.oauth.as_mut().unwrap().token_url = Some("http://idp.example/token".into());
        let err = credentials_for(&c, &secret, "a@b.test", None).unwrap_err();
        assert!(err.contains("plain HTTP"), "{err}");
        // Tokens travel in clear only on loopback.
        c.oauth.as_mut().unwrap().token_url = Some("http://127.0.0.1:9/token".into());
        c.server = "imap.contoso.test".into();
        let err = credentials_for(&c, &secret, "a@b.test", None).unwrap_err();
        assert!(err.contains("--security tls"), "{err}");
        c.security = Security::StartTls;
        assert!(credentials_for(&c, &secret, "a@b.test", None).is_ok());
    }
}
