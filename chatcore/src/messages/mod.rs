//! Messages: sending (idempotent on a client id), replies, forwards, edits, deletion,
//! reactions, read receipts and typing notices.

pub(crate) mod entity;
mod json;
pub(crate) mod queries;
pub(crate) mod reaction_entity;
pub(crate) mod reactions;
pub(crate) mod read_mark_entity;
pub(crate) mod receipts;
mod text;
mod typing;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use json::to_json;
pub(crate) use text::preview;
pub use text::{ClientId, Emoji, MessageText};
pub(crate) use typing::TypingThrottle;

use crate::users::UserProfile;
use crate::{ChatId, Error, MessageId, Result, UserId};

/// A message in a chat's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The chat it belongs to.
    pub chat_id: ChatId,
    /// Its position in the chat: contiguous from 1.
    pub seq: i64,
    /// Who sent it.
    pub sender_id: UserId,
    /// The text; `None` once deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The sender's idempotency key, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When it was sent.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub edited_at: Option<DateTime<Utc>>,
    /// Whether it was deleted (a tombstone keeping its seq).
    pub deleted: bool,
    /// The message it answers, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// Where a forwarded message first came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<ForwardedFrom>,
    /// Reactions, most frequent first.
    pub reactions: Vec<ReactionCount>,
}

/// The message a reply answers, as the reader may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ReplyTo {
    /// The original message.
    pub message_id: MessageId,
    /// Its seq.
    pub seq: i64,
    /// Whether the reader may see the original (under `since_join` history it may be from
    /// before they joined); when not, the fields below are empty.
    pub visible: bool,
    /// Who sent the original.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<UserId>,
    /// The start of the original's text (at most 100 characters); `None` once deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Whether the original was deleted.
    pub deleted: bool,
}

/// The origin of a forwarded message: forwarding a forward keeps the first origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ForwardedFrom {
    /// The original message.
    pub message_id: MessageId,
    /// Its sender.
    pub sender_id: UserId,
}

/// How many people reacted to a message with one emoji.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ReactionCount {
    /// The emoji.
    pub emoji: String,
    /// How many reacted with it.
    pub count: u64,
    /// Whether the reader is one of them.
    pub mine: bool,
}

/// Where a member's read marker stands: every message up to `seq` is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ReadMarker {
    /// The chat.
    pub chat_id: ChatId,
    /// The member.
    pub user_id: UserId,
    /// The last read seq.
    pub seq: i64,
}

/// A member who read a message, and when their read marker reached it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct ReadReceipt {
    /// The member.
    pub user: UserProfile,
    /// When they read it.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub read_at: DateTime<Utc>,
}

/// Forwards a message into another chat.
#[derive(Clone, Debug)]
pub struct ForwardMessage {
    /// The chat the message is in.
    pub chat_id: ChatId,
    /// The message.
    pub message_id: MessageId,
    /// Where to forward it (the caller must be a member).
    pub to_chat_id: ChatId,
    /// An idempotency key in the target chat, as for [`SendMessage::client_id`].
    pub client_id: Option<ClientId>,
}

/// The latest message of a chat, as the chat list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct MessagePreview {
    /// The message's id.
    pub id: MessageId,
    /// Its seq.
    pub seq: i64,
    /// Who sent it.
    pub sender: UserProfile,
    /// The start of its text (at most 100 characters); `None` once deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// When it was sent.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// Sends a message.
#[derive(Clone, Debug)]
pub struct SendMessage {
    /// Where to.
    pub chat_id: ChatId,
    /// The text.
    pub text: MessageText,
    /// An idempotency key: sending again with the same key returns the first message.
    pub client_id: Option<ClientId>,
    /// The message of the same chat this one answers.
    pub reply_to: Option<MessageId>,
}

impl SendMessage {
    /// A message with no client id.
    pub fn new(chat_id: ChatId, text: MessageText) -> Self {
        SendMessage {
            chat_id,
            text,
            client_id: None,
            reply_to: None,
        }
    }

    /// Makes this message a reply.
    pub fn reply_to(mut self, message_id: MessageId) -> Self {
        self.reply_to = Some(message_id);
        self
    }

    /// Sets the idempotency key.
    pub fn client_id(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }
}

/// Which slice of a chat's history to read.
///
/// Without cursors: the latest `limit` messages. With `before`: the `limit` messages just
/// before that seq. With `after`: the first `limit` messages after it. Pages are always in
/// ascending seq order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    before: Option<i64>,
    after: Option<i64>,
    limit: u32,
}

impl HistoryQuery {
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 200;

    /// Checks cursors and page size.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a negative cursor or a limit outside 1 to 200.
    pub fn new(before: Option<i64>, after: Option<i64>, limit: Option<u32>) -> Result<Self> {
        if before.is_some_and(|seq| seq < 0) {
            return Err(Error::invalid("before", "must not be negative"));
        }
        if after.is_some_and(|seq| seq < 0) {
            return Err(Error::invalid("after", "must not be negative"));
        }
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(Error::invalid("limit", "must be between 1 and 200"));
        }
        Ok(HistoryQuery {
            before,
            after,
            limit,
        })
    }

    /// The latest page of the default size.
    pub fn latest() -> Self {
        HistoryQuery {
            before: None,
            after: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// Only messages with a seq below this.
    pub fn before(&self) -> Option<i64> {
        self.before
    }

    /// Only messages with a seq above this.
    pub fn after(&self) -> Option<i64> {
        self.after
    }

    /// The most messages to return.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

impl Default for HistoryQuery {
    fn default() -> Self {
        Self::latest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_query_bounds() {
        assert_eq!(
            HistoryQuery::new(None, None, None).unwrap(),
            HistoryQuery::latest()
        );
        assert_eq!(
            HistoryQuery::new(None, None, Some(201))
                .unwrap_err()
                .field(),
            Some("limit")
        );
        assert_eq!(
            HistoryQuery::new(None, None, Some(0)).unwrap_err().field(),
            Some("limit")
        );
        assert_eq!(
            HistoryQuery::new(Some(-1), None, None).unwrap_err().field(),
            Some("before")
        );
        assert_eq!(
            HistoryQuery::new(None, Some(-1), None).unwrap_err().field(),
            Some("after")
        );
        assert_eq!(
            HistoryQuery::new(Some(10), Some(2), Some(200))
                .unwrap()
                .limit(),
            200
        );
    }
}
