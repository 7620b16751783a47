//! A subscriber's stream: catch up from the database, then follow the bus, without a gap at
//! the seam and without duplicates.

use std::collections::HashSet;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::{Event, EventBus, EventKind, EventStream, log};
use crate::sessions::Caller;
use crate::{Error, Result};

/// Events read from the database per query.
const BATCH: u64 = 500;
/// Events buffered between the subscriber task and a slow consumer.
const OUTBOX: usize = 256;

pub(crate) async fn subscribe(
    db: &DatabaseConnection,
    bus: &Arc<dyn EventBus>,
    caller: &Caller,
    since: Option<i64>,
) -> Result<EventStream> {
    // Listen first, then read: whatever commits in between is in one or the other.
    let live = bus.subscribe();
    let (head, pruned_through) = log::head(db).await?;
    let start = match since {
        None => head,
        Some(cursor) if cursor < pruned_through => return Err(Error::CursorExpired),
        Some(cursor) if cursor < 0 || cursor > head => {
            return Err(Error::invalid("since", "not a cursor of this stream"));
        }
        Some(cursor) => cursor,
    };
    let me = caller.user_id.as_uuid();
    let chats = log::chats_of(db, me).await?;
    let (outbox, receiver) = mpsc::channel(OUTBOX);
    let follower = Follower {
        db: db.clone(),
        me,
        session: caller.session_id.as_uuid(),
        chats,
        seen: start,
        outbox,
    };
    tokio::spawn(follower.run(live));
    Ok(Box::pin(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    )))
}

struct Follower {
    db: DatabaseConnection,
    me: Uuid,
    session: Uuid,
    /// The chats whose events reach this subscriber, kept up to date by the events themselves.
    chats: HashSet<Uuid>,
    /// Every cursor up to here was delivered or was not for this subscriber.
    seen: i64,
    outbox: mpsc::Sender<Result<Event>>,
}

/// Why following stopped.
enum Stop {
    /// The consumer went away, or the session ended (and was told).
    Done,
}

impl Follower {
    async fn run(mut self, mut live: broadcast::Receiver<Event>) {
        if self.catch_up(None).await.is_err() {
            return;
        }
        loop {
            let outcome = match live.recv().await {
                Ok(event) if event.ephemeral => self.ephemeral(event).await,
                Ok(event) if event.cursor <= self.seen => Ok(()),
                Ok(event) => {
                    let cursor = event.cursor;
                    // A cursor skipped by the bus is read from the database.
                    let filled = if cursor > self.seen + 1 {
                        self.catch_up(Some(cursor - 1)).await
                    } else {
                        Ok(())
                    };
                    match filled {
                        Ok(()) => {
                            let delivered = self.deliver(event).await;
                            self.seen = self.seen.max(cursor);
                            delivered
                        }
                        Err(stop) => Err(stop),
                    }
                }
                // Fell behind the bus: the database has everything.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(None).await,
                Err(broadcast::error::RecvError::Closed) => Err(Stop::Done),
            };
            if outcome.is_err() {
                return;
            }
        }
    }

    /// Delivers this subscriber's events with a cursor in `(seen, upto]` from the database
    /// (up to the current head when `upto` is `None`).
    async fn catch_up(&mut self, upto: Option<i64>) -> Result<(), Stop> {
        let upto = match upto {
            Some(upto) => upto,
            None => match log::head(&self.db).await {
                Ok((head, _)) => head,
                Err(error) => return self.fail(error).await,
            },
        };
        while self.seen < upto {
            let batch = match log::catch_up(&self.db, self.me, self.seen, Some(upto), BATCH).await {
                Ok(batch) => batch,
                Err(error) => return self.fail(error).await,
            };
            let full = batch.len() as u64 == BATCH;
            for event in batch {
                let cursor = event.cursor;
                self.deliver(event).await?;
                self.seen = cursor;
            }
            if !full {
                self.seen = upto;
            }
        }
        Ok(())
    }

    async fn ephemeral(&mut self, event: Event) -> Result<(), Stop> {
        let from_me = event
            .actor_id
            .is_some_and(|actor| actor.as_uuid() == self.me);
        if !from_me && event.is_for(self.me, &self.chats) {
            self.send(Ok(event)).await?;
        }
        Ok(())
    }

    /// Sends the event if it is for this subscriber, and follows membership changes.
    async fn deliver(&mut self, event: Event) -> Result<(), Stop> {
        let about_me = event.user_id.is_some_and(|user| user.as_uuid() == self.me);
        let chat = event.chat_id.map(|chat| chat.as_uuid());
        if event.kind == EventKind::ChatCreated
            && let Some(chat) = chat
            && lists_me(&event.data, self.me)
        {
            self.chats.insert(chat);
        }
        if about_me
            && event.kind == EventKind::MemberJoined
            && let Some(chat) = chat
        {
            self.chats.insert(chat);
        }
        if !event.is_for(self.me, &self.chats) {
            return Ok(());
        }
        let session = self.session.to_string();
        let ends_session = about_me
            && event.kind == EventKind::SessionRevoked
            && match event.data.get("session_id").and_then(|id| id.as_str()) {
                None => event.data.get("except").and_then(|id| id.as_str()) != Some(&session),
                Some(id) => id == session,
            };
        let leaves = about_me
            && matches!(
                event.kind,
                EventKind::MemberLeft | EventKind::MemberRemoved | EventKind::ChatDeleted
            );
        self.send(Ok(event)).await?;
        if leaves && let Some(chat) = chat {
            self.chats.remove(&chat);
        }
        if ends_session {
            let _ = self.outbox.send(Err(Error::NotAuthorized)).await;
            return Err(Stop::Done);
        }
        Ok(())
    }

    async fn send(&self, item: Result<Event>) -> Result<(), Stop> {
        self.outbox.send(item).await.map_err(|_| Stop::Done)
    }

    async fn fail(&self, error: Error) -> Result<(), Stop> {
        let _ = self.outbox.send(Err(error)).await;
        Err(Stop::Done)
    }
}

/// Whether a chat's data lists the user among its members.
fn lists_me(data: &serde_json::Value, me: Uuid) -> bool {
    let me = me.to_string();
    data.get("members")
        .and_then(|members| members.as_array())
        .is_some_and(|members| {
            members
                .iter()
                .any(|member| member["user"]["id"].as_str() == Some(me.as_str()))
        })
}
