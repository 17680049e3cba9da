//! The source organization's directory: where an endpoint reads it (LDAP settings, no
//! password: the store seals that beside them) and the kinds of recipients it holds,
//! named as Exchange names them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which attribute names a directory uses: Active Directory with Exchange's schema, or
/// OpenLDAP's inetOrgPerson and groupOfNames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryProfile {
    ActiveDirectory,
    OpenLdap,
}

impl DirectoryProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryProfile::ActiveDirectory => "active-directory",
            DirectoryProfile::OpenLdap => "openldap",
        }
    }
}

impl fmt::Display for DirectoryProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DirectoryProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active-directory" | "ad" | "activedirectory" => Ok(DirectoryProfile::ActiveDirectory),
            "openldap" | "open-ldap" => Ok(DirectoryProfile::OpenLdap),
            _ => Err(format!(
                "unknown directory profile '{s}'; expected active-directory or openldap"
            )),
        }
    }
}

/// Where and how a directory is read over LDAP: the source organization of an endpoint,
/// and the target organization's (`target set --directory`), with the same settings and
/// reader. The bind password is not here: the store keeps it sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDirectory {
    /// `ldap://HOST:PORT` or `ldaps://HOST:PORT`.
    pub url: String,
    /// Where the search starts (`DC=contoso,DC=com`).
    pub base_dn: String,
    /// Who binds (`CN=migrator,CN=Users,DC=contoso,DC=com`).
    pub bind_dn: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    pub starttls: bool,
    /// PEM file with extra CA certificates to trust (a private CA).
    pub ca_file: Option<String>,
    pub profile: DirectoryProfile,
    /// Attributes the admin renamed: field name (`mail`, `aliases`, ...) to LDAP
    /// attribute names, comma-separated (empty: do not read the field).
    pub attributes: BTreeMap<String, String>,
    /// The target's directory only (`target set --directory-provision`): batches of the
    /// organization are written into it (users, mail users, contacts, groups) before
    /// their first pass; the bind DN needs the right to add and change entries.
    #[serde(default)]
    pub provision: bool,
}

impl SourceDirectory {
    /// Checks what can be checked without a server: the URL's scheme and that
    /// StartTLS is not asked of a connection that is already TLS.
    pub fn check(&self) -> Result<(), String> {
        let lower = self.url.to_ascii_lowercase();
        let tls = if lower.starts_with("ldaps://") {
            true
        } else if lower.starts_with("ldap://") {
            false
        } else {
            return Err(format!(
                "--directory {}: expected ldap://HOST:PORT or ldaps://HOST:PORT",
                self.url
            ));
        };
        if tls && self.starttls {
            return Err(format!(
                "--directory-starttls is for ldap:// URLs; {} is already TLS",
                self.url
            ));
        }
        if self.base_dn.trim().is_empty() {
            return Err("--directory-base is empty; give the DN the search starts at".into());
        }
        if self.bind_dn.trim().is_empty() {
            return Err("--directory-bind is empty; give the DN that binds".into());
        }
        Ok(())
    }

    /// Whether the bind password crosses the network in clear.
    pub fn is_plaintext(&self) -> bool {
        self.url.to_ascii_lowercase().starts_with("ldap://") && !self.starttls
    }

    /// The server's host name or address, as the URL gives it.
    pub fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or(&*self.url, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or("");
        match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        }
    }
}

/// What a recipient of the source organization is. Security groups are listed
/// whether mail-enabled or not (preflight needs to see both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecipientKind {
    Mailbox,
    MailUser,
    MailContact,
    DistributionGroup,
    SecurityGroup,
}

impl RecipientKind {
    pub const ALL: [RecipientKind; 5] = [
        RecipientKind::Mailbox,
        RecipientKind::MailUser,
        RecipientKind::MailContact,
        RecipientKind::DistributionGroup,
        RecipientKind::SecurityGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Mailbox => "Mailbox",
            RecipientKind::MailUser => "MailUser",
            RecipientKind::MailContact => "MailContact",
            RecipientKind::DistributionGroup => "DistributionGroup",
            RecipientKind::SecurityGroup => "SecurityGroup",
        }
    }

    /// Exchange's RecipientType for it; a group without an address is a plain `Group`.
    pub fn recipient_type(self, mail_enabled: bool) -> &'static str {
        match self {
            RecipientKind::Mailbox => "UserMailbox",
            RecipientKind::MailUser => "MailUser",
            RecipientKind::MailContact => "MailContact",
            RecipientKind::DistributionGroup if mail_enabled => "MailUniversalDistributionGroup",
            RecipientKind::SecurityGroup if mail_enabled => "MailUniversalSecurityGroup",
            RecipientKind::DistributionGroup | RecipientKind::SecurityGroup => "Group",
        }
    }

    /// Whether it has a mailbox whose mail a pass copies. Mail users, contacts and
    /// groups are recipients without one: they only exist in the directory.
    pub fn has_mailbox(self) -> bool {
        self == RecipientKind::Mailbox
    }

    pub fn is_group(self) -> bool {
        matches!(
            self,
            RecipientKind::DistributionGroup | RecipientKind::SecurityGroup
        )
    }
}

impl fmt::Display for RecipientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecipientKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "");
        let found = RecipientKind::ALL.into_iter().find(|k| {
            k.as_str().to_ascii_lowercase() == wanted
                || k.recipient_type(true).to_ascii_lowercase() == wanted
        });
        found.ok_or_else(|| {
            format!(
                "unknown recipient kind '{s}'; expected Mailbox, MailUser, MailContact, DistributionGroup or SecurityGroup"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(url: &str, starttls: bool) -> SourceDirectory {
        SourceDirectory {
            url: url.into(),
            base_dn: "dc=contoso,dc=test".into(),
            bind_dn: "cn=admin,dc=contoso,dc=test".into(),
            starttls,
            ca_file: None,
            profile: DirectoryProfile::OpenLdap,
            attributes: BTreeMap::new(),
            provision: false,
        }
    }

    #[test]
    fn settings_are_checked_before_any_server() {
        assert!(directory("ldap://127.0.0.1:389", true).check().is_ok());
        assert!(directory("ldaps://dc.contoso.test", false).check().is_ok());
        assert!(directory("ldaps://dc.contoso.test", true).check().is_err());
        assert!(directory("http://dc", false).check().is_err());
        assert!(directory("ldap://dc", false).is_plaintext());
        assert!(!directory("ldap://dc", true).is_plaintext());
        assert_eq!(
            directory("ldap://127.0.0.1:389/", false).host(),
            "127.0.0.1"
        );
        assert_eq!(directory("ldaps://[::1]:636", false).host(), "::1");
        assert_eq!(
            directory("ldaps://dc.contoso.test", false).host(),
            "dc.contoso.test"
        );
    }

    #[test]
    fn kinds_use_exchange_words() {
        assert_eq!(
            RecipientKind::SecurityGroup.recipient_type(true),
            "MailUniversalSecurityGroup"
        );
        assert_eq!(RecipientKind::SecurityGroup.recipient_type(false), "Group");
        assert_eq!(
            "UserMailbox".parse::<RecipientKind>().unwrap(),
            RecipientKind::Mailbox
        );
        assert_eq!(
            "mail-contact".parse::<RecipientKind>().unwrap(),
            RecipientKind::MailContact
        );
        assert!("printer".parse::<RecipientKind>().is_err());
        assert_eq!(
            "active-directory".parse::<DirectoryProfile>().unwrap(),
            DirectoryProfile::ActiveDirectory
        );
    }
}
