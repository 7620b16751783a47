//! Reading accounts, for every domain that acts on one, and telling who shares a chat with a
//! user that their profile changed.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::UserProfile;
use super::entity::{self, Model};
use crate::chats::member_entity as members;
use crate::events::{EventData, NewEvent};
use crate::sessions::Caller;
use crate::{Error, Result};

/// The user with this username or email, in any case.
pub(crate) async fn find_by_login(db: &impl ConnectionTrait, login: &str) -> Result<Option<Model>> {
    let login = login.trim().to_lowercase();
    let column = if login.contains('@') {
        entity::Column::Email
    } else {
        entity::Column::UsernameKey
    };
    Ok(entity::Entity::find()
        .filter(column.eq(login))
        .one(db)
        .await?)
}

/// The caller's own row; a caller whose account is gone is no longer authorized.
pub(crate) async fn caller_row(db: &impl ConnectionTrait, caller: &Caller) -> Result<Model> {
    entity::Entity::find_by_id(caller.user_id.as_uuid())
        .one(db)
        .await?
        .filter(Model::can_sign_in)
        .ok_or(Error::NotAuthorized)
}

/// A `user_updated` event for every chat of the user: the people who share a chat with them
/// see the new profile.
pub(crate) async fn profile_changed(
    txn: &impl ConnectionTrait,
    user: &Model,
) -> Result<Vec<NewEvent>> {
    let profile = UserProfile::from(user.clone());
    let chats = members::Entity::find()
        .filter(members::Column::UserId.eq(user.id))
        .all(txn)
        .await?;
    Ok(chats
        .into_iter()
        .map(|member| {
            NewEvent::chat(
                member.chat_id,
                user.id,
                EventData::UserUpdated(profile.clone()),
            )
        })
        .collect())
}
