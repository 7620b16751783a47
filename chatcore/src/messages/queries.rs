//! Message queries.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::{self, Model};
use super::{HistoryQuery, Message, SendMessage};
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::chats::queries::membership;
use crate::clock::now;
use crate::core::Inner;
use crate::error::unique_violation;
use crate::sessions::Caller;
use crate::{ChatId, Error, MessageId, Result};

impl From<Model> for Message {
    fn from(model: Model) -> Self {
        Message {
            id: model.id.into(),
            chat_id: model.chat_id.into(),
            seq: model.seq,
            sender_id: model.sender_id.into(),
            deleted: model.deleted_at.is_some(),
            text: model.text,
            client_id: model.client_id,
            created_at: model.created_at,
            edited_at: model.edited_at,
        }
    }
}

async fn find_by_client_id(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    sender_id: Uuid,
    client_id: &str,
) -> Result<Option<Model>> {
    Ok(entity::Entity::find()
        .filter(entity::Column::ChatId.eq(chat_id))
        .filter(entity::Column::SenderId.eq(sender_id))
        .filter(entity::Column::ClientId.eq(client_id))
        .one(db)
        .await?)
}

/// Takes the chat's next seq and makes the new message its latest, in one statement: the row
/// lock (PostgreSQL) or the single writer (SQLite) makes seqs contiguous and unique.
async fn next_seq(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    message_id: Uuid,
    at_micros: i64,
) -> Result<i64> {
    let update = Query::update()
        .table(chats::Entity)
        .value(
            chats::Column::LastSeq,
            Expr::col(chats::Column::LastSeq).add(1),
        )
        .value(chats::Column::LastMessageId, message_id)
        .value(chats::Column::LastActivity, at_micros)
        .and_where(Expr::col(chats::Column::Id).eq(chat_id))
        .returning_col(chats::Column::LastSeq)
        .to_owned();
    let row = txn
        .query_one(&update)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

pub(crate) async fn send(inner: &Inner, caller: &Caller, message: SendMessage) -> Result<Message> {
    let chat_id = message.chat_id.as_uuid();
    let me = caller.user_id.as_uuid();
    let client_id = message.client_id.as_ref().map(|id| id.as_str().to_owned());
    let retry_client_id = client_id.clone();
    let sent = inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                membership(txn, chat_id, me).await?;
                if let Some(client_id) = &client_id
                    && let Some(existing) = find_by_client_id(txn, chat_id, me, client_id).await?
                {
                    return Ok(existing);
                }
                let now = now();
                let id = MessageId::new().as_uuid();
                let seq = next_seq(txn, chat_id, id, now.timestamp_micros()).await?;
                let row = entity::ActiveModel {
                    id: Set(id),
                    chat_id: Set(chat_id),
                    seq: Set(seq),
                    sender_id: Set(me),
                    text: Set(Some(message.text.as_str().to_owned())),
                    client_id: Set(client_id),
                    created_at: Set(now),
                    edited_at: Set(None),
                    deleted_at: Set(None),
                }
                .insert(txn)
                .await
                .map_err(|error| match unique_violation(&error) {
                    Some(_) => Error::Conflict("message already sent".into()),
                    None => error.into(),
                })?;
                // A new message brings the chat back to every member's list, and the sender
                // has read everything up to their own message.
                members::Entity::update_many()
                    .col_expr(members::Column::Hidden, Expr::value(false))
                    .filter(members::Column::ChatId.eq(chat_id))
                    .filter(members::Column::Hidden.eq(true))
                    .exec(txn)
                    .await?;
                members::Entity::update_many()
                    .col_expr(members::Column::LastReadSeq, Expr::value(seq))
                    .filter(members::Column::ChatId.eq(chat_id))
                    .filter(members::Column::UserId.eq(me))
                    .filter(members::Column::LastReadSeq.lt(seq))
                    .exec(txn)
                    .await?;
                Ok(row)
            })
        })
        .await;
    match (sent, retry_client_id) {
        (Ok(row), _) => Ok(row.into()),
        // The same client id raced in from another connection and won: answer with its message.
        (Err(Error::Conflict(_)), Some(client_id)) => {
            find_by_client_id(&inner.db, chat_id, me, &client_id)
                .await?
                .map(Message::from)
                .ok_or_else(|| Error::internal("duplicate client id without a message"))
        }
        (Err(error), _) => Err(error),
    }
}

pub(crate) async fn history(
    inner: &Inner,
    caller: &Caller,
    chat_id: ChatId,
    query: HistoryQuery,
) -> Result<Vec<Message>> {
    let chat_id = chat_id.as_uuid();
    let member = membership(&inner.db, chat_id, caller.user_id.as_uuid()).await?;
    // Members of a `since_join` group see only what was sent after they (last) joined.
    let mut select = entity::Entity::find()
        .filter(entity::Column::ChatId.eq(chat_id))
        .filter(entity::Column::Seq.gt(member.visible_from_seq));
    if let Some(before) = query.before() {
        select = select.filter(entity::Column::Seq.lt(before));
    }
    if let Some(after) = query.after() {
        select = select.filter(entity::Column::Seq.gt(after));
    }
    let limit = u64::from(query.limit());
    let rows = if query.after().is_some() {
        select
            .order_by_asc(entity::Column::Seq)
            .limit(limit)
            .all(&inner.db)
            .await?
    } else {
        let mut rows = select
            .order_by_desc(entity::Column::Seq)
            .limit(limit)
            .all(&inner.db)
            .await?;
        rows.reverse();
        rows
    };
    Ok(rows.into_iter().map(Message::from).collect())
}

pub(crate) async fn delete(
    inner: &Inner,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
) -> Result<()> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                let member = membership(txn, chat_id, me).await?;
                let message = entity::Entity::find_by_id(message_id.as_uuid())
                    .filter(entity::Column::ChatId.eq(chat_id))
                    .filter(entity::Column::Seq.gt(member.visible_from_seq))
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("message"))?;
                if message.sender_id != me {
                    return Err(Error::Forbidden(
                        "only the sender may delete this message".into(),
                    ));
                }
                if message.deleted_at.is_some() {
                    return Ok(());
                }
                let mut row = message.into_active_model();
                row.text = Set(None);
                row.deleted_at = Set(Some(now()));
                row.update(txn).await?;
                Ok(())
            })
        })
        .await
}
