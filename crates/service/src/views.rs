//! How stored objects look to an admin, in the CLI and in the HTTP API alike:
//! Exchange Online's property names (Get-MigrationBatch, Get-MigrationUser,
//! Get-MigrationUserStatistics, Get-MigrationEndpoint), so that someone who knows the
//! cmdlets reads ours at once. Properties serialize in declaration order. Secrets never
//! appear: no view has a field for one.

use chrono::{DateTime, Utc};
use cutover_directory::{Finding, Recipient};
use cutover_model::SourceDirectory;
use cutover_model::{
    Batch, BatchCounts, Connection, DataConsistencyScore, Endpoint, Impersonation, MigrationUser,
    Target, UserStatus, human_duration,
};
use cutover_store::{DavSummary, EndpointDiscovery, ProvisioningRecord, SkippedItem};
use serde::Serialize;
use utoipa::ToSchema;

/// A time as the views show it: RFC 3339, UTC, whole seconds.
pub fn time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A duration as .NET prints a TimeSpan (`d.hh:mm:ss.fff`), as Exchange shows them.
pub fn timespan(d: Option<chrono::Duration>) -> Option<String> {
    let ms = d?.num_milliseconds().max(0);
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (h, m, s, f) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    let day = if days > 0 {
        format!("{days}.")
    } else {
        String::new()
    };
    Some(format!("{day}{h:02}:{m:02}:{s:02}.{f:03}"))
}

fn authentication(c: &Connection) -> &'static str {
    if c.oauth.is_some() {
        return "OAuth";
    }
    match c.impersonation {
        Impersonation::Authzid => "Plain",
        Impersonation::Template(_) | Impersonation::PerUser => "Login",
    }
}

/// A migration endpoint (Get-MigrationEndpoint); its password is never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointView {
    pub identity: String,
    pub endpoint_type: String,
    pub remote_server: String,
    pub port: u16,
    /// none, starttls or tls.
    pub security: String,
    /// Plain (SASL PLAIN with an authorization identity) or Login.
    pub authentication: String,
    /// The admin account.
    pub username: String,
    pub impersonation: String,
    pub ca_file: Option<String>,
    pub compression: String,
    /// With OAuth sign-in: microsoft, google or generic.
    #[serde(rename = "OAuthProvider", skip_serializing_if = "Option::is_none")]
    pub oauth_provider: Option<String>,
    /// With OAuth sign-in: the application (client) id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// With Microsoft's OAuth sign-in: the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub use_auto_discover: bool,
    /// How the settings were found (SRV, autoconfig, Autodiscover, MX guess), when they were.
    pub discovery_method: Option<String>,
    /// The address discovery started from.
    pub discovery_email_address: Option<String>,
    pub max_concurrent_migrations: u32,
    pub max_concurrent_incremental_syncs: u32,
    pub creation_date_time: Option<String>,
    /// The source organization's directory (LDAP), when the endpoint has one; never
    /// its bind password.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryView>,
    /// The source's CalDAV/CardDAV server, when it has one.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub dav: Option<DavSettingsView>,
}

impl EndpointView {
    /// The view with the endpoint's source directory.
    pub fn with_directory(mut self, directory: Option<&SourceDirectory>) -> Self {
        self.directory = directory.map(DirectoryView::new);
        self
    }

    /// `discovered`: how `endpoint new --autodiscover` found its settings.
    pub fn new(e: &Endpoint, discovered: Option<&EndpointDiscovery>) -> Self {
        let c = &e.connection;
        Self {
            identity: e.name.to_string(),
            endpoint_type: "IMAP".into(),
            remote_server: c.server.clone(),
            port: c.port,
            security: c.security.as_str().into(),
            authentication: authentication(c).into(),
            username: c.admin.clone(),
            impersonation: c.impersonation.to_string(),
            ca_file: c.ca_file.clone(),
            compression: c.compression.as_str().into(),
            oauth_provider: c.oauth.as_ref().map(|a| a.provider.as_str().into()),
            client_id: c.oauth.as_ref().map(|a| a.client_id.clone()),
            tenant_id: c.oauth.as_ref().and_then(|a| a.tenant.clone()),
            use_auto_discover: discovered.is_some(),
            discovery_method: discovered.map(|d| d.method.clone()),
            discovery_email_address: discovered.map(|d| d.email.clone()),
            max_concurrent_migrations: e.max_concurrent_migrations,
            max_concurrent_incremental_syncs: e.max_concurrent_incremental_syncs,
            creation_date_time: time_text(Some(e.created_at)),
            directory: None,
            dav: DavSettingsView::new(c),
        }
    }
}

/// A side's CalDAV/CardDAV server (calendars, contacts and tasks); absent: mail only.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DavSettingsView {
    /// The server's base URL; empty when it is found from each user's address.
    pub dav_url: String,
    /// Found from each user's address (SRV `_caldavs._tcp`, then the domain's
    /// well-known URIs).
    pub dav_discover: bool,
    /// The DNS server of the discovery's look-ups (none: the system's).
    pub dav_dns_server: Option<String>,
    pub dav_ca_file: Option<String>,
    /// How users sign in: per-user (their password from the users CSV).
    pub dav_auth: String,
}

impl DavSettingsView {
    pub fn new(c: &Connection) -> Option<Self> {
        c.dav.as_ref().map(|d| Self {
            dav_url: d.url.clone(),
            dav_discover: d.discover,
            dav_dns_server: d.dns_server.clone(),
            dav_ca_file: d.ca_file.clone(),
            dav_auth: d.auth.as_str().into(),
        })
    }
}

/// A user's calendars, contacts and tasks beside their mail: what is on the target
/// through this migration, what was skipped, how the last DAV pass ended. The views
/// carry its fields (not flattened: the OpenAPI document keeps their properties).
#[derive(Debug, Clone, Default)]
pub struct DavCountsView {
    /// Calendar events (a recurring series with its exceptions is one).
    pub calendar_items_synced: u64,
    pub task_items_synced: u64,
    pub contact_items_synced: u64,
    /// Calendar items and contacts skipped (also listed among the skipped items).
    pub dav_items_skipped: u64,
    pub dav_last_synced_date_time: Option<String>,
    /// Why the last DAV pass failed, if it did.
    pub dav_error: Option<String>,
}

impl DavCountsView {
    pub fn new(d: &DavSummary) -> Self {
        Self {
            calendar_items_synced: d.events,
            task_items_synced: d.tasks,
            contact_items_synced: d.contacts,
            dav_items_skipped: d.skipped,
            dav_last_synced_date_time: time_text(d.last_pass_at),
            dav_error: d.last_error.clone(),
        }
    }

    /// The sums over a batch's users (no time, no error).
    pub fn total(all: &[DavSummary]) -> Self {
        Self {
            calendar_items_synced: all.iter().map(|d| d.events).sum(),
            task_items_synced: all.iter().map(|d| d.tasks).sum(),
            contact_items_synced: all.iter().map(|d| d.contacts).sum(),
            dav_items_skipped: all.iter().map(|d| d.skipped).sum(),
            dav_last_synced_date_time: None,
            dav_error: None,
        }
    }
}

/// Where an endpoint reads its organization (LDAP); the bind password is never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DirectoryView {
    /// ldap://HOST:PORT or ldaps://HOST:PORT.
    pub directory: String,
    pub directory_base: String,
    pub directory_bind: String,
    #[serde(rename = "DirectoryStartTls")]
    pub directory_start_tls: bool,
    pub directory_ca_file: Option<String>,
    /// active-directory or openldap.
    pub directory_profile: String,
    /// The attribute names changed from the profile's: `field=attr1,attr2`.
    pub directory_attributes: Vec<String>,
}

impl DirectoryView {
    pub fn new(d: &SourceDirectory) -> Self {
        Self {
            directory: d.url.clone(),
            directory_base: d.base_dn.clone(),
            directory_bind: d.bind_dn.clone(),
            directory_start_tls: d.starttls,
            directory_ca_file: d.ca_file.clone(),
            directory_profile: d.profile.as_str().into(),
            directory_attributes: d
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        }
    }
}

/// One recipient of the source organization (Get-Recipient's properties).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RecipientView {
    pub name: Option<String>,
    /// UserMailbox, MailUser, MailContact, MailUniversalDistributionGroup,
    /// MailUniversalSecurityGroup, or Group (a group that is not mail-enabled).
    pub recipient_type: String,
    /// Mailbox, MailUser, MailContact, DistributionGroup or SecurityGroup.
    pub kind: String,
    pub primary_smtp_address: Option<String>,
    /// The other SMTP addresses.
    pub email_addresses: Vec<String>,
    pub member_count: usize,
    /// The members' DNs, when asked for (`members=true`, `--members`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    pub manager: Option<String>,
    pub delegates: Vec<String>,
    #[serde(rename = "HiddenFromAddressListsEnabled")]
    pub hidden_from_address_lists: bool,
    #[serde(rename = "UMEnabled")]
    pub um_enabled: bool,
    pub recipient_type_details: Option<String>,
    pub user_principal_name: Option<String>,
    pub distinguished_name: String,
}

impl RecipientView {
    pub fn new(r: &Recipient, with_members: bool) -> Self {
        Self {
            name: r.display_name.clone(),
            recipient_type: r.recipient_type().into(),
            kind: r.kind.as_str().into(),
            primary_smtp_address: r.primary_smtp.clone(),
            email_addresses: r.aliases.clone(),
            member_count: r.members.len(),
            members: with_members.then(|| r.members.clone()),
            manager: r.manager.clone(),
            delegates: r.delegates.clone(),
            hidden_from_address_lists: r.hidden_from_address_lists,
            um_enabled: r.um_enabled,
            recipient_type_details: r.recipient_type_details.clone(),
            user_principal_name: r.upn.clone(),
            distinguished_name: r.dn.clone(),
        }
    }
}

/// The target system's connection (`cutover target get`); its password is never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TargetView {
    pub remote_server: String,
    pub port: u16,
    /// none, starttls or tls.
    pub security: String,
    pub authentication: String,
    /// The admin account.
    pub username: String,
    pub impersonation: String,
    pub ca_file: Option<String>,
    pub compression: String,
    #[serde(rename = "OAuthProvider", skip_serializing_if = "Option::is_none")]
    pub oauth_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(rename = "OAuthCredential", skip_serializing_if = "Option::is_none")]
    pub oauth_credential: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How the target compares folder names: Insensitive, Sensitive, or not probed yet.
    pub folder_name_case: String,
    pub last_modified_date_time: Option<String>,
    /// The target organization's directory (LDAP), when set; never its bind password.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryView>,
    /// The target's CalDAV/CardDAV server, when it has one.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub dav: Option<DavSettingsView>,
}

impl TargetView {
    pub fn new(t: &Target) -> Self {
        let c = &t.connection;
        let app = c.oauth.as_ref();
        Self {
            remote_server: c.server.clone(),
            port: c.port,
            security: c.security.as_str().into(),
            authentication: authentication(c).into(),
            username: c.admin.clone(),
            impersonation: c.impersonation.to_string(),
            ca_file: c.ca_file.clone(),
            compression: c.compression.as_str().into(),
            oauth_provider: app.map(|a| a.provider.as_str().into()),
            tenant_id: app.and_then(|a| a.tenant.clone()),
            client_id: app.map(|a| a.client_id.clone()),
            oauth_credential: app.map(|a| a.credential.as_str().into()),
            token_url: app.and_then(|a| a.token_url().ok()),
            scope: app.map(|a| a.scope()),
            folder_name_case: match t.folds_case {
                Some(true) => "Insensitive",
                Some(false) => "Sensitive",
                None => "Auto (not probed yet)",
            }
            .into(),
            last_modified_date_time: time_text(Some(t.updated_at)),
            directory: None,
            dav: DavSettingsView::new(c),
        }
    }

    /// The view with the target's directory.
    pub fn with_directory(mut self, directory: Option<&SourceDirectory>) -> Self {
        self.directory = directory.map(DirectoryView::new);
        self
    }
}

/// The cutover batch (Get-MigrationBatch), with counts over its users.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct BatchView {
    pub identity: String,
    /// Created, Syncing, Synced, SyncedWithErrors, Stopping, Stopped, Failed, Removing.
    pub status: String,
    pub migration_type: String,
    pub source_endpoint: String,
    pub total_count: u64,
    /// Users in a pass now (Syncing or IncrementalSyncing).
    pub active_count: u64,
    /// Users waiting for a pass (Queued).
    pub pending_count: u64,
    pub synced_count: u64,
    pub stopped_count: u64,
    pub failed_count: u64,
    pub items_synced: u64,
    pub items_skipped: u64,
    pub bytes_transferred: u64,
    pub creation_date_time: Option<String>,
    pub start_date_time: Option<String>,
    pub initial_sync_date_time: Option<String>,
    /// From start to the end of the initial sync, as a TimeSpan (`d.hh:mm:ss.fff`).
    pub initial_sync_duration: Option<String>,
    pub last_synced_date_time: Option<String>,
    pub next_sync_date_time: Option<String>,
    pub incremental_sync_interval: Option<String>,
    pub bad_item_limit: u32,
    pub large_item_limit: u32,
    /// A pass that would remove more than this share of a mailbox's migrated messages
    /// (or a whole folder holding them) waits for `approve-removals`.
    pub removal_threshold_percent: u32,
    /// Users whose removals wait for the admin's approval.
    pub removals_held_count: u64,
    /// The worst of the users' grades: Perfect, Good, Investigate, Poor.
    pub data_consistency_score: String,
    pub skipped_item_approval_time: Option<String>,
    pub excluded_folders: Vec<String>,
    /// 'Source=Target' entries.
    pub folder_map: Vec<String>,
    /// Who gets the batch's notification e-mails; none: no mail.
    pub notification_emails: Vec<String>,
    /// How often a report mail goes out, as a TimeSpan.
    pub report_interval: Option<String>,
    /// No periodic report mails (the initial-sync and failure mails still go out).
    pub skip_reports: bool,
    /// Bytes copied per second over the last minute by this service's workers (the
    /// HTTP API only; absent in the CLI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_bytes_per_second: Option<u64>,
    /// Bytes the source mailboxes hold, as sized before the initial sync or counted by
    /// the last pass.
    pub total_bytes_in_source: u64,
    /// What is left to copy at the last minute's throughput, while mailboxes sync and
    /// every one of them is counted (the HTTP API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_time_left: Option<String>,
    /// Calendar events on the target through this migration (a recurring series with
    /// its exceptions is one), when both sides have a DAV server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_items_synced: Option<u64>,
    /// Tasks (VTODO), likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_items_synced: Option<u64>,
    /// Contacts (vCards, groups included), likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_items_synced: Option<u64>,
    /// Calendar items and contacts skipped (also among the skipped items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_items_skipped: Option<u64>,
}

impl BatchView {
    /// The view with the DAV counts of its users (`None`: the batch moves mail only).
    pub fn with_dav(mut self, dav: Option<&[DavSummary]>) -> Self {
        let counts = dav.map(DavCountsView::total);
        let d = counts.as_ref();
        self.calendar_items_synced = d.map(|d| d.calendar_items_synced);
        self.task_items_synced = d.map(|d| d.task_items_synced);
        self.contact_items_synced = d.map(|d| d.contact_items_synced);
        self.dav_items_skipped = d.map(|d| d.dav_items_skipped);
        self
    }

    pub fn new(b: &Batch, users: &[MigrationUser]) -> Self {
        let counts = BatchCounts::from_statuses(users.iter().map(|u| u.status));
        Self {
            identity: b.name.to_string(),
            status: b.status.as_str().into(),
            migration_type: "Cutover (IMAP)".into(),
            source_endpoint: b.source_endpoint.to_string(),
            total_count: counts.total,
            active_count: counts.syncing,
            pending_count: counts.queued,
            synced_count: counts.synced,
            stopped_count: counts.stopped,
            failed_count: counts.failed,
            items_synced: users.iter().map(|u| u.stats.items_synced).sum(),
            items_skipped: users.iter().map(|u| u.stats.items_skipped).sum(),
            bytes_transferred: users.iter().map(|u| u.stats.bytes_synced).sum(),
            creation_date_time: time_text(Some(b.created_at)),
            start_date_time: time_text(b.started_at),
            initial_sync_date_time: time_text(b.initial_sync_at),
            initial_sync_duration: timespan(b.initial_sync_duration()),
            last_synced_date_time: time_text(b.last_synced_at),
            next_sync_date_time: time_text(b.next_sync_at),
            incremental_sync_interval: timespan(Some(b.incremental_interval)),
            bad_item_limit: b.bad_item_limit,
            large_item_limit: b.large_item_limit,
            removal_threshold_percent: b.removal_threshold_percent,
            removals_held_count: users.iter().filter(|u| u.removals_held > 0).count() as u64,
            data_consistency_score: DataConsistencyScore::worst(
                users.iter().map(MigrationUser::data_consistency),
            )
            .as_str()
            .into(),
            skipped_item_approval_time: time_text(b.skipped_item_approval_time),
            excluded_folders: b.excluded_folders.clone(),
            folder_map: b.folder_map.iter().map(ToString::to_string).collect(),
            notification_emails: b
                .notification_emails
                .iter()
                .map(ToString::to_string)
                .collect(),
            report_interval: timespan(Some(b.report_interval)),
            skip_reports: b.skip_reports,
            throughput_bytes_per_second: None,
            total_bytes_in_source: users.iter().map(|u| u.stats.source_bytes).sum(),
            estimated_time_left: None,
            calendar_items_synced: None,
            task_items_synced: None,
            contact_items_synced: None,
            dav_items_skipped: None,
        }
    }

    /// The batch's time left at `rate` bytes per second: the bytes its syncing and
    /// queued mailboxes still lack; unknown while one of them is not counted yet.
    pub fn time_left(users: &[MigrationUser], rate: u64) -> Option<String> {
        let waiting: Vec<&MigrationUser> = users
            .iter()
            .filter(|u| {
                matches!(
                    u.status,
                    UserStatus::Queued | UserStatus::Syncing | UserStatus::IncrementalSyncing
                )
            })
            .collect();
        if waiting.is_empty() || rate == 0 || waiting.iter().any(|u| u.stats.source_items == 0) {
            return None;
        }
        let left: u64 = waiting
            .iter()
            .map(|u| u.stats.source_bytes.saturating_sub(u.stats.bytes_synced))
            .sum();
        Some(human_duration(left.div_ceil(rate)))
    }
}

/// One migration user (Get-MigrationUser).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserView {
    /// The mailbox's address.
    pub identity: String,
    pub batch_id: String,
    /// UserMailbox, MailUser, MailContact, MailUniversalDistributionGroup or
    /// MailUniversalSecurityGroup.
    pub recipient_type: String,
    /// Queued, Provisioning, Syncing, Synced, IncrementalSyncing, Stopped, Failed.
    pub status: String,
    pub items_synced: u64,
    pub items_skipped: u64,
    pub bytes_transferred: u64,
    pub data_consistency_score: String,
    pub last_synced_date_time: Option<String>,
    pub error_summary: Option<String>,
    /// Messages whose removal from the target waits for `approve-removals` (0: none).
    pub removals_held: u64,
    /// How many and where, when removals wait.
    pub removals_held_detail: Option<String>,
    /// Messages in the source mailbox as the last pass counted them.
    pub total_items_in_source_mailbox_count: u64,
    /// Bytes of the source's messages as the last pass counted them.
    pub total_bytes_in_source_mailbox: u64,
    /// Share of the source's messages on the target (whole percent, 100 only when all
    /// are); absent before a pass has counted the source.
    pub percentage_complete: Option<u8>,
    /// The same for bytes.
    pub bytes_percentage_complete: Option<u8>,
    /// Seconds the running pass has left at its rate so far; absent when no pass runs or
    /// it cannot tell yet.
    pub estimated_seconds_left: Option<u64>,
    /// The same, for people ("12 min").
    pub estimated_time_left: Option<String>,
    /// `Throttled` while a server's refusal for load makes the running pass wait;
    /// `NotProvisioned` for a Synced recipient without a mailbox (mail user, contact,
    /// group): it had nothing to copy, and the target's directory is not provisioned;
    /// `Provisioned` when provisioning put it on the target.
    pub status_detail: Option<String>,
    /// When a throttled pass tries again.
    pub throttled_until_date_time: Option<String>,
    /// A provisioned user's entry in the target's directory (absent when the batch is
    /// not provisioned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_dn: Option<String>,
    /// When the entry was first provisioned: a license's grace period counts from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_date_time: Option<String>,
    /// Why the last try to write the entry failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_error: Option<String>,
    /// Calendar events on the target through this migration (a recurring series with
    /// its exceptions is one), when both sides have a DAV server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_items_synced: Option<u64>,
    /// Tasks (VTODO), likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_items_synced: Option<u64>,
    /// Contacts (vCards, groups included), likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_items_synced: Option<u64>,
    /// Calendar items and contacts skipped (also among the skipped items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_items_skipped: Option<u64>,
    /// When the last DAV pass ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_last_synced_date_time: Option<String>,
    /// Why the last DAV pass failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_error: Option<String>,
}

/// A user's StatusDetail: `Throttled` while it waits for a server, `NotProvisioned` once
/// a recipient without a mailbox is Synced.
fn status_detail(u: &MigrationUser, throttled: Option<DateTime<Utc>>) -> Option<String> {
    if throttled.is_some() {
        Some("Throttled".into())
    } else if !u.kind.has_mailbox() && u.status == UserStatus::Synced {
        Some("NotProvisioned".into())
    } else {
        None
    }
}

impl UserView {
    pub fn new(u: &MigrationUser) -> Self {
        Self::at(u, Utc::now())
    }

    /// The view as of `now` (its progress counts time from the pass's start).
    pub fn at(u: &MigrationUser, now: DateTime<Utc>) -> Self {
        let progress = u.progress(now);
        let throttled = u.throttled_wait(now);
        Self {
            identity: u.email.to_string(),
            batch_id: u.batch.to_string(),
            recipient_type: u.recipient_type().into(),
            status: u.status.as_str().into(),
            items_synced: u.stats.items_synced,
            items_skipped: u.stats.items_skipped,
            bytes_transferred: u.stats.bytes_synced,
            data_consistency_score: u.data_consistency().as_str().into(),
            last_synced_date_time: time_text(u.last_synced_at),
            error_summary: u.error.clone(),
            removals_held: u.removals_held,
            removals_held_detail: u.removals_held_detail.clone(),
            total_items_in_source_mailbox_count: u.stats.source_items,
            total_bytes_in_source_mailbox: u.stats.source_bytes,
            percentage_complete: progress.items_percent,
            bytes_percentage_complete: progress.bytes_percent,
            estimated_seconds_left: progress.seconds_left,
            estimated_time_left: progress.seconds_left.map(human_duration),
            status_detail: status_detail(u, throttled),
            throttled_until_date_time: time_text(throttled),
            target_dn: None,
            provisioned_date_time: None,
            provisioning_error: None,
            calendar_items_synced: None,
            task_items_synced: None,
            contact_items_synced: None,
            dav_items_skipped: None,
            dav_last_synced_date_time: None,
            dav_error: None,
        }
    }

    /// With the user's entry on the target: where, since when, the last failure; a
    /// recipient without a mailbox that is there is `Provisioned`, not `NotProvisioned`.
    pub fn with_provisioning(mut self, record: Option<&ProvisioningRecord>) -> Self {
        let Some(p) = record else {
            return self;
        };
        self.target_dn = p.target_dn.clone();
        self.provisioned_date_time = time_text(p.provisioned_at);
        self.provisioning_error = p.error.clone();
        if p.provisioned_at.is_some() && self.status_detail.as_deref() == Some("NotProvisioned") {
            self.status_detail = Some("Provisioned".into());
        }
        self
    }

    /// The view with the user's calendars, contacts and tasks.
    pub fn with_dav(mut self, dav: Option<&DavSummary>) -> Self {
        let counts = dav.map(DavCountsView::new);
        let d = counts.as_ref();
        self.calendar_items_synced = d.map(|d| d.calendar_items_synced);
        self.task_items_synced = d.map(|d| d.task_items_synced);
        self.contact_items_synced = d.map(|d| d.contact_items_synced);
        self.dav_items_skipped = d.map(|d| d.dav_items_skipped);
        self.dav_last_synced_date_time = d.and_then(|d| d.dav_last_synced_date_time.clone());
        self.dav_error = d.and_then(|d| d.dav_error.clone());
        self
    }
}

/// A message a pass skipped, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SkippedItemView {
    /// BadItem or LargeItem.
    pub kind: String,
    pub folder: String,
    pub source_uid: u32,
    pub subject: String,
    pub size: u32,
    /// What went wrong, with the server's answer.
    pub reason: String,
    pub date_skipped: Option<String>,
    pub approved_date_time: Option<String>,
}

impl SkippedItemView {
    pub fn new(i: &SkippedItem) -> Self {
        Self {
            kind: i.kind.as_str().into(),
            folder: i.folder.clone(),
            source_uid: i.src_uid,
            subject: i.subject.clone(),
            size: i.size,
            reason: i.reason.clone(),
            date_skipped: time_text(Some(i.skipped_at)),
            approved_date_time: time_text(i.approved_at),
        }
    }
}

/// A user's statistics (Get-MigrationUserStatistics), with the skipped items when asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserStatsView {
    pub identity: String,
    pub batch_id: String,
    /// UserMailbox, MailUser, MailContact, MailUniversalDistributionGroup or
    /// MailUniversalSecurityGroup.
    pub recipient_type: String,
    pub status: String,
    pub source_login: String,
    pub total_items_in_source_mailbox_count: u64,
    pub total_bytes_in_source_mailbox: u64,
    pub synced_item_count: u64,
    pub skipped_item_count: u64,
    pub bad_item_count: u64,
    pub large_item_count: u64,
    pub data_consistency_score: String,
    pub skipped_items_approved_date_time: Option<String>,
    pub bytes_transferred: u64,
    pub folder_count: u64,
    pub last_pass_item_count: u64,
    pub last_pass_duration: Option<String>,
    pub initial_sync_completed: bool,
    pub last_synced_date_time: Option<String>,
    pub error: Option<String>,
    pub removals_held: u64,
    pub removals_held_detail: Option<String>,
    pub removals_approved_date_time: Option<String>,
    /// Source folders left out because they belong to other users' or shared namespaces.
    pub folders_left_out: Vec<String>,
    /// Share of the source's messages on the target (whole percent, 100 only when all
    /// are); absent before a pass has counted the source.
    pub percentage_complete: Option<u8>,
    /// The same for bytes.
    pub bytes_percentage_complete: Option<u8>,
    /// Seconds the running pass has left at its rate so far; absent when no pass runs or
    /// it cannot tell yet.
    pub estimated_seconds_left: Option<u64>,
    /// The same, for people ("12 min").
    pub estimated_time_left: Option<String>,
    /// `Throttled` while a server's refusal for load makes the running pass wait.
    pub status_detail: Option<String>,
    /// When a throttled pass tries again.
    pub throttled_until_date_time: Option<String>,
    /// Calendar events on the target through this migration (a recurring series with
    /// its exceptions is one), when both sides have a DAV server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_items_synced: Option<u64>,
    /// Tasks (VTODO), likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_items_synced: Option<u64>,
    /// Contacts (vCards, groups included), likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_items_synced: Option<u64>,
    /// Calendar items and contacts skipped (also among the skipped items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_items_skipped: Option<u64>,
    /// When the last DAV pass ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_last_synced_date_time: Option<String>,
    /// Why the last DAV pass failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dav_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_items: Option<Vec<SkippedItemView>>,
}

impl UserStatsView {
    pub fn new(u: &MigrationUser, skipped: Option<&[SkippedItem]>) -> Self {
        let s = &u.stats;
        let now = Utc::now();
        let progress = u.progress(now);
        let throttled = u.throttled_wait(now);
        Self {
            identity: u.email.to_string(),
            batch_id: u.batch.to_string(),
            recipient_type: u.recipient_type().into(),
            status: u.status.as_str().into(),
            source_login: u.source_login().into(),
            total_items_in_source_mailbox_count: s.source_items,
            total_bytes_in_source_mailbox: s.source_bytes,
            synced_item_count: s.items_synced,
            skipped_item_count: s.items_skipped,
            bad_item_count: s.bad_items,
            large_item_count: s.large_items,
            data_consistency_score: u.data_consistency().as_str().into(),
            skipped_items_approved_date_time: time_text(u.skipped_items_approved_at),
            bytes_transferred: s.bytes_synced,
            folder_count: s.folders,
            last_pass_item_count: s.last_pass_items,
            last_pass_duration: timespan(Some(chrono::Duration::milliseconds(
                s.last_pass_millis as i64,
            ))),
            initial_sync_completed: u.initial_sync_done,
            last_synced_date_time: time_text(u.last_synced_at),
            error: u.error.clone(),
            removals_held: u.removals_held,
            removals_held_detail: u.removals_held_detail.clone(),
            removals_approved_date_time: time_text(u.removals_approved_at),
            folders_left_out: s.folders_left_out.clone(),
            percentage_complete: progress.items_percent,
            bytes_percentage_complete: progress.bytes_percent,
            estimated_seconds_left: progress.seconds_left,
            estimated_time_left: progress.seconds_left.map(human_duration),
            status_detail: status_detail(u, throttled),
            throttled_until_date_time: time_text(throttled),
            calendar_items_synced: None,
            task_items_synced: None,
            contact_items_synced: None,
            dav_items_skipped: None,
            dav_last_synced_date_time: None,
            dav_error: None,
            skipped_items: skipped.map(|items| items.iter().map(SkippedItemView::new).collect()),
        }
    }

    /// The view with the user's calendars, contacts and tasks.
    pub fn with_dav(mut self, dav: Option<&DavSummary>) -> Self {
        let counts = dav.map(DavCountsView::new);
        let d = counts.as_ref();
        self.calendar_items_synced = d.map(|d| d.calendar_items_synced);
        self.task_items_synced = d.map(|d| d.task_items_synced);
        self.contact_items_synced = d.map(|d| d.contact_items_synced);
        self.dav_items_skipped = d.map(|d| d.dav_items_skipped);
        self.dav_last_synced_date_time = d.and_then(|d| d.dav_last_synced_date_time.clone());
        self.dav_error = d.and_then(|d| d.dav_error.clone());
        self
    }
}

/// One preflight finding, as the CLI and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct FindingView {
    /// Blocking (the batch does not start) or Warning (what will not carry over).
    pub severity: String,
    /// DomainNotAccepted, DomainNotVerified, UnifiedMessagingEnabled,
    /// SecurityGroupNotOnTarget, ManagerNotMigrated, DelegateNotMigrated,
    /// DuplicateAddress, AddressUsedOnTarget, HiddenFromAddressLists,
    /// GroupMembersNotMigrated, GroupNotMailEnabled, AliasDomainNotAccepted or
    /// TargetDirectoryNotSet.
    pub code: String,
    /// What it is about: addresses, domains and DNs, the one concerned first.
    pub objects: Vec<String>,
    pub message: String,
    /// What to do about it.
    pub action: String,
}

impl FindingView {
    pub fn new(f: &Finding) -> Self {
        Self {
            severity: f.severity.as_str().into(),
            code: f.code.as_str().into(),
            objects: f.objects.clone(),
            message: f.message.clone(),
            action: f.action.clone(),
        }
    }
}

/// A batch's preflight: whether it may start, and every finding.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PreflightView {
    pub identity: String,
    /// Passed, PassedWithWarnings or Blocked.
    pub result: String,
    pub blocking_count: usize,
    pub warning_count: usize,
    pub checked_date_time: Option<String>,
    pub findings: Vec<FindingView>,
}

impl PreflightView {
    pub fn new(b: &Batch, findings: &[Finding], now: DateTime<Utc>) -> Self {
        let blocking = findings.iter().filter(|f| f.is_blocking()).count();
        let warnings = findings.len() - blocking;
        Self {
            identity: b.name.to_string(),
            result: if blocking > 0 {
                "Blocked"
            } else if warnings > 0 {
                "PassedWithWarnings"
            } else {
                "Passed"
            }
            .into(),
            blocking_count: blocking,
            warning_count: warnings,
            checked_date_time: time_text(Some(now)),
            findings: findings.iter().map(FindingView::new).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_s_time_left_counts_what_its_waiting_mailboxes_lack() {
        let user = |status, source_items, source_bytes, bytes_synced| MigrationUser {
            status,
            stats: cutover_model::UserStats {
                source_items,
                source_bytes,
                bytes_synced,
                ..Default::default()
            },
            ..MigrationUser::new(
                "a@b.test".parse().unwrap(),
                cutover_model::Name::parse("batch", "B").unwrap(),
            )
        };
        let users = [
            user(UserStatus::Syncing, 10, 1000, 400),
            user(UserStatus::Queued, 5, 600, 0),
            user(UserStatus::Synced, 5, 9000, 9000),
            user(UserStatus::Failed, 5, 9000, 0),
        ];
        // 600 + 600 bytes left at 100 bytes a second.
        assert_eq!(BatchView::time_left(&users, 100).as_deref(), Some("12 s"));
        assert_eq!(BatchView::time_left(&users, 0), None);
        // A queued mailbox nobody counted yet: no honest estimate.
        let mut uncounted = users.to_vec();
        uncounted.push(user(UserStatus::Queued, 0, 0, 0));
        assert_eq!(BatchView::time_left(&uncounted, 100), None);
        assert_eq!(BatchView::time_left(&users[2..], 100), None);
    }

    #[test]
    fn durations_print_like_timespans() {
        assert_eq!(
            timespan(Some(chrono::Duration::milliseconds(83_456))).as_deref(),
            Some("00:01:23.456")
        );
        assert_eq!(
            timespan(Some(chrono::Duration::hours(25))).as_deref(),
            Some("1.01:00:00.000")
        );
    }
}

/// One job of the scheduler: a unit of work of a batch's round and who runs it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct JobView {
    /// What it does: `mailbox-pass`, or `provision` (the user's entry in the target's
    /// directory, before its first mailbox pass).
    pub kind: String,
    /// The user it works on.
    pub identity: String,
    pub batch_id: String,
    /// Running (a worker holds it), Waiting (tries again at RunAt), or Queued (due, no
    /// worker has taken it yet).
    pub status: String,
    /// The worker holding it (`kind@host/pid/start`).
    pub worker: Option<String>,
    /// Not before this.
    pub run_at_date_time: Option<String>,
    /// When the worker's lease runs out unless it renews it.
    pub lease_expires_date_time: Option<String>,
    /// Tries in a row that failed and moved nothing.
    pub attempts: u32,
    /// Refusals for load in a row.
    pub refusals: u32,
    pub last_error: Option<String>,
}

impl JobView {
    pub fn at(j: &cutover_store::Job, now: DateTime<Utc>) -> Self {
        let held = j.lease.as_ref().filter(|l| !l.is_expired(now));
        let status = if held.is_some() {
            "Running"
        } else if j.run_at > now {
            "Waiting"
        } else {
            "Queued"
        };
        Self {
            kind: j.kind.as_str().into(),
            identity: j.subject.clone(),
            batch_id: j.batch.clone(),
            status: status.into(),
            worker: held.map(|l| l.owner.clone()),
            run_at_date_time: time_text(Some(j.run_at)),
            lease_expires_date_time: time_text(held.map(|l| l.expires_at)),
            attempts: j.attempts,
            refusals: j.refusals,
            last_error: j.last_error.clone(),
        }
    }
}
