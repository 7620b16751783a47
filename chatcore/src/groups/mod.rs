//! Groups: titled chats with an owner, admins and members, and per-group history visibility.

pub(crate) mod queries;

use serde::{Deserialize, Serialize};

pub use crate::chats::HistoryVisibility;
use crate::chats::MemberRole;
use crate::text::{HIDDEN_MESSAGE, has_hidden_characters};
use crate::{Error, Result, UserId};

/// A group title: 1 to 128 characters, no surrounding whitespace, no control, invisible or
/// text-direction characters (as in [`DisplayName`](crate::users::DisplayName)).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatTitle(String);

impl ChatTitle {
    /// The longest title, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Checks a title.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`title`) when empty, too long, padded with whitespace or
    /// holding control, invisible or text-direction characters.
    pub fn parse(title: impl Into<String>) -> Result<Self> {
        let title = title.into();
        if title.trim().is_empty() {
            return Err(Error::invalid("title", "must not be blank"));
        }
        if title.trim() != title {
            return Err(Error::invalid(
                "title",
                "must not start or end with whitespace",
            ));
        }
        if title.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid("title", "at most 128 characters"));
        }
        if has_hidden_characters(&title) {
            return Err(Error::invalid("title", HIDDEN_MESSAGE));
        }
        Ok(ChatTitle(title))
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChatTitle {
    type Error = Error;

    fn try_from(title: String) -> Result<Self> {
        Self::parse(title)
    }
}

impl From<ChatTitle> for String {
    fn from(title: ChatTitle) -> String {
        title.0
    }
}

/// Creates a group; the caller becomes its owner.
#[derive(Clone, Debug)]
pub struct CreateGroup {
    /// The title.
    pub title: ChatTitle,
    /// The first members besides the caller (duplicates and the caller are ignored); at most
    /// [`Options::max_members_per_request`](crate::Options::max_members_per_request) entries.
    pub members: Vec<UserId>,
    /// Which messages members see.
    pub history: HistoryVisibility,
}

impl CreateGroup {
    /// A group with a title and members, `since_join` history.
    pub fn new(title: ChatTitle, members: Vec<UserId>) -> Self {
        CreateGroup {
            title,
            members,
            history: HistoryVisibility::SinceJoin,
        }
    }
}

/// A role that can be given to a member (ownership moves only when the owner leaves).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Enum),
    oai(rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum AssignableRole {
    /// Manages the group.
    Admin,
    /// Takes part.
    Member,
}

impl From<AssignableRole> for MemberRole {
    fn from(role: AssignableRole) -> Self {
        match role {
            AssignableRole::Admin => MemberRole::Admin,
            AssignableRole::Member => MemberRole::Member,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_checked() {
        assert_eq!(ChatTitle::parse("Team").unwrap().as_str(), "Team");
        assert!(ChatTitle::parse("Équipe 🚀").is_ok());
        for bad in ["", "   ", " padded", "line\nbreak"] {
            assert_eq!(
                ChatTitle::parse(bad).unwrap_err().field(),
                Some("title"),
                "{bad:?}"
            );
        }
        assert!(ChatTitle::parse("x".repeat(128)).is_ok());
        assert!(ChatTitle::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn titles_refuse_bidi_controls_and_invisible_characters() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200D}',
            '\u{2060}', '\u{FEFF}', '\u{200F}', '\u{7}', '\u{85}',
        ] {
            let error = ChatTitle::parse(format!("Team{c} chat")).unwrap_err();
            assert_eq!(error.field(), Some("title"), "{c:?}");
        }
        assert!(ChatTitle::parse("Team 👩\u{200D}💻").is_ok());
        assert!(ChatTitle::parse("مدرسه\u{200C}ها").is_ok());
    }
}
