//! Session queries.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use super::entity::{self, Model};
use super::{Caller, NewSession, Session};
use crate::cache::CachedSession;
use crate::clock::now;
use crate::context::{Context, Written};
use crate::events::{EventData, NewEvent, SessionRevoked};
use crate::users::{Role, entity as users};
use crate::{Error, Result, SessionId};

/// Last-seen is written at most this often per session.
const LAST_SEEN_GRANULARITY: Duration = Duration::seconds(60);

impl Model {
    fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.active && self.expires_at > at
    }

    fn view(self, current: SessionId, at: DateTime<Utc>) -> Session {
        Session {
            id: self.id.into(),
            active: self.is_valid_at(at),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            user_agent: self.user_agent,
            current: self.id == current.as_uuid(),
        }
    }
}

/// Stores a new session for a user (inside the caller's transaction).
pub(crate) async fn insert(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    user_agent: Option<String>,
    lifetime: Duration,
) -> Result<Model> {
    let now = now();
    let user_agent = user_agent.map(|agent| agent.chars().take(256).collect());
    Ok(entity::ActiveModel {
        id: Set(SessionId::new().as_uuid()),
        user_id: Set(user_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + lifetime),
        active: Set(true),
        user_agent: Set(user_agent),
    }
    .insert(txn)
    .await?)
}

/// Signs the access token of a stored session.
pub(crate) fn issue(inner: &Context, session: &Model) -> Result<NewSession> {
    let token = inner.tokens.issue(
        session.user_id.into(),
        session.id.into(),
        session.created_at,
        session.expires_at,
    )?;
    Ok(NewSession {
        session: session.clone().view(session.id.into(), now()),
        token,
    })
}

pub(crate) async fn authenticate(inner: &Context, token: &str) -> Result<Caller> {
    let subject = inner.tokens.check(token)?;
    let now = now();
    let session_id = subject.session_id.as_uuid();
    let cached = match &inner.caches {
        Some(caches) => {
            caches
                .sessions
                .get_or_load(session_id, || load(inner, session_id))
                .await?
        }
        None => load(inner, session_id).await?,
    };
    if cached.user_id != subject.user_id.as_uuid() || cached.expires_at <= now {
        return Err(Error::NotAuthorized);
    }
    if now - cached.last_seen_at >= LAST_SEEN_GRANULARITY {
        touch(inner, session_id, now).await?;
        if let Some(caches) = &inner.caches {
            caches
                .sessions
                .update(&session_id, |session| session.last_seen_at = now);
        }
    }
    Ok(Caller {
        user_id: subject.user_id,
        session_id: subject.session_id,
        role: cached.role,
    })
}

/// An active session of a user who may sign in, as `authenticate` checks it: the session and
/// its user in one query.
async fn load(inner: &Context, session_id: Uuid) -> Result<CachedSession> {
    let query = Query::select()
        .columns([
            (entity::Entity, entity::Column::UserId),
            (entity::Entity, entity::Column::ExpiresAt),
            (entity::Entity, entity::Column::LastSeenAt),
        ])
        .column((users::Entity, users::Column::Role))
        .from(entity::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id))
                .equals((entity::Entity, entity::Column::UserId)),
        )
        .and_where(Expr::col((entity::Entity, entity::Column::Id)).eq(session_id))
        .and_where(Expr::col((entity::Entity, entity::Column::Active)).eq(true))
        // The user may sign in (`users::Model::can_sign_in`).
        .and_where(Expr::col((users::Entity, users::Column::Active)).eq(true))
        .and_where(Expr::col((users::Entity, users::Column::DeletedAt)).is_null())
        .to_owned();
    let (user_id, expires_at, last_seen_at, role) = inner
        .tuples::<(Uuid, DateTime<Utc>, DateTime<Utc>, Role)>(
            inner.db.get_database_backend().build(&query),
            &["user_id", "expires_at", "last_seen_at", "role"],
        )
        .await?
        .pop()
        .ok_or(Error::NotAuthorized)?;
    Ok(CachedSession {
        user_id,
        role,
        expires_at,
        last_seen_at,
    })
}

/// Records that a session was used.
async fn touch(inner: &Context, session_id: Uuid, at: DateTime<Utc>) -> Result<()> {
    inner
        .write(move |txn| {
            Box::pin(async move {
                entity::Entity::update_many()
                    .col_expr(entity::Column::LastSeenAt, Expr::value(at))
                    .filter(entity::Column::Id.eq(session_id))
                    .exec(txn)
                    .await?;
                Ok(Written::quiet(()))
            })
        })
        .await
}

pub(crate) async fn list(inner: &Context, caller: &Caller) -> Result<Vec<Session>> {
    let now = now();
    let sessions = entity::Entity::find()
        .filter(entity::Column::UserId.eq(caller.user_id.as_uuid()))
        .order_by_desc(entity::Column::CreatedAt)
        .order_by_desc(entity::Column::Id)
        .all(&inner.db)
        .await?;
    Ok(sessions
        .into_iter()
        .filter(|session| session.expires_at > now)
        .map(|session| session.view(caller.session_id, now))
        .collect())
}

pub(crate) async fn revoke(inner: &Context, caller: &Caller, session_id: SessionId) -> Result<()> {
    let user_id = caller.user_id.as_uuid();
    inner
        .write(move |txn| {
            Box::pin(async move {
                let session = entity::Entity::find_by_id(session_id.as_uuid())
                    .filter(entity::Column::UserId.eq(user_id))
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("session"))?;
                if !session.active {
                    return Ok(Written::quiet(()));
                }
                entity::Entity::update_many()
                    .col_expr(entity::Column::Active, Expr::value(false))
                    .filter(entity::Column::Id.eq(session.id))
                    .exec(txn)
                    .await?;
                let revoked = NewEvent::personal(
                    user_id,
                    Some(user_id),
                    EventData::SessionRevoked(SessionRevoked {
                        session_id: Some(session.id.into()),
                        except: None,
                    }),
                );
                Ok(Written::with((), vec![revoked]))
            })
        })
        .await
}

/// Ends every session of a user, except `keep` if given; returns the event that says so.
pub(crate) async fn revoke_all(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<SessionId>,
) -> Result<Vec<NewEvent>> {
    let mut update = entity::Entity::update_many()
        .col_expr(entity::Column::Active, Expr::value(false))
        .filter(entity::Column::UserId.eq(user_id))
        .filter(entity::Column::Active.eq(true));
    if let Some(keep) = keep {
        update = update.filter(entity::Column::Id.ne(keep.as_uuid()));
    }
    update.exec(txn).await?;
    Ok(vec![NewEvent::personal(
        user_id,
        None,
        EventData::SessionRevoked(SessionRevoked {
            session_id: None,
            except: keep,
        }),
    )])
}
