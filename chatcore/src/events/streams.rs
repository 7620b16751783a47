//! The open event streams of this node: how many each session and each user holds (both
//! capped, so that nobody can pin an unbounded number of tasks), and how many follower tasks
//! are alive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use uuid::Uuid;

use crate::sessions::Caller;
use crate::{Error, Result};

/// What a client over a stream cap is told to wait: a stream frees its place only when it
/// closes, so there is no window to wait for; this only spaces out retries.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The open streams, shared by the service and every stream and follower.
pub(crate) struct Streams {
    shared: Arc<Shared>,
}

struct Shared {
    max_per_session: usize,
    max_per_user: usize,
    open: Mutex<Open>,
    followers: AtomicUsize,
}

#[derive(Default)]
struct Open {
    sessions: HashMap<Uuid, usize>,
    users: HashMap<Uuid, usize>,
}

impl Streams {
    /// At most `max_per_session` open streams per session and `max_per_user` per user
    /// (each at least 1).
    pub(crate) fn new(max_per_session: usize, max_per_user: usize) -> Self {
        Streams {
            shared: Arc::new(Shared {
                max_per_session: max_per_session.max(1),
                max_per_user: max_per_user.max(1),
                open: Mutex::new(Open::default()),
                followers: AtomicUsize::new(0),
            }),
        }
    }

    /// A place for one more stream of the caller, held until the returned slot is dropped.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when the caller's session or user already holds as many open
    /// streams as allowed.
    pub(crate) fn open(&self, caller: &Caller) -> Result<StreamSlot> {
        let (session, user) = (caller.session_id.as_uuid(), caller.user_id.as_uuid());
        let mut open = self.shared.lock();
        let by_session = open.sessions.get(&session).copied().unwrap_or(0);
        let by_user = open.users.get(&user).copied().unwrap_or(0);
        if by_session >= self.shared.max_per_session || by_user >= self.shared.max_per_user {
            return Err(Error::RateLimited {
                retry_after: RETRY_AFTER,
            });
        }
        *open.sessions.entry(session).or_default() += 1;
        *open.users.entry(user).or_default() += 1;
        Ok(StreamSlot {
            shared: self.shared.clone(),
            session,
            user,
        })
    }

    /// Counts a follower task as alive until the returned guard is dropped.
    pub(crate) fn follower(&self) -> FollowerAlive {
        self.shared.followers.fetch_add(1, Ordering::Relaxed);
        FollowerAlive {
            shared: self.shared.clone(),
        }
    }

    /// How many follower tasks are alive.
    pub(crate) fn live(&self) -> usize {
        self.shared.followers.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Open> {
        // Every change under this lock is a single counter update: a panic elsewhere while
        // holding it cannot leave the counts half-changed.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open stream's place under the caps; freed when dropped.
pub(crate) struct StreamSlot {
    shared: Arc<Shared>,
    session: Uuid,
    user: Uuid,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.shared.lock();
        release(&mut open.sessions, self.session);
        release(&mut open.users, self.user);
    }
}

fn release(counts: &mut HashMap<Uuid, usize>, key: Uuid) {
    if let Some(count) = counts.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

/// A follower task, counted while alive.
pub(crate) struct FollowerAlive {
    shared: Arc<Shared>,
}

impl Drop for FollowerAlive {
    fn drop(&mut self) {
        self.shared.followers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Role;
    use crate::{SessionId, UserId};

    fn caller(user_id: UserId) -> Caller {
        Caller {
            user_id,
            session_id: SessionId::new(),
            role: Role::User,
        }
    }

    #[test]
    fn caps_hold_per_session_and_per_user_and_free_on_drop() {
        let streams = Streams::new(2, 3);
        let user = UserId::new();
        let first = caller(user);
        let a = streams.open(&first).unwrap();
        let _b = streams.open(&first).unwrap();
        assert_eq!(
            streams.open(&first).err().map(|error| error.code()),
            Some("rate_limited")
        );
        let second = caller(user);
        let _c = streams.open(&second).unwrap();
        assert!(streams.open(&second).is_err(), "the user's cap");
        // Someone else is not affected.
        let _other = streams.open(&caller(UserId::new())).unwrap();
        drop(a);
        let _d = streams.open(&second).unwrap();
        assert!(streams.open(&first).is_err());
    }

    #[test]
    fn followers_are_counted_while_alive() {
        let streams = Streams::new(1, 1);
        let alive = streams.follower();
        let also = streams.follower();
        assert_eq!(streams.live(), 2);
        drop(alive);
        drop(also);
        assert_eq!(streams.live(), 0);
        assert!(streams.shared.lock().sessions.is_empty());
    }
}
