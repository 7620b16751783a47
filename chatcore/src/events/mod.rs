//! Events: every change is an event with a cursor, written in the same transaction as the
//! change and published after commit. Subscribers resume from a cursor without loss.

mod bus;
pub(crate) mod entity;
pub(crate) mod log;
mod streams;
mod subscription;

use std::collections::HashMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Serialize;
use uuid::Uuid;

pub use bus::{EventBus, InProcessBus};
pub(crate) use streams::Streams;
pub(crate) use subscription::subscribe;

use crate::chats::Chat;
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
    /// A message was edited; `data` is the message. Like every event about a message, it
    /// reaches only the members who can see that message: not a `since_join` member who
    /// joined after it was sent.
    MessageEdited,
    /// A message was deleted; `data` has `message_id` and `seq`. Only for the members who can
    /// see the message.
    MessageDeleted,
    /// Someone reacted or took a reaction back; `data` has `message_id`, `seq` (the
    /// message's), `emoji`, `user_id` and `added`. Only for the members who can see the
    /// message.
    ReactionChanged,
    /// A member's read marker moved; `data` has `user_id` and `seq`. Only for the members who
    /// can see the message at `seq`.
    ReadMarkerMoved,
    /// A member is typing (ephemeral: never stored, no cursor of its own); `data` has
    /// `user_id`. At most one notice per member and chat is delivered per
    /// [`typing_interval`](crate::Options::typing_interval) (3 seconds by default): further
    /// ones within that time are accepted and dropped.
    Typing,
    /// A chat was created, or the caller was put in one at its creation. Each member gets
    /// their own notice, addressed to them (`user_id`); `data` is the chat's own fields
    /// (as [`Chat`](crate::chats::Chat)) and `member_count`. It does not list the members
    /// (a group may have thousands): read them with
    /// [`get_chat`](crate::Service::get_chat) or [`list_members`](crate::Service::list_members).
    /// In a direct chat, the other member is the one who started it (`actor_id`), or the one
    /// its starter chose.
    ChatCreated,
    /// A chat's title changed; `data` has `title`.
    ChatUpdated,
    /// A group was deleted; each member gets their own notice, addressed to them.
    ChatDeleted,
    /// Someone joined; `data` is the member, and `visible_from_seq`: they see the messages
    /// with a greater seq (0: the whole history).
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

    /// Kinds whose events, when addressed to a user, are for that user alone even though they
    /// name a chat (each member gets their own).
    pub(crate) const ADDRESSED_ONLY: [EventKind; 2] =
        [EventKind::ChatCreated, EventKind::ChatDeleted];

    /// Whether this kind is one of [`ADDRESSED_ONLY`](Self::ADDRESSED_ONLY).
    pub(crate) fn addressed_only(self) -> bool {
        Self::ADDRESSED_ONLY.contains(&self)
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
    /// The seq of the message the event is about, if any: only members who can see that
    /// message receive it. Clients read it in `data`.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", oai(skip))]
    pub(crate) message_seq: Option<i64>,
}

impl Event {
    /// Whether a subscriber who is `me`, member of `chats` (each with the seq after which
    /// they see its messages), receives this event.
    pub(crate) fn is_for(&self, me: Uuid, chats: &HashMap<Uuid, i64>) -> bool {
        let addressed = self.user_id.is_some_and(|user| user.as_uuid() == me);
        // Chat creations and deletions are told to each member personally.
        if self.kind.addressed_only() && self.user_id.is_some() {
            return addressed;
        }
        if addressed {
            return true;
        }
        let Some(visible_from) = self
            .chat_id
            .and_then(|chat| chats.get(&chat.as_uuid()).copied())
        else {
            return false;
        };
        // Events about a message the subscriber cannot see (sent before they joined a
        // `since_join` group) are not theirs.
        self.message_seq.is_none_or(|seq| seq > visible_from)
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
    pub(crate) message_seq: Option<i64>,
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
            message_seq: None,
        }
    }

    /// About the message at `seq` of the chat: only members who can see it receive it.
    pub(crate) fn message(mut self, seq: i64) -> NewEvent {
        self.message_seq = Some(seq);
        self
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
            message_seq: None,
        }
    }
}

/// What a `chat_created` notice carries: the chat and how many members it has, never the
/// member list (a group may have thousands, and each member gets a notice).
#[derive(Serialize)]
struct ChatCreatedData<'a> {
    #[serde(flatten)]
    chat: &'a Chat,
    member_count: usize,
}

/// The `chat_created` notices of a new chat: one per member, addressed to them, so that
/// each member's stream learns of the chat from the event alone.
pub(crate) fn chat_created(chat: &Chat, actor_id: Uuid, members: &[Uuid]) -> Vec<NewEvent> {
    let data = ChatCreatedData {
        chat,
        member_count: members.len(),
    };
    let data = serde_json::to_value(data).unwrap_or_default();
    members
        .iter()
        .map(|member| NewEvent {
            kind: EventKind::ChatCreated,
            chat_id: Some(chat.id.as_uuid()),
            user_id: Some(*member),
            actor_id: Some(actor_id),
            data: data.clone(),
            message_seq: None,
        })
        .collect()
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
