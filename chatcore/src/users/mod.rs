//! Accounts: registration, login, profiles, search, unregistering, and users that the
//! embedding application manages itself.

pub(crate) mod account;
pub(crate) mod entity;
mod fields;
pub(crate) mod queries;
pub(crate) mod recovery;
pub(crate) mod token_entity;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::roles::Role;
pub use fields::{DisplayName, Email, ExternalId, Password, Phone, Status, Username};

use crate::UserId;
use crate::avatars::AvatarUrl;
use crate::pagination::PageRequest;
use crate::sessions::NewSession;

/// Names a user for the trusted operations: by id, or by username (in any case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    /// By id.
    Id(UserId),
    /// By username.
    Username(Username),
}

/// The signed-in user's own account, with its private fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The username, as its owner spelled it.
    pub username: String,
    /// The email address (lowercased), if any.
    pub email: Option<String>,
    /// The display name, if any.
    pub display_name: Option<String>,
    /// A short status line, if any.
    pub status: Option<String>,
    /// A phone number, if any.
    pub phone: Option<String>,
    /// The server-wide role.
    pub role: Role,
    /// Whether the account may sign in.
    pub active: bool,
    /// Whether the account was verified.
    pub verified: bool,
    /// The embedding application's own id for this user, if it manages the user.
    pub external_id: Option<String>,
    /// The avatar's content hash, if the user set one (see
    /// [`Service::get_avatar`](crate::Service::get_avatar)); it changes whenever the image does.
    pub avatar: Option<String>,
    /// The avatar's URL where the API serves it (`/api/v1/users/{id}/avatar?v={hash}` under
    /// the API's base; add `&size=128` for the small one). The transport that serializes
    /// the value sets it (`chatcore::avatars::AvatarLinks`); elsewhere it is left out.
    #[serde(skip_serializing_if = "AvatarUrl::unlinked")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if = "AvatarUrl::unlinked"))]
    pub avatar_url: Option<AvatarUrl>,
    /// When the account was created.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
}

/// What anyone signed in may see of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredProfile")]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct UserProfile {
    /// The user's id.
    pub id: UserId,
    /// The username (`"deleted"` for a deleted account).
    pub username: String,
    /// The display name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A short status line, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the account is active.
    pub active: bool,
    /// Whether the account was deleted by its owner.
    pub deleted: bool,
    /// The avatar's content hash, if the user set one (see
    /// [`Service::get_avatar`](crate::Service::get_avatar)); it changes whenever the image does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// The avatar's URL where the API serves it (`/api/v1/users/{id}/avatar?v={hash}` under
    /// the API's base; add `&size=128` for the small one). The transport that serializes
    /// the value sets it (`chatcore::avatars::AvatarLinks`); elsewhere it is left out.
    #[serde(skip_serializing_if = "AvatarUrl::unlinked")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if = "AvatarUrl::unlinked"))]
    pub avatar_url: Option<AvatarUrl>,
}

/// A [`UserProfile`] as events keep it: its avatar link follows from `id` and `avatar`.
#[derive(Deserialize)]
struct StoredProfile {
    id: UserId,
    username: String,
    display_name: Option<String>,
    status: Option<String>,
    active: bool,
    deleted: bool,
    avatar: Option<String>,
}

impl From<StoredProfile> for UserProfile {
    fn from(stored: StoredProfile) -> Self {
        UserProfile {
            avatar_url: AvatarUrl::of(stored.id, stored.avatar.as_deref()),
            id: stored.id,
            username: stored.username,
            display_name: stored.display_name,
            status: stored.status,
            active: stored.active,
            deleted: stored.deleted,
            avatar: stored.avatar,
        }
    }
}

/// Creates an account with a password.
#[derive(Clone, Debug)]
pub struct Register {
    /// The username (unique, case-insensitively).
    pub username: Username,
    /// The password.
    pub password: Password,
    /// An email address (unique when present), also usable to log in.
    pub email: Option<Email>,
    /// A display name.
    pub display_name: Option<DisplayName>,
    /// A phone number.
    pub phone: Option<Phone>,
    /// A status line.
    pub status: Option<Status>,
    /// The client's user agent, remembered with the new session.
    pub user_agent: Option<String>,
}

impl Register {
    /// A registration with just a username and a password.
    pub fn new(username: Username, password: Password) -> Self {
        Register {
            username,
            password,
            email: None,
            display_name: None,
            phone: None,
            status: None,
            user_agent: None,
        }
    }
}

/// Logs in with a username or email and a password.
#[derive(Clone, Debug)]
pub struct Login {
    /// A username or an email address, in any case.
    pub login: String,
    /// The password, as typed (not re-validated against today's rules).
    pub password: String,
    /// The client's user agent, remembered with the new session.
    pub user_agent: Option<String>,
}

/// A new account or login: the user and their new session.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Authenticated {
    /// The account.
    pub user: User,
    /// The new session and its access token.
    pub session: NewSession,
}

/// Changes to one's own profile; `None` leaves a field as it is, `Some(None)` clears it.
///
/// Changing the username or the email (setting or removing it) needs the account's
/// [`current_password`](ProfileUpdate::current_password): a stolen session alone must not be
/// able to redirect password resets. A changed email is unverified until confirmed again.
#[derive(Clone, Default)]
pub struct ProfileUpdate {
    /// The account's password as typed, needed only to change the username or email.
    pub current_password: Option<String>,
    /// A new username.
    pub username: Option<Username>,
    /// A new email, or `Some(None)` to remove it.
    pub email: Option<Option<Email>>,
    /// A new display name, or `Some(None)` to remove it.
    pub display_name: Option<Option<DisplayName>>,
    /// A new status line, or `Some(None)` to remove it.
    pub status: Option<Option<Status>>,
    /// A new phone number, or `Some(None)` to remove it.
    pub phone: Option<Option<Phone>>,
}

impl std::fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileUpdate")
            .field(
                "current_password",
                &self.current_password.as_ref().map(|_| "***"),
            )
            .field("username", &self.username)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("status", &self.status)
            .field("phone", &self.phone)
            .finish()
    }
}

/// Searches active users by a substring of their username or display name.
#[derive(Clone, Debug, Default)]
pub struct UserSearch {
    /// The substring, case-insensitive; `None` or blank lists everyone.
    pub query: Option<String>,
    /// Which page.
    pub page: PageRequest,
}

/// A user that the embedding application manages: it signs people in itself and never
/// shows them a second login. Such users have no password.
#[derive(Clone, Debug)]
pub struct ExternalUser {
    /// The application's own, stable id for the user.
    pub external_id: ExternalId,
    /// The username to show (unique, case-insensitively).
    pub username: Username,
    /// A display name.
    pub display_name: Option<DisplayName>,
    /// An email address.
    pub email: Option<Email>,
}
