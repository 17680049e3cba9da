//! Licenses, the seed's Section 7: the operations the CLI, the cmdlet shell and the API
//! share (SKUs, assignments, the grace period), how a user's license looks to an admin
//! ([`UserLicenseView`], [`AccountSkuView`]), and the enforcement ([`enforce`]): the pure
//! decision of `cutover_model::decide_logins` over what the store knows, applied to the
//! target directory by `cutover_directory::LoginWriter`, each change recorded in the
//! store once the directory made it. The scheduler's loop runs it every
//! [`ENFORCE_EVERY`], and `license assign` at once, so a licensed user logs in again
//! without waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cutover_directory::{DirectoryError, LoginWriter};
use cutover_model::{
    EmailAddress, GracePeriod, LicenseStatus, Name, ProvisionedUser, RecipientKind, decide_logins,
    license_status,
};
use cutover_store::{LicenseSku, Store, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::time_text;

/// How often the scheduler's loop enforces the grace period.
pub const ENFORCE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{changes} login(s) must change on the target, but no target directory is set; set it with \
         `cutover target set ... --directory URL --directory-base DN --directory-bind DN`"
    )]
    NoTargetDirectory { changes: usize },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// The users whose logins the licenses govern, and since when the target holds each:
/// every mailbox and mail user (the kinds with a login of their own) that provisioning
/// created in the target directory, since it first did (`ProvisioningStore`'s
/// `provisioned_at`). A user not provisioned (yet) is not governed: its grace period has
/// not started. The provisioning record goes with the batch, and the seed licenses
/// users after removing it: so each user seen here is remembered in the license tables
/// (first time kept), and stays governed once its batch is gone.
pub async fn provisioned_users(store: &dyn Store) -> Result<Vec<ProvisionedUser>, StoreError> {
    let mut seen = Vec::new();
    for batch in store.batches().await? {
        let records = store.provisioning_records(batch.name.as_str()).await?;
        if records.iter().all(|r| r.provisioned_at.is_none()) {
            continue;
        }
        let logins: BTreeSet<EmailAddress> = store
            .users(Some(batch.name.as_str()), None)
            .await?
            .into_iter()
            .filter(|u| matches!(u.kind, RecipientKind::Mailbox | RecipientKind::MailUser))
            .map(|u| u.email)
            .collect();
        for record in records {
            let (Ok(email), Some(at)) =
                (record.email.parse::<EmailAddress>(), record.provisioned_at)
            else {
                continue;
            };
            if logins.contains(&email) {
                seen.push(ProvisionedUser {
                    email,
                    provisioned_at: at,
                });
            }
        }
    }
    let mut known = store.license_users().await?;
    let remembered: BTreeSet<&EmailAddress> = known.iter().map(|u| &u.email).collect();
    let new: Vec<ProvisionedUser> = seen
        .into_iter()
        .filter(|u| !remembered.contains(&u.email))
        .collect();
    if !new.is_empty() {
        store.remember_license_users(&new).await?;
        known = store.license_users().await?;
    }
    Ok(known)
}

/// A license SKU (Get-MsolAccountSku).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSkuView {
    pub account_sku_id: String,
    /// How many users it can license; absent: as many as needed.
    pub active_units: Option<u64>,
    pub consumed_units: u64,
    pub created: Option<String>,
}

impl AccountSkuView {
    pub fn new(sku: &LicenseSku) -> Self {
        Self {
            account_sku_id: sku.name.clone(),
            active_units: sku.units,
            consumed_units: sku.assigned,
            created: time_text(Some(sku.created_at)),
        }
    }
}

/// A provisioned user's license and login (Get-MsolUser's UserPrincipalName, IsLicensed
/// and Licenses, with the grace period).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserLicenseView {
    pub user_principal_name: String,
    pub is_licensed: bool,
    /// The SKUs it holds.
    pub licenses: Vec<String>,
    /// Licensed, Unlicensed (in its grace period) or GracePeriodEnded.
    pub license_status: String,
    pub provisioned: Option<String>,
    /// When the grace period of an unlicensed user ends (ended).
    pub grace_period_ends: Option<String>,
    /// Days left of the grace period, rounded up; 0 once over; absent when licensed.
    pub days_left: Option<u64>,
    /// Whether the target refuses its login because of the license.
    pub login_disabled: bool,
    pub login_disabled_since: Option<String>,
}

/// Every provisioned user with its licenses and grace period, by address; with
/// `unlicensed_only`, those without a license (Get-MsolUser -UnlicensedUsersOnly).
pub async fn user_licenses(
    store: &dyn Store,
    now: DateTime<Utc>,
    unlicensed_only: bool,
) -> Result<Vec<UserLicenseView>, StoreError> {
    let mut since: BTreeMap<EmailAddress, DateTime<Utc>> = BTreeMap::new();
    for u in provisioned_users(store).await? {
        since
            .entry(u.email)
            .and_modify(|t| *t = (*t).min(u.provisioned_at))
            .or_insert(u.provisioned_at);
    }
    let mut held: BTreeMap<EmailAddress, Vec<String>> = BTreeMap::new();
    for a in store.license_assignments().await? {
        held.entry(a.email).or_default().push(a.sku);
    }
    let disabled: BTreeMap<EmailAddress, DateTime<Utc>> = store
        .disabled_logins()
        .await?
        .into_iter()
        .map(|d| (d.email, d.disabled_at))
        .collect();
    let grace = store.grace_period().await?;
    Ok(since
        .into_iter()
        .filter_map(|(email, at)| {
            let licenses = held.remove(&email).unwrap_or_default();
            let status = license_status(at, !licenses.is_empty(), grace, now);
            let (ends, days_left) = match status {
                LicenseStatus::Licensed => (None, None),
                LicenseStatus::Grace { ends_at, days_left } => (Some(ends_at), Some(days_left)),
                LicenseStatus::Expired { ended_at } => (Some(ended_at), Some(0)),
            };
            if unlicensed_only && !licenses.is_empty() {
                return None;
            }
            let off = disabled.get(&email).copied();
            Some(UserLicenseView {
                user_principal_name: email.to_string(),
                is_licensed: !licenses.is_empty(),
                licenses,
                license_status: status.as_str().to_string(),
                provisioned: time_text(Some(at)),
                grace_period_ends: time_text(ends),
                days_left,
                login_disabled: off.is_some(),
                login_disabled_since: time_text(off),
            })
        })
        .collect())
}

pub fn sku_name(name: &str) -> Result<String, LicenseError> {
    Name::parse("license SKU", name)
        .map(|n| n.as_str().to_string())
        .map_err(|e| LicenseError::Invalid(e.to_string()))
}

pub fn user_address(user: &str) -> Result<EmailAddress, LicenseError> {
    user.parse::<EmailAddress>()
        .map_err(|e| LicenseError::Invalid(format!("{e}: name the user by its address")))
}

pub async fn add_sku(
    store: &dyn Store,
    name: &str,
    units: Option<u64>,
) -> Result<AccountSkuView, LicenseError> {
    let name = sku_name(name)?;
    store.add_license_sku(&name, units, Utc::now()).await?;
    sku(store, &name).await
}

pub async fn set_sku_units(
    store: &dyn Store,
    name: &str,
    units: Option<u64>,
) -> Result<AccountSkuView, LicenseError> {
    store.set_license_sku_units(name, units).await?;
    sku(store, name).await
}

async fn sku(store: &dyn Store, name: &str) -> Result<AccountSkuView, LicenseError> {
    store
        .license_skus()
        .await?
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(AccountSkuView::new)
        .ok_or_else(|| {
            StoreError::NotFound {
                what: "license SKU",
                name: name.to_string(),
            }
            .into()
        })
}

pub async fn skus(store: &dyn Store) -> Result<Vec<AccountSkuView>, StoreError> {
    Ok(store
        .license_skus()
        .await?
        .iter()
        .map(AccountSkuView::new)
        .collect())
}

/// What assigning (or unassigning) did.
#[derive(Debug, Clone, Default)]
pub struct AssignOutcome {
    /// False when the user held it already (or, unassigning, did not hold it).
    pub changed: bool,
    /// The user is not among the provisioned users (yet): the license waits for it.
    pub not_provisioned: bool,
    /// The enforcement that followed; `Err` when the target directory could not be
    /// changed (the assignment stands, the loop tries again).
    pub enforced: Option<Result<Enforcement, String>>,
}

/// Gives the user the SKU and, when that gives a disabled login back, does so at once.
pub async fn assign(
    store: &dyn Store,
    user: &str,
    sku: &str,
    now: DateTime<Utc>,
) -> Result<AssignOutcome, LicenseError> {
    let email = user_address(user)?;
    let changed = store.assign_license(&email, sku, now).await?;
    let not_provisioned = !provisioned_users(store)
        .await?
        .iter()
        .any(|u| u.email == email);
    let enforced = Some(enforce(store, now).await.map_err(|e| e.to_string()));
    Ok(AssignOutcome {
        changed,
        not_provisioned,
        enforced,
    })
}

/// Takes the SKU from the user; its login follows at the next enforcement if the grace
/// period (counted from its provisioning) is over.
pub async fn unassign(
    store: &dyn Store,
    user: &str,
    sku: &str,
) -> Result<AssignOutcome, LicenseError> {
    let email = user_address(user)?;
    let changed = store.unassign_license(&email, sku).await?;
    Ok(AssignOutcome {
        changed,
        ..AssignOutcome::default()
    })
}

pub async fn set_grace(store: &dyn Store, grace: &str) -> Result<GracePeriod, LicenseError> {
    let grace: GracePeriod = grace.parse().map_err(LicenseError::Invalid)?;
    store.set_grace_period(grace).await?;
    Ok(grace)
}

/// What one enforcement changed on the target directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforcement {
    pub disabled: Vec<EmailAddress>,
    pub enabled: Vec<EmailAddress>,
    /// Users whose login could not be changed, with why; tried again next time.
    pub failed: Vec<(EmailAddress, String)>,
}

/// Decides which logins change now and changes them on the target directory, recording
/// each change after the directory made it (a crash in between is harmless: the next
/// run finds the directory already so, and records it).
pub async fn enforce(store: &dyn Store, now: DateTime<Utc>) -> Result<Enforcement, LicenseError> {
    let users = provisioned_users(store).await?;
    let assignments: Vec<(EmailAddress, String)> = store
        .license_assignments()
        .await?
        .into_iter()
        .map(|a| (a.email, a.sku))
        .collect();
    let disabled: BTreeSet<EmailAddress> = store
        .disabled_logins()
        .await?
        .into_iter()
        .map(|d| d.email)
        .collect();
    let grace = store.grace_period().await?;
    let changes = decide_logins(&users, &assignments, grace, now, &disabled);
    let mut done = Enforcement::default();
    if changes.is_empty() {
        return Ok(done);
    }
    let settings = store
        .target_directory()
        .await?
        .ok_or(LicenseError::NoTargetDirectory {
            changes: changes.disable.len() + changes.enable.len(),
        })?;
    let password = store.target_directory_password().await?;
    let mut writer = LoginWriter::connect(&settings, &password).await?;
    let steps = changes
        .disable
        .into_iter()
        .map(|e| (e, true))
        .chain(changes.enable.into_iter().map(|e| (e, false)));
    for (email, disable) in steps {
        match writer.set_login(email.as_str(), disable).await {
            Ok(_) => {
                store
                    .set_login_disabled(&email, disable.then_some(now))
                    .await?;
                if disable {
                    done.disabled.push(email);
                } else {
                    done.enabled.push(email);
                }
            }
            Err(e) => done.failed.push((email, e.to_string())),
        }
    }
    writer.unbind().await;
    for e in &done.disabled {
        tracing::info!(user = %e, "license grace period over: login disabled on the target");
    }
    for e in &done.enabled {
        tracing::info!(user = %e, "login given back on the target");
    }
    Ok(done)
}

/// The scheduler loop's enforcement: runs [`enforce`], logs what it did, and a failure
/// (of the whole, or of some users' logins) once until it changes: a target directory
/// that is down, or an entry that is missing, is not logged every 30 seconds.
pub async fn enforce_in_loop(store: &dyn Store, last_error: &mut Option<String>) {
    match enforce(store, Utc::now()).await {
        Ok(done) if !done.failed.is_empty() => {
            let text = done
                .failed
                .iter()
                .map(|(e, why)| format!("{e}: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            if last_error.as_ref() != Some(&text) {
                tracing::warn!(error = %text, "cannot change some logins on the target; trying again later");
                *last_error = Some(text);
            }
        }
        Ok(_) => {
            if last_error.take().is_some() {
                tracing::info!("the license enforcement works again");
            }
        }
        Err(e) => {
            let text = e.to_string();
            if last_error.as_ref() != Some(&text) {
                tracing::warn!(error = %text, "the license enforcement failed; trying again later");
                *last_error = Some(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use cutover_model::{Batch, Compression, Connection, Endpoint, Impersonation, Name, Security};
    use cutover_store::NewUser;
    use secrecy::SecretString;

    use std::sync::Arc;

    use super::*;

    async fn store_with(
        dir: &tempfile::TempDir,
        users: &[(&str, RecipientKind)],
    ) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = cutover_store::open(&url, None).await.unwrap();
        let endpoint = Endpoint {
            name: Name::parse("endpoint", "E").unwrap(),
            connection: Connection {
                server: "127.0.0.1".into(),
                port: 143,
                security: Security::None,
                admin: "admin".into(),
                impersonation: Impersonation::Authzid,
                ca_file: None,
                compression: Compression::Auto,
                oauth: None,
                dav: None,
            },
            max_concurrent_migrations: 100,
            max_concurrent_incremental_syncs: 20,
            created_at: Utc::now(),
        };
        store
            .insert_endpoint(&endpoint, &SecretString::from("p"))
            .await
            .unwrap();
        let batch = Batch::new(
            Name::parse("batch", "B").unwrap(),
            Name::parse("endpoint", "E").unwrap(),
            Utc::now(),
        );
        let new: Vec<NewUser> = users
            .iter()
            .map(|(email, kind)| NewUser {
                email: email.parse().unwrap(),
                source_login: None,
                password: None,
                kind: *kind,
            })
            .collect();
        store.create_batch(&batch, &new).await.unwrap();
        store
    }

    /// Only provisioned mailboxes and mail users count, from their provisioning time;
    /// they stay once the batch (and its provisioning records) is gone; the enforcement
    /// asks for the target directory only when a login must change.
    #[tokio::test]
    async fn provisioned_logins_are_governed_from_their_provisioning_and_outlive_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(
            &dir,
            &[
                ("a@x.test", RecipientKind::Mailbox),
                ("m@x.test", RecipientKind::MailUser),
                ("c@x.test", RecipientKind::MailContact),
                ("q@x.test", RecipientKind::Mailbox),
            ],
        )
        .await;
        let at = Utc::now() - TimeDelta::days(10);
        for email in ["a@x.test", "m@x.test", "c@x.test"] {
            store
                .record_provisioned(email, "uid=x", "digest", true, at)
                .await
                .unwrap();
        }
        let now = Utc::now();
        let listed = user_licenses(store.as_ref(), now, false).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|u| (u.user_principal_name.as_str(), u.days_left))
                .collect::<Vec<_>>(),
            [("a@x.test", Some(20)), ("m@x.test", Some(20))],
            "q is not provisioned, c has no login"
        );
        // Nothing to change: no directory needed.
        assert_eq!(
            enforce(store.as_ref(), now).await.unwrap(),
            Enforcement::default()
        );
        store.set_grace_period("5d".parse().unwrap()).await.unwrap();
        let err = enforce(store.as_ref(), now).await.unwrap_err();
        assert!(
            matches!(err, LicenseError::NoTargetDirectory { changes: 2 }),
            "{err}"
        );
        store.add_license_sku("E3", None, now).await.unwrap();
        // The assignment stands though the login of m@ cannot be changed now.
        let out = assign(store.as_ref(), "A@x.test", "e3", now).await.unwrap();
        assert!(out.changed && !out.not_provisioned, "{out:?}");
        assert!(
            matches!(&out.enforced, Some(Err(e)) if e.contains("no target directory")),
            "{out:?}"
        );
        assert_eq!(store.license_assignments().await.unwrap().len(), 1);

        store.remove_batch("B").await.unwrap();
        let listed = user_licenses(store.as_ref(), now, true).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].user_principal_name, "m@x.test");
        assert_eq!(listed[0].license_status, "GracePeriodEnded");
        store.close().await;
    }
}
