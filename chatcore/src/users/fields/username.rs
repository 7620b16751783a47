//! [`Username`]: login names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::text::{has_outer_whitespace, string_field};

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
