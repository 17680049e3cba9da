//! Provisioning the target organization, at the scheduler's edges.
//!
//! When a round of a batch of the whole organization (`batch new --all-mailboxes`)
//! opens and the target's directory is set with `--directory-provision`,
//! [`prepare_round`] reads the source directory once: recipients that are not in the
//! batch yet join it ([`cutover_directory::joining`]), every user's entry as it should
//! be is stored with its digest, and the users whose entry the target does not hold
//! yet, or holds as it was before a change, get a `provision` job. [`run_job`] runs
//! one: it writes the entry ([`cutover_directory::OpenLdapWriter`]) and, for a person
//! created by provisioning, sets a random initial password. That password is sealed in
//! the store *before* it is set on the target, so a crash can never leave a user with
//! a password nobody has: a retry sets the same one again, and the store forgets it
//! only once `batch report` has written it to the passwords CSV ([`hand_out_passwords`]).
//! A user's mailbox pass waits until its entry is there ([`mailbox_pass_waits`]).

use std::path::{Path, PathBuf};

use chrono::Utc;
use cutover_directory::{
    DesiredEntry, DirectoryError, DirectoryWriter, OpenLdapWriter, desired_entries,
    initial_password, joining, needs_writing,
};
use cutover_model::{Batch, MigrationUser, SourceDirectory, UserStatus};
use cutover_store::{Job, JobEnd, ProvisioningRecord, Store, StoreError};
use secrecy::{ExposeSecret, SecretString};
use tracing::{info, warn};

use crate::control::{ControlError, Result as ControlResult};
use crate::organization::{source_recipients, users_from_recipients};

/// The file of initial passwords, beside MigrationStatistics.csv and MigrationErrors.csv.
pub const PASSWORDS_FILE: &str = "InitialPasswords.csv";

/// Tries of a provision job before its user fails.
const MAX_ATTEMPTS: u32 = 3;

/// The target's directory when `batch` is provisioned into it: a batch of the
/// organization and a target directory set with `--directory-provision`.
pub async fn target_directory_of(
    store: &dyn Store,
    batch: &Batch,
) -> Result<Option<(SourceDirectory, SecretString)>, StoreError> {
    if !batch.from_directory {
        return Ok(None);
    }
    match store.target_directory().await? {
        Some(d) if d.provision => {
            let password = store.target_directory_password().await?;
            Ok(Some((d, password)))
        }
        _ => Ok(None),
    }
}

/// Before a round of `batch` opens: new recipients join, every user's desired entry is
/// stored, and the users whose entry must be written are returned (none when the batch
/// is not provisioned). The source directory is read once here, not per job.
pub async fn prepare_round(store: &dyn Store, batch: &Batch) -> ControlResult<Vec<String>> {
    if target_directory_of(store, batch).await?.is_none() {
        return Ok(Vec::new());
    }
    let name = batch.name.as_str();
    let read = source_recipients(store, batch.source_endpoint.as_str())
        .await
        .and_then(|r| {
            r.ok_or_else(|| {
                ControlError::Invalid(format!(
                    "batch '{name}' is provisioned from the directory of endpoint '{}', which \
                     has none any more; give the endpoint its directory again (`cutover \
                     endpoint set {} --directory ...`)",
                    batch.source_endpoint, batch.source_endpoint
                ))
            })
        });
    let records: std::collections::HashMap<String, ProvisioningRecord> = store
        .provisioning_records(name)
        .await?
        .into_iter()
        .map(|r| (r.email.clone(), r))
        .collect();
    let recipients = match read {
        Ok(r) => r,
        // The first pass needs the organization; a later one goes on without the
        // directory's changes this time (entries already decided are still written).
        Err(e) if batch.initial_sync_at.is_some() => {
            warn!(batch = name, error = %e, "cannot read the source directory; this pass follows no directory change");
            return Ok(records
                .values()
                .filter(|r| {
                    r.desired_digest
                        .as_deref()
                        .is_some_and(|d| needs_writing(d, r.applied_digest.as_deref()))
                })
                .map(|r| r.email.clone())
                .collect());
        }
        Err(e) => return Err(e),
    };
    let users = store.users(Some(name), None).await?;
    let emails: Vec<String> = users.iter().map(|u| u.email.to_string()).collect();
    let mut new_users = Vec::new();
    for joiner in joining(&emails, &recipients) {
        // One recipient the batch cannot take (not an address) does not hold the others.
        match users_from_recipients(std::slice::from_ref(joiner)) {
            Ok(mut u) => new_users.append(&mut u),
            Err(e) => {
                warn!(batch = name, dn = joiner.dn, error = %e, "a new recipient cannot join")
            }
        }
    }
    if !new_users.is_empty() {
        let joined = store.add_batch_users(name, &new_users).await?;
        info!(
            batch = name,
            joined, "new recipients of the source joined the batch"
        );
    }
    let desired = desired_entries(&recipients);
    let mut to_write = Vec::new();
    for user in store.users(Some(name), None).await? {
        let email = user.email.to_string();
        // A user the source no longer lists keeps its entry as it is: a missing answer
        // is never taken for a removal.
        let Some(entry) = desired.get(&email) else {
            continue;
        };
        let digest = entry.digest();
        let record = records.get(&email);
        if record.and_then(|r| r.desired_digest.as_deref()) != Some(digest.as_str()) {
            store
                .set_provisioning_desired(&email, &entry.to_json(), &digest)
                .await?;
        }
        if needs_writing(&digest, record.and_then(|r| r.applied_digest.as_deref())) {
            to_write.push(email);
        }
    }
    if !to_write.is_empty() {
        info!(
            batch = name,
            users = to_write.len(),
            "entries to write into the target's directory"
        );
    }
    Ok(to_write)
}

/// What a user's mailbox pass does about provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxPassGate {
    /// Nothing to wait for: the pass runs.
    Go,
    /// The user's entry is not on the target yet: the pass waits.
    Wait,
    /// Provisioning failed for good: no pass (the user is Failed with its reason).
    Skip,
}

/// Whether `user`'s mailbox pass may run: it waits while the user has an entry to be
/// provisioned that was never written.
pub async fn mailbox_pass_waits(
    store: &dyn Store,
    batch: &Batch,
    user: &MigrationUser,
) -> Result<MailboxPassGate, StoreError> {
    let Some(record) = store.provisioning(user.email.as_str()).await? else {
        return Ok(MailboxPassGate::Go);
    };
    // The admin stopped provisioning this target: nothing will come to wait for.
    if target_directory_of(store, batch).await?.is_none() {
        return Ok(MailboxPassGate::Go);
    }
    Ok(gate(&record, user.status))
}

/// The decision of [`mailbox_pass_waits`]. Pure.
pub fn gate(record: &ProvisioningRecord, status: UserStatus) -> MailboxPassGate {
    if record.desired_digest.is_none() || record.provisioned_at.is_some() {
        MailboxPassGate::Go
    } else if record.error.is_some() && status == UserStatus::Failed {
        MailboxPassGate::Skip
    } else {
        MailboxPassGate::Wait
    }
}

/// How a provision job ended.
#[derive(Debug)]
pub enum ProvisionEnd {
    /// Written (or nothing to write).
    Done,
    /// A failure to try again after a while.
    Retry { attempts: u32, error: String },
    /// Failed for good: the user is Failed.
    Failed(String),
}

/// Runs one provision job: writes `job.subject`'s entry, and its initial password when
/// provisioning created the person. Returns how the job ends; the caller ends it.
pub async fn run_job(store: &dyn Store, batch: &Batch, job: &Job) -> Result<JobEnd, StoreError> {
    let email = job.subject.as_str();
    let Some(mut user) = store.user(email).await? else {
        return Ok(JobEnd::Done);
    };
    let end = match provision(store, batch, &mut user).await {
        Ok(()) => ProvisionEnd::Done,
        Err(Failure::Store(e)) => return Err(e),
        Err(Failure::Directory(e)) => {
            let attempts = job.attempts + 1;
            let error = format!("provisioning the target's directory failed: {e}");
            if attempts >= MAX_ATTEMPTS || !e.may_pass() {
                ProvisionEnd::Failed(error)
            } else {
                ProvisionEnd::Retry { attempts, error }
            }
        }
    };
    Ok(match end {
        ProvisionEnd::Done => {
            store.record_provisioning_error(email, None).await?;
            if user.status == UserStatus::Provisioning {
                user.status = UserStatus::Queued;
                store.update_user(&user).await?;
            }
            JobEnd::Done
        }
        ProvisionEnd::Retry { attempts, error } => {
            warn!(
                user = email,
                attempts, error, "provisioning failed; trying again"
            );
            store.record_provisioning_error(email, Some(&error)).await?;
            JobEnd::Later {
                run_at: Utc::now() + chrono::Duration::seconds(5 << attempts.min(6)),
                attempts,
                refusals: job.refusals,
                error: Some(error),
            }
        }
        ProvisionEnd::Failed(error) => {
            warn!(user = email, error, "provisioning failed");
            store.record_provisioning_error(email, Some(&error)).await?;
            user.status = UserStatus::Failed;
            user.error = Some(error);
            store.update_user(&user).await?;
            JobEnd::Done
        }
    })
}

enum Failure {
    Store(StoreError),
    Directory(DirectoryError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<DirectoryError> for Failure {
    fn from(e: DirectoryError) -> Self {
        Failure::Directory(e)
    }
}

async fn provision(
    store: &dyn Store,
    batch: &Batch,
    user: &mut MigrationUser,
) -> Result<(), Failure> {
    let email = user.email.to_string();
    let Some(record) = store.provisioning(&email).await? else {
        return Ok(());
    };
    let (Some(json), Some(digest)) = (&record.desired, &record.desired_digest) else {
        return Ok(());
    };
    if record.applied_digest.as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    let entry = DesiredEntry::from_json(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some((settings, password)) = target_directory_of(store, batch).await? else {
        return Ok(());
    };
    if record.provisioned_at.is_none() && user.status == UserStatus::Queued {
        user.status = UserStatus::Provisioning;
        store.update_user(user).await?;
    }
    let mut writer = OpenLdapWriter::connect(&settings, &password).await?;
    let result = write(store, &mut writer, &email, &entry, &record, digest).await;
    writer.close().await;
    result
}

async fn write(
    store: &dyn Store,
    writer: &mut OpenLdapWriter,
    email: &str,
    entry: &DesiredEntry,
    record: &ProvisioningRecord,
    digest: &str,
) -> Result<(), Failure> {
    // A person gets an initial password when provisioning creates it: it is kept
    // sealed before the entry exists, so an entry created by a try that crashed
    // still finds its password here. An entry the admin made keeps its own.
    let mut password = None;
    if entry.logs_in()
        && record.password_set_at.is_none()
        && record.password_handed_out_at.is_none()
    {
        let kept = store.initial_password(email).await?;
        let exists = writer.locate(&entry.address).await?.is_some();
        password = match (kept, exists) {
            (Some(p), _) => Some(p),
            (None, false) => Some(
                store
                    .hold_initial_password(email, &initial_password())
                    .await?,
            ),
            (None, true) => None,
        };
    }
    let written = writer.write(entry).await?;
    cutover_sync::test_hooks::reached(cutover_sync::test_hooks::PausePoint::ProvisionAfterWrite);
    if let Some(p) = &password {
        writer.set_password(&written.dn, p).await?;
    }
    store
        .record_provisioned(email, &written.dn, digest, password.is_some(), Utc::now())
        .await?;
    info!(
        user = email,
        dn = written.dn,
        created = written.created,
        members = entry.members.len(),
        members_left_out = entry.members_left_out,
        password_set = password.is_some(),
        "provisioned on the target"
    );
    Ok(())
}

/// The passwords CSV: `EmailAddress,Password`, the same CSV conventions as the other
/// reports (a UTF-8 byte order mark, CRLF, no cell read as a formula). Pure.
pub fn passwords_csv(rows: &[(String, SecretString)]) -> SecretString {
    let mut out = String::from("\u{feff}EmailAddress,Password\r\n");
    for (email, password) in rows {
        out.push_str(&crate::report::cell(email));
        out.push(',');
        out.push_str(&crate::report::cell(password.expose_secret()));
        out.push_str("\r\n");
    }
    SecretString::from(out)
}

/// Writes the initial passwords of `batch` set on the target and not handed out yet
/// into a new 0600 file in `dir` ([`PASSWORDS_FILE`], or a name with the time when
/// that one exists), synced to disk, then makes the store forget them. Returns the
/// file and how many it holds; None when there were none.
pub async fn hand_out_passwords(
    store: &dyn Store,
    batch: &str,
    dir: &Path,
) -> std::result::Result<Option<(PathBuf, usize)>, HandOutError> {
    let rows = store.passwords_to_hand_out(batch).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut path = dir.join(PASSWORDS_FILE);
    if path.exists() {
        path = dir.join(format!(
            "InitialPasswords-{}.csv",
            Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
    }
    let text = passwords_csv(&rows);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = cutover_store::private_file::create_new(&path)?;
        file.write_all(text.expose_secret().as_bytes())?;
        file.sync_all()
    };
    write().map_err(|e| HandOutError::Write {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let emails: Vec<String> = rows.iter().map(|(e, _)| e.clone()).collect();
    store.forget_initial_passwords(&emails, Utc::now()).await?;
    info!(batch, file = %path.display(), users = emails.len(), "initial passwords handed out");
    Ok(Some((path, emails.len())))
}

#[derive(Debug, thiserror::Error)]
pub enum HandOutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "cannot write the initial passwords to {path}: {reason}; give a directory you can \
         write to with --out DIR (the passwords stay in the state until they are written)"
    )]
    Write { path: PathBuf, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(desired: bool, provisioned: bool, error: bool) -> ProvisioningRecord {
        ProvisioningRecord {
            email: "a@contoso.test".into(),
            desired: desired.then(|| "{}".into()),
            desired_digest: desired.then(|| "d".into()),
            applied_digest: provisioned.then(|| "d".into()),
            target_dn: None,
            provisioned_at: provisioned.then(Utc::now),
            updated_at: None,
            error: error.then(|| "refused".into()),
            password_set_at: None,
            password_handed_out_at: None,
        }
    }

    #[test]
    fn a_mailbox_pass_waits_for_the_first_provisioning_only() {
        use MailboxPassGate::*;
        assert_eq!(gate(&record(true, false, false), UserStatus::Queued), Wait);
        assert_eq!(
            gate(&record(true, false, false), UserStatus::Provisioning),
            Wait
        );
        // A try failed and another comes: still waiting.
        assert_eq!(
            gate(&record(true, false, true), UserStatus::Provisioning),
            Wait
        );
        // It failed for good: no pass.
        assert_eq!(gate(&record(true, false, true), UserStatus::Failed), Skip);
        // Provisioned once: a change written later does not hold the pass.
        assert_eq!(gate(&record(true, true, false), UserStatus::Synced), Go);
        // Only a password record, no entry to write.
        assert_eq!(gate(&record(false, false, false), UserStatus::Queued), Go);
    }

    #[test]
    fn the_passwords_csv_has_one_row_per_user_and_no_formula() {
        let csv = passwords_csv(&[
            ("a@contoso.test".into(), SecretString::from("Abc123")),
            ("b@contoso.test".into(), SecretString::from("=cmd")),
        ]);
        assert_eq!(
            csv.expose_secret(),
            "\u{feff}EmailAddress,Password\r\na@contoso.test,Abc123\r\nb@contoso.test,'=cmd\r\n"
        );
    }
}
