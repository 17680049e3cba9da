//! Preflight: what must be fixed before a cutover can start (the seed's Step 1), as one
//! pure function over plain facts gathered at the edge: the batch's users, the source
//! organization as its directory lists it, the target's accepted domains, and the
//! recipients the target's directory already holds. [`preflight`] returns every
//! finding, blocking or not, each naming its objects and what the admin does about it.
//!
//! Rules, Blocking: a primary SMTP domain not accepted and verified; Unified Messaging
//! on a mailbox; a mail-enabled security group without an empty group of the same
//! address on the target; a manager or delegate that is not migrated; an address two
//! migrated recipients share; an address another target recipient already uses.
//! Warnings, for what will not carry over: hidden from address lists, group members that
//! are not migrated, groups without an address, aliases in domains that are not
//! accepted; and, for a batch from a directory, a target whose directory is not set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use cutover_model::RecipientKind;
use serde::Serialize;

use crate::recipient::Recipient;

/// Whether a finding stops `batch start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    Blocking,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocking => "Blocking",
            Severity::Warning => "Warning",
        }
    }
}

/// What a finding is about; one code per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    DomainNotAccepted,
    DomainNotVerified,
    UnifiedMessagingEnabled,
    SecurityGroupNotOnTarget,
    ManagerNotMigrated,
    DelegateNotMigrated,
    DuplicateAddress,
    AddressUsedOnTarget,
    HiddenFromAddressLists,
    GroupMembersNotMigrated,
    GroupNotMailEnabled,
    AliasDomainNotAccepted,
    TargetDirectoryNotSet,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DomainNotAccepted => "DomainNotAccepted",
            Code::DomainNotVerified => "DomainNotVerified",
            Code::UnifiedMessagingEnabled => "UnifiedMessagingEnabled",
            Code::SecurityGroupNotOnTarget => "SecurityGroupNotOnTarget",
            Code::ManagerNotMigrated => "ManagerNotMigrated",
            Code::DelegateNotMigrated => "DelegateNotMigrated",
            Code::DuplicateAddress => "DuplicateAddress",
            Code::AddressUsedOnTarget => "AddressUsedOnTarget",
            Code::HiddenFromAddressLists => "HiddenFromAddressLists",
            Code::GroupMembersNotMigrated => "GroupMembersNotMigrated",
            Code::GroupNotMailEnabled => "GroupNotMailEnabled",
            Code::AliasDomainNotAccepted => "AliasDomainNotAccepted",
            Code::TargetDirectoryNotSet => "TargetDirectoryNotSet",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem: how bad, which rule, the objects it names (addresses, DNs), what is
/// wrong and what to do, in an admin's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub objects: Vec<String>,
    pub message: String,
    pub action: String,
}

impl Finding {
    pub fn is_blocking(&self) -> bool {
        self.severity == Severity::Blocking
    }
}

/// A migration user of the batch: its address (the primary SMTP address) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUser {
    pub email: String,
    pub kind: RecipientKind,
}

/// An accepted domain of the target (`cutover domain add`), and whether its TXT record
/// was seen (`cutover domain verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainFact {
    pub name: String,
    pub verified: bool,
}

/// What the target's directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFacts {
    pub recipients: Vec<Recipient>,
    /// Whether its profile tells security groups from distribution groups (AD's
    /// groupType). OpenLDAP's groups have no type: any group serves ACLs and mail alike,
    /// so there an empty group of the address is the security group.
    pub tells_security_groups: bool,
}

/// Everything preflight looks at, read beforehand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreflightFacts {
    pub users: Vec<BatchUser>,
    /// The source organization's recipients; `None` when the endpoint has no directory
    /// (a batch from a users CSV: only the rules on addresses apply).
    pub source: Option<Vec<Recipient>>,
    pub domains: Vec<DomainFact>,
    /// `None` when the target has no directory set.
    pub target: Option<TargetFacts>,
    /// The batch was created with `--skip-domain-check`: domains are warnings.
    pub domain_check_skipped: bool,
}

/// A DN as compared: case and the spaces after separators do not matter.
fn dn_key(dn: &str) -> String {
    dn.split(',')
        .map(|part| part.trim().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

fn address_key(address: &str) -> String {
    address.trim().to_lowercase()
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches('.').to_lowercase())
        .unwrap_or_default()
}

/// Whose primary SMTP address must be in an accepted domain: what the target creates
/// under the organization's own domains. Mail users and contacts point elsewhere.
fn needs_accepted_domain(kind: RecipientKind) -> bool {
    !matches!(kind, RecipientKind::MailUser | RecipientKind::MailContact)
}

/// A migrated user with what the source directory says of it, when it does.
struct Migrated<'a> {
    user: &'a BatchUser,
    recipient: Option<&'a Recipient>,
}

impl Migrated<'_> {
    /// Every address it will carry: the primary first, then the aliases.
    fn addresses(&self) -> Vec<&str> {
        match self.recipient {
            Some(r) => r
                .primary_smtp
                .iter()
                .chain(r.aliases.iter())
                .map(String::as_str)
                .collect(),
            None => vec![self.user.email.as_str()],
        }
    }

    /// How the finding names it: its address, and its DN when known.
    fn names(&self) -> Vec<String> {
        let mut v = vec![self.user.email.clone()];
        if let Some(r) = self.recipient {
            v.push(r.dn.clone());
        }
        v
    }
}

/// Every finding for these facts: blocking ones first, then by rule and by the objects
/// they name, so the same facts always give the same list.
pub fn preflight(facts: &PreflightFacts) -> Vec<Finding> {
    let mut findings = Vec::new();
    let source = facts.source.as_deref().unwrap_or(&[]);
    let by_primary: HashMap<String, &Recipient> = source
        .iter()
        .filter_map(|r| r.primary_smtp.as_deref().map(|p| (address_key(p), r)))
        .collect();
    let mut users: Vec<&BatchUser> = facts.users.iter().collect();
    users.sort_by_key(|u| address_key(&u.email));
    users.dedup_by_key(|u| address_key(&u.email));
    let migrated: Vec<Migrated> = users
        .iter()
        .map(|u| Migrated {
            user: u,
            recipient: by_primary.get(&address_key(&u.email)).copied(),
        })
        .collect();
    let migrated_addresses: BTreeSet<String> = migrated
        .iter()
        .map(|m| address_key(&m.user.email))
        .collect();
    // DN -> whether that source object is migrated.
    let migrated_dns: BTreeSet<String> = migrated
        .iter()
        .filter_map(|m| m.recipient.map(|r| dn_key(&r.dn)))
        .collect();
    let domains: HashMap<String, bool> = facts
        .domains
        .iter()
        .map(|d| {
            (
                d.name.trim().trim_end_matches('.').to_lowercase(),
                d.verified,
            )
        })
        .collect();

    domain_rules(facts, &migrated, &domains, &mut findings);
    for m in &migrated {
        let Some(r) = m.recipient else { continue };
        person_rules(m, r, &migrated_dns, &mut findings);
        if r.kind.is_group() {
            members_rule(m, r, &migrated_dns, &mut findings);
        }
        if r.kind == RecipientKind::SecurityGroup {
            security_group_rule(m, facts.target.as_ref(), &migrated_addresses, &mut findings);
        }
    }
    for r in source
        .iter()
        .filter(|r| r.kind.is_group() && !r.mail_enabled())
    {
        findings.push(Finding {
            severity: Severity::Warning,
            code: Code::GroupNotMailEnabled,
            objects: vec![r.dn.clone()],
            message: format!(
                "the {} '{}' has no e-mail address: a cutover moves only mail-enabled groups, \
                 so it is not migrated",
                if r.kind == RecipientKind::SecurityGroup {
                    "security group"
                } else {
                    "group"
                },
                r.display_name.as_deref().unwrap_or(&r.dn)
            ),
            action: "if the target needs it, create it there yourself (or give it an address \
                     on the source and create the batch again)"
                .into(),
        });
    }
    duplicate_rule(&migrated, &mut findings);
    match &facts.target {
        Some(target) => target_address_rule(&migrated, target, &mut findings),
        None if facts.source.is_some() => findings.push(Finding {
            severity: Severity::Warning,
            code: Code::TargetDirectoryNotSet,
            objects: Vec::new(),
            message: "the target's directory is not set, so preflight cannot see which \
                      addresses the target already uses, nor its security groups"
                .into(),
            action: "set it with `cutover target set ... --directory ldaps://HOST \
                     --directory-base DN --directory-bind DN --directory-password-file FILE`"
                .into(),
        }),
        None => {}
    }

    findings.sort_by(|a, b| {
        (a.severity, a.code, &a.objects, &a.message)
            .cmp(&(b.severity, b.code, &b.objects, &b.message))
    });
    findings.dedup();
    findings
}

/// Primary domains not accepted or not verified (one finding per domain, naming its
/// recipients), and aliases that will not be carried for their domain.
fn domain_rules(
    facts: &PreflightFacts,
    migrated: &[Migrated],
    domains: &HashMap<String, bool>,
    findings: &mut Vec<Finding>,
) {
    let severity = if facts.domain_check_skipped {
        Severity::Warning
    } else {
        Severity::Blocking
    };
    let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in migrated
        .iter()
        .filter(|m| needs_accepted_domain(m.user.kind))
    {
        let domain = domain_of(&m.user.email);
        if domains.get(&domain) != Some(&true) {
            by_domain
                .entry(domain)
                .or_default()
                .push(m.user.email.clone());
        }
        for alias in m.recipient.iter().flat_map(|r| r.aliases.iter()) {
            let d = domain_of(alias);
            if domains.get(&d) != Some(&true) {
                aliases.entry(d).or_default().push(alias.clone());
            }
        }
    }
    for (domain, users) in by_domain.clone() {
        let skipped = if facts.domain_check_skipped {
            " (the batch was created with --skip-domain-check, so this does not block it)"
        } else {
            ""
        };
        let (code, message, action) = match domains.get(&domain) {
            Some(false) => (
                Code::DomainNotVerified,
                format!(
                    "{} recipient(s) have their primary SMTP address in {domain}, which is an \
                     accepted domain of the target but not verified{skipped}",
                    users.len()
                ),
                format!(
                    "publish its TXT record (`cutover domain get {domain}`), then \
                     `cutover domain verify {domain}`"
                ),
            ),
            _ => (
                Code::DomainNotAccepted,
                format!(
                    "{} recipient(s) have their primary SMTP address in {domain}, which is not \
                     an accepted domain of the target: the target creates each one under its \
                     primary SMTP address{skipped}",
                    users.len()
                ),
                format!(
                    "`cutover domain add {domain}`, publish the TXT record it prints, then \
                     `cutover domain verify {domain}`; or give these recipients a primary \
                     address in an accepted domain"
                ),
            ),
        };
        let mut objects = vec![domain];
        objects.extend(users);
        findings.push(Finding {
            severity,
            code,
            objects,
            message,
            action,
        });
    }
    // An alias is no user ID: it only goes missing, it never blocks. A domain already
    // named for primary addresses is not named again.
    let named: BTreeSet<String> = by_domain.keys().cloned().collect();
    for (domain, mut addresses) in aliases.into_iter().filter(|(d, _)| !named.contains(d)) {
        addresses.sort_by_key(|a| a.to_lowercase());
        {
            let mut objects = vec![domain.clone()];
            objects.extend(addresses);
            findings.push(Finding {
                severity: Severity::Warning,
                code: Code::AliasDomainNotAccepted,
                objects,
                message: format!(
                    "these aliases are in {domain}, which is not an accepted, verified domain of \
                     the target: the target will not accept mail for them"
                ),
                action: format!(
                    "accept and verify {domain} (`cutover domain add {domain}`, `cutover domain \
                     verify {domain}`), or let these aliases go"
                ),
            });
        }
    }
}

/// Unified Messaging, hidden from address lists, managers and delegates.
fn person_rules(
    m: &Migrated,
    r: &Recipient,
    migrated_dns: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
) {
    let who = &m.user.email;
    if r.um_enabled && matches!(r.kind, RecipientKind::Mailbox | RecipientKind::MailUser) {
        findings.push(Finding {
            severity: Severity::Blocking,
            code: Code::UnifiedMessagingEnabled,
            objects: m.names(),
            message: format!("{who} is enabled for Unified Messaging"),
            action: format!(
                "disable Unified Messaging on {who} before the migration (Disable-UMMailbox, or \
                 clear msExchUMEnabledFlags), and enable it on the target afterwards"
            ),
        });
    }
    if r.hidden_from_address_lists {
        findings.push(Finding {
            severity: Severity::Warning,
            code: Code::HiddenFromAddressLists,
            objects: m.names(),
            message: format!(
                "{who} is hidden from address lists on the source; cutover does not carry that \
                 setting, so it will be listed on the target"
            ),
            action: format!("hide {who} on the target once it is there"),
        });
    }
    if let Some(manager) = &r.manager
        && !migrated_dns.contains(&dn_key(manager))
    {
        findings.push(Finding {
            severity: Severity::Blocking,
            code: Code::ManagerNotMigrated,
            objects: vec![who.clone(), r.dn.clone(), manager.clone()],
            message: format!(
                "the manager of {who}, '{manager}', is not migrated (not a recipient of the \
                 batch): only mailboxes, mail users, contacts and mail-enabled groups move"
            ),
            action: format!(
                "remove the manager from {who} before the migration (set it again on the target \
                 afterwards), or bring the manager into the batch"
            ),
        });
    }
    for delegate in &r.delegates {
        if !migrated_dns.contains(&dn_key(delegate)) {
            findings.push(Finding {
                severity: Severity::Blocking,
                code: Code::DelegateNotMigrated,
                objects: vec![who.clone(), r.dn.clone(), delegate.clone()],
                message: format!(
                    "'{delegate}', a delegate of {who}, is not migrated (not a recipient of \
                     the batch)"
                ),
                action: format!(
                    "remove the delegate from {who} before the migration (grant it again on \
                     the target afterwards), or bring it into the batch"
                ),
            });
        }
    }
}

/// Members a group will not have on the target.
fn members_rule(
    m: &Migrated,
    r: &Recipient,
    migrated_dns: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
) {
    let mut missing: Vec<String> = r
        .members
        .iter()
        .filter(|d| !d.trim().is_empty() && !migrated_dns.contains(&dn_key(d)))
        .cloned()
        .collect();
    missing.sort_by_key(|d| dn_key(d));
    if missing.is_empty() {
        return;
    }
    let who = &m.user.email;
    let count = missing.len();
    let mut objects = vec![who.clone()];
    objects.extend(missing);
    findings.push(Finding {
        severity: Severity::Warning,
        code: Code::GroupMembersNotMigrated,
        objects,
        message: format!(
            "{count} of the {} members of {who} are not migrated: the group will not have them \
             on the target",
            r.members.len()
        ),
        action: format!(
            "bring those members into the batch (under the directory's base DN), or add them to \
             {who} on the target afterwards"
        ),
    });
}

/// A mail-enabled security group needs an empty group of its address on the target,
/// created by the admin before the cutover (a migration cannot make security groups).
/// Members the migration itself put there do not count.
fn security_group_rule(
    m: &Migrated,
    target: Option<&TargetFacts>,
    migrated_addresses: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
) {
    let who = &m.user.email;
    let create = format!(
        "create an empty mail-enabled security group with the address {who} on the target \
         before the cutover; the migration adds its members"
    );
    let blocking = |message: String, extra: Option<&str>| {
        let mut objects = m.names();
        objects.extend(extra.map(str::to_string));
        Finding {
            severity: Severity::Blocking,
            code: Code::SecurityGroupNotOnTarget,
            objects,
            message,
            action: create.clone(),
        }
    };
    let Some(target) = target else {
        findings.push(blocking(
            format!(
                "{who} is a security group: the target must hold an empty mail-enabled security \
                 group of that address, and the target's directory is not set, so this cannot be \
                 checked"
            ),
            None,
        ));
        return;
    };
    let found = target.recipients.iter().find(|t| {
        t.primary_smtp
            .as_deref()
            .is_some_and(|p| address_key(p) == address_key(who))
    });
    let Some(group) = found else {
        findings.push(blocking(
            format!(
                "{who} is a security group, and the target holds no group of that address: a \
                 cutover cannot tell security groups from distribution groups, so it would \
                 create a distribution group"
            ),
            None,
        ));
        return;
    };
    let is_security = group.kind == RecipientKind::SecurityGroup
        || (group.kind == RecipientKind::DistributionGroup && !target.tells_security_groups);
    if !is_security {
        findings.push(blocking(
            format!(
                "{who} is a security group, but the target's recipient of that address, '{}', is \
                 a {}",
                group.dn,
                group.recipient_type()
            ),
            Some(&group.dn),
        ));
        return;
    }
    let by_dn: HashMap<String, &Recipient> = target
        .recipients
        .iter()
        .map(|t| (dn_key(&t.dn), t))
        .collect();
    let foreign: Vec<&String> = group
        .members
        .iter()
        .filter(|d| !d.trim().is_empty())
        .filter(|d| {
            !by_dn
                .get(&dn_key(d))
                .and_then(|t| t.primary_smtp.as_deref())
                .is_some_and(|p| migrated_addresses.contains(&address_key(p)))
        })
        .collect();
    if !foreign.is_empty() {
        findings.push(blocking(
            format!(
                "{who} is a security group, and the target's group of that address, '{}', is not \
                 empty: it has {} member(s) that do not come from this migration",
                group.dn,
                foreign.len()
            ),
            Some(&group.dn),
        ));
    }
}

/// Addresses that two migrated recipients share.
fn duplicate_rule(migrated: &[Migrated], findings: &mut Vec<Finding>) {
    let mut holders: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for m in migrated {
        let name = m
            .recipient
            .map_or_else(|| m.user.email.clone(), |r| r.dn.clone());
        for a in m.addresses() {
            let list = holders.entry(address_key(a)).or_default();
            if !list.iter().any(|(n, _)| n == &name) {
                list.push((name.clone(), m.user.email.clone()));
            }
        }
    }
    for (address, list) in holders {
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = list.iter().map(|(n, _)| n.clone()).collect();
        names.sort_by_key(|n| n.to_lowercase());
        let owners: Vec<&str> = list.iter().map(|(_, e)| e.as_str()).collect();
        let mut objects = vec![address.clone()];
        objects.extend(names);
        findings.push(Finding {
            severity: Severity::Blocking,
            code: Code::DuplicateAddress,
            objects,
            message: format!(
                "{address} belongs to {} recipients of the source ({}): on the target an address \
                 has one owner",
                list.len(),
                owners.join(", ")
            ),
            action: format!(
                "remove {address} from all but one of them in the source directory, then run \
                 preflight again"
            ),
        });
    }
}

/// Addresses the target already uses for another recipient (one whose primary SMTP
/// address is not the migrated recipient's: that one is the same recipient, created
/// beforehand).
fn target_address_rule(migrated: &[Migrated], target: &TargetFacts, findings: &mut Vec<Finding>) {
    let mut on_target: HashMap<String, Vec<&Recipient>> = HashMap::new();
    for t in &target.recipients {
        for a in t.primary_smtp.iter().chain(t.aliases.iter()) {
            on_target.entry(address_key(a)).or_default().push(t);
        }
    }
    // An address two migrated recipients share is a DuplicateAddress already: fixing that
    // settles what the target holds of it too.
    let mut holders: HashMap<String, usize> = HashMap::new();
    for m in migrated {
        let mut mine: Vec<String> = m.addresses().into_iter().map(address_key).collect();
        mine.sort();
        mine.dedup();
        for a in mine {
            *holders.entry(a).or_default() += 1;
        }
    }
    for m in migrated {
        let own = address_key(&m.user.email);
        let source_name = m
            .recipient
            .map_or_else(|| m.user.email.clone(), |r| r.dn.clone());
        for a in m.addresses() {
            if holders.get(&address_key(a)).is_some_and(|n| *n > 1) {
                continue;
            }
            for t in on_target.get(&address_key(a)).into_iter().flatten() {
                if t.primary_smtp.as_deref().map(address_key).as_deref() == Some(own.as_str()) {
                    continue;
                }
                findings.push(Finding {
                    severity: Severity::Blocking,
                    code: Code::AddressUsedOnTarget,
                    objects: vec![address_key(a), source_name.clone(), t.dn.clone()],
                    message: format!(
                        "{} of {} is already used on the target by '{}' ({})",
                        address_key(a),
                        m.user.email,
                        t.dn,
                        t.primary_smtp.as_deref().unwrap_or("no primary address")
                    ),
                    action: format!(
                        "remove {} from '{}' on the target, or from {} on the source",
                        address_key(a),
                        t.dn,
                        m.user.email
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BASE: &str = "OU=Org,DC=contoso,DC=test";

    fn recipient(kind: RecipientKind, cn: &str, primary: Option<&str>) -> Recipient {
        Recipient {
            kind,
            dn: format!("CN={cn},{BASE}"),
            primary_smtp: primary.map(str::to_string),
            aliases: Vec::new(),
            display_name: Some(cn.to_string()),
            upn: None,
            members: Vec::new(),
            manager: None,
            delegates: Vec::new(),
            hidden_from_address_lists: false,
            um_enabled: false,
            recipient_type_details: None,
        }
    }

    fn mailbox(cn: &str) -> Recipient {
        recipient(
            RecipientKind::Mailbox,
            cn,
            Some(&format!("{}@contoso.test", cn.to_lowercase())),
        )
    }

    fn dn(cn: &str) -> String {
        format!("CN={cn},{BASE}")
    }

    /// Facts with every mail-enabled recipient in the batch, contoso.test accepted and
    /// verified, and an empty target directory.
    fn facts(source: Vec<Recipient>) -> PreflightFacts {
        PreflightFacts {
            users: source
                .iter()
                .filter_map(|r| {
                    Some(BatchUser {
                        email: r.primary_smtp.clone()?.to_lowercase(),
                        kind: r.kind,
                    })
                })
                .collect(),
            source: Some(source),
            domains: vec![DomainFact {
                name: "contoso.test".into(),
                verified: true,
            }],
            target: Some(TargetFacts {
                recipients: Vec::new(),
                tells_security_groups: true,
            }),
            domain_check_skipped: false,
        }
    }

    fn codes(findings: &[Finding]) -> Vec<(Severity, Code)> {
        findings.iter().map(|f| (f.severity, f.code)).collect()
    }

    #[test]
    fn a_clean_organization_has_no_findings() {
        let mut alice = mailbox("Alice");
        alice.manager = Some(dn("Bob"));
        alice.delegates = vec![dn("Bob").to_uppercase()];
        alice.aliases = vec!["asmith@contoso.test".into()];
        let mut staff = recipient(
            RecipientKind::DistributionGroup,
            "Staff",
            Some("staff@contoso.test"),
        );
        staff.members = vec![dn("Alice"), dn("Bob"), dn("Partner")];
        let partner = recipient(
            RecipientKind::MailContact,
            "Partner",
            Some("partner@fabrikam.test"),
        );
        let f = facts(vec![alice, mailbox("Bob"), staff, partner]);
        assert_eq!(preflight(&f), Vec::new());
    }

    #[test]
    fn a_primary_domain_must_be_accepted_and_verified() {
        let mut f = facts(vec![
            mailbox("Alice"),
            recipient(RecipientKind::Mailbox, "Dave", Some("dave@northwind.test")),
            recipient(RecipientKind::Mailbox, "Erin", Some("erin@fourth.test")),
            // Contacts and mail users point elsewhere: no domain of ours needed.
            recipient(RecipientKind::MailContact, "K", Some("k@partner.test")),
            recipient(RecipientKind::MailUser, "M", Some("m@partner.test")),
        ]);
        f.domains.push(DomainFact {
            name: "Fourth.Test.".into(),
            verified: false,
        });
        let found = preflight(&f);
        assert_eq!(
            codes(&found),
            [
                (Severity::Blocking, Code::DomainNotAccepted),
                (Severity::Blocking, Code::DomainNotVerified)
            ]
        );
        assert_eq!(found[0].objects, ["northwind.test", "dave@northwind.test"]);
        assert!(
            found[0]
                .action
                .contains("cutover domain add northwind.test")
        );
        assert_eq!(found[1].objects, ["fourth.test", "erin@fourth.test"]);
        assert!(
            found[1]
                .action
                .contains("cutover domain verify fourth.test")
        );

        // A users CSV: every user a mailbox, each address its own user ID.
        f.source = None;
        for u in &mut f.users {
            u.kind = RecipientKind::Mailbox;
        }
        let found = preflight(&f);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(
            found[1].objects,
            ["partner.test", "k@partner.test", "m@partner.test"]
        );
        // Created with --skip-domain-check: said, but not blocking.
        f.domain_check_skipped = true;
        assert!(preflight(&f).iter().all(|x| !x.is_blocking()));
    }

    #[test]
    fn aliases_in_other_domains_are_a_warning() {
        let mut alice = mailbox("Alice");
        alice.aliases = vec!["alice@old.test".into(), "a@contoso.test".into()];
        let found = preflight(&facts(vec![alice]));
        assert_eq!(
            codes(&found),
            [(Severity::Warning, Code::AliasDomainNotAccepted)]
        );
        assert_eq!(found[0].objects, ["old.test", "alice@old.test"]);
    }

    #[test]
    fn unified_messaging_blocks_and_hidden_warns() {
        let mut carol = mailbox("Carol");
        carol.um_enabled = true;
        carol.hidden_from_address_lists = true;
        let found = preflight(&facts(vec![carol]));
        assert_eq!(
            codes(&found),
            [
                (Severity::Blocking, Code::UnifiedMessagingEnabled),
                (Severity::Warning, Code::HiddenFromAddressLists)
            ]
        );
        assert_eq!(
            found[0].objects,
            ["carol@contoso.test".to_string(), dn("Carol")]
        );
        assert!(found[0].action.contains("disable Unified Messaging"));
    }

    #[test]
    fn managers_and_delegates_must_be_migrated() {
        let mut alice = mailbox("Alice");
        alice.manager = Some("CN=Boss,OU=Elsewhere,DC=contoso,DC=test".into());
        alice.delegates = vec![dn("Bob"), "CN=Gone,OU=Elsewhere,DC=contoso,DC=test".into()];
        let mut f = facts(vec![alice, mailbox("Bob")]);
        let found = preflight(&f);
        assert_eq!(
            codes(&found),
            [
                (Severity::Blocking, Code::ManagerNotMigrated),
                (Severity::Blocking, Code::DelegateNotMigrated)
            ]
        );
        assert_eq!(
            found[0].objects,
            [
                "alice@contoso.test".to_string(),
                dn("Alice"),
                "CN=Boss,OU=Elsewhere,DC=contoso,DC=test".into()
            ]
        );
        // In the directory but not in the batch (a users CSV without Bob): not migrated.
        f.users.retain(|u| u.email != "bob@contoso.test");
        let found = preflight(&f);
        assert_eq!(
            found
                .iter()
                .filter(|x| x.code == Code::DelegateNotMigrated)
                .count(),
            2
        );
    }

    #[test]
    fn a_security_group_needs_an_empty_group_of_its_address_on_the_target() {
        let mut finance = recipient(
            RecipientKind::SecurityGroup,
            "Finance",
            Some("finance@contoso.test"),
        );
        finance.members = vec![dn("Alice")];
        let mut f = facts(vec![finance, mailbox("Alice")]);
        let found = preflight(&f);
        assert_eq!(
            codes(&found),
            [(Severity::Blocking, Code::SecurityGroupNotOnTarget)]
        );
        assert!(
            found[0]
                .action
                .contains("empty mail-enabled security group")
        );

        let target_group = |kind, members: &[&str]| {
            let mut g = recipient(kind, "Finance", Some("Finance@contoso.test"));
            g.dn = "cn=finance,ou=groups,dc=target,dc=test".into();
            g.members = members.iter().map(|m| m.to_string()).collect();
            g
        };
        let target = f.target.as_mut().unwrap();
        // A distribution group, where the target tells them apart: not one.
        target.recipients = vec![target_group(RecipientKind::DistributionGroup, &[])];
        assert_eq!(preflight(&f).len(), 1);
        // The same where the target has no group types (OpenLDAP): it is one.
        f.target.as_mut().unwrap().tells_security_groups = false;
        assert_eq!(preflight(&f), Vec::new());
        // A security group with a member of its own: not empty.
        let mut other = mailbox("Zed");
        other.dn = "uid=zed,dc=target,dc=test".into();
        other.primary_smtp = Some("zed@contoso.test".into());
        let mut alice_there = mailbox("Alice");
        alice_there.dn = "uid=alice,dc=target,dc=test".into();
        f.target.as_mut().unwrap().recipients = vec![
            target_group(RecipientKind::SecurityGroup, &["uid=zed,dc=target,dc=test"]),
            other,
            alice_there.clone(),
        ];
        let found = preflight(&f);
        assert_eq!(
            codes(&found),
            [(Severity::Blocking, Code::SecurityGroupNotOnTarget)]
        );
        assert!(
            found[0].message.contains("not empty"),
            "{}",
            found[0].message
        );
        // Members the migration put there (migrated recipients) and empty DNs do count as
        // empty.
        f.target.as_mut().unwrap().recipients = vec![
            target_group(
                RecipientKind::SecurityGroup,
                &["", "UID=Alice, DC=target,DC=test"],
            ),
            alice_there,
        ];
        assert_eq!(preflight(&f), Vec::new());
        // No target directory: cannot be checked, so it blocks.
        f.target = None;
        assert_eq!(
            codes(&preflight(&f)),
            [
                (Severity::Blocking, Code::SecurityGroupNotOnTarget),
                (Severity::Warning, Code::TargetDirectoryNotSet)
            ]
        );
    }

    #[test]
    fn groups_without_address_and_members_left_behind_are_warnings() {
        let mut printers = recipient(RecipientKind::SecurityGroup, "Printers", None);
        printers.members = vec![dn("Alice")];
        let mut staff = recipient(
            RecipientKind::DistributionGroup,
            "Staff",
            Some("staff@contoso.test"),
        );
        staff.members = vec![
            dn("Alice"),
            "CN=crowd1,OU=Crowd,DC=contoso,DC=test".into(),
            "CN=crowd0,OU=Crowd,DC=contoso,DC=test".into(),
        ];
        let found = preflight(&facts(vec![printers, staff, mailbox("Alice")]));
        assert_eq!(
            codes(&found),
            [
                (Severity::Warning, Code::GroupMembersNotMigrated),
                (Severity::Warning, Code::GroupNotMailEnabled)
            ]
        );
        assert_eq!(
            found[0].objects,
            [
                "staff@contoso.test",
                "CN=crowd0,OU=Crowd,DC=contoso,DC=test",
                "CN=crowd1,OU=Crowd,DC=contoso,DC=test"
            ]
        );
        assert!(found[0].message.starts_with("2 of the 3 members"));
        assert_eq!(found[1].objects, [dn("Printers")]);
    }

    #[test]
    fn an_address_two_recipients_share_blocks_once() {
        let mut erin = mailbox("Erin");
        erin.aliases = vec!["BOB@contoso.test".into()];
        let found = preflight(&facts(vec![mailbox("Bob"), erin]));
        assert_eq!(
            codes(&found),
            [(Severity::Blocking, Code::DuplicateAddress)]
        );
        assert_eq!(
            found[0].objects,
            ["bob@contoso.test".to_string(), dn("Bob"), dn("Erin")]
        );
        // Bob already on the target: still the one finding (fixing it settles both).
        let mut erin = mailbox("Erin");
        erin.aliases = vec!["bob@contoso.test".into()];
        let mut f = facts(vec![mailbox("Bob"), erin]);
        let mut bob_there = mailbox("Bob");
        bob_there.dn = "uid=bob,dc=target,dc=test".into();
        f.target.as_mut().unwrap().recipients = vec![bob_there];
        assert_eq!(
            codes(&preflight(&f)),
            [(Severity::Blocking, Code::DuplicateAddress)]
        );
    }

    #[test]
    fn an_address_another_target_recipient_uses_blocks() {
        let mut alice = mailbox("Alice");
        alice.aliases = vec!["asmith@contoso.test".into()];
        let mut f = facts(vec![alice, mailbox("Bob")]);
        let mut adam = mailbox("Adam");
        adam.dn = "uid=asmith,dc=target,dc=test".into();
        adam.primary_smtp = Some("asmith@contoso.test".into());
        // Bob already there (created beforehand): the same recipient, no conflict.
        let mut bob = mailbox("Bob");
        bob.dn = "uid=bob,dc=target,dc=test".into();
        bob.aliases = vec!["robert@contoso.test".into()];
        f.target.as_mut().unwrap().recipients = vec![adam, bob];
        let found = preflight(&f);
        assert_eq!(
            codes(&found),
            [(Severity::Blocking, Code::AddressUsedOnTarget)]
        );
        assert_eq!(
            found[0].objects,
            [
                "asmith@contoso.test".to_string(),
                dn("Alice"),
                "uid=asmith,dc=target,dc=test".into()
            ]
        );
        // Without a directory, the batch's own addresses are compared.
        f.source = None;
        f.users.push(BatchUser {
            email: "asmith@contoso.test".into(),
            kind: RecipientKind::Mailbox,
        });
        let bob_there = &mut f.target.as_mut().unwrap().recipients[1];
        bob_there.primary_smtp = Some("b@contoso.test".into());
        bob_there.aliases = vec!["Bob@contoso.test".into()];
        let found = preflight(&f);
        assert_eq!(
            codes(&found),
            [(Severity::Blocking, Code::AddressUsedOnTarget)],
            "{found:#?}"
        );
        assert_eq!(
            found[0].objects,
            [
                "bob@contoso.test",
                "bob@contoso.test",
                "uid=bob,dc=target,dc=test"
            ]
        );
    }

    #[test]
    fn a_batch_from_a_directory_without_a_target_directory_is_warned() {
        let mut f = facts(vec![mailbox("Alice")]);
        f.target = None;
        assert_eq!(
            codes(&preflight(&f)),
            [(Severity::Warning, Code::TargetDirectoryNotSet)]
        );
        f.source = None;
        assert_eq!(preflight(&f), Vec::new(), "a users CSV batch is not warned");
    }

    // ---- properties

    /// One problem planted into a clean organization, and the rule that must see it.
    #[derive(Debug, Clone, Copy)]
    enum Plant {
        Domain,
        Um,
        Security,
        Manager,
        Delegate,
        Duplicate,
        OnTarget,
        Hidden,
    }

    fn clean(n: usize) -> Vec<Recipient> {
        let mut all: Vec<Recipient> = (0..n).map(|i| mailbox(&format!("U{i}"))).collect();
        for (i, r) in all.iter_mut().enumerate().skip(1) {
            r.manager = Some(dn(&format!("U{}", i - 1)));
        }
        let mut g = recipient(
            RecipientKind::DistributionGroup,
            "All",
            Some("all@contoso.test"),
        );
        g.members = (0..n).map(|i| dn(&format!("U{i}"))).collect();
        all.push(g);
        all
    }

    fn plant(source: &mut [Recipient], target: &mut TargetFacts, p: Plant, at: usize) -> Code {
        let r = &mut source[at];
        match p {
            Plant::Domain => {
                r.primary_smtp = Some(format!("x{at}@elsewhere.test"));
                Code::DomainNotAccepted
            }
            Plant::Um => {
                r.um_enabled = true;
                Code::UnifiedMessagingEnabled
            }
            Plant::Security => {
                r.kind = RecipientKind::SecurityGroup;
                Code::SecurityGroupNotOnTarget
            }
            Plant::Manager => {
                r.manager = Some("CN=Boss,OU=Elsewhere,DC=contoso,DC=test".into());
                Code::ManagerNotMigrated
            }
            Plant::Delegate => {
                r.delegates
                    .push("CN=Boss,OU=Elsewhere,DC=contoso,DC=test".into());
                Code::DelegateNotMigrated
            }
            Plant::Duplicate => {
                let other = source[(at + 1) % source.len()]
                    .primary_smtp
                    .clone()
                    .unwrap();
                source[at].aliases.push(other);
                Code::DuplicateAddress
            }
            Plant::OnTarget => {
                let mut t = mailbox("Someone");
                t.dn = "uid=someone,dc=target,dc=test".into();
                t.primary_smtp = Some("someone@contoso.test".into());
                t.aliases = vec![r.primary_smtp.clone().unwrap()];
                target.recipients.push(t);
                Code::AddressUsedOnTarget
            }
            Plant::Hidden => {
                r.hidden_from_address_lists = true;
                Code::HiddenFromAddressLists
            }
        }
    }

    fn any_plant() -> impl Strategy<Value = Plant> {
        prop_oneof![
            Just(Plant::Domain),
            Just(Plant::Um),
            Just(Plant::Security),
            Just(Plant::Manager),
            Just(Plant::Delegate),
            Just(Plant::Duplicate),
            Just(Plant::OnTarget),
            Just(Plant::Hidden),
        ]
    }

    proptest! {
        #[test]
        fn one_planted_problem_gives_exactly_its_finding(
            n in 2usize..12,
            p in any_plant(),
            at in 0usize..100,
            seed in any::<u64>(),
        ) {
            let mut source = clean(n);
            let mut f = facts(source.clone());
            prop_assert_eq!(preflight(&f), Vec::new());
            // Mailboxes only (the group is last), so every plant applies.
            let at = at % n;
            let mut target = f.target.clone().unwrap();
            let code = plant(&mut source, &mut target, p, at);
            f = facts(source);
            f.target = Some(target);
            let found = preflight(&f);
            prop_assert_eq!(found.len(), 1, "{:#?}", found);
            prop_assert_eq!(found[0].code, code);
            prop_assert!(!found[0].objects.is_empty());
            prop_assert!(!found[0].action.is_empty());

            // The order of what was read does not matter.
            let mut shuffled = f.clone();
            let mut rng = seed;
            let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1); (rng >> 33) as usize };
            let s = shuffled.source.as_mut().unwrap();
            for i in (1..s.len()).rev() { let j = next() % (i + 1); s.swap(i, j); }
            for i in (1..shuffled.users.len()).rev() { let j = next() % (i + 1); shuffled.users.swap(i, j); }
            prop_assert_eq!(preflight(&shuffled), found);
        }

        #[test]
        fn findings_are_sorted_blocking_first_and_name_something(
            n in 1usize..10,
            plants in proptest::collection::vec((any_plant(), 0usize..100), 0..6),
        ) {
            let mut source = clean(n);
            let mut target = TargetFacts { recipients: Vec::new(), tells_security_groups: true };
            for (p, at) in plants {
                plant(&mut source, &mut target, p, at % n);
            }
            let mut f = facts(source);
            f.target = Some(target);
            let found = preflight(&f);
            let severities: Vec<Severity> = found.iter().map(|x| x.severity).collect();
            let mut sorted = severities.clone();
            sorted.sort();
            prop_assert_eq!(severities, sorted);
            for x in &found {
                prop_assert!(!x.objects.is_empty() || x.code == Code::TargetDirectoryNotSet);
                prop_assert!(!x.message.is_empty() && !x.action.is_empty());
            }
            prop_assert_eq!(preflight(&f), found, "the same facts, the same findings");
        }
    }
}
