//! The CalDAV/CardDAV ledger, behind its own trait: per user, an intent before each PUT
//! to the target and a record after it (source collection, href, ETag, UID -> target
//! href, ETag), and the source's sync tokens. The dav crate plans over what this holds.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{DavSettings, SkippedKind};

use crate::Result;

/// What an item is, for the counts beside mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DavItemKind {
    /// A calendar object other than a task (events, with their series and exceptions).
    #[default]
    Event,
    /// A VTODO.
    Task,
    /// A vCard (contacts and contact groups).
    Contact,
}

impl DavItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DavItemKind::Event => "event",
            DavItemKind::Task => "task",
            DavItemKind::Contact => "contact",
        }
    }
}

impl fmt::Display for DavItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DavItemKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "event" => Ok(DavItemKind::Event),
            "task" => Ok(DavItemKind::Task),
            "contact" => Ok(DavItemKind::Contact),
            other => Err(format!("unknown DAV item kind '{other}'")),
        }
    }
}

/// One user's calendars, contacts and tasks in numbers: what is on the target through
/// this migration, what is skipped now, and how the last DAV pass ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DavSummary {
    pub events: u64,
    pub tasks: u64,
    pub contacts: u64,
    pub skipped: u64,
    /// Skipped items the admin has not approved.
    pub unapproved_skipped: u64,
    /// When the last DAV pass ended (`None`: none has).
    pub last_pass_at: Option<DateTime<Utc>>,
    /// The error that ended it, if it failed.
    pub last_error: Option<String>,
}

/// An item known to be on the target: what was copied and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavRecord {
    pub source_collection: String,
    pub source_href: String,
    /// The ETag of the source bytes that were copied.
    pub source_etag: String,
    pub uid: String,
    pub target_collection: String,
    pub target_href: String,
    /// The ETag the target gave the copy; empty when its answer had none.
    pub target_etag: String,
    pub kind: DavItemKind,
}

/// A PUT that may or may not have landed: written before it, removed by its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavIntent {
    pub source_collection: String,
    pub source_href: String,
    pub source_etag: String,
    pub uid: String,
    pub target_collection: String,
    pub target_href: String,
    pub kind: DavItemKind,
}

/// Everything the store knows of one user's calendars and address books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DavLedger {
    pub records: Vec<DavRecord>,
    pub intents: Vec<DavIntent>,
    /// (source collection, sync token)
    pub sync_tokens: Vec<(String, String)>,
    /// (source href, reason): items not copied, tried again by the next pass.
    pub skipped: Vec<(String, String)>,
}

#[async_trait]
pub trait DavStore: Send + Sync {
    /// The user's records, open intents and sync tokens, in a stable order.
    async fn dav_ledger(&self, user: &str) -> Result<DavLedger>;
    /// Before a PUT: replaces any earlier intent for the same source item.
    async fn dav_begin(&self, user: &str, intent: &DavIntent) -> Result<()>;
    /// After a PUT (or on finding that one landed): the record replaces the item's
    /// record, intent and skipped row, in one transaction.
    async fn dav_record(&self, user: &str, record: &DavRecord) -> Result<()>;
    /// The intent's PUT did not land: it is forgotten (the item is planned again).
    async fn dav_drop_intent(&self, user: &str, source_href: &str) -> Result<()>;
    /// The item was removed from the target (or is gone from both): its record goes.
    async fn dav_forget(&self, user: &str, source_href: &str) -> Result<()>;
    /// An item not copied, and why (replaces an earlier reason for it; an approval of
    /// it stays).
    async fn dav_skip(
        &self,
        user: &str,
        source_href: &str,
        kind: SkippedKind,
        reason: &str,
    ) -> Result<()>;
    /// Saves (or, with `None`, clears) a source collection's sync token.
    async fn dav_set_sync_token(
        &self,
        user: &str,
        source_collection: &str,
        token: Option<&str>,
    ) -> Result<()>;
    /// Sets (or, with `None`, removes) the endpoint's CalDAV/CardDAV server.
    async fn set_endpoint_dav(&self, endpoint: &str, dav: Option<&DavSettings>) -> Result<()>;
    /// Sets (or removes) the target's CalDAV/CardDAV server.
    async fn set_target_dav(&self, dav: Option<&DavSettings>) -> Result<()>;
    /// The user's skipped calendar items and contacts, as skipped items: the folder is
    /// the item's href, the reason the server's answer.
    async fn dav_skipped_items(&self, user: &str) -> Result<Vec<crate::SkippedItem>>;
    /// The user's counts and how their last DAV pass ended.
    async fn dav_summary(&self, user: &str) -> Result<DavSummary>;
    /// A DAV pass of the user ended at `at`: went through (`error` None) or failed.
    async fn dav_end_pass(&self, user: &str, at: DateTime<Utc>, error: Option<&str>) -> Result<()>;
    /// Everything the store holds of the user's calendars and address books goes (the
    /// user's batch was removed).
    async fn dav_remove_user(&self, user: &str) -> Result<()>;
}
