//! What provisioning writes, decided without IO: each source recipient's entry on the
//! target ([`DesiredEntry`]: its kind, primary SMTP address, aliases, name, and for a
//! group its members' addresses), its digest (a change of any of these is a change to
//! write again), and which recipients of the source are not in the batch yet
//! ([`joining`]). [`crate::writer`] writes the entries.

use std::collections::{BTreeMap, BTreeSet};

use cutover_model::RecipientKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::recipient::Recipient;

/// A member of a group on the target: a recipient of the organization, by its primary
/// SMTP address (its target DN follows from that and its kind).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    pub address: String,
    pub kind: RecipientKind,
}

/// One recipient's entry on the target, as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEntry {
    pub kind: RecipientKind,
    /// The primary SMTP address: the target's user ID and primary address.
    pub address: String,
    /// The other SMTP addresses, sorted, each once, without the primary.
    pub aliases: Vec<String>,
    pub display_name: Option<String>,
    /// A group's members that are recipients of the organization, sorted.
    pub members: Vec<Member>,
    /// Members that are no mail-enabled recipient of the organization read (outside the
    /// base, or without an address): they cannot be members on the target.
    pub members_left_out: usize,
}

impl DesiredEntry {
    /// Whether people log in with it (a password is set for them).
    pub fn logs_in(&self) -> bool {
        matches!(self.kind, RecipientKind::Mailbox | RecipientKind::MailUser)
    }

    /// A digest of everything that is written: equal digests, nothing to write again.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("a desired entry serializes");
        hex::encode(Sha256::digest(&json))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a desired entry serializes")
    }

    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("a stored desired entry: {e}"))
    }
}

/// The key an address is compared by (addresses are case-insensitive here, as the
/// store's migration users are).
fn key(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// The entries the target should hold for the mail-enabled recipients, by address
/// (lower case). Group members are mapped from DNs to the members' addresses; a member
/// that is not a mail-enabled recipient of `recipients` is counted, not written.
pub fn desired_entries(recipients: &[Recipient]) -> BTreeMap<String, DesiredEntry> {
    let by_dn: BTreeMap<String, (&str, RecipientKind)> = recipients
        .iter()
        .filter_map(|r| {
            r.primary_smtp
                .as_deref()
                .map(|a| (r.dn.to_ascii_lowercase(), (a, r.kind)))
        })
        .collect();
    let mut out = BTreeMap::new();
    for r in recipients {
        let Some(primary) = r.primary_smtp.as_deref() else {
            continue;
        };
        let primary_key = key(primary);
        let aliases: BTreeSet<String> = r
            .aliases
            .iter()
            .map(|a| key(a))
            .filter(|a| !a.is_empty() && *a != primary_key)
            .collect();
        let mut members = BTreeSet::new();
        let mut left_out = 0;
        for dn in &r.members {
            match by_dn.get(&dn.to_ascii_lowercase()) {
                Some((address, kind)) => {
                    members.insert(Member {
                        address: key(address),
                        kind: *kind,
                    });
                }
                None => left_out += 1,
            }
        }
        out.entry(primary_key.clone()).or_insert(DesiredEntry {
            kind: r.kind,
            address: primary_key,
            aliases: aliases.into_iter().collect(),
            display_name: r.display_name.clone(),
            members: members.into_iter().collect(),
            members_left_out: left_out,
        });
    }
    out
}

/// The mail-enabled recipients of the source that are not migration users of the
/// batch yet (compared by primary address, case-insensitively), in the source's order,
/// each once: they join the batch at its next round. A recipient the source no longer
/// lists is not a removal (a missing answer is never taken for one).
pub fn joining<'a>(batch_users: &[String], recipients: &'a [Recipient]) -> Vec<&'a Recipient> {
    let mut known: BTreeSet<String> = batch_users.iter().map(|e| key(e)).collect();
    let mut out = Vec::new();
    for r in recipients {
        if let Some(primary) = r.primary_smtp.as_deref()
            && known.insert(key(primary))
        {
            out.push(r);
        }
    }
    out
}

/// Whether a user's entry must be written: the target does not hold what it should
/// (never written, or its source changed since).
pub fn needs_writing(desired_digest: &str, applied_digest: Option<&str>) -> bool {
    applied_digest != Some(desired_digest)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn r(kind: RecipientKind, dn: &str, primary: Option<&str>) -> Recipient {
        Recipient {
            kind,
            dn: dn.into(),
            primary_smtp: primary.map(Into::into),
            aliases: Vec::new(),
            display_name: None,
            upn: None,
            members: Vec::new(),
            manager: None,
            delegates: Vec::new(),
            hidden_from_address_lists: false,
            um_enabled: false,
            recipient_type_details: None,
        }
    }

    #[test]
    fn members_become_addresses_and_the_others_are_counted() {
        let mut group = r(
            RecipientKind::DistributionGroup,
            "CN=All,OU=X",
            Some("All@Contoso.test"),
        );
        group.members = vec![
            "cn=alice,ou=x".into(),
            "CN=Partner,OU=X".into(),
            "CN=Outside,OU=Elsewhere".into(),
            "CN=Printers,OU=X".into(),
        ];
        group.aliases = vec!["everyone@contoso.test".into(), "ALL@contoso.test".into()];
        let recipients = vec![
            r(
                RecipientKind::Mailbox,
                "CN=Alice,OU=X",
                Some("alice@contoso.test"),
            ),
            r(
                RecipientKind::MailContact,
                "CN=Partner,OU=X",
                Some("p@fabrikam.test"),
            ),
            r(RecipientKind::SecurityGroup, "CN=Printers,OU=X", None),
            group,
        ];
        let entries = desired_entries(&recipients);
        let all = &entries["all@contoso.test"];
        assert_eq!(all.aliases, ["everyone@contoso.test"]);
        assert_eq!(
            all.members,
            [
                Member {
                    address: "alice@contoso.test".into(),
                    kind: RecipientKind::Mailbox
                },
                Member {
                    address: "p@fabrikam.test".into(),
                    kind: RecipientKind::MailContact
                },
            ]
        );
        assert_eq!(all.members_left_out, 2);
        assert_eq!(
            entries.len(),
            3,
            "the group without an address has no entry"
        );
        assert!(entries["alice@contoso.test"].logs_in());
        assert!(!entries["p@fabrikam.test"].logs_in());
    }

    #[test]
    fn a_changed_alias_or_member_changes_the_digest_and_nothing_else_does() {
        let mut a = r(RecipientKind::Mailbox, "CN=A", Some("a@contoso.test"));
        a.aliases = vec!["x@contoso.test".into(), "y@contoso.test".into()];
        let d1 = desired_entries(std::slice::from_ref(&a))["a@contoso.test"].digest();
        // The same addresses in another order: the same entry.
        a.aliases.reverse();
        let d2 = desired_entries(std::slice::from_ref(&a))["a@contoso.test"].digest();
        assert_eq!(d1, d2);
        a.aliases.push("z@contoso.test".into());
        let d3 = desired_entries(std::slice::from_ref(&a))["a@contoso.test"].digest();
        assert_ne!(d1, d3);
        assert!(needs_writing(&d3, Some(&d1)));
        assert!(needs_writing(&d3, None));
        assert!(!needs_writing(&d3, Some(&d3)));
        let e = &desired_entries(std::slice::from_ref(&a))["a@contoso.test"];
        assert_eq!(&DesiredEntry::from_json(&e.to_json()).unwrap(), e);
    }

    #[test]
    fn only_new_mail_enabled_recipients_join() {
        let recipients = vec![
            r(RecipientKind::Mailbox, "CN=A", Some("A@contoso.test")),
            r(RecipientKind::Mailbox, "CN=N", Some("new@contoso.test")),
            r(RecipientKind::SecurityGroup, "CN=G", None),
        ];
        let got: Vec<&str> = joining(&["a@contoso.test".into()], &recipients)
            .iter()
            .map(|r| r.dn.as_str())
            .collect();
        assert_eq!(got, ["CN=N"]);
    }

    proptest! {
        /// Every mail-enabled recipient is in the batch after its joiners join, none
        /// joins twice, and no batch user is taken for a joiner.
        #[test]
        fn joining_completes_the_batch_without_duplicates(
            batch in proptest::collection::vec(0usize..12, 0..12),
            source in proptest::collection::vec((0usize..12, any::<bool>(), any::<bool>()), 0..20),
        ) {
            let address = |i: usize, upper: bool| {
                let a = format!("u{i}@contoso.test");
                if upper { a.to_uppercase() } else { a }
            };
            let batch_users: Vec<String> = batch.iter().map(|i| address(*i, false)).collect();
            let recipients: Vec<Recipient> = source
                .iter()
                .enumerate()
                .map(|(n, (i, mail_enabled, upper))| {
                    let primary = mail_enabled.then(|| address(*i, *upper));
                    r(RecipientKind::Mailbox, &format!("CN={n}"), primary.as_deref())
                })
                .collect();
            let joiners = joining(&batch_users, &recipients);
            let joined: Vec<String> = joiners
                .iter()
                .map(|r| key(r.primary_smtp.as_deref().unwrap()))
                .collect();
            let unique: BTreeSet<&String> = joined.iter().collect();
            prop_assert_eq!(unique.len(), joined.len(), "a recipient joined twice");
            let before: BTreeSet<String> = batch_users.iter().map(|e| key(e)).collect();
            for j in &joined {
                prop_assert!(!before.contains(j), "{} was in the batch already", j);
            }
            let after: BTreeSet<String> = before.iter().cloned().chain(joined.iter().cloned()).collect();
            for rec in &recipients {
                if let Some(p) = &rec.primary_smtp {
                    prop_assert!(after.contains(&key(p)), "{} was left out", p);
                }
            }
            // Joining again after they joined: nobody.
            let all: Vec<String> = after.into_iter().collect();
            prop_assert!(joining(&all, &recipients).is_empty());
        }
    }
}
