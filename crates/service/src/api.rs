//! The HTTP API, `/api/v1/...`: JSON with the CLI's property names (see [`crate::views`]),
//! a bearer token on every request, and errors as `{"Code": ..., "Message": ...}` with
//! a 4xx status that says what is wrong. The OpenAPI document
//! (`/api/v1/openapi.json`) is generated from the handlers and types below.

use std::convert::Infallible;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::Utc;
use cutover_model::{EmailAddress, FolderMapEntry, UserStatus, parse_users_csv};
use cutover_store::{NewUser, Store, StoreError, UserQuery, UserSort};
use futures::Stream;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod licenses;

use crate::control::{self, ControlError, NewBatch};
use crate::live::{EventView, Live};
use crate::report::{self, UserReport};
use crate::throughput::{self, ThroughputView};
use crate::views::{
    BatchView, EndpointView, JobView, PreflightView, RecipientView, SkippedItemView, TargetView,
    UserStatsView, UserView,
};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
    /// Turns true when the service shuts down: event streams end then.
    pub shutdown: watch::Receiver<bool>,
    /// The installation's Ed25519 key, which signs completeness proofs.
    pub signing_key_file: std::path::PathBuf,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    /// Unauthorized, NotFound, Conflict, InvalidRequest, StillRunning or Internal.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
            },
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "InvalidRequest", message)
    }

    fn not_found(what: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{what} '{name}' was not found"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "NotFound", e.to_string())
            }
            StoreError::AlreadyExists { .. }
            | StoreError::OneCutoverBatch { .. }
            | StoreError::EndpointInUse { .. }
            | StoreError::LicenseSkuFull { .. }
            | StoreError::LicenseSkuUnits { .. } => {
                Self::new(StatusCode::CONFLICT, "Conflict", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "the state store failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal",
                    format!("the state store failed: {other}"),
                )
            }
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "NotFound", e.to_string())
            }
            ControlError::IllegalState { .. } => {
                Self::new(StatusCode::CONFLICT, "Conflict", e.to_string())
            }
            ControlError::StillRunning { .. } => {
                Self::new(StatusCode::CONFLICT, "StillRunning", e.to_string())
            }
            ControlError::Invalid(_) => Self::invalid(e.to_string()),
            ControlError::Directory { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "DirectoryUnreadable",
                e.to_string(),
            ),
            ControlError::PreflightBlocked { .. } => {
                Self::new(StatusCode::CONFLICT, "PreflightBlocked", e.to_string())
            }
            ControlError::Store(e) => e.into(),
        }
    }
}

/// A JSON body whose faults (bad JSON, unknown or missing fields, wrong type) answer
/// with an [`ErrorBody`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let code = if status == StatusCode::UNPROCESSABLE_ENTITY {
        "InvalidRequest"
    } else {
        "BadRequest"
    };
    ApiError::new(status, code, r.body_text())
}

/// Query parameters whose faults answer with an [`ErrorBody`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", r.body_text())
}

type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------- endpoints

/// Every migration endpoint (Get-MigrationEndpoint).
#[utoipa::path(get, path = "/api/v1/endpoints", tag = "endpoints",
    responses((status = 200, body = Vec<EndpointView>), (status = 401, body = ErrorBody)))]
async fn list_endpoints(State(s): State<AppState>) -> ApiResult<Json<Vec<EndpointView>>> {
    let mut views = Vec::new();
    for e in s.store.endpoints().await? {
        let discovered = s.store.endpoint_discovery(e.name.as_str()).await?;
        let directory = s.store.endpoint_directory(e.name.as_str()).await?;
        views.push(EndpointView::new(&e, discovered.as_ref()).with_directory(directory.as_ref()));
    }
    Ok(Json(views))
}

/// One migration endpoint.
#[utoipa::path(get, path = "/api/v1/endpoints/{name}", tag = "endpoints",
    params(("name" = String, Path, description = "The endpoint's name")),
    responses((status = 200, body = EndpointView), (status = 404, body = ErrorBody)))]
async fn get_endpoint(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    let e = s
        .store
        .endpoint(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint", &name))?;
    let discovered = s.store.endpoint_discovery(e.name.as_str()).await?;
    let directory = s.store.endpoint_directory(e.name.as_str()).await?;
    Ok(Json(
        EndpointView::new(&e, discovered.as_ref()).with_directory(directory.as_ref()),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DirectoryParams {
    /// Only this kind: Mailbox, MailUser, MailContact, DistributionGroup, SecurityGroup
    /// (or Exchange's RecipientType).
    pub kind: Option<String>,
    /// With each group's member DNs, not only their count.
    #[serde(default)]
    pub members: bool,
}

/// The source organization's recipients, read now from the endpoint's directory
/// (Get-Recipient): kind, RecipientType, addresses, member counts.
#[utoipa::path(get, path = "/api/v1/endpoints/{name}/directory", tag = "endpoints",
    params(("name" = String, Path, description = "The endpoint's name"), DirectoryParams),
    responses((status = 200, body = Vec<RecipientView>), (status = 404, body = ErrorBody),
        (status = 502, description = "The directory could not be read", body = ErrorBody)))]
async fn get_endpoint_directory(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<DirectoryParams>,
) -> ApiResult<Json<Vec<RecipientView>>> {
    let kind: Option<cutover_model::RecipientKind> = params
        .kind
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(ApiError::invalid)?;
    let e = s
        .store
        .endpoint(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint", &name))?;
    let directory = s
        .store
        .endpoint_directory(e.name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("directory of endpoint", &name))?;
    let password = s.store.endpoint_directory_password(e.name.as_str()).await?;
    let unreadable = |e: cutover_directory::DirectoryError| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "DirectoryUnreadable",
            e.to_string(),
        )
    };
    let mut reader = cutover_directory::DirectoryReader::connect(&directory, &password)
        .await
        .map_err(unreadable)?;
    let recipients = reader.recipients().await.map_err(unreadable)?;
    reader.unbind().await;
    Ok(Json(
        recipients
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .map(|r| RecipientView::new(r, params.members))
            .collect(),
    ))
}

/// The target system's connection (`cutover target get`); its password is never shown.
#[utoipa::path(get, path = "/api/v1/target", tag = "endpoints",
    responses((status = 200, body = TargetView),
        (status = 404, description = "No target is set", body = ErrorBody)))]
async fn get_target(State(s): State<AppState>) -> ApiResult<Json<TargetView>> {
    let t = s.store.target().await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no target is set; run `cutover target set --server ... --admin ...`",
        )
    })?;
    let directory = s.store.target_directory().await?;
    Ok(Json(TargetView::new(&t).with_directory(directory.as_ref())))
}

// ---------------------------------------------------------------- batches

async fn batch_view(s: &AppState, batch: &cutover_model::Batch) -> ApiResult<BatchView> {
    let users = s.store.users(Some(batch.name.as_str()), None).await?;
    let dav = crate::calendars::batch_dav(s.store.as_ref(), batch, &users).await?;
    let mut view = BatchView::new(batch, &users).with_dav(dav.as_deref());
    let now = Utc::now();
    let recent = s
        .store
        .throughput(batch.name.as_str(), now - chrono::Duration::seconds(70))
        .await?;
    let rate = throughput::recent_rate(&recent, now);
    view.throughput_bytes_per_second = Some(rate);
    view.estimated_time_left = BatchView::time_left(&users, rate);
    Ok(view)
}

fn changed(s: &AppState, batch: &str, status: &str) {
    s.live.publish(EventView::BatchChanged {
        batch: batch.to_string(),
        status: status.to_string(),
    });
}

/// Every batch (Get-MigrationBatch); there is at most one cutover batch.
#[utoipa::path(get, path = "/api/v1/batches", tag = "batches",
    responses((status = 200, body = Vec<BatchView>), (status = 401, body = ErrorBody)))]
async fn list_batches(State(s): State<AppState>) -> ApiResult<Json<Vec<BatchView>>> {
    let mut views = Vec::new();
    for b in s.store.batches().await? {
        views.push(batch_view(&s, &b).await?);
    }
    Ok(Json(views))
}

/// One user of a new batch, as a row of Exchange's users CSV.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NewUserRequest {
    pub email_address: String,
    /// The source login, when it is not the address.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The user's own source password (for `per-user` impersonation); stored
    /// encrypted, never shown again.
    #[serde(default)]
    pub password: Option<String>,
}

/// A new cutover batch (New-MigrationBatch). Give the users as `Users` or as the text of
/// a users CSV (`UsersCsv`, header `EmailAddress,UserName,Password`), or neither to read
/// the whole organization from the endpoint's directory (`AllMailboxes`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NewBatchRequest {
    pub name: String,
    pub source_endpoint: String,
    #[serde(default)]
    pub users: Vec<NewUserRequest>,
    #[serde(default)]
    pub users_csv: Option<String>,
    /// Every mailbox, mail user, contact and mail-enabled group of the endpoint's
    /// directory, each with its kind; the default when no users are given.
    #[serde(default)]
    pub all_mailboxes: bool,
    /// Start the batch right away.
    #[serde(default)]
    pub auto_start: bool,
    #[serde(default)]
    pub bad_item_limit: u32,
    #[serde(default)]
    pub large_item_limit: u32,
    /// Source folders to leave out (display names; subfolders go with them).
    #[serde(default)]
    pub exclude_folders: Vec<String>,
    /// 'Source Name=Target Name' entries, '/' between levels.
    #[serde(default)]
    pub folder_map: Vec<String>,
    /// Hours between incremental syncs (24 when absent).
    #[serde(default)]
    pub incremental_interval_hours: Option<u32>,
    /// The brake on mass removal, in percent of a mailbox's migrated messages (10 when
    /// absent).
    #[serde(default)]
    pub removal_threshold_percent: Option<u32>,
    /// Who gets the notification e-mails (initial sync finished, users failed, reports
    /// with the two CSVs attached); none: no mail.
    #[serde(default)]
    pub notification_emails: Vec<String>,
    /// Hours between report mails (24 when absent).
    #[serde(default)]
    pub report_interval_hours: Option<u32>,
    /// No periodic report mails (the initial-sync and failure mails still go out).
    #[serde(default)]
    pub skip_reports: bool,
}

/// Set-MigrationBatch: what is given replaces the setting, what is absent stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BatchChangesRequest {
    #[serde(default)]
    pub bad_item_limit: Option<u32>,
    #[serde(default)]
    pub large_item_limit: Option<u32>,
    #[serde(default)]
    pub removal_threshold_percent: Option<u32>,
    /// Replaces the notification addresses; `[]` stops the mails.
    #[serde(default)]
    pub notification_emails: Option<Vec<String>>,
    #[serde(default)]
    pub report_interval_hours: Option<u32>,
    #[serde(default)]
    pub skip_reports: Option<bool>,
}

/// Parses the notification addresses, naming the bad one.
fn notification_emails(given: &[String]) -> ApiResult<Vec<EmailAddress>> {
    given
        .iter()
        .enumerate()
        .map(|(i, a)| {
            EmailAddress::from_str(a.trim())
                .map_err(|e| ApiError::invalid(format!("NotificationEmails[{i}]: {e}")))
        })
        .collect()
}

fn new_users(req: &mut NewBatchRequest) -> ApiResult<Vec<NewUser>> {
    match (req.users_csv.take(), req.users.is_empty()) {
        (Some(_), false) => Err(ApiError::invalid(
            "give the users either as Users or as UsersCsv, not both",
        )),
        (Some(csv), true) => Ok(parse_users_csv(&csv)
            .map_err(|e| ApiError::invalid(format!("UsersCsv: {e}")))?
            .into_iter()
            .map(|r| NewUser {
                email: r.email,
                source_login: r.user_name,
                password: r.password,
                kind: cutover_model::RecipientKind::Mailbox,
            })
            .collect()),
        (None, _) => {
            let mut seen = std::collections::HashSet::new();
            std::mem::take(&mut req.users)
                .into_iter()
                .enumerate()
                .map(|(i, u)| {
                    let email = EmailAddress::from_str(u.email_address.trim())
                        .map_err(|e| ApiError::invalid(format!("Users[{i}].EmailAddress: {e}")))?;
                    if !seen.insert(email.as_str().to_ascii_lowercase()) {
                        return Err(ApiError::invalid(format!(
                            "Users[{i}].EmailAddress: {email} is listed twice"
                        )));
                    }
                    Ok(NewUser {
                        email,
                        source_login: u.user_name.filter(|n| !n.trim().is_empty()),
                        password: u.password.filter(|p| !p.is_empty()).map(SecretString::from),
                        kind: cutover_model::RecipientKind::Mailbox,
                    })
                })
                .collect()
        }
    }
}

/// Creates the cutover batch (New-MigrationBatch); only one may exist at a time.
#[utoipa::path(post, path = "/api/v1/batches", tag = "batches", request_body = NewBatchRequest,
    responses((status = 201, body = BatchView),
        (status = 400, description = "Not JSON, or not the JSON expected", body = ErrorBody),
        (status = 404, description = "The source endpoint does not exist", body = ErrorBody),
        (status = 409, description = "A cutover batch exists already", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_batch(
    State(s): State<AppState>,
    ApiJson(mut req): ApiJson<NewBatchRequest>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    let listed = !req.users.is_empty() || req.users_csv.is_some();
    if req.all_mailboxes && listed {
        return Err(ApiError::invalid(
            "AllMailboxes reads the users from the endpoint's directory: give no Users or UsersCsv with it",
        ));
    }
    let from_directory = !listed;
    let users = if from_directory {
        crate::organization::organization_users(s.store.as_ref(), &req.source_endpoint).await?
    } else {
        new_users(&mut req)?
    };
    let folder_map = req
        .folder_map
        .iter()
        .map(|f| {
            FolderMapEntry::from_str(f).map_err(|e| ApiError::invalid(format!("FolderMap: {e}")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let batch = control::create_batch(
        s.store.as_ref(),
        NewBatch {
            name: req.name,
            source_endpoint: req.source_endpoint,
            users,
            bad_item_limit: req.bad_item_limit,
            large_item_limit: req.large_item_limit,
            excluded_folders: req.exclude_folders,
            folder_map,
            incremental_interval_hours: req
                .incremental_interval_hours
                .unwrap_or(cutover_model::Batch::DEFAULT_INCREMENTAL_INTERVAL_HOURS as u32),
            removal_threshold_percent: req
                .removal_threshold_percent
                .unwrap_or(cutover_model::Batch::DEFAULT_REMOVAL_THRESHOLD_PERCENT),
            notification_emails: notification_emails(&req.notification_emails)?,
            report_interval_hours: req
                .report_interval_hours
                .unwrap_or(cutover_model::Batch::DEFAULT_REPORT_INTERVAL_HOURS as u32),
            skip_reports: req.skip_reports,
            auto_start: req.auto_start,
            skip_domain_check: false,
            from_directory,
        },
    )
    .await?;
    changed(&s, batch.name.as_str(), batch.status.as_str());
    Ok((StatusCode::CREATED, Json(batch_view(&s, &batch).await?)))
}

/// One batch with its counts (Get-MigrationBatch); cheap enough to poll.
#[utoipa::path(get, path = "/api/v1/batches/{name}", tag = "batches",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody)))]
async fn get_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<BatchView>> {
    let b = control::load_batch(s.store.as_ref(), &name).await?;
    Ok(Json(batch_view(&s, &b).await?))
}

/// Changes the batch's settings (Set-MigrationBatch): item limits, the removal
/// threshold, the notification e-mails; they apply from the next pass.
#[utoipa::path(patch, path = "/api/v1/batches/{name}", tag = "batches",
    params(("name" = String, Path, description = "The batch's name")),
    request_body = BatchChangesRequest,
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody),
        (status = 400, description = "Not JSON, or not the JSON expected", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn set_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<BatchChangesRequest>,
) -> ApiResult<Json<BatchView>> {
    let changes = control::BatchChanges {
        bad_item_limit: req.bad_item_limit,
        large_item_limit: req.large_item_limit,
        removal_threshold_percent: req.removal_threshold_percent,
        notification_emails: req
            .notification_emails
            .as_deref()
            .map(notification_emails)
            .transpose()?,
        report_interval_hours: req.report_interval_hours,
        skip_reports: req.skip_reports,
    };
    if changes.is_empty() {
        return Err(ApiError::invalid(
            "nothing to change: give BadItemLimit, LargeItemLimit, RemovalThresholdPercent, \
             NotificationEmails, ReportIntervalHours and/or SkipReports",
        ));
    }
    let b = control::set_batch(s.store.as_ref(), &name, changes).await?;
    changed(&s, b.name.as_str(), b.status.as_str());
    Ok(Json(batch_view(&s, &b).await?))
}

/// Starts the batch (Start-MigrationBatch); on a Synced batch, asks for an incremental
/// sync now.
#[utoipa::path(post, path = "/api/v1/batches/{name}/start", tag = "batches",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody),
        (status = 409, description = "Not in a state that can start", body = ErrorBody)))]
async fn start_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<BatchView>> {
    let (b, _warnings) = control::start_batch(s.store.as_ref(), &name).await?;
    changed(&s, b.name.as_str(), b.status.as_str());
    Ok(Json(batch_view(&s, &b).await?))
}

/// Preflight of the batch, now (`cutover batch preflight`): what must be fixed before it
/// may start (Blocking) and what will not carry over (Warning), each naming its objects
/// and what to do. Reads the source and target directories.
#[utoipa::path(get, path = "/api/v1/batches/{name}/preflight", tag = "batches",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, body = PreflightView), (status = 404, body = ErrorBody),
        (status = 502, description = "A directory could not be read", body = ErrorBody)))]
async fn batch_preflight(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<PreflightView>> {
    let (b, findings) = control::preflight(s.store.as_ref(), &name).await?;
    Ok(Json(PreflightView::new(&b, &findings, Utc::now())))
}

/// Stops the batch's users (Stop-MigrationBatch); running passes stop within seconds.
#[utoipa::path(post, path = "/api/v1/batches/{name}/stop", tag = "batches",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody)))]
async fn stop_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<BatchView>> {
    let b = control::stop_batch(s.store.as_ref(), &name).await?;
    changed(&s, b.name.as_str(), b.status.as_str());
    Ok(Json(batch_view(&s, &b).await?))
}

/// Approves every item the batch's users skipped so far (Set-MigrationBatch
/// -ApproveSkippedItems): the batch is Synced again unless users failed, and approved
/// items no longer count against BadItemLimit / LargeItemLimit.
#[utoipa::path(post, path = "/api/v1/batches/{name}/approve-skipped-items", tag = "batches",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody)))]
async fn approve_skipped_items(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<BatchView>> {
    let (b, _) = control::approve_skipped_items(s.store.as_ref(), &name).await?;
    changed(&s, b.name.as_str(), b.status.as_str());
    Ok(Json(batch_view(&s, &b).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OnlyUser {
    /// Only this user of the batch (every user when absent).
    pub user: Option<String>,
}

/// Approves the removals the brake held (a pass that would have removed more than the
/// batch's RemovalThresholdPercent of a mailbox, or a whole folder): the users' next pass
/// makes them.
#[utoipa::path(post, path = "/api/v1/batches/{name}/approve-removals", tag = "batches",
    params(("name" = String, Path, description = "The batch's name"), OnlyUser),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody)))]
async fn approve_removals(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<OnlyUser>,
) -> ApiResult<Json<BatchView>> {
    let (b, _) = control::approve_removals(s.store.as_ref(), &name, params.user.as_deref()).await?;
    changed(&s, b.name.as_str(), b.status.as_str());
    Ok(Json(batch_view(&s, &b).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveParams {
    /// Remove even while the initial sync runs, and do not wait long for passes.
    #[serde(default)]
    pub force: bool,
}

/// Removes the batch and its users (Remove-MigrationBatch): incremental sync stops, the
/// migrated mail stays on the target. Waits for running passes to stop.
#[utoipa::path(delete, path = "/api/v1/batches/{name}", tag = "batches",
    params(("name" = String, Path, description = "The batch's name"), RemoveParams),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody),
        (status = 409, description = "In its initial sync, the MX switch not seen or not synced after (use force), or passes did not stop", body = ErrorBody)))]
async fn remove_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<RemoveParams>,
) -> ApiResult<StatusCode> {
    let removed = control::remove_batch(s.store.as_ref(), &name, params.force).await?;
    if let Some(warning) = removed.warning {
        tracing::warn!(batch = name, "{warning}");
    }
    changed(&s, &name, "Removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Which of a batch's users, in which order, and which page of them.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserPageParams {
    /// Only users whose address or status contains this text (any case).
    pub filter: Option<String>,
    /// Only users in this status (Queued, Syncing, Synced, IncrementalSyncing, Stopped, Failed).
    pub status: Option<String>,
    /// position (the users CSV's order, the default), email, status, progress,
    /// items_synced, items_skipped, bytes_synced, last_synced or error.
    pub sort: Option<String>,
    /// asc (the default) or desc.
    pub order: Option<String>,
    /// Users to pass over first (0 when absent).
    pub offset: Option<u64>,
    /// At most this many users; every matching user when absent.
    pub limit: Option<u64>,
}

fn bad_request(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn parse_status(status: Option<&str>) -> ApiResult<Option<UserStatus>> {
    status
        .map(|st| {
            st.parse::<UserStatus>()
                .map_err(|e| bad_request(format!("status: {e}")))
        })
        .transpose()
}

/// The users of one batch (Get-MigrationUser -BatchId), a page at a time when asked:
/// filtered, sorted and sliced by the store, with the number of users that match in the
/// `X-Total-Count` header.
#[utoipa::path(get, path = "/api/v1/batches/{name}/users", tag = "users",
    params(("name" = String, Path, description = "The batch's name"), UserPageParams),
    responses((status = 200, body = Vec<UserView>,
            headers(("X-Total-Count" = u64, description = "Users that match, on every page"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn batch_users(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<UserPageParams>,
) -> ApiResult<Response> {
    let b = control::load_batch(s.store.as_ref(), &name).await?;
    let query = UserQuery {
        filter: params.filter,
        status: parse_status(params.status.as_deref())?,
        sort: params
            .sort
            .as_deref()
            .map(UserSort::from_str)
            .transpose()
            .map_err(|e| bad_request(format!("sort: {e}")))?
            .unwrap_or_default(),
        descending: match params
            .order
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(bad_request(format!(
                    "order: '{other}' is neither asc nor desc"
                )));
            }
        },
        offset: params.offset.unwrap_or(0),
        limit: params.limit,
    };
    let page = s.store.users_page(b.name.as_str(), &query).await?;
    let now = Utc::now();
    let dav = crate::calendars::batch_dav(s.store.as_ref(), &b, &page.users).await?;
    let users: Vec<UserView> = page
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| UserView::at(u, now).with_dav(dav.as_ref().and_then(|d| d.get(i))))
        .collect();
    Ok((
        [(
            header::HeaderName::from_static("x-total-count"),
            page.total.to_string(),
        )],
        Json(users),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ThroughputParams {
    /// How far back, in minutes: since the batch started, at most a day, when absent.
    pub minutes: Option<u32>,
}

/// The batch's throughput over time: at most 61 stretches of whole ten-second buckets,
/// empty ones included (the dashboard's chart).
#[utoipa::path(get, path = "/api/v1/batches/{name}/throughput", tag = "batches",
    params(("name" = String, Path, description = "The batch's name"), ThroughputParams),
    responses((status = 200, body = ThroughputView), (status = 404, body = ErrorBody)))]
async fn batch_throughput(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<ThroughputParams>,
) -> ApiResult<Json<ThroughputView>> {
    let b = control::load_batch(s.store.as_ref(), &name).await?;
    let now = Utc::now();
    let from = match params.minutes {
        Some(m) => now - chrono::Duration::minutes(i64::from(m.max(1))),
        None => {
            let day_ago = now - chrono::Duration::days(1);
            b.started_at.unwrap_or(b.created_at).clamp(day_ago, now)
        }
    };
    let buckets = s
        .store
        .throughput(
            b.name.as_str(),
            from.min(now - chrono::Duration::seconds(70)),
        )
        .await?;
    Ok(Json(throughput::series(&buckets, from, now)))
}

// ---------------------------------------------------------------- reports

/// A CSV report as a download: its file name, not cached (it names people and their
/// mail).
fn csv_download(file: &'static str, text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        text,
    )
        .into_response()
}

/// The batch's MigrationStatistics.csv: one row per user (EmailAddress, Status,
/// TotalItemsInSourceMailboxCount, ItemsSynced, ItemsSkipped, BadItemCount,
/// LargeItemCount, BytesTransferred, LastSuccessfulSyncTimestamp, DataConsistencyScore,
/// ErrorSummary), in the order of the users CSV.
#[utoipa::path(get, path = "/api/v1/batches/{name}/report/statistics.csv", tag = "reports",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, content_type = "text/csv", body = String,
            description = "MigrationStatistics.csv (UTF-8 with a byte order mark)"),
        (status = 404, body = ErrorBody)))]
async fn statistics_report(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let (_, users) = control::batch_report(s.store.as_ref(), &name).await?;
    Ok(csv_download(
        report::STATISTICS_FILE,
        report::statistics_csv(&users),
    ))
}

/// The batch's MigrationErrors.csv: a row per user that failed or has an ErrorSummary
/// (Kind Error or Warning) and per skipped item (Kind BadItem or LargeItem, with
/// Folder, Subject, SourceUid, Size, Reason, DateSkipped, ApprovedDateTime). Cells a
/// spreadsheet would take for a formula start with `'`.
#[utoipa::path(get, path = "/api/v1/batches/{name}/report/errors.csv", tag = "reports",
    params(("name" = String, Path, description = "The batch's name")),
    responses((status = 200, content_type = "text/csv", body = String,
            description = "MigrationErrors.csv (UTF-8 with a byte order mark)"),
        (status = 404, body = ErrorBody)))]
async fn errors_report(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let (_, users) = control::batch_report(s.store.as_ref(), &name).await?;
    Ok(csv_download(
        report::ERRORS_FILE,
        report::errors_csv(&users),
    ))
}

/// The completeness proof: every folder of the batch's mailboxes listed on both servers
/// (reading only), the messages on both sides, and each one on one side only with why;
/// signed with the installation's Ed25519 key (`cutover report verify FILE` checks a
/// saved answer). Takes as long as listing every mailbox does.
#[utoipa::path(post, path = "/api/v1/batches/{name}/proof", tag = "reports",
    params(("name" = String, Path, description = "The batch's name"), OnlyUser),
    responses((status = 200, content_type = "application/json", body = Object,
            description = "The signed document, as `cutover report proof` writes it"),
        (status = 404, body = ErrorBody)))]
async fn completeness_proof(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<OnlyUser>,
) -> ApiResult<Response> {
    let (doc, _, _) = crate::proof::make(
        s.store.as_ref(),
        &name,
        params.user.as_deref(),
        &s.signing_key_file,
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"completeness-proof-{name}.json\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        crate::proof::to_text(&doc),
    )
        .into_response())
}

/// One user's report: its row of MigrationStatistics.csv and its rows of
/// MigrationErrors.csv, with every value exact.
#[utoipa::path(get, path = "/api/v1/users/{email}/report", tag = "reports",
    params(("email" = String, Path, description = "The mailbox's address")),
    responses((status = 200, body = UserReport), (status = 404, body = ErrorBody)))]
async fn user_report(
    State(s): State<AppState>,
    Path(email): Path<String>,
) -> ApiResult<Json<UserReport>> {
    let u = control::user_report(s.store.as_ref(), &email).await?;
    Ok(Json(UserReport::new(&u)))
}

// ---------------------------------------------------------------- users

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only users of this batch.
    pub batch: Option<String>,
    /// Only users in this status (Queued, Syncing, Synced, IncrementalSyncing, Stopped, Failed).
    pub status: Option<String>,
}

/// Migration users (Get-MigrationUser), in the order of the users CSV.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilter),
    responses((status = 200, body = Vec<UserView>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_users(
    State(s): State<AppState>,
    ApiQuery(filter): ApiQuery<UserFilter>,
) -> ApiResult<Json<Vec<UserView>>> {
    let status = parse_status(filter.status.as_deref())?;
    if let Some(b) = &filter.batch {
        control::load_batch(s.store.as_ref(), b).await?;
    }
    let users = s.store.users(filter.batch.as_deref(), status).await?;
    let mut views = Vec::with_capacity(users.len());
    for u in &users {
        let dav = crate::calendars::user_dav(s.store.as_ref(), u).await?;
        views.push(UserView::new(u).with_dav(dav.as_ref()));
    }
    Ok(Json(views))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Only the jobs of this batch.
    pub batch: Option<String>,
}

/// The scheduler's jobs: each batch's round of work, which worker runs what, and what
/// waits to try again.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "batches", params(JobFilter),
    responses((status = 200, body = Vec<JobView>), (status = 404, body = ErrorBody)))]
async fn list_jobs(
    State(s): State<AppState>,
    ApiQuery(filter): ApiQuery<JobFilter>,
) -> ApiResult<Json<Vec<JobView>>> {
    if let Some(b) = &filter.batch {
        control::load_batch(s.store.as_ref(), b).await?;
    }
    let now = chrono::Utc::now();
    let jobs = s.store.jobs(filter.batch.as_deref()).await?;
    Ok(Json(jobs.iter().map(|j| JobView::at(j, now)).collect()))
}

async fn load_user(s: &AppState, email: &str) -> ApiResult<cutover_model::MigrationUser> {
    s.store
        .user(email)
        .await?
        .ok_or_else(|| ApiError::not_found("migration user", email))
}

/// One migration user (Get-MigrationUser).
#[utoipa::path(get, path = "/api/v1/users/{email}", tag = "users",
    params(("email" = String, Path, description = "The mailbox's address")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(s): State<AppState>,
    Path(email): Path<String>,
) -> ApiResult<Json<UserView>> {
    let user = load_user(&s, &email).await?;
    let provisioning = s.store.provisioning(user.email.as_str()).await?;
    let dav = crate::calendars::user_dav(s.store.as_ref(), &user).await?;
    Ok(Json(
        UserView::new(&user)
            .with_provisioning(provisioning.as_ref())
            .with_dav(dav.as_ref()),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// List the skipped messages, with kind, folder, subject, size and reason.
    #[serde(default)]
    pub include_skipped_items: bool,
}

/// A user's statistics (Get-MigrationUserStatistics), with its skipped items when asked.
#[utoipa::path(get, path = "/api/v1/users/{email}/statistics", tag = "users",
    params(("email" = String, Path, description = "The mailbox's address"), StatsParams),
    responses((status = 200, body = UserStatsView), (status = 404, body = ErrorBody)))]
async fn user_statistics(
    State(s): State<AppState>,
    Path(email): Path<String>,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> ApiResult<Json<UserStatsView>> {
    let u = load_user(&s, &email).await?;
    let skipped = if params.include_skipped_items {
        Some(crate::calendars::skipped_items(s.store.as_ref(), u.email.as_str()).await?)
    } else {
        None
    };
    let dav = crate::calendars::user_dav(s.store.as_ref(), &u).await?;
    Ok(Json(
        UserStatsView::new(&u, skipped.as_deref()).with_dav(dav.as_ref()),
    ))
}

// ---------------------------------------------------------------- events

/// Progress as Server-Sent Events: each event's name is its `Type`, its data the JSON
/// of an [`EventView`]. Only what happens after the client connected is sent; read the
/// batch and users first, then follow the stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, content_type = "text/event-stream", body = EventView)))]
async fn events(State(s): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.live.subscribe();
    let stream = futures::stream::unfold(
        (rx, s.shutdown.clone()),
        |(mut rx, mut shutdown)| async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                tokio::select! {
                    got = rx.recv() => match got {
                        Ok(ev) => {
                            let event = Event::default()
                                .event(ev.kind())
                                .json_data(&ev)
                                .unwrap_or_else(|_| Event::default().comment("unserializable"));
                            return Some((Ok(event), (rx, shutdown)));
                        }
                        // A slow client missed some: it goes on with the next.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

// ---------------------------------------------------------------- the document

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cutover API",
        description = "Cutover migration of every mailbox of an organization over IMAP: \
                       endpoints, the cutover batch, its users and their progress, and \
                       the batch's reports (MigrationStatistics.csv, MigrationErrors.csv). Every \
                       request needs `Authorization: Bearer TOKEN` (the token file of \
                       `cutover serve`)."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, SkippedItemView, NewUserRequest))
)]
struct ApiDoc;

/// The API's routes and its OpenAPI document, built from the same handlers.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_endpoints))
        .routes(routes!(get_endpoint))
        .routes(routes!(get_endpoint_directory))
        .routes(routes!(list_batches, create_batch))
        .routes(routes!(get_batch, set_batch, remove_batch))
        .routes(routes!(start_batch))
        .routes(routes!(batch_preflight))
        .routes(routes!(stop_batch))
        .routes(routes!(approve_skipped_items))
        .routes(routes!(approve_removals))
        .routes(routes!(get_target))
        .routes(routes!(batch_users))
        .routes(routes!(batch_throughput))
        .routes(routes!(list_jobs))
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(user_statistics))
        .routes(routes!(statistics_report))
        .routes(routes!(errors_report))
        .routes(routes!(user_report))
        .routes(routes!(completeness_proof))
        .routes(routes!(events))
        .routes(routes!(licenses::list_user_licenses))
        .routes(routes!(licenses::list_skus, licenses::add_sku))
        .routes(routes!(licenses::assign))
        .routes(routes!(licenses::unassign))
        .split_for_parts()
}

/// Refuses every request without the token, with 401 and an [`ErrorBody`].
pub async fn require_token(
    State(token): State<Arc<SecretString>>,
    request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if crate::auth::authorizes(header, &token) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "this API needs `Authorization: Bearer TOKEN`; the token is in the file `cutover serve` \
         printed at start (--token-file)",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Unknown API paths.
pub async fn no_such_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "no API route {}; the routes are in /api/v1/openapi.json",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::{Batch, BatchStatus, MigrationUser, Name};
    use serde_json::Value;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    fn doc() -> Value {
        serde_json::to_value(routes().1).unwrap()
    }

    fn sample_batch() -> Batch {
        Batch {
            status: BatchStatus::Syncing,
            ..Batch::new(
                Name::parse("batch", "B").unwrap(),
                Name::parse("endpoint", "E").unwrap(),
                chrono::Utc::now(),
            )
        }
    }

    fn sample_user() -> MigrationUser {
        MigrationUser::new(
            "a@contoso.test".parse().unwrap(),
            Name::parse("batch", "B").unwrap(),
        )
    }

    #[test]
    fn the_document_names_the_properties_the_api_sends() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        // with calendars: every optional property is sent
        let dav = cutover_store::DavSummary {
            last_pass_at: Some(Utc::now()),
            last_error: Some("the target answered 503".into()),
            ..Default::default()
        };
        let mut batch = BatchView::new(&sample_batch(), &[sample_user()])
            .with_dav(Some(std::slice::from_ref(&dav)));
        batch.throughput_bytes_per_second = Some(1);
        batch.estimated_time_left = Some("1 s".into());
        let user = sample_user();
        for (name, sent) in [
            ("BatchView", serde_json::to_value(&batch).unwrap()),
            (
                "UserView",
                serde_json::to_value(
                    UserView::new(&user)
                        .with_provisioning(Some(&cutover_store::ProvisioningRecord {
                            target_dn: Some("uid=a,ou=people,dc=contoso,dc=test".into()),
                            provisioned_at: Some(Utc::now()),
                            error: Some("the directory answered busy".into()),
                            email: user.email.to_string(),
                            desired: None,
                            desired_digest: None,
                            applied_digest: None,
                            updated_at: None,
                            password_set_at: None,
                            password_handed_out_at: None,
                        }))
                        .with_dav(Some(&dav)),
                )
                .unwrap(),
            ),
            (
                "UserStatsView",
                serde_json::to_value(UserStatsView::new(&user, Some(&[])).with_dav(Some(&dav)))
                    .unwrap(),
            ),
        ] {
            assert_eq!(keys(&schemas[name]["properties"]), keys(&sent), "{name}");
        }
    }

    #[test]
    fn the_reports_are_documented_as_csv_and_json() {
        let doc = doc();
        for path in [
            "/api/v1/batches/{name}/report/statistics.csv",
            "/api/v1/batches/{name}/report/errors.csv",
        ] {
            let ok = &doc["paths"][path]["get"]["responses"]["200"];
            assert!(ok["content"]["text/csv"].is_object(), "{path}: {ok:#}");
        }
        let schemas = &doc["components"]["schemas"];
        let stats = UserStatsView::new(&sample_user(), Some(&[]));
        let sent = serde_json::to_value(UserReport::new(&stats)).unwrap();
        assert_eq!(keys(&schemas["UserReport"]["properties"]), keys(&sent));
        assert_eq!(
            keys(&schemas["StatisticsRow"]["properties"]),
            keys(&sent["Statistics"])
        );
        let mut columns: Vec<String> = report::ERRORS_COLUMNS.map(String::from).to_vec();
        columns.sort();
        assert_eq!(keys(&schemas["ErrorRow"]["properties"]), columns);
        assert!(doc["paths"]["/api/v1/users/{email}/report"]["get"].is_object());
    }

    #[test]
    fn every_event_is_documented_with_its_properties() {
        let doc = doc();
        let variants = doc["components"]["schemas"]["EventView"]["oneOf"]
            .as_array()
            .unwrap()
            .clone();
        let samples = [
            EventView::BatchStarted {
                batch: "B".into(),
                users: 1,
                incremental: false,
            },
            EventView::UserStarted { email: "a".into() },
            EventView::UserPlanned {
                email: "a".into(),
                folders: 1,
                messages: 1,
                bytes: 1,
            },
            EventView::Copied {
                email: "a".into(),
                messages: 1,
                bytes: 1,
            },
            EventView::Skipped {
                email: "a".into(),
                folder: "f".into(),
                uid: 1,
                reason: "r".into(),
            },
            EventView::UserFinished {
                email: "a".into(),
                status: "Synced".into(),
                copied: 1,
                error: None,
            },
            EventView::BatchFinished {
                batch: "B".into(),
                status: "Synced".into(),
            },
            EventView::BatchChanged {
                batch: "B".into(),
                status: "Synced".into(),
            },
        ];
        assert_eq!(variants.len(), samples.len());
        for sample in samples {
            let sent = serde_json::to_value(&sample).unwrap();
            let documented = variants
                .iter()
                .find(|v| v["properties"]["Type"]["enum"][0] == sample.kind())
                .unwrap_or_else(|| panic!("{} is not documented", sample.kind()));
            assert_eq!(
                keys(&documented["properties"]),
                keys(&sent),
                "{}",
                sample.kind()
            );
        }
    }

    #[test]
    fn every_route_asks_for_the_bearer_token() {
        let doc = doc();
        assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
