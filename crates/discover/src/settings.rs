//! What discovery finds: an IMAP server's settings, and how it was found.

use std::fmt;
use std::net::IpAddr;

use cutover_model::Security;
use serde::Serialize;

/// IMAP connection settings for a mailbox, as a discovery method published them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The login name the method advertised (autoconfig's `%EMAILADDRESS%` expanded),
    /// if it gave one.
    pub username: Option<String>,
}

/// The methods, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    /// RFC 6186 `_imaps._tcp` / `_imap._tcp` SRV records.
    Srv,
    /// Mozilla autoconfig (`autoconfig.DOMAIN`, then `DOMAIN/.well-known`).
    Autoconfig,
    /// Microsoft Autodiscover POX (`autodiscover.DOMAIN`, then the `_autodiscover._tcp` SRV).
    Autodiscover,
    /// Host names guessed from the domain and its MX records, tried on the IMAP ports.
    MxGuess,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Srv,
        Method::Autoconfig,
        Method::Autodiscover,
        Method::MxGuess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Srv => "SRV",
            Method::Autoconfig => "Autoconfig",
            Method::Autodiscover => "Autodiscover",
            Method::MxGuess => "MxGuess",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What discovery did not do for want of the admin's consent (see `trust`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Withheld {
    /// Autodiscover was to send the admin's login to `host` (at `url`), which is outside
    /// the address's domain and not allowed with `--allow-redirect HOST`.
    Credentials { host: String, url: String },
    /// A method found these settings, which have no TLS: the admin's password would
    /// cross the network in clear, and `--allow-plaintext` was not given.
    Plaintext(ImapSettings),
}

impl Withheld {
    /// What was not done, and the option that allows it.
    pub fn hint(&self, domain: &str) -> String {
        match self {
            Withheld::Credentials { host, .. } => format!(
                "{host} asked for the admin's login but is not in {domain}; \
                 to send it there, give {} {host}",
                crate::trust::ALLOW_REDIRECT
            ),
            Withheld::Plaintext(s) => format!(
                "{}:{} offers IMAP without TLS; to send the admin's password there in \
                 clear, give {}",
                s.host,
                s.port,
                crate::trust::ALLOW_PLAINTEXT
            ),
        }
    }
}

/// What one method did: the places it looked and what it found there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub method: Method,
    /// One line per place looked at (a DNS name, a URL), with its answer.
    pub steps: Vec<String>,
    pub found: Option<ImapSettings>,
    /// What it stopped short of without the admin's consent.
    pub withheld: Vec<Withheld>,
}

impl Attempt {
    pub fn new(method: Method) -> Self {
        Attempt {
            method,
            steps: Vec::new(),
            found: None,
            withheld: Vec::new(),
        }
    }

    /// Drops settings without TLS it found, unless `allow_plaintext`: they are kept
    /// as withheld, with a step that says why, and discovery goes on.
    pub fn withhold_plaintext(&mut self, allow_plaintext: bool) {
        if let Some(s) = self
            .found
            .take_if(|s| !crate::trust::may_use_with_password(s.security, allow_plaintext))
        {
            self.steps.push(format!(
                "{}:{} is IMAP without TLS: not used without {}",
                s.host,
                s.port,
                crate::trust::ALLOW_PLAINTEXT
            ));
            self.withheld.push(Withheld::Plaintext(s));
        }
    }

    /// "SRV: _imaps._tcp.contoso.test: no record; ..." for a report.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.method, self.steps.join("; "))
    }
}

/// The whole discovery for one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovery {
    pub email: String,
    pub domain: String,
    /// Every method tried, in order; the last one is the one that found the settings
    /// (when one did).
    pub attempts: Vec<Attempt>,
    /// Addresses of the host found, from the resolver discovery used (so that a
    /// connection goes where discovery looked, whatever the system resolver says).
    pub addresses: Vec<IpAddr>,
}

impl Discovery {
    /// The method that found the settings, and the settings.
    pub fn found(&self) -> Option<(Method, &ImapSettings)> {
        self.attempts
            .iter()
            .find_map(|a| a.found.as_ref().map(|s| (a.method, s)))
    }

    /// Why each method before the winning one (or every method) found nothing.
    pub fn explanation(&self) -> String {
        let lines: Vec<String> = self.attempts.iter().map(Attempt::summary).collect();
        lines.join("\n")
    }

    /// What every method stopped short of, each with the option that allows it.
    pub fn hints(&self) -> Vec<String> {
        self.attempts
            .iter()
            .flat_map(|a| {
                a.withheld
                    .iter()
                    .map(|w| format!("{}: {}", a.method, w.hint(&self.domain)))
            })
            .collect()
    }
}

/// Splits an address into local part and domain (lower-cased), or says what is wrong.
pub fn email_domain(email: &str) -> Option<(String, String)> {
    let email = email.trim();
    let (local, domain) = email.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if local.is_empty() || domain.is_empty() || !domain.contains('.') || domain.contains(' ') {
        return None;
    }
    Some((local.to_string(), domain))
}

/// Host names compare without case and trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(method: Method, step: &str, found: Option<&str>) -> Attempt {
        Attempt {
            method,
            withheld: Vec::new(),
            steps: vec![step.to_string()],
            found: found.map(|host| ImapSettings {
                host: host.into(),
                port: 993,
                security: Security::Tls,
                username: None,
            }),
        }
    }

    #[test]
    fn the_first_method_that_found_settings_wins_and_every_attempt_is_explained() {
        let d = Discovery {
            email: "admin@contoso.test".into(),
            domain: "contoso.test".into(),
            attempts: vec![
                attempt(Method::Srv, "_imaps._tcp.contoso.test: no record", None),
                attempt(
                    Method::Autoconfig,
                    "https://autoconfig...: imap.a",
                    Some("imap.a"),
                ),
                attempt(Method::Autodiscover, "POST ...: imap.b", Some("imap.b")),
            ],
            addresses: Vec::new(),
        };
        let (method, settings) = d.found().unwrap();
        assert_eq!(
            (method, settings.host.as_str()),
            (Method::Autoconfig, "imap.a")
        );
        assert_eq!(
            d.explanation().lines().next(),
            Some("SRV: _imaps._tcp.contoso.test: no record")
        );
        let none = Discovery {
            attempts: vec![attempt(Method::MxGuess, "contoso.test: no MX record", None)],
            ..d
        };
        assert!(none.found().is_none());
        assert_eq!(none.explanation(), "MxGuess: contoso.test: no MX record");
    }

    #[test]
    fn addresses_split_into_local_part_and_lowercase_domain() {
        assert_eq!(
            email_domain("Admin@Contoso.Test"),
            Some(("Admin".into(), "contoso.test".into()))
        );
        assert_eq!(email_domain("admin"), None);
        assert_eq!(email_domain("@contoso.test"), None);
        assert_eq!(email_domain("a@localhost"), None);
        assert_eq!(normalize_host("MX.Contoso.Test."), "mx.contoso.test");
    }

    #[test]
    fn settings_without_tls_are_withheld_with_the_option_that_allows_them() {
        let plain = ImapSettings {
            host: "mail.contoso.test".into(),
            port: 143,
            security: Security::None,
            username: None,
        };
        let mut a = Attempt::new(Method::Autoconfig);
        a.found = Some(plain.clone());
        a.withhold_plaintext(false);
        assert_eq!(a.found, None);
        assert_eq!(a.withheld, vec![Withheld::Plaintext(plain.clone())]);
        assert!(a.summary().contains("--allow-plaintext"), "{}", a.summary());
        let d = Discovery {
            email: "admin@contoso.test".into(),
            domain: "contoso.test".into(),
            attempts: vec![a],
            addresses: Vec::new(),
        };
        assert_eq!(
            d.hints(),
            vec![
                "Autoconfig: mail.contoso.test:143 offers IMAP without TLS; to send the \
                 admin's password there in clear, give --allow-plaintext"
            ]
        );
        // Allowed: kept. With TLS: kept, whatever the option.
        let mut a = Attempt::new(Method::Autoconfig);
        a.found = Some(plain.clone());
        a.withhold_plaintext(true);
        assert_eq!(a.found, Some(plain));
        let mut a = attempt(Method::Srv, "x", Some("imap.contoso.test"));
        a.withhold_plaintext(false);
        assert!(a.found.is_some() && a.withheld.is_empty());
    }

    #[test]
    fn a_host_outside_the_domain_is_named_with_the_option() {
        let w = Withheld::Credentials {
            host: "ad.hoster.test".into(),
            url: "https://ad.hoster.test/autodiscover/autodiscover.xml".into(),
        };
        assert_eq!(
            w.hint("contoso.test"),
            "ad.hoster.test asked for the admin's login but is not in contoso.test; to send \
             it there, give --allow-redirect ad.hoster.test"
        );
    }
}
