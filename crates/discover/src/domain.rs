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

#[cfg(test)]
mod tests {
    use super::*;

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
