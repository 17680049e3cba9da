//! Folder names relative to each side's personal namespace (RFC 2342).
//!
//! A folder's identity is its name inside the user's own namespace: Cyrus and Courier
//! (and some Dovecot set-ups) keep personal folders under the prefix `INBOX.`, most
//! Dovecot set-ups under `""`. `INBOX.Sent` on one side is `Sent` on the other, so the
//! source's prefix is taken off when its folders are read and the target's put on when
//! they are written. Folders in other users' and shared namespaces are not the user's
//! mail: they are left out (and said so), never copied into every private mailbox.
//!
//! Pure functions over names; the NAMESPACE command itself is in `cutover_imap`.

use cutover_imap::Namespaces;

use std::collections::BTreeMap;

use crate::folder_map::{ListedFolder, is_inbox};

/// A side's listing in relative names: the user's folders (renamed relative to the
/// personal namespace), each relative name's wire name, and the foreign folders left
/// out (wire names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelativeListing {
    pub folders: Vec<ListedFolder>,
    pub wire: BTreeMap<Vec<u8>, Vec<u8>>,
    pub foreign: Vec<Vec<u8>>,
}

/// Takes `listed` (wire names) into the side's personal namespace.
pub fn relative_listing(side: &SideNamespace, listed: &[ListedFolder]) -> RelativeListing {
    let mut out = RelativeListing::default();
    for f in listed {
        match side.place(&f.name) {
            Placement::Personal(rel) => {
                // The first of two wire names for one relative name wins (`INBOX` and
                // `inbox`); the other is not listed twice.
                if out.wire.contains_key(&rel) {
                    continue;
                }
                out.wire.insert(rel.clone(), f.name.clone());
                out.folders.push(ListedFolder {
                    name: rel,
                    ..f.clone()
                });
            }
            Placement::Foreign => out.foreign.push(f.name.clone()),
        }
    }
    out
}

/// Where a side keeps the user's folders, and which prefixes hold someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideNamespace {
    /// The personal prefix, with its trailing separator (`INBOX.`), or empty.
    pub personal: Vec<u8>,
    /// The personal namespace's hierarchy separator, when known.
    pub separator: Option<char>,
    /// Prefixes of other users' and shared namespaces (`user.`, `shared/`, or `""` for
    /// Cyrus's shared folders beside a non-empty personal prefix).
    pub foreign: Vec<Vec<u8>>,
    /// How it was found, for the log.
    pub source: NamespaceSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceSource {
    /// The server's NAMESPACE answer.
    Announced,
    /// No NAMESPACE: every folder but INBOX sits under `INBOX<sep>`, so that is the prefix.
    InferredFromList,
    /// No NAMESPACE, and nothing suggests a prefix.
    None,
}

/// Where a listed folder belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The user's own folder, with its name relative to the personal namespace.
    Personal(Vec<u8>),
    /// Another user's or a shared folder.
    Foreign,
}

/// Whether `name` starts with `prefix`; an `INBOX` at the start of the prefix matches
/// in any case (INBOX is case-insensitive, RFC 3501 5.1).
fn has_prefix(name: &[u8], prefix: &[u8]) -> bool {
    if name.len() < prefix.len() {
        return false;
    }
    let (head, _) = name.split_at(prefix.len());
    if prefix.len() >= 5 && prefix[..5].eq_ignore_ascii_case(b"INBOX") {
        head[..5].eq_ignore_ascii_case(&prefix[..5]) && head[5..] == prefix[5..]
    } else {
        head == prefix
    }
}

impl SideNamespace {
    /// From the server's NAMESPACE answer, or, without one, inferred from its folders
    /// (wire names) and their separator.
    pub fn new(announced: Option<&Namespaces>, listed: &[&[u8]], separator: Option<char>) -> Self {
        if let Some(ns) = announced
            && let Some(personal) = ns.personal.first()
        {
            let foreign = ns
                .other
                .iter()
                .chain(&ns.shared)
                .map(|n| n.prefix.clone())
                .chain(ns.personal.iter().skip(1).map(|n| n.prefix.clone()))
                .filter(|p| *p != personal.prefix)
                .collect();
            return SideNamespace {
                personal: personal.prefix.clone(),
                separator: personal.separator.or(separator),
                foreign,
                source: NamespaceSource::Announced,
            };
        }
        let inferred = separator.filter(|s| s.is_ascii()).and_then(|sep| {
            let prefix = format!("INBOX{sep}").into_bytes();
            let others: Vec<&&[u8]> = listed.iter().filter(|n| !is_inbox(n)).collect();
            (!others.is_empty() && others.iter().all(|n| has_prefix(n, &prefix))).then_some(prefix)
        });
        SideNamespace {
            source: if inferred.is_some() {
                NamespaceSource::InferredFromList
            } else {
                NamespaceSource::None
            },
            personal: inferred.unwrap_or_default(),
            separator,
            foreign: Vec::new(),
        }
    }

    /// Where a folder this side listed belongs, and its relative name.
    pub fn place(&self, wire: &[u8]) -> Placement {
        if is_inbox(wire) {
            return Placement::Personal(b"INBOX".to_vec());
        }
        if !self.personal.is_empty() && has_prefix(wire, &self.personal) {
            let rest = &wire[self.personal.len()..];
            return if rest.is_empty() {
                Placement::Foreign
            } else {
                Placement::Personal(rest.to_vec())
            };
        }
        // The longest foreign prefix that fits: `""` only matters beside a non-empty
        // personal prefix (Cyrus's shared folders), where everything else is shared.
        let foreign = self.foreign.iter().any(|p| {
            if p.is_empty() {
                !self.personal.is_empty()
            } else {
                has_prefix(wire, p)
            }
        });
        if foreign {
            Placement::Foreign
        } else {
            // Outside every namespace the server named: keep it rather than lose it.
            Placement::Personal(wire.to_vec())
        }
    }

    /// The wire name on this side of a folder's relative name (already written with
    /// this side's separator).
    pub fn absolute(&self, relative: &[u8]) -> Vec<u8> {
        if is_inbox(relative) {
            return b"INBOX".to_vec();
        }
        // A child of INBOX (Dovecot's `INBOX/Sub`) on a side whose prefix is INBOX's own
        // hierarchy (`INBOX.`) is already under it.
        if !self.personal.is_empty()
            && self.personal[..self.personal.len().min(5)].eq_ignore_ascii_case(b"INBOX")
            && has_prefix(relative, &self.personal)
        {
            return relative.to_vec();
        }
        let mut out = self.personal.clone();
        out.extend_from_slice(relative);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_imap::Namespace;
    use proptest::prelude::*;

    fn ns(prefix: &str, sep: char) -> Namespace {
        Namespace {
            prefix: prefix.as_bytes().to_vec(),
            separator: Some(sep),
        }
    }

    fn cyrus() -> SideNamespace {
        let announced = Namespaces {
            personal: vec![ns("INBOX.", '.')],
            other: vec![ns("user.", '.')],
            shared: vec![ns("", '.')],
        };
        SideNamespace::new(Some(&announced), &[], Some('.'))
    }

    fn dovecot() -> SideNamespace {
        let announced = Namespaces {
            personal: vec![ns("", '/')],
            other: vec![],
            shared: vec![ns("shared/", '/')],
        };
        SideNamespace::new(Some(&announced), &[], Some('/'))
    }

    fn place(side: &SideNamespace, name: &str) -> Placement {
        side.place(name.as_bytes())
    }

    fn personal(name: &str) -> Placement {
        Placement::Personal(name.as_bytes().to_vec())
    }

    #[test]
    fn cyrus_personal_folders_lose_their_prefix_and_others_are_foreign() {
        let c = cyrus();
        assert_eq!(place(&c, "INBOX"), personal("INBOX"));
        assert_eq!(place(&c, "inbox"), personal("INBOX"));
        assert_eq!(place(&c, "INBOX.Sent"), personal("Sent"));
        assert_eq!(place(&c, "INBOX.Archive.2024"), personal("Archive.2024"));
        assert_eq!(place(&c, "user.bob"), Placement::Foreign);
        assert_eq!(place(&c, "user.bob.Sent"), Placement::Foreign);
        assert_eq!(place(&c, "Public Folder"), Placement::Foreign);
        assert_eq!(c.absolute(b"Sent"), b"INBOX.Sent");
        assert_eq!(c.absolute(b"Archive.2024"), b"INBOX.Archive.2024");
        assert_eq!(c.absolute(b"INBOX"), b"INBOX");
        // Dovecot's child of INBOX stays a child of INBOX.
        assert_eq!(c.absolute(b"INBOX.Sub"), b"INBOX.Sub");
    }

    #[test]
    fn dovecot_names_stay_and_its_shared_namespace_is_foreign() {
        let d = dovecot();
        assert_eq!(place(&d, "Sent"), personal("Sent"));
        assert_eq!(place(&d, "INBOX/Sub"), personal("INBOX/Sub"));
        assert_eq!(place(&d, "shared/Team"), Placement::Foreign);
        assert_eq!(d.absolute(b"Archive/2024"), b"Archive/2024");
    }

    #[test]
    fn without_namespace_an_inbox_prefix_is_inferred_only_when_every_folder_has_it() {
        let listed: Vec<&[u8]> = vec![b"INBOX", b"INBOX.Sent", b"INBOX.Trash"];
        let s = SideNamespace::new(None, &listed, Some('.'));
        assert_eq!(s.personal, b"INBOX.");
        assert_eq!(s.source, NamespaceSource::InferredFromList);
        let listed: Vec<&[u8]> = vec![b"INBOX", b"INBOX.Sent", b"Trash"];
        let s = SideNamespace::new(None, &listed, Some('.'));
        assert!(s.personal.is_empty());
        assert_eq!(s.source, NamespaceSource::None);
        // Nothing but INBOX: nothing to infer from.
        let s = SideNamespace::new(None, &[b"INBOX".as_slice()], Some('.'));
        assert!(s.personal.is_empty());
    }

    proptest! {
        /// A personal folder's relative name, put back on the same side, is its wire name.
        #[test]
        fn relative_names_round_trip(
            levels in proptest::collection::vec("[A-Za-z0-9 &-]{1,8}", 1..4),
            inbox_prefix in any::<bool>(),
        ) {
            let side = if inbox_prefix { cyrus() } else { dovecot() };
            let sep = side.separator.unwrap().to_string();
            let rel = levels.join(&sep);
            prop_assume!(!is_inbox(rel.as_bytes()) && !rel.to_ascii_uppercase().starts_with("INBOX"));
            prop_assume!(!rel.starts_with("shared/"));
            let wire = side.absolute(rel.as_bytes());
            prop_assert_eq!(side.place(&wire), Placement::Personal(rel.into_bytes()));
        }
    }
}
