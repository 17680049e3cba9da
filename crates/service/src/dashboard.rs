//! The dashboard's static files, embedded in the binary: `/` and `/assets/...`. They
//! hold no data (the page reads the API with the admin's token), so they load without
//! the token. The page (plain HTML, CSS and JavaScript, no framework) polls the API
//! every two seconds: the batch, its counts and times, every mailbox, and one mailbox's
//! statistics with its skipped items; Start, Stop and Remove ask before they act.
//!
//! Every file goes out with a Content-Security-Policy that allows only this origin's
//! script, style and API (no inline script or style, no framing, no plugins), and with
//! `X-Frame-Options: DENY` for browsers without `frame-ancestors`: the page holds the
//! API token, so it must not run foreign script nor sit in another site's frame.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// (path under /assets/, content type, bytes)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../assets/dashboard.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/dashboard.js"),
    ),
];

const INDEX: &str = include_str!("../assets/index.html");

/// What the page may load: its own script, stylesheet and API calls (fetch), nothing
/// inline, from nowhere else, and no page may frame it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every dashboard file carries.
fn security_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index() -> Response {
    (
        security_headers(),
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => (
            security_headers(),
            [(header::CONTENT_TYPE, *content_type)],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}
