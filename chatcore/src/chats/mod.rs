//! Chats: direct chats between two users, the chat list, chat detail and hiding.

pub(crate) mod entity;
pub(crate) mod member_entity;
pub(crate) mod queries;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ChatId;
use crate::messages::MessagePreview;
use crate::stored::stored_enum;
use crate::users::UserProfile;

/// The member count above which a group is large. A message to a small chat moves its place
/// in each member's chat list (a copy of its activity on every membership, so that a page of
/// the list is one index range); a large group keeps its place on the chat row alone, so a
/// message costs the same with a thousand members as with two, and the chat list merges the
/// user's large groups in by the chat's activity.
pub(crate) const LARGE_GROUP: usize = 100;

stored_enum! {
    /// What kind of chat.
    pub enum ChatKind {
        /// Between exactly two users; one per pair.
        Direct,
        /// A titled group with roles.
        Group,
    }
}

stored_enum! {
    /// A member's role in a chat.
    pub enum MemberRole {
        /// Owns the group.
        Owner,
        /// Manages the group.
        Admin,
        /// Takes part.
        Member,
    }
}

stored_enum! {
    /// Which messages a group's members see.
    #[derive(Default)]
    pub enum HistoryVisibility {
        /// Members see messages sent after their latest join (the default).
        #[default]
        SinceJoin,
        /// Members see the whole history.
        Full,
    }
}

/// A chat's own fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Chat {
    /// The chat's id.
    pub id: ChatId,
    /// Direct or group.
    pub kind: ChatKind,
    /// The title (groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Which messages members see.
    pub history: HistoryVisibility,
    /// When it was created.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// When something last happened in it (creation or the latest message).
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub last_activity_at: DateTime<Utc>,
}

/// A member of a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Member {
    /// Who.
    pub user: UserProfile,
    /// Their role.
    pub role: MemberRole,
    /// When they (last) joined.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub joined_at: DateTime<Utc>,
}

/// A chat with its participants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ChatDetail {
    /// The chat.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", oai(flatten))]
    pub chat: Chat,
    /// Its members.
    pub members: Vec<Member>,
}

/// The result of starting a direct chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct DirectChat {
    /// The chat, new or existing.
    pub chat: ChatDetail,
    /// Whether this call created it.
    pub created: bool,
}

/// One entry of the caller's chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ChatListItem {
    /// The chat.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", oai(flatten))]
    pub chat: Chat,
    /// For a direct chat, the other participant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<UserProfile>,
    /// The latest message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessagePreview>,
    /// Messages from others after the caller's read marker.
    pub unread_count: u64,
}
