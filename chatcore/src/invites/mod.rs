//! Invite links: admins share a code, anyone signed in who has it can join the group.

pub(crate) mod entity;
pub(crate) mod queries;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chats::ChatDetail;
use crate::{ChatId, Error, Result, UserId};

/// An invite code as given by a client: 16 to 64 URL-safe characters (`A-Z a-z 0-9 - _`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InviteCode(String);

impl InviteCode {
    /// Checks the shape of a code (whether it exists is another matter).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`code`) for anything else.
    pub fn parse(code: impl Into<String>) -> Result<Self> {
        let code = code.into();
        let url_safe = code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !(16..=64).contains(&code.len()) || !url_safe {
            return Err(Error::invalid(
                "code",
                "must be 16 to 64 URL-safe characters",
            ));
        }
        Ok(InviteCode(code))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InviteCode {
    // A code is a bearer secret: debug output shows only its start.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteCode({}…)", &self.0[..4])
    }
}

impl fmt::Display for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for InviteCode {
    type Error = Error;

    fn try_from(code: String) -> Result<Self> {
        Self::parse(code)
    }
}

impl From<InviteCode> for String {
    fn from(code: InviteCode) -> String {
        code.0
    }
}

/// Creates an invite link for a group.
#[derive(Clone, Debug)]
pub struct CreateInvite {
    /// The group.
    pub chat_id: ChatId,
    /// When the link stops working; `None` for never. Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many people may join with it; `None` for no limit. At least 1.
    pub max_uses: Option<u32>,
}

impl CreateInvite {
    /// A link without expiry or use limit.
    pub fn new(chat_id: ChatId) -> Self {
        CreateInvite {
            chat_id,
            expires_at: None,
            max_uses: None,
        }
    }
}

/// Whether an invite can still be used, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Enum),
    oai(rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    /// It can be accepted.
    Valid,
    /// Its expiry time has passed.
    Expired,
    /// An admin revoked it.
    Revoked,
    /// It reached its maximum number of uses.
    Exhausted,
}

impl InviteState {
    /// The error that accepting an invite in this state gets, if any.
    pub(crate) fn refusal(self) -> Option<Error> {
        match self {
            InviteState::Valid => None,
            InviteState::Expired => Some(Error::InviteExpired),
            InviteState::Revoked => Some(Error::InviteRevoked),
            InviteState::Exhausted => Some(Error::InviteExhausted),
        }
    }
}

/// An invite link, as the group's admins see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct Invite {
    /// The code to share.
    pub code: String,
    /// The group it joins.
    pub chat_id: ChatId,
    /// Who created it.
    pub created_by: UserId,
    /// When.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub expires_at: Option<DateTime<Utc>>,
    /// How many people may join with it, if limited.
    pub max_uses: Option<u32>,
    /// How many joined with it.
    pub uses: u32,
    /// Whether it can still be used.
    pub state: InviteState,
}

/// What anyone holding a code may see before joining.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct InvitePreview {
    /// The group.
    pub chat_id: ChatId,
    /// Its title.
    pub title: Option<String>,
    /// How many members it has.
    pub member_count: u64,
    /// Whether the invite can still be used.
    pub state: InviteState,
    /// Whether the caller is already a member.
    pub already_member: bool,
}

/// The result of accepting an invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Object),
    oai(skip_serializing_if_is_none)
)]
pub struct JoinedGroup {
    /// The group, as a member sees it.
    pub chat: ChatDetail,
    /// Whether this call made the caller a member (`false`: they already were).
    pub joined: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_and_not_debug_printed() {
        let code = InviteCode::parse("abcdEFGH1234-_xyz").unwrap();
        assert_eq!(code.as_str(), "abcdEFGH1234-_xyz");
        assert!(!format!("{code:?}").contains("EFGH"));
        for bad in [
            "short",
            "has space in it here",
            "ünïcödé-ünïcödé-ü",
            &"x".repeat(65),
        ] {
            assert_eq!(InviteCode::parse(bad).unwrap_err().field(), Some("code"));
        }
    }
}
