//! What discovery may do with the admin's password, decided without IO.
//!
//! Autodiscover POX asks for the admin's login (HTTP Basic over TLS). Whoever controls
//! a DNS answer or an Autodiscover reply can name any host as the next place to ask
//! (an `_autodiscover._tcp` SRV record, `redirectUrl`, an HTTP 30x), and a valid
//! certificate for a host of their own is easy to get: so the login goes only to hosts
//! in the address's own domain, or to a host the admin named (`--allow-redirect HOST`).
//! Outlook asks the user in the same situation. Likewise settings that say "no TLS"
//! are not used with the admin's password unless the admin says so
//! (`--allow-plaintext`). (Discovery never reads settings over plain HTTP: every
//! request is HTTPS, and redirects to `http:` are not followed.)

use std::net::IpAddr;

use cutover_model::Security;

use crate::settings::normalize_host;

/// The option that allows a host outside the address's domain, as the CLI spells it
/// (the cmdlet shell translates it to `-AllowRedirect`).
pub const ALLOW_REDIRECT: &str = "--allow-redirect";
/// The option that allows settings without TLS (`-AllowPlaintext` in the shell).
pub const ALLOW_PLAINTEXT: &str = "--allow-plaintext";

/// Whether `host` lies in `domain`: the domain itself or a name under it, compared
/// label by label without case and trailing dot (`mail.Contoso.com.` is in
/// `contoso.com`; `evilcontoso.com` and `contoso.com.evil.net` are not). An IP
/// address is in no domain.
pub fn in_domain(domain: &str, host: &str) -> bool {
    let domain = normalize_host(domain);
    let host = normalize_host(host);
    if domain.is_empty() || host.is_empty() || is_ip(&host) {
        return false;
    }
    let d: Vec<&str> = domain.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    if d.iter().chain(&h).any(|label| label.is_empty()) || h.len() < d.len() {
        return false;
    }
    h[h.len() - d.len()..] == d[..]
}

fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

/// Whether Autodiscover may send the admin's login to `host` while discovering an
/// address of `email_domain`: a host in that domain, or one of `allowed` (the admin's
/// `--allow-redirect` hosts, compared exactly, without case and trailing dot).
pub fn may_send_credentials(email_domain: &str, host: &str, allowed: &[String]) -> bool {
    let host_n = normalize_host(host);
    if host_n.is_empty() {
        return false;
    }
    in_domain(email_domain, host) || allowed.iter().any(|a| normalize_host(a) == host_n)
}

/// Whether settings with this security may be used with the admin's password: only
/// with TLS (from the first byte or by STARTTLS), unless the admin allowed plaintext.
pub fn may_use_with_password(security: Security, allow_plaintext: bool) -> bool {
    security != Security::None || allow_plaintext
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn allowed(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn the_domain_and_its_subdomains_are_in_it_and_look_alikes_are_not() {
        for host in [
            "contoso.com",
            "autodiscover.contoso.com",
            "Mail.EU.Contoso.COM.",
            " a.contoso.com ",
        ] {
            assert!(in_domain("contoso.com", host), "{host}");
            assert!(may_send_credentials("Contoso.com.", host, &[]), "{host}");
        }
        for host in [
            "evilcontoso.com",
            "contoso.com.evil.net",
            "contoso.co",
            "com",
            "autodiscover.fabrikam.com",
            "contoso..com",
            ".contoso.com",
            "",
            "127.0.0.1",
            "[::1]",
        ] {
            assert!(!in_domain("contoso.com", host), "{host}");
            assert!(!may_send_credentials("contoso.com", host, &[]), "{host}");
        }
        // An IP address as the "domain" makes no host trusted either.
        assert!(!in_domain("0.0.1", "10.0.0.1"));
    }

    #[test]
    fn a_host_the_admin_allowed_is_trusted_exactly() {
        let hoster = allowed(&["Autodiscover.Hoster.NET."]);
        assert!(may_send_credentials(
            "contoso.com",
            "autodiscover.hoster.net",
            &hoster
        ));
        // Not its subdomains, not its parent, not look-alikes.
        for host in [
            "x.autodiscover.hoster.net",
            "hoster.net",
            "evilautodiscover.hoster.net",
        ] {
            assert!(
                !may_send_credentials("contoso.com", host, &hoster),
                "{host}"
            );
        }
        assert!(!may_send_credentials("contoso.com", "", &allowed(&[""])));
    }

    #[test]
    fn plaintext_settings_need_the_admins_word() {
        assert!(may_use_with_password(Security::Tls, false));
        assert!(may_use_with_password(Security::StartTls, false));
        assert!(!may_use_with_password(Security::None, false));
        assert!(may_use_with_password(Security::None, true));
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,10}"
    }

    fn name(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(label(), 1..max).prop_map(|l| l.join("."))
    }

    /// Some letters upper-cased, a trailing dot or not.
    fn spelled(host: &str, upper: &[bool], dot: bool) -> String {
        let mut s: String = host
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
            .collect();
        if dot {
            s.push('.');
        }
        s
    }

    proptest! {
        #[test]
        fn names_under_the_domain_are_trusted_however_spelled(
            domain in name(4),
            sub in proptest::option::of(name(3)),
            upper in proptest::collection::vec(any::<bool>(), 1..8),
            dot in any::<bool>(),
        ) {
            let host = match &sub {
                Some(s) => format!("{s}.{domain}"),
                None => domain.clone(),
            };
            prop_assert!(may_send_credentials(&domain, &spelled(&host, &upper, dot), &[]));
            prop_assert!(may_send_credentials(&spelled(&domain, &upper, !dot), &host, &[]));
        }

        #[test]
        fn a_suffix_that_is_not_a_whole_label_is_not_trusted(
            domain in name(4),
            prefix in "[a-z0-9-]{1,8}",
            other in name(4),
        ) {
            // evilcontoso.com for contoso.com: the same string end, not the same labels.
            let glued = format!("{prefix}{domain}");
            prop_assert!(!may_send_credentials(&domain, &glued, &[]));
            // A host of another domain is trusted only when it is under this one.
            let host = format!("{other}.example");
            let under = host.ends_with(&format!(".{domain}")) || host == domain;
            prop_assert_eq!(may_send_credentials(&domain, &host, &[]), under);
            // ... or allowed by name.
            prop_assert!(may_send_credentials(&domain, &host, &[host.to_uppercase()]));
            let under_glued = vec![format!("x.{glued}")];
            prop_assert!(!may_send_credentials(&domain, &glued, &under_glued));
        }
    }
}
