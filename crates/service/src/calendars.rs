//! Calendars, contacts and tasks as the views show them beside mail: a batch moves
//! them when its source endpoint and the target both have a DAV server
//! (`--dav-url`); then each user's view carries the DAV ledger's counts, and the
//! user's skipped items include the calendar items and contacts the target refused.

use cutover_dav::client::DavAccount;
use cutover_model::{Batch, Endpoint, MigrationUser, Target};
use cutover_store::{DavSummary, SkippedItem, Store, StoreError};
use secrecy::SecretString;

/// Both sides' accounts for `user`'s calendars and address books, or why they cannot be
/// put together; `None` when a side has no DAV server.
pub fn accounts(
    endpoint: &Endpoint,
    target: &Target,
    user: &MigrationUser,
    password: Option<&SecretString>,
) -> Option<Result<(DavAccount, DavAccount), String>> {
    let (Some(source), Some(dst)) = (
        endpoint.connection.dav.as_ref(),
        target.connection.dav.as_ref(),
    ) else {
        return None;
    };
    let email = user.email.as_str();
    let side = format!("endpoint '{}'", endpoint.name);
    Some(
        cutover_dav::job::account(source, &side, email, user.source_login(), password).and_then(
            |s| {
                cutover_dav::job::account(dst, "the target", email, email, password).map(|t| (s, t))
            },
        ),
    )
}

/// The steps the next DAV pass of `user` would take (`cutover batch plan`), touching
/// nothing; `None` when the batch moves mail only, the error text when the servers
/// cannot be read.
pub async fn plan_user(
    store: &dyn Store,
    batch: &Batch,
    user: &MigrationUser,
) -> Result<Option<Result<Vec<cutover_dav::plan::Step>, String>>, StoreError> {
    let (Some(endpoint), Some(target)) = (
        store.endpoint(batch.source_endpoint.as_str()).await?,
        store.target().await?,
    ) else {
        return Ok(None);
    };
    let password = store.user_password(user.email.as_str()).await?;
    let Some(accounts) = accounts(&endpoint, &target, user, password.as_ref()) else {
        return Ok(None);
    };
    let Ok((source, target)) = accounts else {
        return Ok(accounts.err().map(Err));
    };
    Ok(Some(
        cutover_dav::pass::plan_pass(&source, &target, store, user.email.as_str())
            .await
            .map_err(|e| e.to_string()),
    ))
}

/// Whether `batch` moves calendars, contacts and tasks: both sides have a DAV server.
pub async fn moves_dav(store: &dyn Store, batch: &str) -> Result<bool, StoreError> {
    let Some(b) = store.batch(batch).await? else {
        return Ok(false);
    };
    let source = store
        .endpoint(b.source_endpoint.as_str())
        .await?
        .is_some_and(|e| e.connection.dav.is_some());
    let target = store
        .target()
        .await?
        .is_some_and(|t| t.connection.dav.is_some());
    Ok(source && target)
}

/// The user's counts, when their batch moves calendars or a DAV pass of theirs ran.
pub async fn user_dav(
    store: &dyn Store,
    user: &MigrationUser,
) -> Result<Option<DavSummary>, StoreError> {
    let summary = store.dav_summary(user.email.as_str()).await?;
    if summary.last_pass_at.is_some() || moves_dav(store, user.batch.as_str()).await? {
        Ok(Some(summary))
    } else {
        Ok(None)
    }
}

/// The counts of each of `users` of `batch`, when the batch moves calendars.
pub async fn batch_dav(
    store: &dyn Store,
    batch: &Batch,
    users: &[MigrationUser],
) -> Result<Option<Vec<DavSummary>>, StoreError> {
    if !moves_dav(store, batch.name.as_str()).await? {
        return Ok(None);
    }
    let mut all = Vec::with_capacity(users.len());
    for u in users {
        all.push(store.dav_summary(u.email.as_str()).await?);
    }
    Ok(Some(all))
}

/// The user's skipped items: messages, then calendar items and contacts.
pub async fn skipped_items(store: &dyn Store, email: &str) -> Result<Vec<SkippedItem>, StoreError> {
    let mut items = store.skipped_items(email).await?;
    items.extend(store.dav_skipped_items(email).await?);
    Ok(items)
}
