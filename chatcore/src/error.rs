//! The one public error type.

use std::borrow::Cow;

/// Everything that can go wrong in chatcore, by meaning.
///
/// Every variant has a stable snake_case [`code`](Error::code) that transports expose to clients.
/// A database that cannot be reached or cannot take the write (down, restarting, refusing or
/// dropping connections, no pooled connection within the acquire timeout, SQLite busy past its
/// timeout, a read-only file, a full disk) is [`Error::Unavailable`]: "try again later".
/// Other database and internal failures are [`Error::Internal`]: "broken". Either way the
/// cause is logged through `tracing` and never shown to clients.
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
    /// Storage or the event bus is unreachable, timed out or is overloaded, or storage cannot
    /// take writes (a read-only database file, a full disk): the request may succeed if
    /// retried later (after [`UNAVAILABLE_RETRY_AFTER`]). Nothing was acknowledged; a write
    /// whose commit could not be confirmed may have been stored, so retry it with the same
    /// idempotency key (`client_id` for messages). Never an authentication failure: a client
    /// keeps its session. The cause went to the log.
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

/// Database failures become [`Error::Unavailable`] when storage could not be reached or could
/// not take the write (down, refusing or dropping connections, no connection within the pool's
/// acquire timeout, PostgreSQL shutting down, SQLite busy past its timeout, a read-only file,
/// a full disk), and [`Error::Internal`] otherwise. The cause is logged here, once.
impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        match storage_fault(&err) {
            Some(fault) => {
                log_storage_fault(fault, &err);
                Error::Unavailable(Box::new(err))
            }
            None => Error::internal(err),
        }
    }
}

/// [`Error`] for a database failure, without logging it: for one failure answered to many
/// callers (a shared commit), which the caller logs once.
pub(crate) fn db_error_unlogged(err: sea_orm::DbErr) -> Error {
    match storage_fault(&err) {
        Some(_) => Error::Unavailable(Box::new(err)),
        None => Error::Internal(Box::new(err)),
    }
}

/// Logs a database failure as [`From<DbErr>`](Error::from) would, without making an error.
pub(crate) fn log_db_error(err: &sea_orm::DbErr) {
    match storage_fault(err) {
        Some(fault) => log_storage_fault(fault, err),
        None => tracing::error!(error = %err, "internal error"),
    }
}

/// Why storage cannot serve a request now. Each of these may clear by itself (the database
/// restarts, a lock is released) or after an operator acts (disk space, file permissions);
/// retrying later may succeed, so clients get [`Error::Unavailable`] (HTTP 503 `unavailable`
/// with `Retry-After`), never an authentication failure or an opaque 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StorageFault {
    /// No pooled connection within the acquire timeout (database down, or every connection
    /// busy), or the pool is closed.
    Pool,
    /// The connection was refused, reset or closed, or another I/O error occurred; PostgreSQL
    /// SQLSTATE class `08` (connection exception).
    Connection,
    /// PostgreSQL is shutting down, restarting or not yet accepting connections (`57P01`
    /// `admin_shutdown`, `57P02` `crash_shutdown`, `57P03` `cannot_connect_now`), or cancelled
    /// the statement (`57014`, e.g. `statement_timeout`).
    ServerStopping,
    /// The server lacks resources (PostgreSQL class `53`: too many connections, out of memory,
    /// disk full), or is a read-only standby (`25006`).
    ServerResources,
    /// SQLite stayed busy or locked past its busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`).
    Busy,
    /// The database file cannot be written (`SQLITE_READONLY`) or opened (`SQLITE_CANTOPEN`).
    ReadOnly,
    /// The disk or the database is full (`SQLITE_FULL`).
    Full,
}

impl StorageFault {
    fn describe(self) -> &'static str {
        match self {
            StorageFault::Pool => "no database connection within the acquire timeout",
            StorageFault::Connection => "the database connection failed",
            StorageFault::ServerStopping => "the database server is stopping or starting",
            StorageFault::ServerResources => "the database server is out of resources",
            StorageFault::Busy => "the database stayed locked past the busy timeout",
            StorageFault::ReadOnly => "the database file is read-only or cannot be opened",
            StorageFault::Full => "the disk or the database is full",
        }
    }
}

fn log_storage_fault(fault: StorageFault, err: &sea_orm::DbErr) {
    match fault {
        // These need an operator: say so louder.
        StorageFault::ReadOnly | StorageFault::Full => {
            tracing::error!(error = %err, reason = fault.describe(), "storage unavailable");
        }
        _ => tracing::warn!(error = %err, reason = fault.describe(), "storage unavailable"),
    }
}

/// Whether a database error means that storage is unreachable, stopping, busy or cannot take
/// writes (see [`StorageFault`]) rather than a fault of the request or of chatcore.
///
/// Driver errors are told apart by their code: PostgreSQL reports a five-character SQLSTATE,
/// SQLite a numeric (extended) result code of at most four digits (see [`sqlite_error`]).
/// sqlx's PostgreSQL errors are visible with the `postgres` feature, which chatcore-postgres
/// turns on.
pub(crate) fn storage_fault(err: &sea_orm::DbErr) -> Option<StorageFault> {
    use sea_orm::{ConnAcquireErr, DbErr};
    match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => {
            Some(StorageFault::Pool)
        }
        // Whatever failed while connecting, the database could not be reached.
        DbErr::Conn(runtime) => Some(runtime_fault(runtime).unwrap_or(StorageFault::Connection)),
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime_fault(runtime),
        _ => None,
    }
}

/// How an SQLite error from a driver other than sqlx (such as
/// [`crate::storage::sqlite`]'s connections) begins, before its extended result code.
const SQLITE_ERROR: &str = "sqlite error ";

/// A database error from an SQLite driver other than sqlx, by its extended result code and
/// message. chatcore tells storage faults (busy, read-only, full, I/O) and unique-key
/// violations apart in it as in sqlx's errors.
pub fn sqlite_error(extended_code: i32, message: &str) -> sea_orm::DbErr {
    sea_orm::DbErr::Exec(sea_orm::RuntimeErr::Internal(format!(
        "{SQLITE_ERROR}{extended_code}: {message}"
    )))
}

/// The extended result code of an error made by [`sqlite_error`].
fn sqlite_code(err: &sea_orm::DbErr) -> Option<i32> {
    use sea_orm::DbErr;
    match err {
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => {
            runtime_sqlite_code(runtime)
        }
        _ => None,
    }
}

fn runtime_sqlite_code(runtime: &sea_orm::RuntimeErr) -> Option<i32> {
    // Without sqlx (no `postgres` feature), `Internal` is the only kind of runtime error.
    #[allow(irrefutable_let_patterns)]
    let sea_orm::RuntimeErr::Internal(text) = runtime else {
        return None;
    };
    let (code, _) = text.strip_prefix(SQLITE_ERROR)?.split_once(':')?;
    code.parse().ok()
}

fn runtime_fault(runtime: &sea_orm::RuntimeErr) -> Option<StorageFault> {
    match runtime_sqlite_code(runtime) {
        Some(code) => database_fault(&code.to_string()),
        None => driver_fault(runtime),
    }
}

#[cfg(feature = "postgres")]
fn driver_fault(runtime: &sea_orm::RuntimeErr) -> Option<StorageFault> {
    match runtime {
        sea_orm::RuntimeErr::SqlxError(error) => sqlx_fault(error),
        _ => None,
    }
}

#[cfg(not(feature = "postgres"))]
fn driver_fault(_runtime: &sea_orm::RuntimeErr) -> Option<StorageFault> {
    None
}

#[cfg(feature = "postgres")]
fn sqlx_fault(error: &sea_orm::sqlx::Error) -> Option<StorageFault> {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        Sqlx::PoolTimedOut | Sqlx::PoolClosed => Some(StorageFault::Pool),
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::WorkerCrashed => Some(StorageFault::Connection),
        Sqlx::Database(database) => database_fault(database.code().as_deref()?),
        _ => None,
    }
}

/// The fault a database error code stands for: a PostgreSQL SQLSTATE or an SQLite result
/// code.
fn database_fault(code: &str) -> Option<StorageFault> {
    if code.len() == 5 {
        return match code {
            "57P01" | "57P02" | "57P03" | "57014" => Some(StorageFault::ServerStopping),
            "25006" => Some(StorageFault::ServerResources),
            _ if code.starts_with("08") => Some(StorageFault::Connection),
            _ if code.starts_with("53") => Some(StorageFault::ServerResources),
            // `system_error`, `io_error`: the server's own I/O failed.
            "58000" | "58030" => Some(StorageFault::Connection),
            _ => None,
        };
    }
    // SQLite: the primary result code is the low byte of the extended one.
    let primary = code.parse::<u32>().ok()? & 0xff;
    match primary {
        5 | 6 => Some(StorageFault::Busy),
        8 | 14 => Some(StorageFault::ReadOnly),
        10 => Some(StorageFault::Connection),
        13 => Some(StorageFault::Full),
        _ => None,
    }
}

/// Whether a database error is a unique-key violation, and if so the constraint's message.
pub(crate) fn unique_violation(err: &sea_orm::DbErr) -> Option<String> {
    // SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE.
    if let Some(1555 | 2067) = sqlite_code(err) {
        return Some(err.to_string());
    }
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_of_other_drivers_are_classified_by_code() {
        assert_eq!(
            storage_fault(&sqlite_error(5, "database is locked")),
            Some(StorageFault::Busy)
        );
        assert_eq!(
            storage_fault(&sqlite_error(13, "database or disk is full")),
            Some(StorageFault::Full)
        );
        assert_eq!(
            storage_fault(&sqlite_error(1032, "attempt to write a readonly database")),
            Some(StorageFault::ReadOnly)
        );
        assert_eq!(
            storage_fault(&sqlite_error(
                2067,
                "UNIQUE constraint failed: users.username"
            )),
            None
        );
        assert!(
            unique_violation(&sqlite_error(
                2067,
                "UNIQUE constraint failed: users.username"
            ))
            .is_some()
        );
        assert!(unique_violation(&sqlite_error(787, "FOREIGN KEY constraint failed")).is_none());
    }

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
    fn storage_failures_are_unavailable_and_others_internal() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        let timeout = Error::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert_eq!(timeout.code(), "unavailable");
        assert!(timeout.is_transient());
        let connect = Error::from(DbErr::Conn(RuntimeErr::Internal("refused".into())));
        assert_eq!(connect.code(), "unavailable");
        for bug in [
            DbErr::Custom("bug".into()),
            DbErr::RecordNotFound("x".into()),
        ] {
            assert_eq!(Error::from(bug).code(), "internal");
        }
    }

    /// Driver errors (the backend crates' tests cover them against real databases).
    #[cfg(feature = "postgres")]
    #[test]
    fn driver_errors_by_meaning() {
        use sea_orm::{DbErr, RuntimeErr};
        let io = DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
        )));
        assert_eq!(Error::from(io).code(), "unavailable");
        let closed = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::PoolClosed,
        )));
        assert_eq!(Error::from(closed).code(), "unavailable");
        let bug = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::RowNotFound,
        )));
        assert_eq!(Error::from(bug).code(), "internal");
    }

    #[test]
    fn database_codes_by_meaning() {
        for code in [
            "57P01", "57P02", "57P03", "08006", "08001", "53300", "53100", "25006",
        ] {
            assert!(database_fault(code).is_some(), "{code}");
        }
        // Unique violation, syntax error, undefined table: the request's or chatcore's fault.
        for code in ["23505", "42601", "42P01", "40P01"] {
            assert_eq!(database_fault(code), None, "{code}");
        }
        // SQLite: BUSY, BUSY_SNAPSHOT, LOCKED, READONLY, IOERR_WRITE, FULL, CANTOPEN.
        assert_eq!(database_fault("5"), Some(StorageFault::Busy));
        assert_eq!(database_fault("517"), Some(StorageFault::Busy));
        assert_eq!(database_fault("6"), Some(StorageFault::Busy));
        assert_eq!(database_fault("8"), Some(StorageFault::ReadOnly));
        assert_eq!(database_fault("778"), Some(StorageFault::Connection));
        assert_eq!(database_fault("13"), Some(StorageFault::Full));
        assert_eq!(database_fault("14"), Some(StorageFault::ReadOnly));
        // CONSTRAINT_UNIQUE, CORRUPT, ERROR.
        for code in ["2067", "11", "1"] {
            assert_eq!(database_fault(code), None, "{code}");
        }
    }

    #[test]
    fn internal_hides_its_cause_in_display() {
        let error = Error::internal("secret table name");
        assert_eq!(error.to_string(), "internal error");
        assert_eq!(error.code(), "internal");
    }
}
