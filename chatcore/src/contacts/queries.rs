//! Contact and block queries.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult};
use uuid::Uuid;

use super::{ListedUser, block_entity as blocks, entity as contacts};
use crate::chats::ChatKind;
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::clock::now;
use crate::core::Inner;
use crate::pagination::{Page, PageRequest};
use crate::sessions::Caller;
use crate::users::{UserProfile, entity as users};
use crate::{Error, Result, UserId};

/// Refuses when `blocker` has blocked `user`: what a blocked user may not do to the blocker.
pub(crate) async fn ensure_not_blocked(
    db: &impl ConnectionTrait,
    blocker: Uuid,
    user: Uuid,
) -> Result<()> {
    match blocks::Entity::find_by_id((blocker, user)).one(db).await? {
        Some(_) => Err(Error::Blocked),
        None => Ok(()),
    }
}

/// Refuses when any of `blockers` has blocked `user`.
pub(crate) async fn ensure_none_blocked(
    db: &impl ConnectionTrait,
    blockers: &[Uuid],
    user: Uuid,
) -> Result<()> {
    if blockers.is_empty() {
        return Ok(());
    }
    let query = Query::select()
        .column(blocks::Column::BlockerId)
        .from(blocks::Entity)
        .and_where(Expr::col(blocks::Column::BlockedId).eq(user))
        .and_where(Expr::col(blocks::Column::BlockerId).is_in(blockers.iter().copied()))
        .limit(1)
        .to_owned();
    match db.query_one(&query).await? {
        Some(_) => Err(Error::Blocked),
        None => Ok(()),
    }
}

/// Refuses a message from `sender` into a direct chat whose other member blocked them, in one
/// query; group chats are not affected by blocks.
pub(crate) async fn ensure_direct_peer_allows(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    sender: Uuid,
) -> Result<()> {
    let query = Query::select()
        .expr(Expr::val(1))
        .from(members::Entity)
        .inner_join(
            chats::Entity,
            Expr::col((chats::Entity, chats::Column::Id))
                .equals((members::Entity, members::Column::ChatId)),
        )
        .inner_join(
            blocks::Entity,
            Expr::col((blocks::Entity, blocks::Column::BlockerId))
                .equals((members::Entity, members::Column::UserId))
                .and(Expr::col((blocks::Entity, blocks::Column::BlockedId)).eq(sender)),
        )
        .and_where(Expr::col((members::Entity, members::Column::ChatId)).eq(chat_id))
        .and_where(Expr::col((members::Entity, members::Column::UserId)).ne(sender))
        .and_where(Expr::col((chats::Entity, chats::Column::Kind)).eq(ChatKind::Direct))
        .limit(1)
        .to_owned();
    match db.query_one(&query).await? {
        Some(_) => Err(Error::Blocked),
        None => Ok(()),
    }
}

/// The user an entry is about: must exist and not be the caller.
async fn other_user(db: &impl ConnectionTrait, caller: &Caller, user_id: UserId) -> Result<Uuid> {
    if user_id == caller.user_id {
        return Err(Error::invalid("user_id", "must be someone else"));
    }
    users::Entity::find_by_id(user_id.as_uuid())
        .one(db)
        .await?
        .map(|user| user.id)
        .ok_or(Error::NotFound("user"))
}

/// Puts a user on one of the caller's lists (again changes nothing), and returns the entry.
pub(crate) async fn add(
    inner: &Inner,
    caller: &Caller,
    listing: Listing,
    user_id: UserId,
) -> Result<ListedUser> {
    let me = caller.user_id.as_uuid();
    let other = other_user(&inner.db, caller, user_id).await?;
    let (table, owner, listed) = columns(listing);
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns([
            Alias::new(owner),
            Alias::new(listed),
            Alias::new("created_at"),
        ])
        .values([me.into(), other.into(), now().into()])
        .map_err(Error::internal)?
        .on_conflict(
            OnConflict::columns([Alias::new(owner), Alias::new(listed)])
                .do_nothing()
                .to_owned(),
        );
    inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                txn.execute(&insert).await?;
                Ok(())
            })
        })
        .await?;
    entry(&inner.db, listing, me, other).await
}

/// Takes a user off one of the caller's lists (idempotent).
pub(crate) async fn remove(
    inner: &Inner,
    caller: &Caller,
    listing: Listing,
    user_id: UserId,
) -> Result<()> {
    let (table, owner, listed) = columns(listing);
    let delete = Query::delete()
        .from_table(table)
        .and_where(Expr::col(Alias::new(owner)).eq(caller.user_id.as_uuid()))
        .and_where(Expr::col(Alias::new(listed)).eq(user_id.as_uuid()))
        .to_owned();
    inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                txn.execute(&delete).await?;
                Ok(())
            })
        })
        .await
}

/// Which of the caller's lists.
#[derive(Clone, Copy)]
pub(crate) enum Listing {
    Contacts,
    Blocks,
}

/// A list table's shape: (table, owner column, other column).
fn columns(listing: Listing) -> (sea_orm::sea_query::TableRef, &'static str, &'static str) {
    match listing {
        Listing::Contacts => (contacts::Entity.into(), "owner_id", "contact_id"),
        Listing::Blocks => (blocks::Entity.into(), "blocker_id", "blocked_id"),
    }
}

#[derive(FromQueryResult)]
struct Row {
    other_id: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// One page of the caller's contacts or blocks, by username, with profiles, in two queries.
pub(crate) async fn list(
    inner: &Inner,
    caller: &Caller,
    listing: Listing,
    page: PageRequest,
) -> Result<Page<ListedUser>> {
    let rows = select(&inner.db, listing, caller.user_id.as_uuid(), None, page).await?;
    Ok(page.finish(rows))
}

async fn entry(
    db: &impl ConnectionTrait,
    listing: Listing,
    me: Uuid,
    other: Uuid,
) -> Result<ListedUser> {
    select(db, listing, me, Some(other), PageRequest::default())
        .await?
        .pop()
        .ok_or_else(|| Error::internal("list entry missing after insert"))
}

async fn select(
    db: &impl ConnectionTrait,
    listing: Listing,
    me: Uuid,
    only: Option<Uuid>,
    page: PageRequest,
) -> Result<Vec<ListedUser>> {
    let (table, owner, other) = columns(listing);
    let list = Alias::new("list");
    let mut query = Query::select()
        .expr_as(Expr::col((list.clone(), other)), "other_id")
        .expr_as(Expr::col((list.clone(), "created_at")), "created_at")
        .from_as(table, list.clone())
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id)).equals((list.clone(), other)),
        )
        .and_where(Expr::col((list.clone(), owner)).eq(me))
        .order_by((users::Entity, users::Column::UsernameKey), Order::Asc)
        .order_by((users::Entity, users::Column::Id), Order::Asc)
        .offset(page.offset())
        .limit(u64::from(page.limit()) + 1)
        .to_owned();
    if let Some(only) = only {
        query.and_where(Expr::col((list, other)).eq(only));
    }
    let backend = db.get_database_backend();
    let rows = Row::find_by_statement(backend.build(&query))
        .all(db)
        .await?;
    let profiles = crate::users::queries::profiles(db, rows.iter().map(|row| row.other_id)).await?;
    let profiles: std::collections::HashMap<Uuid, UserProfile> = profiles
        .into_iter()
        .map(|profile| (profile.id.as_uuid(), profile))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(ListedUser {
                user: profiles.get(&row.other_id)?.clone(),
                added_at: row.created_at,
            })
        })
        .collect())
}
