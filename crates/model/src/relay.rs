//! The SMTP relay that carries the batches' notification e-mails, set once per
//! installation (`cutover notify set`). Its password is sealed in the store, never here.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::EmailAddress;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmtpTls {
    /// Plain SMTP, then STARTTLS before anything else (submission, port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS at all: only for a relay on loopback.
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "StartTls",
            SmtpTls::Implicit => "Implicit",
            SmtpTls::None => "None",
        }
    }

    /// The port a relay usually listens on with this protection.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }
}

impl fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpTls::StartTls),
            "implicit" | "tls" | "smtps" => Ok(SmtpTls::Implicit),
            "none" => Ok(SmtpTls::None),
            _ => Err(format!(
                "unknown SMTP security '{s}'; expected starttls, implicit or none"
            )),
        }
    }
}

/// The installation's SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// The sender of every notification.
    pub from: EmailAddress,
    /// The login at the relay (AUTH PLAIN or LOGIN), when it wants one.
    pub user: Option<String>,
    /// A private CA (PEM) to trust besides the public roots.
    pub ca_file: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl SmtpRelay {
    /// `host:port`, as errors name the relay.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_names_parse_and_have_ports() {
        assert_eq!("STARTTLS".parse::<SmtpTls>(), Ok(SmtpTls::StartTls));
        assert_eq!("implicit".parse::<SmtpTls>(), Ok(SmtpTls::Implicit));
        assert_eq!("none".parse::<SmtpTls>(), Ok(SmtpTls::None));
        assert!("ssl3".parse::<SmtpTls>().unwrap_err().contains("starttls"));
        assert_eq!(SmtpTls::StartTls.default_port(), 587);
        assert_eq!(SmtpTls::Implicit.default_port(), 465);
    }
}
