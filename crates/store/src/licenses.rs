//! Licenses: the SKUs the organization holds, which user holds which, the grace period,
//! and the logins the enforcement disabled, behind their own trait so the main
//! [`crate::Store`] stays about batches and mail. Keyed by address, not by migration
//! user: licenses outlive the batch (the seed assigns them after removing it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{EmailAddress, GracePeriod, ProvisionedUser};

use crate::Result;

/// A license SKU (Get-MsolAccountSku's AccountSkuId, ActiveUnits, ConsumedUnits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseSku {
    /// As first written; looked up without case.
    pub name: String,
    /// How many users it can license; `None`: as many as needed.
    pub units: Option<u64>,
    /// How many users hold it now.
    pub assigned: u64,
    pub created_at: DateTime<Utc>,
}

/// One user holding one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseAssignment {
    pub email: EmailAddress,
    /// The SKU's name as stored.
    pub sku: String,
    pub assigned_at: DateTime<Utc>,
}

/// A login the enforcement disabled on the target, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledLogin {
    pub email: EmailAddress,
    pub disabled_at: DateTime<Utc>,
}

#[async_trait]
pub trait LicenseStore: Send + Sync {
    /// Adds a SKU; fails if one of that name (in any case) exists.
    async fn add_license_sku(
        &self,
        name: &str,
        units: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Changes a SKU's units; fails below the units assigned now.
    async fn set_license_sku_units(&self, name: &str, units: Option<u64>) -> Result<()>;
    /// Every SKU with its assigned count, by name.
    async fn license_skus(&self) -> Result<Vec<LicenseSku>>;
    /// Gives the user the SKU; false when it holds it already. Fails when the SKU is
    /// unknown or every unit of it is assigned ([`crate::StoreError::LicenseSkuFull`]),
    /// also when workers on other machines assign at the same time.
    async fn assign_license(
        &self,
        email: &EmailAddress,
        sku: &str,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Takes the SKU from the user; false when it did not hold it. Fails when the SKU
    /// is unknown.
    async fn unassign_license(&self, email: &EmailAddress, sku: &str) -> Result<bool>;
    /// Every assignment, by address and SKU.
    async fn license_assignments(&self) -> Result<Vec<LicenseAssignment>>;

    /// The grace period: the admin's, else 30 days.
    async fn grace_period(&self) -> Result<GracePeriod>;
    async fn set_grace_period(&self, grace: GracePeriod) -> Result<()>;

    /// Remembers users the licenses govern and when they were provisioned; a user
    /// remembered already keeps its first time. Kept apart from the provisioning record,
    /// which goes with the batch: the seed licenses users after removing it.
    async fn remember_license_users(&self, users: &[ProvisionedUser]) -> Result<()>;
    /// Every user remembered so, by address.
    async fn license_users(&self) -> Result<Vec<ProvisionedUser>>;

    /// The logins the enforcement disabled and has not given back, by address.
    async fn disabled_logins(&self) -> Result<Vec<DisabledLogin>>;
    /// The target's directory refuses the user's login since `at` (`None`: it was given
    /// back). Recorded after the directory changed: a crash between the two is seen by
    /// the next enforcement, which finds the attribute already there and records it.
    async fn set_login_disabled(
        &self,
        email: &EmailAddress,
        at: Option<DateTime<Utc>>,
    ) -> Result<()>;
}

/// The rows of both backends, read the same way.
pub(crate) mod row {
    use std::str::FromStr;

    use cutover_model::EmailAddress;

    use super::{DisabledLogin, LicenseAssignment, LicenseSku};
    use crate::Result;
    use crate::rows::{Columns, corrupt, u64_col};

    fn email(r: &impl Columns) -> Result<EmailAddress> {
        let raw: String = r.value("email")?;
        EmailAddress::from_str(&raw).map_err(corrupt)
    }

    pub(crate) fn units(units: Option<u64>) -> Result<Option<i64>> {
        units
            .map(|u| i64::try_from(u).map_err(|_| corrupt(format!("{u} units is too many"))))
            .transpose()
    }

    pub(crate) fn sku(r: &impl Columns) -> Result<LicenseSku> {
        let units: Option<i64> = r.value("units")?;
        Ok(LicenseSku {
            name: r.value("name")?,
            units: units.map(|u| u.max(0) as u64),
            assigned: u64_col(r, "assigned")?,
            created_at: r.value("created_at")?,
        })
    }

    pub(crate) fn assignment(r: &impl Columns) -> Result<LicenseAssignment> {
        Ok(LicenseAssignment {
            email: email(r)?,
            sku: r.value("sku")?,
            assigned_at: r.value("assigned_at")?,
        })
    }

    pub(crate) fn license_user(r: &impl Columns) -> Result<cutover_model::ProvisionedUser> {
        Ok(cutover_model::ProvisionedUser {
            email: email(r)?,
            provisioned_at: r.value("provisioned_at")?,
        })
    }

    pub(crate) fn disabled(r: &impl Columns) -> Result<DisabledLogin> {
        Ok(DisabledLogin {
            email: email(r)?,
            disabled_at: r.value("disabled_at")?,
        })
    }
}
