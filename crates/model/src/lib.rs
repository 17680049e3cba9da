//! Domain types of a cutover migration, with no IO.
//!
//! The words are the seed's (Exchange Online's cutover migration): a migration
//! *endpoint* holds the connection to the source system, a cutover *batch* holds every
//! *migration user* (mailbox), and their statuses move through the state machines in
//! [`status`]. Values that come from admins (addresses, names, the users CSV) are
//! validated here once, so the rest of the code can trust them.

pub mod batch;
pub mod dav;
pub mod directory;
pub mod endpoint;
pub mod folder_map;
pub mod license;
pub mod names;
pub mod oauth;
pub mod progress;
pub mod relay;
pub mod skipped;
pub mod status;
pub mod throttle;
pub mod users_csv;

pub use batch::{Batch, BatchCounts, MigrationUser, UserStats};
pub use dav::{DavAuth, DavSettings};
pub use directory::{DirectoryProfile, RecipientKind, SourceDirectory};
pub use endpoint::{Compression, Connection, Endpoint, Impersonation, Security, Target};
pub use folder_map::{FolderMapEntry, FolderMapError};
pub use license::{
    GracePeriod, LicenseStatus, LoginChanges, ProvisionedUser, decide_logins, license_status,
};
pub use names::{EmailAddress, Name, NameError};
pub use oauth::{OAuthApp, OAuthCredential, OAuthProvider};
pub use progress::{PassStart, Progress, human_duration};
pub use relay::{SmtpRelay, SmtpTls};
pub use skipped::{
    DataConsistencyScore, ItemLimitExceeded, SkippedCounts, SkippedKind, check_item_limits,
};
pub use status::{BatchStatus, UserStatus};
pub use throttle::Aimd;
pub use users_csv::{CsvError, UserRow, parse_users_csv};
