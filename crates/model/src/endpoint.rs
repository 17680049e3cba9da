//! Connection settings: the migration endpoint (the source system) and the target.
//! Passwords are not part of these values; the store keeps them encrypted beside them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::Name;

/// How the connection to a server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Security {
    None,
    StartTls,
    Tls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "None",
            Security::StartTls => "StartTls",
            Security::Tls => "Tls",
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "plain" => Ok(Security::None),
            "starttls" => Ok(Security::StartTls),
            "tls" | "ssl" | "imaps" => Ok(Security::Tls),
            _ => Err(format!(
                "unknown security '{s}'; expected none, starttls or tls"
            )),
        }
    }
}

/// How the admin's credentials open a user's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Impersonation {
    /// SASL PLAIN with the user as authorization identity (RFC 4616): Dovecot master
    /// users, Cyrus admins, Zimbra, Exchange with FullAccess.
    Authzid,
    /// LOGIN with a user name built from a template, e.g. `{user}*{admin}` for
    /// Dovecot master users; `{user}` and `{admin}` are replaced.
    Template(String),
    /// Each user logs in with their own password from the users CSV.
    PerUser,
}

impl Impersonation {
    /// The login name the template gives for a user.
    pub fn login_for(&self, user: &str, admin: &str) -> Option<String> {
        match self {
            Impersonation::Template(t) => Some(t.replace("{user}", user).replace("{admin}", admin)),
            _ => None,
        }
    }
}

impl fmt::Display for Impersonation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Impersonation::Authzid => f.write_str("authzid"),
            Impersonation::Template(t) => write!(f, "template:{t}"),
            Impersonation::PerUser => f.write_str("per-user"),
        }
    }
}

impl FromStr for Impersonation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(t) = s.strip_prefix("template:") {
            let t = t.trim_matches('\'');
            if !t.contains("{user}") {
                return Err(format!(
                    "the impersonation template '{t}' has no {{user}}; write e.g. template:'{{user}}*{{admin}}'"
                ));
            }
            return Ok(Impersonation::Template(t.to_string()));
        }
        match s.to_ascii_lowercase().as_str() {
            "authzid" | "sasl-plain" => Ok(Impersonation::Authzid),
            "per-user" | "peruser" => Ok(Impersonation::PerUser),
            _ => Err(format!(
                "unknown impersonation '{s}'; expected authzid, template:'{{user}}*{{admin}}' or per-user"
            )),
        }
    }
}

/// Whether to ask the server for COMPRESS=DEFLATE (RFC 4978).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Compression {
    /// Off on loopback (where it only costs CPU); over a network, as the copies from the
    /// server measure: on only where deflated copies move mail faster (`sync::link`).
    #[default]
    Auto,
    On,
    Off,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Auto => "auto",
            Compression::On => "on",
            Compression::Off => "off",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Compression::Auto),
            "on" | "yes" | "true" => Ok(Compression::On),
            "off" | "no" | "false" => Ok(Compression::Off),
            _ => Err(format!(
                "unknown compression '{s}'; expected auto, on or off"
            )),
        }
    }
}

/// Whether a server name is this machine (`localhost`, 127.0.0.0/8, `[::1]`).
pub fn is_loopback(server: &str) -> bool {
    let host = server.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A server, how to reach it, and the admin who acts for the users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub server: String,
    pub port: u16,
    pub security: Security,
    pub admin: String,
    pub impersonation: Impersonation,
    /// PEM file with extra CA certificates to trust (a private CA).
    pub ca_file: Option<String>,
    pub compression: Compression,
    /// Sign in with OAuth 2.0 (XOAUTH2 / OAUTHBEARER) as this application; `None`:
    /// with the admin's password. The secret slot then holds the application's secret.
    #[serde(default)]
    pub oauth: Option<crate::oauth::OAuthApp>,
    /// The side's CalDAV/CardDAV server; `None`: mail only.
    #[serde(default)]
    pub dav: Option<crate::dav::DavSettings>,
}

/// A named, stored connection to the source system (New-MigrationEndpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: Name,
    pub connection: Connection,
    pub max_concurrent_migrations: u32,
    pub max_concurrent_incremental_syncs: u32,
    pub created_at: DateTime<Utc>,
}

impl Endpoint {
    pub const DEFAULT_MAX_CONCURRENT_MIGRATIONS: u32 = 100;
    pub const DEFAULT_MAX_CONCURRENT_INCREMENTAL_SYNCS: u32 = 20;

    /// Exchange's rule: incremental syncs never exceed migrations, and both are >= 1.
    pub fn check_limits(migrations: u32, incremental: u32) -> Result<(), String> {
        if migrations == 0 || incremental == 0 {
            return Err(
                "MaxConcurrentMigrations and MaxConcurrentIncrementalSyncs must be at least 1"
                    .into(),
            );
        }
        if incremental > migrations {
            return Err(format!(
                "MaxConcurrentIncrementalSyncs ({incremental}) cannot be above MaxConcurrentMigrations ({migrations})"
            ));
        }
        Ok(())
    }
}

/// The destination system: one per installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub connection: Connection,
    pub updated_at: DateTime<Utc>,
    /// Whether the target compares folder names without regard to case: set by the
    /// admin, or found by a pass's probe and remembered; `None` until then.
    pub folds_case: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impersonation_parses_the_documented_forms() {
        assert_eq!(
            "authzid".parse::<Impersonation>().unwrap(),
            Impersonation::Authzid
        );
        assert_eq!(
            "per-user".parse::<Impersonation>().unwrap(),
            Impersonation::PerUser
        );
        let t: Impersonation = "template:'{user}*{admin}'".parse().unwrap();
        assert_eq!(t.login_for("a@b.test", "admin").unwrap(), "a@b.test*admin");
        assert_eq!(t.to_string(), "template:{user}*{admin}");
        assert!("template:admin".parse::<Impersonation>().is_err());
        assert!("kerberos".parse::<Impersonation>().is_err());
    }

    #[test]
    fn limits_follow_exchange() {
        assert!(Endpoint::check_limits(100, 20).is_ok());
        assert!(Endpoint::check_limits(10, 20).is_err());
        assert!(Endpoint::check_limits(0, 0).is_err());
    }

    #[test]
    fn compression_parses_its_three_choices() {
        assert!(is_loopback("127.0.0.1") && is_loopback("localhost") && is_loopback("[::1]"));
        assert!(!is_loopback("mail.contoso.com"));
        assert_eq!("auto".parse::<Compression>().unwrap(), Compression::Auto);
        assert_eq!("ON".parse::<Compression>().unwrap(), Compression::On);
        assert!("zip".parse::<Compression>().is_err());
    }

    #[test]
    fn security_parses_aliases() {
        assert_eq!("SSL".parse::<Security>().unwrap(), Security::Tls);
        assert_eq!("starttls".parse::<Security>().unwrap(), Security::StartTls);
        assert!("maybe".parse::<Security>().is_err());
    }
}
