//! Delivery of committed events to subscribers on this node.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use tokio::sync::broadcast;

use super::{Event, EventData, SharedEvent};
use crate::{ChatId, UserId};

/// Carries committed events to subscribers. The in-process bus serves one node; a backend
/// may provide one that also reaches other nodes (PostgreSQL LISTEN/NOTIFY).
///
/// Publishers may hand events over in any order: the bus delivers them in cursor order.
/// Subscribers read the database for anything the bus could not deliver (a gap, or a
/// subscriber that fell behind), so the bus may drop events but never reorders them.
pub trait EventBus: Send + Sync + 'static {
    /// Hands over events that were committed.
    fn publish(&self, events: Vec<Event>);
    /// Hands over an ephemeral event (typing), delivered at once and never stored.
    fn publish_ephemeral(&self, event: Event);
    /// A receiver of every event from now on, in cursor order; each shared by all receivers.
    fn subscribe(&self) -> broadcast::Receiver<SharedEvent>;
    /// Whether the bus reaches the other nodes now (for readiness probes). A bus that
    /// reconnects by itself answers `false` while it is disconnected. Default: `true` (the
    /// in-process bus has nothing to lose).
    fn is_connected(&self) -> bool {
        true
    }
}

/// How long the bus waits for a missing cursor before skipping it (subscribers then fetch
/// the missing events from the database).
const GAP_PATIENCE: Duration = Duration::from_millis(200);

/// The in-process bus: a bounded broadcast channel behind a reorder buffer.
pub struct InProcessBus {
    sender: broadcast::Sender<SharedEvent>,
    order: Mutex<Order>,
    /// Whether a poisoned lock was already reported (once is enough to find the panic).
    poison_reported: AtomicBool,
}

struct Order {
    next: i64,
    pending: BTreeMap<i64, Event>,
    waiting_since: Option<Instant>,
}

impl InProcessBus {
    /// A bus whose next expected cursor is `after + 1`, buffering `capacity` events per
    /// subscriber (a subscriber further behind catches up from the database).
    pub fn new(after: i64, capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        InProcessBus {
            sender,
            order: Mutex::new(Order {
                next: after + 1,
                pending: BTreeMap::new(),
                waiting_since: None,
            }),
            poison_reported: AtomicBool::new(false),
        }
    }

    /// The reorder buffer. A panic while it was held (a subscriber's code cannot run under it,
    /// so this would be a bug here) must not stop delivery for good: the buffer is taken back,
    /// made consistent again, and the poisoning is logged once.
    fn lock(&self) -> MutexGuard<'_, Order> {
        match self.order.lock() {
            Ok(order) => order,
            Err(poisoned) => {
                let mut order = poisoned.into_inner();
                order.repair();
                self.order.clear_poison();
                if !self.poison_reported.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "the event bus lock was poisoned by a panic; delivery goes on \
                         (subscribers fetch anything skipped from the database)"
                    );
                }
                order
            }
        }
    }

    /// Delivers what is in order, and skips a gap that waited too long.
    fn flush(&self, order: &mut Order) {
        loop {
            while let Some(event) = order.pending.remove(&order.next) {
                order.next += 1;
                let _ = self.sender.send(SharedEvent::new(event));
            }
            match order.pending.keys().next().copied() {
                None => {
                    order.waiting_since = None;
                    return;
                }
                Some(first) => {
                    let since = *order.waiting_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < GAP_PATIENCE {
                        return;
                    }
                    order.next = first;
                    order.waiting_since = None;
                }
            }
        }
    }

    /// Skips gaps that waited too long even when nothing new arrives (called periodically).
    pub fn tick(&self) {
        let mut order = self.lock();
        self.flush(&mut order);
    }
}

impl Order {
    /// Restores what `flush` keeps true, whatever step a panic interrupted: nothing pending
    /// before `next` (it could never be delivered in order), and a gap timer only while
    /// something waits.
    fn repair(&mut self) {
        self.pending = self.pending.split_off(&self.next);
        if self.pending.is_empty() {
            self.waiting_since = None;
        }
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, events: Vec<Event>) {
        let mut order = self.lock();
        for event in events {
            if event.cursor >= order.next {
                order.pending.insert(event.cursor, event);
            }
        }
        self.flush(&mut order);
    }

    fn publish_ephemeral(&self, event: Event) {
        let _ = self.sender.send(SharedEvent::new(event));
    }

    fn subscribe(&self) -> broadcast::Receiver<SharedEvent> {
        self.sender.subscribe()
    }
}

/// Events cross between nodes as their JSON (a bus that reaches other nodes reads them back):
/// the same JSON as subscribers get, typed data included.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            cursor: i64,
            #[serde(flatten)]
            data: EventData,
            #[serde(default)]
            chat_id: Option<ChatId>,
            #[serde(default)]
            user_id: Option<UserId>,
            #[serde(default)]
            actor_id: Option<UserId>,
            created_at: DateTime<Utc>,
            ephemeral: bool,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(Event {
            cursor: wire.cursor,
            data: wire.data,
            chat_id: wire.chat_id,
            user_id: wire.user_id,
            actor_id: wire.actor_id,
            created_at: wire.created_at,
            ephemeral: wire.ephemeral,
            message_seq: None,
        })
    }
}

impl std::fmt::Debug for dyn EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventBus")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ChatUpdated, EventKind, Typing};

    fn event(cursor: i64) -> Event {
        Event {
            cursor,
            data: EventData::ChatUpdated(ChatUpdated {
                title: "Title".into(),
            }),
            chat_id: None,
            user_id: None,
            actor_id: None,
            created_at: chrono::Utc::now(),
            ephemeral: false,
            message_seq: None,
        }
    }

    #[test]
    fn a_poisoned_lock_does_not_stop_delivery() {
        let bus = std::sync::Arc::new(InProcessBus::new(0, 64));
        let mut rx = bus.subscribe();
        bus.publish(vec![event(1), event(3)]);
        assert_eq!(rx.try_recv().unwrap().cursor, 1);
        // A panic while the buffer is held, halfway through a change: 3 waits, `next` is
        // moved past it, as an interrupted flush could leave it.
        let holder = bus.clone();
        let panicked = std::thread::spawn(move || {
            let mut order = holder.order.lock().unwrap();
            order.next = 4;
            panic!("while holding the bus lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(bus.order.is_poisoned());

        bus.publish(vec![event(4), event(5)]);
        let got: Vec<i64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|event| event.cursor)
            .collect();
        assert_eq!(got, [4, 5], "delivery goes on, in order");
        assert!(!bus.order.is_poisoned());
        assert!(bus.poison_reported.load(Ordering::Relaxed));
        // The stale 3 was dropped when the buffer was repaired.
        assert!(bus.order.lock().unwrap().pending.is_empty());
        bus.tick();
        bus.publish(vec![event(6)]);
        assert_eq!(rx.try_recv().unwrap().cursor, 6);
    }

    #[test]
    fn delivers_in_cursor_order_whatever_the_publish_order() {
        let bus = InProcessBus::new(0, 64);
        let mut rx = bus.subscribe();
        bus.publish(vec![event(2), event(3)]);
        assert!(rx.try_recv().is_err(), "2 waits for 1");
        bus.publish(vec![event(1)]);
        let got: Vec<i64> = (0..3).map(|_| rx.try_recv().unwrap().cursor).collect();
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn skips_a_gap_that_waited_too_long() {
        let bus = InProcessBus::new(0, 64);
        let mut rx = bus.subscribe();
        bus.publish(vec![event(2)]);
        std::thread::sleep(GAP_PATIENCE + Duration::from_millis(20));
        bus.tick();
        assert_eq!(rx.try_recv().unwrap().cursor, 2);
        // A late 1 is not delivered out of order.
        bus.publish(vec![event(1)]);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn events_read_back_from_their_json() {
        let mut typing = event(0);
        let user_id = UserId::new();
        typing.data = EventData::Typing(Typing { user_id });
        typing.chat_id = Some(ChatId::new());
        typing.actor_id = Some(user_id);
        typing.ephemeral = true;
        let json = serde_json::to_string(&typing).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), typing);
        assert_eq!(typing.kind(), EventKind::Typing);
        // Absent fields are left out, not sent as `null`.
        assert!(!json.contains("null"), "{json}");
        let unknown = json.replace("\"typing\"", "\"teleported\"");
        assert!(serde_json::from_str::<Event>(&unknown).is_err());
        let malformed = json.replace("\"user_id\"", "\"someone\"");
        assert!(serde_json::from_str::<Event>(&malformed).is_err());
    }
}
