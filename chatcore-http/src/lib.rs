#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod api;
pub mod auth;
pub mod connection;
pub mod error;
mod health;
pub mod limits;
mod logging;
pub mod models;
mod realtime;
pub mod tower;

use std::sync::Arc;
use std::time::Duration;

use chatcore::Service;
use chatcore::avatars::AvatarLinks;
use poem::endpoint::make_sync;
use poem::web::{Html, Json};
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get};
use poem_openapi::OpenApiService;

pub use connection::{ClientAddr, serve, serve_tower};
pub use limits::IpLimits;

/// How the HTTP layer behaves. Start from `HttpOptions::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Mark the session cookie `Secure`, so that browsers send it over HTTPS only. Default:
    /// yes. Browsers treat `http://localhost` as secure, so local development works with it;
    /// turn it off only to serve browsers over plain HTTP on another host.
    pub secure_cookies: bool,
    /// The largest body accepted on every route but the avatar upload, in bytes; a larger
    /// one is refused with 413 `payload_too_large` before it is read or parsed (at once when
    /// it declares its length, else after `max_body_bytes + 1` bytes). Default: 64 KiB.
    pub max_body_bytes: usize,
    /// The largest avatar upload accepted (`PUT /api/v1/users/me/avatar`, the only route with
    /// this limit), in bytes, plus 64 KiB for multipart framing. Default: 5 MiB.
    pub max_upload_bytes: usize,
    /// The URL the API is reached at, as the OpenAPI document announces it.
    /// Default: `/api/v1` (relative). [`HttpOptions::nested_at`] sets it under a prefix.
    pub server_url: String,
    /// Where a host app mounts this app (`/chat`), or empty at the root: the `Path` of the
    /// session cookie, so that the browser sends it to this app only. Default: empty (the
    /// cookie's path is `/`). [`HttpOptions::nested_at`] sets it.
    pub base_path: String,
    /// Turns `true` when the server shuts down: open event streams then end, so that a
    /// graceful shutdown does not wait for them.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    /// Requests per client address (see [`limits`]), answered 429 `rate_limited` with
    /// `Retry-After` when exceeded; `None` turns them off. Limits per account and per user
    /// are [`chatcore::limits::RateLimited`]'s. Default: [`IpLimits::default()`].
    pub ip_limits: Option<IpLimits>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` header is believed
    /// when they are the peer; the client is then the nearest address in it that is not one
    /// of them. Default: none, so the peer address is the client's and the header is
    /// ignored (a client could write anything in it).
    pub trusted_proxies: Vec<limits::IpNet>,
    /// How long a client has to send a body (every route but the avatar upload) once its
    /// head arrived; a slower one gets 408. Default: 30 seconds.
    pub body_read_timeout: Duration,
    /// How long a client has to send a request's head, counted from the connection's start
    /// or the previous response; a keep-alive connection idle that long is closed too. Used
    /// by [`serve`]. Default: 30 seconds.
    pub header_read_timeout: Duration,
    /// How long a connection may go without a byte read or written before it is closed
    /// (event streams send a keep-alive every 20 seconds, so they stay open). Used by
    /// [`serve`]. Default: 60 seconds.
    pub idle_timeout: Duration,
    /// Origins (`scheme://host[:port]`, e.g. `https://chat.example.com`) whose pages may open
    /// the event WebSocket authenticated by the session cookie, besides the server's own
    /// origin. Such a handshake from any other `Origin` is refused with 403 `forbidden`, so
    /// that another site cannot use a visitor's cookie (cross-site WebSocket hijacking).
    /// Sockets authenticated by bearer token or `access_token`, and handshakes without an
    /// `Origin` (not from a browser), are not checked. Default: none, so only the same
    /// origin (the `Origin`'s host equals the request's `Host`); list the public origin
    /// when a proxy rewrites `Host`.
    pub allowed_origins: Vec<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            secure_cookies: true,
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 5 * 1024 * 1024,
            server_url: API_PREFIX.to_owned(),
            base_path: String::new(),
            shutdown: None,
            ip_limits: Some(IpLimits::default()),
            trusted_proxies: Vec::new(),
            body_read_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            allowed_origins: Vec::new(),
        }
    }
}

impl HttpOptions {
    /// These options for the app nested under `prefix` (`"/chat"`) in a host app that strips
    /// the prefix before passing requests on (poem's `Route::nest`, axum's
    /// `Router::nest_service`): the OpenAPI document announces the API at `{prefix}/api/v1`
    /// and the session cookie's path is `prefix`.
    #[must_use]
    pub fn nested_at(mut self, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        self.base_path = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        self.server_url = format!("{}{API_PREFIX}", self.base_path);
        self
    }

    /// How this app links to avatars: `{base_path}/api/v1/users/{id}/avatar?v={hash}`.
    pub fn avatar_links(&self) -> AvatarLinks {
        AvatarLinks::under(format!("{}{API_PREFIX}/users", self.base_path))
    }

    /// The session cookie's `Path`.
    pub(crate) fn cookie_path(&self) -> &str {
        if self.base_path.is_empty() {
            "/"
        } else {
            &self.base_path
        }
    }
}

/// Where the REST API lives.
pub const API_PREFIX: &str = "/api/v1";

/// The event stream (SSE, or WebSocket on upgrade).
const EVENTS_PATH: &str = "/api/v1/events";

fn openapi(service: Arc<dyn Service>, options: &HttpOptions) -> OpenApiService<api::Apis, ()> {
    let shared = api::Shared {
        service,
        options: options.clone(),
    };
    OpenApiService::new(api::apis(shared), "chatcore", env!("CARGO_PKG_VERSION"))
        .description(
            "A chat backend: accounts, sessions, direct chats, groups, invites, contacts, \
             messages with replies, forwards, reactions and read receipts, and moderation. \
             Every error has the body `{\"error\": {\"code\", \"message\"}}` with a stable \
             `code`.",
        )
        .server(options.server_url.clone())
}

/// The OpenAPI 3 document of the API, as JSON.
pub fn openapi_document(service: Arc<dyn Service>, options: &HttpOptions) -> String {
    api::document::finish(&openapi(service, options).spec())
}

/// The whole HTTP application over a service: the REST API under `/api/v1`, its OpenAPI
/// document at `/api/v1/openapi.json`, interactive docs at `/docs`, `/healthz` (liveness: the
/// process answers) and `/readyz` (readiness: the database and the event bus answer).
///
/// Mount it in your own poem app with `Route::new().nest("/", chatcore_http::app(..))`.
pub fn app(service: Arc<dyn Service>, options: HttpOptions) -> impl Endpoint {
    let guard = limits::RequestGuard::new(&options);
    guarded_app(service, options, guard)
}

/// [`app`] behind `guard`, which the caller may share with a transport served next to it.
pub(crate) fn guarded_app(
    service: Arc<dyn Service>,
    options: HttpOptions,
    guard: limits::RequestGuard,
) -> impl Endpoint {
    let api = openapi(service.clone(), &options);
    let raw = api.spec();
    let document = api::document::finish(&raw);
    // The docs page shows the finished document: poem-openapi's page embeds the raw one.
    let docs_page = api.swagger_ui_html().replacen(&raw, &document, 1);
    let allowed = Arc::new(api::document::allowed_methods(&document));
    let spec = make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    let docs = Route::new().at("/", make_sync(move |_| Html(docs_page.clone())));
    let websocket_service = service.clone();
    let allowed_origins: Arc<[String]> = options.allowed_origins.clone().into();
    let links = options.avatar_links();
    let websocket_options = options.clone();
    Route::new()
        .nest(API_PREFIX, api)
        .at(format!("{API_PREFIX}/openapi.json"), spec)
        .nest("/docs", docs)
        .at(
            "/healthz",
            get(make_sync(|_| Json(serde_json::json!({ "status": "ok" })))),
        )
        .at("/readyz", health::readyz(service.clone()))
        // Responses link avatars to where this app serves them.
        .around(move |next, request| {
            let links = links.clone();
            async move { links.scope(next.call(request)).await }
        })
        .around(move |next, request| {
            let service = websocket_service.clone();
            let options = websocket_options.clone();
            let allowed_origins = allowed_origins.clone();
            async move {
                // `GET /api/v1/events` with `Upgrade: websocket`; everything else, SSE
                // included, is the documented API.
                if request.uri().path() == EVENTS_PATH && realtime::is_upgrade(&request) {
                    realtime::serve(request, service, &options, &allowed_origins).await
                } else {
                    Ok(next.call(request).await?.into_response())
                }
            }
        })
        // Outermost, so that WebSocket upgrades count too: per-address limits, then body
        // limits, before anything reads the request.
        .with(guard)
        .data(service)
        .catch_all_error(error::into_json)
        .with(logging::RequestLog)
        .around(move |next, request| error::allow_methods(next, request, allowed.clone()))
}
