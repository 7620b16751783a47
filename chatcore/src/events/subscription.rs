//! A subscriber's stream: catch up from the database, then follow the bus, without a gap at
//! the seam and without duplicates.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::streams::FollowerAlive;
use super::{EventData, EventStream, SharedEvent, log};
use crate::context::Context;
use crate::sessions::Caller;
use crate::{Error, Result, SessionId};

/// Events read from the database per query.
const BATCH: u64 = 500;
/// Events buffered between the subscriber task and a slow consumer.
const OUTBOX: usize = 256;

pub(crate) async fn subscribe(
    inner: &Context,
    caller: &Caller,
    since: Option<i64>,
) -> Result<EventStream> {
    // The stream holds its place under the caps until the consumer drops it.
    let slot = inner.streams.open(caller)?;
    let db = &inner.db;
    // Listen first, then read: whatever commits in between is in one or the other.
    let live = inner.events.subscribe();
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
        session: caller.session_id,
        chats,
        seen: start,
        outbox,
        _alive: inner.streams.follower(),
    };
    tokio::spawn(follower.run(live));
    Ok(Box::pin(futures::stream::unfold(
        (receiver, slot),
        |(mut receiver, slot)| async move { receiver.recv().await.map(|item| (item, (receiver, slot))) },
    )))
}

struct Follower {
    db: DatabaseConnection,
    me: Uuid,
    session: SessionId,
    /// The chats whose events reach this subscriber, each with the seq after which the
    /// subscriber sees its messages; kept up to date by the events themselves.
    chats: HashMap<Uuid, i64>,
    /// Every cursor up to here was delivered or was not for this subscriber.
    seen: i64,
    outbox: mpsc::Sender<Result<SharedEvent>>,
    /// Counts this follower among the service's live subscriptions while it runs.
    _alive: FollowerAlive,
}

/// Why following stopped.
enum Stop {
    /// The consumer went away, or the session ended (and was told).
    Done,
}

impl Follower {
    async fn run(mut self, mut live: broadcast::Receiver<SharedEvent>) {
        if self.catch_up(None).await.is_err() {
            return;
        }
        loop {
            // A consumer that went away ends the follower at once, even when no event comes.
            let received = tokio::select! {
                () = self.outbox.closed() => return,
                received = live.recv() => received,
            };
            let outcome = match received {
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
                self.deliver(SharedEvent::new(event)).await?;
                self.seen = cursor;
            }
            if !full {
                self.seen = upto;
            }
        }
        Ok(())
    }

    async fn ephemeral(&mut self, event: SharedEvent) -> Result<(), Stop> {
        let from_me = event
            .actor_id
            .is_some_and(|actor| actor.as_uuid() == self.me);
        if !from_me && event.is_for(self.me, &self.chats) {
            self.send(Ok(event)).await?;
        }
        Ok(())
    }

    /// Sends the event if it is for this subscriber, and follows membership changes.
    async fn deliver(&mut self, event: SharedEvent) -> Result<(), Stop> {
        let about_me = event.user_id.is_some_and(|user| user.as_uuid() == self.me);
        let chat = event.chat_id.map(|chat| chat.as_uuid());
        // Put in a chat: at its creation every member sees it all; a joiner sees what comes
        // after the seq their join recorded.
        if about_me && let Some(chat) = chat {
            match &event.data {
                EventData::ChatCreated(_) => {
                    self.chats.insert(chat, 0);
                }
                EventData::MemberJoined(joined) => {
                    self.chats.insert(chat, joined.visible_from_seq);
                }
                _ => {}
            }
        }
        if !event.is_for(self.me, &self.chats) {
            return Ok(());
        }
        let ends_session = about_me
            && matches!(&event.data, EventData::SessionRevoked(revoked) if revoked.ends(self.session));
        let leaves = about_me
            && matches!(
                event.data,
                EventData::MemberLeft(_) | EventData::MemberRemoved(_) | EventData::ChatDeleted(_)
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

    async fn send(&self, item: Result<SharedEvent>) -> Result<(), Stop> {
        self.outbox.send(item).await.map_err(|_| Stop::Done)
    }

    async fn fail(&self, error: Error) -> Result<(), Stop> {
        let _ = self.outbox.send(Err(error)).await;
        Err(Stop::Done)
    }
}
