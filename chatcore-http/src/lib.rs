#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod api;
pub mod auth;
pub mod error;
pub mod models;
mod realtime;
pub mod server;

use std::sync::Arc;

use chatcore::Service;
use poem::endpoint::make_sync;
use poem::http::StatusCode;
use poem::http::header::CONTENT_LENGTH;
use poem::middleware::Tracing;
use poem::web::Json;
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get};
use poem_openapi::OpenApiService;
use tokio::io::AsyncReadExt;

/// How the HTTP layer behaves. Start from `HttpOptions::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Mark the session cookie `Secure` (serve over HTTPS). Default: no.
    pub secure_cookies: bool,
    /// The largest JSON body accepted, in bytes. Default: 64 KiB.
    pub max_body_bytes: usize,
    /// The largest upload (avatar) accepted, in bytes. Default: 5 MiB.
    pub max_upload_bytes: usize,
    /// The URL the API is reached at, as the OpenAPI document announces it.
    /// Default: `/api/v1` (relative).
    pub server_url: String,
    /// Turns `true` when the server shuts down: open event streams then end, so that a
    /// graceful shutdown does not wait for them.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
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
            secure_cookies: false,
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 5 * 1024 * 1024,
            server_url: API_PREFIX.to_owned(),
            shutdown: None,
            allowed_origins: Vec::new(),
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
    openapi(service, options).spec()
}

/// The whole HTTP application over a service: the REST API under `/api/v1`, its OpenAPI
/// document at `/api/v1/openapi.json`, interactive docs at `/docs`, and `/healthz`.
///
/// Mount it in your own poem app with `Route::new().nest("/", chatcore_http::app(..))`.
pub fn app(service: Arc<dyn Service>, options: HttpOptions) -> impl Endpoint {
    let api = openapi(service.clone(), &options);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    // Room for the multipart framing around an upload of the largest size.
    let max_body = options
        .max_body_bytes
        .max(options.max_upload_bytes + 64 * 1024);
    let websocket_service = service.clone();
    let shutdown = options.shutdown.clone();
    let allowed_origins: Arc<[String]> = options.allowed_origins.clone().into();
    Route::new()
        .nest(API_PREFIX, api)
        .at(format!("{API_PREFIX}/openapi.json"), spec)
        .nest("/docs", docs)
        .at(
            "/healthz",
            get(make_sync(|_| Json(serde_json::json!({ "status": "ok" })))),
        )
        .around(move |next, request| limit_body(next, request, max_body))
        .around(move |next, request| {
            let service = websocket_service.clone();
            let shutdown = shutdown.clone();
            let allowed_origins = allowed_origins.clone();
            async move {
                // `GET /api/v1/events` with `Upgrade: websocket`; everything else, SSE
                // included, is the documented API.
                if request.uri().path() == EVENTS_PATH && realtime::is_upgrade(&request) {
                    realtime::serve(request, service, shutdown.clone(), &allowed_origins).await
                } else {
                    Ok(next.call(request).await?.into_response())
                }
            }
        })
        .data(service)
        .with(Tracing)
        .catch_all_error(error::into_json)
}

/// Refuses a body larger than `max` bytes with 413: at once when it declares its length, and
/// after reading at most `max + 1` bytes when it streams without declaring it.
async fn limit_body<E: Endpoint>(
    next: Arc<E>,
    mut request: Request,
    max: usize,
) -> poem::Result<Response> {
    let too_large = || {
        error::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {max} bytes"),
            None,
        )
    };
    let declared = request
        .header(CONTENT_LENGTH)
        .and_then(|length| length.parse::<u64>().ok());
    match declared {
        Some(length) if length > max as u64 => return Err(too_large().into()),
        Some(_) => {}
        None => {
            let mut body = Vec::new();
            request
                .take_body()
                .into_async_read()
                .take(max as u64 + 1)
                .read_to_end(&mut body)
                .await
                .map_err(|error| {
                    poem::Error::from_string(error.to_string(), StatusCode::BAD_REQUEST)
                })?;
            if body.len() > max {
                return Err(too_large().into());
            }
            request.set_body(Body::from(body));
        }
    }
    Ok(next.call(request).await?.into_response())
}

/// Resolves when the server starts shutting down (never, without a shutdown signal).
pub(crate) async fn shut_down(shutdown: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match shutdown {
        Some(receiver) => {
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
        None => std::future::pending::<()>().await,
    }
}
