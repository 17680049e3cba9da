//! `/api/v1/licenses`: license SKUs (Get-MsolAccountSku), each provisioned user's
//! licenses and grace period (Get-MsolUser), and assigning and unassigning
//! (Set-MsolUserLicense), through the operations of [`crate::licenses`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiJson, ApiQuery, ApiResult, AppState, ErrorBody};
use crate::licenses::{self, AccountSkuView, AssignOutcome, LicenseError, UserLicenseView};

impl From<LicenseError> for ApiError {
    fn from(e: LicenseError) -> Self {
        match e {
            LicenseError::Store(e) => e.into(),
            LicenseError::Invalid(_) => ApiError::invalid(e.to_string()),
            LicenseError::NoTargetDirectory { .. } | LicenseError::Directory(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DirectoryUnwritable",
                e.to_string(),
            ),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LicenseFilter {
    /// Only users without a license (Get-MsolUser -UnlicensedUsersOnly).
    #[serde(default)]
    pub unlicensed_only: bool,
}

/// Every provisioned user with its licenses, and for an unlicensed one the end of its
/// grace period, the days left, and whether its login is disabled on the target.
#[utoipa::path(get, path = "/api/v1/licenses", tag = "licenses", params(LicenseFilter),
    responses((status = 200, body = Vec<UserLicenseView>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_user_licenses(
    State(s): State<AppState>,
    ApiQuery(filter): ApiQuery<LicenseFilter>,
) -> ApiResult<Json<Vec<UserLicenseView>>> {
    Ok(Json(
        licenses::user_licenses(s.store.as_ref(), Utc::now(), filter.unlicensed_only).await?,
    ))
}

/// The license SKUs with their units and how many are assigned.
#[utoipa::path(get, path = "/api/v1/licenses/skus", tag = "licenses",
    responses((status = 200, body = Vec<AccountSkuView>)))]
pub(super) async fn list_skus(State(s): State<AppState>) -> ApiResult<Json<Vec<AccountSkuView>>> {
    Ok(Json(licenses::skus(s.store.as_ref()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NewSkuRequest {
    pub name: String,
    /// How many users it can license; absent: as many as needed.
    pub units: Option<u64>,
}

/// Adds a license SKU (`cutover license sku add`).
#[utoipa::path(post, path = "/api/v1/licenses/skus", tag = "licenses", request_body = NewSkuRequest,
    responses((status = 201, body = AccountSkuView),
        (status = 409, description = "A SKU of that name exists", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn add_sku(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<NewSkuRequest>,
) -> ApiResult<(StatusCode, Json<AccountSkuView>)> {
    let sku = licenses::add_sku(s.store.as_ref(), &req.name, req.units).await?;
    Ok((StatusCode::CREATED, Json(sku)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LicenseChangeRequest {
    /// The user's address.
    pub user_principal_name: String,
    pub account_sku_id: String,
}

/// What an assignment changed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct LicenseChangeView {
    pub user_principal_name: String,
    pub account_sku_id: String,
    /// False when the user held it already (or did not hold it).
    pub changed: bool,
    /// False when the user is not provisioned (yet): the license waits for it.
    pub provisioned: bool,
    /// Why the login could not be given back on the target now (the scheduler tries
    /// again); absent when it was, or nothing was to do.
    pub enforcement_error: Option<String>,
}

fn change_view(req: &LicenseChangeRequest, out: AssignOutcome) -> LicenseChangeView {
    LicenseChangeView {
        user_principal_name: req.user_principal_name.trim().to_ascii_lowercase(),
        account_sku_id: req.account_sku_id.clone(),
        changed: out.changed,
        provisioned: !out.not_provisioned,
        enforcement_error: match out.enforced {
            Some(Ok(e)) if !e.failed.is_empty() => Some(
                e.failed
                    .iter()
                    .map(|(u, why)| format!("{u}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Some(Err(e)) => Some(e),
            _ => None,
        },
    }
}

/// Gives a user a license (Set-MsolUserLicense -AddLicenses); a login disabled for the
/// want of one is given back at once.
#[utoipa::path(post, path = "/api/v1/licenses/assign", tag = "licenses",
    request_body = LicenseChangeRequest,
    responses((status = 200, body = LicenseChangeView), (status = 404, body = ErrorBody),
        (status = 409, description = "Every unit of the SKU is assigned", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn assign(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LicenseChangeRequest>,
) -> ApiResult<Json<LicenseChangeView>> {
    let out = licenses::assign(
        s.store.as_ref(),
        &req.user_principal_name,
        &req.account_sku_id,
        Utc::now(),
    )
    .await?;
    Ok(Json(change_view(&req, out)))
}

/// Takes a license from a user (Set-MsolUserLicense -RemoveLicenses).
#[utoipa::path(post, path = "/api/v1/licenses/unassign", tag = "licenses",
    request_body = LicenseChangeRequest,
    responses((status = 200, body = LicenseChangeView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn unassign(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LicenseChangeRequest>,
) -> ApiResult<Json<LicenseChangeView>> {
    let out = licenses::unassign(
        s.store.as_ref(),
        &req.user_principal_name,
        &req.account_sku_id,
    )
    .await?;
    Ok(Json(change_view(&req, out)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::State;
    use serde_json::Value;

    use super::*;
    use crate::live::Live;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    async fn state(dir: &tempfile::TempDir) -> AppState {
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        AppState {
            store: cutover_store::open(&url, None).await.unwrap(),
            live: Arc::new(Live::default()),
            shutdown: tokio::sync::watch::channel(false).1,
            signing_key_file: dir.path().join("signing-key"),
        }
    }

    /// The handlers over a real store: a SKU added, assigned until full (409 with the
    /// store's words), listed with its consumed units; the document names every property
    /// they send.
    #[tokio::test]
    async fn skus_are_added_assigned_until_full_and_documented() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(&dir).await;
        let (status, Json(sku)) = add_sku(
            State(s.clone()),
            ApiJson(NewSkuRequest {
                name: "E3".into(),
                units: Some(1),
            }),
        )
        .await
        .unwrap();
        assert_eq!(status, StatusCode::CREATED);
        let request = |user: &str| LicenseChangeRequest {
            user_principal_name: user.into(),
            account_sku_id: "e3".into(),
        };
        let Json(changed) = assign(State(s.clone()), ApiJson(request("A@x.test")))
            .await
            .unwrap();
        assert!(changed.changed && !changed.provisioned, "{changed:?}");
        assert_eq!(changed.user_principal_name, "a@x.test");
        assert_eq!(changed.enforcement_error, None);
        let full = assign(State(s.clone()), ApiJson(request("b@x.test")))
            .await
            .unwrap_err();
        assert_eq!(full.status, StatusCode::CONFLICT);
        assert!(
            full.body.message.contains("(1 of 1)"),
            "{}",
            full.body.message
        );
        let bad = assign(State(s.clone()), ApiJson(request("not an address")))
            .await
            .unwrap_err();
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let Json(skus) = list_skus(State(s.clone())).await.unwrap();
        assert_eq!(skus[0].consumed_units, 1);
        let Json(users) = list_user_licenses(
            State(s.clone()),
            ApiQuery(LicenseFilter {
                unlicensed_only: false,
            }),
        )
        .await
        .unwrap();
        assert!(users.is_empty(), "nobody is provisioned: {users:?}");

        let doc = serde_json::to_value(super::super::routes().1).unwrap();
        let schemas = &doc["components"]["schemas"];
        let view = UserLicenseView {
            user_principal_name: "a@x.test".into(),
            is_licensed: false,
            licenses: Vec::new(),
            license_status: "Unlicensed".into(),
            provisioned: None,
            grace_period_ends: None,
            days_left: Some(3),
            login_disabled: false,
            login_disabled_since: None,
        };
        for (name, sent) in [
            ("AccountSkuView", serde_json::to_value(&sku).unwrap()),
            ("UserLicenseView", serde_json::to_value(&view).unwrap()),
            ("LicenseChangeView", serde_json::to_value(&changed).unwrap()),
        ] {
            assert_eq!(keys(&schemas[name]["properties"]), keys(&sent), "{name}");
        }
        for path in [
            "/api/v1/licenses",
            "/api/v1/licenses/skus",
            "/api/v1/licenses/assign",
            "/api/v1/licenses/unassign",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        s.store.close().await;
    }
}
