//! [`Password`]: what a user signs in with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::Error;
use std::collections::HashSet;
use std::sync::LazyLock;

/// The built-in list of the most common leaked passwords (lowercase, at least 8 bytes each).
const COMMON_PASSWORDS_TEXT: &str = include_str!("common_passwords.txt");

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| Password::common().collect());

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

    /// The passwords [`parse`](Self::parse) refuses whatever their case: the most common
    /// leaked ones, in lowercase (for documents that state the rule, such as an OpenAPI
    /// schema).
    pub fn common() -> impl Iterator<Item = &'static str> {
        COMMON_PASSWORDS_TEXT
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
    }

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
