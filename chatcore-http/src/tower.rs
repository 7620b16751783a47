//! The HTTP app as a tower [`Service`](tower_service::Service), to mount in an axum, tonic or
//! hyper app: `Router::new().nest_service("/chat", chatcore_http::tower::service(chat,
//! HttpOptions::default().nested_at("/chat")))`.
//!
//! Requests and responses are converted between `http` and poem without buffering: event
//! streams (SSE) flow as they are written, and a WebSocket upgrade reaches the app (hyper's
//! `OnUpgrade` is carried over, which poem's own tower compatibility drops), so the event
//! WebSocket works when the host server serves connections with upgrades (`axum::serve`
//! does). The app sees the path its host passes on: nest it with a router that strips the
//! prefix, and tell it the prefix with [`HttpOptions::nested_at`] so that the OpenAPI
//! document and the session cookie follow it.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use chatcore::Service;
use chatcore::realtime::SignInLimits;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Bytes, Frame, SizeHint};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::http::{Extensions, Request, Response};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, RequestParts};

use crate::HttpOptions;
use crate::limits::RequestGuard;

/// The body of the app's responses.
pub type ResponseBody = BoxBody<Bytes, io::Error>;

/// How the client's address is read from a request's extensions.
type PeerOf = dyn Fn(&Extensions) -> Option<SocketAddr> + Send + Sync;

/// [`crate::app`] as a tower service: cheap to clone, every clone serves the same app.
#[derive(Clone)]
pub struct ChatService {
    endpoint: Arc<BoxEndpoint<'static>>,
    peer: Option<Arc<PeerOf>>,
    guard: RequestGuard,
}

/// The whole HTTP application of [`crate::app`] over `chat`, as a tower service.
pub fn service(chat: Arc<dyn Service>, options: HttpOptions) -> ChatService {
    let guard = RequestGuard::new(&options);
    ChatService {
        endpoint: Arc::new(
            crate::guarded_app(chat, options, guard.clone())
                .map_to_response()
                .boxed(),
        ),
        peer: None,
        guard,
    }
}

/// Who a request's client is, and its limits on signing in: see [`ChatService::sign_in`].
pub type SignInOf = dyn Fn(&poem::http::request::Parts) -> (Option<IpAddr>, Option<Arc<dyn SignInLimits>>)
    + Send
    + Sync;

impl ChatService {
    /// Reads the client's address from a request's extensions, where the host server put it
    /// (axum: `|extensions| extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0)`
    /// with `into_make_service_with_connect_info`). Without it the app does not know the
    /// client's address, so the limits per address ([`HttpOptions::ip_limits`]) do not
    /// apply and the request log shows no peer.
    #[must_use]
    pub fn peer_addr(
        mut self,
        peer: impl Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.peer = Some(Arc::new(peer));
        self
    }
}

impl ChatService {
    /// For a transport served next to this app (chatcore-socketio's `SocketIoOptions::sign_in`):
    /// a request's client (its peer as [`peer_addr`](Self::peer_addr) reads it, or whom a
    /// trusted proxy forwarded for) and that client's limits on `login` and `register`. They
    /// are this app's own counters for `POST /auth/login` and `POST /auth/register`
    /// ([`HttpOptions::ip_limits`]), so that signing in over the other transport counts
    /// against the same rates.
    pub fn sign_in(&self) -> Arc<SignInOf> {
        let peer = self.peer.clone();
        let guard = self.guard.clone();
        Arc::new(move |parts: &poem::http::request::Parts| {
            let address = peer
                .as_ref()
                .and_then(|peer| peer(&parts.extensions))
                .map(|address| address.ip());
            let client = guard.client_from(address, &parts.headers);
            (client, guard.sign_in_limits(client))
        })
    }
}

impl ChatService {
    /// A tower layer for a transport served next to this app under `prefix` (chatcore-socketio
    /// at `/socket.io`): each request under `prefix` counts against this app's per-address
    /// ceiling ([`IpLimits::requests`](crate::IpLimits::requests), the same counters as the
    /// app's own requests), and past it gets the app's 429 `rate_limited` with `Retry-After`.
    /// Requests elsewhere pass on uncounted here (the app counts them itself). Wrap the
    /// combined service with it: `service.ceiling_under("/socket.io").layer(socketio.layer(app))`.
    pub fn ceiling_under(&self, prefix: impl Into<String>) -> CeilingLayer {
        CeilingLayer {
            prefix: prefix.into().into(),
            peer: self.peer.clone(),
            guard: self.guard.clone(),
        }
    }
}

/// See [`ChatService::ceiling_under`].
#[derive(Clone)]
pub struct CeilingLayer {
    prefix: Arc<str>,
    peer: Option<Arc<PeerOf>>,
    guard: RequestGuard,
}

impl<S> tower_layer::Layer<S> for CeilingLayer {
    type Service = Ceiling<S>;

    fn layer(&self, inner: S) -> Ceiling<S> {
        Ceiling {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind a [`CeilingLayer`].
#[derive(Clone)]
pub struct Ceiling<S> {
    inner: S,
    layer: CeilingLayer,
}

/// A response of the service behind a [`CeilingLayer`], or the layer's refusal.
pub type CeilingBody<B> = Either<B, Full<Bytes>>;

impl<S, B, R> tower_service::Service<Request<B>> for Ceiling<S>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<CeilingBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.uri().path().starts_with(&*self.layer.prefix) {
            let address = self
                .layer
                .peer
                .as_ref()
                .and_then(|peer| peer(request.extensions()))
                .map(|address| address.ip());
            let client = self.layer.guard.client_from(address, request.headers());
            if let Err(error) = self.layer.guard.count_request(client) {
                return Box::pin(async move { Ok(refusal(error).await) });
            }
        }
        let answer = self.inner.call(request);
        Box::pin(async move { Ok(answer.await?.map(Either::Left)) })
    }
}

/// The app's answer to `error` (its JSON body and headers), as a plain response.
async fn refusal<R>(error: chatcore::Error) -> Response<CeilingBody<R>> {
    let response = poem::IntoResponse::into_response(crate::error::ApiError::from(error));
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let mut answer = Response::new(Either::Right(Full::new(bytes)));
    *answer.status_mut() = parts.status;
    *answer.headers_mut() = parts.headers;
    answer
}

impl<B> tower_service::Service<Request<B>> for ChatService
where
    B: Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let peer = self
            .peer
            .as_ref()
            .and_then(|peer| peer(&parts.extensions))
            .map_or_else(RemoteAddr::default, |peer| {
                RemoteAddr(Addr::SocketAddr(peer))
            });
        let scheme = parts.uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        // Takes hyper's `OnUpgrade` out of the extensions, for the WebSocket handshake.
        let parts = RequestParts::from((parts, LocalAddr::default(), peer, scheme));
        let body = SyncBody::new(
            body.map_frame(|frame| frame.map_data(Into::into))
                .map_err(io::Error::other),
        );
        let request = poem::Request::from_parts(parts, BoxBody::new(body).into());
        let endpoint = self.endpoint.clone();
        Box::pin(async move { Ok(endpoint.get_response(request).await.into()) })
    }
}

/// A request body that is `Sync`, as poem's bodies are, though the host's may not be (axum's
/// is not): it is only ever polled through `&mut`, and the lock is never contended.
struct SyncBody<B>(Mutex<Pin<Box<B>>>);

impl<B> SyncBody<B> {
    fn new(body: B) -> Self {
        SyncBody(Mutex::new(Box::pin(body)))
    }
}

impl<B: Body> Body for SyncBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .size_hint()
    }
}

#[cfg(test)]
mod tests {
    use crate::HttpOptions;
    use crate::auth::session_cookie;

    #[test]
    fn a_prefix_sets_the_server_url_and_the_cookie_path() {
        for prefix in ["/chat", "chat", "/chat/", "chat/"] {
            let options = HttpOptions::default().nested_at(prefix);
            assert_eq!(options.base_path, "/chat");
            assert_eq!(options.server_url, "/chat/api/v1");
            assert!(session_cookie("t", 60, &options).contains("; Path=/chat;"));
        }
        for root in ["", "/"] {
            let options = HttpOptions::default().nested_at(root);
            assert_eq!(options.server_url, "/api/v1");
            assert!(session_cookie("t", 60, &options).contains("; Path=/;"));
        }
        let options = HttpOptions::default();
        assert_eq!(options.server_url, "/api/v1");
        assert!(session_cookie("t", 60, &options).contains("; Path=/;"));
    }
}
