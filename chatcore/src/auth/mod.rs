//! Password hashing and access tokens.

pub(crate) mod password;
pub(crate) mod secret;
pub(crate) mod token;
