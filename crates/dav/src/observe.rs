//! Reads both servers and the ledger into [`DavFacts`]; writes nothing.
//!
//! A source collection that supports RFC 6578 is read by sync-collection: with the
//! ledger's token, what changed since (a [`SourceListing::Delta`]); without one, or when
//! the server no longer takes the token, everything (complete) and a first token. Others
//! are listed by PROPFIND (complete). A listing that fails is partial (nothing removed)
//! and named in [`Observed::unlisted`].

use std::collections::BTreeMap;

use cutover_store::DavStore;

use crate::client::{DavError, DavSession};
use crate::facts::{
    CollectionKind, DavFacts, SourceCollection, SourceListing, TargetCollection, TargetHomes,
    calendar_names, target_collection_href_among,
};

#[derive(Debug)]
pub struct Observed {
    pub facts: DavFacts,
    /// The tokens to save once the pass applied each collection's steps.
    pub new_tokens: BTreeMap<String, String>,
    /// Source collections whose listing failed, with why.
    pub unlisted: Vec<(String, DavError)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Dav(#[from] DavError),
    #[error("reading the DAV ledger: {0}")]
    Store(#[from] cutover_store::StoreError),
}

const KINDS: [CollectionKind; 2] = [CollectionKind::Calendar, CollectionKind::AddressBook];

pub async fn observe(
    source: &DavSession,
    target: &DavSession,
    store: &dyn DavStore,
    user: &str,
) -> Result<Observed, ObserveError> {
    let ledger = store.dav_ledger(user).await?;
    let tokens: BTreeMap<&str, &str> = ledger
        .sync_tokens
        .iter()
        .map(|(c, t)| (c.as_str(), t.as_str()))
        .collect();
    let mut targets = Vec::new();
    for kind in KINDS {
        for collection in target.collections(kind).await? {
            let items = target.items(kind, &collection.href).await?;
            targets.push(TargetCollection {
                href: collection.href,
                kind,
                items,
            });
        }
    }
    let homes = TargetHomes {
        calendars: target.home_set(CollectionKind::Calendar).await?,
        address_books: target.home_set(CollectionKind::AddressBook).await?,
    };
    let mut sources = Vec::new();
    let mut new_tokens = BTreeMap::new();
    let mut unlisted = Vec::new();
    for kind in KINDS {
        for collection in source.collections(kind).await? {
            let listing = if collection.supports_sync {
                // A token says what changed since the last pass, on the premise that the
                // target holds the rest: without the target collection, list everything.
                let target = target_collection_href_among(
                    &homes,
                    kind,
                    &collection.href,
                    &calendar_names(&sources),
                );
                let known = tokens
                    .get(collection.href.as_str())
                    .copied()
                    .filter(|_| targets.iter().any(|t| t.href == target));
                let report = match source.sync_collection(kind, &collection.href, known).await {
                    Ok(report) => Ok((report, known.is_some())),
                    // an expired token: start again from everything
                    Err(_) if known.is_some() => source
                        .sync_collection(kind, &collection.href, None)
                        .await
                        .map(|r| (r, false)),
                    Err(e) => Err(e),
                };
                report.map(|(report, delta)| {
                    new_tokens.insert(collection.href.clone(), report.token);
                    if delta {
                        SourceListing::Delta {
                            changed: report.changed,
                            removed: report.removed,
                        }
                    } else {
                        SourceListing::Complete(report.changed)
                    }
                })
            } else {
                source
                    .items(kind, &collection.href)
                    .await
                    .map(SourceListing::Complete)
            };
            let listing = listing.unwrap_or_else(|e| {
                unlisted.push((collection.href.clone(), e));
                SourceListing::Partial(vec![])
            });
            sources.push(SourceCollection {
                href: collection.href,
                kind,
                props: collection.props,
                listing,
            });
        }
    }
    Ok(Observed {
        facts: DavFacts {
            sources,
            targets,
            homes,
            records: ledger.records,
            intents: ledger.intents,
        },
        new_tokens,
        unlisted,
    })
}
