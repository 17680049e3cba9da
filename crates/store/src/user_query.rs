//! A page of a batch's users and the batch's throughput over time: what the dashboard
//! and the API ask the store for, so a batch of 100,000 mailboxes is never read whole to
//! show fifty.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use cutover_model::{MigrationUser, UserStatus};

/// Which users, in which order, and which slice of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Only users whose address or status contains this text (any case).
    pub filter: Option<String>,
    pub status: Option<UserStatus>,
    pub sort: UserSort,
    pub descending: bool,
    pub offset: u64,
    /// At most this many; all when `None`.
    pub limit: Option<u64>,
}

/// The orders a page can be in; ties are broken by the users CSV's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserSort {
    /// The users CSV's order.
    #[default]
    Position,
    Email,
    Status,
    /// Share of the source's messages on the target (users not counted yet first).
    Progress,
    ItemsSynced,
    ItemsSkipped,
    BytesSynced,
    LastSynced,
    Error,
}

impl UserSort {
    pub const ALL: [UserSort; 9] = [
        UserSort::Position,
        UserSort::Email,
        UserSort::Status,
        UserSort::Progress,
        UserSort::ItemsSynced,
        UserSort::ItemsSkipped,
        UserSort::BytesSynced,
        UserSort::LastSynced,
        UserSort::Error,
    ];

    /// The name the API and the dashboard use.
    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::Position => "position",
            UserSort::Email => "email",
            UserSort::Status => "status",
            UserSort::Progress => "progress",
            UserSort::ItemsSynced => "items_synced",
            UserSort::ItemsSkipped => "items_skipped",
            UserSort::BytesSynced => "bytes_synced",
            UserSort::LastSynced => "last_synced",
            UserSort::Error => "error",
        }
    }
}

impl fmt::Display for UserSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserSort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserSort::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = UserSort::ALL.iter().map(|k| k.as_str()).collect();
                format!("'{s}' is not a sort order; use one of {}", names.join(", "))
            })
    }
}

/// One page of users and how many match in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<MigrationUser>,
    pub total: u64,
}

/// Messages and bytes a batch copied in one stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThroughputBucket {
    /// The stretch's start.
    pub at: DateTime<Utc>,
    pub messages: u64,
    pub bytes: u64,
}

/// The width of the store's throughput buckets, in seconds.
pub const THROUGHPUT_BUCKET_SECONDS: i64 = 10;
