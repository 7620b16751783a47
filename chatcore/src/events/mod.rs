//! Events: every change is an event with a cursor, written in the same transaction as the
//! change and published after commit. Subscribers resume from a cursor without loss.

mod bus;
mod data;
pub(crate) mod entity;
pub(crate) mod log;
pub(crate) mod sequencer;
mod shared;
mod streams;
mod subscription;

use std::collections::HashMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Serialize;
use uuid::Uuid;

pub use bus::{EventBus, InProcessBus};
pub use data::{
    ChatCreated, ChatDeleted, ChatUpdated, EventData, EventKind, MemberGone, MemberJoined,
    MessageDeleted, ReactionChanged, ReadMarkerMoved, SessionRevoked, Typing,
};
pub use shared::SharedEvent;
pub(crate) use streams::Streams;
pub(crate) use subscription::subscribe;

use crate::chats::Chat;
use crate::{ChatId, Result, UserId};

/// One change, as subscribers receive it.
///
/// In JSON (SSE, WebSocket, the bus between nodes): `cursor`, `kind`, `data`, `chat_id`,
/// `user_id`, `actor_id`, `created_at` and `ephemeral`; absent fields are left out (`data`
/// of `session_revoked` alone says `session_id: null`, meaning every session).
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
    /// What happened (`kind`), and what a client needs to update its view (`data`).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", oai(flatten))]
    pub data: EventData,
    /// The chat it happened in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<ChatId>,
    /// The user it is about or addressed to (a removed member, a revoked session's owner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// Who did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<UserId>,
    /// When.
    #[serde(serialize_with = "crate::clock::serialize_time")]
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
    /// What happened.
    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }

    /// Whether a subscriber who is `me`, member of `chats` (each with the seq after which
    /// they see its messages), receives this event.
    pub(crate) fn is_for(&self, me: Uuid, chats: &HashMap<Uuid, i64>) -> bool {
        let addressed = self.user_id.is_some_and(|user| user.as_uuid() == me);
        // Chat creations and deletions are told to each member personally.
        if self.kind().addressed_only() && self.user_id.is_some() {
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
/// [`Service::subscribe`](crate::Service::subscribe). A live event is one [`SharedEvent`]
/// for every subscriber of the node that may see it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<SharedEvent>> + Send + Sync>>;

/// An event about to be written with the change it describes.
#[derive(Clone, Debug)]
pub(crate) struct NewEvent {
    pub(crate) chat_id: Option<Uuid>,
    pub(crate) user_id: Option<Uuid>,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) data: EventData,
    pub(crate) message_seq: Option<i64>,
}

impl NewEvent {
    /// An event for a chat's members.
    pub(crate) fn chat(chat_id: Uuid, actor_id: Uuid, data: EventData) -> NewEvent {
        NewEvent {
            chat_id: Some(chat_id),
            user_id: None,
            actor_id: Some(actor_id),
            data,
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

    /// The event as stored at `cursor` (0: stored unnumbered, for the sequencer) and time
    /// `created_at`.
    pub(crate) fn recorded(self, cursor: i64, created_at: DateTime<Utc>) -> Event {
        Event {
            cursor,
            data: self.data,
            chat_id: self.chat_id.map(Into::into),
            user_id: self.user_id.map(Into::into),
            actor_id: self.actor_id.map(Into::into),
            created_at,
            ephemeral: false,
            message_seq: self.message_seq,
        }
    }

    /// An event for one user only.
    pub(crate) fn personal(user_id: Uuid, actor_id: Option<Uuid>, data: EventData) -> NewEvent {
        NewEvent {
            chat_id: None,
            user_id: Some(user_id),
            actor_id,
            data,
            message_seq: None,
        }
    }
}

/// The `chat_created` notices of a new chat: one per member, addressed to them, so that
/// each member's stream learns of the chat from the event alone.
pub(crate) fn chat_created(chat: &Chat, actor_id: Uuid, members: &[Uuid]) -> Vec<NewEvent> {
    let data = EventData::ChatCreated(ChatCreated {
        chat: chat.clone(),
        member_count: members.len() as u64,
    });
    members
        .iter()
        .map(|member| NewEvent {
            chat_id: Some(chat.id.as_uuid()),
            user_id: Some(*member),
            actor_id: Some(actor_id),
            data: data.clone(),
            message_seq: None,
        })
        .collect()
}

/// The last cursor given out (0 before the first event): every event up to it is committed
/// and numbered. For event buses.
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
