//! Contacts (a personal address book) and blocks (who may not reach me).

pub(crate) mod block_entity;
pub(crate) mod entity;
pub(crate) mod queries;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::users::UserProfile;

/// Someone in the caller's contacts, or on their block list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ListedUser {
    /// Their public profile.
    pub user: UserProfile,
    /// When they were added.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub added_at: DateTime<Utc>,
}
