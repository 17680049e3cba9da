//! One user's DAV pass: observe -> plan -> apply, then the sync tokens of the source
//! collections whose steps all went through.

use std::collections::BTreeSet;

use cutover_store::DavStore;

use crate::apply::{Applied, ApplyError, apply};
use crate::client::{DavAccount, DavError, DavSession};
use crate::facts::CollectionKind;
use crate::observe::{ObserveError, observe};
use crate::plan::{Step, plan};

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("the source's DAV server: {0}")]
    Source(DavError),
    #[error("the target's DAV server: {0}")]
    Target(DavError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("saving a sync token: {0}")]
    Store(#[from] cutover_store::StoreError),
}

/// What a pass did, and what it could not list.
#[derive(Debug, Clone, Default)]
pub struct PassSummary {
    pub steps: Vec<Step>,
    pub applied: Applied,
    /// Source collections whose listing failed (nothing was removed from them).
    pub unlisted: Vec<String>,
}

/// Opens both sides, observes, plans and applies.
pub async fn run_pass(
    source: &DavAccount,
    target: &DavAccount,
    store: &dyn DavStore,
    user: &str,
) -> Result<PassSummary, PassError> {
    let source = DavSession::open(source).await.map_err(PassError::Source)?;
    let target = DavSession::open(target).await.map_err(PassError::Target)?;
    run_pass_with(&source, &target, store, user).await
}

/// The steps the next pass would take, touching nothing (`cutover batch plan`): both
/// servers and the ledger are only read.
pub async fn plan_pass(
    source: &DavAccount,
    target: &DavAccount,
    store: &dyn DavStore,
    user: &str,
) -> Result<Vec<Step>, PassError> {
    let source = DavSession::open(source).await.map_err(PassError::Source)?;
    let target = DavSession::open(target).await.map_err(PassError::Target)?;
    let observed = observe(&source, &target, store, user).await?;
    Ok(plan(&observed.facts))
}

pub async fn run_pass_with(
    source: &DavSession,
    target: &DavSession,
    store: &dyn DavStore,
    user: &str,
) -> Result<PassSummary, PassError> {
    let observed = observe(source, target, store, user).await?;
    let steps = plan(&observed.facts);
    let kinds: Vec<(String, CollectionKind)> = observed
        .facts
        .sources
        .iter()
        .map(|s| (s.href.clone(), s.kind))
        .collect();
    let kind_of = |collection: &str| {
        kinds
            .iter()
            .find(|(href, _)| href == collection)
            .map_or(CollectionKind::Calendar, |(_, kind)| *kind)
    };
    let applied = apply(source, target, store, user, &steps, kind_of).await?;
    // A token moves on only for a collection with nothing left behind: a skipped
    // item of it is tried again by the next full listing, not lost behind a token.
    let held: BTreeSet<&str> = applied
        .skipped
        .iter()
        .filter_map(|(href, _)| {
            observed
                .facts
                .sources
                .iter()
                .find(|s| href.starts_with(s.href.as_str()))
                .map(|s| s.href.as_str())
        })
        .collect();
    for (collection, token) in &observed.new_tokens {
        let token = (!held.contains(collection.as_str())).then_some(token.as_str());
        store.dav_set_sync_token(user, collection, token).await?;
    }
    Ok(PassSummary {
        steps,
        applied,
        unlisted: observed
            .unlisted
            .iter()
            .map(|(href, e)| format!("{href}: {e}"))
            .collect(),
    })
}
