//! Sessions and the authenticated caller.

pub(crate) mod entity;
pub(crate) mod queries;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::roles::Role;
use crate::{SessionId, UserId};

/// Proof that a request was authenticated: only [`Service::authenticate`] makes one.
///
/// Every operation on behalf of a user takes the caller explicitly and checks what that user
/// may do.
///
/// [`Service::authenticate`]: crate::Service::authenticate
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub(crate) user_id: UserId,
    pub(crate) session_id: SessionId,
    pub(crate) role: Role,
}

impl Caller {
    /// The signed-in user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The session the request came through.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The user's server-wide role.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// A session as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// When it was opened.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// When it was last used (updated about once a minute at most).
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub last_seen_at: DateTime<Utc>,
    /// When it stops being valid.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub expires_at: DateTime<Utc>,
    /// Whether it is still valid (not logged out or revoked, not expired).
    pub active: bool,
    /// The client's user agent, if it gave one.
    pub user_agent: Option<String>,
    /// Whether this is the session the list was asked through.
    pub current: bool,
}

/// A newly opened session and its bearer token.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct NewSession {
    /// The session.
    pub session: Session,
    /// The access token (a JWT) to present as `Authorization: Bearer <token>`.
    pub token: String,
}

/// How to open a session.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// The client's user agent, to show in the session list.
    pub user_agent: Option<String>,
}
