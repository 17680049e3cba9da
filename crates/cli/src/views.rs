//! How stored objects look to an admin: Exchange Online's property names, so that
//! someone who knows Get-MigrationBatch reads ours at once. Secrets never appear. The
//! views the HTTP API shows too live in `cutover_service::views`; the ones only the CLI
//! shows (the target, a server's connection settings) are here.

use cutover_model::{
    Batch, BatchCounts, Connection, Endpoint, Impersonation, MigrationUser, Target,
};
use cutover_service::views::{BatchView, EndpointView, TargetView, UserStatsView, UserView};
use cutover_store::{EndpointDiscovery, SkippedItem};
use serde_json::{Value, json};

use crate::output::Record;

fn authentication(c: &Connection) -> &'static str {
    if c.oauth.is_some() {
        return "OAuth";
    }
    match c.impersonation {
        Impersonation::Authzid => "Plain",
        Impersonation::Template(_) | Impersonation::PerUser => "Login",
    }
}

/// An endpoint, with how its settings were discovered when they were.
pub fn endpoint(
    e: &Endpoint,
    discovered: Option<&EndpointDiscovery>,
    directory: Option<&cutover_model::SourceDirectory>,
) -> Record {
    Record::from_view(&EndpointView::new(e, discovered).with_directory(directory))
}

/// How to reach a server, as Test-MigrationServerAvailability's ConnectionSettings.
pub fn connection_settings(c: &Connection) -> Value {
    let mut v = json!({
        "RemoteServer": c.server,
        "Port": c.port,
        "Security": c.security.as_str(),
        "Authentication": authentication(c),
        "Username": c.admin,
        "Impersonation": c.impersonation.to_string(),
        "CaFile": c.ca_file,
        "Compression": c.compression.as_str(),
    });
    if let (Some(app), Some(map)) = (&c.oauth, v.as_object_mut()) {
        for (k, val) in oauth_properties(app) {
            map.insert(k.to_string(), val);
        }
    }
    v
}

/// The OAuth application's settings (never its secret).
pub fn oauth_properties(app: &cutover_model::OAuthApp) -> Vec<(&'static str, Value)> {
    vec![
        ("OAuthProvider", Value::from(app.provider.as_str())),
        ("TenantId", Value::from(app.tenant.clone())),
        ("ClientId", Value::from(app.client_id.clone())),
        ("OAuthCredential", Value::from(app.credential.as_str())),
        ("TokenUrl", Value::from(app.token_url().ok())),
        ("Scope", Value::from(app.scope())),
    ]
}

pub fn target(t: &Target, directory: Option<&cutover_model::SourceDirectory>) -> Record {
    Record::from_view(&TargetView::new(t).with_directory(directory))
}

/// `dav`: the users' calendars, contacts and tasks, when the batch moves them.
pub fn batch(
    b: &Batch,
    users: &[MigrationUser],
    dav: Option<&[cutover_store::DavSummary]>,
) -> Record {
    Record::from_view(&BatchView::new(b, users).with_dav(dav))
}

pub fn user(u: &MigrationUser, dav: Option<&cutover_store::DavSummary>) -> Record {
    Record::from_view(&UserView::new(u).with_dav(dav))
}

/// Get-MigrationStatistics: counts over every migration user of the organization.
pub fn migration_statistics(users: &[MigrationUser]) -> Record {
    let counts = BatchCounts::from_statuses(users.iter().map(|u| u.status));
    Record::new()
        .with("Identity", "MigrationStatistics")
        .with("MigrationType", "Cutover (IMAP)")
        .with("TotalCount", counts.total)
        .with("ActiveCount", counts.syncing)
        .with("PendingCount", counts.queued)
        .with("SyncedCount", counts.synced)
        .with("StoppedCount", counts.stopped)
        .with("FailedCount", counts.failed)
}

pub fn user_stats(
    u: &MigrationUser,
    skipped: Option<&[SkippedItem]>,
    dav: Option<&cutover_store::DavSummary>,
) -> Record {
    Record::from_view(&UserStatsView::new(u, skipped).with_dav(dav))
}
