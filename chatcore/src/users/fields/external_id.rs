//! [`ExternalId`]: the embedding application's own id for a user.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::text::{has_control, has_outer_whitespace, string_field};

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
