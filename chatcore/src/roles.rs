//! [`Role`]: what a user may do server-wide. Below the domains: a session carries it, and a
//! user has it.

use crate::stored::stored_enum;

stored_enum! {
    /// A server-wide role.
    pub enum Role {
        /// An ordinary user.
        User,
        /// A server administrator (moderation).
        Admin,
    }
}
