//! Account queries.

use sea_orm::sea_query::{ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::account::{caller_row, find_by_login, profile_changed};
use super::entity::{self, Model};
use super::recovery::retire_tokens;
use super::{
    Authenticated, ExternalId, ExternalUser, Login, ProfileUpdate, Register, Role, User,
    UserProfile, UserSearch,
};
use crate::avatars;
use crate::avatars::AvatarUrl;
use crate::clock::now;
use crate::context::{Context, Written};
use crate::error::unique_violation;
use crate::notify::NoticeKind;
use crate::pagination::Page;
use crate::sessions::{Caller, NewSession, SessionOptions, queries as sessions};
use crate::{Error, Result, UserId};

impl From<Model> for User {
    fn from(model: Model) -> Self {
        User {
            id: model.id.into(),
            username: model.username,
            email: model.email,
            display_name: model.display_name,
            status: model.status,
            phone: model.phone,
            role: model.role,
            active: model.active,
            verified: model.verified,
            external_id: model.external_id,
            avatar_url: AvatarUrl::of(model.id.into(), model.avatar.as_deref()),
            avatar: model.avatar,
            created_at: model.created_at,
        }
    }
}

impl From<Model> for UserProfile {
    fn from(model: Model) -> Self {
        if model.deleted_at.is_some() {
            return UserProfile {
                id: model.id.into(),
                username: "deleted".to_owned(),
                display_name: None,
                status: None,
                active: false,
                deleted: true,
                avatar: None,
                avatar_url: None,
            };
        }
        UserProfile {
            id: model.id.into(),
            username: model.username,
            display_name: model.display_name,
            status: model.status,
            active: model.active,
            deleted: false,
            avatar_url: AvatarUrl::of(model.id.into(), model.avatar.as_deref()),
            avatar: model.avatar,
        }
    }
}

impl Model {
    pub(crate) fn can_sign_in(&self) -> bool {
        self.active && self.deleted_at.is_none()
    }
}

/// Turns a unique-key violation on the users table into the field that collided.
fn user_conflict(error: sea_orm::DbErr) -> Error {
    match unique_violation(&error) {
        Some(message) if message.contains("email") => Error::UserAlreadyExists { field: "email" },
        Some(message) if message.contains("external_id") => Error::UserAlreadyExists {
            field: "external_id",
        },
        Some(_) => Error::UserAlreadyExists { field: "username" },
        None => error.into(),
    }
}

/// Refuses a username or email that belongs to a user other than `me`.
async fn check_unique(
    db: &impl ConnectionTrait,
    me: Option<uuid::Uuid>,
    username_key: Option<&str>,
    email: Option<&str>,
) -> Result<()> {
    let others = |query: sea_orm::Select<entity::Entity>| match me {
        Some(me) => query.filter(entity::Column::Id.ne(me)),
        None => query,
    };
    if let Some(key) = username_key {
        let taken = others(entity::Entity::find().filter(entity::Column::UsernameKey.eq(key)))
            .one(db)
            .await?;
        if taken.is_some() {
            return Err(Error::UserAlreadyExists { field: "username" });
        }
    }
    if let Some(email) = email {
        let taken = others(entity::Entity::find().filter(entity::Column::Email.eq(email)))
            .one(db)
            .await?;
        if taken.is_some() {
            return Err(Error::UserAlreadyExists { field: "email" });
        }
    }
    Ok(())
}

pub(crate) async fn register(inner: &Context, request: Register) -> Result<Authenticated> {
    let password_hash = inner.hashing.hash(&request.password).await?;
    let lifetime = inner.session_lifetime;
    let (user, session) = inner
        .write(move |txn| {
            Box::pin(async move {
                let username_key = request.username.key();
                let email = request
                    .email
                    .as_ref()
                    .map(|email| email.as_str().to_owned());
                check_unique(txn, None, Some(&username_key), email.as_deref()).await?;
                let now = now();
                let display_name = request.display_name.map(|name| name.as_str().to_owned());
                let user = entity::ActiveModel {
                    id: Set(UserId::new().as_uuid()),
                    username: Set(request.username.as_str().to_owned()),
                    username_key: Set(username_key),
                    email: Set(email),
                    name_key: Set(display_name.as_ref().map(|name| name.to_lowercase())),
                    display_name: Set(display_name),
                    status: Set(request.status.map(|status| status.as_str().to_owned())),
                    phone: Set(request.phone.map(|phone| phone.as_str().to_owned())),
                    password_hash: Set(Some(password_hash)),
                    external_id: Set(None),
                    // Server admin is granted to an account later, never to a name.
                    role: Set(Role::User),
                    active: Set(true),
                    verified: Set(false),
                    avatar: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    deleted_at: Set(None),
                }
                .insert(txn)
                .await
                .map_err(user_conflict)?;
                let session = sessions::insert(txn, user.id, request.user_agent, lifetime).await?;
                Ok(Written::quiet((user, session)))
            })
        })
        .await?;
    let session = sessions::issue(inner, &session)?;
    Ok(Authenticated {
        user: user.into(),
        session,
    })
}

pub(crate) async fn login(inner: &Context, request: Login) -> Result<Authenticated> {
    let user = find_by_login(&inner.db, &request.login).await?;
    // Every path verifies one argon2 hash, so that timing says nothing about the account.
    let stored = user
        .as_ref()
        .filter(|user| user.can_sign_in())
        .and_then(|user| user.password_hash.clone());
    let valid = inner.hashing.verify(&request.password, stored).await?;
    let Some(user) = user.filter(|_| valid) else {
        return Err(Error::InvalidLogin);
    };
    let session = new_session(inner, user.id, request.user_agent).await?;
    Ok(Authenticated {
        user: user.into(),
        session,
    })
}

async fn new_session(
    inner: &Context,
    user_id: uuid::Uuid,
    user_agent: Option<String>,
) -> Result<NewSession> {
    let lifetime = inner.session_lifetime;
    let session = inner
        .write(move |txn| {
            Box::pin(async move {
                let session = sessions::insert(txn, user_id, user_agent, lifetime).await?;
                Ok(Written::quiet(session))
            })
        })
        .await?;
    sessions::issue(inner, &session)
}

pub(crate) async fn get_me(inner: &Context, caller: &Caller) -> Result<User> {
    Ok(caller_row(&inner.db, caller).await?.into())
}

pub(crate) async fn get_user(
    inner: &Context,
    _caller: &Caller,
    user_id: UserId,
) -> Result<UserProfile> {
    entity::Entity::find_by_id(user_id.as_uuid())
        .one(&inner.db)
        .await?
        .map(UserProfile::from)
        .ok_or(Error::NotFound("user"))
}

/// Public profiles of these users, in no particular order.
pub(crate) async fn profiles(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = uuid::Uuid>,
) -> Result<Vec<UserProfile>> {
    match profiles_of(ids) {
        Some(select) => Ok(select
            .all(db)
            .await?
            .into_iter()
            .map(UserProfile::from)
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// [`profiles`] for reads outside a write, decoded straight from the rows where the backend
/// allows ([`Context::all`]).
pub(crate) async fn read_profiles(
    inner: &Context,
    ids: impl IntoIterator<Item = uuid::Uuid>,
) -> Result<Vec<UserProfile>> {
    match profiles_of(ids) {
        Some(select) => Ok(inner
            .all(select)
            .await?
            .into_iter()
            .map(UserProfile::from)
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// The users with these ids, each once; `None` for no ids.
fn profiles_of(ids: impl IntoIterator<Item = uuid::Uuid>) -> Option<Select<entity::Entity>> {
    let mut ids: Vec<uuid::Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    (!ids.is_empty()).then(|| entity::Entity::find().filter(entity::Column::Id.is_in(ids)))
}

/// Whether `update` changes what identifies the account or receives its password resets.
fn changes_identity(update: &ProfileUpdate, current: &Model) -> bool {
    let username = update
        .username
        .as_ref()
        .is_some_and(|name| name.as_str() != current.username);
    username || changes_email(update, current)
}

fn changes_email(update: &ProfileUpdate, current: &Model) -> bool {
    update
        .email
        .as_ref()
        .is_some_and(|email| email.as_ref().map(|email| email.as_str()) != current.email.as_deref())
}

pub(crate) async fn update_profile(
    inner: &Context,
    caller: &Caller,
    update: ProfileUpdate,
) -> Result<User> {
    // A stolen session must not be enough to take the account over through a password reset
    // to another address, so the username and email need the password too. Checked before
    // uniqueness, which would otherwise tell anyone signed in which emails are taken.
    let current = caller_row(&inner.db, caller).await?;
    if changes_identity(&update, &current) {
        let Some(password) = update.current_password.as_deref() else {
            // 403, not 400: the request is well-formed, the caller has not proven enough.
            return Err(Error::Forbidden(
                "changing the username or email needs current_password".into(),
            ));
        };
        if !inner
            .hashing
            .verify(password, current.password_hash.clone())
            .await?
        {
            return Err(Error::InvalidLogin);
        }
    }
    let caller = caller.clone();
    let user = inner
        .write(move |txn| {
            Box::pin(async move {
                let current = caller_row(txn, &caller).await?;
                let new_email = changes_email(&update, &current);
                let username_key = update.username.as_ref().map(|name| name.key());
                let email = match &update.email {
                    Some(Some(email)) => Some(email.as_str().to_owned()),
                    _ => None,
                };
                check_unique(
                    txn,
                    Some(current.id),
                    username_key.as_deref(),
                    email.as_deref(),
                )
                .await?;
                let mut user = current.into_active_model();
                if let Some(username) = update.username {
                    user.username = Set(username.as_str().to_owned());
                    user.username_key = Set(username.key());
                }
                if let Some(email) = update.email {
                    user.email = Set(email.map(|email| email.as_str().to_owned()));
                }
                if new_email {
                    // Verified was about the old address; a link sent there must not vouch
                    // for the new one.
                    user.verified = Set(false);
                    retire_tokens(txn, caller.user_id.as_uuid(), NoticeKind::Verification).await?;
                }
                if let Some(name) = update.display_name {
                    let name = name.map(|name| name.as_str().to_owned());
                    user.name_key = Set(name.as_ref().map(|name| name.to_lowercase()));
                    user.display_name = Set(name);
                }
                if let Some(status) = update.status {
                    user.status = Set(status.map(|status| status.as_str().to_owned()));
                }
                if let Some(phone) = update.phone {
                    user.phone = Set(phone.map(|phone| phone.as_str().to_owned()));
                }
                user.updated_at = Set(now());
                let user = user.update(txn).await.map_err(user_conflict)?;
                let events = profile_changed(txn, &user).await?;
                Ok(Written::with(user, events))
            })
        })
        .await?;
    Ok(user.into())
}

/// Escapes `%`, `_` and the escape character itself for a LIKE pattern.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

pub(crate) async fn search(
    inner: &Context,
    _caller: &Caller,
    search: UserSearch,
) -> Result<Page<UserProfile>> {
    let mut query = entity::Entity::find()
        .filter(entity::Column::Active.eq(true))
        .filter(entity::Column::DeletedAt.is_null());
    let text = search.query.as_deref().map(str::trim).unwrap_or_default();
    if text.chars().count() > 64 {
        return Err(Error::invalid("q", "at most 64 characters"));
    }
    if !text.is_empty() {
        let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
        let like = || LikeExpr::new(pattern.clone()).escape('\\');
        query = query.filter(
            sea_orm::sea_query::Expr::col(entity::Column::UsernameKey)
                .like(like())
                .or(sea_orm::sea_query::Expr::col(entity::Column::NameKey).like(like())),
        );
    }
    let page = search.page;
    let rows = query
        .order_by_asc(entity::Column::UsernameKey)
        .order_by_asc(entity::Column::Id)
        .offset(page.offset())
        .limit(u64::from(page.limit()) + 1)
        .all(&inner.db)
        .await?;
    Ok(page.finish(rows.into_iter().map(UserProfile::from).collect()))
}

pub(crate) async fn unregister(inner: &Context, caller: &Caller, password: &str) -> Result<()> {
    let user = caller_row(&inner.db, caller).await?;
    if !inner
        .hashing
        .verify(password, user.password_hash.clone())
        .await?
    {
        return Err(Error::InvalidLogin);
    }
    let avatar = user.avatar.clone();
    inner
        .write(move |txn| {
            Box::pin(async move {
                let id = user.id;
                let mut row = user.into_active_model();
                let now = now();
                // The username and email become free; messages stay, from a deleted user.
                row.username = Set("deleted".to_owned());
                row.username_key = Set(format!("deleted:{id}"));
                row.email = Set(None);
                row.display_name = Set(None);
                row.name_key = Set(None);
                row.status = Set(None);
                row.phone = Set(None);
                row.password_hash = Set(None);
                row.external_id = Set(None);
                row.avatar = Set(None);
                row.active = Set(false);
                row.deleted_at = Set(Some(now));
                row.updated_at = Set(now);
                row.update(txn).await?;
                let events = sessions::revoke_all(txn, id, None).await?;
                Ok(Written::with((), events))
            })
        })
        .await?;
    if let Some(avatar) = avatar {
        avatars::queries::collect(inner, &avatar).await;
    }
    Ok(())
}

pub(crate) async fn upsert_external(inner: &Context, user: ExternalUser) -> Result<User> {
    let row = inner
        .write(move |txn| {
            Box::pin(async move {
                let existing = entity::Entity::find()
                    .filter(entity::Column::ExternalId.eq(user.external_id.as_str()))
                    .one(txn)
                    .await?;
                let username_key = user.username.key();
                let email = user.email.map(|email| email.as_str().to_owned());
                check_unique(
                    txn,
                    existing.as_ref().map(|row| row.id),
                    Some(&username_key),
                    email.as_deref(),
                )
                .await?;
                let display_name = user.display_name.map(|name| name.as_str().to_owned());
                let now = now();
                let fields = |mut row: entity::ActiveModel| {
                    row.username = Set(user.username.as_str().to_owned());
                    row.username_key = Set(username_key);
                    row.email = Set(email);
                    row.name_key = Set(display_name.as_ref().map(|name| name.to_lowercase()));
                    row.display_name = Set(display_name);
                    row.updated_at = Set(now);
                    row
                };
                match existing {
                    Some(existing) => fields(existing.into_active_model()).update(txn).await,
                    None => {
                        fields(entity::ActiveModel {
                            id: Set(UserId::new().as_uuid()),
                            external_id: Set(Some(user.external_id.as_str().to_owned())),
                            phone: Set(None),
                            status: Set(None),
                            password_hash: Set(None),
                            role: Set(Role::User),
                            active: Set(true),
                            verified: Set(true),
                            created_at: Set(now),
                            deleted_at: Set(None),
                            ..Default::default()
                        })
                        .insert(txn)
                        .await
                    }
                }
                .map(Written::quiet)
                .map_err(user_conflict)
            })
        })
        .await?;
    Ok(row.into())
}

pub(crate) async fn open_external_session(
    inner: &Context,
    external_id: &ExternalId,
    options: SessionOptions,
) -> Result<NewSession> {
    let user = entity::Entity::find()
        .filter(entity::Column::ExternalId.eq(external_id.as_str()))
        .one(&inner.db)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if !user.can_sign_in() {
        return Err(Error::UserInactive);
    }
    new_session(inner, user.id, options.user_agent).await
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_escape("plain"), "plain");
    }
}
