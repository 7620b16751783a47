//! Exact caches of what nearly every request checks: sessions (for `authenticate`) and chat
//! memberships (for reads).
//!
//! "Exact" means a cached answer is never one the database would no longer give once a change
//! returned to its caller. Only a single node may cache (with a bus from another node, a change
//! made there would reach this node's cache late), so [`Caches`] is switched on only when the
//! service uses the in-process event bus. Every change that could make an entry wrong records
//! an event; [`Caches::observe`] forgets the affected entries as the events are published,
//! which is after the commit and before the change returns. A read that raced the change cannot
//! put its stale answer back: entries are inserted with the generation seen before the database
//! was read, and any forgetting moves the generation on.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::{Event, EventKind};
use crate::users::Role;

/// The most entries one map keeps; past it the map starts again empty.
const CAPACITY: usize = 100_000;

/// A generation, taken before reading the database, that an insert must still match.
#[derive(Clone, Copy, Debug)]
struct Ticket(u64);

struct Map<K, V> {
    generation: u64,
    entries: HashMap<K, V>,
}

/// A map whose inserts are refused if anything was forgotten since their ticket.
pub(crate) struct ExactMap<K, V> {
    inner: Mutex<Map<K, V>>,
}

impl<K: Eq + Hash, V: Clone> ExactMap<K, V> {
    fn new() -> Self {
        ExactMap {
            inner: Mutex::new(Map {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<K, V>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &K) -> Option<V> {
        self.lock().entries.get(key).cloned()
    }

    /// The cached value, or the one `load` reads from the database, kept for next time unless
    /// something was forgotten while it was being read.
    pub(crate) async fn get_or_load<E, F: Future<Output = Result<V, E>>>(
        &self,
        key: K,
        load: impl FnOnce() -> F,
    ) -> Result<V, E> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let ticket = self.ticket();
        let value = load().await?;
        self.insert(ticket, key, value.clone());
        Ok(value)
    }

    /// Take before reading what will be inserted.
    fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keeps `value` unless something was forgotten since `ticket` was taken.
    fn insert(&self, ticket: Ticket, key: K, value: V) {
        let mut map = self.lock();
        if map.generation != ticket.0 {
            return;
        }
        if map.entries.len() >= CAPACITY {
            map.entries.clear();
        }
        map.entries.insert(key, value);
    }

    /// Replaces an entry that is there (a change this node made and already committed).
    pub(crate) fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some(value) = self.lock().entries.get_mut(key) {
            change(value);
        }
    }

    /// Forgets the entries `doomed` picks.
    fn forget(&self, doomed: impl Fn(&K, &V) -> bool) {
        let mut map = self.lock();
        map.generation += 1;
        map.entries.retain(|key, value| !doomed(key, value));
    }
}

/// A session as `authenticate` needs it.
#[derive(Clone, Debug)]
pub(crate) struct CachedSession {
    pub(crate) user_id: Uuid,
    pub(crate) role: Role,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) last_seen_at: DateTime<Utc>,
}

/// A membership as reads need it: that it exists, and where the member's history starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CachedMember {
    pub(crate) visible_from_seq: i64,
}

/// The service's caches; see the module documentation.
pub(crate) struct Caches {
    /// By session id.
    pub(crate) sessions: ExactMap<Uuid, CachedSession>,
    /// By (chat id, user id).
    pub(crate) members: ExactMap<(Uuid, Uuid), CachedMember>,
}

impl Caches {
    pub(crate) fn new() -> Self {
        Caches {
            sessions: ExactMap::new(),
            members: ExactMap::new(),
        }
    }

    /// Forgets what committed events made wrong.
    pub(crate) fn observe(&self, events: &[Event]) {
        // A chat's members are forgotten once per batch: creating or deleting a group
        // records one event per member.
        let mut chats = std::collections::HashSet::new();
        for event in events {
            match event.kind() {
                EventKind::SessionRevoked => self.forget_user(event.user_id.map(|id| id.as_uuid())),
                EventKind::ChatCreated
                | EventKind::ChatDeleted
                | EventKind::MemberJoined
                | EventKind::MemberLeft
                | EventKind::MemberRemoved
                | EventKind::MemberRoleChanged => match event.chat_id {
                    Some(chat) => {
                        chats.insert(chat.as_uuid());
                    }
                    None => self.members.forget(|_, _| true),
                },
                _ => {}
            }
        }
        if !chats.is_empty() {
            self.members.forget(|(cached, _), _| chats.contains(cached));
        }
    }

    /// Forgets a user's sessions (every session when the user is not known), after a change
    /// to their account that no event describes, such as their server role.
    pub(crate) fn forget_user(&self, user: Option<Uuid>) {
        match user {
            Some(user) => self.sessions.forget(|_, session| session.user_id == user),
            None => self.sessions.forget(|_, _| true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_after_a_forget_with_an_older_ticket_is_refused() {
        let map = ExactMap::<u32, u32>::new();
        let stale = map.ticket();
        map.forget(|_, _| false);
        map.insert(stale, 1, 10);
        assert_eq!(map.get(&1), None);
        let fresh = map.ticket();
        map.insert(fresh, 1, 10);
        assert_eq!(map.get(&1), Some(10));
    }

    #[test]
    fn forget_removes_only_what_it_picks() {
        let map = ExactMap::<u32, u32>::new();
        let ticket = map.ticket();
        map.insert(ticket, 1, 10);
        map.insert(ticket, 2, 20);
        map.forget(|key, _| *key == 1);
        assert_eq!(map.get(&1), None);
        assert_eq!(map.get(&2), Some(20));
    }
}
