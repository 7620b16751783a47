//! Validated text, shared by every domain: the surface of a string newtype
//! ([`string_field!`]) and the checks that free text must pass.

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

pub(crate) use string_field;

/// Whether `s` starts or ends with (Unicode) whitespace.
pub(crate) fn has_outer_whitespace(s: &str) -> bool {
    s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace)
}

/// Whether `s` contains a control character.
pub(crate) fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Characters that are invisible or change how the text around them is displayed, so that a
/// name can pass for another: bidi embeddings, overrides, isolates and marks, zero-width
/// spaces, fillers that render as nothing. A zero-width joiner or non-joiner is judged by its
/// neighbours instead (see [`has_hidden_characters`]).
pub(crate) fn is_hidden(c: char) -> bool {
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
