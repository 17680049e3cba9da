//! A recipient of the source organization, and the pure mapping from an LDAP entry to
//! it: which kind it is, its primary SMTP address and aliases, its members, manager
//! and delegates. No IO: [`crate::reader`] fetches the entries.

use cutover_model::{DirectoryProfile, RecipientKind};
use serde::Serialize;

use crate::attributes::{AttributeNames, Field};
use crate::entry::Entry;

/// AD's groupType bit that makes a group a security group.
pub const GROUP_TYPE_SECURITY: u32 = 0x8000_0000;

/// One mailbox, mail user, contact or group of the source organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub kind: RecipientKind,
    pub dn: String,
    /// The primary SMTP address (the target's user ID); `None` for a group that is not
    /// mail-enabled.
    pub primary_smtp: Option<String>,
    /// The other SMTP addresses, without the primary, each once.
    pub aliases: Vec<String>,
    pub display_name: Option<String>,
    pub upn: Option<String>,
    /// Members' DNs (groups), every one of them (ranges already joined).
    pub members: Vec<String>,
    pub manager: Option<String>,
    pub delegates: Vec<String>,
    pub hidden_from_address_lists: bool,
    pub um_enabled: bool,
    /// AD's msExchRecipientTypeDetails as it was read.
    pub recipient_type_details: Option<String>,
}

impl Recipient {
    pub fn mail_enabled(&self) -> bool {
        self.primary_smtp.is_some()
    }

    /// Exchange's RecipientType (`UserMailbox`, `MailUniversalSecurityGroup`, ...).
    pub fn recipient_type(&self) -> &'static str {
        self.kind.recipient_type(self.mail_enabled())
    }
}

/// What an entry is, before its addresses are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectShape {
    Person,
    Contact,
    Group,
    /// Computers, and classes neither profile knows.
    Other,
}

fn shape(entry: &Entry) -> ObjectShape {
    let classes: Vec<String> = entry
        .values("objectClass")
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let has = |c: &str| classes.iter().any(|x| x == c);
    if has("computer") {
        ObjectShape::Other
    } else if has("group") || has("groupofnames") || has("groupofuniquenames") {
        ObjectShape::Group
    } else if has("contact") {
        ObjectShape::Contact
    } else if has("user") || has("inetorgperson") {
        ObjectShape::Person
    } else {
        ObjectShape::Other
    }
}

/// The SMTP addresses of an entry: the primary (an `SMTP:` proxy address, else the
/// mail attribute, else a target address) and the aliases (`smtp:` proxy addresses,
/// the alias attributes, a mail attribute that is not the primary), each once.
fn addresses(entry: &Entry, names: &AttributeNames) -> (Option<String>, Vec<String>) {
    let mut primary: Option<String> = None;
    let mut others: Vec<String> = Vec::new();
    for value in entry.values_of(names.of(Field::ProxyAddresses)) {
        if let Some(addr) = value.strip_prefix("SMTP:") {
            if primary.is_none() && !addr.trim().is_empty() {
                primary = Some(addr.trim().to_string());
            } else {
                others.push(addr.trim().to_string());
            }
        } else if let Some((kind, addr)) = value.split_once(':')
            && kind.eq_ignore_ascii_case("smtp")
        {
            others.push(addr.trim().to_string());
        }
    }
    let mail = entry.first_of(names.of(Field::Mail)).map(str::trim);
    let target = entry
        .first_of(names.of(Field::TargetAddress))
        .map(|t| strip_smtp(t.trim()));
    match (&primary, mail) {
        (None, Some(m)) if !m.is_empty() => primary = Some(m.to_string()),
        (Some(_), Some(m)) => others.push(m.to_string()),
        _ => {}
    }
    if primary.is_none() {
        primary = target.filter(|t| !t.is_empty()).map(str::to_string);
    }
    others.extend(
        entry
            .values_of(names.of(Field::Aliases))
            .map(|a| strip_smtp(a.trim()).to_string()),
    );
    let mut aliases: Vec<String> = Vec::new();
    for a in others {
        let same_as = |x: &String| x.eq_ignore_ascii_case(&a);
        if a.is_empty() || primary.as_ref().is_some_and(same_as) || aliases.iter().any(same_as) {
            continue;
        }
        aliases.push(a);
    }
    (primary, aliases)
}

fn strip_smtp(addr: &str) -> &str {
    match addr.split_once(':') {
        Some((kind, rest)) if kind.eq_ignore_ascii_case("smtp") => rest,
        _ => addr,
    }
}

fn truthy(value: &str) -> bool {
    let v = value.trim();
    !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
}

/// AD's groupType, read as the 32 bits it is (AD writes it signed).
pub fn is_security_group_type(value: &str) -> bool {
    value
        .trim()
        .parse::<i64>()
        .is_ok_and(|v| (v as u32) & GROUP_TYPE_SECURITY != 0)
}

/// msExchRecipientTypeDetails of a user: the mailbox kinds (user, linked, shared,
/// room, equipment) are mailboxes; mail users and remote mailboxes are mail users.
fn user_kind_from_details(details: &str) -> Option<RecipientKind> {
    match details.trim().parse::<u64>().ok()? {
        1 | 2 | 4 | 16 | 32 => Some(RecipientKind::Mailbox),
        128 | 2147483648 => Some(RecipientKind::MailUser),
        _ => None,
    }
}

/// The recipient an entry is, or `None` when it is not one (a computer, a user or
/// contact with no address, a class the profile does not read).
pub fn recipient_from_entry(entry: &Entry, names: &AttributeNames) -> Option<Recipient> {
    let (primary_smtp, aliases) = addresses(entry, names);
    let details = entry
        .first_of(names.of(Field::RecipientTypeDetails))
        .map(str::to_string);
    let kind = match shape(entry) {
        ObjectShape::Other => return None,
        ObjectShape::Group => {
            if entry
                .values_of(names.of(Field::GroupType))
                .any(|v| is_security_group_type(v))
            {
                RecipientKind::SecurityGroup
            } else {
                RecipientKind::DistributionGroup
            }
        }
        ObjectShape::Contact => {
            primary_smtp.as_ref()?;
            RecipientKind::MailContact
        }
        ObjectShape::Person => {
            primary_smtp.as_ref()?;
            match names.profile {
                DirectoryProfile::ActiveDirectory => details
                    .as_deref()
                    .and_then(user_kind_from_details)
                    .unwrap_or_else(|| {
                        let has_target = entry.first_of(names.of(Field::TargetAddress)).is_some();
                        if has_target {
                            RecipientKind::MailUser
                        } else {
                            RecipientKind::Mailbox
                        }
                    }),
                // An inetOrgPerson that cannot log in is someone else's address.
                DirectoryProfile::OpenLdap => {
                    if entry.first_of(names.of(Field::Login)).is_some() {
                        RecipientKind::Mailbox
                    } else {
                        RecipientKind::MailContact
                    }
                }
            }
        }
    };
    let mut delegates: Vec<String> = Vec::new();
    for d in entry.values_of(names.of(Field::Delegates)) {
        if !delegates.iter().any(|x| x.eq_ignore_ascii_case(d)) {
            delegates.push(d.clone());
        }
    }
    Some(Recipient {
        kind,
        dn: entry.dn.clone(),
        primary_smtp,
        aliases,
        display_name: entry
            .first_of(names.of(Field::DisplayName))
            .map(str::to_string),
        upn: entry.first_of(names.of(Field::Upn)).map(str::to_string),
        members: if kind.is_group() {
            entry.values_of(names.of(Field::Member)).cloned().collect()
        } else {
            Vec::new()
        },
        manager: entry.first_of(names.of(Field::Manager)).map(str::to_string),
        delegates,
        hidden_from_address_lists: entry
            .values_of(names.of(Field::HiddenFromAddressLists))
            .any(|v| truthy(v)),
        um_enabled: entry
            .values_of(names.of(Field::UmEnabled))
            .any(|v| truthy(v)),
        recipient_type_details: details,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn ad() -> AttributeNames {
        AttributeNames::new(DirectoryProfile::ActiveDirectory, &BTreeMap::new()).unwrap()
    }

    fn openldap() -> AttributeNames {
        AttributeNames::new(DirectoryProfile::OpenLdap, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn an_ad_mailbox_has_its_smtp_primary_and_aliases() {
        let e = Entry::new("CN=Alice,CN=Users,DC=contoso,DC=test")
            .with(
                "objectClass",
                &["top", "person", "organizationalPerson", "user"],
            )
            .with("mail", &["alice@contoso.test"])
            .with(
                "proxyAddresses",
                &[
                    "smtp:alice@contoso.test",
                    "SMTP:Alice.Smith@contoso.test",
                    "smtp:asmith@contoso.test",
                    "X500:/o=Contoso/cn=alice",
                ],
            )
            .with("userPrincipalName", &["alice@contoso.test"])
            .with("manager", &["CN=Boss,OU=Elsewhere,DC=contoso,DC=test"])
            .with("msExchUMEnabledFlags", &["0"]);
        let r = recipient_from_entry(&e, &ad()).unwrap();
        assert_eq!(r.kind, RecipientKind::Mailbox);
        assert_eq!(r.recipient_type(), "UserMailbox");
        assert_eq!(r.primary_smtp.as_deref(), Some("Alice.Smith@contoso.test"));
        assert_eq!(r.aliases, ["alice@contoso.test", "asmith@contoso.test"]);
        assert_eq!(
            r.manager.as_deref(),
            Some("CN=Boss,OU=Elsewhere,DC=contoso,DC=test")
        );
        assert!(!r.um_enabled);
    }

    #[test]
    fn ad_kinds_follow_object_class_group_type_and_details() {
        let group = |t: &str| {
            Entry::new("CN=G,DC=c")
                .with("objectClass", &["top", "group"])
                .with("groupType", &[t])
                .with("mail", &["g@c.test"])
                .with("member", &["CN=A,DC=c", "CN=B,DC=c"])
        };
        let sec = recipient_from_entry(&group("-2147483646"), &ad()).unwrap();
        assert_eq!(sec.kind, RecipientKind::SecurityGroup);
        assert_eq!(sec.recipient_type(), "MailUniversalSecurityGroup");
        assert_eq!(sec.members.len(), 2);
        let dist = recipient_from_entry(&group("8"), &ad()).unwrap();
        assert_eq!(dist.recipient_type(), "MailUniversalDistributionGroup");
        let unmailed = recipient_from_entry(
            &Entry::new("CN=S,DC=c")
                .with("objectClass", &["group"])
                .with("groupType", &["-2147483644"]),
            &ad(),
        )
        .unwrap();
        assert_eq!(unmailed.recipient_type(), "Group");
        assert!(!unmailed.mail_enabled());

        let mail_user = Entry::new("CN=M,DC=c")
            .with("objectClass", &["user"])
            .with("targetAddress", &["SMTP:m@partner.test"])
            .with("msExchRecipientTypeDetails", &["128"]);
        let r = recipient_from_entry(&mail_user, &ad()).unwrap();
        assert_eq!(r.kind, RecipientKind::MailUser);
        assert_eq!(r.primary_smtp.as_deref(), Some("m@partner.test"));

        let contact = Entry::new("CN=K,DC=c")
            .with("objectClass", &["top", "contact"])
            .with("mail", &["k@partner.test"]);
        assert_eq!(
            recipient_from_entry(&contact, &ad())
                .unwrap()
                .recipient_type(),
            "MailContact"
        );
        let computer = Entry::new("CN=PC,DC=c")
            .with("objectClass", &["user", "computer"])
            .with("mail", &["pc@c.test"]);
        assert_eq!(recipient_from_entry(&computer, &ad()), None);
        let krbtgt = Entry::new("CN=krbtgt,DC=c").with("objectClass", &["user"]);
        assert_eq!(recipient_from_entry(&krbtgt, &ad()), None);
    }

    #[test]
    fn ad_flags_um_hidden_and_delegates() {
        let e = Entry::new("CN=U,DC=c")
            .with("objectClass", &["user"])
            .with("mail", &["u@c.test"])
            .with("msExchUMRecipientDialPlanLink", &["CN=Plan,DC=c"])
            .with("msExchHideFromAddressLists", &["TRUE"])
            .with("publicDelegates", &["CN=D,DC=c"])
            .with("msExchDelegateListLink", &["cn=d,dc=c", "CN=E,DC=c"]);
        let r = recipient_from_entry(&e, &ad()).unwrap();
        assert!(r.um_enabled && r.hidden_from_address_lists);
        assert_eq!(r.delegates, ["CN=D,DC=c", "CN=E,DC=c"]);
    }

    #[test]
    fn openldap_people_contacts_and_groups() {
        let person = Entry::new("uid=bob,ou=people,dc=c")
            .with("objectClass", &["inetOrgPerson"])
            .with("uid", &["bob"])
            .with("cn", &["Bob Jones"])
            .with("mail", &["bob@c.test"])
            .with("mailAlternateAddress", &["bj@c.test", "BOB@c.test"]);
        let r = recipient_from_entry(&person, &openldap()).unwrap();
        assert_eq!(r.kind, RecipientKind::Mailbox);
        assert_eq!(r.upn.as_deref(), Some("bob"));
        assert_eq!(r.display_name.as_deref(), Some("Bob Jones"));
        assert_eq!(r.aliases, ["bj@c.test"]);
        let contact = Entry::new("cn=partner,ou=contacts,dc=c")
            .with("objectClass", &["inetOrgPerson"])
            .with("mail", &["p@partner.test"]);
        assert_eq!(
            recipient_from_entry(&contact, &openldap()).unwrap().kind,
            RecipientKind::MailContact
        );
        let group = Entry::new("cn=staff,ou=groups,dc=c")
            .with("objectClass", &["groupOfNames"])
            .with("mail", &["staff@c.test"])
            .with("member", &["uid=bob,ou=people,dc=c"]);
        let g = recipient_from_entry(&group, &openldap()).unwrap();
        assert_eq!(g.recipient_type(), "MailUniversalDistributionGroup");
        assert_eq!(g.members, ["uid=bob,ou=people,dc=c"]);
    }

    fn address() -> impl Strategy<Value = String> {
        (
            "[a-c]{1,3}",
            prop::sample::select(vec!["c.test", "C.TEST", "p.test"]),
        )
            .prop_map(|(l, d)| format!("{l}@{d}"))
    }

    fn proxy() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["SMTP:", "smtp:", "X500:", "SIP:", "sMtP:"]),
            address(),
        )
            .prop_map(|(p, a)| format!("{p}{a}"))
    }

    fn ad_entry() -> impl Strategy<Value = Entry> {
        (
            prop::sample::select(vec!["user", "contact", "group", "computer", "person"]),
            prop::option::of(address()),
            prop::collection::vec(proxy(), 0..6),
            prop::option::of(any::<i32>()),
            prop::collection::vec("[a-z]{1,4}", 0..20),
            prop::option::of(prop::sample::select(vec!["1", "4", "128", "7", "x"])),
            prop::option::of(address()),
        )
            .prop_map(
                |(class, mail, proxies, group_type, members, details, target)| {
                    let mut e = Entry::new("CN=X,DC=c").with("objectClass", &["top", class]);
                    if let Some(m) = mail {
                        e.add("mail", [m]);
                    }
                    e.add("proxyAddresses", proxies);
                    if let Some(t) = group_type {
                        e.add("groupType", [t.to_string()]);
                    }
                    e.add(
                        "member",
                        members.into_iter().map(|m| format!("CN={m},DC=c")),
                    );
                    if let Some(d) = details {
                        e.add("msExchRecipientTypeDetails", [d.to_string()]);
                    }
                    if let Some(t) = target {
                        e.add("targetAddress", [format!("SMTP:{t}")]);
                    }
                    e
                },
            )
    }

    proptest! {
        #[test]
        fn the_primary_is_never_an_alias_and_aliases_are_unique(e in ad_entry()) {
            if let Some(r) = recipient_from_entry(&e, &ad()) {
                for (i, a) in r.aliases.iter().enumerate() {
                    prop_assert!(r.primary_smtp.as_ref().is_none_or(|p| !p.eq_ignore_ascii_case(a)));
                    prop_assert!(!r.aliases[..i].iter().any(|b| b.eq_ignore_ascii_case(a)));
                }
            }
        }

        #[test]
        fn every_smtp_proxy_address_is_kept(e in ad_entry()) {
            if let Some(r) = recipient_from_entry(&e, &ad()) {
                for p in e.values("proxyAddresses") {
                    if let Some((kind, addr)) = p.split_once(':') && kind.eq_ignore_ascii_case("smtp") {
                        let kept = r.primary_smtp.iter().chain(&r.aliases).any(|x| x.eq_ignore_ascii_case(addr));
                        prop_assert!(kept, "{p} lost: {r:?}");
                    }
                }
            }
        }

        #[test]
        fn the_first_upper_case_smtp_is_the_primary(e in ad_entry()) {
            let first = e.values("proxyAddresses").iter().find_map(|p| p.strip_prefix("SMTP:"));
            if let (Some(first), Some(r)) = (first, recipient_from_entry(&e, &ad())) {
                prop_assert_eq!(r.primary_smtp.as_deref(), Some(first));
            }
        }

        #[test]
        fn kinds_follow_the_object_class_and_the_security_bit(e in ad_entry()) {
            let class = e.values("objectClass")[1].clone();
            let r = recipient_from_entry(&e, &ad());
            match class.as_str() {
                "computer" | "person" => prop_assert!(r.is_none()),
                "group" => {
                    let r = r.expect("every group is read");
                    let security = e.values("groupType").first()
                        .is_some_and(|t| t.parse::<i32>().unwrap() < 0);
                    prop_assert_eq!(r.kind == RecipientKind::SecurityGroup, security);
                    prop_assert_eq!(&r.members, &e.values("member").to_vec());
                }
                "contact" => prop_assert!(r.is_none_or(|r| r.kind == RecipientKind::MailContact)),
                _ => {
                    if let Some(r) = r {
                        prop_assert!(matches!(r.kind, RecipientKind::Mailbox | RecipientKind::MailUser));
                        prop_assert!(r.members.is_empty());
                        prop_assert!(r.primary_smtp.is_some());
                    }
                }
            }
        }
    }
}
