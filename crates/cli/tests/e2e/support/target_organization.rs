//! The target organization of the provisioning tests: a private OpenLDAP
//! ([`Slapd::provisioning_target`], with the password-policy overlay) and a private
//! Dovecot that authenticates its users against it (`passdb ldap` with `auth_bind`,
//! `userdb ldap`; Debian `dovecot-ldap`). A user exists on the target once its entry
//! exists, logs in with the password the directory holds, and cannot log in while
//! its entry has `pwdAccountLockedTime: 000001010000Z` (how a user without a license
//! is disabled). cutover reaches every mailbox as the master user `admin`, as with the
//! other Dovecot fixtures. Started once per test binary; tests share it, each with
//! addresses of its own.

use std::path::Path;
use std::sync::OnceLock;

use super::dovecot::{Dovecot, DovecotOptions, LdapUsers};
use super::slapd::Slapd;

const LDAP_MODULE: &str = "/usr/lib/dovecot/modules/auth/libauthdb_ldap.so";

pub struct TargetOrganization {
    pub directory: &'static Slapd,
    pub dovecot: Dovecot,
}

impl TargetOrganization {
    /// Where provisioning puts people (`uid=ADDRESS,ou=people,...`).
    pub const PEOPLE: &str = "ou=people,dc=contoso,dc=test";
    /// The pre-created, empty, mail-enabled security group (`staff@contoso.test`).
    pub const STAFF_GROUP: &str = "cn=staff,ou=groups,dc=contoso,dc=test";
    /// The lock that the password policy honours until an admin removes it.
    pub const LOCKED_FOREVER: &str = "000001010000Z";

    /// The target organization of this test binary.
    pub fn shared() -> &'static TargetOrganization {
        static TARGET: OnceLock<TargetOrganization> = OnceLock::new();
        TARGET.get_or_init(Self::start)
    }

    fn start() -> TargetOrganization {
        assert!(
            Path::new(LDAP_MODULE).exists(),
            "{LDAP_MODULE} is missing: apt-get install dovecot-ldap (listed in .ci/packages)"
        );
        let directory = Slapd::provisioning_target();
        let dovecot = Dovecot::start(
            "target-organization",
            DovecotOptions {
                users: Vec::new(),
                // A refused login answers at once (tests try several from one
                // address, which anvil's auth penalty would slow down more each time).
                extra_config: "auth_failure_delay = 0\n\
                               service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
                    .to_string(),
                ldap: Some(LdapUsers {
                    url: directory.url(),
                    base: Slapd::BASE.to_string(),
                    bind_dn: Slapd::READER.to_string(),
                    bind_password: Slapd::READER_PASSWORD.to_string(),
                }),
                ..DovecotOptions::default()
            },
        )
        .keep_until_tests_end();
        TargetOrganization { directory, dovecot }
    }

    /// The DN provisioning gives the user whose primary SMTP address is `address`.
    pub fn person_dn(address: &str) -> String {
        format!("uid={address},{}", Self::PEOPLE)
    }

    /// Locks the entry (`pwdAccountLockedTime: 000001010000Z`): binds, and so logins,
    /// fail until [`TargetOrganization::unlock`].
    pub fn lock(&self, dn: &str) {
        self.directory.modify(&format!(
            "dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: {}\n",
            Self::LOCKED_FOREVER
        ));
    }

    pub fn unlock(&self, dn: &str) {
        self.directory.modify(&format!(
            "dn: {dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n"
        ));
    }

    /// Whether `user` logs in to the target Dovecot over IMAP with `password`.
    pub fn can_log_in(&self, user: &str, password: &str) -> bool {
        self.dovecot.can_log_in(user, password)
    }
}
