//! The pass of a migration user without a mailbox: a mail user, contact or group of a
//! batch read from the directory. There is no mail to copy, so no IMAP connection is
//! made; the user is Synced at once, as Exchange shows such recipients once they are
//! provisioned. With a provisioned target directory the scheduler runs this pass only
//! after the user's provision job wrote its entry (`StatusDetail: Provisioned`);
//! without one, cutover cannot create them and the views say `NotProvisioned`.

use chrono::Utc;
use cutover_model::{MigrationUser, UserStatus};
use cutover_store::{Store, StoreError};
use tracing::info;

use crate::events::{EventSink, SyncEvent};
use crate::pass::PassOutcome;

pub async fn pass(
    store: &dyn Store,
    mut user: MigrationUser,
    events: &EventSink,
) -> Result<(UserStatus, PassOutcome), StoreError> {
    events.send(SyncEvent::UserStarted {
        email: user.email.to_string(),
    });
    user.status = UserStatus::Synced;
    user.initial_sync_done = true;
    user.last_synced_at = Some(Utc::now());
    user.error = None;
    store.update_user(&user).await?;
    info!(user = %user.email, kind = user.recipient_type(), "no mailbox to copy");
    events.send(SyncEvent::UserFinished {
        email: user.email.to_string(),
        status: user.status,
        copied: 0,
        error: None,
    });
    Ok((user.status, PassOutcome::default()))
}
