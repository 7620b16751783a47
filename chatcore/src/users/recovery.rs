//! Changing a password, password reset and account verification, through single-use tokens.

use std::sync::Arc;

use chrono::Duration;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use super::Password;
use super::account::{caller_row, find_by_login};
use super::entity::{self as users, Model};
use super::token_entity as tokens;
use crate::auth::secret::{digest, random_code};
use crate::clock::now;
use crate::context::{Context, Written};
use crate::notify::{AccountNotice, NoticeKind, Notifier};
use crate::sessions::{Caller, queries as sessions};
use crate::{Error, Result};

/// 256 random bits.
const TOKEN_BYTES: usize = 32;

impl NoticeKind {
    fn purpose(self) -> &'static str {
        match self {
            NoticeKind::PasswordReset => "password_reset",
            NoticeKind::Verification => "verification",
        }
    }
}

/// Makes every unused token of this purpose unusable.
pub(crate) async fn retire_tokens(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    kind: NoticeKind,
) -> Result<()> {
    tokens::Entity::update_many()
        .col_expr(tokens::Column::UsedAt, Expr::value(now()))
        .filter(tokens::Column::UserId.eq(user_id))
        .filter(tokens::Column::Purpose.eq(kind.purpose()))
        .filter(tokens::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Stores a new token for the user (the older ones of the same kind stop working) and hands
/// it to the notifier in the background; unless a token of this kind issued less than
/// `account_token_resend_after` ago is still usable: then that one is left working and
/// nothing is sent, so repeated requests can neither retire a fresh link nor flood an inbox.
async fn issue(inner: &Context, user: Model, kind: NoticeKind) -> Result<()> {
    let token = random_code(TOKEN_BYTES);
    let hash = digest(&token);
    let lifetime: Duration = inner.account_token_lifetime;
    let resend_after = inner.account_token_resend_after;
    let now = now();
    let expires_at = now + lifetime;
    let user_id = user.id;
    let issued = inner
        .write(move |txn| {
            Box::pin(async move {
                // Concurrent requests for one user take turns here (a no-op on SQLite, whose
                // writes take turns anyway).
                users::Entity::find_by_id(user_id)
                    .lock_exclusive()
                    .one(txn)
                    .await?;
                let recent = tokens::Entity::find()
                    .filter(tokens::Column::UserId.eq(user_id))
                    .filter(tokens::Column::Purpose.eq(kind.purpose()))
                    .filter(tokens::Column::UsedAt.is_null())
                    .filter(tokens::Column::ExpiresAt.gt(now))
                    .filter(tokens::Column::CreatedAt.gt(now - resend_after))
                    .one(txn)
                    .await?;
                if recent.is_some() {
                    return Ok(Written::quiet(false));
                }
                retire_tokens(txn, user_id, kind).await?;
                tokens::Entity::insert(tokens::ActiveModel {
                    token_hash: Set(hash),
                    user_id: Set(user_id),
                    purpose: Set(kind.purpose().to_owned()),
                    created_at: Set(now),
                    expires_at: Set(expires_at),
                    used_at: Set(None),
                })
                .on_conflict(
                    OnConflict::column(tokens::Column::TokenHash)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
                Ok(Written::quiet(true))
            })
        })
        .await?;
    if !issued {
        tracing::debug!(
            ?kind,
            "a recent account token is still usable; nothing sent"
        );
        return Ok(());
    }
    let notice = AccountNotice {
        kind,
        user_id: user.id.into(),
        username: user.username,
        email: user.email,
        token,
        expires_at,
    };
    let notifier: Arc<dyn Notifier> = inner.notifier.clone();
    tokio::spawn(async move {
        if let Err(error) = notifier.notify(notice).await {
            tracing::warn!(%error, ?kind, "could not deliver an account notice");
        }
    });
    Ok(())
}

/// Spends a token: marks it used and returns its user, in one statement, so a token works
/// once even when presented twice at the same moment.
async fn consume(txn: &impl ConnectionTrait, token: &str, kind: NoticeKind) -> Result<Uuid> {
    if token.is_empty() || token.len() > 128 {
        return Err(Error::InvalidToken);
    }
    let now = now();
    let update = Query::update()
        .table(tokens::Entity)
        .value(tokens::Column::UsedAt, now)
        .and_where(Expr::col(tokens::Column::TokenHash).eq(digest(token)))
        .and_where(Expr::col(tokens::Column::Purpose).eq(kind.purpose()))
        .and_where(Expr::col(tokens::Column::UsedAt).is_null())
        .and_where(Expr::col(tokens::Column::ExpiresAt).gt(now))
        .returning_col(tokens::Column::UserId)
        .to_owned();
    let row = txn.query_one(&update).await?.ok_or(Error::InvalidToken)?;
    Ok(row.try_get_by_index::<Uuid>(0)?)
}

/// Whether `token` would be accepted by [`consume`] now, read without writing: a cheap check
/// that keeps wrong tokens from costing a password hash.
async fn usable(db: &impl ConnectionTrait, token: &str, kind: NoticeKind) -> Result<bool> {
    if token.is_empty() || token.len() > 128 {
        return Ok(false);
    }
    let found = tokens::Entity::find_by_id(digest(token))
        .filter(tokens::Column::Purpose.eq(kind.purpose()))
        .filter(tokens::Column::UsedAt.is_null())
        .filter(tokens::Column::ExpiresAt.gt(now()))
        .one(db)
        .await?;
    let Some(found) = found else {
        return Ok(false);
    };
    Ok(users::Entity::find_by_id(found.user_id)
        .one(db)
        .await?
        .is_some_and(|user| user.can_sign_in()))
}

/// The active user a token was issued to.
async fn token_user(txn: &impl ConnectionTrait, user_id: Uuid) -> Result<Model> {
    users::Entity::find_by_id(user_id)
        .one(txn)
        .await?
        .filter(Model::can_sign_in)
        .ok_or(Error::InvalidToken)
}

pub(crate) async fn change_password(
    inner: &Context,
    caller: &Caller,
    current: &str,
    new: Password,
) -> Result<()> {
    let user = caller_row(&inner.db, caller).await?;
    if !inner
        .hashing
        .verify(current, user.password_hash.clone())
        .await?
    {
        return Err(Error::InvalidLogin);
    }
    let hash = inner.hashing.hash(&new).await?;
    let keep = caller.session_id;
    inner
        .write(move |txn| {
            Box::pin(async move {
                set_password(txn, user.id, hash).await?;
                let events = sessions::revoke_all(txn, user.id, Some(keep)).await?;
                Ok(Written::with((), events))
            })
        })
        .await?;
    Ok(())
}

async fn set_password(txn: &impl ConnectionTrait, user_id: Uuid, hash: String) -> Result<()> {
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now()))
        .filter(users::Column::Id.eq(user_id))
        .exec(txn)
        .await?;
    // A reset link sent before the change must not undo it.
    retire_tokens(txn, user_id, NoticeKind::PasswordReset).await
}

pub(crate) async fn request_password_reset(inner: &Context, login: &str) -> Result<()> {
    let user = find_by_login(&inner.db, login).await?;
    // Only active accounts with a password can reset it; everyone gets the same answer.
    match user.filter(|user| user.can_sign_in() && user.password_hash.is_some()) {
        Some(user) => issue(inner, user, NoticeKind::PasswordReset).await,
        None => Ok(()),
    }
}

pub(crate) async fn confirm_password_reset(
    inner: &Context,
    token: &str,
    new: Password,
) -> Result<()> {
    // Anyone may call this: a wrong token is refused before the costly hash.
    if !usable(&inner.db, token, NoticeKind::PasswordReset).await? {
        return Err(Error::InvalidToken);
    }
    let hash = inner.hashing.hash(&new).await?;
    let token = token.to_owned();
    inner
        .write(move |txn| {
            Box::pin(async move {
                let user_id = consume(txn, &token, NoticeKind::PasswordReset).await?;
                let user = token_user(txn, user_id).await?;
                set_password(txn, user.id, hash).await?;
                let events = sessions::revoke_all(txn, user.id, None).await?;
                Ok(Written::with((), events))
            })
        })
        .await?;
    Ok(())
}

pub(crate) async fn request_verification(inner: &Context, caller: &Caller) -> Result<()> {
    let user = caller_row(&inner.db, caller).await?;
    if user.verified {
        return Err(Error::Conflict("the account is already verified".into()));
    }
    issue(inner, user, NoticeKind::Verification).await
}

pub(crate) async fn confirm_verification(inner: &Context, token: &str) -> Result<()> {
    let token = token.to_owned();
    inner
        .write(move |txn| {
            Box::pin(async move {
                let user_id = consume(txn, &token, NoticeKind::Verification).await?;
                let user = token_user(txn, user_id).await?;
                let mut row: users::ActiveModel = user.into();
                row.verified = Set(true);
                row.updated_at = Set(now());
                row.update(txn).await?;
                Ok(Written::quiet(()))
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;

    use crate::notify::{AccountNotice, Notifier};
    use crate::users::{Password, Register, Username};
    use crate::{Options, Service};

    #[derive(Clone, Default)]
    struct Inbox(Arc<Mutex<Vec<AccountNotice>>>);

    #[async_trait]
    impl Notifier for Inbox {
        async fn notify(
            &self,
            notice: AccountNotice,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.0.lock().unwrap().push(notice);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_reset_tokens_are_refused_without_hashing() {
        let chat =
            crate::storage::sqlite::open_in_memory(Options::default().max_waiting_password_jobs(1))
                .await
                .unwrap();
        chat.register(Register::new(
            Username::parse("hasher").unwrap(),
            Password::parse("a long enough secret").unwrap(),
        ))
        .await
        .unwrap();
        // Every hashing thread busy and the one waiting place taken: any request that
        // hashed would be refused as `unavailable`.
        let busy = crate::auth::password::BusyThreads::start().await;
        let waiting = {
            let chat = chat.clone();
            tokio::spawn(async move {
                chat.login(crate::users::Login {
                    login: "hasher".to_owned(),
                    password: "a long enough secret".to_owned(),
                    user_agent: None,
                })
                .await
            })
        };
        while chat.inner.hashing.waiting() < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let new = Password::parse("another long secret").unwrap();
        for token in ["", "not-a-token", &"x".repeat(43), &"y".repeat(500)] {
            let error = chat
                .confirm_password_reset(token, new.clone())
                .await
                .unwrap_err();
            assert_eq!(error.code(), "invalid_token", "{token:?}");
        }
        drop(busy);
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn expired_tokens_are_refused() {
        let inbox = Inbox::default();
        let options = Options::default()
            .notifier(inbox.clone())
            .account_token_lifetime(chrono::Duration::milliseconds(50));
        let chat = crate::storage::sqlite::open_in_memory(options)
            .await
            .unwrap();
        let password = Password::parse("a long enough secret").unwrap();
        chat.register(Register::new(
            Username::parse("late").unwrap(),
            password.clone(),
        ))
        .await
        .unwrap();
        chat.request_password_reset("late").await.unwrap();
        let token = loop {
            if let Some(notice) = inbox.0.lock().unwrap().first() {
                break notice.token.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let error = chat
            .confirm_password_reset(&token, password)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_token");
    }
}
