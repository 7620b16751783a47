//! The event log in the database: writing events with their change, reading them back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::entity::{event, head};
use super::{Event, EventKind, NewEvent};
use crate::chats::member_entity as members;
use crate::clock::now;
use crate::{Error, Result};

impl From<event::Model> for Event {
    fn from(row: event::Model) -> Self {
        Event {
            cursor: row.seq,
            kind: EventKind::from_db(&row.kind),
            chat_id: row.chat_id.map(Into::into),
            user_id: row.user_id.map(Into::into),
            actor_id: row.actor_id.map(Into::into),
            data: serde_json::from_str(&row.data).unwrap_or_default(),
            created_at: row.created_at,
            ephemeral: false,
            message_seq: row.message_seq,
        }
    }
}

/// Writes events inside the change's transaction. Call it last: taking the cursors locks the
/// head row until commit, so cursors are handed out in commit order and stay contiguous.
pub(crate) async fn record(
    txn: &impl ConnectionTrait,
    events: Vec<NewEvent>,
) -> Result<Vec<Event>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let count = i64::try_from(events.len()).map_err(Error::internal)?;
    let update = Query::update()
        .table(head::Entity)
        .value(head::Column::Last, Expr::col(head::Column::Last).add(count))
        .and_where(Expr::col(head::Column::Id).eq(1))
        .returning_col(head::Column::Last)
        .to_owned();
    let last: i64 = txn
        .query_one(&update)
        .await?
        .ok_or_else(|| Error::internal("event head missing"))?
        .try_get_by_index(0)?;
    let created_at = now();
    let rows: Vec<event::Model> = events
        .into_iter()
        .enumerate()
        .map(|(index, new)| event::Model {
            seq: last - count + 1 + index as i64,
            kind: new.kind.as_str().to_owned(),
            chat_id: new.chat_id,
            user_id: new.user_id,
            actor_id: new.actor_id,
            data: new.data.to_string(),
            created_at,
            message_seq: new.message_seq,
        })
        .collect();
    event::Entity::insert_many(rows.iter().cloned().map(|row| event::ActiveModel {
        seq: Set(row.seq),
        kind: Set(row.kind),
        chat_id: Set(row.chat_id),
        user_id: Set(row.user_id),
        actor_id: Set(row.actor_id),
        data: Set(row.data),
        created_at: Set(row.created_at),
        message_seq: Set(row.message_seq),
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

/// The last cursor given out, and up to where events were pruned.
pub(crate) async fn head(db: &impl ConnectionTrait) -> Result<(i64, i64)> {
    let row = head::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("event head missing"))?;
    Ok((row.last, row.pruned_through))
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
    Ok(select
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
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
    Ok(event::Entity::find()
        .filter(event::Column::Seq.gt(after))
        .filter(event::Column::Seq.lte(upto))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{ChatTitle, CreateGroup};
    use crate::messages::{MessageText, SendMessage};
    use crate::users::{Password, Register, Username};
    use crate::{Caller, ChatCore, Options, Service};

    async fn user(chat: &ChatCore, name: &str) -> Caller {
        let registered = chat
            .register(Register::new(
                Username::parse(name).unwrap(),
                Password::parse("a long enough secret").unwrap(),
            ))
            .await
            .unwrap();
        chat.authenticate(&registered.session.token).await.unwrap()
    }

    /// The database alone (not only the subscriber's own check) leaves out what a member may
    /// not see when a stream resumes.
    #[tokio::test]
    async fn catch_up_leaves_out_events_about_messages_before_the_join() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let chat = ChatCore::open(db, Options::default()).await.unwrap();
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
            events.into_iter().map(|event| event.kind).collect()
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
}
