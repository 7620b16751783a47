//! The request log: one line per request with its method, path, query, status and latency,
//! and nothing secret. Invite codes in paths and every query value (`access_token` among
//! them) are replaced by `***` before anything is written.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

/// What stands in for a redacted value.
const REDACTED: &str = "***";

/// Logs one request at INFO (target `chatcore_http::request`) once its response is ready;
/// handlers' own logs run inside a `request` span with the same redacted path. It replaces
/// poem's `Tracing`, which logs the whole URI.
pub(crate) struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = Logged<E>;

    fn transform(&self, inner: E) -> Logged<E> {
        Logged(inner)
    }
}

/// An endpoint whose requests [`RequestLog`] logs.
pub(crate) struct Logged<E>(E);

impl<E: Endpoint> Endpoint for Logged<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        log_request(&self.0, request).await
    }
}

async fn log_request<E: Endpoint>(next: &E, request: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let method = request.method().clone();
    // The path as this app sees it (under a `nest`, without the outer prefix).
    let path = redact_path(request.uri().path());
    let query = request.uri().query().map(redact_query).unwrap_or_default();
    let peer = request.remote_addr().to_string();
    let span = tracing::info_span!("request", %method, %path);
    let result = next.call(request).instrument(span).await;
    let status = match &result {
        Ok(_) => None,
        Err(error) => Some(error.status()),
    };
    let response = result.map(IntoResponse::into_response);
    let status =
        status.unwrap_or_else(|| response.as_ref().map(Response::status).unwrap_or_default());
    tracing::info!(
        target: "chatcore_http::request",
        %method,
        %path,
        %query,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        %peer,
        "request"
    );
    response
}

/// The path with the segment after every `invites` replaced: `/invites/{code}`,
/// `/invites/{code}/accept`, `/chats/{id}/invites/{code}`.
pub(crate) fn redact_path(path: &str) -> String {
    let mut redacted = String::with_capacity(path.len());
    let mut after_invites = false;
    for (index, segment) in path.split('/').enumerate() {
        if index > 0 {
            redacted.push('/');
        }
        if after_invites && !segment.is_empty() {
            redacted.push_str(REDACTED);
        } else {
            redacted.push_str(segment);
        }
        after_invites = segment == "invites";
    }
    redacted
}

/// The query with every value replaced: `since=***&access_token=***`.
pub(crate) fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_codes_leave_the_path() {
        assert_eq!(redact_path("/api/v1/invites/AbC123"), "/api/v1/invites/***");
        assert_eq!(
            redact_path("/api/v1/invites/AbC123/accept"),
            "/api/v1/invites/***/accept"
        );
        assert_eq!(
            redact_path("/api/v1/chats/0190-abc/invites/AbC123"),
            "/api/v1/chats/0190-abc/invites/***"
        );
        assert_eq!(
            redact_path("/api/v1/chats/0190-abc/invites"),
            "/api/v1/chats/0190-abc/invites"
        );
        assert_eq!(redact_path("/api/v1/users/me"), "/api/v1/users/me");
    }

    #[test]
    fn query_values_leave_the_query() {
        assert_eq!(
            redact_query("since=5&access_token=secret"),
            "since=***&access_token=***"
        );
        assert_eq!(redact_query("flag"), "flag");
    }
}
