//! Validated account fields, a module each.

mod email;
mod external_id;
mod password;
mod profile;
mod username;

pub use email::Email;
pub use external_id::ExternalId;
pub use password::Password;
pub use profile::{DisplayName, Phone, Status};
pub use username::Username;

#[cfg(test)]
mod tests;
