//! Validated message text and client ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::text::string_field;

/// The first `max_chars` characters of `text`, with `…` appended when it was cut.
///
/// Characters are Unicode scalar values. Text of at most `max_chars` characters is returned
/// whole, without `…`.
pub(crate) fn preview(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            let mut out = String::with_capacity(cut + '…'.len_utf8());
            out.push_str(&text[..cut]);
            out.push('…');
            out
        }
        None => text.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// MessageText
// ---------------------------------------------------------------------------------------------

/// The text of a message: not blank, at most [`MessageText::MAX_CHARS`] characters, no NUL.
///
/// Kept exactly as given; nothing is trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageText(String);

impl MessageText {
    /// The most characters (Unicode scalar values) a message text may have.
    pub const MAX_CHARS: usize = 4096;

    /// Parses a message text.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`] if the text is empty or only (Unicode) whitespace, contains a
    /// NUL character, or is longer than 4096 characters.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err(Error::InvalidMessage("message text is blank".into()));
        }
        if s.contains('\0') {
            return Err(Error::InvalidMessage(
                "message text contains a NUL character".into(),
            ));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(Error::InvalidMessage(
                "message text is longer than 4096 characters".into(),
            ));
        }
        Ok(Self(s))
    }

    /// The first `max_chars` characters of the text, with `…` appended when it was cut.
    pub fn preview(&self, max_chars: usize) -> String {
        preview(&self.0, max_chars)
    }
}

string_field!(MessageText);

// ---------------------------------------------------------------------------------------------
// ClientId
// ---------------------------------------------------------------------------------------------

/// A client-chosen idempotency key for sending a message: 1 to 64 printable ASCII characters
/// (no spaces).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// The most characters a client id may have.
    pub const MAX_CHARS: usize = 64;

    /// Parses a client id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `client_id` if it is empty, contains anything but
    /// ASCII graphic characters, or is longer than 64 characters.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("client_id", message);
        let s = s.into();
        if s.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "may only contain printable ASCII characters without spaces",
            ));
        }
        // Only ASCII is left, so bytes and characters are the same.
        if s.len() > Self::MAX_CHARS {
            return Err(invalid("must be at most 64 characters long"));
        }
        Ok(Self(s))
    }
}

string_field!(ClientId);

// ---------------------------------------------------------------------------------------------
// Emoji
// ---------------------------------------------------------------------------------------------

/// A reaction: one emoji from the Unicode emoji list (skin tones included), kept in its
/// fully-qualified form so that `❤` and `❤️` are the same reaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Emoji(String);

impl Emoji {
    /// Parses an emoji.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `emoji` if it is not exactly one known emoji.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let s = s.into();
        match emojis::get(&s) {
            Some(emoji) => Ok(Self(emoji.as_str().to_owned())),
            None => Err(Error::invalid("emoji", "must be a single emoji")),
        }
    }
}

string_field!(Emoji);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_single_known_emoji_in_qualified_form() {
        assert_eq!(Emoji::parse("👍").unwrap().as_str(), "👍");
        assert_eq!(Emoji::parse("👍🏽").unwrap().as_str(), "👍🏽");
        assert_eq!(Emoji::parse("❤").unwrap(), Emoji::parse("❤️").unwrap());
        for bad in ["", "a", "👍👍", ":+1:", " 👍", "👍 "] {
            match Emoji::parse(bad) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "emoji"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    /// Asserts that `result` is an [`Error::InvalidMessage`] with exactly `message`.
    #[track_caller]
    fn assert_invalid_message<T: fmt::Debug>(result: crate::Result<T>, message: &str) {
        match result {
            Err(Error::InvalidMessage(got)) => assert_eq!(got, message),
            other => panic!("expected invalid message {message:?}, got {other:?}"),
        }
    }

    /// Asserts that `result` is an [`Error::InvalidInput`] for `client_id`.
    #[track_caller]
    fn assert_invalid_client_id<T: fmt::Debug>(result: crate::Result<T>) {
        match result {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "client_id"),
            other => panic!("expected invalid client_id, got {other:?}"),
        }
    }

    // --- MessageText -----------------------------------------------------------------------

    #[test]
    fn message_text_is_kept_exactly() {
        for ok in [
            "hi",
            "  padded  ",
            "\nline one\nline two\n",
            "👋 héllo",
            "\t.",
        ] {
            assert_eq!(MessageText::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn message_text_rejects_blank() {
        for blank in [
            "",
            " ",
            "   \n\t\r ",
            "\u{3000}",
            "\u{a0}\u{2003}\u{2028}",
            "\u{85}",
        ] {
            assert_invalid_message(MessageText::parse(blank), "message text is blank");
        }
        let err = MessageText::parse("").unwrap_err();
        assert_eq!(err.code(), "invalid_message");
        assert_eq!(err.to_string(), "invalid message: message text is blank");
    }

    #[test]
    fn message_text_rejects_nul() {
        for bad in ["a\0b", "\0", "text\0", " \0 "] {
            assert_invalid_message(
                MessageText::parse(bad),
                "message text contains a NUL character",
            );
        }
    }

    #[test]
    fn message_text_length_boundary_in_chars() {
        assert_eq!(MessageText::MAX_CHARS, 4096);
        assert!(MessageText::parse("a".repeat(4096)).is_ok());
        assert_invalid_message(
            MessageText::parse("a".repeat(4097)),
            "message text is longer than 4096 characters",
        );
        // Multi-byte characters count once each.
        assert!(MessageText::parse("é".repeat(4096)).is_ok());
        assert!(MessageText::parse("🎉".repeat(4096)).is_ok());
        assert_invalid_message(
            MessageText::parse("🎉".repeat(4097)),
            "message text is longer than 4096 characters",
        );
        // Surrounding whitespace counts too: nothing is trimmed.
        assert_invalid_message(
            MessageText::parse(format!(" {} ", "a".repeat(4095))),
            "message text is longer than 4096 characters",
        );
    }

    #[test]
    fn message_text_conversions_and_serde() {
        let text = MessageText::parse("hello").unwrap();
        assert_eq!(text.to_string(), "hello");
        assert_eq!(AsRef::<str>::as_ref(&text), "hello");
        assert_eq!(String::from(text.clone()), "hello");
        assert!(MessageText::try_from("hello").is_ok());
        assert!(MessageText::try_from(String::from("hello")).is_ok());
        assert!("hello".parse::<MessageText>().is_ok());
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"hello\"");
        let back: MessageText = serde_json::from_str("\"hello\"").unwrap();
        assert_eq!(back, text);
        assert!(serde_json::from_str::<MessageText>("\"  \"").is_err());
        assert!(serde_json::from_str::<MessageText>("5").is_err());
    }

    #[test]
    fn preview_cuts_by_chars_and_marks_the_cut() {
        assert_eq!(preview("hello", 10), "hello");
        assert_eq!(preview("hello", 5), "hello");
        assert_eq!(preview("hello", 4), "hell…");
        assert_eq!(preview("hello", 1), "h…");
        assert_eq!(preview("hello", 0), "…");
        assert_eq!(preview("", 0), "");
        assert_eq!(preview("", 3), "");
        assert_eq!(preview("héllo wörld", 7), "héllo w…");
        assert_eq!(preview("👋🌍🎉", 2), "👋🌍…");
        assert_eq!(preview("👋🌍🎉", 3), "👋🌍🎉");
        // A combining mark is its own character.
        assert_eq!(preview("e\u{301}x", 1), "e…");
    }

    #[test]
    fn message_text_preview_uses_the_free_function() {
        let text = MessageText::parse("  spaced out text").unwrap();
        assert_eq!(text.preview(8), "  spaced…");
        assert_eq!(text.preview(100), "  spaced out text");
        assert_eq!(text.preview(8), preview(text.as_str(), 8));
    }

    // --- ClientId --------------------------------------------------------------------------

    #[test]
    fn client_id_length_boundaries() {
        assert_eq!(ClientId::MAX_CHARS, 64);
        assert_invalid_client_id(ClientId::parse(""));
        assert!(ClientId::parse("x").is_ok());
        assert!(ClientId::parse("x".repeat(64)).is_ok());
        assert_invalid_client_id(ClientId::parse("x".repeat(65)));
    }

    #[test]
    fn client_id_accepts_ascii_graphic() {
        for ok in [
            "0190f5d2-7c1e-7a3b-9f00-123456789abc",
            "msg:42",
            "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            "ABCxyz019",
        ] {
            assert_eq!(ClientId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn client_id_rejects_non_graphic() {
        for bad in [
            " ", " id", "id ", "a b", "a\tb", "a\nb", "a\0b", "\u{7f}", "é", "ｉｄ", "🆔",
        ] {
            assert_invalid_client_id(ClientId::parse(bad));
        }
        // Non-ASCII is refused even when short in bytes or chars.
        assert_invalid_client_id(ClientId::parse("é".repeat(10)));
    }

    #[test]
    fn client_id_conversions_and_serde() {
        let id = ClientId::parse("abc-123").unwrap();
        assert_eq!(id.to_string(), "abc-123");
        assert_eq!(AsRef::<str>::as_ref(&id), "abc-123");
        assert!(ClientId::try_from("abc-123").is_ok());
        assert!(ClientId::try_from(String::from("abc-123")).is_ok());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc-123\"");
        let back: ClientId = serde_json::from_str("\"abc-123\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ClientId>("\"a b\"").is_err());
    }
}
