//! Validated account fields.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Implements the shared surface of a validated string newtype whose `parse` takes
/// `impl Into<String>`: `as_str`, `TryFrom<String>`, `TryFrom<&str>`, `FromStr`, `AsRef<str>`,
/// `Display`, `From<T> for String`, and serde as a plain string (deserialized through `parse`).
macro_rules! string_field {
    ($name:ident) => {
        impl $name {
            /// The validated value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = crate::Error;

            fn try_from(s: String) -> crate::Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = crate::Error;

            fn try_from(s: &str) -> crate::Result<Self> {
                Self::parse(s)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;

            fn from_str(s: &str) -> crate::Result<Self> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Whether `s` starts or ends with (Unicode) whitespace.
fn has_outer_whitespace(s: &str) -> bool {
    s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace)
}

/// Whether `s` contains a control character.
fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Characters that are invisible or change how the text around them is displayed, so that a
/// name can pass for another: bidi embeddings, overrides, isolates and marks, zero-width
/// spaces, fillers that render as nothing. A zero-width joiner or non-joiner is judged by its
/// neighbours instead (see [`has_hidden_characters`]).
fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
    )
}

/// What free-text fields answer when [`has_hidden_characters`] refuses them.
pub(crate) const HIDDEN_MESSAGE: &str =
    "must not contain control, invisible or text-direction characters";

/// Whether `s` contains control characters or characters that hide or disguise text (see
/// [`is_hidden`]). Zero-width joiners and non-joiners (U+200C, U+200D) are accepted only
/// between two visible non-ASCII characters, where emoji sequences (👩‍💻) and scripts such as
/// Persian or Devanagari need them; anywhere else they only serve to make two names look
/// alike.
pub(crate) fn has_hidden_characters(s: &str) -> bool {
    let visible_non_ascii = |c: Option<char>| {
        c.is_some_and(|c| {
            !c.is_ascii()
                && !c.is_whitespace()
                && !c.is_control()
                && !is_hidden(c)
                && !matches!(c, '\u{200C}' | '\u{200D}')
        })
    };
    let mut previous = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let hidden = match c {
            '\u{200C}' | '\u{200D}' => {
                !(visible_non_ascii(previous) && visible_non_ascii(chars.peek().copied()))
            }
            c => c.is_control() || is_hidden(c),
        };
        if hidden {
            return true;
        }
        previous = Some(c);
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Username
// ---------------------------------------------------------------------------------------------

/// A login name: 3 to 32 ASCII letters, digits, `_`, `.` or `-`, except the
/// [reserved](Username::RESERVED) ones.
///
/// The case is kept as given; uniqueness is case-insensitive, so compare [`Username::key`]s.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// The fewest characters a username may have.
    pub const MIN_CHARS: usize = 3;
    /// The most characters a username may have.
    pub const MAX_CHARS: usize = 32;
    /// Names nobody may take, in any case: `deleted` is what everyone sees for a deleted
    /// account, so an account by that name could pass for a deleted one.
    pub const RESERVED: &'static [&'static str] = &["deleted"];

    /// Parses a username.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `username` if it has leading or trailing whitespace,
    /// contains anything but ASCII letters, digits, `_`, `.` and `-`, is not 3 to 32
    /// characters long, or is [reserved](Username::RESERVED).
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("username", message);
        let s = s.into();
        if has_outer_whitespace(&s) {
            return Err(invalid("must not start or end with whitespace"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(invalid(
                "may only contain ASCII letters, digits, `_`, `.` and `-`",
            ));
        }
        // Only ASCII is left, so bytes and characters are the same.
        if s.len() < Self::MIN_CHARS {
            return Err(invalid("must be at least 3 characters long"));
        }
        if s.len() > Self::MAX_CHARS {
            return Err(invalid("must be at most 32 characters long"));
        }
        if Self::RESERVED
            .iter()
            .any(|reserved| s.eq_ignore_ascii_case(reserved))
        {
            return Err(invalid("is reserved"));
        }
        Ok(Self(s))
    }

    /// The lowercase form of the username, used for case-insensitive uniqueness.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

string_field!(Username);

// ---------------------------------------------------------------------------------------------
// Password
// ---------------------------------------------------------------------------------------------

/// The built-in list of the most common leaked passwords (lowercase, at least 8 bytes each).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// A plaintext password as the user typed it: 8 to 1024 bytes of anything, except the most
/// common leaked passwords (compared case-insensitively).
///
/// There are no composition rules. A password is never displayed or serialized: it has no
/// `Display` or `Serialize`, its `Debug` prints `Password(***)`, and errors never echo it.
/// Read it with [`Password::expose`].
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The fewest bytes a password may have.
    pub const MIN_BYTES: usize = 8;
    /// The most bytes a password may have.
    pub const MAX_BYTES: usize = 1024;

    /// Parses a password.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `password` if it is not 8 to 1024 bytes long or is one
    /// of the most common passwords. The message never contains the password.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("password", message);
        let s = s.into();
        if s.len() < Self::MIN_BYTES {
            return Err(invalid("must be at least 8 bytes long"));
        }
        if s.len() > Self::MAX_BYTES {
            return Err(invalid("must be at most 1024 bytes long"));
        }
        if COMMON_PASSWORDS.contains(s.to_lowercase().as_str()) {
            return Err(invalid("is too common; choose a less guessable password"));
        }
        Ok(Self(s))
    }

    /// The plaintext password, for hashing or verifying. Never log or display it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl TryFrom<String> for Password {
    type Error = crate::Error;

    fn try_from(s: String) -> crate::Result<Self> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Password {
    type Error = crate::Error;

    fn try_from(s: &str) -> crate::Result<Self> {
        Self::parse(s)
    }
}

impl FromStr for Password {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------------------------

/// An email address, stored lowercased.
///
/// At most 254 characters, exactly one `@`, a non-empty local part of at most 64 characters and
/// a domain containing a `.` that is at neither end; no whitespace or control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The most characters an email address may have.
    pub const MAX_CHARS: usize = 254;
    /// The most characters the part before the `@` may have.
    pub const MAX_LOCAL_CHARS: usize = 64;

    /// Parses an email address and lowercases the whole of it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `email` if it is empty, has leading or trailing
    /// whitespace, contains whitespace or control characters, is longer than 254 characters,
    /// has not exactly one `@`, has an empty or longer than 64 characters local part, or its
    /// domain has no `.` or starts or ends with one.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("email", message);
        let s = s.into();
        if s.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if has_outer_whitespace(&s) {
            return Err(invalid("must not start or end with whitespace"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain whitespace or control characters"));
        }
        // Checked before lowercasing too, so huge inputs are refused without copying them.
        if s.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 254 characters long"));
        }
        let s = s.to_lowercase();
        if s.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 254 characters long"));
        }
        if s.matches('@').count() != 1 {
            return Err(invalid("must contain exactly one @"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(invalid("must contain exactly one @"));
        };
        if local.is_empty() {
            return Err(invalid("must have a non-empty part before the @"));
        }
        if local.chars().count() > Self::MAX_LOCAL_CHARS {
            return Err(invalid(
                "the part before the @ must be at most 64 characters long",
            ));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid(
                "must have a domain with a dot inside it, like example.com",
            ));
        }
        Ok(Self(s))
    }
}

string_field!(Email);

// ---------------------------------------------------------------------------------------------
// DisplayName
// ---------------------------------------------------------------------------------------------

/// The name shown for a user: 1 to 64 characters, no leading or trailing whitespace, no control
/// characters, no invisible or text-direction characters (bidi overrides and isolates,
/// zero-width spaces; a zero-width joiner only inside emoji and scripts that need it). Kept
/// exactly as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// The most characters a display name may have.
    pub const MAX_CHARS: usize = 64;

    /// Parses a display name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `display_name` if it is empty, has leading or trailing
    /// whitespace, contains control, invisible or text-direction characters or is longer than
    /// 64 characters.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("display_name", message);
        let s = s.into();
        if s.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if has_outer_whitespace(&s) {
            return Err(invalid("must not start or end with whitespace"));
        }
        if has_hidden_characters(&s) {
            return Err(invalid(HIDDEN_MESSAGE));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 64 characters long"));
        }
        Ok(Self(s))
    }
}

string_field!(DisplayName);

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// A user's status line: 0 to 140 characters without control, invisible or text-direction
/// characters (as in [`DisplayName`]). May be empty (the [`Default`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Status(String);

impl Status {
    /// The most characters a status may have.
    pub const MAX_CHARS: usize = 140;

    /// Parses a status line.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `status` if it contains control, invisible or
    /// text-direction characters or is longer than 140 characters.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("status", message);
        let s = s.into();
        if has_hidden_characters(&s) {
            return Err(invalid(HIDDEN_MESSAGE));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 140 characters long"));
        }
        Ok(Self(s))
    }

    /// Whether the status is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

string_field!(Status);

// ---------------------------------------------------------------------------------------------
// Phone
// ---------------------------------------------------------------------------------------------

/// A phone number, normalised to an optional leading `+` followed by 6 to 20 digits.
///
/// Input may separate digit groups with single spaces or `-`, as in `+1 555-123-4567`, which is
/// stored as `+15551234567`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// The fewest digits a phone number may have.
    pub const MIN_DIGITS: usize = 6;
    /// The most digits a phone number may have.
    pub const MAX_DIGITS: usize = 20;

    /// Parses and normalises a phone number.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `phone` if, after an optional leading `+`, it contains
    /// anything but ASCII digits and single spaces or `-` between digits, or it does not have
    /// 6 to 20 digits.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("phone", message);
        let s = s.into();
        let (plus, rest) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s.as_str()),
        };
        let mut normalised = String::with_capacity(s.len());
        if plus {
            normalised.push('+');
        }
        let mut digits = 0_usize;
        let mut after_digit = false;
        for c in rest.chars() {
            if c.is_ascii_digit() {
                normalised.push(c);
                digits += 1;
                after_digit = true;
            } else if c == ' ' || c == '-' {
                if !after_digit {
                    return Err(invalid(
                        "spaces and dashes may only separate digits, one at a time",
                    ));
                }
                after_digit = false;
            } else {
                return Err(invalid(
                    "may only contain digits, with an optional leading + and single spaces or dashes between digits",
                ));
            }
        }
        if !rest.is_empty() && !after_digit {
            return Err(invalid(
                "spaces and dashes may only separate digits, one at a time",
            ));
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits) {
            return Err(invalid("must have 6 to 20 digits"));
        }
        Ok(Self(normalised))
    }
}

string_field!(Phone);

// ---------------------------------------------------------------------------------------------
// ExternalId
// ---------------------------------------------------------------------------------------------

/// The embedding application's own id for a user: 1 to 255 bytes, no control characters, no
/// leading or trailing whitespace. Kept exactly as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    /// The most bytes an external id may have.
    pub const MAX_BYTES: usize = 255;

    /// Parses an external id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for field `external_id` if it is empty, longer than 255 bytes,
    /// has leading or trailing whitespace or contains control characters.
    pub fn parse(s: impl Into<String>) -> crate::Result<Self> {
        let invalid = |message: &'static str| Error::invalid("external_id", message);
        let s = s.into();
        if s.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if s.len() > Self::MAX_BYTES {
            return Err(invalid("must be at most 255 bytes long"));
        }
        if has_outer_whitespace(&s) {
            return Err(invalid("must not start or end with whitespace"));
        }
        if has_control(&s) {
            return Err(invalid("must not contain control characters"));
        }
        Ok(Self(s))
    }
}

string_field!(ExternalId);

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `result` is an [`Error::InvalidInput`] for `field`.
    #[track_caller]
    fn assert_invalid<T: fmt::Debug>(result: crate::Result<T>, field: &str) {
        match result {
            Err(Error::InvalidInput { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }

    /// Asserts that `T` serializes as the JSON string `json` and deserializes back through parse.
    #[track_caller]
    fn assert_serde_round_trip<T>(value: &T, json: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        assert_eq!(serde_json::to_string(value).unwrap(), json);
        let back: T = serde_json::from_str(json).unwrap();
        assert_eq!(&back, value);
    }

    // --- Username --------------------------------------------------------------------------

    #[test]
    fn username_accepts_allowed_characters_and_keeps_case() {
        let name = Username::parse("John.Doe_42-x").unwrap();
        assert_eq!(name.as_str(), "John.Doe_42-x");
        assert_eq!(name.key(), "john.doe_42-x");
        assert_eq!(name.to_string(), "John.Doe_42-x");
        assert_eq!(AsRef::<str>::as_ref(&name), "John.Doe_42-x");
        assert_eq!(String::from(name), "John.Doe_42-x");
    }

    #[test]
    fn username_length_boundaries() {
        assert_invalid(Username::parse(""), "username");
        assert_invalid(Username::parse("ab"), "username");
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("a".repeat(Username::MAX_CHARS)).is_ok());
        assert_invalid(
            Username::parse("a".repeat(Username::MAX_CHARS + 1)),
            "username",
        );
        assert_eq!(Username::MIN_CHARS, 3);
        assert_eq!(Username::MAX_CHARS, 32);
    }

    #[test]
    fn username_rejects_outer_whitespace_instead_of_trimming() {
        assert_invalid(Username::parse(" alice"), "username");
        assert_invalid(Username::parse("alice "), "username");
        assert_invalid(Username::parse("\talice"), "username");
        assert_invalid(Username::parse("alice\u{a0}"), "username");
    }

    #[test]
    fn username_rejects_other_characters() {
        for bad in [
            "al ice",
            "al@ice",
            "al+ice",
            "alice!",
            "jöhn",
            "名前名前",
            "ali\u{0}ce",
            "ａｌｉｃｅ",
        ] {
            assert_invalid(Username::parse(bad), "username");
        }
    }

    #[test]
    fn username_refuses_reserved_names_in_any_case() {
        for bad in ["deleted", "Deleted", "DELETED"] {
            assert_invalid(Username::parse(bad), "username");
        }
        assert!(Username::parse("deleted2").is_ok());
        assert!(Username::parse("undeleted").is_ok());
    }

    #[test]
    fn username_uniqueness_key_is_case_insensitive() {
        let a = Username::parse("Alice").unwrap();
        let b = Username::parse("aLICE").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn username_conversions_and_serde() {
        assert!(Username::try_from("alice").is_ok());
        assert!(Username::try_from(String::from("alice")).is_ok());
        assert!("alice".parse::<Username>().is_ok());
        assert_invalid(Username::try_from("a"), "username");
        assert_serde_round_trip(&Username::parse("Alice").unwrap(), "\"Alice\"");
        assert!(serde_json::from_str::<Username>("\"a b\"").is_err());
        assert!(serde_json::from_str::<Username>("42").is_err());
    }

    // --- Password --------------------------------------------------------------------------

    #[test]
    fn password_byte_length_boundaries() {
        assert_invalid(Password::parse(""), "password");
        assert_invalid(Password::parse("zq7!mB2"), "password");
        assert!(Password::parse("zq7!mB2p").is_ok());
        assert!(Password::parse("z".repeat(Password::MAX_BYTES)).is_ok());
        assert_invalid(
            Password::parse("z".repeat(Password::MAX_BYTES + 1)),
            "password",
        );
        assert_eq!(Password::MIN_BYTES, 8);
        assert_eq!(Password::MAX_BYTES, 1024);
    }

    #[test]
    fn password_length_counts_bytes_not_chars() {
        // Four two-byte characters: 4 chars, 8 bytes.
        assert!(Password::parse("éüöä").is_ok());
        // Three two-byte characters and one ASCII: 4 chars, 7 bytes.
        assert_invalid(Password::parse("éüöa"), "password");
        // 1024 bytes of emoji (4 bytes each) is fine, one more byte is not.
        let emoji = "🔑".repeat(256);
        assert_eq!(emoji.len(), 1024);
        assert!(Password::parse(emoji.clone()).is_ok());
        assert_invalid(Password::parse(emoji + "x"), "password");
    }

    #[test]
    fn password_has_no_composition_rules() {
        for ok in [
            "correct horse battery staple",
            "zzzzzzzzzz",
            "  spaces around  ",
            "日本語のパスワード",
            "tab\there!",
        ] {
            assert_eq!(Password::parse(ok).unwrap().expose(), ok);
        }
    }

    #[test]
    fn password_rejects_common_passwords_case_insensitively() {
        for bad in [
            "password",
            "PASSWORD",
            "PassWord1",
            "12345678",
            "123456789",
            "qwertyuiop",
            "iloveyou",
            "Trustno1",
            "P@ssw0rd",
            "changeme",
            "CONTRASEÑA",
        ] {
            assert_invalid(Password::parse(bad), "password");
        }
    }

    #[test]
    fn password_errors_never_echo_the_password() {
        for bad in ["short", "Password123", &"secret-long".repeat(100)] {
            let err = Password::parse(bad).unwrap_err();
            let text = err.to_string();
            assert!(!text.contains(bad), "{text}");
            assert!(!format!("{err:?}").contains(bad));
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        let password = Password::parse("hunter2-is-long").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert_eq!(
            format!("{:?}", Some(password.clone())),
            "Some(Password(***))"
        );
        assert_eq!(password.expose(), "hunter2-is-long");
    }

    #[test]
    fn password_conversions_and_deserialize() {
        assert!(Password::try_from("hunter2-is-long").is_ok());
        assert!(Password::try_from(String::from("hunter2-is-long")).is_ok());
        assert!("hunter2-is-long".parse::<Password>().is_ok());
        let password: Password = serde_json::from_str("\"hunter2-is-long\"").unwrap();
        assert_eq!(password.expose(), "hunter2-is-long");
        assert!(serde_json::from_str::<Password>("\"password\"").is_err());
        assert!(serde_json::from_str::<Password>("\"short\"").is_err());
    }

    #[test]
    fn common_password_list_is_usable() {
        let raw = include_str!("common_passwords.txt");
        let mut count = 0;
        for line in raw.lines() {
            assert_eq!(line, line.trim(), "stray whitespace in {line:?}");
            assert!(
                line.len() >= Password::MIN_BYTES,
                "{line:?} is shorter than 8 bytes"
            );
            assert_eq!(line, line.to_lowercase(), "{line:?} is not lowercase");
            count += 1;
        }
        assert!(count >= 150, "only {count} common passwords");
        assert_eq!(COMMON_PASSWORDS.len(), count, "duplicate entries");
    }

    // --- Email -----------------------------------------------------------------------------

    #[test]
    fn email_is_lowercased() {
        let email = Email::parse("Alice.Smith+Tag@Example.COM").unwrap();
        assert_eq!(email.as_str(), "alice.smith+tag@example.com");
        assert_eq!(
            Email::parse("ÜNÏ@Exämple.ORG").unwrap().as_str(),
            "ünï@exämple.org"
        );
        assert_eq!(
            Email::parse("a@b.c").unwrap(),
            Email::parse("A@B.C").unwrap()
        );
    }

    #[test]
    fn email_rejects_whitespace_and_control_characters() {
        for bad in [
            " a@b.c",
            "a@b.c ",
            "a@b.c\n",
            "\u{3000}a@b.c",
            "a b@c.d",
            "a@b\tc.d",
            "a\u{7}@b.c",
            "a@b.c\u{0}x",
            "a\u{a0}b@c.d",
        ] {
            assert_invalid(Email::parse(bad), "email");
        }
    }

    #[test]
    fn email_requires_exactly_one_at() {
        assert_invalid(Email::parse(""), "email");
        assert_invalid(Email::parse("alice.example.com"), "email");
        assert_invalid(Email::parse("a@b@example.com"), "email");
        assert_invalid(Email::parse("@@example.com"), "email");
    }

    #[test]
    fn email_local_part_rules() {
        assert_invalid(Email::parse("@example.com"), "email");
        assert!(Email::parse(format!("{}@example.com", "a".repeat(64))).is_ok());
        assert_invalid(
            Email::parse(format!("{}@example.com", "a".repeat(65))),
            "email",
        );
        // Counted in characters, not bytes.
        assert!(Email::parse(format!("{}@example.com", "é".repeat(64))).is_ok());
        assert_invalid(
            Email::parse(format!("{}@example.com", "é".repeat(65))),
            "email",
        );
    }

    #[test]
    fn email_domain_rules() {
        for bad in ["a@", "a@example", "a@.com", "a@example.", "a@."] {
            assert_invalid(Email::parse(bad), "email");
        }
        assert!(Email::parse("a@b.c").is_ok());
        assert!(Email::parse("a@mail.example.co.uk").is_ok());
    }

    #[test]
    fn email_total_length_boundary() {
        let local = "a".repeat(64);
        // 64 + 1 + 185 + 4 = 254
        let ok = format!("{local}@{}.com", "b".repeat(185));
        assert_eq!(ok.chars().count(), 254);
        assert!(Email::parse(ok).is_ok());
        let too_long = format!("{local}@{}.com", "b".repeat(186));
        assert_invalid(Email::parse(too_long), "email");
        // Characters, not bytes.
        let unicode = format!("{local}@{}.com", "é".repeat(185));
        assert!(Email::parse(unicode).is_ok());
    }

    #[test]
    fn email_conversions_and_serde() {
        assert!(Email::try_from("a@b.c").is_ok());
        assert!(Email::try_from(String::from("a@b.c")).is_ok());
        assert_eq!(Email::parse("A@B.C").unwrap().to_string(), "a@b.c");
        assert_serde_round_trip(&Email::parse("a@b.c").unwrap(), "\"a@b.c\"");
        let lowered: Email = serde_json::from_str("\"A@B.C\"").unwrap();
        assert_eq!(lowered.as_str(), "a@b.c");
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    // --- DisplayName -----------------------------------------------------------------------

    #[test]
    fn display_name_length_boundaries_in_chars() {
        assert_invalid(DisplayName::parse(""), "display_name");
        assert!(DisplayName::parse("A").is_ok());
        assert!(DisplayName::parse("x".repeat(64)).is_ok());
        assert_invalid(DisplayName::parse("x".repeat(65)), "display_name");
        assert!(DisplayName::parse("ü".repeat(64)).is_ok());
        assert!(DisplayName::parse("🙂".repeat(64)).is_ok());
        assert_invalid(DisplayName::parse("🙂".repeat(65)), "display_name");
        assert_eq!(DisplayName::MAX_CHARS, 64);
    }

    #[test]
    fn display_name_rejects_outer_whitespace_and_controls() {
        for bad in [
            " ",
            " Jane",
            "Jane ",
            "\u{3000}Jane",
            "Jane\u{2003}",
            "Ja\nne",
            "Ja\u{0}ne",
            "Ja\u{7f}ne",
            "Ja\u{85}ne",
        ] {
            assert_invalid(DisplayName::parse(bad), "display_name");
        }
    }

    /// Characters that make one name look like another, or reorder what follows it.
    const HIDDEN: [char; 20] = [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200B}', '\u{2060}', '\u{FEFF}', '\u{200E}', '\u{200F}',
        '\u{061C}', '\u{00AD}', '\u{3164}', '\u{115F}', '\u{1B}', '\u{9F}',
    ];

    #[test]
    fn display_name_refuses_bidi_controls_and_invisible_characters() {
        for c in HIDDEN {
            for bad in [
                format!("ad{c}min"),
                format!("{c}admin"),
                format!("admin{c}"),
            ] {
                assert_invalid(DisplayName::parse(bad), "display_name");
            }
        }
        // The classic: a right-to-left override turning "exe.txt" around.
        assert_invalid(DisplayName::parse("photo\u{202E}gpj.exe"), "display_name");
        // A name made of fillers only shows as nothing.
        assert_invalid(DisplayName::parse("\u{3164}\u{3164}"), "display_name");
    }

    #[test]
    fn zero_width_joiners_only_where_emoji_and_scripts_need_them() {
        for joiner in ['\u{200C}', '\u{200D}'] {
            for bad in [
                format!("ad{joiner}min"),
                format!("{joiner}Jane"),
                format!("Jane{joiner}"),
                format!("Jane {joiner}Doe"),
                format!("é{joiner}{joiner}é"),
                format!("🚀{joiner}a"),
            ] {
                assert_invalid(DisplayName::parse(bad.clone()), "display_name");
                assert_invalid(Status::parse(bad), "status");
            }
        }
        for ok in [
            "👩\u{200D}💻 Ada",
            "🏃\u{200D}♀\u{FE0F}",
            "❤\u{FE0F}\u{200D}🔥",
            "علی\u{200C}رضا",
            "क्\u{200D}ष",
        ] {
            assert_eq!(DisplayName::parse(ok).unwrap().as_str(), ok);
            assert_eq!(Status::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn display_name_keeps_text_as_given() {
        for ok in ["Jane  Doe", "李小龍", "Zoë 🚀", "O'Brien-Smith"] {
            assert_eq!(DisplayName::parse(ok).unwrap().as_str(), ok);
        }
        assert_serde_round_trip(&DisplayName::parse("Zoë").unwrap(), "\"Zoë\"");
        assert!(serde_json::from_str::<DisplayName>("\"\"").is_err());
        assert!(DisplayName::try_from("Jane").is_ok());
        assert!(DisplayName::try_from(String::from("Jane")).is_ok());
    }

    // --- Status ----------------------------------------------------------------------------

    #[test]
    fn status_length_boundaries_in_chars() {
        let empty = Status::parse("").unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty, Status::default());
        assert!(Status::parse("s".repeat(140)).is_ok());
        assert_invalid(Status::parse("s".repeat(141)), "status");
        assert!(Status::parse("é".repeat(140)).is_ok());
        assert_invalid(Status::parse("é".repeat(141)), "status");
        assert_eq!(Status::MAX_CHARS, 140);
    }

    #[test]
    fn status_rejects_control_characters() {
        for bad in ["line\nbreak", "tab\there", "\u{0}", "bell\u{7}", "\r"] {
            assert_invalid(Status::parse(bad), "status");
        }
    }

    #[test]
    fn status_refuses_bidi_controls_and_invisible_characters() {
        for c in HIDDEN {
            assert_invalid(Status::parse(format!("out{c} of office")), "status");
        }
    }

    #[test]
    fn status_keeps_text_as_given() {
        for ok in ["  ", " away ", "🏖️ on holiday", "busy"] {
            let status = Status::parse(ok).unwrap();
            assert_eq!(status.as_str(), ok);
            assert!(!status.is_empty());
        }
        assert_serde_round_trip(&Status::default(), "\"\"");
        assert!(Status::try_from("busy").is_ok());
        assert!(Status::try_from(String::from("busy")).is_ok());
    }

    // --- Phone -----------------------------------------------------------------------------

    #[test]
    fn phone_is_normalised() {
        assert_eq!(
            Phone::parse("+1 555-123-4567").unwrap().as_str(),
            "+15551234567"
        );
        assert_eq!(
            Phone::parse("0049 30 123456").unwrap().as_str(),
            "004930123456"
        );
        assert_eq!(Phone::parse("555-1234").unwrap().as_str(), "5551234");
        assert_eq!(
            Phone::parse("+441234567890").unwrap().as_str(),
            "+441234567890"
        );
    }

    #[test]
    fn phone_digit_count_boundaries() {
        assert_invalid(Phone::parse(""), "phone");
        assert_invalid(Phone::parse("+"), "phone");
        assert_invalid(Phone::parse("12345"), "phone");
        assert_invalid(Phone::parse("+12-345"), "phone");
        assert!(Phone::parse("123456").is_ok());
        assert!(Phone::parse("+123456").is_ok());
        assert!(Phone::parse("1".repeat(20)).is_ok());
        assert_invalid(Phone::parse("1".repeat(21)), "phone");
        // Separators do not count.
        assert!(Phone::parse("12 34 56").is_ok());
        assert!(Phone::parse("1234567890-1234567890").is_ok());
        assert_invalid(Phone::parse("1234567890-12345678901"), "phone");
    }

    #[test]
    fn phone_separators_only_between_digits() {
        for bad in [
            " 123456", "123456 ", "-123456", "123456-", "123  456", "123--456", "123 -456",
            "+ 123456", "+-123456",
        ] {
            assert_invalid(Phone::parse(bad), "phone");
        }
    }

    #[test]
    fn phone_rejects_other_characters() {
        for bad in [
            "++123456",
            "123+456789",
            "(555) 123456",
            "555.123.456",
            "12a456",
            "123\t456",
            "١٢٣٤٥٦",
            "１２３４５６",
        ] {
            assert_invalid(Phone::parse(bad), "phone");
        }
    }

    #[test]
    fn phone_conversions_and_serde() {
        assert!(Phone::try_from("123456").is_ok());
        assert!(Phone::try_from(String::from("123456")).is_ok());
        assert_serde_round_trip(&Phone::parse("+123456").unwrap(), "\"+123456\"");
        let normalised: Phone = serde_json::from_str("\"+1 234-567\"").unwrap();
        assert_eq!(normalised.as_str(), "+1234567");
    }

    // --- ExternalId ------------------------------------------------------------------------

    #[test]
    fn external_id_byte_length_boundaries() {
        assert_invalid(ExternalId::parse(""), "external_id");
        assert!(ExternalId::parse("x").is_ok());
        assert!(ExternalId::parse("x".repeat(255)).is_ok());
        assert_invalid(ExternalId::parse("x".repeat(256)), "external_id");
        // 127 two-byte characters plus one ASCII: 255 bytes.
        assert!(ExternalId::parse("é".repeat(127) + "x").is_ok());
        // 128 two-byte characters: 128 chars, but 256 bytes.
        assert_invalid(ExternalId::parse("é".repeat(128)), "external_id");
        assert_eq!(ExternalId::MAX_BYTES, 255);
    }

    #[test]
    fn external_id_rejects_outer_whitespace_and_controls() {
        for bad in [
            " ",
            " id",
            "id ",
            "\u{3000}id",
            "i\nd",
            "i\u{0}d",
            "i\u{1b}d",
        ] {
            assert_invalid(ExternalId::parse(bad), "external_id");
        }
    }

    #[test]
    fn external_id_keeps_value_as_given() {
        for ok in [
            "user 42",
            "auth0|5f7c8ec7c33c6c004bbafe82",
            "Ünïcødé-ID",
            "00000000-0000",
        ] {
            assert_eq!(ExternalId::parse(ok).unwrap().as_str(), ok);
        }
        assert_serde_round_trip(&ExternalId::parse("ext-1").unwrap(), "\"ext-1\"");
        assert!(ExternalId::try_from("ext-1").is_ok());
        assert!(ExternalId::try_from(String::from("ext-1")).is_ok());
    }
}
