//! Validated names: mailbox addresses, endpoint and batch names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("'{value}' is not a valid email address ({reason})")]
    Email { value: String, reason: String },
    #[error("a {what} name must not be empty")]
    Empty { what: &'static str },
    #[error("the {what} name '{value}' is too long ({len} characters; at most 64)")]
    TooLong {
        what: &'static str,
        value: String,
        len: usize,
    },
    #[error(
        "the {what} name '{value}' contains a control character or a quote; use letters, digits, spaces, '-', '_', '.'"
    )]
    BadCharacter { what: &'static str, value: String },
}

/// A mailbox's primary SMTP address, as written in the users CSV.
///
/// Compared case-insensitively (stored lower-cased), as mail systems do for the
/// domain and, in practice, for the local part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after '@', lower-cased.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl FromStr for EmailAddress {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let err = |reason: &str| NameError::Email {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        if trimmed.is_empty() {
            return Err(err("empty"));
        }
        // A display name ("Alice <a@b>") is not an address; the crate would accept it.
        if trimmed.contains(['<', '>', ' ']) {
            return Err(err(
                "only the bare address is allowed, without a display name or spaces",
            ));
        }
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|e| err(&e.to_string().to_lowercase()))?;
        if !parsed.domain().contains('.') && parsed.domain() != "localhost" {
            return Err(err("the domain has no dot"));
        }
        Ok(Self(parsed.as_str().to_lowercase()))
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of an endpoint or a batch (Exchange's `-Name`/`-Identity`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Name(String);

impl Name {
    pub fn parse(what: &'static str, value: &str) -> Result<Self, NameError> {
        let v = value.trim();
        if v.is_empty() {
            return Err(NameError::Empty { what });
        }
        let len = v.chars().count();
        if len > 64 {
            return Err(NameError::TooLong {
                what,
                value: v.to_string(),
                len,
            });
        }
        if v.chars().any(|c| c.is_control() || c == '"' || c == '\'') {
            return Err(NameError::BadCharacter {
                what,
                value: v.to_string(),
            });
        }
        Ok(Self(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated_and_lowercased() {
        let a: EmailAddress = "Alice.Smith@Contoso.Test".parse().unwrap();
        assert_eq!(a.as_str(), "alice.smith@contoso.test");
        assert_eq!(a.domain(), "contoso.test");
        for bad in [
            "",
            "alice",
            "alice@",
            "@contoso.test",
            "Alice <a@contoso.test>",
            "a b@c.test",
            "a@nodot",
        ] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names_reject_controls_and_empties() {
        assert_eq!(
            Name::parse("batch", " CutoverBatch ").unwrap().as_str(),
            "CutoverBatch"
        );
        assert!(Name::parse("batch", "  ").is_err());
        assert!(Name::parse("batch", "a\nb").is_err());
        assert!(Name::parse("batch", &"x".repeat(65)).is_err());
    }
}
