//! Delivery of committed events to subscribers on this node.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, de::Error as _};
use tokio::sync::broadcast;

use super::{Event, EventKind};
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
    /// A receiver of every event from now on, in cursor order.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
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
    sender: broadcast::Sender<Event>,
    order: Mutex<Order>,
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
        }
    }

    /// Delivers what is in order, and skips a gap that waited too long.
    fn flush(&self, order: &mut Order) {
        loop {
            while let Some(event) = order.pending.remove(&order.next) {
                order.next += 1;
                let _ = self.sender.send(event);
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
        if let Ok(mut order) = self.order.lock() {
            self.flush(&mut order);
        }
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, events: Vec<Event>) {
        let Ok(mut order) = self.order.lock() else {
            return;
        };
        for event in events {
            if event.cursor >= order.next {
                order.pending.insert(event.cursor, event);
            }
        }
        self.flush(&mut order);
    }

    fn publish_ephemeral(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

/// Events cross between nodes as their JSON (a bus that reaches other nodes reads them back).
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            cursor: i64,
            kind: EventKind,
            chat_id: Option<ChatId>,
            user_id: Option<UserId>,
            actor_id: Option<UserId>,
            data: serde_json::Value,
            created_at: DateTime<Utc>,
            ephemeral: bool,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(Event {
            cursor: wire.cursor,
            kind: wire.kind,
            chat_id: wire.chat_id,
            user_id: wire.user_id,
            actor_id: wire.actor_id,
            data: wire.data,
            created_at: wire.created_at,
            ephemeral: wire.ephemeral,
        })
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let kind = EventKind::from_db(&name);
        if kind.as_str() == name {
            Ok(kind)
        } else {
            Err(D::Error::custom(format!("unknown event kind {name:?}")))
        }
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
    use crate::events::EventKind;

    fn event(cursor: i64) -> Event {
        Event {
            cursor,
            kind: EventKind::ChatUpdated,
            chat_id: None,
            user_id: None,
            actor_id: None,
            data: serde_json::Value::Null,
            created_at: chrono::Utc::now(),
            ephemeral: false,
        }
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
        typing.kind = EventKind::Typing;
        typing.chat_id = Some(ChatId::new());
        typing.actor_id = Some(UserId::new());
        typing.data = serde_json::json!({ "user_id": typing.actor_id });
        typing.ephemeral = true;
        let json = serde_json::to_string(&typing).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), typing);
        let unknown = json.replace("\"typing\"", "\"teleported\"");
        assert!(serde_json::from_str::<Event>(&unknown).is_err());
    }
}
