//! One error body for every failure, and the one place where codes become statuses.

use std::sync::Arc;

use chatcore::Error;
use poem::http::StatusCode;
use poem::http::header::ALLOW;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// The body of every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `not_found`, `invalid_input`, `not_authorized`.
    pub code: String,
    /// A human-readable explanation (never internal details).
    pub message: String,
    /// The request field at fault, for `invalid_input` and `user_already_exists`.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

/// Every error an operation may answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed, or a field is invalid (`invalid_input`, `invalid_message`,
    /// `invalid_file`, `invalid_token`, `self_chat`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No session, or an invalid, expired or revoked one (`not_authorized`); or a wrong login
    /// or password (`invalid_login`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The caller may not do this (`forbidden`, `blocked`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such thing, or the caller may not know of it (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with the current state (`conflict`, `user_already_exists`,
    /// `user_inactive`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The invite link no longer works (`invite_expired`, `invite_revoked`,
    /// `invite_exhausted`), or an event cursor is older than the retained events
    /// (`cursor_expired`).
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// The body is larger than allowed (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The content type is not accepted (`unsupported_media_type`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Too many requests (`rate_limited`); retry after the `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// Something failed inside (`internal`); the details went to the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Storage or the event bus is unreachable or overloaded (`unavailable`): nothing was
    /// done; retry after the `Retry-After` seconds. Never a reason to drop the session.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        field: Option<&str>,
    ) -> Self {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                field: field.map(str::to_owned),
            },
        });
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest(body),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(body),
            StatusCode::FORBIDDEN => ApiError::Forbidden(body),
            StatusCode::NOT_FOUND => ApiError::NotFound(body),
            StatusCode::CONFLICT => ApiError::Conflict(body),
            StatusCode::GONE => ApiError::Gone(body),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(body),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(body),
            StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests(body, 1),
            StatusCode::SERVICE_UNAVAILABLE => {
                ApiError::Unavailable(body, chatcore::UNAVAILABLE_RETRY_AFTER.as_secs())
            }
            _ => ApiError::Internal(body),
        }
    }

    /// Sets the `Retry-After` seconds of a 429 or 503 (other statuses have none).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let ApiError::TooManyRequests(_, wait) | ApiError::Unavailable(_, wait) = &mut self {
            *wait = seconds.max(1);
        }
        self
    }

    /// `not_authorized`.
    pub fn not_authorized() -> Self {
        ApiError::from(Error::NotAuthorized)
    }
}

/// The HTTP status of each chatcore error: the one mapping.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::InvalidInput { .. }
        | Error::InvalidMessage(_)
        | Error::InvalidFile(_)
        | Error::SelfChat
        | Error::InvalidToken => StatusCode::BAD_REQUEST,
        Error::NotAuthorized | Error::InvalidLogin => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) | Error::Blocked => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::UserAlreadyExists { .. } | Error::Conflict(_) | Error::UserInactive => {
            StatusCode::CONFLICT
        }
        Error::InviteExpired
        | Error::InviteRevoked
        | Error::InviteExhausted
        | Error::CursorExpired => StatusCode::GONE,
        Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        // `Error` is non-exhaustive: a variant added to chatcore later is a 500 until it is
        // mapped here.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = status_of(&error);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Retryable: say so, but nothing of the cause (it went to the log).
            return ApiError::new(status, error.code(), error.to_string(), None)
                .retry_after(error.retry_after_secs().unwrap_or(1));
        }
        if status.is_server_error() {
            // The cause was logged where it happened; clients learn nothing of it.
            return ApiError::new(status, "internal", "internal error", None);
        }
        let wait = error.retry_after_secs();
        let mapped = ApiError::new(status, error.code(), error.to_string(), error.field());
        match wait {
            Some(seconds) => mapped.retry_after(seconds),
            None => mapped,
        }
    }
}

/// Turns any error that escaped the operations (a malformed body, a bad parameter, a missing
/// route, a failed authentication) into the same JSON body.
pub(crate) async fn into_json(error: poem::Error) -> Response {
    if error.is_from_response() {
        return error.into_response();
    }
    let status = error.status();
    let (code, message) = match status {
        StatusCode::UNAUTHORIZED => ("not_authorized", "not authorized".to_owned()),
        StatusCode::NOT_FOUND => ("not_found", "no such resource".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is too large".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", error.to_string()),
        status if status.is_server_error() => {
            tracing::error!(%error, "request failed");
            ("internal", "internal error".to_owned())
        }
        _ => ("invalid_input", error.to_string()),
    };
    // A field that poem-openapi refused names itself: "field `title` verification failed".
    let field = message
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field.to_owned());
    let mut response = ApiError::new(status, code, message, field.as_deref()).into_response();
    // Statuses without a variant of their own (405, 411, ...) keep their status.
    response.set_status(status);
    response
}

/// Adds `Allow` to a 405: the methods the document gives the request's path (`allowed` pairs
/// path templates under the API prefix, like `/chats/{id}`, with their methods).
pub(crate) async fn allow_methods<E: Endpoint>(
    next: Arc<E>,
    request: Request,
    allowed: Arc<Vec<(String, String)>>,
) -> poem::Result<Response> {
    let path = request.uri().path().to_owned();
    let mut response = next.call(request).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let methods = path
            .strip_prefix(crate::API_PREFIX)
            .and_then(|path| {
                allowed
                    .iter()
                    .find(|(template, _)| matches_template(template, path))
            })
            .and_then(|(_, methods)| methods.parse().ok());
        if let Some(methods) = methods {
            response.headers_mut().insert(ALLOW, methods);
        }
    }
    Ok(response)
}

/// Whether `path` fits `template`, whose `{name}` segments stand for any one segment.
fn matches_template(template: &str, path: &str) -> bool {
    let mut expected = template.trim_end_matches('/').split('/');
    let mut actual = path.trim_end_matches('/').split('/');
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(want), Some(got)) => {
                let variable = want.starts_with('{') && want.ends_with('}');
                if !(variable && !got.is_empty() || want == got) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates() {
        assert!(matches_template(
            "/chats/{id}/messages",
            "/chats/abc/messages"
        ));
        assert!(matches_template("/chats", "/chats/"));
        assert!(!matches_template("/chats/{id}", "/chats/abc/messages"));
        assert!(!matches_template("/chats/{id}", "/chats//"));
        assert!(!matches_template("/users/me", "/users/you"));
    }

    #[test]
    fn internal_errors_say_nothing() {
        let error = ApiError::from(Error::Forbidden("x".into()));
        assert!(matches!(error, ApiError::Forbidden(_)));
        let secret = std::io::Error::other("table users is on fire");
        let sea = chatcore::sea_orm::DbErr::Custom(secret.to_string());
        let error = ApiError::from(Error::from(sea));
        match error {
            ApiError::Internal(Json(body)) => {
                assert_eq!(body.error.code, "internal");
                assert!(!body.error.message.contains("fire"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invite_and_input_statuses() {
        assert_eq!(status_of(&Error::InviteExhausted), StatusCode::GONE);
        assert_eq!(
            status_of(&Error::UserAlreadyExists { field: "email" }),
            StatusCode::CONFLICT
        );
        assert_eq!(status_of(&Error::Blocked), StatusCode::FORBIDDEN);
    }

    #[test]
    fn transient_errors_say_when_to_retry() {
        let limited = ApiError::from(Error::RateLimited {
            retry_after: std::time::Duration::from_millis(2500),
        });
        let response = limited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "3");

        let down = ApiError::from(Error::Unavailable("connection refused".into()));
        let response = down.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "2");
    }
}
