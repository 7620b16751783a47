//! Invite queries.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use super::entity::{self, Model};
use super::{CreateInvite, Invite, InviteCode, InvitePreview, InviteState, JoinedGroup};
use crate::auth::secret::random_code;
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::chats::queries::{detail, membership};
use crate::chats::{ChatKind, MemberRole};
use crate::clock::now;
use crate::core::Inner;
use crate::groups::queries::{join, require};
use crate::sessions::Caller;
use crate::{ChatId, Error, Result};

/// 128 random bits.
const CODE_BYTES: usize = 16;

impl Model {
    fn state_at(&self, at: DateTime<Utc>) -> InviteState {
        if self.revoked_at.is_some() {
            InviteState::Revoked
        } else if self.expires_at.is_some_and(|expires| expires <= at) {
            InviteState::Expired
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            InviteState::Exhausted
        } else {
            InviteState::Valid
        }
    }

    fn view(self, at: DateTime<Utc>) -> Invite {
        let state = self.state_at(at);
        Invite {
            chat_id: self.chat_id.into(),
            created_by: self.created_by.into(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_uses: self.max_uses.map(clamp_u32),
            uses: clamp_u32(self.uses),
            state,
            code: self.code,
        }
    }
}

fn clamp_u32(value: i64) -> u32 {
    u32::try_from(Ord::max(value, 0)).unwrap_or(u32::MAX)
}

/// The caller's admin rights over a group (invites exist only for groups).
async fn require_group_admin(
    txn: &impl ConnectionTrait,
    chat_id: uuid::Uuid,
    user_id: uuid::Uuid,
) -> Result<()> {
    require(txn, chat_id, user_id, MemberRole::Admin).await?;
    let chat = chats::Entity::find_by_id(chat_id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    if chat.kind != ChatKind::Group {
        return Err(Error::Forbidden("only groups have invite links".into()));
    }
    Ok(())
}

pub(crate) async fn create(
    inner: &Inner,
    caller: &Caller,
    request: CreateInvite,
) -> Result<Invite> {
    let now = now();
    if request.expires_at.is_some_and(|expires| expires <= now) {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    if request.max_uses == Some(0) {
        return Err(Error::invalid("max_uses", "must be at least 1"));
    }
    let (chat_id, me) = (request.chat_id.as_uuid(), caller.user_id.as_uuid());
    let row = inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                require_group_admin(txn, chat_id, me).await?;
                Ok(entity::ActiveModel {
                    code: Set(random_code(CODE_BYTES)),
                    chat_id: Set(chat_id),
                    created_by: Set(me),
                    created_at: Set(now),
                    expires_at: Set(request.expires_at),
                    max_uses: Set(request.max_uses.map(i64::from)),
                    uses: Set(0),
                    revoked_at: Set(None),
                }
                .insert(txn)
                .await?)
            })
        })
        .await?;
    Ok(row.view(now))
}

pub(crate) async fn list(inner: &Inner, caller: &Caller, chat_id: ChatId) -> Result<Vec<Invite>> {
    let chat_id = chat_id.as_uuid();
    require_group_admin(&inner.db, chat_id, caller.user_id.as_uuid()).await?;
    let now = now();
    Ok(entity::Entity::find()
        .filter(entity::Column::ChatId.eq(chat_id))
        .order_by_desc(entity::Column::CreatedAt)
        .order_by_asc(entity::Column::Code)
        .all(&inner.db)
        .await?
        .into_iter()
        .map(|row| row.view(now))
        .collect())
}

pub(crate) async fn revoke(
    inner: &Inner,
    caller: &Caller,
    chat_id: ChatId,
    code: InviteCode,
) -> Result<()> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                require_group_admin(txn, chat_id, me).await?;
                let invite = entity::Entity::find_by_id(code.as_str())
                    .filter(entity::Column::ChatId.eq(chat_id))
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("invite"))?;
                if invite.revoked_at.is_none() {
                    entity::Entity::update_many()
                        .col_expr(entity::Column::RevokedAt, Expr::value(now()))
                        .filter(entity::Column::Code.eq(invite.code))
                        .exec(txn)
                        .await?;
                }
                Ok(())
            })
        })
        .await
}

pub(crate) async fn preview(
    inner: &Inner,
    caller: &Caller,
    code: InviteCode,
) -> Result<InvitePreview> {
    let db = &inner.db;
    let invite = entity::Entity::find_by_id(code.as_str())
        .one(db)
        .await?
        .ok_or(Error::NotFound("invite"))?;
    let chat = chats::Entity::find_by_id(invite.chat_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("invite"))?;
    let member_count = members::Entity::find()
        .filter(members::Column::ChatId.eq(chat.id))
        .count(db)
        .await?;
    let already_member = members::Entity::find_by_id((chat.id, caller.user_id.as_uuid()))
        .one(db)
        .await?
        .is_some();
    Ok(InvitePreview {
        chat_id: chat.id.into(),
        title: chat.title,
        member_count,
        state: invite.state_at(now()),
        already_member,
    })
}

pub(crate) async fn accept(
    inner: &Inner,
    caller: &Caller,
    code: InviteCode,
) -> Result<JoinedGroup> {
    let me = caller.user_id.as_uuid();
    let limit = inner.max_group_members;
    let code = code.as_str().to_owned();
    let lookup = code.clone();
    let outcome = inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                let invite = entity::Entity::find_by_id(code.as_str())
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("invite"))?;
                // Already a member: nothing changes and no use is spent.
                if members::Entity::find_by_id((invite.chat_id, me))
                    .one(txn)
                    .await?
                    .is_some()
                {
                    return Ok((invite.chat_id, false, Vec::new()));
                }
                let now = now();
                if let Some(refusal) = invite.state_at(now).refusal() {
                    return Err(refusal);
                }
                // Spend a use only if one is left, in one statement: concurrent accepts
                // serialize on the row (PostgreSQL re-checks the condition after the lock,
                // SQLite has one writer), so `uses` never passes `max_uses`.
                let spent =
                    entity::Entity::update_many()
                        .col_expr(entity::Column::Uses, Expr::col(entity::Column::Uses).add(1))
                        .filter(entity::Column::Code.eq(code.as_str()))
                        .filter(entity::Column::RevokedAt.is_null())
                        .filter(Expr::col(entity::Column::MaxUses).is_null().or(
                            Expr::col(entity::Column::Uses).lt(Expr::col(entity::Column::MaxUses)),
                        ))
                        .exec(txn)
                        .await?;
                if spent.rows_affected == 0 {
                    let current = entity::Entity::find_by_id(code.as_str())
                        .one(txn)
                        .await?
                        .ok_or(Error::NotFound("invite"))?;
                    return Err(current
                        .state_at(now)
                        .refusal()
                        .unwrap_or(Error::InviteExhausted));
                }
                let events = join(txn, invite.chat_id, me, me, limit).await?;
                Ok((invite.chat_id, true, events))
            })
        })
        .await;
    let (chat_id, joined) = match outcome {
        Ok((chat_id, joined, events)) => {
            inner.publish(events);
            (chat_id, joined)
        }
        Err(error) => {
            // The same user accepting twice at once: the loser's insert collided and rolled
            // back, use included; they are a member all the same.
            let invite = entity::Entity::find_by_id(lookup).one(&inner.db).await?;
            match invite {
                Some(invite) if membership(&inner.db, invite.chat_id, me).await.is_ok() => {
                    (invite.chat_id, false)
                }
                _ => return Err(error),
            }
        }
    };
    Ok(JoinedGroup {
        chat: detail(inner, caller, ChatId::from(chat_id)).await?,
        joined,
    })
}
