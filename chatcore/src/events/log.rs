//! The event log in the database: writing events with their change, reading them back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::{event, head};
use super::{Event, EventData, EventKind, NewEvent};
use crate::chats::member_entity as members;
use crate::clock::now;
use crate::sql::Sql;
use crate::{Error, Result};

/// A stored event read back. Its `kind` column must name a kind and its `data` column hold
/// that kind's payload: anything else (a row written by a newer version, or edited by hand)
/// fails loudly as [`Error::Internal`] naming the cursor and the cause, rather than reaching
/// subscribers as some other event. Subscribers then see the error and their stream ends.
impl TryFrom<event::Model> for Event {
    type Error = Error;

    fn try_from(row: event::Model) -> Result<Self> {
        Ok(Event {
            cursor: row.seq,
            data: EventData::from_payload_json(&row.kind, &row.data).map_err(|cause| {
                Error::internal(format!(
                    "event {} ({:?}) cannot be read: {cause}",
                    row.seq, row.kind
                ))
            })?,
            chat_id: row.chat_id.map(Into::into),
            user_id: row.user_id.map(Into::into),
            actor_id: row.actor_id.map(Into::into),
            created_at: row.created_at,
            ephemeral: false,
            message_seq: row.message_seq,
        })
    }
}

/// Rows of the event log as events, oldest first.
pub(super) fn read_back(rows: Vec<event::Model>) -> Result<Vec<Event>> {
    rows.into_iter().map(Event::try_from).collect()
}

/// Writes events inside the change's transaction, and returns them as recorded.
///
/// SQLite has one writer: it takes the next cursors from the head row, so cursors are handed
/// out in commit order and stay contiguous. On PostgreSQL, where transactions commit
/// concurrently, events are stored unnumbered (cursor 0 in what this returns) and the
/// [sequencer](super::sequencer) numbers them once committed: no transaction waits for
/// another's commit to take its cursors.
pub(crate) async fn record(
    txn: &impl ConnectionTrait,
    events: Vec<NewEvent>,
) -> Result<Vec<Event>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let backend = txn.get_database_backend();
    let numbered = backend != DbBackend::Postgres;
    let count = i64::try_from(events.len()).map_err(Error::internal)?;
    if numbered {
        txn.execute_raw(TAKE_CURSORS.with(backend, [count.into()]))
            .await?;
    }
    let created_at = now();
    // The `kind` and `data` columns: the kind's name, and the payload as JSON.
    let columns = |new: &NewEvent| -> Result<[sea_orm::Value; 7]> {
        Ok([
            new.data.kind().as_str().into(),
            new.chat_id.into(),
            new.user_id.into(),
            new.actor_id.into(),
            new.data.payload_json().map_err(Error::internal)?.into(),
            created_at.into(),
            new.message_seq.into(),
        ])
    };
    if let [new] = events.as_slice() {
        // Most writes record one event: a statement written once rather than built anew,
        // which takes the cursor just taken from the head where the writer numbers events.
        let values = columns(new)?;
        let cursor = if numbered {
            let inserted = txn
                .execute_raw(INSERT_NEXT_EVENT.with(backend, values))
                .await?;
            i64::try_from(inserted.last_insert_id()).map_err(Error::internal)?
        } else {
            let unnumbered = std::iter::once(None::<i64>.into()).chain(values);
            txn.execute_raw(INSERT_EVENT.with(backend, unnumbered))
                .await?;
            0
        };
        let recorded = events
            .into_iter()
            .map(|new| new.recorded(cursor, created_at));
        return Ok(recorded.collect());
    }
    let first = if numbered {
        let last: i64 = txn
            .query_one_raw(LAST_CURSOR.with(backend, []))
            .await?
            .ok_or_else(|| Error::internal("event head missing"))?
            .try_get_by_index(0)?;
        last - count + 1
    } else {
        0
    };
    let mut rows = Vec::with_capacity(events.len());
    let mut recorded = Vec::with_capacity(events.len());
    for (index, new) in events.into_iter().enumerate() {
        // Left empty (NULL) for the sequencer where the writer does not number events.
        let seq = numbered.then_some(first + index as i64);
        let mut row = vec![Expr::from(seq)];
        row.extend(columns(&new)?.map(Expr::from));
        rows.push(row);
        recorded.push(new.recorded(seq.unwrap_or(0), created_at));
    }
    let mut insert = Query::insert()
        .into_table(event::Entity)
        .columns([
            event::Column::Seq,
            event::Column::Kind,
            event::Column::ChatId,
            event::Column::UserId,
            event::Column::ActorId,
            event::Column::Data,
            event::Column::CreatedAt,
            event::Column::MessageSeq,
        ])
        .to_owned();
    for row in rows {
        insert.values(row).map_err(Error::internal)?;
    }
    txn.execute(&insert).await?;
    Ok(recorded)
}

/// One event, its columns in the order of the multi-row insert in [`record`].
static INSERT_EVENT: Sql = Sql::new(
    "INSERT INTO events (seq, kind, chat_id, user_id, actor_id, data, created_at, message_seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
);

/// [`INSERT_EVENT`] at the cursor [`TAKE_CURSORS`] just took, which the insert's result
/// then gives back (`seq` is SQLite's rowid).
static INSERT_NEXT_EVENT: Sql = Sql::new(
    "INSERT INTO events (seq, kind, chat_id, user_id, actor_id, data, created_at, message_seq) \
     VALUES ((SELECT \"last\" FROM event_head WHERE id = 1), $1, $2, $3, $4, $5, $6, $7)",
);

/// Takes the next `$1` cursors where the writer numbers events (SQLite), once per write;
/// one event is then inserted at the last one ([`INSERT_NEXT_EVENT`]), several at those
/// [`LAST_CURSOR`] reads. Not `UPDATE … RETURNING`, which SQLite answers through a temporary
/// B-tree that costs more than the lookup that follows.
static TAKE_CURSORS: Sql = Sql::new("UPDATE event_head SET \"last\" = \"last\" + $1 WHERE id = 1");

static LAST_CURSOR: Sql = Sql::new("SELECT \"last\" FROM event_head WHERE id = 1");

/// The last cursor given out, and up to where events were pruned.
pub(crate) async fn head(db: &impl ConnectionTrait) -> Result<(i64, i64)> {
    head::Entity::find_by_id(1)
        .select_only()
        .columns([head::Column::Last, head::Column::PrunedThrough])
        .into_tuple()
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("event head missing"))
}

/// The user's events with a cursor in `(after, upto]`, oldest first, at most `limit`: those
/// addressed to them, and those of the chats they are in from when they (last) joined, except
/// the events about messages they cannot see (before their history starts) and the chat
/// creations and deletions addressed to other members.
pub(crate) async fn catch_up(
    db: &impl ConnectionTrait,
    me: Uuid,
    after: i64,
    upto: Option<i64>,
    limit: u64,
) -> Result<Vec<Event>> {
    let message_seq = || Expr::col((event::Entity, event::Column::MessageSeq));
    let mine =
        Query::select()
            .expr(Expr::val(1))
            .from(members::Entity)
            .and_where(
                Expr::col((members::Entity, members::Column::ChatId))
                    .equals((event::Entity, event::Column::ChatId)),
            )
            .and_where(Expr::col((members::Entity, members::Column::UserId)).eq(me))
            .and_where(
                Expr::col((members::Entity, members::Column::JoinedAt))
                    .lte(Expr::col((event::Entity, event::Column::CreatedAt))),
            )
            .and_where(message_seq().is_null().or(
                Expr::col((members::Entity, members::Column::VisibleFromSeq)).lt(message_seq()),
            ))
            .to_owned();
    let addressed_only = EventKind::ADDRESSED_ONLY.map(EventKind::as_str);
    let for_the_chat = Expr::col((event::Entity, event::Column::Kind))
        .is_not_in(addressed_only)
        .or(Expr::col((event::Entity, event::Column::UserId)).is_null());
    let mut select = event::Entity::find()
        .filter(event::Column::Seq.gt(after))
        .filter(
            Expr::col((event::Entity, event::Column::UserId))
                .eq(me)
                .or(for_the_chat.and(Expr::exists(mine))),
        );
    if let Some(upto) = upto {
        select = select.filter(event::Column::Seq.lte(upto));
    }
    read_back(
        select
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(db)
            .await?,
    )
}

/// The chats the user is in now, each with the seq after which they see its messages.
pub(crate) async fn chats_of(db: &impl ConnectionTrait, me: Uuid) -> Result<HashMap<Uuid, i64>> {
    Ok(members::Entity::find()
        .filter(members::Column::UserId.eq(me))
        .all(db)
        .await?
        .into_iter()
        .map(|member| (member.chat_id, member.visible_from_seq))
        .collect())
}

/// Deletes events older than `before`; cursors up to the newest deleted one expire.
pub(crate) async fn prune(txn: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64> {
    let newest = event::Entity::find()
        .filter(event::Column::CreatedAt.lt(before))
        .filter(event::Column::Seq.is_not_null())
        .order_by_desc(event::Column::Seq)
        .one(txn)
        .await?;
    let Some(newest) = newest else {
        return Ok(0);
    };
    let deleted = event::Entity::delete_many()
        .filter(event::Column::Seq.lte(newest.seq))
        .exec(txn)
        .await?;
    head::Entity::update_many()
        .col_expr(head::Column::PrunedThrough, Expr::value(newest.seq))
        .filter(head::Column::Id.eq(1))
        .filter(head::Column::PrunedThrough.lt(newest.seq))
        .exec(txn)
        .await?;
    Ok(deleted.rows_affected)
}

/// Every event with a cursor in `(after, upto]`, oldest first, at most `limit`.
pub(crate) async fn range(
    db: &impl ConnectionTrait,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<Event>> {
    read_back(
        event::Entity::find()
            .filter(event::Column::Seq.gt(after))
            .filter(event::Column::Seq.lte(upto))
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{ChatTitle, CreateGroup};
    use crate::messages::{MessageText, SendMessage};
    use crate::test_support::user;
    use crate::{Options, Service};
    use sea_orm::ActiveValue::Set;

    /// The database alone (not only the subscriber's own check) leaves out what a member may
    /// not see when a stream resumes.
    #[tokio::test]
    async fn catch_up_leaves_out_events_about_messages_before_the_join() {
        let chat = crate::storage::sqlite::open_in_memory(Options::default())
            .await
            .unwrap();
        let owner = user(&chat, "owner").await;
        let early = user(&chat, "early").await;
        let joiner = user(&chat, "joiner").await;
        let group = chat
            .create_group(
                &owner,
                CreateGroup::new(ChatTitle::parse("Later").unwrap(), vec![early.user_id()]),
            )
            .await
            .unwrap()
            .chat
            .id;
        let text = |text: &str| MessageText::parse(text).unwrap();
        let before = chat
            .send_message(&owner, SendMessage::new(group, text("before")))
            .await
            .unwrap();
        chat.add_member(&owner, group, joiner.user_id())
            .await
            .unwrap();
        chat.edit_message(&owner, group, before.id, text("before, edited"))
            .await
            .unwrap();
        chat.mark_read(&early, group, 1).await.unwrap();
        chat.send_message(&owner, SendMessage::new(group, text("after")))
            .await
            .unwrap();

        let kinds = |events: Vec<Event>| -> Vec<EventKind> {
            events.into_iter().map(|event| event.kind()).collect()
        };
        let joiner_sees = catch_up(chat.connection(), joiner.user_id().as_uuid(), 0, None, 100)
            .await
            .unwrap();
        assert_eq!(
            kinds(joiner_sees),
            [EventKind::MemberJoined, EventKind::MessageCreated]
        );
        // The owner sees it all, and only their own chat_created notice.
        let owner_sees = catch_up(chat.connection(), owner.user_id().as_uuid(), 0, None, 100)
            .await
            .unwrap();
        assert_eq!(
            kinds(owner_sees),
            [
                EventKind::ChatCreated,
                EventKind::MessageCreated,
                EventKind::MemberJoined,
                EventKind::MessageEdited,
                EventKind::ReadMarkerMoved,
                EventKind::MessageCreated,
            ]
        );
    }

    /// A row that names no kind, or whose data is not its kind's payload, is an error, never
    /// some other event.
    #[tokio::test]
    async fn unreadable_rows_fail_loudly() {
        let chat = crate::storage::sqlite::open_in_memory(Options::default())
            .await
            .unwrap();
        let rows = [
            (1001, "teleported", r#"{"title": "Somewhere"}"#),
            (1002, "chat_updated", r#"{"name": "no title"}"#),
            (1003, "chat_updated", "not json"),
        ];
        for (seq, kind, data) in rows {
            event::Entity::insert(event::ActiveModel {
                seq: Set(seq),
                kind: Set(kind.to_owned()),
                chat_id: Set(None),
                user_id: Set(None),
                actor_id: Set(None),
                data: Set(data.to_owned()),
                created_at: Set(now()),
                message_seq: Set(None),
            })
            .exec_without_returning(chat.connection())
            .await
            .unwrap();
            let read = range(chat.connection(), seq - 1, seq, 10).await;
            assert!(
                matches!(read, Err(Error::Internal(_))),
                "{kind} {data}: {read:?}"
            );
        }
    }
}
