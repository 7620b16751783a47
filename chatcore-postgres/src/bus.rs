//! [`PgEventBus`]: live events across nodes through PostgreSQL LISTEN/NOTIFY.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chatcore::events::{self, Event, EventBus, InProcessBus, SharedEvent};
use chatcore::sea_orm::sqlx::postgres::{
    PgConnectOptions, PgListener, PgNotification, PgPoolOptions,
};
use chatcore::sea_orm::{ConnectionTrait, sqlx};
use chatcore::sea_orm::{DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use uuid::Uuid;

/// Carries `<first>-<last>` cursor ranges of committed events.
const EVENTS_CHANNEL: &str = "chatcore_events";
/// Carries ephemeral events (typing) as JSON.
const EPHEMERAL_CHANNEL: &str = "chatcore_ephemeral";
/// The `application_name` of the listening connection, as `pg_stat_activity` shows it.
const LISTENER_NAME: &str = "chatcore-events";
/// NOTIFY payloads must stay under 8000 bytes; larger ephemeral events are dropped.
const MAX_EPHEMERAL_PAYLOAD: usize = 7_500;
/// Events buffered per subscriber on this node.
const CAPACITY: usize = 4096;
/// NOTIFYs waiting to be sent; when full, other nodes catch up by polling.
const OUTBOX: usize = 1024;
/// Events read from the database per query when catching up.
const BATCH: u64 = 1000;
/// How often gaps on the in-process bus are checked.
const TICK: Duration = Duration::from_millis(100);
/// Ticks without a notification after which the head is polled (covers a lost NOTIFY).
const IDLE_TICKS: u32 = 10;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Own cursor ranges remembered at most (forgetting one only costs a database read).
const MAX_OWN_RANGES: usize = 1024;

/// An [`EventBus`] for nodes sharing one PostgreSQL database: each node delivers at once the
/// events its sequencer numbered (published to it), and learns of the others' through
/// `NOTIFY`.
///
/// Committed events cross as cursor ranges only (`NOTIFY chatcore_events, '<first>-<last>'`);
/// each node reads the events themselves from the database, so payload size never matters and
/// a lost notification only delays delivery: a node that heard nothing for a second compares
/// the event head with what it delivered and catches up. Ephemeral events (typing) cross as
/// JSON on `chatcore_ephemeral` when they fit in a notification, and are dropped otherwise.
///
/// A dedicated connection (`application_name` `chatcore-events`) listens. When it drops, it is
/// reopened with a backoff from 100 ms to 2 s, and the node then catches up from the last
/// cursor it delivered, so nothing committed meanwhile is lost. The background tasks stop when
/// the bus is dropped.
pub struct PgEventBus {
    shared: Arc<Shared>,
    outbox: mpsc::Sender<Outgoing>,
    node: Uuid,
    /// Dropped with the bus, which stops the background tasks.
    _stop: watch::Sender<()>,
}

/// What the bus and its background tasks share.
struct Shared {
    local: InProcessBus,
    /// The highest cursor other nodes announced.
    announced: AtomicI64,
    /// Whether the follower must read the head (after (re)connecting, or when idle).
    refresh: AtomicBool,
    wake: Notify,
    /// Cursor ranges (first → last) this node published itself, which need not be read back.
    own: Mutex<BTreeMap<i64, i64>>,
    /// Whether the listening connection is up (for readiness probes).
    connected: AtomicBool,
}

/// A notification to send.
enum Outgoing {
    Committed { first: i64, last: i64 },
    Ephemeral(String),
}

#[derive(Serialize)]
struct EphemeralOut<'a> {
    node: Uuid,
    event: &'a Event,
}

#[derive(Deserialize)]
struct EphemeralIn {
    node: Uuid,
    event: Event,
}

impl PgEventBus {
    /// Opens the listening connection to `url` (the database `db` is connected to), and starts
    /// the background tasks on the current Tokio runtime. Events are delivered from the current
    /// head on.
    ///
    /// # Errors
    /// [`chatcore::Error::Internal`] if `url` is not a PostgreSQL URL, or the database cannot
    /// be reached.
    pub async fn connect(db: DatabaseConnection, url: &str) -> chatcore::Result<PgEventBus> {
        let options: PgConnectOptions = url.parse().map_err(internal)?;
        let options = options.application_name(LISTENER_NAME);
        // Listen first, then read the head: anything committed after it is announced.
        let listener = open_listener(&options).await.map_err(internal)?;
        let head = events::head(&db).await?;
        let shared = Arc::new(Shared {
            local: InProcessBus::new(head, CAPACITY),
            announced: AtomicI64::new(head),
            refresh: AtomicBool::new(false),
            wake: Notify::new(),
            own: Mutex::new(BTreeMap::new()),
            connected: AtomicBool::new(true),
        });
        let node = Uuid::now_v7();
        let (stop, stopped) = watch::channel(());
        let (outbox, queue) = mpsc::channel(OUTBOX);
        tokio::spawn(send_notifications(db.clone(), queue));
        tokio::spawn(listen(
            shared.clone(),
            options,
            listener,
            node,
            stopped.clone(),
        ));
        tokio::spawn(follow(shared.clone(), db, head, stopped));
        Ok(PgEventBus {
            shared,
            outbox,
            node,
            _stop: stop,
        })
    }
}

impl EventBus for PgEventBus {
    fn publish(&self, events: Vec<Event>) {
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for cursor in events.iter().map(|event| event.cursor) {
            match runs.last_mut() {
                Some((_, last)) if cursor == *last + 1 => *last = cursor,
                _ => runs.push((cursor, cursor)),
            }
        }
        let (Some(first), Some(last)) = (
            runs.iter().map(|run| run.0).min(),
            runs.iter().map(|run| run.1).max(),
        ) else {
            return;
        };
        self.shared.remember_own(&runs);
        self.shared.local.publish(events);
        if self
            .outbox
            .try_send(Outgoing::Committed { first, last })
            .is_err()
        {
            tracing::debug!("event notification queue full; other nodes will poll");
        }
    }

    fn publish_ephemeral(&self, event: Event) {
        let wire = EphemeralOut {
            node: self.node,
            event: &event,
        };
        match serde_json::to_string(&wire) {
            Ok(payload) if payload.len() <= MAX_EPHEMERAL_PAYLOAD => {
                if self.outbox.try_send(Outgoing::Ephemeral(payload)).is_err() {
                    tracing::debug!("event notification queue full; ephemeral event not shared");
                }
            }
            Ok(_) => tracing::debug!("ephemeral event too large to share with other nodes"),
            Err(error) => tracing::warn!(%error, "could not encode an ephemeral event"),
        }
        self.shared.local.publish_ephemeral(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<SharedEvent> {
        self.shared.local.subscribe()
    }

    /// Whether the `LISTEN` connection is up. While it is down (from when its loss is noticed
    /// until it is reopened), events from other nodes are late, not lost.
    fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for PgEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventBus")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The own ranges. A panic while the lock was held cannot leave the map half-changed (its
    /// operations do not panic midway), so a poisoned lock is used as is rather than silently
    /// skipped.
    fn own(&self) -> MutexGuard<'_, BTreeMap<i64, i64>> {
        self.own.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember_own(&self, runs: &[(i64, i64)]) {
        let mut own = self.own();
        for &(first, last) in runs {
            own.insert(first, last);
        }
        while own.len() > MAX_OWN_RANGES {
            own.pop_first();
        }
    }

    /// Moves `delivered` past the own ranges that follow it, and returns where the next own
    /// range starts (reading need not go beyond it).
    fn skip_own(&self, delivered: &mut i64) -> Option<i64> {
        let mut own = self.own();
        while let Some((first, last)) = own.first_key_value().map(|(&first, &last)| (first, last)) {
            if first > *delivered + 1 {
                return Some(first);
            }
            *delivered = (*delivered).max(last);
            own.pop_first();
        }
        None
    }

    fn receive(&self, notification: &PgNotification, node: Uuid) {
        match notification.channel() {
            EVENTS_CHANNEL => {
                match parse_range(notification.payload()) {
                    Some(last) => {
                        self.announced.fetch_max(last, Ordering::AcqRel);
                    }
                    None => self.refresh.store(true, Ordering::Release),
                }
                self.wake.notify_one();
            }
            EPHEMERAL_CHANNEL => {
                match serde_json::from_str::<EphemeralIn>(notification.payload()) {
                    Ok(wire) if wire.node != node => self.local.publish_ephemeral(wire.event),
                    Ok(_) => {}
                    Err(error) => tracing::debug!(%error, "ignored a malformed ephemeral event"),
                }
            }
            _ => {}
        }
    }
}

/// The last cursor of a `<first>-<last>` range.
fn parse_range(payload: &str) -> Option<i64> {
    let (first, last) = payload.split_once('-')?;
    let (first, last) = (first.parse::<i64>().ok()?, last.parse::<i64>().ok()?);
    (first <= last).then_some(last)
}

/// A connection listening on both channels, that reports its loss instead of reconnecting.
async fn open_listener(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener
        .listen_all([EVENTS_CHANNEL, EPHEMERAL_CHANNEL])
        .await?;
    Ok(listener)
}

/// Receives notifications, reopening the connection whenever it drops.
async fn listen(
    shared: Arc<Shared>,
    options: PgConnectOptions,
    first: PgListener,
    node: Uuid,
    mut stop: watch::Receiver<()>,
) {
    let mut listener = Some(first);
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut current = match listener.take() {
            Some(current) => current,
            None => {
                let opened = tokio::select! {
                    _ = stop.changed() => return,
                    opened = open_listener(&options) => opened,
                };
                match opened {
                    Ok(current) => {
                        tracing::info!("event listener reconnected");
                        shared.connected.store(true, Ordering::Release);
                        backoff = MIN_BACKOFF;
                        // Whatever was committed while nobody listened is read back.
                        shared.refresh.store(true, Ordering::Release);
                        shared.wake.notify_one();
                        current
                    }
                    Err(error) => {
                        tracing::warn!(%error, ?backoff, "event listener could not reconnect");
                        tokio::select! {
                            _ = stop.changed() => return,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
        };
        loop {
            let received = tokio::select! {
                _ = stop.changed() => return,
                received = current.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => shared.receive(&notification, node),
                Ok(None) => {
                    tracing::warn!("event listener lost its connection");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "event listener failed");
                    break;
                }
            }
        }
        shared.connected.store(false, Ordering::Release);
        drop(current);
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
    }
}

/// Publishes into the in-process bus what other nodes committed, skips gaps that waited too
/// long, and polls the head when no notification came for a while.
async fn follow(
    shared: Arc<Shared>,
    db: DatabaseConnection,
    mut delivered: i64,
    mut stop: watch::Receiver<()>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet_ticks: u32 = 0;
    // During an outage every tick fails: say so once, and once when it is over.
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = shared.wake.notified() => quiet_ticks = 0,
            _ = tick.tick() => {
                shared.local.tick();
                quiet_ticks += 1;
                if quiet_ticks >= IDLE_TICKS {
                    quiet_ticks = 0;
                    shared.refresh.store(true, Ordering::Release);
                }
            }
        }
        match catch_up(&shared, &db, &mut delivered).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("reading events committed on other nodes again");
            }
            Ok(()) => {}
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "could not read events committed on other nodes; retrying");
                }
                failing = true;
                shared.refresh.store(true, Ordering::Release);
            }
        }
    }
}

/// Publishes every event after `delivered` up to the announced cursor (or the head, when a
/// refresh is due).
async fn catch_up(
    shared: &Shared,
    db: &DatabaseConnection,
    delivered: &mut i64,
) -> chatcore::Result<()> {
    let mut target = shared.announced.load(Ordering::Acquire);
    if shared.refresh.swap(false, Ordering::AcqRel) {
        target = target.max(events::head(db).await?);
    }
    loop {
        let next_own = shared.skip_own(delivered);
        if *delivered >= target {
            return Ok(());
        }
        let upto = next_own.map_or(target, |first| target.min(first - 1));
        let batch = events::read_range(db, *delivered, upto, BATCH).await?;
        let full = batch.len() as u64 == BATCH;
        let last = batch.last().map(|event| event.cursor);
        shared.local.publish(batch);
        *delivered = match last {
            Some(last) if full => last,
            // Everything up to `upto` was committed (it was announced or is the head), so
            // what is missing was pruned.
            _ => upto,
        };
    }
}

/// Sends queued notifications through the pool, merging the ranges of those that piled up.
async fn send_notifications(db: DatabaseConnection, mut queue: mpsc::Receiver<Outgoing>) {
    while let Some(first) = queue.recv().await {
        let mut range: Option<(i64, i64)> = None;
        let mut ephemeral = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(outgoing) = next {
            match outgoing {
                Outgoing::Committed { first, last } => {
                    range = Some(match range {
                        Some((low, high)) => (low.min(first), high.max(last)),
                        None => (first, last),
                    });
                }
                Outgoing::Ephemeral(payload) => ephemeral.push(payload),
            }
            taken += 1;
            next = if taken < OUTBOX {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if let Some((first, last)) = range {
            notify(&db, EVENTS_CHANNEL, format!("{first}-{last}")).await;
        }
        for payload in ephemeral {
            notify(&db, EPHEMERAL_CHANNEL, payload).await;
        }
    }
}

async fn notify(db: &DatabaseConnection, channel: &str, payload: String) {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    );
    if let Err(error) = db.execute_raw(statement).await {
        // Other nodes poll the head, so committed events still reach them.
        tracing::warn!(%error, channel, "could not notify other nodes");
    }
}

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> chatcore::Error {
    tracing::error!(%error, "event bus failed to start");
    chatcore::Error::Internal(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_strictly() {
        assert_eq!(parse_range("3-7"), Some(7));
        assert_eq!(parse_range("7-7"), Some(7));
        assert_eq!(parse_range("8-7"), None);
        assert_eq!(parse_range("x-7"), None);
        assert_eq!(parse_range("7"), None);
    }
}
