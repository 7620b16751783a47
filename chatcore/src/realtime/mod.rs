//! The realtime session that every live transport speaks: a [`Connection`].
//!
//! A transport (chatcore-http's WebSocket and Server-Sent Events, chatcore-socketio) only
//! frames what a connection says and hears. The connection does the rest, the same way for
//! all of them:
//!
//! - **Authentication.** [`Connection::open`] takes the session's token, or none: an
//!   anonymous connection may only `register` or `login`, which bind it to the new session.
//!   The connection ends when its session does (logout, revocation, the account deactivated):
//!   [`Outgoing::Close`] with the reason.
//! - **Events.** [`Connection::next`] answers the caller's events in cursor order, once each,
//!   from the `since` cursor given at opening (exactly like
//!   [`Service::subscribe`](crate::Service::subscribe)).
//! - **Commands.** [`Connection::command`] runs a command by name with JSON arguments, through
//!   one table ([`COMMANDS`]): the names are the REST API's operation ids, the arguments its
//!   path, query and body fields in one object, and the reply its response body (`null` for
//!   none). A refusal is a [`Failure`]: the stable code, a message and the field at fault.
//! - **Heartbeat.** With [`ConnectionOptions::heartbeat`], [`Connection::next`] asks for a
//!   ping every [`Heartbeat::interval`] and closes a connection not heard from
//!   ([`Connection::heard`]) for [`Heartbeat::timeout`].
//! - **Limits and shutdown.** A connection runs at most
//!   [`ConnectionOptions::commands_per_minute`] commands (then `rate_limited`); transports
//!   refuse client frames over [`ConnectionOptions::max_command_bytes`]; every connection
//!   closes when the server shuts down; a dropped connection frees its place under the
//!   stream caps at once.

mod commands;
mod connection;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use commands::COMMANDS;
pub use connection::{Connection, Outgoing};

use crate::Error;

/// How a connection checks that its client is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often the transport pings the client.
    pub interval: Duration,
    /// How long the client may stay silent (no message, no pong) before the connection is
    /// closed.
    pub timeout: Duration,
}

impl Default for Heartbeat {
    /// A ping every 20 seconds; closed after 60 seconds of silence.
    fn default() -> Self {
        Heartbeat {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(60),
        }
    }
}

/// How a connection behaves. Start from `ConnectionOptions::default()`.
#[derive(Clone, Debug)]
pub struct ConnectionOptions {
    /// Pings and the silence limit; `None` for transports whose clients cannot answer (SSE).
    /// Default: [`Heartbeat::default()`].
    pub heartbeat: Option<Heartbeat>,
    /// The largest client frame (a command with its arguments) a transport accepts, in
    /// bytes. Default: 64 KiB.
    pub max_command_bytes: usize,
    /// Commands a connection may run per minute, in bursts of up to a tenth of it; more are
    /// refused with `rate_limited` (the per-user limits on sends and the rest apply besides).
    /// Default: 600.
    pub commands_per_minute: NonZeroU32,
    /// Turns `true` when the server shuts down: every connection then closes.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    /// The client's user agent, recorded on sessions opened by `register` or `login`.
    pub user_agent: Option<String>,
    /// The client's address, when the transport knows it: `register` and `login` run as
    /// coming from it ([`with_client`](crate::limits::with_client)), as they do over HTTP.
    pub client: Option<IpAddr>,
    /// The transport's limits per client address on signing in, checked before each
    /// `register` and `login` (a client must not get around them by opening connections).
    /// `None`: none besides [`commands_per_minute`](Self::commands_per_minute).
    pub sign_in_limits: Option<Arc<dyn SignInLimits>>,
}

/// What a connection asks a transport before it signs a client in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// `register`.
    Register,
    /// `login`.
    Login,
}

/// A transport's limits per client address on `register` and `login`, the same ones that its
/// own routes for them count against (chatcore-http's `IpLimits`).
pub trait SignInLimits: Send + Sync + std::fmt::Debug {
    /// `Err` ([`Error::RateLimited`]) refuses the attempt before it runs.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when the client is over its rate.
    fn check(&self, sign_in: SignIn) -> crate::Result<()>;
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            heartbeat: Some(Heartbeat::default()),
            max_command_bytes: 64 * 1024,
            commands_per_minute: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
            shutdown: None,
            user_agent: None,
            client: None,
            sign_in_limits: None,
        }
    }
}

/// A refused command, or why a connection ended: what transports send as
/// `{"error": {"code", "message", "field"?}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The stable code ([`Error::code`]).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The argument at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again (`rate_limited`, `unavailable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Failure {
    /// A refusal with `code` (one of [`Error::code`]'s) and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// `invalid_input`, naming the argument at fault if there is one.
    pub fn invalid(message: impl Into<String>, field: Option<&str>) -> Self {
        Failure {
            field: field.map(str::to_owned),
            ..Failure::new("invalid_input", message)
        }
    }

    /// As transports send it: `{"error": {...}}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "error": self })
    }
}

/// Whether a page of `origin` may open a connection authenticated by the session cookie, the
/// one credential that another site's page can make a browser send: `origin` is one of
/// `allowed`, or the server's own (its host and port equal `host`, the request's `Host`).
/// Without an `Origin` the client is not a browser page, and may.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|listed| listed.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    match (origin.split_once("://"), host) {
        (Some((_, origin_host)), Some(host)) => origin_host.eq_ignore_ascii_case(host),
        // `null` (a sandboxed page, a file), or no host to compare with.
        _ => false,
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let message = match &error {
            // The cause was logged where it happened; clients learn nothing of it.
            Error::Internal(_) => "internal error".to_owned(),
            error => error.to_string(),
        };
        Failure {
            code: error.code(),
            message,
            field: error.field().map(str::to_owned),
            retry_after: error.retry_after_secs(),
        }
    }
}
