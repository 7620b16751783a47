//! Read markers, "read by" lists and typing notices.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter};
use uuid::Uuid;

use super::queries::visible_message;
use super::{ReadMarker, ReadReceipt, read_mark_entity as marks};
use crate::access::{access, ensure_direct_peer_allows, membership};
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::clock::now;
use crate::context::{Context, Written};
use crate::events::{Event, EventData, NewEvent, ReadMarkerMoved, Typing};
use crate::sessions::Caller;
use crate::sql::Sql;
use crate::users::queries::profiles;
use crate::{ChatId, Error, MessageId, Result};

/// Moves a member's read marker forward to `seq` (never back) and records when.
pub(crate) async fn advance_marker(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
    seq: i64,
    at: DateTime<Utc>,
) -> Result<()> {
    let moved = members::Entity::update_many()
        .col_expr(members::Column::LastReadSeq, Expr::value(seq))
        .filter(members::Column::ChatId.eq(chat_id))
        .filter(members::Column::UserId.eq(user_id))
        .filter(members::Column::LastReadSeq.lt(seq))
        .exec(txn)
        .await?;
    if moved.rows_affected > 0 {
        record_mark(txn, chat_id, user_id, seq, at).await?;
    }
    Ok(())
}

/// Remembers when a member's marker first reached `seq` (for "read by").
pub(crate) async fn record_mark(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
    seq: i64,
    at: DateTime<Utc>,
) -> Result<()> {
    let values = [chat_id.into(), user_id.into(), seq.into(), at.into()];
    txn.execute_raw(RECORD_MARK.with(txn.get_database_backend(), values))
        .await?;
    Ok(())
}

/// [`record_mark`]'s statement: each send runs it for the sender.
static RECORD_MARK: Sql = Sql::new(
    "INSERT INTO read_marks (chat_id, user_id, seq, read_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (chat_id, user_id, seq) DO NOTHING",
);

pub(crate) async fn mark_read(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    seq: i64,
) -> Result<ReadMarker> {
    if seq < 0 {
        return Err(Error::invalid("seq", "must not be negative"));
    }
    let (chat, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    let seq = inner
        .write(move |txn| {
            Box::pin(async move {
                let member = membership(txn, chat, me).await?;
                let last_seq = chats::Entity::find_by_id(chat)
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("chat"))?
                    .last_seq;
                // Beyond the latest message means "everything"; an older seq changes nothing.
                let target = Ord::min(seq, last_seq);
                if target <= member.last_read_seq {
                    return Ok(Written::quiet(member.last_read_seq));
                }
                advance_marker(txn, chat, me, target, now()).await?;
                let events = vec![
                    NewEvent::chat(
                        chat,
                        me,
                        EventData::ReadMarkerMoved(ReadMarkerMoved {
                            user_id: me.into(),
                            seq: target,
                        }),
                    )
                    .message(target),
                ];
                Ok(Written::with(target, events))
            })
        })
        .await?;
    Ok(ReadMarker {
        chat_id,
        user_id: caller.user_id,
        seq,
    })
}

#[derive(FromQueryResult)]
struct ReadRow {
    user_id: Uuid,
    read_at: DateTime<Utc>,
}

pub(crate) async fn read_by(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
) -> Result<Vec<ReadReceipt>> {
    let db = &inner.db;
    let chat = chat_id.as_uuid();
    let member = access(inner, chat, caller.user_id.as_uuid()).await?;
    let message = visible_message(db, chat, message_id.as_uuid(), member.visible_from_seq).await?;
    // The first time each current member's marker reached the message; the sender does not
    // count, nor does a member who cannot see it.
    let read_at = Expr::col((marks::Entity, marks::Column::ReadAt)).min();
    let query = Query::select()
        .column((marks::Entity, marks::Column::UserId))
        .expr_as(read_at.clone(), "read_at")
        .from(marks::Entity)
        .inner_join(
            members::Entity,
            Expr::col((members::Entity, members::Column::ChatId))
                .equals((marks::Entity, marks::Column::ChatId))
                .and(
                    Expr::col((members::Entity, members::Column::UserId))
                        .equals((marks::Entity, marks::Column::UserId)),
                ),
        )
        .and_where(Expr::col((marks::Entity, marks::Column::ChatId)).eq(chat))
        .and_where(Expr::col((marks::Entity, marks::Column::Seq)).gte(message.seq))
        .and_where(Expr::col((marks::Entity, marks::Column::UserId)).ne(message.sender_id))
        .and_where(Expr::col((members::Entity, members::Column::VisibleFromSeq)).lt(message.seq))
        .group_by_col((marks::Entity, marks::Column::UserId))
        .order_by_expr(read_at, Order::Asc)
        .to_owned();
    let rows = ReadRow::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    let mut profiles: std::collections::HashMap<Uuid, _> =
        profiles(db, rows.iter().map(|row| row.user_id))
            .await?
            .into_iter()
            .map(|profile| (profile.id.as_uuid(), profile))
            .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(ReadReceipt {
                user: profiles.remove(&row.user_id)?,
                read_at: row.read_at,
            })
        })
        .collect())
}

/// Checks that the caller may say they are typing in this chat (a member, not blocked by
/// the other member of a direct chat), then forwards the notice unless one was forwarded
/// within the typing interval. Nothing is stored; the notice is delivered to the other
/// members by the realtime layer.
pub(crate) async fn typing(inner: &Context, caller: &Caller, chat_id: ChatId) -> Result<()> {
    let (chat, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    access(inner, chat, me).await?;
    ensure_direct_peer_allows(&inner.db, chat, me).await?;
    if !inner.typing.admit(me, chat) {
        return Ok(());
    }
    inner.events.publish_ephemeral(Event {
        cursor: 0,
        data: EventData::Typing(Typing {
            user_id: caller.user_id,
        }),
        chat_id: Some(chat_id),
        user_id: None,
        actor_id: Some(caller.user_id),
        created_at: now(),
        ephemeral: true,
        message_seq: None,
    });
    Ok(())
}
