//! [`SharedEvent`]: an event as the subscribers of this node receive it, one copy for all.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::value::RawValue;

use super::Event;
use crate::avatars::{AvatarLinks, LinksKey};
use crate::{Error, Result};

/// An event shared by every subscriber it is for: cloning it counts a reference, and its JSON
/// is serialized once per avatar links ([`SharedEvent::json`]), by whichever subscriber's
/// transport asks first. Read the event through `Deref`.
#[derive(Clone)]
pub struct SharedEvent(Arc<Inner>);

struct Inner {
    event: Event,
    /// The JSON serialized so far, by the links it was serialized under (`None`: no links);
    /// a server has one or two links, so a short list.
    json: Mutex<Vec<(Option<LinksKey>, Arc<RawValue>)>>,
}

impl SharedEvent {
    /// `event`, ready to be shared.
    pub fn new(event: Event) -> Self {
        SharedEvent(Arc::new(Inner {
            event,
            json: Mutex::new(Vec::new()),
        }))
    }

    /// The event as JSON, its avatars linked by `links` (left out without): serialized on the
    /// first call for these links, then the same text for every subscriber.
    ///
    /// # Errors
    /// [`Error::Internal`] if the event cannot be serialized (never, for chatcore's events).
    pub fn json(&self, links: Option<&AvatarLinks>) -> Result<Arc<RawValue>> {
        let key = links.map(AvatarLinks::key);
        // Held while serializing, so that subscribers that ask at once wait for one
        // serialization rather than each doing their own. Pushing cannot be interrupted
        // halfway by a panic: a poisoned list is whole.
        let mut cached = self.0.json.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, json)) = cached.iter().find(|(seen, _)| seen.as_ref() == key) {
            return Ok(json.clone());
        }
        let serialize = || serde_json::value::to_raw_value(&self.0.event);
        let json: Arc<RawValue> = match links {
            Some(links) => links.in_scope(serialize),
            None => serialize(),
        }
        .map_err(Error::internal)?
        .into();
        cached.push((key.cloned(), json.clone()));
        Ok(json)
    }

    /// Whether `self` and `other` are the same shared event (not only equal ones).
    pub fn ptr_eq(&self, other: &SharedEvent) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for SharedEvent {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.0.event
    }
}

impl From<Event> for SharedEvent {
    fn from(event: Event) -> Self {
        SharedEvent::new(event)
    }
}

impl PartialEq for SharedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.0.event == other.0.event
    }
}

impl fmt::Debug for SharedEvent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.event.fmt(formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ChatUpdated, EventData};
    use crate::{ChatId, UserId};

    fn event() -> Event {
        Event {
            cursor: 7,
            data: EventData::ChatUpdated(ChatUpdated {
                title: "Title".into(),
            }),
            chat_id: Some(ChatId::new()),
            user_id: None,
            actor_id: Some(UserId::new()),
            created_at: chrono::Utc::now(),
            ephemeral: false,
            message_seq: None,
        }
    }

    #[test]
    fn serialized_once_per_links_and_as_before() {
        let shared = SharedEvent::new(event());
        let plain = serde_json::to_string(&*shared).unwrap();
        let copies: Vec<SharedEvent> = (0..1000).map(|_| shared.clone()).collect();
        let first = copies[0].json(None).unwrap();
        assert_eq!(
            first.get(),
            plain,
            "the same bytes as serializing the event"
        );
        assert!(
            copies
                .iter()
                .all(|copy| copy.ptr_eq(&shared) && Arc::ptr_eq(&copy.json(None).unwrap(), &first))
        );

        // Links under one base share their JSON; other links get their own.
        let links = AvatarLinks::under("/api/v1/users");
        let linked = shared.json(Some(&links)).unwrap();
        let same_base = shared
            .json(Some(&AvatarLinks::under("/api/v1/users")))
            .unwrap();
        assert!(Arc::ptr_eq(&linked, &same_base));
        let other = shared
            .json(Some(&AvatarLinks::under("/chat/api/v1/users")))
            .unwrap();
        assert!(!Arc::ptr_eq(&linked, &other));
        assert!(!Arc::ptr_eq(&linked, &first));
    }
}
