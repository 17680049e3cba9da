//! Accepted-domain verification: a TXT record the admin publishes at the domain.

/// The prefix of our verification TXT value, so it is recognisable among others.
pub const TOKEN_PREFIX: &str = "cutover-verification=";

/// A fresh token from random bytes (hex).
pub fn new_token(random: &[u8; 16]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

/// Whether one of the TXT values is the token (spaces around it ignored).
pub fn published(txt: &[String], token: &str) -> bool {
    txt.iter().any(|t| t.trim() == token)
}

/// A domain name as stored: lower case, no trailing dot, checked for shape.
pub fn normalize(domain: &str) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!(
            "'{domain}' is not a domain name (e.g. contoso.com)"
        ))
    }
}

/// Users whose domain cannot migrate yet, grouped by domain: (domain, accepted but not
/// verified, users). `accepted` gives each accepted domain and whether it is verified.
pub fn unaccepted<'a>(
    users: impl IntoIterator<Item = &'a str>,
    accepted: &[(String, bool)],
) -> Vec<(String, bool, Vec<String>)> {
    let mut out: Vec<(String, bool, Vec<String>)> = Vec::new();
    for email in users {
        let domain = email
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_default();
        let state = accepted.iter().find(|(name, _)| *name == domain);
        if matches!(state, Some((_, true))) {
            continue;
        }
        let known = state.is_some();
        match out.iter_mut().find(|(d, _, _)| *d == domain) {
            Some((_, _, list)) => list.push(email.to_string()),
            None => out.push((domain, known, vec![email.to_string()])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_of_unaccepted_or_unverified_domains_are_grouped() {
        let accepted = vec![
            ("contoso.test".to_string(), true),
            ("fabrikam.test".to_string(), false),
        ];
        let got = unaccepted(
            [
                "a@Contoso.Test",
                "b@fabrikam.test",
                "c@tailspin.test",
                "d@fabrikam.test",
            ],
            &accepted,
        );
        assert_eq!(
            got,
            vec![
                (
                    "fabrikam.test".to_string(),
                    true,
                    vec!["b@fabrikam.test".to_string(), "d@fabrikam.test".to_string()]
                ),
                (
                    "tailspin.test".to_string(),
                    false,
                    vec!["c@tailspin.test".to_string()]
                ),
            ]
        );
        assert!(unaccepted(["a@contoso.test"], &accepted).is_empty());
    }

    #[test]
    fn tokens_are_found_among_other_txt_values() {
        let token = new_token(&[0xab; 16]);
        assert_eq!(token, format!("{TOKEN_PREFIX}{}", "ab".repeat(16)));
        assert!(published(
            &["v=spf1 -all".into(), format!(" {token} ")],
            &token
        ));
        assert!(!published(&["v=spf1 -all".into()], &token));
    }

    #[test]
    fn domains_are_normalized_and_checked() {
        assert_eq!(normalize("Contoso.Test.").unwrap(), "contoso.test");
        assert!(normalize("contoso").is_err());
        assert!(normalize("a..test").is_err());
        assert!(normalize("-a.test").is_err());
    }
}
