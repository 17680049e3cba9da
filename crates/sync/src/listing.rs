//! The source's listing and the batch's folder rules, digested: what decides a pass's
//! folders, kept at the end of each complete pass so that the next one can tell, from a
//! LIST alone, that the folders are as they were ([`crate::glance`]).

use std::collections::BTreeSet;

use cutover_imap::ListedMailbox;
use cutover_model::FolderMapEntry;
use sha2::{Digest, Sha256};

/// A digest of what decides a pass's folders: the source's listing (names, attributes,
/// subscriptions) and the batch's rules for them.
pub fn listing_digest(
    listed: &[ListedMailbox],
    subscribed: &BTreeSet<Vec<u8>>,
    excluded_folders: &[String],
    folder_map: &[FolderMapEntry],
) -> String {
    let mut entries: Vec<(Vec<u8>, Vec<String>, bool)> = listed
        .iter()
        .map(|m| {
            // \Marked and \Unmarked say whether mail arrived, not what the folders are.
            let mut attributes: Vec<String> = m
                .attributes
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .filter(|a| a != "\\marked" && a != "\\unmarked")
                .collect();
            attributes.sort();
            let name = m.name.as_bytes().to_vec();
            let subscribed = subscribed.contains(&name);
            (name, attributes, subscribed)
        })
        .collect();
    entries.sort();
    let mut h = Sha256::new();
    h.update(b"cutover source listing v1\n");
    // Lengths before contents, so no two listings run together the same way.
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    for (name, attributes, subscribed) in &entries {
        field(name);
        field(attributes.join(" ").as_bytes());
        field(&[u8::from(*subscribed)]);
    }
    field(b"excluded");
    for ex in excluded_folders {
        field(ex.as_bytes());
    }
    field(b"folder map");
    for entry in folder_map {
        field(entry.to_string().as_bytes());
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_imap::MailboxName;

    fn listed(name: &str, attributes: &[&str]) -> ListedMailbox {
        ListedMailbox {
            name: MailboxName::from_wire(name.as_bytes().to_vec()),
            attributes: attributes.iter().map(|a| a.to_string()).collect(),
            delimiter: Some('/'),
        }
    }

    #[test]
    fn the_digest_changes_with_any_folder_subscription_or_rule_and_not_with_order() {
        let a = [listed("INBOX", &[]), listed("Sent", &["\\Sent"])];
        let b = [listed("Sent", &["\\Sent"]), listed("INBOX", &[])];
        let subs: BTreeSet<Vec<u8>> = [b"INBOX".to_vec()].into();
        let d = listing_digest(&a, &subs, &[], &[]);
        assert_eq!(d, listing_digest(&b, &subs, &[], &[]));
        assert_eq!(d.len(), 64);
        let renamed = [listed("INBOX", &[]), listed("Sent Items", &["\\Sent"])];
        assert_ne!(d, listing_digest(&renamed, &subs, &[], &[]));
        let noselect = [
            listed("INBOX", &[]),
            listed("Sent", &["\\Sent", "\\Noselect"]),
        ];
        assert_ne!(d, listing_digest(&noselect, &subs, &[], &[]));
        assert_ne!(d, listing_digest(&a, &BTreeSet::new(), &[], &[]));
        assert_ne!(d, listing_digest(&a, &subs, &["Sent".into()], &[]));
        let map = ["Sent=Sent Items".parse().unwrap()];
        assert_ne!(d, listing_digest(&a, &subs, &[], &map));
        // A name and an attribute cannot run into each other.
        let joined = [listed("INBOX", &[]), listed("Sent \\Sent", &[])];
        assert_ne!(d, listing_digest(&joined, &subs, &[], &[]));
    }
}
