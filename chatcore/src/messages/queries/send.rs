//! Sending and forwarding: a new message at the chat's next seq, once per `client_id`.

use std::ops::Range;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, QueryFilter, Statement,
};
use uuid::Uuid;

use super::batch::{PendingSend, SendBatcher};
use super::views::{event_view, reply_view, single_view, view, visible_message};
use crate::access::{Sender, access, membership, peers_blocking, sender_access};
use crate::chats::entity as chats;
use crate::clock::now;
use crate::context::{Context, Written};
use crate::error::unique_violation;
use crate::events::sequencer::Ticket;
use crate::events::{Event, EventData, NewEvent};
use crate::messages::entity::{self, Model};
use crate::messages::receipts::record_mark;
use crate::messages::{ForwardMessage, Message, SendMessage};
use crate::sessions::Caller;
use crate::sql::Sql;
use crate::{Error, MessageId, Result};

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

/// Takes seq `after + 1` of the chat and makes the new message its latest, where one writer
/// runs at a time (SQLite; PostgreSQL's send takes the seq in its one statement): `after` is
/// the chat's latest seq as the same transaction read it ([`Sender::chat_seq`]), so seqs stay
/// contiguous and unique. The statement checks that it still is.
async fn next_seq(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    after: i64,
    message_id: Uuid,
    at_micros: i64,
) -> Result<i64> {
    let seq = after + 1;
    let values = [
        seq.into(),
        message_id.into(),
        at_micros.into(),
        chat_id.into(),
        after.into(),
    ];
    let taken = txn
        .execute_raw(NEXT_SEQ.with(txn.get_database_backend(), values))
        .await?;
    if taken.rows_affected() == 0 {
        return Err(Error::internal("a chat's seq moved during its write"));
    }
    Ok(seq)
}

static NEXT_SEQ: Sql = Sql::new(
    "UPDATE chats SET last_seq = $1, last_message_id = $2, last_activity = $3 \
     WHERE id = $4 AND last_seq = $5",
);

/// A message about to be stored.
struct NewMessage {
    chat_id: Uuid,
    sender_id: Uuid,
    text: String,
    client_id: Option<String>,
    reply_to_id: Option<Uuid>,
    forwarded_from: Option<(Uuid, Uuid)>,
}

impl NewMessage {
    /// The message's row, at seq 0 until it takes its seq.
    fn row(self) -> Model {
        Model {
            id: MessageId::new().as_uuid(),
            chat_id: self.chat_id,
            seq: 0,
            sender_id: self.sender_id,
            text: Some(self.text),
            client_id: self.client_id,
            created_at: now(),
            edited_at: None,
            deleted_at: None,
            reply_to_id: self.reply_to_id,
            forwarded_message_id: self.forwarded_from.map(|(message, _)| message),
            forwarded_sender_id: self.forwarded_from.map(|(_, sender)| sender),
            reactions: 0,
        }
    }
}

/// Stores a message at the chat's next seq; the chat comes back to every member's list and
/// the sender has read everything up to their own message. PostgreSQL does it in one
/// statement; SQLite, whose writer runs statements in process, in four or five.
async fn insert(txn: &impl ConnectionTrait, message: NewMessage, sender: &Sender) -> Result<Model> {
    let row = message.row();
    match txn.get_database_backend() {
        DbBackend::Postgres => insert_in_one_statement(txn, row, sender).await,
        _ => insert_step_by_step(txn, row, sender).await,
    }
}

/// A failed insert: a message with the same client id (or id) is a conflict.
pub(super) fn already_sent(error: DbErr) -> Error {
    match unique_violation(&error) {
        Some(_) => Error::Conflict("message already sent".into()),
        None => error.into(),
    }
}

/// [`insert`] as SQLite runs it, statement by statement.
async fn insert_step_by_step(
    txn: &impl ConnectionTrait,
    mut row: Model,
    sender: &Sender,
) -> Result<Model> {
    let at = row.created_at;
    let large = sender.large;
    let seq = next_seq(
        txn,
        row.chat_id,
        sender.chat_seq,
        row.id,
        at.timestamp_micros(),
    )
    .await?;
    row.seq = seq;
    let backend = txn.get_database_backend();
    let values = message_values(&row);
    txn.execute_raw(INSERT_MESSAGE.with(backend, values))
        .await
        .map_err(already_sent)?;
    // One statement moves the chat to the top of every member's list (their copy of its
    // activity) and the sender's read marker to their message (always forward: it is the
    // chat's newest); a second brings the chat back to whoever hid it. A large group's place
    // is the chat's own activity, so one statement writes only the rows that change: hidden
    // ones, the sender's, and any membership that joined without the large mark while the
    // group became large.
    let (chat_id, sender_id) = (row.chat_id, row.sender_id);
    let update = if large {
        &MEMBERS_OF_LARGE_GROUP
    } else {
        &MEMBERS
    };
    let values = [
        at.timestamp_micros().into(),
        sender_id.into(),
        seq.into(),
        chat_id.into(),
    ];
    txn.execute_raw(update.with(backend, values)).await?;
    if !large {
        txn.execute_raw(UNHIDE.with(backend, [chat_id.into()]))
            .await?;
    }
    if passes_unread(sender.last_read_seq, seq) {
        record_mark(txn, chat_id, sender_id, seq, at).await?;
    }
    Ok(row)
}

/// Whether a send at `seq` records the sender's read mark: only when their marker stood
/// before some other message (below `seq - 1`), which "read by" then lists them under, read
/// when they sent. Otherwise the marker passes only their own message, which "read by" never
/// lists for its sender, and their earlier marks already say when they read the rest: a
/// sender's messages in a row record one mark, not one each. PostgreSQL's statements apply
/// the same test (`last_read_seq < seq - 1`).
fn passes_unread(last_read_seq: i64, seq: i64) -> bool {
    last_read_seq < seq - 1
}

/// A new message (no edit, deletion or reaction yet), its values as [`message_values`] gives
/// them with its seq as `$2`.
static INSERT_MESSAGE: Sql = Sql::new(
    "INSERT INTO messages (id, seq, chat_id, sender_id, text, client_id, created_at, \
     reply_to_id, forwarded_message_id, forwarded_sender_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
);

/// A new message's values for [`INSERT_MESSAGE`]: `$1` its id, `$2` its seq, `$3` its chat,
/// then sender, text, client id, time, reply and forward origin.
fn message_values(row: &Model) -> [sea_orm::Value; 10] {
    [
        row.id.into(),
        row.seq.into(),
        row.chat_id.into(),
        row.sender_id.into(),
        row.text.clone().into(),
        row.client_id.clone().into(),
        row.created_at.into(),
        row.reply_to_id.into(),
        row.forwarded_message_id.into(),
        row.forwarded_sender_id.into(),
    ]
}

/// The members' rows after a message at `$1` (unix microseconds) by `$2` at seq `$3` in chat
/// `$4`; [`UNHIDE`] then brings the chat back to whoever hid it. Apart, because SQLite
/// rewrites an index entry whenever its column is set, even to the value it had: setting
/// `hidden` in every row would rewrite each member's `(chat_id, hidden)` entry per message.
static MEMBERS: Sql = Sql::new(
    "UPDATE chat_members SET last_activity = $1, \
     last_read_seq = CASE WHEN user_id = $2 THEN $3 ELSE last_read_seq END \
     WHERE chat_id = $4",
);

/// Chat `$1` back in the lists of the members who hid it (an index range that is nearly
/// always empty).
static UNHIDE: Sql =
    Sql::new("UPDATE chat_members SET hidden = FALSE WHERE chat_id = $1 AND hidden = TRUE");

/// [`MEMBERS`] in a large group: only the rows that change.
static MEMBERS_OF_LARGE_GROUP: Sql = Sql::new(
    "UPDATE chat_members SET hidden = FALSE, last_activity = $1, \
     last_read_seq = CASE WHEN user_id = $2 THEN $3 ELSE last_read_seq END, large = TRUE \
     WHERE chat_id = $4 AND (hidden = TRUE OR large = FALSE OR user_id = $2)",
);

/// The `members` and `mark` parts of PostgreSQL's one-statement sends, which follow a
/// `sender` part (the sender's `last_read_seq`) and a `chat` part (the chat's new `last_seq`,
/// and whether it is `large`): the chat comes back to every member's list at the new
/// activity, the sender's marker moves to their message, and their read mark is recorded
/// where [`passes_unread`]. `$1` is the chat, `$2` the sender, `$4` the time in unix
/// microseconds and `$7` the time.
macro_rules! members_after_a_message {
    () => {
        "members AS (
    UPDATE chat_members
    SET hidden = FALSE,
        last_activity = $4,
        last_read_seq = CASE WHEN user_id = $2 THEN (SELECT last_seq FROM chat)
                             ELSE last_read_seq END,
        large = large OR (SELECT large FROM chat)
    WHERE chat_id = $1 AND EXISTS (SELECT 1 FROM chat)
      AND (NOT (SELECT large FROM chat) OR hidden OR NOT large OR user_id = $2)
), mark AS (
    INSERT INTO read_marks (chat_id, user_id, seq, read_at)
    SELECT $1, $2, chat.last_seq, $7 FROM chat, sender
    WHERE sender.last_read_seq < chat.last_seq - 1
    ON CONFLICT (chat_id, user_id, seq) DO NOTHING
)"
    };
}

/// [`insert_step_by_step`]'s statements as one data-modifying query: one round trip to
/// PostgreSQL instead of six. The chat's row lock still makes seqs contiguous and unique.
/// `$1` the chat, `$2` the sender, `$3` the message, `$4` the time in unix microseconds, then
/// text, client id, time, reply, forward origin, and `$11` the sender's read marker.
const INSERT_IN_ONE_STATEMENT: &str = concat!(
    "WITH sender AS (
    SELECT CAST($11 AS BIGINT) AS last_read_seq
), chat AS (
    UPDATE chats SET last_seq = last_seq + 1, last_message_id = $3, last_activity = $4
    WHERE id = $1
    RETURNING last_seq, large
), message AS (
    INSERT INTO messages (id, chat_id, seq, sender_id, text, client_id, created_at,
                          reply_to_id, forwarded_message_id, forwarded_sender_id)
    SELECT $3, $1, chat.last_seq, $2, $5, $6, $7, $8, $9, $10 FROM chat
), ",
    members_after_a_message!(),
    "
SELECT last_seq FROM chat"
);

async fn insert_in_one_statement(
    txn: &impl ConnectionTrait,
    mut row: Model,
    sender: &Sender,
) -> Result<Model> {
    let values: [sea_orm::Value; 11] = [
        row.chat_id.into(),
        row.sender_id.into(),
        row.id.into(),
        row.created_at.timestamp_micros().into(),
        row.text.clone().into(),
        row.client_id.clone().into(),
        row.created_at.into(),
        row.reply_to_id.into(),
        row.forwarded_message_id.into(),
        row.forwarded_sender_id.into(),
        sender.last_read_seq.into(),
    ];
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, INSERT_IN_ONE_STATEMENT, values);
    let stored = txn
        .query_one_raw(statement)
        .await
        .map_err(already_sent)?
        .ok_or(Error::NotFound("chat"))?;
    row.seq = stored.try_get("", chats::Column::LastSeq.as_str())?;
    Ok(row)
}

/// [`send`] without a reply on PostgreSQL, as one statement run on its own: the sender's
/// membership and block check, the message at the chat's next seq, the members' rows, the
/// sender's read mark (where [`passes_unread`]) and the `message_created` event, where the multi-statement path takes
/// six round trips (`BEGIN`, check, insert, event, `COMMIT`). Only the event's payload needs
/// the new seq: it is written with [`SEQ_SLOT`] there, and the statement joins the text on
/// either side of it around the seq it takes (`$9 || seq || $10`). Sends that arrive
/// together are written by one statement of the same shape (see `batch`); a send alone, by
/// this one.
///
/// Its one row says where the sender's history starts, whether they are blocked, and the new
/// seq (NULL when nothing was written); no row: not a member.
pub(super) const SEND_IN_ONE_STATEMENT: &str = concat!(
    "WITH sender AS (
    SELECT chat_members.visible_from_seq, chat_members.last_read_seq,
           chats.kind = 'direct' AND EXISTS (",
    peers_blocking!(),
    ") AS blocked
    FROM chat_members JOIN chats ON chats.id = chat_members.chat_id
    WHERE chat_members.chat_id = $1 AND chat_members.user_id = $2
), chat AS (
    UPDATE chats SET last_seq = last_seq + 1, last_message_id = $3, last_activity = $4
    WHERE id = $1 AND EXISTS (SELECT 1 FROM sender WHERE NOT blocked)
    RETURNING last_seq, large
), message AS (
    INSERT INTO messages (id, chat_id, seq, sender_id, text, client_id, created_at)
    SELECT $3, $1, chat.last_seq, $2, $5, $6, $7 FROM chat
), ",
    members_after_a_message!(),
    ", event AS (
    INSERT INTO events (kind, chat_id, actor_id, data, created_at, message_seq)
    SELECT $8, $1, $2, $9 || chat.last_seq || $10, $7, chat.last_seq FROM chat
)
SELECT sender.visible_from_seq, sender.blocked, chat.last_seq
FROM sender LEFT JOIN chat ON TRUE"
);

/// The seq a `message_created` payload carries until [`SEND_IN_ONE_STATEMENT`] puts the new
/// seq in its place. Message texts are JSON strings, whose quotes are escaped, so the
/// payload's `"seq":` key cannot occur inside one.
const SEQ_SLOT: i64 = i64::MIN;

/// `row`'s `message_created` payload with [`SEQ_SLOT`] for its seq, and where the slot's
/// value stands in it: [`SEND_IN_ONE_STATEMENT`] joins the text on either side of that range
/// around the seq it takes.
fn payload_with_seq_slot(row: &Model) -> Result<(String, Range<usize>)> {
    let mut message = event_view(row, None);
    message.seq = SEQ_SLOT;
    let payload = EventData::MessageCreated(message)
        .payload_json()
        .map_err(Error::internal)?;
    let slot = format!("\"seq\":{SEQ_SLOT}");
    let mut found = payload.match_indices(&slot);
    let value = match (found.next(), found.next()) {
        (Some((at, _)), None) => at + "\"seq\":".len()..at + slot.len(),
        _ => return Err(Error::internal("a message payload without one seq slot")),
    };
    Ok((payload, value))
}

/// A plain send's message row (at seq 0 until it takes its seq) and the send as the batcher
/// takes it.
pub(super) fn plain_send(
    chat_id: Uuid,
    sender_id: Uuid,
    text: String,
    client_id: Option<String>,
) -> Result<(Model, PendingSend)> {
    let row = NewMessage {
        chat_id,
        sender_id,
        text,
        client_id,
        reply_to_id: None,
        forwarded_from: None,
    }
    .row();
    let (payload, slot) = payload_with_seq_slot(&row)?;
    let pending = PendingSend {
        chat_id,
        sender_id,
        id: row.id,
        at: row.created_at.timestamp_micros(),
        text: row.text.clone().unwrap_or_default(),
        client_id: row.client_id.clone(),
        created_at: row.created_at,
        head: payload[..slot.start].to_owned(),
        tail: payload[slot.end..].to_owned(),
    };
    Ok((row, pending))
}

/// A plain send on PostgreSQL: through the node's send batcher, with whatever sends arrive
/// meanwhile (see `batch`).
async fn send_batched(
    inner: &Context,
    batcher: &SendBatcher,
    chat_id: Uuid,
    me: Uuid,
    text: String,
    client_id: Option<String>,
) -> Result<(Sent, Vec<Event>, Option<Ticket>)> {
    let (mut row, pending) = plain_send(chat_id, me, text, client_id)?;
    let outcome = batcher
        .send(pending)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    let Some(seq) = outcome.seq else {
        // Nothing written: the other member of the direct chat blocked the sender. A retry
        // of a message sent before the block still gets that message.
        let existing = match &row.client_id {
            Some(client_id) => find_by_client_id(&inner.db, chat_id, me, client_id).await?,
            None => None,
        };
        return match existing {
            Some(existing) => Ok((
                Sent::Existing(existing, outcome.visible_from_seq),
                Vec::new(),
                None,
            )),
            None => Err(Error::Blocked),
        };
    };
    row.seq = seq;
    let event = NewEvent::chat(
        chat_id,
        me,
        EventData::MessageCreated(event_view(&row, None)),
    )
    .message(seq)
    .recorded(0, row.created_at);
    Ok((
        Sent::New(view(row, None, Vec::new())),
        vec![event],
        outcome.ticket,
    ))
}

/// What a send's (or forward's) transaction produced.
enum Sent {
    /// The new message as the sender sees it.
    New(Message),
    /// The message sent earlier with the same client id, and where the sender's history starts.
    Existing(Model, i64),
}

/// Answers a send: shows a new message, or a message sent earlier with the same client id,
/// and answers a send that lost a race on its client id with the message that
/// won it.
async fn settle_send(
    inner: &Context,
    sent: Result<Sent>,
    chat_id: Uuid,
    me: Uuid,
    client_id: Option<String>,
) -> Result<Message> {
    let (row, visible_from) = match (sent, client_id) {
        (Ok(Sent::New(message)), _) => return Ok(message),
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

pub(crate) async fn send(
    inner: &Context,
    caller: &Caller,
    message: SendMessage,
) -> Result<Message> {
    let chat_id = message.chat_id.as_uuid();
    let me = caller.user_id.as_uuid();
    let client_id = message.client_id.as_ref().map(|id| id.as_str().to_owned());
    let retry_client_id = client_id.clone();
    if let Some(batcher) = &inner.sends
        && message.reply_to.is_none()
    {
        let sent = inner
            .write_alone(send_batched(
                inner,
                batcher,
                chat_id,
                me,
                message.text.into(),
                client_id,
            ))
            .await;
        return settle_send(inner, sent, chat_id, me, retry_client_id).await;
    }
    let sent = inner
        .write(move |txn| {
            Box::pin(async move {
                let sender = sender_access(txn, chat_id, me).await?;
                let visible_from = sender.visible_from_seq;
                if let Some(client_id) = &client_id
                    && let Some(existing) = find_by_client_id(txn, chat_id, me, client_id).await?
                {
                    return Ok(Written::quiet(Sent::Existing(existing, visible_from)));
                }
                sender.ensure_not_blocked()?;
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
                    &sender,
                )
                .await?;
                let events = vec![
                    NewEvent::chat(
                        chat_id,
                        me,
                        EventData::MessageCreated(event_view(
                            &row,
                            original.as_ref().map(|original| original.seq),
                        )),
                    )
                    .message(row.seq),
                ];
                // A new message has no reactions yet: its view needs no further query.
                let reply_to = row
                    .reply_to_id
                    .map(|id| reply_view(id, original.as_ref(), visible_from));
                Ok(Written::with(
                    Sent::New(view(row, reply_to, Vec::new())),
                    events,
                ))
            })
        })
        .await;
    settle_send(inner, sent, chat_id, me, retry_client_id).await
}

pub(crate) async fn forward(
    inner: &Context,
    caller: &Caller,
    request: ForwardMessage,
) -> Result<Message> {
    let (from_chat, to_chat) = (request.chat_id.as_uuid(), request.to_chat_id.as_uuid());
    let me = caller.user_id.as_uuid();
    let client_id = request.client_id.as_ref().map(|id| id.as_str().to_owned());
    let retry_client_id = client_id.clone();
    let sent = inner
        .write(move |txn| {
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
                    return Ok(Written::quiet(Sent::Existing(
                        existing,
                        target.visible_from_seq,
                    )));
                }
                target.ensure_not_blocked()?;
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
                    &target,
                )
                .await?;
                let events = vec![
                    NewEvent::chat(
                        to_chat,
                        me,
                        EventData::MessageCreated(event_view(&row, None)),
                    )
                    .message(row.seq),
                ];
                // A new message has no reactions and, forwarded, no reply.
                Ok(Written::with(
                    Sent::New(view(row, None, Vec::new())),
                    events,
                ))
            })
        })
        .await;
    settle_send(inner, sent, to_chat, me, retry_client_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    /// The payload's seq slot is found whatever the text says, and the joined payload reads
    /// back as the message at the new seq.
    #[test]
    fn the_seq_slot_is_the_payloads_own() {
        let text = format!("\"seq\":{SEQ_SLOT} and {{\"seq\":{SEQ_SLOT}}}");
        let mut row = NewMessage {
            chat_id: Uuid::nil(),
            sender_id: Uuid::nil(),
            text: text.clone(),
            client_id: None,
            reply_to_id: None,
            forwarded_from: None,
        }
        .row();
        let (payload, slot) = payload_with_seq_slot(&row).unwrap();
        let joined = format!("{}42{}", &payload[..slot.start], &payload[slot.end..]);
        let read = EventData::from_payload_json(EventKind::MessageCreated.as_str(), &joined);
        row.seq = 42;
        match read.unwrap() {
            EventData::MessageCreated(message) => {
                assert_eq!(message, event_view(&row, None));
                assert_eq!(message.text.as_deref(), Some(text.as_str()));
            }
            other => panic!("read back as {other:?}"),
        }
    }
}
