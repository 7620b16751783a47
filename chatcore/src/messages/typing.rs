//! Which typing notices are forwarded: at most one per member and chat per interval.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Entries kept before stale ones are swept (then at most twice what is still fresh).
const SWEEP_AT: usize = 4096;

/// When each (user, chat) last had a notice forwarded.
pub(crate) struct TypingThrottle {
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    forwarded: HashMap<(Uuid, Uuid), Instant>,
    sweep_at: usize,
}

impl TypingThrottle {
    pub(crate) fn new(interval: Duration) -> Self {
        TypingThrottle {
            interval,
            state: Mutex::new(State {
                forwarded: HashMap::new(),
                sweep_at: SWEEP_AT,
            }),
        }
    }

    /// Whether a notice from `user` in `chat` is forwarded now: not when one was within the
    /// interval. Forwarding one starts a new interval.
    pub(crate) fn admit(&self, user: Uuid, chat: Uuid) -> bool {
        self.admit_at(user, chat, Instant::now())
    }

    fn admit_at(&self, user: Uuid, chat: Uuid, now: Instant) -> bool {
        // A map of instants is consistent whatever a panic interrupted.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = state.forwarded.get(&(user, chat))
            && now.saturating_duration_since(*last) < self.interval
        {
            return false;
        }
        state.forwarded.insert((user, chat), now);
        // Forget the members who stopped typing, so the map follows who types now.
        if state.forwarded.len() >= state.sweep_at {
            let interval = self.interval;
            state
                .forwarded
                .retain(|_, last| now.saturating_duration_since(*last) < interval);
            state.sweep_at = (state.forwarded.len() * 2).max(SWEEP_AT);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_interval_per_member_and_chat() {
        let throttle = TypingThrottle::new(Duration::from_secs(3));
        let (user, chat, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let start = Instant::now();
        assert!(throttle.admit_at(user, chat, start));
        assert!(!throttle.admit_at(user, chat, start + Duration::from_millis(2999)));
        // Another chat, another member: their own intervals.
        assert!(throttle.admit_at(user, other, start));
        assert!(throttle.admit_at(other, chat, start));
        assert!(throttle.admit_at(user, chat, start + Duration::from_secs(3)));
        assert!(!throttle.admit_at(user, chat, start + Duration::from_secs(4)));
    }

    #[test]
    fn stale_entries_are_swept() {
        let throttle = TypingThrottle::new(Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..SWEEP_AT - 1 {
            assert!(throttle.admit_at(Uuid::now_v7(), Uuid::now_v7(), start));
        }
        let later = start + Duration::from_secs(2);
        assert!(throttle.admit_at(Uuid::now_v7(), Uuid::now_v7(), later));
        let state = throttle.state.lock().unwrap();
        assert_eq!(state.forwarded.len(), 1);
        assert_eq!(state.sweep_at, SWEEP_AT);
    }
}
