//! [`Role`]: what a user may do server-wide. Below the domains: a session carries it, and a
//! user has it.

use serde::{Deserialize, Serialize};

/// A server-wide role.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[cfg_attr(
    feature = "openapi",
    derive(poem_openapi::Enum),
    oai(rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
// Stored as its snake_case name; a stored value naming no variant fails the read.
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Role {
    /// An ordinary user.
    User,
    /// A server administrator (moderation).
    Admin,
}
