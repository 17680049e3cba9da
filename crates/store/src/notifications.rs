//! The SMTP relay of the notification e-mails, and what was already mailed about each
//! batch, behind their own trait so the main [`crate::Store`] stays about batches and mail.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{EmailAddress, SmtpRelay};
use secrecy::SecretString;

use crate::Result;

/// What was already mailed about a batch: written only once the relay took the mail, so
/// a mail that could not be sent is due again on the next round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationRecord {
    /// When the "initial sync finished" mail went out.
    pub initial_sync_notified_at: Option<DateTime<Utc>>,
    /// When the last mail went out (every mail carries the report).
    pub last_report_at: Option<DateTime<Utc>>,
    /// Failed users already announced, and failed still.
    pub failures_announced: Vec<EmailAddress>,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Replaces the relay's settings and its password (sealed; `None`: no login).
    async fn set_smtp_relay(
        &self,
        relay: &SmtpRelay,
        password: Option<&SecretString>,
    ) -> Result<()>;
    async fn smtp_relay(&self) -> Result<Option<SmtpRelay>>;
    /// The relay's password, when it has one.
    async fn smtp_relay_password(&self) -> Result<Option<SecretString>>;

    /// What was mailed about the batch (empty when nothing was).
    async fn notification_record(&self, batch: &str) -> Result<NotificationRecord>;
    async fn save_notification_record(
        &self,
        batch: &str,
        record: &NotificationRecord,
    ) -> Result<()>;
}
