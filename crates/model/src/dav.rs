//! Calendars, contacts and tasks over CalDAV/CardDAV: where a side's DAV server is and
//! how a user signs in to it. Kept beside the IMAP settings of the endpoint and the
//! target; a side without them moves mail only.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a user's calendars and address books are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DavAuth {
    /// Each user signs in with their own password from the users CSV (HTTP Basic over
    /// TLS): the only way into Radicale and Xandikos, which have no admin that can act
    /// for a user. On the source the login is the CSV's UserName (else the address), on
    /// the target the address.
    #[default]
    PerUser,
}

impl DavAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            DavAuth::PerUser => "per-user",
        }
    }
}

impl fmt::Display for DavAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DavAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "per-user" | "peruser" => Ok(DavAuth::PerUser),
            _ => Err(format!(
                "unknown DAV sign-in '{s}'; expected per-user (each user's password from the users CSV)"
            )),
        }
    }
}

/// A side's CalDAV/CardDAV server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DavSettings {
    /// The server's base URL (`https://dav.example.org/`); the CalDAV and CardDAV
    /// context paths are found from it (RFC 6764 `/.well-known/caldav|carddav`). Empty
    /// when the server is found from each user's address ([`DavSettings::discover`]).
    pub url: String,
    /// PEM file with extra CA certificates to trust (a private CA).
    pub ca_file: Option<String>,
    pub auth: DavAuth,
    /// Find the server from each user's address (RFC 6764): the SRV record
    /// `_caldavs._tcp.DOMAIN`, else `https://DOMAIN/` and its well-known URIs.
    #[serde(default)]
    pub discover: bool,
    /// The DNS server that answers the SRV look-ups (IP:PORT); `None`: the system's.
    #[serde(default)]
    pub dns_server: Option<String>,
}

impl DavSettings {
    /// Checks a base URL as given by the admin: https, or http only on loopback (a
    /// test server), with a host.
    pub fn check_url(url: &str) -> Result<String, String> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("'{url}' is not a URL; give the DAV server's base URL, e.g. https://dav.example.org/")
        })?;
        let host_port = rest.split('/').next().unwrap_or_default();
        let host = match host_port.rsplit_once(':') {
            Some((h, port)) if !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host_port,
        };
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(url.to_string()),
            "http" if crate::endpoint::is_loopback(host) => Ok(url.to_string()),
            "http" => Err(format!(
                "'{url}': plain http would send the users' passwords in clear; use https:// (plain http is only for a server on loopback)"
            )),
            other => Err(format!(
                "'{url}': unknown scheme '{other}'; expected https://"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dav_url_must_be_https_unless_on_loopback() {
        assert!(DavSettings::check_url("https://dav.example.org/").is_ok());
        assert!(DavSettings::check_url("http://127.0.0.1:5232/").is_ok());
        assert!(DavSettings::check_url("http://localhost/dav").is_ok());
        let e = DavSettings::check_url("http://dav.example.org/").unwrap_err();
        assert!(e.contains("in clear"), "{e}");
        assert!(DavSettings::check_url("dav.example.org").is_err());
        assert!(DavSettings::check_url("https:///x").is_err());
        assert!(DavSettings::check_url("ftp://x.org/").is_err());
    }

    #[test]
    fn dav_auth_parses_per_user_only() {
        assert_eq!("Per-User".parse::<DavAuth>().unwrap(), DavAuth::PerUser);
        assert!("admin".parse::<DavAuth>().unwrap_err().contains("per-user"));
    }
}
