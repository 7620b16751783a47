//! `chatcore-server admin grant|revoke <username>`: server admins are accounts an operator
//! chose.

use chatcore::users::{Role, UserRef, Username};
use chatcore::{Options, Service};

use crate::config::{AdminCommand, Config};
use crate::database::{self, BoxError};

/// Runs `chatcore-server admin grant|revoke <username>` on the configured database and
/// says what it did.
///
/// The role is stored with the account. A running server on PostgreSQL sees it at the
/// account's next request; a running server on SQLite keeps sessions in memory, so on SQLite
/// run this while the server is stopped, or restart it afterwards.
///
/// # Errors
/// An invalid username, no account by that name, a deleted account, or a database that
/// cannot be opened.
pub async fn admin(config: &Config, command: &AdminCommand) -> Result<String, BoxError> {
    let (name, role) = match command {
        AdminCommand::Grant { username } => (username, Role::Admin),
        AdminCommand::Revoke { username } => (username, Role::User),
    };
    let username = Username::parse(name.trim())?;
    let service = database::open(config, Options::default()).await?;
    let user = match service
        .set_server_role(UserRef::Username(username), role)
        .await
    {
        Ok(user) => user,
        Err(chatcore::Error::NotFound(_)) => {
            return Err(format!("no account is named `{}`", name.trim()).into());
        }
        Err(error) => return Err(error.into()),
    };
    Ok(match role {
        Role::Admin => format!("{} ({}) is a server admin", user.username, user.id),
        Role::User => format!(
            "{} ({}) is no longer a server admin",
            user.username, user.id
        ),
    })
}
