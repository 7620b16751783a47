//! What a user shows of themselves: [`DisplayName`], [`Status`] and [`Phone`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::text::{HIDDEN_MESSAGE, has_hidden_characters, has_outer_whitespace, string_field};

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
