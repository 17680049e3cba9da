//! The HTTP edge: libdav's CalDAV and CardDAV clients over hyper and rustls.
//!
//! TLS is as strict as the IMAP side's (webpki roots plus the operator's `--ca-file`,
//! [`cutover_imap::TlsOptions`]); plain `http://` is refused unless the host is loopback
//! (test servers). The password goes into one `Authorization` header value marked
//! sensitive, added below libdav, so libdav's request logging never sees it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use cutover_imap::TlsOptions;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use libdav::caldav::{FindCalendarHomeSet, FindCalendars, GetSupportedComponents};
use libdav::carddav::{FindAddressBookHomeSet, FindAddressBooks};
use libdav::dav::{ListResources, WebDavClient};
use libdav::sd::DiscoverableService;
use libdav::{CalDavClient, CardDavClient, names};
use secrecy::{ExposeSecret, SecretString};
use tower_service::Service;

use crate::facts::{CollectionKind, CollectionProps, ItemRef};

/// How to reach one user's calendars and address books.
pub struct DavAccount {
    /// The server's base URL (`https://dav.example.org/`); the CalDAV and CardDAV context
    /// paths are discovered from it (RFC 6764 `/.well-known/caldav|carddav`).
    pub url: String,
    pub user: String,
    pub password: SecretString,
    pub tls: TlsOptions,
}

impl std::fmt::Debug for DavAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavAccount")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DavError {
    #[error("the DAV URL '{url}' is not usable: {reason}")]
    Url { url: String, reason: String },
    #[error("TLS set-up for {url}: {reason}")]
    Tls { url: String, reason: String },
    #[error("{what} at {server}: {cause}")]
    Request {
        what: String,
        server: String,
        cause: String,
    },
    #[error("{href} at {server} is larger than {limit} bytes")]
    TooLarge {
        href: String,
        server: String,
        limit: usize,
    },
    #[error("{href} at {server} is not UTF-8 text (iCalendar and vCard are)")]
    NotText { href: String, server: String },
    #[error("{what} at {server}: the server answered {status}")]
    Status {
        what: String,
        server: String,
        status: StatusCode,
    },
}

/// How long one request may take, its answer's body included: a server that stalls
/// fails the request (and the pass, which the scheduler tries again) instead of holding
/// it forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Adds the user's Basic credentials to every request and bounds it in time.
#[derive(Clone)]
pub struct BasicAuth<S> {
    inner: S,
    authorization: HeaderValue,
    timeout: Duration,
}

/// A request that failed below libdav: the client's error or the deadline.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Client(#[from] hyper_util::client::legacy::Error),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
}

/// A response body that fails once the request's deadline has passed.
pub struct TimedBody<B> {
    inner: B,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl<B> hyper::body::Body for TimedBody<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(HttpError::Timeout(self.timeout)))));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }
}

type ResponseFuture<B> =
    Pin<Box<dyn Future<Output = Result<http::Response<TimedBody<B>>, HttpError>> + Send>>;

impl<S, B, R> Service<Request<B>> for BasicAuth<S>
where
    S: Service<Request<B>, Response = http::Response<R>, Error = hyper_util::client::legacy::Error>,
    S::Future: Send + 'static,
    R: hyper::body::Body + Unpin + Send + 'static,
{
    type Response = http::Response<TimedBody<R>>;
    type Error = HttpError;
    type Future = ResponseFuture<R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(HttpError::Client)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, self.authorization.clone());
        let timeout = self.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = tokio::time::timeout_at(deadline, response)
                .await
                .map_err(|_| HttpError::Timeout(timeout))??;
            Ok(response.map(|inner| TimedBody {
                inner,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                timeout,
            }))
        })
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;
pub type HttpClient = BasicAuth<Client<Https, String>>;

/// A user's session with one DAV server: both protocols on one HTTP client.
pub struct DavSession {
    server: String,
    http: HttpClient,
    item_limit: usize,
    caldav: CalDavClient<HttpClient>,
    carddav: CardDavClient<HttpClient>,
}

/// The largest item a pass reads into memory (an item's bytes are held whole between
/// its GET and its PUT); a larger one is skipped as too large, as a large message is.
pub const MAX_ITEM_BYTES: usize = 64 * 1024 * 1024;

/// A collection as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCollection {
    pub href: String,
    pub kind: CollectionKind,
    pub props: CollectionProps,
    pub supports_sync: bool,
}

/// What a sync-collection report answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub token: String,
    pub changed: Vec<ItemRef>,
    pub removed: Vec<String>,
}

/// An item's exact bytes (as text: iCalendar and vCard are UTF-8) and their ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedItem {
    pub body: String,
    pub etag: String,
    pub content_type: String,
}

fn http_client(account: &DavAccount, uri: &Uri, timeout: Duration) -> Result<HttpClient, DavError> {
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if cutover_model::endpoint::is_loopback(host) => {}
        Some("http") => {
            return Err(DavError::Url {
                url: account.url.clone(),
                reason: "plain http would send the password in clear; use https:// \
                         (plain http is only for a server on loopback)"
                    .into(),
            });
        }
        _ => {
            return Err(DavError::Url {
                url: account.url.clone(),
                reason: "expected an https:// URL".into(),
            });
        }
    }
    let tls = account.tls.client_config().map_err(|e| DavError::Tls {
        url: account.url.clone(),
        reason: e.to_string(),
    })?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .build();
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        account.user,
        account.password.expose_secret()
    ));
    let mut authorization =
        HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|_| DavError::Url {
            url: account.url.clone(),
            reason: format!("the user name '{}' cannot go in a header", account.user),
        })?;
    authorization.set_sensitive(true);
    Ok(BasicAuth {
        inner: Client::builder(TokioExecutor::new()).build(connector),
        authorization,
        timeout,
    })
}

/// Whether a DAV server answers at `url` over the strict TLS settings, without signing
/// in (for `endpoint new` and `target set`, which have no user's password): the HTTP
/// status of an OPTIONS request, whatever it is (401 too: the server is there).
pub async fn probe(url: &str, tls: &TlsOptions) -> Result<StatusCode, DavError> {
    let account = DavAccount {
        url: url.to_string(),
        user: String::new(),
        password: SecretString::from(""),
        tls: tls.clone(),
    };
    let uri: Uri = url.parse().map_err(|e| DavError::Url {
        url: url.to_string(),
        reason: format!("{e}"),
    })?;
    let mut http = http_client(&account, &uri, Duration::from_secs(20))?;
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri(uri)
        .body(String::new())
        .map_err(|e| DavError::Url {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    let response = Service::call(&mut http, request)
        .await
        .map_err(|e| DavError::Request {
            what: "OPTIONS".into(),
            server: url.to_string(),
            cause: source_chain(&e),
        })?;
    Ok(response.status())
}

/// An error with its causes (a TLS failure sits under the client's error).
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl DavSession {
    /// Opens a session: the context paths by RFC 6764's well-known URIs where the server
    /// redirects them, else the base URL itself.
    pub async fn open(account: &DavAccount) -> Result<Self, DavError> {
        let uri: Uri = account.url.parse().map_err(|e| DavError::Url {
            url: account.url.clone(),
            reason: format!("{e}"),
        })?;
        let http = http_client(account, &uri, REQUEST_TIMEOUT)?;
        let server = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        );
        let caldav = Self::context(&uri, http.clone(), &server, DiscoverableService::CalDavs)
            .await
            .map(CalDavClient::new)?;
        let carddav = Self::context(&uri, http.clone(), &server, DiscoverableService::CardDavs)
            .await
            .map(CardDavClient::new)?;
        Ok(Self {
            server,
            http,
            item_limit: MAX_ITEM_BYTES,
            caldav,
            carddav,
        })
    }

    /// Another bound on the bytes of one item than [`MAX_ITEM_BYTES`].
    pub fn with_item_limit(mut self, bytes: usize) -> Self {
        self.item_limit = bytes;
        self
    }

    async fn context(
        uri: &Uri,
        http: HttpClient,
        server: &str,
        service: DiscoverableService,
    ) -> Result<WebDavClient<HttpClient>, DavError> {
        let mut client = WebDavClient::new(uri.clone(), http);
        let host = uri.host().unwrap_or_default();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        // The well-known URI on the base URL's own scheme (the service's scheme is https).
        let service = if uri.scheme_str() == Some("http") {
            match service {
                DiscoverableService::CalDavs => DiscoverableService::CalDav,
                DiscoverableService::CardDavs => DiscoverableService::CardDav,
                other => other,
            }
        } else {
            service
        };
        match client.find_context_path(service, host, port).await {
            // RFC 6764 section 6: the context is the one where the principal is found.
            // Radicale's redirect chain ends in its web interface (/.web/), which
            // answers PROPFIND with 403: then the base URL stays the context.
            Ok(Some(found)) => {
                let original = std::mem::replace(&mut client.base_url, found);
                if !matches!(client.find_current_user_principal().await, Ok(Some(_))) {
                    client.base_url = original;
                }
            }
            Ok(None) => {}
            // A server without the well-known URI: the base URL is the context.
            Err(e) => tracing::debug!(server, error = %e, "no well-known context path"),
        }
        Ok(client)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    fn request_error(&self, what: impl Into<String>, cause: impl std::fmt::Display) -> DavError {
        DavError::Request {
            what: what.into(),
            server: self.server.clone(),
            cause: cause.to_string(),
        }
    }

    pub(crate) fn webdav(&self, kind: CollectionKind) -> &WebDavClient<HttpClient> {
        match kind {
            CollectionKind::Calendar => &self.caldav,
            CollectionKind::AddressBook => &self.carddav,
        }
    }

    /// The home sets of the current user: where their collections live and new ones go.
    pub async fn home_set(&self, kind: CollectionKind) -> Result<String, DavError> {
        let client = self.webdav(kind);
        let principal = client
            .find_current_user_principal()
            .await
            .map_err(|e| self.request_error("finding the current user principal", e))?;
        let homes = match principal {
            None => vec![],
            Some(principal) => match kind {
                CollectionKind::Calendar => {
                    self.caldav
                        .request(FindCalendarHomeSet::new(principal.path()))
                        .await
                        .map_err(|e| self.request_error("finding the calendar home set", e))?
                        .home_sets
                }
                CollectionKind::AddressBook => {
                    self.carddav
                        .request(FindAddressBookHomeSet::new(principal.path()))
                        .await
                        .map_err(|e| self.request_error("finding the address book home set", e))?
                        .home_sets
                }
            },
        };
        Ok(homes
            .first()
            .unwrap_or(client.base_url())
            .path()
            .to_string())
    }

    /// The user's calendars (with their supported components) or address books.
    pub async fn collections(
        &self,
        kind: CollectionKind,
    ) -> Result<Vec<ListedCollection>, DavError> {
        let home = self.home_set(kind).await?;
        let found = match kind {
            CollectionKind::Calendar => {
                self.caldav
                    .request(FindCalendars::new(&home))
                    .await
                    .map_err(|e| self.request_error(format!("listing calendars in {home}"), e))?
                    .calendars
            }
            CollectionKind::AddressBook => {
                self.carddav
                    .request(FindAddressBooks::new(&home))
                    .await
                    .map_err(|e| self.request_error(format!("listing address books in {home}"), e))?
                    .addressbooks
            }
        };
        let mut listed = Vec::with_capacity(found.len());
        for collection in found {
            let property = |name: &libdav::PropertyName| {
                collection
                    .properties
                    .iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.clone())
            };
            let mut props = CollectionProps {
                display_name: property(&names::DISPLAY_NAME),
                colour: property(&names::CALENDAR_COLOUR),
                description: property(&names::CALENDAR_DESCRIPTION)
                    .or_else(|| property(&names::ADDRESSBOOK_DESCRIPTION)),
                components: vec![],
            };
            if kind == CollectionKind::Calendar {
                props.components = self
                    .caldav
                    .request(GetSupportedComponents::new(&collection.href))
                    .await
                    .map_err(|e| {
                        self.request_error(
                            format!("reading the components of {}", collection.href),
                            e,
                        )
                    })?
                    .components
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect();
            }
            listed.push(ListedCollection {
                href: collection.href,
                kind,
                props,
                supports_sync: collection.supports_sync,
            });
        }
        Ok(listed)
    }

    /// Every item of a collection with its ETag (a PROPFIND of depth 1).
    pub async fn items(
        &self,
        kind: CollectionKind,
        collection: &str,
    ) -> Result<Vec<ItemRef>, DavError> {
        let resources = self
            .webdav(kind)
            .request(ListResources::new(collection))
            .await
            .map_err(|e| self.request_error(format!("listing {collection}"), e))?
            .resources;
        Ok(resources
            .into_iter()
            .filter(|r| !r.resource_type.is_collection)
            .map(|r| ItemRef {
                etag: r.etag.unwrap_or_default(),
                href: r.href,
            })
            .collect())
    }

    /// RFC 6578: what changed since `token` (or everything, without one).
    pub async fn sync_collection(
        &self,
        kind: CollectionKind,
        collection: &str,
        token: Option<&str>,
    ) -> Result<SyncReport, DavError> {
        let mut request = libdav::dav::SyncCollection::new(collection);
        if let Some(token) = token {
            request = request.with_sync_token(token);
        }
        let report = self
            .webdav(kind)
            .request(request)
            .await
            .map_err(|e| self.request_error(format!("sync-collection on {collection}"), e))?;
        Ok(SyncReport {
            token: report.new_sync_token,
            changed: report
                .changed
                .into_iter()
                .filter(|r| !r.resource_type.is_collection)
                .map(|r| ItemRef {
                    etag: r.etag.unwrap_or_default(),
                    href: r.href,
                })
                .collect(),
            removed: report.deleted,
        })
    }

    /// An item's exact bytes and ETag (a plain GET: a multiget's XML could re-encode them).
    pub async fn fetch(&self, kind: CollectionKind, href: &str) -> Result<FetchedItem, DavError> {
        let client = self.webdav(kind);
        let what = || format!("fetching {href}");
        let request = Request::builder()
            .method(Method::GET)
            .uri(
                client
                    .relative_uri(href)
                    .map_err(|e| self.request_error(what(), e))?,
            )
            .body(String::new())
            .map_err(|e| self.request_error(what(), e))?;
        // Not libdav's request_raw: it reads a body whole, whatever its size.
        let response = Service::call(&mut self.http.clone(), request)
            .await
            .map_err(|e| self.request_error(what(), e))?;
        let (head, body) = response.into_parts();
        if !head.status.is_success() {
            return Err(DavError::Status {
                what: what(),
                server: self.server.clone(),
                status: head.status,
            });
        }
        let body =
            http_body_util::BodyExt::collect(http_body_util::Limited::new(body, self.item_limit))
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        DavError::TooLarge {
                            href: href.to_string(),
                            server: self.server.clone(),
                            limit: self.item_limit,
                        }
                    } else {
                        self.request_error(what(), e)
                    }
                })?
                .to_bytes();
        let header_text = |name: header::HeaderName| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let body = String::from_utf8(body.to_vec()).map_err(|_| DavError::NotText {
            href: href.to_string(),
            server: self.server.clone(),
        })?;
        Ok(FetchedItem {
            body,
            etag: header_text(header::ETAG).unwrap_or_default(),
            content_type: header_text(header::CONTENT_TYPE).unwrap_or_else(|| {
                match kind {
                    CollectionKind::Calendar => "text/calendar; charset=utf-8",
                    CollectionKind::AddressBook => "text/vcard; charset=utf-8",
                }
                .to_string()
            }),
        })
    }

    pub(crate) fn caldav(&self) -> &CalDavClient<HttpClient> {
        &self.caldav
    }

    pub(crate) fn carddav(&self) -> &CardDavClient<HttpClient> {
        &self.carddav
    }

    pub(crate) fn error(&self, what: impl Into<String>, cause: impl std::fmt::Display) -> DavError {
        self.request_error(what, cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(url: &str) -> DavAccount {
        DavAccount {
            url: url.into(),
            user: "ann".into(),
            password: SecretString::from("s3cret-pw"),
            tls: TlsOptions::default(),
        }
    }

    #[test]
    fn plain_http_is_refused_unless_on_loopback() {
        let remote = account("http://dav.example.org/");
        let err = http_client(&remote, &remote.url.parse().unwrap(), REQUEST_TIMEOUT)
            .err()
            .unwrap();
        assert!(err.to_string().contains("use https://"), "{err}");
        for url in [
            "http://127.0.0.1:5232/",
            "http://[::1]:8/",
            "https://dav.example.org/",
        ] {
            let a = account(url);
            assert!(
                http_client(&a, &a.url.parse().unwrap(), REQUEST_TIMEOUT).is_ok(),
                "{url}"
            );
        }
    }

    #[test]
    fn the_password_is_never_shown() {
        let a = account("https://dav.example.org/");
        assert!(!format!("{a:?}").contains("s3cret-pw"));
        let client = http_client(&a, &a.url.parse().unwrap(), REQUEST_TIMEOUT).unwrap();
        assert!(client.authorization.is_sensitive());
        assert!(!format!("{:?}", client.authorization).contains("czNjcmV0"));
    }

    /// A scripted server that accepts, reads the request, writes `answer` and then
    /// holds the connection open without another byte.
    async fn stalling_server(answer: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            socket.write_all(answer).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(socket);
        });
        url
    }

    async fn get(url: &str) -> Result<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>> {
        use http_body_util::BodyExt;
        let a = account(url);
        let mut client =
            http_client(&a, &a.url.parse().unwrap(), Duration::from_millis(300)).unwrap();
        let request = Request::get(url).body(String::new()).unwrap();
        let response = Service::call(&mut client, request).await?;
        Ok(response.into_body().collect().await?.to_bytes())
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let url = stalling_server(b"").await;
        let err = get(&url).await.unwrap_err();
        assert!(
            err.to_string().contains("no complete answer within"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_that_stops_half_way_times_out() {
        let url =
            stalling_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nBEGIN:VCALENDAR").await;
        let err = get(&url).await.unwrap_err();
        assert!(
            err.to_string().contains("no complete answer within"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_prompt_answer_is_read_whole() {
        let url = stalling_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await;
        assert_eq!(get(&url).await.unwrap(), "hello");
    }

    async fn session_at(url: &str) -> DavSession {
        DavSession::open(&account(url)).await.unwrap()
    }

    /// A scripted server answering every request on every connection with `answer`.
    async fn answering_server(answer: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        if socket.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn an_item_gone_since_its_listing_is_a_status_not_a_body() {
        let url = answering_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
        let err = session_at(&url)
            .await
            .fetch(CollectionKind::Calendar, "/cal/a.ics")
            .await
            .unwrap_err();
        assert!(
            matches!(err, DavError::Status { status, .. } if status == StatusCode::NOT_FOUND),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_item_that_is_not_text_is_named() {
        let url = answering_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"1\"\r\n\r\n\xff\xfe\x00",
        )
        .await;
        let err = session_at(&url)
            .await
            .fetch(CollectionKind::AddressBook, "/card/a.vcf")
            .await
            .unwrap_err();
        assert!(matches!(err, DavError::NotText { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_item_over_the_bound_is_not_read() {
        let url = answering_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nBEGIN:VCARD\r\nUID:x\r\n",
        )
        .await;
        let err = session_at(&url)
            .await
            .with_item_limit(10)
            .fetch(CollectionKind::AddressBook, "/card/a.vcf")
            .await
            .unwrap_err();
        assert!(matches!(err, DavError::TooLarge { limit: 10, .. }), "{err}");
    }
}
