//! Provisioning the target organization: per migration user, its entry in the target's
//! directory (what it should be, what was applied, where, when) and its initial
//! password, sealed from before it is set on the target until the passwords CSV holds
//! it; and the users that join a batch of the whole organization between rounds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::{NewUser, Result};

/// One migration user's entry in the target's directory, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningRecord {
    pub email: String,
    /// What the entry should be (JSON the directory crate writes), and its digest.
    pub desired: Option<String>,
    pub desired_digest: Option<String>,
    /// The digest of what was last written to the target.
    pub applied_digest: Option<String>,
    /// Where the entry is on the target.
    pub target_dn: Option<String>,
    /// When it was first provisioned (a license's grace period counts from here).
    pub provisioned_at: Option<DateTime<Utc>>,
    /// When it was last written.
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the last try failed (cleared when one succeeds).
    pub error: Option<String>,
    /// When its initial password was set on the target.
    pub password_set_at: Option<DateTime<Utc>>,
    /// When that password went into a passwords CSV (and the store forgot it).
    pub password_handed_out_at: Option<DateTime<Utc>>,
}

impl ProvisioningRecord {
    /// Whether the target holds what it should (nothing left to write).
    pub fn is_current(&self) -> bool {
        self.desired_digest.is_some() && self.desired_digest == self.applied_digest
    }
}

#[async_trait]
pub trait ProvisioningStore: Send + Sync {
    /// Users that join `batch` (new recipients of the organization), after its others,
    /// Queued; one already in it is left as it is. Returns how many joined.
    async fn add_batch_users(&self, batch: &str, users: &[NewUser]) -> Result<u64>;

    /// What `email`'s entry should be (JSON) and its digest; the rest of its record
    /// stays.
    async fn set_provisioning_desired(
        &self,
        email: &str,
        desired: &str,
        digest: &str,
    ) -> Result<()>;
    async fn provisioning(&self, email: &str) -> Result<Option<ProvisioningRecord>>;
    /// The records of `batch`'s users, by address.
    async fn provisioning_records(&self, batch: &str) -> Result<Vec<ProvisioningRecord>>;
    /// When `email` was first provisioned on the target (None: not yet): the start of
    /// its license's grace period.
    async fn provisioned_at(&self, email: &str) -> Result<Option<DateTime<Utc>>>;

    /// Keeps `password` sealed as `email`'s initial password unless one is kept already
    /// (a retry after a crash sets the same one); returns the one kept.
    async fn hold_initial_password(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<SecretString>;
    /// The initial password kept for `email` and not yet handed out.
    async fn initial_password(&self, email: &str) -> Result<Option<SecretString>>;
    /// The entry was written: where it is, the digest applied, and whether its initial
    /// password was set on the target by this write. The first success sets
    /// `provisioned_at`; the error is cleared.
    async fn record_provisioned(
        &self,
        email: &str,
        target_dn: &str,
        digest: &str,
        password_set: bool,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The last try failed (None: clears the error).
    async fn record_provisioning_error(&self, email: &str, error: Option<&str>) -> Result<()>;
    /// The initial passwords of `batch` set on the target and not yet handed out, by
    /// address.
    async fn passwords_to_hand_out(&self, batch: &str) -> Result<Vec<(String, SecretString)>>;
    /// These passwords are in a passwords CSV now: the store forgets them.
    async fn forget_initial_passwords(&self, emails: &[String], now: DateTime<Utc>) -> Result<()>;
}
