//! Counters per key: rate limiters and failure gates that forget idle keys.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use governor::RateLimiter;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use super::Rate;
use crate::{Error, Result};

/// How often idle counters are dropped, so that keys seen once do not stay in memory.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// KeyedLimiter
// ---------------------------------------------------------------------------------------------

type Governor<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One [`Rate`] per key (a user, a login, an address), on `governor`'s keyed rate limiter.
///
/// Keys whose counters have refilled are dropped every minute, during a check, so that the
/// memory held follows the keys active in the last period rather than every key ever seen.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    governor: Governor<K>,
    sweep: Sweep,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter allowing `rate` per key.
    pub fn new(rate: Rate) -> Self {
        KeyedLimiter {
            governor: RateLimiter::keyed(rate.quota())
                .with_middleware::<StateInformationMiddleware>(),
            sweep: Sweep::new(),
        }
    }

    /// Counts one request of `key`.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when `key` is over its rate, with the time until its next
    /// request would be allowed; that request was not counted.
    pub fn check(&self, key: &K) -> Result<()> {
        self.take(key).map(|_| ())
    }

    /// Counts one request of `key`; on success, how many more it may make at once.
    fn take(&self, key: &K) -> Result<u32> {
        if self.sweep.due() {
            self.retain_recent();
        }
        match self.governor.check_key(key) {
            Ok(state) => Ok(state.remaining_burst_capacity()),
            Err(not_until) => Err(Error::RateLimited {
                retry_after: not_until.wait_time_from(self.governor.clock().now()),
            }),
        }
    }

    /// Drops the keys whose counters have refilled (as if never seen).
    pub fn retain_recent(&self) {
        self.governor.retain_recent();
        self.governor.shrink_to_fit();
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.governor.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.governor.is_empty()
    }
}

impl<K: Hash + Eq + Clone> fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("keys", &self.len())
            .finish()
    }
}

/// Says when a periodic clean-up is due, to exactly one caller.
struct Sweep {
    start: Instant,
    next_ms: AtomicU64,
}

impl Sweep {
    fn new() -> Self {
        Sweep {
            start: Instant::now(),
            next_ms: AtomicU64::new(millis(SWEEP_EVERY)),
        }
    }

    fn due(&self) -> bool {
        let now = millis(self.start.elapsed());
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + millis(SWEEP_EVERY),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// FailureGate
// ---------------------------------------------------------------------------------------------

/// Counts failures per key (wrong passwords, answers that reveal something) and locks the key
/// for a while once `rate` is used up: while locked, every attempt is refused before it runs.
pub(super) struct FailureGate<K: Hash + Eq + Clone> {
    failures: KeyedLimiter<K>,
    lockout: Duration,
    locked: Mutex<HashMap<K, Instant>>,
    /// With `Some`, attempts of one key run one at a time, so that concurrent guesses cannot
    /// all pass the lockout check before the first failure is counted.
    turns: Option<Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>>,
}

impl<K: Hash + Eq + Clone> FailureGate<K> {
    pub(super) fn new(rate: Rate, lockout: Duration, one_at_a_time: bool) -> Self {
        FailureGate {
            failures: KeyedLimiter::new(rate),
            lockout,
            locked: Mutex::new(HashMap::new()),
            turns: one_at_a_time.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// Runs `attempt` unless `key` is locked; counts it when `failed` says it failed.
    pub(super) async fn guard<T>(
        &self,
        key: K,
        attempt: impl Future<Output = Result<T>>,
        failed: impl FnOnce(&Result<T>) -> bool,
    ) -> Result<T> {
        let _turn = self.turn(&key).await;
        self.check_unlocked(&key)?;
        let result = attempt.await;
        if failed(&result) {
            self.record_failure(key);
        }
        result
    }

    pub(super) fn check_unlocked(&self, key: &K) -> Result<()> {
        let mut locked = lock(&self.locked);
        let now = Instant::now();
        match locked.get(key) {
            Some(until) if *until > now => Err(Error::RateLimited {
                retry_after: *until - now,
            }),
            Some(_) => {
                locked.remove(key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub(super) fn record_failure(&self, key: K) {
        // The failure that uses up the rate starts the lockout.
        if matches!(self.failures.take(&key), Ok(0) | Err(_)) {
            let mut locked = lock(&self.locked);
            let now = Instant::now();
            locked.retain(|_, until| *until > now);
            locked.insert(key, now + self.lockout);
        }
    }

    pub(super) async fn turn(&self, key: &K) -> Option<Turn<'_, K>> {
        let turns = self.turns.as_ref()?;
        let mutex = lock(turns).entry(key.clone()).or_default().clone();
        let held = mutex.clone().lock_owned().await;
        Some(Turn {
            turns,
            key: key.clone(),
            mutex,
            held: Some(held),
        })
    }

    pub(super) fn retain_recent(&self) {
        self.failures.retain_recent();
        let now = Instant::now();
        lock(&self.locked).retain(|_, until| *until > now);
    }

    pub(super) fn len(&self) -> usize {
        self.failures.len() + lock(&self.locked).len()
    }
}

/// One attempt's turn on its key; the key's entry goes when nobody else waits for it, also
/// when the attempt is cancelled.
pub(super) struct Turn<'a, K: Hash + Eq> {
    turns: &'a Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    key: K,
    mutex: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<K: Hash + Eq> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        self.held.take();
        let mut turns = lock(self.turns);
        // Ours and the map's: nobody else holds or waits for this key.
        if Arc::strong_count(&self.mutex) == 2 {
            turns.remove(&self.key);
        }
    }
}
