//! Events: every change is an event with a cursor, written in the same transaction as the
//! change and published after commit. Subscribers resume from a cursor without loss.

mod bus;
pub(crate) mod entity;
pub(crate) mod log;
mod subscription;

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Serialize;
use uuid::Uuid;

pub use bus::{EventBus, InProcessBus};
pub(crate) use subscription::subscribe;

use crate::{ChatId, Result, UserId};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Enum),
    oai(rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A message was sent (or forwarded); `data` is the message.
    MessageCreated,
    /// A message was edited; `data` is the message.
    MessageEdited,
    /// A message was deleted; `data` has `message_id` and `seq`.
    MessageDeleted,
    /// Someone reacted or took a reaction back; `data` has `message_id`, `emoji`, `user_id`
    /// and `added`.
    ReactionChanged,
    /// A member's read marker moved; `data` has `user_id` and `seq`.
    ReadMarkerMoved,
    /// A member is typing (ephemeral: never stored, no cursor of its own).
    Typing,
    /// A chat was created, or the caller was put in one; `data` is the chat with members.
    ChatCreated,
    /// A chat's title changed; `data` has `title`.
    ChatUpdated,
    /// A group was deleted.
    ChatDeleted,
    /// Someone joined; `data` is the member.
    MemberJoined,
    /// Someone left; `data` has `user_id`.
    MemberLeft,
    /// Someone was removed; `data` has `user_id`.
    MemberRemoved,
    /// A member's role changed; `data` is the member.
    MemberRoleChanged,
    /// A user's profile or avatar changed; `data` is the profile.
    UserUpdated,
    /// A session ended; `data` has `session_id` (`null`: every session of the user).
    SessionRevoked,
}

impl EventKind {
    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message_created",
            EventKind::MessageEdited => "message_edited",
            EventKind::MessageDeleted => "message_deleted",
            EventKind::ReactionChanged => "reaction_changed",
            EventKind::ReadMarkerMoved => "read_marker_moved",
            EventKind::Typing => "typing",
            EventKind::ChatCreated => "chat_created",
            EventKind::ChatUpdated => "chat_updated",
            EventKind::ChatDeleted => "chat_deleted",
            EventKind::MemberJoined => "member_joined",
            EventKind::MemberLeft => "member_left",
            EventKind::MemberRemoved => "member_removed",
            EventKind::MemberRoleChanged => "member_role_changed",
            EventKind::UserUpdated => "user_updated",
            EventKind::SessionRevoked => "session_revoked",
        }
    }

    pub(crate) fn from_db(value: &str) -> EventKind {
        const ALL: [EventKind; 15] = [
            EventKind::MessageCreated,
            EventKind::MessageEdited,
            EventKind::MessageDeleted,
            EventKind::ReactionChanged,
            EventKind::ReadMarkerMoved,
            EventKind::Typing,
            EventKind::ChatCreated,
            EventKind::ChatUpdated,
            EventKind::ChatDeleted,
            EventKind::MemberJoined,
            EventKind::MemberLeft,
            EventKind::MemberRemoved,
            EventKind::MemberRoleChanged,
            EventKind::UserUpdated,
            EventKind::SessionRevoked,
        ];
        ALL.into_iter()
            .find(|kind| kind.as_str() == value)
            .unwrap_or(EventKind::ChatUpdated)
    }
}

/// One change, as subscribers receive it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Event {
    /// Where this event stands in the stream: pass the last one seen to resume after it.
    /// Typing notices, which are not stored, carry 0.
    pub cursor: i64,
    /// What happened.
    pub kind: EventKind,
    /// The chat it happened in, if any.
    pub chat_id: Option<ChatId>,
    /// The user it is about or addressed to (a removed member, a revoked session's owner).
    pub user_id: Option<UserId>,
    /// Who did it.
    pub actor_id: Option<UserId>,
    /// What a client needs to update its view (see [`EventKind`]).
    pub data: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Whether the event is ephemeral (typing): never stored, never replayed.
    pub ephemeral: bool,
}

impl Event {
    /// Whether a subscriber who is `me`, member of `chats`, receives this event.
    pub(crate) fn is_for(&self, me: Uuid, chats: &std::collections::HashSet<Uuid>) -> bool {
        let addressed = self.user_id.is_some_and(|user| user.as_uuid() == me);
        // A deleted chat's members are each told personally.
        if self.kind == EventKind::ChatDeleted {
            return addressed;
        }
        addressed
            || self
                .chat_id
                .is_some_and(|chat| chats.contains(&chat.as_uuid()))
    }
}

/// A subscriber's events, in cursor order, exactly once; see
/// [`Service::subscribe`](crate::Service::subscribe).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send + Sync>>;

/// An event about to be written with the change it describes.
#[derive(Clone, Debug)]
pub(crate) struct NewEvent {
    pub(crate) kind: EventKind,
    pub(crate) chat_id: Option<Uuid>,
    pub(crate) user_id: Option<Uuid>,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) data: serde_json::Value,
}

impl NewEvent {
    /// An event for a chat's members.
    pub(crate) fn chat(
        kind: EventKind,
        chat_id: Uuid,
        actor_id: Uuid,
        data: impl Serialize,
    ) -> NewEvent {
        NewEvent {
            kind,
            chat_id: Some(chat_id),
            user_id: None,
            actor_id: Some(actor_id),
            data: serde_json::to_value(data).unwrap_or_default(),
        }
    }

    /// Also addressed to `user` (who may not be a member any more).
    pub(crate) fn about(mut self, user: Uuid) -> NewEvent {
        self.user_id = Some(user);
        self
    }

    /// An event for one user only.
    pub(crate) fn personal(
        kind: EventKind,
        user_id: Uuid,
        actor_id: Option<Uuid>,
        data: impl Serialize,
    ) -> NewEvent {
        NewEvent {
            kind,
            chat_id: None,
            user_id: Some(user_id),
            actor_id,
            data: serde_json::to_value(data).unwrap_or_default(),
        }
    }
}

/// The last cursor given out (0 before the first event). For event buses.
///
/// # Errors
/// [`Error::Internal`](crate::Error::Internal) when the database fails.
pub async fn head(db: &sea_orm::DatabaseConnection) -> Result<i64> {
    Ok(log::head(db).await?.0)
}

/// Every stored event with a cursor in `(after, upto]`, oldest first, at most `limit`,
/// whoever it is for. For event buses that carry only cursors between nodes.
///
/// # Errors
/// [`Error::Internal`](crate::Error::Internal) when the database fails.
pub async fn read_range(
    db: &sea_orm::DatabaseConnection,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<Event>> {
    log::range(db, after, upto, limit).await
}
