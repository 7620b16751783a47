//! Limits per client address and per route: what one IP may ask for, how large and how slow
//! a body may be.
//!
//! Limits per account and per user (failed logins, sends, ...) are not here: they hold for
//! every transport, so they live in [`chatcore::limits::RateLimited`], which
//! `chatcore-server` wraps around its service. This module adds what only the transport can
//! know: the client's address, and the body on the wire.
//!
//! The client address is the TCP peer's, unless the peer is one of
//! [`HttpOptions::trusted_proxies`](crate::HttpOptions::trusted_proxies): then
//! `X-Forwarded-For` is read from the right, skipping trusted proxies, and the first other
//! address is the client. IPv6 clients are counted per /64 network (one host usually holds a
//! whole /64). A request whose peer has no IP address (a Unix socket, an in-process test
//! client) is not limited per address.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chatcore::limits::{KeyedLimiter, Rate, with_client};
use chatcore::realtime::{SignIn, SignInLimits};
use futures::StreamExt;
use poem::http::header::CONTENT_LENGTH;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use tokio::io::AsyncReadExt;

pub use ipnet::IpNet;

use crate::error::ApiError;
use crate::{API_PREFIX, HttpOptions};

/// Requests per client address. Start from `IpLimits::default()`, whose values are meant to be
/// kept by a real deployment; raise them for clients behind a shared address (a large NAT)
/// that the server cannot tell apart.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IpLimits {
    /// `POST /auth/login` per address, whatever the outcome. Default: 20 per minute.
    pub logins: Rate,
    /// `POST /auth/register` per address, whatever the outcome. Default: 20 per hour.
    pub registrations: Rate,
    /// `POST /auth/password-reset/confirm` per address. Default: 20 per hour.
    pub password_reset_confirmations: Rate,
    /// `POST /auth/verification/confirm` per address. Default: 20 per hour.
    pub verification_confirmations: Rate,
    /// Every request per address: a ceiling that clients never meet in normal use. A
    /// transport served next to the app counts against it through
    /// [`ChatService::ceiling_under`](crate::tower::ChatService::ceiling_under) (chatcore-server
    /// does so for Socket.IO). Default: 1,200 per minute.
    pub requests: Rate,
}

impl Default for IpLimits {
    fn default() -> Self {
        IpLimits {
            logins: Rate::per_minute(20),
            registrations: Rate::per_hour(20),
            password_reset_confirmations: Rate::per_hour(20),
            verification_confirmations: Rate::per_hour(20),
            requests: Rate::per_minute(1200),
        }
    }
}

/// The error inside the `std::io::Error` that an avatar upload's body stream yields when it
/// goes past [`HttpOptions::max_upload_bytes`](crate::HttpOptions::max_upload_bytes) without
/// having declared its length (uploads that declare a larger `Content-Length` are refused
/// with 413 before their body is read). Whatever the handler then answers, the client gets
/// 413 `payload_too_large`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the body is larger than {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit that was passed.
    pub limit: usize,
}

impl BodyTooLarge {
    /// Whether `error` (from reading a request body) is this one.
    pub fn is(error: &std::io::Error) -> bool {
        error
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<BodyTooLarge>().is_some())
    }
}

/// Where the avatar upload arrives: the only route with the upload limit.
const AVATAR_UPLOAD_PATH: &str = "/api/v1/users/me/avatar";

/// Room for the multipart framing around an upload of the largest size.
const MULTIPART_FRAMING: usize = 64 * 1024;

/// Which per-address limit a route counts against, besides the ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guarded {
    Login,
    Registration,
    ResetConfirmation,
    VerificationConfirmation,
}

fn guarded(method: &Method, path: &str) -> Option<Guarded> {
    if method != Method::POST {
        return None;
    }
    match path.strip_prefix(API_PREFIX)? {
        "/auth/login" => Some(Guarded::Login),
        "/auth/register" => Some(Guarded::Registration),
        "/auth/password-reset/confirm" => Some(Guarded::ResetConfirmation),
        "/auth/verification/confirm" => Some(Guarded::VerificationConfirmation),
        _ => None,
    }
}

struct IpLimiters {
    logins: KeyedLimiter<IpAddr>,
    registrations: KeyedLimiter<IpAddr>,
    reset_confirmations: KeyedLimiter<IpAddr>,
    verification_confirmations: KeyedLimiter<IpAddr>,
    requests: KeyedLimiter<IpAddr>,
}

impl IpLimiters {
    fn new(limits: &IpLimits) -> Self {
        IpLimiters {
            logins: KeyedLimiter::new(limits.logins),
            registrations: KeyedLimiter::new(limits.registrations),
            reset_confirmations: KeyedLimiter::new(limits.password_reset_confirmations),
            verification_confirmations: KeyedLimiter::new(limits.verification_confirmations),
            requests: KeyedLimiter::new(limits.requests),
        }
    }

    fn check(&self, client: IpAddr, route: Option<Guarded>) -> chatcore::Result<()> {
        self.requests.check(&client)?;
        match route {
            Some(Guarded::Login) => self.logins.check(&client),
            Some(Guarded::Registration) => self.registrations.check(&client),
            Some(Guarded::ResetConfirmation) => self.reset_confirmations.check(&client),
            Some(Guarded::VerificationConfirmation) => {
                self.verification_confirmations.check(&client)
            }
            None => Ok(()),
        }
    }
}

/// The middleware of [`crate::app`]: per-address limits, then body limits, then the request
/// runs as coming from its client (see [`chatcore::limits::with_client`]).
#[derive(Clone)]
pub(crate) struct RequestGuard(Arc<Guard>);

impl RequestGuard {
    pub(crate) fn new(options: &HttpOptions) -> Self {
        RequestGuard(Arc::new(Guard::new(options)))
    }

    /// The client of a request from `peer` with `headers`: the peer, or whom trusted proxies
    /// forwarded for.
    pub(crate) fn client_from(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        self.0.client_from(peer, headers)
    }

    /// Counts a request of `client` against the per-address ceiling
    /// ([`IpLimits::requests`]), as the app counts each of its own.
    pub(crate) fn count_request(&self, client: Option<IpAddr>) -> chatcore::Result<()> {
        match (&self.0.per_ip, client) {
            (Some(limiters), Some(client)) => limiters.requests.check(&client_key(client)),
            _ => Ok(()),
        }
    }

    /// The login and registration limits of `client`, for a realtime connection's `login`
    /// and `register`: they count against the same rates as `POST /auth/login` and
    /// `POST /auth/register`, so that opening connections does not get around them.
    pub(crate) fn sign_in_limits(&self, client: Option<IpAddr>) -> Option<Arc<dyn SignInLimits>> {
        let client = client?;
        self.0.per_ip.as_ref()?;
        Some(Arc::new(ClientSignIn {
            guard: self.0.clone(),
            client: client_key(client),
        }))
    }
}

/// [`RequestGuard::sign_in_limits`] for one client.
struct ClientSignIn {
    guard: Arc<Guard>,
    client: IpAddr,
}

impl std::fmt::Debug for ClientSignIn {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "sign-in limits of {}", self.client)
    }
}

impl SignInLimits for ClientSignIn {
    fn check(&self, sign_in: SignIn) -> chatcore::Result<()> {
        let Some(limiters) = &self.guard.per_ip else {
            return Ok(());
        };
        match sign_in {
            SignIn::Login => limiters.logins.check(&self.client),
            SignIn::Register => limiters.registrations.check(&self.client),
        }
    }
}

impl<E: Endpoint> Middleware<E> for RequestGuard {
    type Output = Guarding<E>;

    fn transform(&self, inner: E) -> Guarding<E> {
        Guarding {
            inner,
            guard: self.0.clone(),
        }
    }
}

/// An endpoint behind [`RequestGuard`].
pub(crate) struct Guarding<E> {
    inner: E,
    guard: Arc<Guard>,
}

impl<E: Endpoint> Endpoint for Guarding<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        self.guard.call(&self.inner, request).await
    }
}

struct Guard {
    per_ip: Option<IpLimiters>,
    trusted_proxies: Vec<IpNet>,
    max_body_bytes: usize,
    max_upload_bytes: usize,
    body_read_timeout: Duration,
}

impl Guard {
    fn new(options: &HttpOptions) -> Self {
        Guard {
            per_ip: options.ip_limits.as_ref().map(IpLimiters::new),
            trusted_proxies: options.trusted_proxies.clone(),
            max_body_bytes: options.max_body_bytes,
            max_upload_bytes: options.max_upload_bytes + MULTIPART_FRAMING,
            body_read_timeout: options.body_read_timeout,
        }
    }

    async fn call<E: Endpoint>(&self, next: &E, mut request: Request) -> poem::Result<Response> {
        let client = self.client_of(&request);
        if let (Some(limiters), Some(client)) = (&self.per_ip, client) {
            limiters
                .check(
                    client_key(client),
                    guarded(request.method(), request.uri().path()),
                )
                .map_err(refuse)?;
        }
        let mut overflow = None;
        if request.method() == Method::PUT && request.uri().path() == AVATAR_UPLOAD_PATH {
            overflow = Some(limit_streaming(&mut request, self.max_upload_bytes)?);
        } else {
            buffer_limited(&mut request, self.max_body_bytes, self.body_read_timeout).await?;
        }
        let response = match client {
            Some(client) => with_client(client, next.call(request)).await,
            None => next.call(request).await,
        };
        // However the handler answered a body that broke off at the limit, the client is
        // told why.
        if overflow.is_some_and(|overflow| overflow.load(Ordering::Relaxed)) {
            return Err(too_large(self.max_upload_bytes));
        }
        Ok(response?.into_response())
    }

    fn client_of(&self, request: &Request) -> Option<IpAddr> {
        let peer = request.remote_addr().as_socket_addr().map(|addr| addr.ip());
        self.client_from(peer, request.headers())
    }

    /// The client of a request from `peer` with `headers` (see the module docs).
    fn client_from(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        client_ip(peer, &forwarded, &self.trusted_proxies)
    }
}

fn refuse(error: chatcore::Error) -> poem::Error {
    ApiError::from(error).into()
}

fn too_large(max: usize) -> poem::Error {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {max} bytes"),
        None,
    )
    .into()
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .header(CONTENT_LENGTH)
        .and_then(|length| length.trim().parse::<u64>().ok())
}

/// Refuses a body over `max` bytes with 413 before reading it when it declares its length,
/// and after at most `max + 1` bytes when it does not; a body that takes longer than
/// `timeout` to arrive gets 408. The body is then held in memory (at most `max` bytes).
async fn buffer_limited(request: &mut Request, max: usize, timeout: Duration) -> poem::Result<()> {
    if declared_length(request).is_some_and(|length| length > max as u64) {
        return Err(too_large(max));
    }
    let mut reader = request.take_body().into_async_read().take(max as u64 + 1);
    let mut body = Vec::new();
    match tokio::time::timeout(timeout, reader.read_to_end(&mut body)).await {
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the body did not arrive within {}", format_secs(timeout)),
                None,
            )
            .into_response();
            response.set_status(StatusCode::REQUEST_TIMEOUT);
            return Err(poem::Error::from_response(response));
        }
        Ok(Err(error)) => {
            return Err(poem::Error::from_string(
                error.to_string(),
                StatusCode::BAD_REQUEST,
            ));
        }
        Ok(Ok(_)) => {}
    }
    if body.len() > max {
        return Err(too_large(max));
    }
    request.set_body(Body::from(body));
    Ok(())
}

/// Refuses a body over `max` bytes with 413 when it declares its length; otherwise passes it
/// on as a stream that fails with [`BodyTooLarge`] past `max` bytes, so that an upload is
/// never held whole in memory here. The flag returned turns `true` if it did.
fn limit_streaming(request: &mut Request, max: usize) -> poem::Result<Arc<AtomicBool>> {
    if declared_length(request).is_some_and(|length| length > max as u64) {
        return Err(too_large(max));
    }
    let overflow = Arc::new(AtomicBool::new(false));
    let overflowed = overflow.clone();
    let mut seen = 0usize;
    let limited = request
        .take_body()
        .into_bytes_stream()
        .map(move |chunk| {
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len());
            if seen > max {
                overflowed.store(true, Ordering::Relaxed);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    BodyTooLarge { limit: max },
                ));
            }
            Ok(chunk)
        })
        // Nothing after the first error.
        .scan(false, |failed, item| {
            let stop = *failed;
            *failed |= item.is_err();
            futures::future::ready((!stop).then_some(item))
        });
    request.set_body(Body::from_bytes_stream(limited));
    Ok(overflow)
}

fn format_secs(duration: Duration) -> String {
    chatcore::limits::format_duration(duration)
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// address in `X-Forwarded-For` (read from the right) that is not a trusted proxy. A peer
/// without an IP address counts as a proxy when proxies are trusted at all.
///
/// An entry that does not parse stops the walk at the last address known: clients cannot
/// choose their key by sending garbage.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &str, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.map(|ip| ip.to_canonical());
    if trusted.is_empty() {
        return peer;
    }
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if peer.as_ref().is_some_and(|ip| !is_trusted(ip)) {
        return peer;
    }
    for entry in forwarded_for.rsplit(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some(ip) = parse_forwarded(entry) else {
            break;
        };
        client = Some(ip);
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// What a client is counted as: its IPv4 address, or its IPv6 /64 network.
fn client_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|net| {
                net.parse::<IpNet>()
                    .or_else(|_| net.parse::<IpAddr>().map(IpNet::from))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let peer = Some(ip("203.0.113.7"));
        assert_eq!(client_ip(peer, "198.51.100.1", &[]), peer);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(peer, "198.51.100.1", &trusted), peer);
        assert_eq!(
            client_ip(Some(ip("10.1.2.3")), "198.51.100.1", &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(client_ip(None, "198.51.100.1", &[]), None);
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_past_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.10"]);
        let proxy = Some(ip("10.0.0.2"));
        // The client prepended a forged address; the proxies appended the real one.
        assert_eq!(
            client_ip(proxy, "6.6.6.6, 198.51.100.1, 192.0.2.10", &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            client_ip(proxy, "[2001:db8::5]:443", &trusted),
            Some(ip("2001:db8::5"))
        );
        assert_eq!(
            client_ip(proxy, "::ffff:198.51.100.9", &trusted),
            Some(ip("198.51.100.9"))
        );
        // Garbage stops the walk at the last known hop.
        assert_eq!(
            client_ip(proxy, "198.51.100.1, nonsense, 10.0.0.9", &trusted),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(client_ip(proxy, "", &trusted), proxy);
        // Behind a trusted Unix-socket proxy.
        assert_eq!(
            client_ip(None, "198.51.100.1", &trusted),
            Some(ip("198.51.100.1"))
        );
    }

    #[test]
    fn ipv6_clients_count_per_64_network() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn only_the_guarded_routes_have_their_own_limit() {
        assert_eq!(
            guarded(&Method::POST, "/api/v1/auth/login"),
            Some(Guarded::Login)
        );
        assert_eq!(guarded(&Method::GET, "/api/v1/auth/login"), None);
        assert_eq!(
            guarded(&Method::POST, "/api/v1/auth/password-reset/confirm"),
            Some(Guarded::ResetConfirmation)
        );
        assert_eq!(guarded(&Method::POST, "/api/v1/auth/password-reset"), None);
    }
}
