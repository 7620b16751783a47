//! Who may do what: chat membership, group roles, server admins and blocks, checked in one
//! place. Every operation of the service asks here before it reads or changes anything.
//!
//! Inside a write, checks read through the write's transaction, so that they hold until it
//! commits; reads may answer from the cache ([`access`]).

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult};
use uuid::Uuid;

use crate::cache::CachedMember;
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::chats::{ChatKind, MemberRole};
use crate::contacts::block_entity as blocks;
use crate::context::Context;
use crate::sql::Sql;
use crate::users::{Role, entity as users};
use crate::{Error, Result};

// ---------------------------------------------------------------------------------------------
// Chat membership
// ---------------------------------------------------------------------------------------------

/// The caller's membership of a chat; `NotFound("chat")` when there is none, so that a
/// non-member cannot tell whether the chat exists.
pub(crate) async fn membership(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
) -> Result<members::Model> {
    members::Entity::find_by_id((chat_id, user_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("chat"))
}

/// That a user is a member of a chat, and where their history starts; from the cache when
/// the service keeps one. For reads: a write checks inside its transaction with
/// [`membership`].
pub(crate) async fn access(inner: &Context, chat_id: Uuid, user_id: Uuid) -> Result<CachedMember> {
    let read = || async {
        let member = membership(&inner.db, chat_id, user_id).await?;
        Ok(CachedMember {
            visible_from_seq: member.visible_from_seq,
        })
    };
    match &inner.caches {
        Some(caches) => caches.members.get_or_load((chat_id, user_id), read).await,
        None => read().await,
    }
}

#[derive(FromQueryResult)]
struct SenderRow {
    visible_from_seq: i64,
    last_read_seq: i64,
    /// 1 when the chat is direct and its other member blocked the sender.
    blocked: i64,
    last_seq: i64,
    large: bool,
}

/// A member about to post into a chat, as [`sender_access`] found them.
pub(crate) struct Sender {
    /// Where their history starts.
    pub(crate) visible_from_seq: i64,
    /// Where their read marker stands.
    pub(crate) last_read_seq: i64,
    /// Whether the chat is direct and its other member blocked them.
    blocked: bool,
    /// The chat's latest seq and whether it is a large group, as the write's transaction
    /// reads them (its next seq follows, where one writer runs at a time: SQLite).
    pub(crate) chat_seq: i64,
    pub(crate) large: bool,
}

impl Sender {
    /// Refuses the post when the other member of a direct chat blocked the sender; groups are
    /// not affected by blocks.
    pub(crate) fn ensure_not_blocked(&self) -> Result<()> {
        if self.blocked {
            return Err(Error::Blocked);
        }
        Ok(())
    }
}

/// Inside a write: that `user_id` is a member of the chat, and, for a direct chat, whether the
/// other member blocked them ([`Sender::ensure_not_blocked`]), in one query, which also reads
/// the chat's latest seq.
pub(crate) async fn sender_access(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
) -> Result<Sender> {
    let statement = SENDER_ACCESS.with(db.get_database_backend(), [chat_id.into(), user_id.into()]);
    let row = SenderRow::find_by_statement(statement)
        .one(db)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    Ok(Sender {
        visible_from_seq: row.visible_from_seq,
        last_read_seq: row.last_read_seq,
        blocked: row.blocked != 0,
        chat_seq: row.last_seq,
        large: row.large,
    })
}

/// [`sender_access`]'s query (`$1` the chat, `$2` the sender). Groups are not affected by
/// blocks (and are not searched for them).
static SENDER_ACCESS: Sql = Sql::new(concat!(
    "SELECT chat_members.visible_from_seq AS visible_from_seq, ",
    "chat_members.last_read_seq AS last_read_seq, ",
    "CAST(CASE WHEN chats.kind = 'direct' AND EXISTS (",
    peers_blocking!(),
    ") THEN 1 ELSE 0 END AS BIGINT) AS blocked, chats.last_seq AS last_seq, chats.large AS large ",
    "FROM chat_members JOIN chats ON chats.id = chat_members.chat_id ",
    "WHERE chat_members.chat_id = $1 AND chat_members.user_id = $2"
));

// ---------------------------------------------------------------------------------------------
// Group roles
// ---------------------------------------------------------------------------------------------

/// How much a role may do: owner > admin > member.
pub(crate) fn rank(role: MemberRole) -> u8 {
    match role {
        MemberRole::Owner => 2,
        MemberRole::Admin => 1,
        MemberRole::Member => 0,
    }
}

/// The caller's membership, which must carry at least `needed`.
pub(crate) async fn require_role(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
    needed: MemberRole,
) -> Result<members::Model> {
    let member = membership(txn, chat_id, user_id).await?;
    if rank(member.role) < rank(needed) {
        return Err(Error::Forbidden(
            format!(
                "only a group {} may do this",
                sea_orm::ActiveEnum::to_value(&needed)
            )
            .into(),
        ));
    }
    Ok(member)
}

/// The caller's admin rights over a group (invites exist only for groups).
pub(crate) async fn require_group_admin(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
) -> Result<()> {
    require_role(txn, chat_id, user_id, MemberRole::Admin).await?;
    let chat = chats::Entity::find_by_id(chat_id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    if chat.kind != ChatKind::Group {
        return Err(Error::Forbidden("only groups have invite links".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Server admins
// ---------------------------------------------------------------------------------------------

/// Whether the user is an active server admin (checked in the database, so a demotion or
/// deactivation counts at once).
pub(crate) async fn is_server_admin(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool> {
    Ok(users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .is_some_and(|user| user.can_sign_in() && user.role == Role::Admin))
}

/// Refuses anyone but an active server admin.
pub(crate) async fn require_server_admin(db: &impl ConnectionTrait, user_id: Uuid) -> Result<()> {
    if is_server_admin(db, user_id).await? {
        Ok(())
    } else {
        Err(Error::Forbidden("only a server admin may do this".into()))
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------------------

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

/// The other members of chat `$1` (as `peer`) who blocked sender `$2`, for [`Sql`].
macro_rules! peers_blocking {
    () => {
        "SELECT 1 FROM chat_members AS peer \
         JOIN blocks ON blocks.blocker_id = peer.user_id AND blocks.blocked_id = $2 \
         WHERE peer.chat_id = $1 AND peer.user_id <> $2"
    };
}
pub(crate) use peers_blocking;

/// Refuses a message from `sender` into a direct chat whose other member blocked them, in one
/// query; group chats are not affected by blocks.
pub(crate) async fn ensure_direct_peer_allows(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    sender: Uuid,
) -> Result<()> {
    let statement =
        DIRECT_PEER_BLOCKING.with(db.get_database_backend(), [chat_id.into(), sender.into()]);
    match db.query_one_raw(statement).await? {
        Some(_) => Err(Error::Blocked),
        None => Ok(()),
    }
}

/// [`ensure_direct_peer_allows`]'s query (`$1` the chat, `$2` the sender).
static DIRECT_PEER_BLOCKING: Sql = Sql::new(concat!(
    peers_blocking!(),
    " AND EXISTS (SELECT 1 FROM chats WHERE chats.id = $1 AND chats.kind = 'direct') LIMIT 1"
));
