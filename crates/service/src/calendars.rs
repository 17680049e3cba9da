//! Calendars, contacts and tasks as the views show them beside mail: a batch moves
//! them when its source endpoint and the target both have a DAV server
//! (`--dav-url`); then each user's view carries the DAV ledger's counts, and the
//! user's skipped items include the calendar items and contacts the target refused.

use cutover_dav::client::DavAccount;
use cutover_discover::Dns;
use cutover_discover::srv::{SrvRecord, order};
use cutover_model::endpoint::is_loopback;
use cutover_model::{Batch, DavSettings, Endpoint, MigrationUser, Target};
use cutover_store::{DavSummary, SkippedItem, Store, StoreError};
use secrecy::SecretString;

/// Where a user of `domain` finds their DAV server, from the SRV answers (RFC 6764
/// section 3): the best `_caldavs._tcp` target over TLS; a `_caldav._tcp` one (plain
/// HTTP) only on loopback (test servers: passwords never cross a network in clear); else
/// the domain itself over TLS, whose well-known URIs the session follows.
pub fn url_from_srv(domain: &str, caldavs: &[SrvRecord], caldav: &[SrvRecord]) -> String {
    if let Some(best) = order(caldavs).first() {
        return format!("https://{}:{}/", best.target, best.port);
    }
    if let Some(best) = order(caldav).into_iter().find(|r| is_loopback(&r.target)) {
        return format!("http://{}:{}/", best.target, best.port);
    }
    format!("https://{domain}/")
}

/// The base URL of the side's DAV server for the user with this address: the one set,
/// or the one discovery finds from the address's domain.
pub async fn dav_url(settings: &DavSettings, email: &str) -> Result<String, String> {
    if !settings.discover {
        return Ok(settings.url.clone());
    }
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| format!("'{email}' has no domain to find its DAV server from"))?;
    let server = settings
        .dns_server
        .as_deref()
        .map(cutover_discover::dns::parse_server)
        .transpose()?;
    let dns = Dns::new(server).map_err(|e| format!("DAV discovery for {email}: {e}"))?;
    let mut answers = Vec::new();
    for service in ["_caldavs._tcp", "_caldav._tcp"] {
        let records = dns
            .srv(&format!("{service}.{domain}"))
            .await
            .map_err(|e| format!("DAV discovery for {email}: {e}"))?;
        answers.push(records);
    }
    Ok(url_from_srv(&domain, &answers[0], &answers[1]))
}

/// Both sides' accounts for `user`'s calendars and address books (each side's server
/// found from the user's address where it is discovered), or why they cannot be put
/// together; `None` when a side has no DAV server.
pub async fn accounts(
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
    let found = async {
        let source = DavSettings {
            url: dav_url(source, email).await?,
            ..source.clone()
        };
        let dst = DavSettings {
            url: dav_url(dst, email).await?,
            ..dst.clone()
        };
        let s = cutover_dav::job::account(&source, &side, email, user.source_login(), password)?;
        let t = cutover_dav::job::account(&dst, "the target", email, email, password)?;
        Ok((s, t))
    };
    Some(found.await)
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
    let Some(accounts) = accounts(&endpoint, &target, user, password.as_ref()).await else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(target: &str, port: u16, priority: u16) -> SrvRecord {
        SrvRecord {
            priority,
            weight: 0,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn the_best_caldavs_target_wins_and_plain_http_only_on_loopback() {
        let tls = [
            srv("b.contoso.com.", 443, 10),
            srv("a.contoso.com.", 8443, 0),
        ];
        assert_eq!(
            url_from_srv("contoso.com", &tls, &[srv("localhost", 80, 0)]),
            "https://a.contoso.com:8443/"
        );
        assert_eq!(
            url_from_srv("contoso.com", &[], &[srv("localhost.", 5232, 0)]),
            "http://localhost:5232/"
        );
        // plain http to another host: not taken, the domain's well-known URIs instead
        assert_eq!(
            url_from_srv("contoso.com", &[], &[srv("dav.contoso.com", 80, 0)]),
            "https://contoso.com/"
        );
        // "." says there is no such service
        assert_eq!(
            url_from_srv("contoso.com", &[srv(".", 0, 0)], &[]),
            "https://contoso.com/"
        );
    }
}
