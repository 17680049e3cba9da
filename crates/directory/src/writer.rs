//! The IO edge that writes the target's directory: a [`DirectoryWriter`] puts a
//! [`DesiredEntry`] on the target and sets an initial password. OpenLDAP is written
//! with `ldap3` ([`OpenLdapWriter`]); Active Directory would be another implementation
//! (its `unicodePwd` and `sAMAccountName` rules differ).
//!
//! Where entries go under the target's base DN: people (mailboxes and mail users) at
//! `uid=ADDRESS,ou=people`, contacts at `cn=ADDRESS,ou=contacts`, distribution groups
//! at `cn=ADDRESS,ou=groups` (each address the primary SMTP address). An entry that
//! already carries the address in its mail attribute is that recipient's wherever it
//! is (the admin made it, or an earlier run did): it is updated, never duplicated; a
//! security group is only ever found that way (the admin creates it, empty and
//! mail-enabled). Writes are idempotent: an add that finds the entry there modifies it.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use cutover_model::{DirectoryProfile, RecipientKind, SourceDirectory};
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapError, LdapResult, Mod, Scope, SearchEntry, dn_escape, ldap_escape};
use rand::distr::{Alphanumeric, SampleString};
use secrecy::{ExposeSecret, SecretString};

use crate::attributes::{AttributeNames, Field};
use crate::error::{DirectoryError, result_code_name};
use crate::provision::{DesiredEntry, Member};
use crate::reader::{PAGE_SIZE, bind};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Characters of an initial password: long enough that it need not be complex.
const PASSWORD_LENGTH: usize = 20;
/// The auxiliary class that carries the aliases (`mailAlternateAddress`) and lets a
/// group hold `mail` (see `fixtures/ldap/openldap/mail-alternate.schema`).
const ALIAS_CLASS: &str = "mailAlternateRecipient";

/// A random initial password (the operating system's generator through `rand`),
/// letters and digits.
pub fn initial_password() -> SecretString {
    SecretString::from(Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LENGTH))
}

/// Where an entry is on the target after a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub dn: String,
    /// Whether this write created it.
    pub created: bool,
}

/// Writes entries into the target's directory.
#[allow(async_fn_in_trait)] // used with concrete writers; no Send bound is needed
pub trait DirectoryWriter {
    /// The DN of the entry that carries `address` as its mail address, if any.
    async fn locate(&mut self, address: &str) -> Result<Option<String>, DirectoryError>;
    /// Puts `entry` on the target (added, or updated where it is), its members
    /// resolved to their entries.
    async fn write(&mut self, entry: &DesiredEntry) -> Result<Written, DirectoryError>;
    /// Sets `dn`'s password, hashed by the directory.
    async fn set_password(
        &mut self,
        dn: &str,
        password: &SecretString,
    ) -> Result<(), DirectoryError>;
    async fn close(self);
}

/// An OpenLDAP target (the `openldap` profile's attribute names).
pub struct OpenLdapWriter {
    ldap: Ldap,
    settings: SourceDirectory,
    names: AttributeNames,
    /// Address (lower case) -> DN of every entry with a mail address, read once when a
    /// group's members are first resolved.
    mail_dns: Option<BTreeMap<String, String>>,
    containers_ready: HashSet<&'static str>,
}

impl std::fmt::Debug for OpenLdapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenLdapWriter")
            .field("url", &self.settings.url)
            .field("bind_dn", &self.settings.bind_dn)
            .finish_non_exhaustive()
    }
}

/// The container of each kind under the base, and the RDN attribute of its entries.
fn place(kind: RecipientKind) -> (&'static str, &'static str) {
    match kind {
        RecipientKind::Mailbox | RecipientKind::MailUser => ("people", "uid"),
        RecipientKind::MailContact => ("contacts", "cn"),
        RecipientKind::DistributionGroup | RecipientKind::SecurityGroup => ("groups", "cn"),
    }
}

/// The DN a recipient of `kind` with `address` gets when provisioning creates it.
pub fn new_entry_dn(base: &str, kind: RecipientKind, address: &str) -> String {
    let (ou, rdn) = place(kind);
    format!("{rdn}={},ou={ou},{base}", dn_escape(address))
}

/// The attributes of a new entry (values as sets, as LDAP has them). Pure, for tests.
pub fn new_entry_attributes(
    entry: &DesiredEntry,
    names: &AttributeNames,
    member_dns: &[String],
) -> Vec<(String, HashSet<String>)> {
    let set = |vals: &[&str]| -> HashSet<String> { vals.iter().map(|v| v.to_string()).collect() };
    let name = entry
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| entry.address.clone());
    let surname = name
        .split_whitespace()
        .last()
        .unwrap_or(&entry.address)
        .to_string();
    let mut attrs: Vec<(String, HashSet<String>)> = Vec::new();
    let mail = first(names, Field::Mail, "mail");
    match entry.kind {
        RecipientKind::Mailbox | RecipientKind::MailUser => {
            attrs.push(("objectClass".into(), set(&["inetOrgPerson", ALIAS_CLASS])));
            attrs.push((first(names, Field::Login, "uid"), set(&[&entry.address])));
            attrs.push(("cn".into(), set(&[&name])));
            attrs.push(("sn".into(), set(&[&surname])));
            attrs.push(("displayName".into(), set(&[&name])));
        }
        RecipientKind::MailContact => {
            attrs.push(("objectClass".into(), set(&["inetOrgPerson", ALIAS_CLASS])));
            attrs.push(("cn".into(), set(&[&entry.address])));
            attrs.push(("sn".into(), set(&[&surname])));
            attrs.push(("displayName".into(), set(&[&name])));
        }
        RecipientKind::DistributionGroup | RecipientKind::SecurityGroup => {
            attrs.push(("objectClass".into(), set(&["groupOfNames", ALIAS_CLASS])));
            attrs.push(("cn".into(), set(&[&entry.address])));
            attrs.push(("description".into(), set(&[&name])));
            attrs.push((
                first(names, Field::Member, "member"),
                members_set(member_dns),
            ));
        }
    }
    attrs.push((mail, set(&[&entry.address])));
    if !entry.aliases.is_empty()
        && let Some(alias_attr) = names.of(Field::Aliases).first()
    {
        attrs.push((
            alias_attr.clone(),
            entry.aliases.iter().cloned().collect::<HashSet<_>>(),
        ));
    }
    attrs
}

/// groupOfNames must have a member: an empty group holds one empty value (as the
/// admin's pre-created groups do).
fn members_set(member_dns: &[String]) -> HashSet<String> {
    if member_dns.is_empty() {
        HashSet::from([String::new()])
    } else {
        member_dns.iter().cloned().collect()
    }
}

fn first(names: &AttributeNames, field: Field, fallback: &str) -> String {
    names
        .of(field)
        .first()
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

/// The changes that bring an existing entry to what it should be: the addresses (and
/// a group's members) replaced; names and classes the admin may have set are left.
pub fn update_mods(
    entry: &DesiredEntry,
    names: &AttributeNames,
    member_dns: &[String],
) -> Vec<Mod<String>> {
    let mut mods = vec![Mod::Replace(
        first(names, Field::Mail, "mail"),
        HashSet::from([entry.address.clone()]),
    )];
    if let Some(alias_attr) = names.of(Field::Aliases).first() {
        mods.push(Mod::Replace(
            alias_attr.clone(),
            entry.aliases.iter().cloned().collect(),
        ));
    }
    if entry.kind.is_group() {
        mods.push(Mod::Replace(
            first(names, Field::Member, "member"),
            members_set(member_dns),
        ));
    }
    mods
}

impl OpenLdapWriter {
    /// Connects and binds to the target's directory (strict TLS as for reading); the
    /// bind DN needs the right to add and change entries under the base.
    pub async fn connect(
        settings: &SourceDirectory,
        password: &SecretString,
    ) -> Result<Self, DirectoryError> {
        if settings.profile != DirectoryProfile::OpenLdap {
            return Err(DirectoryError::Settings(format!(
                "provisioning writes into an OpenLDAP target (--directory-profile openldap); \
                 the target's directory is {} and writing it is not built yet",
                settings.profile
            )));
        }
        let (ldap, names) = bind(settings, password).await?;
        Ok(Self {
            ldap,
            settings: settings.clone(),
            names,
            mail_dns: None,
            containers_ready: HashSet::new(),
        })
    }

    fn failed(&self, what: &str, dn: &str, reason: String) -> DirectoryError {
        DirectoryError::Write {
            url: self.settings.url.clone(),
            what: what.to_string(),
            dn: dn.to_string(),
            reason,
        }
    }

    fn ldap_failure(&self, what: &str, dn: &str, e: LdapError) -> DirectoryError {
        let reason = match &e {
            LdapError::LdapResult { result } => describe(result),
            other => other.to_string(),
        };
        self.failed(what, dn, reason)
    }

    /// The container of people, contacts or groups, added when missing (once per
    /// connection).
    async fn ensure_container(&mut self, ou: &'static str) -> Result<(), DirectoryError> {
        if self.containers_ready.contains(ou) {
            return Ok(());
        }
        let dn = format!("ou={ou},{}", self.settings.base_dn);
        let attrs = vec![
            ("objectClass", HashSet::from(["organizationalUnit"])),
            ("ou", HashSet::from([ou])),
        ];
        let result = self
            .ldap
            .with_timeout(TIMEOUT)
            .add(&dn, attrs)
            .await
            .map_err(|e| self.ldap_failure("add the container", &dn, e))?;
        // 68: entryAlreadyExists.
        if result.rc != 0 && result.rc != 68 {
            return Err(self.failed("add the container", &dn, describe(&result)));
        }
        self.containers_ready.insert(ou);
        Ok(())
    }

    /// Every entry with a mail address, by address (lower case), paged.
    async fn read_mail_dns(&mut self) -> Result<BTreeMap<String, String>, DirectoryError> {
        let mail = first(&self.names, Field::Mail, "mail");
        let base = self.settings.base_dn.clone();
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = self
            .ldap
            .streaming_search_with(
                adapters,
                &base,
                Scope::Subtree,
                &format!("({mail}=*)"),
                vec![mail.as_str()],
            )
            .await
            .map_err(|e| self.ldap_failure("read the addresses", &base, e))?;
        let mut out = BTreeMap::new();
        loop {
            match stream.next().await {
                Ok(Some(raw)) => {
                    let e = SearchEntry::construct(raw);
                    for (attr, values) in e.attrs {
                        if attr.eq_ignore_ascii_case(&mail) {
                            for v in values {
                                out.entry(v.trim().to_ascii_lowercase())
                                    .or_insert_with(|| e.dn.clone());
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(self.ldap_failure("read the addresses", &base, e)),
            }
        }
        let done = stream.finish().await;
        if done.rc != 0 {
            return Err(self.failed("read the addresses", &base, describe(&done)));
        }
        Ok(out)
    }

    /// The members' DNs: where each is now, else where provisioning puts it (members
    /// may be provisioned after their group; OpenLDAP takes a DN that is not there yet).
    async fn member_dns(&mut self, members: &[Member]) -> Result<Vec<String>, DirectoryError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        if self.mail_dns.is_none() {
            self.mail_dns = Some(self.read_mail_dns().await?);
        }
        let known = self.mail_dns.as_ref().expect("read above");
        Ok(members
            .iter()
            .map(|m| {
                known
                    .get(&m.address)
                    .cloned()
                    .unwrap_or_else(|| new_entry_dn(&self.settings.base_dn, m.kind, &m.address))
            })
            .collect())
    }

    async fn modify(
        &mut self,
        dn: &str,
        entry: &DesiredEntry,
        member_dns: &[String],
    ) -> Result<(), DirectoryError> {
        let mods = update_mods(entry, &self.names, member_dns);
        let result = self
            .ldap
            .with_timeout(TIMEOUT)
            .modify(dn, mods)
            .await
            .map_err(|e| self.ldap_failure("update", dn, e))?;
        if result.rc != 0 {
            return Err(self.failed("update", dn, describe(&result)));
        }
        Ok(())
    }
}

impl DirectoryWriter for OpenLdapWriter {
    async fn locate(&mut self, address: &str) -> Result<Option<String>, DirectoryError> {
        let mail = first(&self.names, Field::Mail, "mail");
        let filter = format!("({mail}={})", ldap_escape(address));
        let base = self.settings.base_dn.clone();
        let ldap3::SearchResult(found, result) = self
            .ldap
            .with_timeout(TIMEOUT)
            .search(&base, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(|e| self.ldap_failure("look up", address, e))?;
        if result.rc != 0 {
            return Err(self.failed("look up", address, describe(&result)));
        }
        Ok(found
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .next())
    }

    async fn write(&mut self, entry: &DesiredEntry) -> Result<Written, DirectoryError> {
        let member_dns = self.member_dns(&entry.members).await?;
        if let Some(dn) = self.locate(&entry.address).await? {
            self.modify(&dn, entry, &member_dns).await?;
            return Ok(Written { dn, created: false });
        }
        if entry.kind == RecipientKind::SecurityGroup {
            return Err(self.failed(
                "find the security group",
                &entry.address,
                "no entry on the target has this address; create the empty mail-enabled \
                 security group on the target first (preflight names it), then start the \
                 batch again"
                    .into(),
            ));
        }
        self.ensure_container(place(entry.kind).0).await?;
        let dn = new_entry_dn(&self.settings.base_dn, entry.kind, &entry.address);
        let attrs = new_entry_attributes(entry, &self.names, &member_dns);
        let result = self
            .ldap
            .with_timeout(TIMEOUT)
            .add(&dn, attrs)
            .await
            .map_err(|e| self.ldap_failure("add", &dn, e))?;
        match result.rc {
            0 => Ok(Written { dn, created: true }),
            // entryAlreadyExists: an earlier try added it without its address, or
            // another worker just did: bring it to what it should be.
            68 => {
                self.modify(&dn, entry, &member_dns).await?;
                Ok(Written { dn, created: false })
            }
            _ => Err(self.failed("add", &dn, describe(&result))),
        }
    }

    async fn set_password(
        &mut self,
        dn: &str,
        password: &SecretString,
    ) -> Result<(), DirectoryError> {
        // The password crosses this connection: never in clear off this machine.
        if self.settings.is_plaintext()
            && !cutover_model::endpoint::is_loopback(self.settings.host())
        {
            return Err(DirectoryError::Settings(format!(
                "initial passwords are not sent over plain LDAP to {}; use ldaps:// or \
                 --directory-starttls",
                self.settings.url
            )));
        }
        let exop = PasswordModify {
            user_id: Some(dn),
            old_pass: None,
            new_pass: Some(password.expose_secret()),
        };
        let result = self
            .ldap
            .with_timeout(TIMEOUT)
            .extended(exop)
            .await
            .map_err(|e| self.ldap_failure("set the initial password of", dn, e))?;
        if result.1.rc != 0 {
            return Err(self.failed("set the initial password of", dn, describe(&result.1)));
        }
        Ok(())
    }

    async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

fn describe(result: &LdapResult) -> String {
    let text = result.text.trim();
    format!(
        "{} ({}){}",
        result_code_name(result.rc),
        result.rc,
        if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        }
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn names() -> AttributeNames {
        AttributeNames::new(DirectoryProfile::OpenLdap, &BTreeMap::new()).unwrap()
    }

    fn entry(kind: RecipientKind, aliases: &[&str]) -> DesiredEntry {
        DesiredEntry {
            kind,
            address: "alice.smith@contoso.test".into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            display_name: Some("Alice Smith".into()),
            members: Vec::new(),
            members_left_out: 0,
        }
    }

    fn attr<'a>(attrs: &'a [(String, HashSet<String>)], name: &str) -> Option<&'a HashSet<String>> {
        attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn a_person_logs_in_with_the_primary_address_and_keeps_the_aliases() {
        let e = entry(RecipientKind::Mailbox, &["alice@contoso.test"]);
        assert_eq!(
            new_entry_dn("dc=contoso,dc=test", e.kind, &e.address),
            "uid=alice.smith@contoso.test,ou=people,dc=contoso,dc=test"
        );
        let attrs = new_entry_attributes(&e, &names(), &[]);
        assert_eq!(
            attr(&attrs, "uid").unwrap(),
            &HashSet::from(["alice.smith@contoso.test".to_string()])
        );
        assert_eq!(
            attr(&attrs, "mail").unwrap(),
            &HashSet::from(["alice.smith@contoso.test".to_string()])
        );
        assert_eq!(
            attr(&attrs, "mailAlternateAddress").unwrap(),
            &HashSet::from(["alice@contoso.test".to_string()])
        );
        assert_eq!(
            attr(&attrs, "sn").unwrap(),
            &HashSet::from(["Smith".to_string()])
        );
        assert!(attr(&attrs, "userPassword").is_none(), "set by the server");
    }

    #[test]
    fn a_contact_cannot_log_in_and_an_empty_group_holds_one_empty_member() {
        let c = entry(RecipientKind::MailContact, &[]);
        let attrs = new_entry_attributes(&c, &names(), &[]);
        assert!(attr(&attrs, "uid").is_none());
        assert!(attr(&attrs, "mailAlternateAddress").is_none());
        assert_eq!(
            new_entry_dn("dc=t", c.kind, &c.address),
            "cn=alice.smith@contoso.test,ou=contacts,dc=t"
        );
        let g = entry(RecipientKind::DistributionGroup, &[]);
        let attrs = new_entry_attributes(&g, &names(), &[]);
        assert_eq!(
            attr(&attrs, "member").unwrap(),
            &HashSet::from([String::new()])
        );
        let mods = update_mods(&g, &names(), &["uid=a,ou=people,dc=t".into()]);
        assert!(mods.iter().any(|m| matches!(m,
            Mod::Replace(a, v) if a == "member" && v.contains("uid=a,ou=people,dc=t"))));
        // An update removes aliases that went away (an empty replace deletes them).
        assert!(mods.iter().any(|m| matches!(m,
            Mod::Replace(a, v) if a == "mailAlternateAddress" && v.is_empty())));
    }

    #[test]
    fn initial_passwords_are_long_and_differ() {
        let a = initial_password();
        let b = initial_password();
        assert_eq!(a.expose_secret().len(), PASSWORD_LENGTH);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
