//! The directories of the migration: the source directory of an endpoint and the
//! target organization's directory (LDAP settings and the sealed bind password of each),
//! behind their own trait so the main [`crate::Store`] stays about batches and mail.

use async_trait::async_trait;
use cutover_model::SourceDirectory;
use secrecy::SecretString;

use crate::Result;

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Stores (or replaces) the endpoint's directory; the password only when one is
    /// given (a first directory needs one).
    async fn set_endpoint_directory(
        &self,
        endpoint: &str,
        directory: &SourceDirectory,
        password: Option<&SecretString>,
    ) -> Result<()>;
    async fn endpoint_directory(&self, endpoint: &str) -> Result<Option<SourceDirectory>>;
    async fn endpoint_directory_password(&self, endpoint: &str) -> Result<SecretString>;
    /// The endpoint no longer reads a directory.
    async fn remove_endpoint_directory(&self, endpoint: &str) -> Result<()>;

    /// Stores (or replaces) the target organization's directory with its password, or
    /// forgets it (`None`): `target set` replaces the target's settings as a whole.
    async fn set_target_directory(
        &self,
        directory: Option<(&SourceDirectory, &SecretString)>,
    ) -> Result<()>;
    async fn target_directory(&self) -> Result<Option<SourceDirectory>>;
    async fn target_directory_password(&self) -> Result<SecretString>;
}
