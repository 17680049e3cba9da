//! Disabling and enabling a user's login on the target directory, in a way the target
//! enforces: the target's mail server authenticates by binding as the user (Dovecot's
//! `auth_bind`), so the directory itself must refuse the bind.
//!
//! * OpenLDAP with the ppolicy overlay: `pwdAccountLockedTime: 000001010000Z` locks the
//!   account until an administrator removes it (slapo-ppolicy(5)); a bind as the user is
//!   refused. Given back by deleting that value only: a lockout ppolicy set itself (after
//!   failed binds, a real time) is not ours to lift.
//! * Active Directory: the ACCOUNTDISABLE bit (0x2) of `userAccountControl`.
//!
//! [`login_edit`] is the pure decision of what to write given what the entry holds;
//! [`LoginWriter`] binds as [`crate::reader`] does and applies it.

use std::collections::HashSet;

use cutover_model::{DirectoryProfile, SourceDirectory};
use ldap3::{Ldap, LdapError, Mod, Scope, SearchEntry, ldap_escape};
use secrecy::SecretString;

use crate::attributes::{AttributeNames, Field};
use crate::entry::Entry;
use crate::error::{DirectoryError, result_code_name};
use crate::reader::{TIMEOUT, bind, plain};

/// ppolicy's value for "locked until an administrator unlocks it".
pub const PERMANENT_LOCK: &str = "000001010000Z";
pub const LOCKED_TIME: &str = "pwdAccountLockedTime";
pub const USER_ACCOUNT_CONTROL: &str = "userAccountControl";
/// AD's ACCOUNTDISABLE flag of `userAccountControl`.
pub const ACCOUNTDISABLE: u32 = 0x2;

/// One change of one attribute of the user's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginEdit {
    Add { attr: &'static str, value: String },
    Replace { attr: &'static str, value: String },
    Delete { attr: &'static str, value: String },
}

/// What happened to one user's login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The entry was changed.
    Changed,
    /// The entry was already so (a crash after the directory changed and before the
    /// store recorded it, or an admin who did it by hand).
    AlreadySo,
}

/// What to write to the entry so that its login is disabled (or enabled), given the
/// values it holds now; `None` when it is so already. AD's entry without a readable
/// `userAccountControl` is an error: the bind DN may not read it, or it is no user.
pub fn login_edit(
    profile: DirectoryProfile,
    entry: &Entry,
    disable: bool,
) -> Result<Option<LoginEdit>, String> {
    match profile {
        DirectoryProfile::OpenLdap => {
            let lock = entry.values(LOCKED_TIME).first();
            Ok(match (disable, lock) {
                (true, None) => Some(LoginEdit::Add {
                    attr: LOCKED_TIME,
                    value: PERMANENT_LOCK.into(),
                }),
                (true, Some(v)) if v != PERMANENT_LOCK => Some(LoginEdit::Replace {
                    attr: LOCKED_TIME,
                    value: PERMANENT_LOCK.into(),
                }),
                (false, Some(v)) if v == PERMANENT_LOCK => Some(LoginEdit::Delete {
                    attr: LOCKED_TIME,
                    value: PERMANENT_LOCK.into(),
                }),
                _ => None,
            })
        }
        DirectoryProfile::ActiveDirectory => {
            let raw = entry.values(USER_ACCOUNT_CONTROL).first().ok_or_else(|| {
                format!(
                    "'{}' has no readable userAccountControl: is it a user, and may the bind DN read and write it?",
                    entry.dn
                )
            })?;
            // AD writes it as a signed 32-bit number.
            let uac = raw
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|v| u32::try_from(v & 0xffff_ffff).ok())
                .ok_or_else(|| {
                    format!(
                        "'{}' has a userAccountControl of '{raw}', not a number",
                        entry.dn
                    )
                })?;
            let set = if disable {
                uac | ACCOUNTDISABLE
            } else {
                uac & !ACCOUNTDISABLE
            };
            Ok((set != uac).then(|| LoginEdit::Replace {
                attr: USER_ACCOUNT_CONTROL,
                value: set.to_string(),
            }))
        }
    }
}

/// The filter that finds a user's entry by its address: the profile's mail, UPN and
/// login attributes, among person objects.
pub fn user_filter(names: &AttributeNames, email: &str) -> String {
    let value = ldap_escape(email);
    let mut attrs: Vec<&String> = Vec::new();
    for field in [Field::Mail, Field::Upn, Field::Login] {
        for a in names.of(field) {
            if !attrs.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                attrs.push(a);
            }
        }
    }
    let any: String = attrs.iter().map(|a| format!("({a}={value})")).collect();
    let class = match names.profile {
        DirectoryProfile::ActiveDirectory => "(objectClass=user)(!(objectClass=computer))",
        DirectoryProfile::OpenLdap => "(objectClass=inetOrgPerson)",
    };
    format!("(&{class}(|{any}))")
}

/// A bound connection to the target directory that disables and enables logins.
pub struct LoginWriter {
    ldap: Ldap,
    settings: SourceDirectory,
    names: AttributeNames,
}

impl std::fmt::Debug for LoginWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginWriter")
            .field("url", &self.settings.url)
            .field("bind_dn", &self.settings.bind_dn)
            .finish_non_exhaustive()
    }
}

impl LoginWriter {
    /// Connects and binds as the target directory's settings say (the bind DN needs the
    /// right to write the lock attribute: the rootdn, or `manage` on OpenLDAP).
    pub async fn connect(
        settings: &SourceDirectory,
        password: &SecretString,
    ) -> Result<Self, DirectoryError> {
        let (ldap, names) = bind(settings, password).await?;
        Ok(Self {
            ldap,
            settings: settings.clone(),
            names,
        })
    }

    /// Disables (or enables) the login of the user with this address.
    pub async fn set_login(
        &mut self,
        email: &str,
        disable: bool,
    ) -> Result<LoginOutcome, DirectoryError> {
        let entry = self.find(email).await?;
        let edit = login_edit(self.names.profile, &entry, disable)
            .map_err(|reason| self.error(email, reason))?;
        let Some(edit) = edit else {
            return Ok(LoginOutcome::AlreadySo);
        };
        let one = |v: String| HashSet::from([v]);
        let change = match edit {
            LoginEdit::Add { attr, value } => Mod::Add(attr.to_string(), one(value)),
            LoginEdit::Replace { attr, value } => Mod::Replace(attr.to_string(), one(value)),
            LoginEdit::Delete { attr, value } => Mod::Delete(attr.to_string(), one(value)),
        };
        self.ldap
            .with_timeout(TIMEOUT)
            .modify(&entry.dn, vec![change])
            .await
            .and_then(|r| r.success())
            .map_err(|e| self.ldap_error(email, e))?;
        tracing::info!(url = %self.settings.url, dn = %entry.dn, disable, "changed a login on the target directory");
        Ok(LoginOutcome::Changed)
    }

    /// Whether the user's login is disabled now, as the directory holds it.
    pub async fn is_disabled(&mut self, email: &str) -> Result<bool, DirectoryError> {
        let entry = self.find(email).await?;
        login_edit(self.names.profile, &entry, false)
            .map(|edit| edit.is_some())
            .map_err(|reason| self.error(email, reason))
    }

    pub async fn unbind(mut self) {
        let _ = self.ldap.unbind().await;
    }

    /// The one person entry of the address (with its lock attributes, which are
    /// operational on OpenLDAP and so asked for by name).
    async fn find(&mut self, email: &str) -> Result<Entry, DirectoryError> {
        let filter = user_filter(&self.names, email);
        let base = self.settings.base_dn.clone();
        let (found, _) = self
            .ldap
            .with_timeout(TIMEOUT)
            .search(
                &base,
                Scope::Subtree,
                &filter,
                vec![LOCKED_TIME, USER_ACCOUNT_CONTROL],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| self.ldap_error(email, e))?;
        let mut entries: Vec<Entry> = found
            .into_iter()
            .map(|e| plain(SearchEntry::construct(e)))
            .collect();
        match entries.len() {
            1 => Ok(entries.remove(0)),
            0 => Err(self.error(
                email,
                format!("no person entry under '{base}' has this address (filter {filter}); was the user provisioned?"),
            )),
            _ => Err(self.error(
                email,
                format!(
                    "several entries have this address ({}); give each address to one user",
                    entries.iter().map(|e| e.dn.as_str()).collect::<Vec<_>>().join("; ")
                ),
            )),
        }
    }

    fn ldap_error(&self, email: &str, e: LdapError) -> DirectoryError {
        let reason = match &e {
            LdapError::LdapResult { result } => format!(
                "{} ({}){}",
                result_code_name(result.rc),
                result.rc,
                if result.text.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", result.text.trim())
                }
            ),
            other => other.to_string(),
        };
        self.error(email, reason)
    }

    fn error(&self, email: &str, reason: String) -> DirectoryError {
        DirectoryError::Login {
            url: self.settings.url.clone(),
            user: email.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn names(profile: DirectoryProfile) -> AttributeNames {
        AttributeNames::new(profile, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn openldap_locks_with_ppolicy_s_permanent_time_and_unlocks_only_its_own_lock() {
        let p = DirectoryProfile::OpenLdap;
        let free = Entry::new("uid=a,dc=t");
        let ours = Entry::new("uid=a,dc=t").with(LOCKED_TIME, &[PERMANENT_LOCK]);
        let policy = Entry::new("uid=a,dc=t").with(LOCKED_TIME, &["20261205080000Z"]);
        assert_eq!(
            login_edit(p, &free, true).unwrap(),
            Some(LoginEdit::Add {
                attr: LOCKED_TIME,
                value: PERMANENT_LOCK.into()
            })
        );
        assert_eq!(login_edit(p, &ours, true).unwrap(), None);
        assert_eq!(
            login_edit(p, &policy, true).unwrap(),
            Some(LoginEdit::Replace {
                attr: LOCKED_TIME,
                value: PERMANENT_LOCK.into()
            })
        );
        assert_eq!(
            login_edit(p, &ours, false).unwrap(),
            Some(LoginEdit::Delete {
                attr: LOCKED_TIME,
                value: PERMANENT_LOCK.into()
            })
        );
        assert_eq!(login_edit(p, &free, false).unwrap(), None);
        assert_eq!(login_edit(p, &policy, false).unwrap(), None);
    }

    #[test]
    fn active_directory_flips_only_the_accountdisable_bit() {
        let p = DirectoryProfile::ActiveDirectory;
        let user = |uac: &str| Entry::new("CN=a,DC=t").with(USER_ACCOUNT_CONTROL, &[uac]);
        let replace = |v: &str| {
            Some(LoginEdit::Replace {
                attr: USER_ACCOUNT_CONTROL,
                value: v.into(),
            })
        };
        // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
        assert_eq!(
            login_edit(p, &user("66048"), true).unwrap(),
            replace("66050")
        );
        assert_eq!(login_edit(p, &user("66050"), true).unwrap(), None);
        assert_eq!(
            login_edit(p, &user("66050"), false).unwrap(),
            replace("66048")
        );
        assert_eq!(login_edit(p, &user("512"), false).unwrap(), None);
        // Written as a signed 32-bit number when the top bit is set.
        assert_eq!(
            login_edit(p, &user("-2147483136"), true).unwrap(),
            replace(&(0x8000_0202u32).to_string())
        );
        let err = login_edit(p, &Entry::new("CN=a,DC=t"), true).unwrap_err();
        assert!(
            err.contains("userAccountControl") && err.contains("CN=a,DC=t"),
            "{err}"
        );
        assert!(
            login_edit(p, &user("x"), true)
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn the_user_is_found_by_address_among_person_entries_with_the_value_escaped() {
        assert_eq!(
            user_filter(&names(DirectoryProfile::OpenLdap), "a*b@x.test"),
            "(&(objectClass=inetOrgPerson)(|(mail=a\\2ab@x.test)(uid=a\\2ab@x.test)))"
        );
        assert_eq!(
            user_filter(&names(DirectoryProfile::ActiveDirectory), "a@x.test"),
            "(&(objectClass=user)(!(objectClass=computer))(|(mail=a@x.test)(userPrincipalName=a@x.test)(sAMAccountName=a@x.test)))"
        );
    }
}
