//! A subscriber's stream: catch up from the database, then follow the bus, without a gap at
//! the seam and without duplicates.

use std::collections::{HashMap, VecDeque};

use sea_orm::DatabaseConnection;
use sync_wrapper::SyncStream;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::streams::{FollowerAlive, StreamSlot};
use super::{EventData, EventStream, SharedEvent, log};
use crate::context::Context;
use crate::sessions::Caller;
use crate::{Error, Result, SessionId};

/// Events read from the database per query.
const BATCH: u64 = 500;

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
    let follower = Follower {
        db: db.clone(),
        me,
        session: caller.session_id,
        chats,
        seen: start,
        live,
        ready: VecDeque::new(),
        // What committed up to the head read above comes from the database; what follows,
        // from the bus.
        state: State::CatchingUp {
            upto: head,
            then: None,
        },
        _alive: inner.streams.follower(),
        _slot: slot,
    };
    // Pulled by the consumer: no task of its own, so a delivery wakes the consumer alone, and
    // dropping the stream ends it at once. (`SyncStream`: the stream is only ever polled
    // through `&mut`, so it may be shared although the database futures inside are not.)
    Ok(Box::pin(SyncStream::new(futures::stream::unfold(
        follower,
        |mut follower| async move { follower.next().await.map(|item| (item, follower)) },
    ))))
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
    live: broadcast::Receiver<SharedEvent>,
    /// Items found and not yet handed to the consumer (a catch-up reads them by the batch).
    ready: VecDeque<Result<SharedEvent>>,
    state: State,
    /// Counts this follower among the service's live subscriptions while it runs.
    _alive: FollowerAlive,
    /// Holds the stream's place under the caps.
    _slot: StreamSlot,
}

/// Where the follower stands.
enum State {
    /// It reads the subscriber's events up to `upto` from the database, a batch per call
    /// (so a long resume never holds more than a batch), then delivers `then`, the bus event
    /// that showed the gap, if any.
    CatchingUp {
        upto: i64,
        then: Option<SharedEvent>,
    },
    /// It follows the bus.
    Following,
    /// It ended (the session ended, or an error was reported): nothing more comes.
    Done,
}

/// Why following stopped.
enum Stop {
    /// The session ended, or an error was reported.
    Done,
}

impl Follower {
    /// The next item for the consumer; `None` once the stream ended.
    async fn next(&mut self) -> Option<Result<SharedEvent>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            let outcome = match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return None,
                State::CatchingUp { upto, then } => self.catch_up(upto, then).await,
                State::Following => self.follow().await,
            };
            if outcome.is_err() {
                self.state = State::Done;
            }
        }
    }

    /// Takes the next event from the bus; a gap before it is read from the database first.
    async fn follow(&mut self) -> Result<(), Stop> {
        self.state = State::Following;
        match self.live.recv().await {
            Ok(event) if event.ephemeral => self.ephemeral(event),
            Ok(event) if event.cursor <= self.seen => Ok(()),
            // A cursor skipped by the bus is read from the database.
            Ok(event) if event.cursor > self.seen + 1 => {
                self.state = State::CatchingUp {
                    upto: event.cursor - 1,
                    then: Some(event),
                };
                Ok(())
            }
            Ok(event) => self.deliver_live(event),
            // Fell behind the bus: the database has everything.
            Err(broadcast::error::RecvError::Lagged(_)) => match log::head(&self.db).await {
                Ok((head, _)) => {
                    self.state = State::CatchingUp {
                        upto: head,
                        then: None,
                    };
                    Ok(())
                }
                Err(error) => self.fail(error),
            },
            Err(broadcast::error::RecvError::Closed) => Err(Stop::Done),
        }
    }

    fn deliver_live(&mut self, event: SharedEvent) -> Result<(), Stop> {
        let cursor = event.cursor;
        let delivered = self.deliver(event);
        self.seen = self.seen.max(cursor);
        delivered
    }

    /// Queues one batch of this subscriber's events with a cursor in `(seen, upto]` from the
    /// database; once there are no more, `then` and back to following the bus.
    async fn catch_up(&mut self, upto: i64, then: Option<SharedEvent>) -> Result<(), Stop> {
        if self.seen >= upto {
            self.state = State::Following;
            return match then {
                Some(event) if event.cursor > self.seen => self.deliver_live(event),
                _ => Ok(()),
            };
        }
        let batch = match log::catch_up(&self.db, self.me, self.seen, Some(upto), BATCH).await {
            Ok(batch) => batch,
            Err(error) => return self.fail(error),
        };
        let full = batch.len() as u64 == BATCH;
        for event in batch {
            let cursor = event.cursor;
            self.deliver(SharedEvent::new(event))?;
            self.seen = cursor;
        }
        if !full {
            self.seen = upto;
        }
        self.state = State::CatchingUp { upto, then };
        Ok(())
    }

    fn ephemeral(&mut self, event: SharedEvent) -> Result<(), Stop> {
        let from_me = event
            .actor_id
            .is_some_and(|actor| actor.as_uuid() == self.me);
        if !from_me && event.is_for(self.me, &self.chats) {
            self.ready.push_back(Ok(event));
        }
        Ok(())
    }

    /// Queues the event if it is for this subscriber, and follows membership changes.
    fn deliver(&mut self, event: SharedEvent) -> Result<(), Stop> {
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
        self.ready.push_back(Ok(event));
        if leaves && let Some(chat) = chat {
            self.chats.remove(&chat);
        }
        if ends_session {
            self.ready.push_back(Err(Error::NotAuthorized));
            return Err(Stop::Done);
        }
        Ok(())
    }

    fn fail(&mut self, error: Error) -> Result<(), Stop> {
        self.ready.push_back(Err(error));
        Err(Stop::Done)
    }
}
