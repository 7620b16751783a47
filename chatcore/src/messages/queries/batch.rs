//! Group commit for PostgreSQL's plain sends: the sends that arrive while others are being
//! written go to PostgreSQL together, as one statement, so that a send shares its round trip,
//! its statement's start-up and its commit (one WAL flush) with the sends beside it.
//!
//! Each send is still checked on its own (membership, blocks) and gets the seq it would have
//! got alone: the statement numbers a chat's sends in their order of arrival. A batch of one
//! runs [`SEND_IN_ONE_STATEMENT`](super::send) as before. When a batch fails as a whole (a
//! retried client id that another send of the batch, or an earlier one, already took; a lost
//! connection; a deadlock with another node), each of its sends runs again on its own, and gets
//! the answer it would have got alone.
//!
//! Batches lock their chats in the order of their ids before writing, so that two batches
//! that share chats (on this node or another) wait for each other rather than deadlock.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use crate::error::unique_violation;
use crate::events::EventKind;
use crate::events::sequencer::{Ticket, Tickets};
use crate::{Error, Result};

/// The most sends one statement writes.
const MAX_BATCH: usize = 64;
/// The most batches being written at once, each on a pooled connection of its own. Few, so
/// that sends pile up into large batches while one is written (four at once, half the size,
/// cost PostgreSQL nearly half again as much CPU per send: `BENCHMARKS.md`, round ten), but
/// more than one, so that a batch waiting for a chat that another transaction holds does
/// not hold up every send of the node.
const IN_FLIGHT: usize = 2;

/// One send, as the statement takes it: the message, its time, and its `message_created`
/// payload split around the slot of its seq.
#[derive(Serialize)]
pub(super) struct PendingSend {
    pub(super) chat_id: Uuid,
    pub(super) sender_id: Uuid,
    pub(super) id: Uuid,
    /// Unix microseconds: the chat's and the members' new activity.
    pub(super) at: i64,
    pub(super) text: String,
    pub(super) client_id: Option<String>,
    pub(super) created_at: chrono::DateTime<chrono::Utc>,
    /// The payload before and after its seq.
    pub(super) head: String,
    pub(super) tail: String,
}

/// What the database said of one send: nothing (`None`) when the sender is not a member;
/// otherwise where their history starts, and the seq the message took (`None` when the other
/// member of the direct chat blocked the sender: nothing was written).
#[derive(Debug, Clone, Copy)]
pub(super) struct SendOutcome {
    pub(super) visible_from_seq: i64,
    pub(super) seq: Option<i64>,
    /// The sequencer's ticket, taken once the statement that wrote the send committed (one
    /// for a whole batch): the send's event is numbered by a round from it on.
    pub(super) ticket: Option<Ticket>,
}

type Reply = oneshot::Sender<Result<Option<SendOutcome>>>;

/// Takes sends and writes them in batches; cheap to clone.
#[derive(Clone)]
pub(crate) struct SendBatcher {
    queue: mpsc::Sender<(PendingSend, Reply)>,
}

impl std::fmt::Debug for SendBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendBatcher")
    }
}

impl SendBatcher {
    /// Starts the batcher on the current Tokio runtime, taking its sends' tickets from
    /// `tickets`; it stops when the last clone is dropped.
    pub(crate) fn start(db: DatabaseConnection, tickets: Option<Tickets>) -> SendBatcher {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * IN_FLIGHT * 4);
        tokio::spawn(run(db, receiver, tickets));
        SendBatcher { queue }
    }

    /// Writes `send` with whatever sends arrive meanwhile.
    pub(super) async fn send(&self, send: PendingSend) -> Result<Option<SendOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((send, reply))
            .await
            .map_err(|_| Error::internal("the send batcher has stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("the send batcher dropped a send"))?
    }
}

async fn run(
    db: DatabaseConnection,
    mut receiver: mpsc::Receiver<(PendingSend, Reply)>,
    tickets: Option<Tickets>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Wait for a free slot first: sends pile up meanwhile, and go in the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let sends = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let (db, tickets) = (db.clone(), tickets.clone());
        tokio::spawn(async move {
            write(&db, sends, tickets.as_ref()).await;
            drop(slot);
        });
    }
}

/// Writes a batch and answers each of its sends.
async fn write(
    db: &DatabaseConnection,
    sends: Vec<(PendingSend, Reply)>,
    tickets: Option<&Tickets>,
) {
    if sends.len() > 1 {
        let (pending, replies): (Vec<_>, Vec<_>) = sends.into_iter().unzip();
        match together(db, &pending).await {
            // Written: answered from the rows, never run again.
            Ok(rows) => match outcomes(&rows, pending.len(), tickets.map(Tickets::take)) {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "a batch of sends answered in a way not understood");
                    for reply in replies {
                        let _ = reply.send(Err(Error::internal("a batch of sends answered oddly")));
                    }
                }
            },
            // Nothing of the batch was written: each send on its own says what holds it. (Had
            // the connection been lost after PostgreSQL committed, a send run again finds its
            // message stored, and is answered with it.)
            Err(_) => {
                for (send, reply) in pending.into_iter().zip(replies) {
                    let _ = reply.send(alone(db, &send, tickets).await);
                }
            }
        }
        return;
    }
    for (send, reply) in sends {
        let _ = reply.send(alone(db, &send, tickets).await);
    }
}

/// One send, in [`SEND_IN_ONE_STATEMENT`](super::send::SEND_IN_ONE_STATEMENT).
async fn alone(
    db: &DatabaseConnection,
    send: &PendingSend,
    tickets: Option<&Tickets>,
) -> Result<Option<SendOutcome>> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        super::send::SEND_IN_ONE_STATEMENT,
        [
            send.chat_id.into(),
            send.sender_id.into(),
            send.id.into(),
            send.at.into(),
            send.text.clone().into(),
            send.client_id.clone().into(),
            send.created_at.into(),
            EventKind::MessageCreated.as_str().into(),
            send.head.clone().into(),
            send.tail.clone().into(),
        ],
    );
    let row = match db.query_one_raw(statement).await {
        Ok(row) => row,
        Err(error) => {
            // The message's id taken already: an earlier run of this send stored it (its
            // batch's connection was lost after PostgreSQL committed). It was sent.
            if unique_violation(&error).is_some()
                && let Some(stored) = stored(db, send).await?
            {
                return Ok(Some(SendOutcome {
                    ticket: tickets.map(Tickets::take),
                    ..stored
                }));
            }
            return Err(super::send::already_sent(error));
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(SendOutcome {
        visible_from_seq: row.try_get("", "visible_from_seq")?,
        seq: row.try_get("", "last_seq")?,
        ticket: tickets.map(Tickets::take),
    }))
}

/// `send`'s message as stored, by its id (which only this send takes), with where its
/// sender's history starts; `None` when it is not stored.
async fn stored(db: &DatabaseConnection, send: &PendingSend) -> Result<Option<SendOutcome>> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT messages.seq, chat_members.visible_from_seq
         FROM messages JOIN chat_members
           ON chat_members.chat_id = messages.chat_id AND chat_members.user_id = messages.sender_id
         WHERE messages.id = $1 AND messages.chat_id = $2 AND messages.sender_id = $3",
        [send.id.into(), send.chat_id.into(), send.sender_id.into()],
    );
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    Ok(Some(SendOutcome {
        visible_from_seq: row.try_get("", "visible_from_seq")?,
        seq: Some(row.try_get("", "seq")?),
        ticket: None,
    }))
}

/// Every send of a batch in [`SEND_TOGETHER`]: its rows, one per send.
async fn together(
    db: &DatabaseConnection,
    sends: &[PendingSend],
) -> std::result::Result<Vec<QueryResult>, DbErr> {
    #[derive(Serialize)]
    struct Numbered<'a> {
        ord: usize,
        #[serde(flatten)]
        send: &'a PendingSend,
    }
    let input: Vec<Numbered<'_>> = sends
        .iter()
        .enumerate()
        .map(|(ord, send)| Numbered { ord, send })
        .collect();
    let input = serde_json::to_string(&input).map_err(|error| DbErr::Custom(error.to_string()))?;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SEND_TOGETHER,
        [input.into(), EventKind::MessageCreated.as_str().into()],
    );
    db.query_all_raw(statement).await
}

/// Each send's outcome from [`SEND_TOGETHER`]'s rows, in the batch's order.
fn outcomes(
    rows: &[QueryResult],
    sends: usize,
    ticket: Option<Ticket>,
) -> Result<Vec<Option<SendOutcome>>> {
    let mut outcomes = vec![None; sends];
    for row in rows {
        let ord: i32 = row.try_get("", "ord")?;
        let visible_from_seq: Option<i64> = row.try_get("", "visible_from_seq")?;
        let seq: Option<i64> = row.try_get("", "seq")?;
        let slot = usize::try_from(ord)
            .ok()
            .and_then(|ord| outcomes.get_mut(ord))
            .ok_or_else(|| Error::internal(format!("a batch answered for send {ord}")))?;
        *slot = visible_from_seq.map(|visible_from_seq| SendOutcome {
            visible_from_seq,
            seq,
            ticket,
        });
    }
    Ok(outcomes)
}

/// Several sends as one data-modifying query: [`SEND_IN_ONE_STATEMENT`]'s checks and writes
/// for each send of `$1` (a JSON array of [`PendingSend`]s with their `ord`), with `$2` the
/// event kind. A chat's sends take its next seqs in their order; its members' rows and the
/// chat's row are written once, after its last send; each sender's marker moves to their last
/// message, and a send records the sender's read mark where it passes another's message
/// (their marker then stands at their previous send of the batch, or where it stood).
///
/// One row per send of `$1`: its `ord`, where the sender's history starts (NULL: not a
/// member) and the seq it took (NULL: not written).
///
/// [`SEND_IN_ONE_STATEMENT`]: super::send::SEND_IN_ONE_STATEMENT
const SEND_TOGETHER: &str = "WITH input AS (
    SELECT * FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS input(
        ord int, chat_id uuid, sender_id uuid, id uuid, at bigint, text text,
        client_id text, created_at timestamptz, head text, tail text)
), locked AS (
    SELECT chats.id, chats.kind FROM chats
    WHERE chats.id IN (SELECT chat_id FROM input)
    ORDER BY chats.id
    FOR UPDATE
), sender AS (
    SELECT input.*, chat_members.visible_from_seq, chat_members.last_read_seq,
           locked.kind = 'direct' AND EXISTS (
               SELECT 1 FROM chat_members AS peer
               JOIN blocks ON blocks.blocker_id = peer.user_id
                          AND blocks.blocked_id = input.sender_id
               WHERE peer.chat_id = input.chat_id AND peer.user_id <> input.sender_id
           ) AS blocked
    FROM input
    JOIN locked ON locked.id = input.chat_id
    JOIN chat_members ON chat_members.chat_id = input.chat_id
                     AND chat_members.user_id = input.sender_id
), last AS (
    SELECT DISTINCT ON (chat_id) chat_id, id, at, count(*) OVER (PARTITION BY chat_id) AS n
    FROM sender WHERE NOT blocked
    ORDER BY chat_id, ord DESC
), chat AS (
    UPDATE chats SET last_seq = chats.last_seq + last.n, last_message_id = last.id,
                     last_activity = last.at
    FROM last WHERE chats.id = last.chat_id
    RETURNING chats.id, chats.last_seq, chats.large, last.n, last.at
), numbered AS (
    SELECT sender.*,
           chat.last_seq - chat.n
               + row_number() OVER (PARTITION BY sender.chat_id ORDER BY sender.ord) AS seq
    FROM sender JOIN chat ON chat.id = sender.chat_id
    WHERE NOT sender.blocked
), marked AS (
    SELECT numbered.*,
           GREATEST(last_read_seq, COALESCE(
               lag(seq) OVER (PARTITION BY chat_id, sender_id ORDER BY ord),
               last_read_seq)) AS read_before
    FROM numbered
), message AS (
    INSERT INTO messages (id, chat_id, seq, sender_id, text, client_id, created_at)
    SELECT id, chat_id, seq, sender_id, text, client_id, created_at FROM numbered
), members AS (
    UPDATE chat_members
    SET hidden = FALSE,
        last_activity = chat.at,
        last_read_seq = COALESCE(
            (SELECT max(numbered.seq) FROM numbered
             WHERE numbered.chat_id = chat_members.chat_id
               AND numbered.sender_id = chat_members.user_id),
            chat_members.last_read_seq),
        large = chat_members.large OR chat.large
    FROM chat
    WHERE chat_members.chat_id = chat.id
      AND (NOT chat.large OR chat_members.hidden OR NOT chat_members.large
           OR chat_members.user_id IN (SELECT sender_id FROM numbered
                                       WHERE numbered.chat_id = chat.id))
), mark AS (
    INSERT INTO read_marks (chat_id, user_id, seq, read_at)
    SELECT chat_id, sender_id, seq, created_at FROM marked
    WHERE read_before < seq - 1
    ON CONFLICT (chat_id, user_id, seq) DO NOTHING
), event AS (
    INSERT INTO events (kind, chat_id, actor_id, data, created_at, message_seq)
    SELECT $2, chat_id, sender_id, head || seq || tail, created_at, seq
    FROM numbered ORDER BY ord
)
SELECT input.ord, sender.visible_from_seq, numbered.seq
FROM input
LEFT JOIN sender ON sender.ord = input.ord
LEFT JOIN numbered ON numbered.ord = input.ord";

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::test_support::{direct_chat, user};
    use crate::testkit::TestDatabase;
    use crate::{ChatCore, Options};

    /// A send run again after PostgreSQL stored it (a batch whose connection was lost after
    /// its commit runs each send again) is answered with the stored message, not as a
    /// conflict, and is stored once.
    #[tokio::test]
    async fn a_send_run_again_after_it_was_stored_answers_its_message() {
        let Some(database) = TestDatabase::create("chatcore_batch").await else {
            return;
        };
        let db = sea_orm::Database::connect(database.url()).await.unwrap();
        let chat = ChatCore::open(db.clone(), Options::default())
            .await
            .unwrap();
        let (me, peer) = (user(&chat, "alice").await, user(&chat, "bob").await);
        let chat_id = direct_chat(&chat, &me, &peer).await.as_uuid();
        let me = me.user_id().as_uuid();
        for client_id in [None, Some("retry-1".to_owned())] {
            let (_, send) =
                super::super::send::plain_send(chat_id, me, "hello".into(), client_id).unwrap();
            let first = alone(&db, &send, None).await.unwrap().unwrap();
            let again = alone(&db, &send, None).await.unwrap().unwrap();
            assert!(first.seq.is_some());
            assert_eq!(again.seq, first.seq);
            assert_eq!(again.visible_from_seq, first.visible_from_seq);
        }
        let stored: i64 = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) FROM messages WHERE chat_id = $1",
                [chat_id.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        assert_eq!(stored, 2);
        drop(chat);
        db.close().await.unwrap();
        drop(database);
    }
}
