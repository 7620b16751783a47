//! Message queries: sending, forwarding, editing, deleting and reading history.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::{self, Model};
use super::receipts::record_mark;
use super::{
    ForwardMessage, ForwardedFrom, HistoryQuery, Message, MessageText, ReactionCount, ReplyTo,
    SendMessage, preview, reaction_entity as reactions,
};
use crate::chats::MemberRole;
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::chats::queries::{access, membership, sender_access};
use crate::clock::now;
use crate::core::Inner;
use crate::error::unique_violation;
use crate::events::log::record;
use crate::events::{Event, EventData, MessageDeleted, NewEvent};
use crate::moderation::queries::is_server_admin;
use crate::sessions::Caller;
use crate::{ChatId, Error, MessageId, Result};

/// How many characters of the original a reply shows.
const REPLY_PREVIEW_CHARS: usize = 100;

/// Turns rows into messages as `reader` sees them (their history starting after
/// `visible_from`): reply previews and reaction counts in two more queries, whatever the
/// number of rows.
pub(crate) async fn views(
    db: &impl ConnectionTrait,
    reader: Uuid,
    visible_from: i64,
    rows: Vec<Model>,
) -> Result<Vec<Message>> {
    let reply_ids: Vec<Uuid> = rows.iter().filter_map(|row| row.reply_to_id).collect();
    let originals: HashMap<Uuid, Model> = if reply_ids.is_empty() {
        HashMap::new()
    } else {
        entity::Entity::find()
            .filter(entity::Column::Id.is_in(reply_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|original| (original.id, original))
            .collect()
    };
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut counts = super::reactions::counts(db, reader, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let reply_to = row
                .reply_to_id
                .map(|id| reply_view(id, originals.get(&id), visible_from));
            let reactions = counts.remove(&row.id).unwrap_or_default();
            view(row, reply_to, reactions)
        })
        .collect())
}

/// What a reply shows of its original to a reader whose history starts after `visible_from`.
fn reply_view(id: Uuid, original: Option<&Model>, visible_from: i64) -> ReplyTo {
    match original {
        Some(original) if original.seq > visible_from => ReplyTo {
            message_id: id.into(),
            seq: original.seq,
            visible: true,
            sender_id: Some(original.sender_id.into()),
            text: original
                .text
                .as_deref()
                .map(|text| preview(text, REPLY_PREVIEW_CHARS)),
            deleted: original.deleted_at.is_some(),
        },
        original => ReplyTo {
            message_id: id.into(),
            seq: original.map_or(0, |original| original.seq),
            visible: false,
            sender_id: None,
            text: None,
            deleted: false,
        },
    }
}

/// A message as events carry it: the same for every member, so a reply names its original
/// without quoting it (a member may not be allowed to see it).
fn event_view(row: &Model, reply_seq: Option<i64>) -> Message {
    let reply_to = row.reply_to_id.map(|id| ReplyTo {
        message_id: id.into(),
        seq: reply_seq.unwrap_or(0),
        visible: false,
        sender_id: None,
        text: None,
        deleted: false,
    });
    view(row.clone(), reply_to, Vec::new())
}

fn view(model: Model, reply_to: Option<ReplyTo>, reactions: Vec<ReactionCount>) -> Message {
    let forwarded_from = match (model.forwarded_message_id, model.forwarded_sender_id) {
        (Some(message_id), Some(sender_id)) => Some(ForwardedFrom {
            message_id: message_id.into(),
            sender_id: sender_id.into(),
        }),
        _ => None,
    };
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
        reply_to,
        forwarded_from,
        reactions,
    }
}

/// A message of the chat that a member whose history starts after `visible_from` may see.
pub(crate) async fn visible_message(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    message_id: Uuid,
    visible_from: i64,
) -> Result<Model> {
    entity::Entity::find_by_id(message_id)
        .filter(entity::Column::ChatId.eq(chat_id))
        .filter(entity::Column::Seq.gt(visible_from))
        .one(db)
        .await?
        .ok_or(Error::NotFound("message"))
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

/// A message about to be stored.
struct NewMessage {
    chat_id: Uuid,
    sender_id: Uuid,
    text: String,
    client_id: Option<String>,
    reply_to_id: Option<Uuid>,
    forwarded_from: Option<(Uuid, Uuid)>,
}

/// Stores a message at the chat's next seq; the chat comes back to every member's list and
/// the sender has read everything up to their own message.
async fn insert(txn: &impl ConnectionTrait, message: NewMessage) -> Result<Model> {
    let now = now();
    let id = MessageId::new().as_uuid();
    let seq = next_seq(txn, message.chat_id, id, now.timestamp_micros()).await?;
    let row = entity::ActiveModel {
        id: Set(id),
        chat_id: Set(message.chat_id),
        seq: Set(seq),
        sender_id: Set(message.sender_id),
        text: Set(Some(message.text)),
        client_id: Set(message.client_id),
        created_at: Set(now),
        edited_at: Set(None),
        deleted_at: Set(None),
        reply_to_id: Set(message.reply_to_id),
        forwarded_message_id: Set(message.forwarded_from.map(|(message, _)| message)),
        forwarded_sender_id: Set(message.forwarded_from.map(|(_, sender)| sender)),
    }
    .insert(txn)
    .await
    .map_err(|error| match unique_violation(&error) {
        Some(_) => Error::Conflict("message already sent".into()),
        None => error.into(),
    })?;
    // One statement brings the chat back to whoever hid it and moves the sender's read
    // marker to their message (always forward: it is the chat's newest).
    members::Entity::update_many()
        .col_expr(members::Column::Hidden, Expr::value(false))
        .col_expr(
            members::Column::LastReadSeq,
            Expr::case(members::Column::UserId.eq(message.sender_id), seq)
                .finally(Expr::col(members::Column::LastReadSeq))
                .into(),
        )
        .filter(members::Column::ChatId.eq(message.chat_id))
        .filter(
            Condition::any()
                .add(members::Column::Hidden.eq(true))
                .add(members::Column::UserId.eq(message.sender_id)),
        )
        .exec(txn)
        .await?;
    record_mark(txn, message.chat_id, message.sender_id, seq, now).await?;
    Ok(row)
}

/// What a send's (or forward's) transaction produced.
enum Sent {
    /// The new message as the sender sees it, and its events.
    New(Message, Vec<Event>),
    /// The message sent earlier with the same client id, and where the sender's history starts.
    Existing(Model, i64),
}

/// Answers a send: publishes a new message's events, shows a message sent earlier with the
/// same client id, and answers a send that lost a race on its client id with the message that
/// won it.
async fn settle_send(
    inner: &Inner,
    sent: Result<Sent>,
    chat_id: Uuid,
    me: Uuid,
    client_id: Option<String>,
) -> Result<Message> {
    let (row, visible_from) = match (sent, client_id) {
        (Ok(Sent::New(message, events)), _) => {
            inner.publish(events);
            return Ok(message);
        }
        (Ok(Sent::Existing(row, visible_from)), _) => (row, visible_from),
        (Err(Error::Conflict(_)), Some(client_id)) => {
            let row = find_by_client_id(&inner.db, chat_id, me, &client_id)
                .await?
                .ok_or_else(|| Error::internal("duplicate client id without a message"))?;
            let member = access(inner, chat_id, me).await?;
            (row, member.visible_from_seq)
        }
        (Err(error), _) => return Err(error),
    };
    single_view(&inner.db, me, visible_from, row).await
}

async fn single_view(
    db: &impl ConnectionTrait,
    reader: Uuid,
    visible_from: i64,
    row: Model,
) -> Result<Message> {
    views(db, reader, visible_from, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::internal("message view missing"))
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
                let sender = sender_access(txn, chat_id, me).await?;
                let visible_from = sender.visible_from_seq;
                if let Some(client_id) = &client_id
                    && let Some(existing) = find_by_client_id(txn, chat_id, me, client_id).await?
                {
                    return Ok(Sent::Existing(existing, visible_from));
                }
                sender.ensure_not_blocked(txn, chat_id, me).await?;
                let original = match message.reply_to {
                    Some(original) => {
                        Some(visible_message(txn, chat_id, original.as_uuid(), visible_from).await?)
                    }
                    None => None,
                };
                let row = insert(
                    txn,
                    NewMessage {
                        chat_id,
                        sender_id: me,
                        text: message.text.into(),
                        client_id,
                        reply_to_id: message.reply_to.map(|id| id.as_uuid()),
                        forwarded_from: None,
                    },
                )
                .await?;
                let events = record(
                    txn,
                    vec![
                        NewEvent::chat(
                            chat_id,
                            me,
                            EventData::MessageCreated(event_view(
                                &row,
                                original.as_ref().map(|original| original.seq),
                            )),
                        )
                        .message(row.seq),
                    ],
                )
                .await?;
                // A new message has no reactions yet: its view needs no further query.
                let reply_to = row
                    .reply_to_id
                    .map(|id| reply_view(id, original.as_ref(), visible_from));
                Ok(Sent::New(view(row, reply_to, Vec::new()), events))
            })
        })
        .await;
    settle_send(inner, sent, chat_id, me, retry_client_id).await
}

pub(crate) async fn forward(
    inner: &Inner,
    caller: &Caller,
    request: ForwardMessage,
) -> Result<Message> {
    let (from_chat, to_chat) = (request.chat_id.as_uuid(), request.to_chat_id.as_uuid());
    let me = caller.user_id.as_uuid();
    let client_id = request.client_id.as_ref().map(|id| id.as_str().to_owned());
    let retry_client_id = client_id.clone();
    let sent = inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                let source = membership(txn, from_chat, me).await?;
                let original = visible_message(
                    txn,
                    from_chat,
                    request.message_id.as_uuid(),
                    source.visible_from_seq,
                )
                .await?;
                let Some(text) = original.text.filter(|_| original.deleted_at.is_none()) else {
                    return Err(Error::NotFound("message"));
                };
                let target = sender_access(txn, to_chat, me).await?;
                if let Some(client_id) = &client_id
                    && let Some(existing) = find_by_client_id(txn, to_chat, me, client_id).await?
                {
                    return Ok(Sent::Existing(existing, target.visible_from_seq));
                }
                target.ensure_not_blocked(txn, to_chat, me).await?;
                // Forwarding a forward keeps the first origin.
                let origin = match (original.forwarded_message_id, original.forwarded_sender_id) {
                    (Some(message), Some(sender)) => (message, sender),
                    _ => (original.id, original.sender_id),
                };
                let row = insert(
                    txn,
                    NewMessage {
                        chat_id: to_chat,
                        sender_id: me,
                        text,
                        client_id,
                        reply_to_id: None,
                        forwarded_from: Some(origin),
                    },
                )
                .await?;
                let events = record(
                    txn,
                    vec![
                        NewEvent::chat(
                            to_chat,
                            me,
                            EventData::MessageCreated(event_view(&row, None)),
                        )
                        .message(row.seq),
                    ],
                )
                .await?;
                // A new message has no reactions and, forwarded, no reply.
                Ok(Sent::New(view(row, None, Vec::new()), events))
            })
        })
        .await;
    settle_send(inner, sent, to_chat, me, retry_client_id).await
}

pub(crate) async fn edit(
    inner: &Inner,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
    text: MessageText,
) -> Result<Message> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    let (row, visible_from, events) = inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                let member = sender_access(txn, chat_id, me).await?;
                let message =
                    visible_message(txn, chat_id, message_id.as_uuid(), member.visible_from_seq)
                        .await?;
                if message.sender_id != me {
                    return Err(Error::Forbidden(
                        "only the sender may edit this message".into(),
                    ));
                }
                // Blocked by the other member of a direct chat: no more changes to what
                // they read.
                member.ensure_not_blocked(txn, chat_id, me).await?;
                if message.deleted_at.is_some() {
                    return Err(Error::Conflict("the message was deleted".into()));
                }
                if message.forwarded_message_id.is_some() {
                    return Err(Error::Forbidden(
                        "a forwarded message cannot be edited".into(),
                    ));
                }
                let reply_seq = match message.reply_to_id {
                    Some(original) => entity::Entity::find_by_id(original)
                        .one(txn)
                        .await?
                        .map(|original| original.seq),
                    None => None,
                };
                let mut row = message.into_active_model();
                row.text = Set(Some(text.into()));
                row.edited_at = Set(Some(now()));
                let row = row.update(txn).await?;
                let events = record(
                    txn,
                    vec![
                        NewEvent::chat(
                            chat_id,
                            me,
                            EventData::MessageEdited(event_view(&row, reply_seq)),
                        )
                        .message(row.seq),
                    ],
                )
                .await?;
                Ok((row, member.visible_from_seq, events))
            })
        })
        .await?;
    inner.publish(events);
    single_view(&inner.db, me, visible_from, row).await
}

pub(crate) async fn history(
    inner: &Inner,
    caller: &Caller,
    chat_id: ChatId,
    query: HistoryQuery,
) -> Result<Vec<Message>> {
    let chat_id = chat_id.as_uuid();
    let me = caller.user_id.as_uuid();
    let member = access(inner, chat_id, me).await?;
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
    views(&inner.db, me, member.visible_from_seq, rows).await
}

pub(crate) async fn delete(
    inner: &Inner,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
) -> Result<()> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    let events = inner
        .writer
        .run(move |txn| {
            Box::pin(async move {
                let member = members::Entity::find_by_id((chat_id, me)).one(txn).await?;
                // Server admins moderate every chat, member or not, and see all of it.
                let visible_from = match &member {
                    Some(member) => member.visible_from_seq,
                    None if is_server_admin(txn, me).await? => 0,
                    None => return Err(Error::NotFound("chat")),
                };
                let message =
                    visible_message(txn, chat_id, message_id.as_uuid(), visible_from).await?;
                if message.sender_id != me {
                    let group_admin = member
                        .as_ref()
                        .is_some_and(|member| member.role != MemberRole::Member);
                    if !group_admin && !is_server_admin(txn, me).await? {
                        return Err(Error::Forbidden(
                            "only the sender or an admin may delete this message".into(),
                        ));
                    }
                }
                if message.deleted_at.is_some() {
                    return Ok(Vec::new());
                }
                let (id, seq) = (message.id, message.seq);
                let mut row = message.into_active_model();
                row.text = Set(None);
                row.deleted_at = Set(Some(now()));
                row.update(txn).await?;
                reactions::Entity::delete_many()
                    .filter(reactions::Column::MessageId.eq(id))
                    .exec(txn)
                    .await?;
                record(
                    txn,
                    vec![
                        NewEvent::chat(
                            chat_id,
                            me,
                            EventData::MessageDeleted(MessageDeleted {
                                message_id: id.into(),
                                seq,
                            }),
                        )
                        .message(seq),
                    ],
                )
                .await
            })
        })
        .await?;
    inner.publish(events);
    Ok(())
}
