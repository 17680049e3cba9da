//! How stored objects look to an admin: Exchange Online's property names, so that
//! someone who knows Get-MigrationBatch reads ours at once. Secrets never appear.

use cutover_model::{
    Batch, BatchCounts, Connection, DataConsistencyScore, Endpoint, Impersonation, MigrationUser,
    Target,
};
use cutover_store::{EndpointDiscovery, SkippedItem};
use serde_json::{Value, json};

use crate::output::{Record, duration, time};

fn authentication(c: &Connection) -> &'static str {
    match c.impersonation {
        Impersonation::Authzid => "Plain",
        Impersonation::Template(_) | Impersonation::PerUser => "Login",
    }
}

/// An endpoint, with how its settings were discovered when they were.
pub fn endpoint(e: &Endpoint, discovered: Option<&EndpointDiscovery>) -> Record {
    let c = &e.connection;
    Record::new()
        .with("Identity", e.name.as_str())
        .with("EndpointType", "IMAP")
        .with("RemoteServer", c.server.as_str())
        .with("Port", c.port)
        .with("Security", c.security.as_str())
        .with("Authentication", authentication(c))
        .with("Username", c.admin.as_str())
        .with("Impersonation", c.impersonation.to_string())
        .with("CaFile", c.ca_file.clone())
        .with("Compression", c.compression.as_str())
        .with("UseAutoDiscover", discovered.is_some())
        .with("DiscoveryMethod", discovered.map(|d| d.method.clone()))
        .with("DiscoveryEmailAddress", discovered.map(|d| d.email.clone()))
        .with("MaxConcurrentMigrations", e.max_concurrent_migrations)
        .with(
            "MaxConcurrentIncrementalSyncs",
            e.max_concurrent_incremental_syncs,
        )
        .with("CreationDateTime", time(Some(e.created_at)))
}

/// How to reach a server, as Test-MigrationServerAvailability's ConnectionSettings.
pub fn connection_settings(c: &Connection) -> Value {
    json!({
        "RemoteServer": c.server,
        "Port": c.port,
        "Security": c.security.as_str(),
        "Authentication": authentication(c),
        "Username": c.admin,
        "Impersonation": c.impersonation.to_string(),
        "CaFile": c.ca_file,
        "Compression": c.compression.as_str(),
    })
}

pub fn target(t: &Target) -> Record {
    let c = &t.connection;
    Record::new()
        .with("RemoteServer", c.server.as_str())
        .with("Port", c.port)
        .with("Security", c.security.as_str())
        .with("Authentication", authentication(c))
        .with("Username", c.admin.as_str())
        .with("Impersonation", c.impersonation.to_string())
        .with("CaFile", c.ca_file.clone())
        .with("Compression", c.compression.as_str())
        .with("LastModifiedDateTime", time(Some(t.updated_at)))
}

pub fn batch(b: &Batch, users: &[MigrationUser]) -> Record {
    let counts = BatchCounts::from_statuses(users.iter().map(|u| u.status));
    let items: u64 = users.iter().map(|u| u.stats.items_synced).sum();
    let skipped: u64 = users.iter().map(|u| u.stats.items_skipped).sum();
    let bytes: u64 = users.iter().map(|u| u.stats.bytes_synced).sum();
    Record::new()
        .with("Identity", b.name.as_str())
        .with("Status", b.status.as_str())
        .with("MigrationType", "Cutover (IMAP)")
        .with("SourceEndpoint", b.source_endpoint.as_str())
        .with("TotalCount", counts.total)
        .with("ActiveCount", counts.syncing)
        .with("PendingCount", counts.queued)
        .with("SyncedCount", counts.synced)
        .with("StoppedCount", counts.stopped)
        .with("FailedCount", counts.failed)
        .with("ItemsSynced", items)
        .with("ItemsSkipped", skipped)
        .with("BytesTransferred", bytes)
        .with("CreationDateTime", time(Some(b.created_at)))
        .with("StartDateTime", time(b.started_at))
        .with("InitialSyncDateTime", time(b.initial_sync_at))
        .with("InitialSyncDuration", duration(b.initial_sync_duration()))
        .with("LastSyncedDateTime", time(b.last_synced_at))
        .with("NextSyncDateTime", time(b.next_sync_at))
        .with(
            "IncrementalSyncInterval",
            duration(Some(b.incremental_interval)),
        )
        .with("BadItemLimit", b.bad_item_limit)
        .with("LargeItemLimit", b.large_item_limit)
        .with(
            "DataConsistencyScore",
            DataConsistencyScore::worst(users.iter().map(MigrationUser::data_consistency)).as_str(),
        )
        .with(
            "SkippedItemApprovalTime",
            time(b.skipped_item_approval_time),
        )
        .with("ExcludedFolders", json!(b.excluded_folders))
        .with(
            "FolderMap",
            json!(
                b.folder_map
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ),
        )
}

pub fn user(u: &MigrationUser) -> Record {
    Record::new()
        .with("Identity", u.email.as_str())
        .with("BatchId", u.batch.as_str())
        .with("Status", u.status.as_str())
        .with("ItemsSynced", u.stats.items_synced)
        .with("ItemsSkipped", u.stats.items_skipped)
        .with("DataConsistencyScore", u.data_consistency().as_str())
        .with("LastSyncedDateTime", time(u.last_synced_at))
        .with("ErrorSummary", u.error.clone())
}

pub fn user_stats(u: &MigrationUser, skipped: Option<&[SkippedItem]>) -> Record {
    let s = &u.stats;
    let mut r = Record::new()
        .with("Identity", u.email.as_str())
        .with("BatchId", u.batch.as_str())
        .with("Status", u.status.as_str())
        .with("SourceLogin", u.source_login())
        .with("TotalItemsInSourceMailboxCount", s.source_items)
        .with("SyncedItemCount", s.items_synced)
        .with("SkippedItemCount", s.items_skipped)
        .with("BadItemCount", s.bad_items)
        .with("LargeItemCount", s.large_items)
        .with("DataConsistencyScore", u.data_consistency().as_str())
        .with(
            "SkippedItemsApprovedDateTime",
            time(u.skipped_items_approved_at),
        )
        .with("BytesTransferred", s.bytes_synced)
        .with("FolderCount", s.folders)
        .with("LastPassItemCount", s.last_pass_items)
        .with(
            "LastPassDuration",
            duration(Some(chrono::Duration::milliseconds(
                s.last_pass_millis as i64,
            ))),
        )
        .with("InitialSyncCompleted", u.initial_sync_done)
        .with("LastSyncedDateTime", time(u.last_synced_at))
        .with("Error", u.error.clone());
    if let Some(items) = skipped {
        let items: Vec<Value> = items
            .iter()
            .map(|i| {
                json!({
                    "Kind": i.kind.as_str(),
                    "Folder": i.folder,
                    "SourceUid": i.src_uid,
                    "Subject": i.subject,
                    "Size": i.size,
                    "Reason": i.reason,
                    "DateSkipped": time(Some(i.skipped_at)),
                    "ApprovedDateTime": time(i.approved_at),
                })
            })
            .collect();
        r = r.with("SkippedItems", Value::Array(items));
    }
    r
}
