//! The pure plan of a user's DAV pass: from [`DavFacts`] to typed [`Step`]s.
//!
//! Every case is a named arm below:
//! * an open intent whose PUT landed is recorded ([`Step::RecordLanded`]); one that did
//!   not land is dropped ([`Step::DropIntent`]) and its item planned again. A new item's
//!   PUT landed when the target holds its href; an update's when the target's ETag is no
//!   longer the recorded one.
//! * a source collection missing on the target is created ([`Step::CreateCollection`]),
//!   with the same name in the target's home set of its kind; if the ledger had records
//!   in it (the collection was removed from the target), they name nothing: every listed
//!   item is copied again and the others' records forgotten.
//! * an item without a record is copied ([`Step::Copy`], `If-None-Match: *`) to the same
//!   resource name; one whose source ETag is not the recorded one is updated
//!   ([`Step::Update`], `If-Match`), or copied again when the target lost it.
//! * a recorded item is removed from the target ([`Step::Delete`]) only on proof: the
//!   source's listing is complete and lacks it, or a sync-collection report named it
//!   removed. A partial listing removes nothing. When the target lost it too, the record
//!   is forgotten ([`Step::Forget`]).
//! * what cannot be done without overwriting what is not ours is skipped with a reason
//!   ([`Step::Skip`]): a target collection of the other kind under the name, two source
//!   collections with one target name, a target item at the name that no record put there.
//!
//! Collections are never removed from the target: a collection missing from a source
//! listing is no proof that the user removed it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::facts::{
    CollectionKind, CollectionProps, DavFacts, DavIntent, DavRecord, ItemRef, SourceListing,
    calendar_names, target_collection_href_among, target_item_href,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    RecordLanded {
        intent: DavIntent,
        target_etag: String,
    },
    DropIntent {
        intent: DavIntent,
    },
    CreateCollection {
        source: String,
        href: String,
        kind: CollectionKind,
        props: CollectionProps,
    },
    Copy {
        source_collection: String,
        source_href: String,
        target_collection: String,
        target_href: String,
    },
    Update {
        source_collection: String,
        source_href: String,
        target_collection: String,
        target_href: String,
        if_match: String,
    },
    Delete {
        source_href: String,
        target_href: String,
        if_match: String,
    },
    Forget {
        source_href: String,
    },
    Skip {
        source: String,
        reason: SkipReason,
    },
}

impl Step {
    /// The step's name, stable for scripts (`batch plan --format json`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RecordLanded { .. } => "RecordLanded",
            Self::DropIntent { .. } => "DropIntent",
            Self::CreateCollection { .. } => "CreateCollection",
            Self::Copy { .. } => "Copy",
            Self::Update { .. } => "Update",
            Self::Delete { .. } => "Delete",
            Self::Forget { .. } => "Forget",
            Self::Skip { .. } => "Skip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The target already has a collection of the other kind under the name.
    CollectionKindConflict { target: String },
    /// Another source collection already goes to the same target collection.
    CollectionNameShared { target: String, other: String },
    /// The target holds an item at the name that no record of ours put there.
    TargetHrefTaken { target: String },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CollectionKindConflict { target } => {
                write!(f, "the target's {target} is a collection of another kind")
            }
            Self::CollectionNameShared { target, other } => {
                write!(f, "{other} already goes to the target's {target}")
            }
            Self::TargetHrefTaken { target } => {
                write!(
                    f,
                    "the target already holds {target}, not copied by cutover"
                )
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RecordLanded { intent, .. } => {
                write!(f, "record {} (its PUT landed)", intent.target_href)
            }
            Self::DropIntent { intent } => {
                write!(
                    f,
                    "drop the intent for {} (its PUT did not land)",
                    intent.target_href
                )
            }
            Self::CreateCollection { href, kind, .. } => write!(f, "create the {kind} {href}"),
            Self::Copy {
                source_href,
                target_href,
                ..
            } => write!(f, "copy {source_href} to {target_href}"),
            Self::Update {
                source_href,
                target_href,
                ..
            } => write!(f, "update {target_href} from {source_href}"),
            Self::Delete { target_href, .. } => {
                write!(f, "delete {target_href} (gone from the source)")
            }
            Self::Forget { source_href } => write!(f, "forget {source_href} (gone from both)"),
            Self::Skip { source, reason } => write!(f, "skip {source}: {reason}"),
        }
    }
}

/// The steps of one pass, in the order apply runs them: the ledger's open intents
/// first, then per source collection its creation, copies, updates and removals.
pub fn plan(facts: &DavFacts) -> Vec<Step> {
    let targets: BTreeMap<&str, (CollectionKind, BTreeMap<&str, &str>)> = facts
        .targets
        .iter()
        .map(|t| {
            let items = t
                .items
                .iter()
                .map(|i| (i.href.as_str(), i.etag.as_str()))
                .collect();
            (t.href.as_str(), (t.kind, items))
        })
        .collect();
    let target_etag = |collection: &str, href: &str| -> Option<String> {
        targets
            .get(collection)
            .and_then(|(_, items)| items.get(href))
            .map(|etag| (*etag).to_string())
    };

    let mut steps = Vec::new();
    // The records as they stand once the intents are settled.
    let mut records: BTreeMap<String, DavRecord> = facts
        .records
        .iter()
        .map(|r| (r.source_href.clone(), r.clone()))
        .collect();
    for intent in &facts.intents {
        let found = target_etag(&intent.target_collection, &intent.target_href);
        let landed = match (records.get(&intent.source_href), &found) {
            // a new item: the href is ours once the target holds it
            (None, Some(_)) => true,
            // an update: the target's ETag moved away from the recorded one
            (Some(record), Some(etag)) => {
                record.target_href == intent.target_href
                    && !record.target_etag.is_empty()
                    && *etag != record.target_etag
            }
            (_, None) => false,
        };
        match (landed, found) {
            (true, Some(target_etag)) => {
                records.insert(
                    intent.source_href.clone(),
                    DavRecord {
                        source_collection: intent.source_collection.clone(),
                        source_href: intent.source_href.clone(),
                        source_etag: intent.source_etag.clone(),
                        uid: intent.uid.clone(),
                        target_collection: intent.target_collection.clone(),
                        target_href: intent.target_href.clone(),
                        target_etag: target_etag.clone(),
                        kind: intent.kind,
                    },
                );
                steps.push(Step::RecordLanded {
                    intent: intent.clone(),
                    target_etag,
                });
            }
            _ => steps.push(Step::DropIntent {
                intent: intent.clone(),
            }),
        }
    }

    let mut claimed: BTreeMap<String, &str> = BTreeMap::new();
    let calendars = calendar_names(&facts.sources);
    for source in &facts.sources {
        let target =
            target_collection_href_among(&facts.homes, source.kind, &source.href, &calendars);
        if let Some(other) = claimed.get(&target) {
            steps.push(Step::Skip {
                source: source.href.clone(),
                reason: SkipReason::CollectionNameShared {
                    target,
                    other: (*other).to_string(),
                },
            });
            continue;
        }
        claimed.insert(target.clone(), &source.href);
        let empty = BTreeMap::new();
        let mut target_missing = false;
        let target_items = match targets.get(target.as_str()) {
            Some((kind, _)) if *kind != source.kind => {
                steps.push(Step::Skip {
                    source: source.href.clone(),
                    reason: SkipReason::CollectionKindConflict { target },
                });
                continue;
            }
            Some((_, items)) => items,
            None => {
                steps.push(Step::CreateCollection {
                    source: source.href.clone(),
                    href: target.clone(),
                    kind: source.kind,
                    props: source.props.clone(),
                });
                target_missing = true;
                &empty
            }
        };
        if target_missing {
            // The collection is gone from the target (or was never there): its records
            // name nothing; each listed item is copied again, the others forgotten.
            let stale: Vec<&DavRecord> = records
                .values()
                .filter(|r| r.source_collection == source.href)
                .collect();
            let listed: BTreeSet<&str> = source
                .listing
                .present()
                .iter()
                .map(|i| i.href.as_str())
                .collect();
            for record in stale
                .iter()
                .filter(|r| !listed.contains(r.source_href.as_str()))
            {
                steps.push(Step::Forget {
                    source_href: record.source_href.clone(),
                });
            }
        }
        let no_records = BTreeMap::new();
        plan_items(
            &source.href,
            &source.listing,
            &target,
            target_items,
            if target_missing {
                &no_records
            } else {
                &records
            },
            &mut steps,
        );
    }
    steps
}

fn plan_items(
    source_collection: &str,
    listing: &SourceListing,
    target: &str,
    target_items: &BTreeMap<&str, &str>,
    records: &BTreeMap<String, DavRecord>,
    steps: &mut Vec<Step>,
) {
    let present: BTreeMap<&str, &ItemRef> = listing
        .present()
        .iter()
        .map(|item| (item.href.as_str(), item))
        .collect();
    let recorded_targets: BTreeSet<&str> =
        records.values().map(|r| r.target_href.as_str()).collect();
    for item in present.values() {
        match records.get(&item.href) {
            Some(record) if record.source_etag == item.etag => {}
            Some(record) => match target_items.get(record.target_href.as_str()) {
                Some(etag) => steps.push(Step::Update {
                    source_collection: source_collection.to_string(),
                    source_href: item.href.clone(),
                    target_collection: record.target_collection.clone(),
                    target_href: record.target_href.clone(),
                    if_match: (*etag).to_string(),
                }),
                None => steps.push(Step::Copy {
                    source_collection: source_collection.to_string(),
                    source_href: item.href.clone(),
                    target_collection: record.target_collection.clone(),
                    target_href: record.target_href.clone(),
                }),
            },
            None => {
                let href = target_item_href(target, &item.href);
                if target_items.contains_key(href.as_str())
                    || recorded_targets.contains(href.as_str())
                {
                    steps.push(Step::Skip {
                        source: item.href.clone(),
                        reason: SkipReason::TargetHrefTaken { target: href },
                    });
                } else {
                    steps.push(Step::Copy {
                        source_collection: source_collection.to_string(),
                        source_href: item.href.clone(),
                        target_collection: target.to_string(),
                        target_href: href,
                    });
                }
            }
        }
    }

    let removed: BTreeSet<&str> = match listing {
        SourceListing::Complete(_) => records
            .values()
            .filter(|r| r.source_collection == source_collection)
            .map(|r| r.source_href.as_str())
            .filter(|href| !present.contains_key(href))
            .collect(),
        SourceListing::Delta { removed, .. } => removed
            .iter()
            .map(String::as_str)
            .filter(|href| !present.contains_key(href))
            .collect(),
        SourceListing::Partial(_) => BTreeSet::new(),
    };
    for href in removed {
        let Some(record) = records.get(href) else {
            continue;
        };
        if record.source_collection != source_collection {
            continue;
        }
        match target_items.get(record.target_href.as_str()) {
            Some(etag) => steps.push(Step::Delete {
                source_href: record.source_href.clone(),
                target_href: record.target_href.clone(),
                if_match: (*etag).to_string(),
            }),
            None => steps.push(Step::Forget {
                source_href: record.source_href.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
