//! Reports and moderation: members report chats and messages; server admins work through the
//! queue, deactivate users and delete any message.

pub(crate) mod entity;
pub(crate) mod queries;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::pagination::PageRequest;
use crate::stored::stored_enum;
use crate::users::UserProfile;
use crate::{ChatId, MessageId, ReportId, UserId};

stored_enum! {
    /// Why something was reported.
    pub enum ReportReason {
        /// Unsolicited advertising or bulk messages.
        Spam,
        /// Harassment, threats or other abuse.
        Abuse,
        /// Anything else (say what in the note).
        Other,
    }
}

/// Reports a chat, or one message of it, to the server's admins.
#[derive(Clone, Debug)]
pub struct NewReport {
    /// The chat (the caller must be a member).
    pub chat_id: ChatId,
    /// A message of that chat the caller can see, if the report is about one message.
    pub message_id: Option<MessageId>,
    /// Why.
    pub reason: ReportReason,
    /// Free text for the moderators, at most 1,000 characters.
    pub note: Option<String>,
}

impl NewReport {
    /// A report about a whole chat.
    pub fn chat(chat_id: ChatId, reason: ReportReason) -> Self {
        NewReport {
            chat_id,
            message_id: None,
            reason,
            note: None,
        }
    }

    /// A report about one message.
    pub fn message(chat_id: ChatId, message_id: MessageId, reason: ReportReason) -> Self {
        NewReport {
            message_id: Some(message_id),
            ..NewReport::chat(chat_id, reason)
        }
    }
}

/// A stored report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Report {
    /// The report's id.
    pub id: ReportId,
    /// Who reported.
    pub reporter: UserProfile,
    /// The chat.
    pub chat_id: ChatId,
    /// The message, if the report is about one.
    pub message_id: Option<MessageId>,
    /// The message's text when it was reported.
    pub message_text: Option<String>,
    /// Why.
    pub reason: ReportReason,
    /// The reporter's note.
    pub note: Option<String>,
    /// When it was made.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// When an admin resolved it.
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Which admin resolved it.
    pub resolved_by: Option<UserId>,
    /// What the admin noted on resolving it.
    pub resolution: Option<String>,
}

/// Which reports to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportQuery {
    /// Include resolved reports (default: only open ones).
    pub include_resolved: bool,
    /// Which page, oldest first.
    pub page: PageRequest,
}
