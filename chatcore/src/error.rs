//! The one public error type.

use std::borrow::Cow;

/// Everything that can go wrong in chatcore, by meaning.
///
/// Every variant has a stable snake_case [`code`](Error::code) that transports expose to clients.
/// Database and other internal failures are [`Error::Internal`]: their cause is logged through
/// `tracing` and never shown to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A username or email is already taken.
    #[error("{field} is already taken")]
    UserAlreadyExists {
        /// Which field collided: `username`, `email` or `external_id`.
        field: &'static str,
    },
    /// Unknown login or wrong password (deliberately indistinguishable).
    #[error("invalid login or password")]
    InvalidLogin,
    /// No session, or an invalid, expired or revoked one.
    #[error("not authorized")]
    NotAuthorized,
    /// The caller is authenticated but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field of the request is malformed.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: Cow<'static, str>,
    },
    /// A message text is empty, blank or too long.
    #[error("invalid message: {0}")]
    InvalidMessage(Cow<'static, str>),
    /// A direct chat with oneself was requested.
    #[error("cannot start a direct chat with yourself")]
    SelfChat,
    /// The other user is deactivated or deleted.
    #[error("user is not active")]
    UserInactive,
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(Cow<'static, str>),
    /// The other user blocked the caller.
    #[error("this user does not accept this from you")]
    Blocked,
    /// The invite link's expiry time has passed.
    #[error("the invite has expired")]
    InviteExpired,
    /// An admin revoked the invite link.
    #[error("the invite was revoked")]
    InviteRevoked,
    /// The invite link reached its maximum number of uses.
    #[error("the invite has no uses left")]
    InviteExhausted,
    /// An event cursor is older than the retained events: the client must resync.
    #[error("the cursor is older than the retained events; resync")]
    CursorExpired,
    /// A password-reset or verification token is unknown, used or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// An uploaded file is not an image of an accepted kind, or is damaged or too big to decode.
    #[error("invalid file: {0}")]
    InvalidFile(Cow<'static, str>),
    /// An upload is larger than the configured limit
    /// ([`Options::max_avatar_bytes`](crate::Options::max_avatar_bytes) for avatars).
    #[error("the upload is too large")]
    PayloadTooLarge,
    /// Too many requests of this kind from this caller (or address): retry after
    /// `retry_after`. Nothing was changed.
    #[error("too many requests; retry in {} s", retry_after_secs(*.retry_after))]
    RateLimited {
        /// How long to wait before the same request can succeed.
        retry_after: std::time::Duration,
    },
    /// Storage or the event bus is unreachable, timed out or is overloaded: the request may
    /// succeed if retried later. Nothing was acknowledged. The cause went to the log.
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Something failed inside; the details went to the log.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What clients are told to wait after [`Error::Unavailable`].
pub const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Whole seconds to wait, rounded up (`Retry-After` has no fractions).
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable, snake_case code of this error, as transports expose it.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UserAlreadyExists { .. } => "user_already_exists",
            Error::InvalidLogin => "invalid_login",
            Error::NotAuthorized => "not_authorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::InvalidInput { .. } => "invalid_input",
            Error::InvalidMessage(_) => "invalid_message",
            Error::SelfChat => "self_chat",
            Error::UserInactive => "user_inactive",
            Error::Conflict(_) => "conflict",
            Error::Blocked => "blocked",
            Error::InviteExpired => "invite_expired",
            Error::InviteRevoked => "invite_revoked",
            Error::InviteExhausted => "invite_exhausted",
            Error::InvalidToken => "invalid_token",
            Error::CursorExpired => "cursor_expired",
            Error::InvalidFile(_) => "invalid_file",
            Error::PayloadTooLarge => "payload_too_large",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The request field at fault, for [`Error::InvalidInput`].
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::InvalidInput { field, .. } | Error::UserAlreadyExists { field } => Some(field),
            _ => None,
        }
    }

    /// How long a client should wait before retrying, for [`Error::RateLimited`] and
    /// [`Error::Unavailable`] (transports send it as `Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::RateLimited { retry_after } => Some(*retry_after),
            Error::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }

    /// [`retry_after`](Error::retry_after) in whole seconds, rounded up, as `Retry-After`
    /// carries it.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after().map(retry_after_secs)
    }

    /// Whether retrying the same request later may succeed ([`Error::RateLimited`],
    /// [`Error::Unavailable`]): "try again" rather than "broken" or "refused".
    pub fn is_transient(&self) -> bool {
        self.retry_after().is_some()
    }

    /// [`Error::Unavailable`], logging its cause.
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let cause = cause.into();
        tracing::warn!(error = %cause, "storage unavailable");
        Error::Unavailable(cause)
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let cause = cause.into();
        tracing::error!(error = %cause, "internal error");
        Error::Internal(cause)
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::internal(err)
    }
}

/// Whether a database error is a unique-key violation, and if so the constraint's message.
pub(crate) fn unique_violation(err: &sea_orm::DbErr) -> Option<String> {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let errors = [
            Error::UserAlreadyExists { field: "username" },
            Error::InvalidLogin,
            Error::NotAuthorized,
            Error::Forbidden("x".into()),
            Error::NotFound("chat"),
            Error::invalid("username", "too short"),
            Error::InvalidMessage("blank".into()),
            Error::SelfChat,
            Error::UserInactive,
            Error::Conflict("x".into()),
            Error::Blocked,
            Error::InviteExpired,
            Error::InviteRevoked,
            Error::InviteExhausted,
            Error::InvalidToken,
            Error::InvalidFile("x".into()),
            Error::PayloadTooLarge,
            Error::RateLimited {
                retry_after: std::time::Duration::from_millis(1500),
            },
            Error::Unavailable("db down".into()),
        ];
        for error in errors {
            let code = error.code();
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn internal_hides_its_cause_in_display() {
        let error = Error::internal("secret table name");
        assert_eq!(error.to_string(), "internal error");
        assert_eq!(error.code(), "internal");
    }
}
