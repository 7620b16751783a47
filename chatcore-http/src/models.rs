//! Request bodies and list pages. Response bodies are chatcore's own types (their OpenAPI
//! schemas come with chatcore's `openapi` feature); requests arrive as plain JSON and are
//! parsed into chatcore's validated types at this boundary.
//!
//! One rule for absent values: a response leaves out a field that has no value (never
//! `null`); a request leaves out a field to leave it unset, and sends `null` only where the
//! schema says `nullable` (to clear a profile field).

use chatcore::chats::ChatListItem;
use chatcore::contacts::ListedUser;
use chatcore::groups::{AssignableRole, HistoryVisibility};
use chatcore::moderation::{Report, ReportReason};
use chatcore::users::UserProfile;
use chatcore::{ChatId, MessageId, Page, UserId};
use chrono::{DateTime, Utc};
use poem_openapi::Object;
use poem_openapi::types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult};
use serde_json::Value;

/// An optional request field: absent is `None`; `null` is refused, as the schema (not
/// nullable) says.
pub(crate) fn present<T: ParseFromJSON>(value: Option<Value>) -> ParseResult<Option<T>> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Err(ParseError::custom(
            "null is not a value here: leave the field out instead",
        )),
        Some(value) => T::parse_from_json(Some(value))
            .map(Some)
            .map_err(ParseError::propagate),
    }
}

/// A string field, and only a string (poem-openapi would take `5` or `true` as text).
pub(crate) fn text(value: Option<Value>) -> ParseResult<String> {
    match value {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(ParseError::expected_type(other)),
        None => Err(ParseError::expected_type(Value::Null)),
    }
}

/// An optional string field: absent is `None`; `null` and non-strings are refused.
pub(crate) fn optional_text(value: Option<Value>) -> ParseResult<Option<String>> {
    match value {
        None => Ok(None),
        value => text(value).map(Some).map_err(ParseError::propagate),
    }
}

/// A string field that `null` clears.
pub(crate) fn nullable_text(value: Option<Value>) -> ParseResult<MaybeUndefined<String>> {
    match value {
        None => Ok(MaybeUndefined::Undefined),
        Some(Value::Null) => Ok(MaybeUndefined::Null),
        value => text(value)
            .map(MaybeUndefined::Value)
            .map_err(ParseError::propagate),
    }
}

/// Creates an account.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 32 characters: letters, digits, `_`, `.` and `-`; unique in any case.
    #[oai(deserialize_with = "text")]
    pub username: String,
    /// 8 to 1,024 bytes, not one of the most common leaked passwords.
    // chatcore counts bytes; the schema counts characters: both hold.
    #[oai(deserialize_with = "text", validator(min_length = 8))]
    pub password: String,
    /// An email address, unique; can be used to log in.
    #[oai(deserialize_with = "optional_text")]
    pub email: Option<String>,
    /// A display name.
    #[oai(deserialize_with = "optional_text")]
    pub display_name: Option<String>,
    /// A phone number.
    #[oai(deserialize_with = "optional_text")]
    pub phone: Option<String>,
    /// A status line.
    #[oai(deserialize_with = "optional_text")]
    pub status: Option<String>,
}

impl poem_openapi::types::Example for RegisterRequest {
    fn example() -> Self {
        RegisterRequest {
            username: "ada".to_owned(),
            password: "analytical engine".to_owned(),
            email: Some("ada@example.com".to_owned()),
            display_name: Some("Ada Lovelace".to_owned()),
            phone: None,
            status: None,
        }
    }
}

/// Logs in.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    /// A username or an email address, in any case (at most 320 characters).
    #[oai(validator(max_length = 320), deserialize_with = "text")]
    pub login: String,
    /// The password (at most 1,024 characters).
    #[oai(validator(max_length = 1024), deserialize_with = "text")]
    pub password: String,
}

/// Changes the caller's password.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[oai(deserialize_with = "text")]
    pub current_password: String,
    /// The new password.
    // chatcore counts bytes; the schema counts characters: both hold.
    #[oai(deserialize_with = "text", validator(min_length = 8))]
    pub new_password: String,
}

/// Asks for a password-reset token.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// A username or an email address (at most 320 characters).
    #[oai(validator(max_length = 320), deserialize_with = "text")]
    pub login: String,
}

/// Sets a new password with a reset token.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token that was delivered.
    #[oai(deserialize_with = "text")]
    pub token: String,
    /// The new password.
    // chatcore counts bytes; the schema counts characters: both hold.
    #[oai(deserialize_with = "text", validator(min_length = 8))]
    pub new_password: String,
}

/// Confirms an account with a verification token.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct VerificationConfirm {
    /// The token that was delivered.
    #[oai(deserialize_with = "text")]
    pub token: String,
}

/// Changes the caller's profile: absent fields stay, `null` clears. Changing `username` or
/// `email` needs `current_password`; a changed email is unverified until confirmed again.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProfilePatch {
    /// The account's password: needed to change `username` or `email` (401 `invalid_login`
    /// when wrong, 403 `forbidden` when missing), ignored otherwise.
    #[oai(write_only)]
    pub current_password: Option<String>,
    /// A new username.
    #[oai(deserialize_with = "optional_text")]
    pub username: Option<String>,
    /// A new email, or `null` to remove it.
    #[oai(nullable, deserialize_with = "nullable_text")]
    pub email: MaybeUndefined<String>,
    /// A new display name, or `null`.
    #[oai(nullable, deserialize_with = "nullable_text")]
    pub display_name: MaybeUndefined<String>,
    /// A new status line, or `null`.
    #[oai(nullable, deserialize_with = "nullable_text")]
    pub status: MaybeUndefined<String>,
    /// A new phone number, or `null`.
    #[oai(nullable, deserialize_with = "nullable_text")]
    pub phone: MaybeUndefined<String>,
}

impl std::fmt::Debug for ProfilePatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfilePatch")
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

/// Deletes the caller's account.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UnregisterRequest {
    /// The current password.
    #[oai(deserialize_with = "text")]
    pub password: String,
}

/// Starts (or finds) a direct chat.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct StartDirectRequest {
    /// The other user.
    pub user_id: UserId,
}

/// Creates a group.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// 1 to 128 characters.
    #[oai(deserialize_with = "text")]
    pub title: String,
    /// The first members besides the caller.
    #[oai(deserialize_with = "present")]
    pub members: Option<Vec<UserId>>,
    /// Which messages members see (default `since_join`).
    #[oai(deserialize_with = "present")]
    pub history: Option<HistoryVisibility>,
}

/// Renames a group.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChatPatch {
    /// The new title.
    #[oai(deserialize_with = "text")]
    pub title: String,
}

/// Reports a chat or one of its messages.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ReportRequest {
    /// Why.
    pub reason: ReportReason,
    /// A message of the chat, if the report is about one.
    #[oai(deserialize_with = "present")]
    pub message_id: Option<MessageId>,
    /// A note for the moderators (at most 1,000 characters).
    #[oai(deserialize_with = "optional_text")]
    pub note: Option<String>,
}

/// Adds a member.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add.
    pub user_id: UserId,
}

/// Changes a member's role.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RolePatch {
    /// The new role.
    pub role: AssignableRole,
}

/// Creates an invite link.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// When it stops working (RFC 3339); absent for never.
    #[oai(deserialize_with = "present")]
    pub expires_at: Option<DateTime<Utc>>,
    /// How many people may join with it; absent for no limit.
    #[oai(deserialize_with = "present")]
    pub max_uses: Option<u32>,
}

/// Sends a message.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
pub struct SendRequest {
    /// 1 to 4,096 characters, not blank.
    #[oai(deserialize_with = "text")]
    pub text: String,
    /// A message of the same chat this one answers.
    #[oai(deserialize_with = "present")]
    pub reply_to: Option<MessageId>,
    /// An idempotency key (1 to 64 printable ASCII characters): sending again with it
    /// returns the first message.
    #[oai(deserialize_with = "optional_text")]
    pub client_id: Option<String>,
}

impl poem_openapi::types::Example for SendRequest {
    fn example() -> Self {
        SendRequest {
            text: "Hello!".to_owned(),
            reply_to: None,
            client_id: Some("c-42".to_owned()),
        }
    }
}

/// Edits a message.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EditRequest {
    /// The new text.
    #[oai(deserialize_with = "text")]
    pub text: String,
}

/// Forwards a message.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ForwardRequest {
    /// The chat to forward it to.
    pub to_chat_id: ChatId,
    /// An idempotency key in the target chat.
    #[oai(deserialize_with = "optional_text")]
    pub client_id: Option<String>,
}

/// Moves the caller's read marker.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ReadRequest {
    /// Everything up to this seq is read.
    pub seq: i64,
}

/// Resolves a report.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ResolveRequest {
    /// What was done.
    #[oai(deserialize_with = "optional_text")]
    pub resolution: Option<String>,
}

macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Object, serde::Serialize)]
        #[oai(skip_serializing_if_is_none)]
        pub struct $name {
            /// The items on this page.
            pub items: Vec<$item>,
            /// This page's number, from 1.
            pub page: u32,
            /// The page size asked for.
            pub limit: u32,
            /// Whether a next page has items.
            pub has_more: bool,
        }

        impl From<Page<$item>> for $name {
            fn from(page: Page<$item>) -> Self {
                $name {
                    items: page.items,
                    page: page.page,
                    limit: page.limit,
                    has_more: page.has_more,
                }
            }
        }
    };
}

page_type!(
    /// A page of users.
    UserPage,
    UserProfile
);
page_type!(
    /// A page of the caller's chats, newest activity first.
    ChatPage,
    ChatListItem
);
page_type!(
    /// A page of contacts or blocked users.
    ListedUserPage,
    ListedUser
);
page_type!(
    /// A page of reports, oldest first.
    ReportPage,
    Report
);
