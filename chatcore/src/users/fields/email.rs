//! [`Email`]: addresses for account notices.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::text::{has_outer_whitespace, string_field};

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
