//! The CalDAV/CardDAV ledger, behind its own trait: per user, an intent before each PUT
//! to the target and a record after it (source collection, href, ETag, UID -> target
//! href, ETag), and the source's sync tokens. The dav crate plans over what this holds.

use async_trait::async_trait;

use crate::Result;

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
    /// An item not copied, and why (replaces an earlier reason for it).
    async fn dav_skip(&self, user: &str, source_href: &str, reason: &str) -> Result<()>;
    /// Saves (or, with `None`, clears) a source collection's sync token.
    async fn dav_set_sync_token(
        &self,
        user: &str,
        source_collection: &str,
        token: Option<&str>,
    ) -> Result<()>;
}
