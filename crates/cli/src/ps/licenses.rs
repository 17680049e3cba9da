//! The license cmdlets of the MSOnline module, as the seed's Section 7 would use them
//! in PowerShell: Get-MsolAccountSku, Set-MsolUserLicense -AddLicenses/-RemoveLicenses,
//! Get-MsolUser [-UnlicensedUsersOnly], bound onto `crate::commands::license`. Microsoft
//! names a SKU `tenant:SKU` (AccountSkuId); the part before the colon is dropped, as
//! cutover has one organization.

use super::binding::Bound;
use super::eval::{PsResult, Shell};
use super::value::Value;
use crate::commands::license;
use crate::output::Record;

const SKU_VIEW: &[&str] = &["AccountSkuId", "ActiveUnits", "ConsumedUnits"];
const USER_VIEW: &[&str] = &[
    "UserPrincipalName",
    "IsLicensed",
    "LicenseStatus",
    "DaysLeft",
];

fn objects(type_name: &str, records: &[Record], view: &'static [&'static str]) -> Vec<Value> {
    records
        .iter()
        .map(|r| Value::object(type_name, r, Some(view)))
        .collect()
}

/// `contoso:ENTERPRISEPACK` -> `ENTERPRISEPACK`.
fn sku_name(sku: &str) -> &str {
    sku.rsplit_once(':').map(|(_, s)| s).unwrap_or(sku).trim()
}

pub(super) fn get_msol_account_sku(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let r = shell
        .block(license::sku_get(shell.ctx, None))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("AccountSku", &r, SKU_VIEW))
}

/// Set-MsolUserLicense -UserPrincipalName U [-AddLicenses A,B] [-RemoveLicenses C]:
/// removals first, as a swap of SKUs must not need a free unit of both.
pub(super) fn set_msol_user_license(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let user = b.required("UserPrincipalName")?;
    let add = b.strings("AddLicenses")?;
    let remove = b.strings("RemoveLicenses")?;
    if add.is_empty() && remove.is_empty() {
        return Err(b.param_err(
            "AddLicenses",
            "give -AddLicenses or -RemoveLicenses (an AccountSkuId of Get-MsolAccountSku)",
        ));
    }
    for sku in &remove {
        shell
            .block(license::unassign(shell.ctx, &user, sku_name(sku)))
            .map_err(|e| b.anyhow(e))?;
    }
    for sku in &add {
        shell
            .block(license::assign(shell.ctx, &user, sku_name(sku)))
            .map_err(|e| b.anyhow(e))?;
    }
    Ok(Vec::new())
}

pub(super) fn get_msol_user(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let user = b.string("UserPrincipalName")?;
    let r = shell
        .block(license::get(
            shell.ctx,
            user.as_deref(),
            b.switch("UnlicensedUsersOnly"),
        ))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("User", &r, USER_VIEW))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tenant_prefix_is_dropped_from_the_sku() {
        assert_eq!(super::sku_name("contoso:ENTERPRISEPACK"), "ENTERPRISEPACK");
        assert_eq!(super::sku_name("E3"), "E3");
    }
}
