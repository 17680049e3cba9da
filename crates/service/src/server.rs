//! `cutover serve`: the workers and the HTTP API in one process. The workers run the
//! same job loop as `cutover run` (leases included); the API changes desired state in
//! the store and shows progress. On shutdown (SIGTERM) passes finish or record the
//! chunk in flight, leases are released, and it returns within a bounded time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::scheduler::{OnError, Rounds, work};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use cutover_store::Store;
use cutover_sync::{EventSink, RunError, StopSignal, Worker};
use secrecy::SecretString;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::{self, AppState};
use crate::auth::{self, TokenError};
use crate::dashboard;
use crate::live::Live;
use crate::notify;
use crate::tls::{self, TlsError};

/// How often the workers look for due work (a started batch is picked up this fast).
pub const POLL: Duration = Duration::from_secs(2);
/// How long shutdown waits for passes to record their chunk in flight.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);
/// How long a client may take to send a request's headers (and how long a connection
/// may sit idle between requests) before it is closed: a client that sends its headers
/// slowly, or never, does not hold a connection forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub token_file: PathBuf,
    /// Certificate chain and key (PEM) for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Serve plain HTTP on an address other than loopback, on purpose.
    pub insecure_http: bool,
    pub poll: Duration,
    /// [`HEADER_READ_TIMEOUT`] unless a test wants a shorter one.
    pub header_read_timeout: Duration,
    /// The installation's key for completeness proofs ([`crate::proof::default_key_file`]).
    pub signing_key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{0} is not a loopback address: the API would carry its token and the batch's data \
         in clear over the network. Give --tls-cert and --tls-key, or --insecure-http if \
         that is really meant"
    )]
    NeedsTls(SocketAddr),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Where the service listens, and where its token is; for the caller to tell the admin.
#[derive(Debug, Clone)]
pub struct Listening {
    pub url: String,
    pub token_file: PathBuf,
    pub token_created: bool,
}

/// The whole HTTP side: API (token required) and dashboard (public, static).
pub fn app(state: AppState, token: SecretString) -> Router {
    let (api, doc) = api::routes();
    let doc = Arc::new(serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()));
    let token = Arc::new(token);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                }
            }),
        )
        .merge(dashboard::routes())
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(token, guard))
        .with_state(state)
}

/// The token guards everything under /api, unknown paths included; the dashboard's
/// static files hold no data and load without it.
async fn guard(
    state: axum::extract::State<Arc<SecretString>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path() == "/api" || request.uri().path().starts_with("/api/") {
        api::require_token(state, request, next).await
    } else {
        next.run(request).await
    }
}

async fn fallback(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/api") {
        api::no_such_route(uri).await.into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

async fn until_stopped(signal: &StopSignal) {
    while signal.reason().is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the service until `shutdown` is stopped; `ready` is told where it listens.
pub async fn serve(
    store: Arc<dyn Store>,
    options: ServeOptions,
    shutdown: StopSignal,
    ready: impl FnOnce(&Listening),
) -> Result<(), ServeError> {
    if !options.listen.ip().is_loopback() && options.tls.is_none() && !options.insecure_http {
        return Err(ServeError::NeedsTls(options.listen));
    }
    let tls_config = options
        .tls
        .as_ref()
        .map(|(cert, key)| tls::server_config(cert, key))
        .transpose()?;
    let (token, token_created) = auth::load_or_create(&options.token_file)?;
    let tcp = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let local = tcp.local_addr().map_err(ServeError::Http)?;

    let live = Arc::new(Live::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = AppState {
        store: store.clone(),
        live: live.clone(),
        shutdown: stop_rx.clone(),
        signing_key_file: options.signing_key_file.clone(),
    };
    let router = app(state, token);

    // The workers, and their events into the live view.
    let (sink, mut events) = EventSink::channel();
    let pump = {
        let live = live.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                live.publish(e.into());
            }
        })
    };
    let worker = Worker::new("serve");
    info!(worker = worker.id, "workers starting");
    let workers = {
        let store = store.clone();
        let notify_store = store.clone();
        let notifier = Arc::new(notify::Notifier::default());
        let shutdown = shutdown.clone();
        let worker = worker.clone();
        let poll = options.poll;
        tokio::spawn(async move {
            work(
                store,
                sink,
                shutdown,
                &worker,
                Rounds {
                    poll,
                    once: false,
                    on_error: OnError::Retry,
                    jobs: None,
                },
                |run| info!(batch = run.batch, status = %run.status, users = run.users, copied = run.copied, "pass done"),
                move || {
                    let (store, notifier) = (notify_store.clone(), notifier.clone());
                    async move {
                        notifier.round(store.as_ref(), Utc::now()).await;
                    }
                },
            )
            .await
        })
    };

    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    ready(&Listening {
        url: format!("{scheme}://{local}"),
        token_file: options.token_file.clone(),
        token_created,
    });
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            until_stopped(&shutdown).await;
            let _ = stop_tx.send(true);
        });
    }
    let timeout = options.header_read_timeout;
    let http = match tls_config {
        Some(config) => {
            let listener = tls::TlsListener::new(tcp, config).map_err(ServeError::Http)?;
            tokio::spawn(serve_http(listener, router, timeout, stop_rx.clone()))
        }
        None => tokio::spawn(serve_http(tcp, router, timeout, stop_rx.clone())),
    };

    until_stopped(&shutdown).await;
    info!("shutting down: passes record their chunk in flight, then leases are released");
    let result = match tokio::time::timeout(SHUTDOWN_LIMIT, workers).await {
        Ok(Ok(result)) => result.map_err(ServeError::from),
        Ok(Err(join)) => {
            warn!(error = %join, "the workers ended abnormally");
            Ok(())
        }
        Err(_) => {
            warn!(
                limit = SHUTDOWN_LIMIT.as_secs(),
                "passes did not stop in time; their intents let the next start resume them"
            );
            Ok(())
        }
    };
    // Whatever happened above, this worker holds nothing any more.
    if let Err(e) = store.release_jobs_of(&worker.id).await {
        warn!(error = %e, "cannot give back the jobs; their leases expire");
    }
    // Requests in flight get a moment to finish.
    if tokio::time::timeout(Duration::from_secs(5), http)
        .await
        .is_err()
    {
        warn!("HTTP requests still open at exit were cut");
    }
    pump.abort();
    result
}

/// Serves `router` on every connection `listener` accepts until `stop` turns true, then
/// lets the open connections finish. This is axum::serve with hyper's HTTP/1 builder
/// set up by hand: axum::serve gives hyper no timer, so hyper's header-read timeout
/// never fires and a client sending headers slowly (or nothing) keeps its connection.
pub async fn serve_http<L>(
    mut listener: L,
    router: Router,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug + Send + 'static,
    L::Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(?peer, error = %e, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The token file's default place: beside the state database.
pub fn default_token_file(state_db: &Path) -> PathBuf {
    let mut p = state_db.as_os_str().to_owned();
    p.push(".api-token");
    PathBuf::from(p)
}
