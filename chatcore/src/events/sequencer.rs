//! The sequencer: numbers PostgreSQL's committed events, many at a time.
//!
//! A PostgreSQL transaction stores its events without a cursor (see [`log::record`]), so it
//! never waits for another transaction to commit before it can take its own cursors. After
//! commit, the writer wakes this node's sequencer, which gives every committed event that has
//! none the next cursors, in one short transaction of its own, and hands them to the bus:
//!
//! - **Contiguous, in numbering order.** Rounds run one at a time across all nodes (a
//!   transaction-level advisory lock). Each round reads, after taking the lock, the events
//!   committed so far, so a round sees everything the previous one numbered, and the
//!   cursors it hands out follow on from the previous round's without a gap.
//! - **Resumable.** A subscriber reads stored events by cursor, and an event gets its cursor
//!   once, in a committed round: a cursor once seen never moves, and nothing numbered later
//!   can fall before it.
//! - **Batched.** Commits that finish while a round runs are numbered together by the next
//!   one: one numbering commit per round, however many writers there are.
//! - **Read your writes.** A write returns once a round that began after its commit is over,
//!   so its events are numbered by then: a stream subscribed afterwards from "now" starts
//!   after them, as on SQLite.
//! - **Nothing stranded.** Each node also runs a round every second, so events committed by a
//!   node that stopped before numbering them are numbered by another (or on restart).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement, TransactionTrait,
};
use tokio::sync::{Notify, watch};

use super::entity::event;
use super::{Event, EventBus, log};
use crate::Result;

/// Events numbered per round at most.
const BATCH: u64 = 1000;
/// How often a round runs when nothing woke the sequencer.
const IDLE: Duration = Duration::from_secs(1);
/// The advisory lock that lets one round run at a time ("chatcore" in ASCII).
const LOCK: i64 = 0x6368_6174_636f_7265;

/// Gives committed events their cursors (see the module docs). The task stops when this is
/// dropped.
pub(crate) struct Sequencer {
    rounds: Arc<Rounds>,
    _stop: watch::Sender<()>,
}

/// What the sequencer and the writers waiting for it share.
struct Rounds {
    wake: Notify,
    /// How many rounds began.
    started: AtomicU64,
    /// How many rounds ended (numbered their events, or failed to).
    ended: watch::Sender<u64>,
}

impl Sequencer {
    /// Starts numbering on the current Tokio runtime, handing numbered events to `bus`.
    pub(crate) fn start(db: DatabaseConnection, bus: Arc<dyn EventBus>) -> Sequencer {
        let rounds = Arc::new(Rounds {
            wake: Notify::new(),
            started: AtomicU64::new(0),
            ended: watch::channel(0).0,
        });
        let (stop, stopped) = watch::channel(());
        tokio::spawn(run(db, bus, rounds.clone(), stopped));
        Sequencer {
            rounds,
            _stop: stop,
        }
    }

    /// Asks for a round: events were committed. Requests made while a round runs are served
    /// by one more round.
    pub(crate) fn wake(&self) {
        self.rounds.wake.notify_one();
    }

    /// Asks for a round and waits until one that began after this call is over: events
    /// committed before the call are then numbered (unless the round failed; the next one
    /// numbers them).
    pub(crate) async fn numbered(&self) {
        self.numbered_since(self.tickets().take()).await;
    }

    /// Asks for a round and waits until one that began after `ticket` was taken is over.
    pub(crate) async fn numbered_since(&self, ticket: Ticket) {
        let mut ended = self.rounds.ended.subscribe();
        self.wake();
        // Err: the sequencer stopped with the service; nothing more to wait for.
        let _ = ended.wait_for(|ended| *ended >= ticket.0).await;
    }

    /// Where writers that run outside the service's write path take their [`Ticket`]s.
    pub(crate) fn tickets(&self) -> Tickets {
        Tickets(self.rounds.clone())
    }
}

/// The first round that begins after a commit: a round from it on numbers that commit's
/// events. Taken right after the commit, it lets a write wait for the round that the first
/// write of a batch woke, rather than for one that begins after the last of them asks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

/// Hands out [`Ticket`]s; cheap to clone.
#[derive(Clone)]
pub(crate) struct Tickets(Arc<Rounds>);

impl Tickets {
    /// The ticket of a commit that just ended.
    pub(crate) fn take(&self) -> Ticket {
        Ticket(self.0.started.load(Ordering::Acquire) + 1)
    }
}

async fn run(
    db: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    rounds: Arc<Rounds>,
    mut stop: watch::Receiver<()>,
) {
    let mut idle = tokio::time::interval(IDLE);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // During an outage every round fails: say so once, and once when it is over.
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = rounds.wake.notified() => {}
            _ = idle.tick() => {}
        }
        let round = rounds.started.fetch_add(1, Ordering::AcqRel) + 1;
        loop {
            match number(&db, BATCH).await {
                Ok(events) => {
                    if failing {
                        failing = false;
                        tracing::info!("numbering committed events again");
                    }
                    let full = events.len() as u64 == BATCH;
                    if !events.is_empty() {
                        bus.publish(events);
                    }
                    if !full {
                        break;
                    }
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "could not number committed events; retrying");
                    }
                    failing = true;
                    break;
                }
            }
        }
        rounds.ended.send_replace(round);
    }
}

/// Numbers up to `limit` committed events in arrival order and returns them, oldest first.
const NUMBER: &str = "
    WITH ready AS (
        SELECT ctid, row_number() OVER (ORDER BY arrival) AS n
        FROM events WHERE seq IS NULL ORDER BY arrival LIMIT $1
    ), head AS (
        UPDATE event_head SET last = last + (SELECT count(*) FROM ready)
        WHERE id = 1 AND EXISTS (SELECT 1 FROM ready)
        RETURNING last - (SELECT count(*) FROM ready) AS base
    )
    UPDATE events SET seq = head.base + ready.n
    FROM ready, head
    WHERE events.ctid = ready.ctid
    RETURNING events.seq, events.kind, events.chat_id, events.user_id, events.actor_id,
        events.data, events.created_at, events.message_seq";

/// One round: numbers up to `limit` committed events that have no cursor yet.
async fn number(db: &DatabaseConnection, limit: u64) -> Result<Vec<Event>> {
    let txn = db.begin().await?;
    // Taken before the statement that reads: its snapshot then holds whatever the previous
    // round numbered.
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [LOCK.into()],
    ))
    .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = event::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            NUMBER,
            [limit.into()],
        ))
        .all(&txn)
        .await?;
    txn.commit().await?;
    rows.sort_unstable_by_key(|row| row.seq);
    log::read_back(rows)
}
