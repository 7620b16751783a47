//! Rate limits per account and per user, for every transport.
//!
//! [`RateLimited`] wraps any [`Service`] and implements it by delegation, checking the limits
//! of [`RateLimits`] first; a request over a limit gets [`Error::RateLimited`] with how long
//! to wait (HTTP: 429 `rate_limited` with `Retry-After`) and changes nothing. Because the
//! limits live here rather than in a transport, REST, WebSocket and any other transport over
//! the same service share them.
//!
//! ```
//! # async fn run() -> chatcore::Result<()> {
//! use std::sync::Arc;
//!
//! use chatcore::Service;
//! use chatcore::limits::{Rate, RateLimited, RateLimits};
//!
//! let db = chatcore::sea_orm::Database::connect("sqlite::memory:").await?;
//! let core = chatcore::ChatCore::open(db, chatcore::Options::default()).await?;
//! let mut limits = RateLimits::default();
//! limits.sends = Rate::per_minute(120);
//! let service: Arc<dyn Service> = Arc::new(RateLimited::new(core, limits));
//! # Ok(()) }
//! ```
//!
//! Limits per client address (how many logins one IP may try) belong to the transport, which
//! knows the address: `chatcore-http` has them. A transport that knows the client's address
//! runs each request inside [`with_client`], so that the limits here which have no account to
//! go by (answers to registrations) can key by it.
//!
//! Counters live in memory, per process: behind a load balancer each node counts on its own.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::avatars::{AvatarImage, AvatarSize};
use crate::chats::{ChatDetail, ChatListItem, DirectChat, Member};
use crate::contacts::ListedUser;
use crate::events::EventStream;
use crate::groups::{AssignableRole, ChatTitle, CreateGroup};
use crate::invites::{CreateInvite, Invite, InviteCode, InvitePreview, JoinedGroup};
use crate::messages::{
    Emoji, ForwardMessage, HistoryQuery, Message, MessageText, ReactionCount, ReadMarker,
    ReadReceipt, SendMessage,
};
use crate::moderation::{NewReport, Report, ReportQuery};
use crate::pagination::{Page, PageRequest};
use crate::sessions::{Caller, NewSession, Session, SessionOptions};
use crate::users::{
    Authenticated, ExternalId, ExternalUser, Login, Password, ProfileUpdate, Register, Role, User,
    UserProfile, UserRef, UserSearch,
};
use crate::{ChatId, Error, MessageId, ReportId, Result, Service, SessionId, UserId};

/// The longest login (username or email) accepted, in characters; longer ones are
/// [`Error::InvalidInput`] before any lookup or hashing.
pub const MAX_LOGIN_CHARS: usize = 320;

/// The longest password accepted where one is checked (login, change of password,
/// unregister), in characters; longer ones are [`Error::InvalidInput`] before any hashing.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// How often idle counters are dropped, so that keys seen once do not stay in memory.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Rate
// ---------------------------------------------------------------------------------------------

/// A rate: `count` in a burst, refilled evenly over `per` (a generic cell rate: 60 per minute
/// allows 60 at once, then one a second).
///
/// Written and parsed as `COUNT/PERIOD`, e.g. `60/1m`, `3/1h`, `10/15m`, `5/30s` (units `ms`,
/// `s`, `m`, `h`, `d`; a bare unit means one of it: `20/m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    per: Duration,
}

impl Rate {
    /// `count` per `per`. A count of 0 counts as 1, and a period under a millisecond as one
    /// millisecond.
    pub fn new(count: u32, per: Duration) -> Rate {
        Rate {
            count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
            per: per.max(Duration::from_millis(1)),
        }
    }

    /// `count` per second.
    pub fn per_second(count: u32) -> Rate {
        Rate::new(count, Duration::from_secs(1))
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Rate {
        Rate::new(count, Duration::from_secs(60))
    }

    /// `count` per hour.
    pub fn per_hour(count: u32) -> Rate {
        Rate::new(count, Duration::from_secs(3600))
    }

    /// How many in a burst.
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// Over how long the burst refills.
    pub fn per(&self) -> Duration {
        self.per
    }

    fn quota(&self) -> Quota {
        let cell = (self.per / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(cell)
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.per))
    }
}

impl FromStr for Rate {
    type Err = Error;

    /// Parses `COUNT/PERIOD`, e.g. `60/1m`.
    fn from_str(s: &str) -> Result<Rate> {
        let invalid = || Error::invalid("rate", "expected COUNT/PERIOD, like 60/1m or 3/1h");
        let (count, per) = s.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        if count == 0 {
            return Err(Error::invalid("rate", "the count must be at least 1"));
        }
        let per = per.trim();
        // A bare unit is one of it: `20/m`.
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            parse_duration(per)?
        } else {
            parse_duration(&format!("1{per}"))?
        };
        Ok(Rate::new(count, per))
    }
}

/// Parses a duration such as `500ms`, `30s`, `15m`, `1h` or `1d`; a bare number is seconds.
///
/// # Errors
/// [`Error::InvalidInput`] (`duration`) for anything else, or a zero duration.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let invalid = || {
        Error::invalid(
            "duration",
            "expected a number with a unit (ms, s, m, h, d), like 30s or 15m",
        )
    };
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" | "hour" => 3_600_000,
        "d" | "day" => 86_400_000,
        _ => return Err(invalid()),
    };
    let millis = number.checked_mul(unit_ms).ok_or_else(invalid)?;
    if millis == 0 {
        return Err(Error::invalid("duration", "must be longer than zero"));
    }
    Ok(Duration::from_millis(millis))
}

/// The shortest of `1d`, `3h`, `15m`, `30s`, `250ms` that says exactly `duration`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

// ---------------------------------------------------------------------------------------------
// RateLimits
// ---------------------------------------------------------------------------------------------

/// The limits [`RateLimited`] enforces. Start from `RateLimits::default()`, whose values are
/// meant to be kept by a real deployment: a person never meets them, a script does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Failed logins per account (the login as typed, trimmed and lowercased) before the
    /// account's logins are locked for [`lockout`](RateLimits::lockout). Only failures count;
    /// during a lockout every login for it is refused, the right password included, and a
    /// success does not end it. Concurrent logins to one account are tried one at a time, so
    /// no more than this many guesses are ever checked. Default: 10 per 15 minutes.
    pub login_failures: Rate,
    /// Wrong current passwords per user in [`change_password`](Service::change_password) and
    /// [`unregister`](Service::unregister) before both are locked for
    /// [`lockout`](RateLimits::lockout). Default: 5 per 15 minutes.
    pub password_failures: Rate,
    /// How long a lockout lasts: after too many failed logins or password guesses, or too many
    /// answers that an email is taken. Default: 15 minutes.
    pub lockout: Duration,
    /// Password-reset requests per login (trimmed, lowercased), whether or not the account
    /// exists. Default: 3 per hour.
    pub password_reset_requests: Rate,
    /// Verification requests per user. Default: 3 per hour.
    pub verification_requests: Rate,
    /// Messages sent per user, forwards included. Default: 60 per minute.
    pub sends: Rate,
    /// Avatar uploads per user. Default: 10 per hour.
    pub avatar_uploads: Rate,
    /// Contacts added and users blocked, per user. Default: 200 per hour.
    pub contact_adds: Rate,
    /// Groups created per user. Default: 50 per hour.
    pub group_creations: Rate,
    /// Invite links created per user. Default: 100 per hour.
    pub invite_creations: Rate,
    /// Answers that an email is taken (`user_already_exists` for `email`, from
    /// [`register`](Service::register) and [`update_profile`](Service::update_profile)) per
    /// caller: per user for profile updates, per client address (see [`with_client`]) for
    /// registrations. After that many, every request of that caller that names an email is
    /// refused for [`lockout`](RateLimits::lockout), taken or not, so that the refusal says
    /// nothing either. The 409 answer itself stays. Default: 5 per hour.
    pub taken_email_answers: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login_failures: Rate::new(10, Duration::from_secs(15 * 60)),
            password_failures: Rate::new(5, Duration::from_secs(15 * 60)),
            lockout: Duration::from_secs(15 * 60),
            password_reset_requests: Rate::per_hour(3),
            verification_requests: Rate::per_hour(3),
            sends: Rate::per_minute(60),
            avatar_uploads: Rate::per_hour(10),
            contact_adds: Rate::per_hour(200),
            group_creations: Rate::per_hour(50),
            invite_creations: Rate::per_hour(100),
            taken_email_answers: Rate::per_hour(5),
        }
    }
}

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
struct FailureGate<K: Hash + Eq + Clone> {
    failures: KeyedLimiter<K>,
    lockout: Duration,
    locked: Mutex<HashMap<K, Instant>>,
    /// With `Some`, attempts of one key run one at a time, so that concurrent guesses cannot
    /// all pass the lockout check before the first failure is counted.
    turns: Option<Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>>,
}

impl<K: Hash + Eq + Clone> FailureGate<K> {
    fn new(rate: Rate, lockout: Duration, one_at_a_time: bool) -> Self {
        FailureGate {
            failures: KeyedLimiter::new(rate),
            lockout,
            locked: Mutex::new(HashMap::new()),
            turns: one_at_a_time.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// Runs `attempt` unless `key` is locked; counts it when `failed` says it failed.
    async fn guard<T>(
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

    fn check_unlocked(&self, key: &K) -> Result<()> {
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

    fn record_failure(&self, key: K) {
        // The failure that uses up the rate starts the lockout.
        if matches!(self.failures.take(&key), Ok(0) | Err(_)) {
            let mut locked = lock(&self.locked);
            let now = Instant::now();
            locked.retain(|_, until| *until > now);
            locked.insert(key, now + self.lockout);
        }
    }

    async fn turn(&self, key: &K) -> Option<Turn<'_, K>> {
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

    fn retain_recent(&self) {
        self.failures.retain_recent();
        let now = Instant::now();
        lock(&self.locked).retain(|_, until| *until > now);
    }

    fn len(&self) -> usize {
        self.failures.len() + lock(&self.locked).len()
    }
}

/// One attempt's turn on its key; the key's entry goes when nobody else waits for it, also
/// when the attempt is cancelled.
struct Turn<'a, K: Hash + Eq> {
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

// ---------------------------------------------------------------------------------------------
// The client's address
// ---------------------------------------------------------------------------------------------

tokio::task_local! {
    static CLIENT: IpAddr;
}

/// Runs `future` (one request) as coming from `client`: limits that have no account to key by
/// (answers to registrations) then count per address. Transports that know the address use
/// it; without it those limits count every such request together.
pub async fn with_client<F: Future>(client: IpAddr, future: F) -> F::Output {
    CLIENT.scope(client, future).await
}

/// The address set by [`with_client`] for the request being served, if any.
pub fn current_client() -> Option<IpAddr> {
    CLIENT.try_with(|client| *client).ok()
}

/// Who asks, for limits that also apply before there is an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Asker {
    User(UserId),
    Client(IpAddr),
    Unknown,
}

impl Asker {
    fn current() -> Asker {
        current_client().map_or(Asker::Unknown, Asker::Client)
    }
}

// ---------------------------------------------------------------------------------------------
// RateLimited
// ---------------------------------------------------------------------------------------------

struct Limiters {
    settings: RateLimits,
    logins: FailureGate<String>,
    passwords: FailureGate<UserId>,
    taken_emails: FailureGate<Asker>,
    password_resets: KeyedLimiter<String>,
    verifications: KeyedLimiter<UserId>,
    sends: KeyedLimiter<UserId>,
    avatars: KeyedLimiter<UserId>,
    contacts: KeyedLimiter<UserId>,
    groups: KeyedLimiter<UserId>,
    invites: KeyedLimiter<UserId>,
}

/// A [`Service`] with [`RateLimits`]: every method delegates to the wrapped service after the
/// limits that apply to it are checked. A refused request gets [`Error::RateLimited`] and
/// reaches nothing, and the wrapped service's contract holds otherwise.
///
/// What is limited, and by what key:
///
/// | operation | key | limit |
/// |---|---|---|
/// | [`login`](Service::login) | the login, trimmed and lowercased | [`login_failures`](RateLimits::login_failures), then [`lockout`](RateLimits::lockout) |
/// | [`change_password`](Service::change_password), [`unregister`](Service::unregister) | user | [`password_failures`](RateLimits::password_failures), then [`lockout`](RateLimits::lockout) |
/// | [`request_password_reset`](Service::request_password_reset) | the login, trimmed and lowercased | [`password_reset_requests`](RateLimits::password_reset_requests) |
/// | [`request_verification`](Service::request_verification) | user | [`verification_requests`](RateLimits::verification_requests) |
/// | [`send_message`](Service::send_message), [`forward_message`](Service::forward_message) | user | [`sends`](RateLimits::sends) |
/// | [`set_avatar`](Service::set_avatar) | user | [`avatar_uploads`](RateLimits::avatar_uploads) |
/// | [`add_contact`](Service::add_contact), [`block_user`](Service::block_user) | user | [`contact_adds`](RateLimits::contact_adds) |
/// | [`create_group`](Service::create_group) | user | [`group_creations`](RateLimits::group_creations) |
/// | [`create_invite`](Service::create_invite) | user | [`invite_creations`](RateLimits::invite_creations) |
/// | [`register`](Service::register), [`update_profile`](Service::update_profile) with an email | client address / user | [`taken_email_answers`](RateLimits::taken_email_answers), then [`lockout`](RateLimits::lockout) |
///
/// Logins longer than [`MAX_LOGIN_CHARS`] and passwords longer than [`MAX_PASSWORD_CHARS`]
/// are [`Error::InvalidInput`] before anything else.
pub struct RateLimited<S> {
    inner: S,
    limits: Limiters,
}

impl<S: Service> RateLimited<S> {
    /// Wraps `inner` with `limits`.
    pub fn new(inner: S, limits: RateLimits) -> Self {
        let lockout = limits.lockout;
        RateLimited {
            inner,
            limits: Limiters {
                logins: FailureGate::new(limits.login_failures, lockout, true),
                passwords: FailureGate::new(limits.password_failures, lockout, true),
                taken_emails: FailureGate::new(limits.taken_email_answers, lockout, false),
                password_resets: KeyedLimiter::new(limits.password_reset_requests),
                verifications: KeyedLimiter::new(limits.verification_requests),
                sends: KeyedLimiter::new(limits.sends),
                avatars: KeyedLimiter::new(limits.avatar_uploads),
                contacts: KeyedLimiter::new(limits.contact_adds),
                groups: KeyedLimiter::new(limits.group_creations),
                invites: KeyedLimiter::new(limits.invite_creations),
                settings: limits,
            },
        }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The limits in force.
    pub fn limits(&self) -> &RateLimits {
        &self.limits.settings
    }

    /// Drops every counter that has refilled and every lockout that has ended (this also
    /// happens by itself about once a minute).
    pub fn retain_recent(&self) {
        let limits = &self.limits;
        limits.logins.retain_recent();
        limits.passwords.retain_recent();
        limits.taken_emails.retain_recent();
        for limiter in [
            &limits.verifications,
            &limits.sends,
            &limits.avatars,
            &limits.contacts,
            &limits.groups,
            &limits.invites,
        ] {
            limiter.retain_recent();
        }
        limits.password_resets.retain_recent();
    }

    /// How many keys (users, logins, addresses) the counters and lockouts hold.
    pub fn tracked_keys(&self) -> usize {
        let limits = &self.limits;
        limits.logins.len()
            + limits.passwords.len()
            + limits.taken_emails.len()
            + limits.password_resets.len()
            + [
                &limits.verifications,
                &limits.sends,
                &limits.avatars,
                &limits.contacts,
                &limits.groups,
                &limits.invites,
            ]
            .iter()
            .map(|limiter| limiter.len())
            .sum::<usize>()
    }
}

impl<S> fmt::Debug for RateLimited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("limits", &self.limits.settings)
            .finish_non_exhaustive()
    }
}

/// The key of a login: how the service finds the account (trimmed, lowercased).
fn login_key(login: &str, field: &'static str) -> Result<String> {
    if login.chars().nth(MAX_LOGIN_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_LOGIN_CHARS} characters long"),
        ));
    }
    Ok(login.trim().to_lowercase())
}

fn check_password_length(password: &str, field: &'static str) -> Result<()> {
    if password.chars().nth(MAX_PASSWORD_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

fn wrong_password<T>(result: &Result<T>) -> bool {
    matches!(result, Err(Error::InvalidLogin))
}

fn email_taken<T>(result: &Result<T>) -> bool {
    matches!(result, Err(Error::UserAlreadyExists { field: "email" }))
}

#[async_trait]
impl<S: Service> Service for RateLimited<S> {
    async fn register(&self, request: Register) -> Result<Authenticated> {
        if request.email.is_none() {
            return self.inner.register(request).await;
        }
        self.limits
            .taken_emails
            .guard(Asker::current(), self.inner.register(request), email_taken)
            .await
    }

    async fn login(&self, request: Login) -> Result<Authenticated> {
        let key = login_key(&request.login, "login")?;
        check_password_length(&request.password, "password")?;
        self.limits
            .logins
            .guard(key, self.inner.login(request), wrong_password)
            .await
    }

    async fn authenticate(&self, token: &str) -> Result<Caller> {
        self.inner.authenticate(token).await
    }

    async fn logout(&self, caller: &Caller) -> Result<()> {
        self.inner.logout(caller).await
    }

    async fn get_me(&self, caller: &Caller) -> Result<User> {
        self.inner.get_me(caller).await
    }

    async fn get_user(&self, caller: &Caller, user_id: UserId) -> Result<UserProfile> {
        self.inner.get_user(caller, user_id).await
    }

    async fn update_profile(&self, caller: &Caller, update: ProfileUpdate) -> Result<User> {
        if !matches!(update.email, Some(Some(_))) {
            return self.inner.update_profile(caller, update).await;
        }
        self.limits
            .taken_emails
            .guard(
                Asker::User(caller.user_id()),
                self.inner.update_profile(caller, update),
                email_taken,
            )
            .await
    }

    async fn search_users(&self, caller: &Caller, search: UserSearch) -> Result<Page<UserProfile>> {
        self.inner.search_users(caller, search).await
    }

    async fn unregister(&self, caller: &Caller, password: &str) -> Result<()> {
        check_password_length(password, "password")?;
        self.limits
            .passwords
            .guard(
                caller.user_id(),
                self.inner.unregister(caller, password),
                wrong_password,
            )
            .await
    }

    async fn set_avatar(&self, caller: &Caller, image: Vec<u8>) -> Result<User> {
        self.limits.avatars.check(&caller.user_id())?;
        self.inner.set_avatar(caller, image).await
    }

    // Forwarded as a file, so that the wrapped service reads it only when its turn comes
    // (the trait's default would read it into memory first).
    async fn set_avatar_file(&self, caller: &Caller, image: std::fs::File) -> Result<User> {
        self.limits.avatars.check(&caller.user_id())?;
        self.inner.set_avatar_file(caller, image).await
    }

    async fn remove_avatar(&self, caller: &Caller) -> Result<User> {
        self.inner.remove_avatar(caller).await
    }

    async fn get_avatar(
        &self,
        caller: &Caller,
        user_id: UserId,
        size: AvatarSize,
    ) -> Result<AvatarImage> {
        self.inner.get_avatar(caller, user_id, size).await
    }

    async fn upsert_external_user(&self, user: ExternalUser) -> Result<User> {
        self.inner.upsert_external_user(user).await
    }

    async fn open_external_session(
        &self,
        external_id: &ExternalId,
        options: SessionOptions,
    ) -> Result<NewSession> {
        self.inner.open_external_session(external_id, options).await
    }

    async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>> {
        self.inner.list_sessions(caller).await
    }

    async fn revoke_session(&self, caller: &Caller, session_id: SessionId) -> Result<()> {
        self.inner.revoke_session(caller, session_id).await
    }

    async fn start_direct_chat(&self, caller: &Caller, user_id: UserId) -> Result<DirectChat> {
        self.inner.start_direct_chat(caller, user_id).await
    }

    async fn list_chats(&self, caller: &Caller, page: PageRequest) -> Result<Page<ChatListItem>> {
        self.inner.list_chats(caller, page).await
    }

    async fn get_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<ChatDetail> {
        self.inner.get_chat(caller, chat_id).await
    }

    async fn hide_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        self.inner.hide_chat(caller, chat_id).await
    }

    async fn create_group(&self, caller: &Caller, group: CreateGroup) -> Result<ChatDetail> {
        self.limits.groups.check(&caller.user_id())?;
        self.inner.create_group(caller, group).await
    }

    async fn rename_group(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<ChatDetail> {
        self.inner.rename_group(caller, chat_id, title).await
    }

    async fn delete_group(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        self.inner.delete_group(caller, chat_id).await
    }

    async fn add_member(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Member> {
        self.inner.add_member(caller, chat_id, user_id).await
    }

    async fn remove_member(&self, caller: &Caller, chat_id: ChatId, user_id: UserId) -> Result<()> {
        self.inner.remove_member(caller, chat_id, user_id).await
    }

    async fn set_member_role(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
        role: AssignableRole,
    ) -> Result<Member> {
        self.inner
            .set_member_role(caller, chat_id, user_id, role)
            .await
    }

    async fn list_members(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Member>> {
        self.inner.list_members(caller, chat_id).await
    }

    async fn send_message(&self, caller: &Caller, message: SendMessage) -> Result<Message> {
        self.limits.sends.check(&caller.user_id())?;
        self.inner.send_message(caller, message).await
    }

    async fn list_messages(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        query: HistoryQuery,
    ) -> Result<Vec<Message>> {
        self.inner.list_messages(caller, chat_id, query).await
    }

    async fn delete_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<()> {
        self.inner.delete_message(caller, chat_id, message_id).await
    }

    async fn change_password(&self, caller: &Caller, current: &str, new: Password) -> Result<()> {
        check_password_length(current, "current_password")?;
        self.limits
            .passwords
            .guard(
                caller.user_id(),
                self.inner.change_password(caller, current, new),
                wrong_password,
            )
            .await
    }

    async fn request_password_reset(&self, login: &str) -> Result<()> {
        let key = login_key(login, "login")?;
        self.limits.password_resets.check(&key)?;
        self.inner.request_password_reset(login).await
    }

    async fn confirm_password_reset(&self, token: &str, new_password: Password) -> Result<()> {
        self.inner.confirm_password_reset(token, new_password).await
    }

    async fn request_verification(&self, caller: &Caller) -> Result<()> {
        self.limits.verifications.check(&caller.user_id())?;
        self.inner.request_verification(caller).await
    }

    async fn confirm_verification(&self, token: &str) -> Result<()> {
        self.inner.confirm_verification(token).await
    }

    async fn add_contact(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        self.limits.contacts.check(&caller.user_id())?;
        self.inner.add_contact(caller, user_id).await
    }

    async fn remove_contact(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.remove_contact(caller, user_id).await
    }

    async fn list_contacts(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        self.inner.list_contacts(caller, page).await
    }

    async fn block_user(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        self.limits.contacts.check(&caller.user_id())?;
        self.inner.block_user(caller, user_id).await
    }

    async fn unblock_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.unblock_user(caller, user_id).await
    }

    async fn list_blocks(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        self.inner.list_blocks(caller, page).await
    }

    async fn create_invite(&self, caller: &Caller, invite: CreateInvite) -> Result<Invite> {
        self.limits.invites.check(&caller.user_id())?;
        self.inner.create_invite(caller, invite).await
    }

    async fn list_invites(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Invite>> {
        self.inner.list_invites(caller, chat_id).await
    }

    async fn revoke_invite(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        code: &InviteCode,
    ) -> Result<()> {
        self.inner.revoke_invite(caller, chat_id, code).await
    }

    async fn preview_invite(&self, caller: &Caller, code: &InviteCode) -> Result<InvitePreview> {
        self.inner.preview_invite(caller, code).await
    }

    async fn accept_invite(&self, caller: &Caller, code: &InviteCode) -> Result<JoinedGroup> {
        self.inner.accept_invite(caller, code).await
    }

    async fn forward_message(&self, caller: &Caller, forward: ForwardMessage) -> Result<Message> {
        self.limits.sends.check(&caller.user_id())?;
        self.inner.forward_message(caller, forward).await
    }

    async fn edit_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        text: MessageText,
    ) -> Result<Message> {
        self.inner
            .edit_message(caller, chat_id, message_id, text)
            .await
    }

    async fn add_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        self.inner
            .add_reaction(caller, chat_id, message_id, emoji)
            .await
    }

    async fn remove_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        self.inner
            .remove_reaction(caller, chat_id, message_id, emoji)
            .await
    }

    async fn mark_read(&self, caller: &Caller, chat_id: ChatId, seq: i64) -> Result<ReadMarker> {
        self.inner.mark_read(caller, chat_id, seq).await
    }

    async fn list_read_receipts(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Vec<ReadReceipt>> {
        self.inner
            .list_read_receipts(caller, chat_id, message_id)
            .await
    }

    async fn send_typing(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        self.inner.send_typing(caller, chat_id).await
    }

    async fn create_report(&self, caller: &Caller, report: NewReport) -> Result<Report> {
        self.inner.create_report(caller, report).await
    }

    async fn list_reports(&self, caller: &Caller, query: ReportQuery) -> Result<Page<Report>> {
        self.inner.list_reports(caller, query).await
    }

    async fn resolve_report(
        &self,
        caller: &Caller,
        report_id: ReportId,
        resolution: Option<String>,
    ) -> Result<Report> {
        self.inner
            .resolve_report(caller, report_id, resolution)
            .await
    }

    async fn deactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.deactivate_user(caller, user_id).await
    }

    async fn reactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.reactivate_user(caller, user_id).await
    }

    async fn set_server_role(&self, user: UserRef, role: Role) -> Result<User> {
        self.inner.set_server_role(user, role).await
    }

    async fn subscribe(&self, caller: &Caller, since: Option<i64>) -> Result<EventStream> {
        self.inner.subscribe(caller, since).await
    }

    async fn readiness(&self) -> crate::Readiness {
        self.inner.readiness().await
    }

    fn live_subscriptions(&self) -> usize {
        self.inner.live_subscriptions()
    }
}

#[cfg(test)]
// Limits are set field by field, as code outside the crate must (the struct is non-exhaustive).
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::users::{Email, Username};
    use crate::{ChatCore, Options};

    const SECRET: &str = "a long enough secret";

    async fn limited(limits: RateLimits) -> RateLimited<ChatCore> {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let core = ChatCore::open(db, Options::default()).await.unwrap();
        RateLimited::new(core, limits)
    }

    /// Registers straight on the wrapped service (no limit involved) and signs in.
    async fn signup(chat: &RateLimited<ChatCore>, name: &str) -> Caller {
        let mut request = Register::new(
            Username::parse(name).unwrap(),
            Password::parse(SECRET).unwrap(),
        );
        request.email = Some(Email::parse(format!("{name}@example.com")).unwrap());
        let auth = chat.inner().register(request).await.unwrap();
        chat.authenticate(&auth.session.token).await.unwrap()
    }

    fn login(name: &str, password: &str) -> Login {
        Login {
            login: name.to_owned(),
            password: password.to_owned(),
            user_agent: None,
        }
    }

    fn wait_of(error: Error) -> Duration {
        match error {
            Error::RateLimited { retry_after } => retry_after,
            other => panic!("expected rate_limited, got {other:?}"),
        }
    }

    #[test]
    fn rates_parse_and_print() {
        assert_eq!("60/1m".parse::<Rate>().unwrap(), Rate::per_minute(60));
        assert_eq!("20/m".parse::<Rate>().unwrap(), Rate::per_minute(20));
        assert_eq!("3/h".parse::<Rate>().unwrap(), Rate::per_hour(3));
        assert_eq!(
            " 10 / 15m ".parse::<Rate>().unwrap(),
            Rate::new(10, Duration::from_secs(900))
        );
        assert_eq!(
            "5/250ms".parse::<Rate>().unwrap(),
            Rate::new(5, Duration::from_millis(250))
        );
        for bad in ["", "60", "0/1m", "x/1m", "60/1w", "60/0s", "-1/1m"] {
            assert_eq!(
                bad.parse::<Rate>().unwrap_err().code(),
                "invalid_input",
                "{bad}"
            );
        }
        for rate in ["60/1m", "10/15m", "3/1h", "5/250ms", "7/1d", "2/90s"] {
            assert_eq!(rate.parse::<Rate>().unwrap().to_string(), rate);
        }
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_keyed_limiter_trips_per_key_and_refills() {
        let limiter = KeyedLimiter::new(Rate::new(2, Duration::from_millis(400)));
        limiter.check(&"ada").unwrap();
        limiter.check(&"ada").unwrap();
        let wait = wait_of(limiter.check(&"ada").unwrap_err());
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Another key has its own budget.
        limiter.check(&"bob").unwrap();
        std::thread::sleep(wait + Duration::from_millis(20));
        limiter.check(&"ada").unwrap();
    }

    #[test]
    fn idle_keys_are_dropped() {
        let limiter = KeyedLimiter::new(Rate::new(1, Duration::from_millis(50)));
        for key in 0..1000 {
            limiter.check(&key).unwrap();
        }
        assert_eq!(limiter.len(), 1000);
        std::thread::sleep(Duration::from_millis(120));
        limiter.retain_recent();
        assert!(limiter.is_empty(), "{} keys left", limiter.len());
    }

    #[tokio::test]
    async fn failed_logins_lock_the_account_until_the_lockout_ends() {
        let mut limits = RateLimits::default();
        limits.login_failures = Rate::per_hour(3);
        limits.lockout = Duration::from_millis(1500);
        let chat = limited(limits).await;
        signup(&chat, "ada").await;
        signup(&chat, "bob").await;
        for _ in 0..3 {
            let error = chat
                .login(login("ada", "wrong password"))
                .await
                .unwrap_err();
            assert_eq!(error.code(), "invalid_login");
        }
        // Locked: the right password is refused too, in any spelling of the login.
        let wait = wait_of(chat.login(login("ada", SECRET)).await.unwrap_err());
        assert!(wait <= Duration::from_millis(1500), "{wait:?}");
        wait_of(chat.login(login(" ADA ", SECRET)).await.unwrap_err());
        // A success elsewhere changes nothing; other accounts are not affected.
        chat.login(login("bob", SECRET)).await.unwrap();
        wait_of(chat.login(login("ada", SECRET)).await.unwrap_err());

        tokio::time::sleep(Duration::from_millis(1600)).await;
        chat.login(login("ada", SECRET)).await.unwrap();
        // The failures have not refilled yet: one more wrong guess locks again at once.
        chat.login(login("ada", "wrong again")).await.unwrap_err();
        wait_of(chat.login(login("ada", SECRET)).await.unwrap_err());
    }

    #[tokio::test]
    async fn concurrent_guesses_check_no_more_passwords_than_allowed() {
        let mut limits = RateLimits::default();
        limits.login_failures = Rate::per_hour(3);
        let chat = Arc::new(limited(limits).await);
        signup(&chat, "ada").await;
        let guesses = (0..12).map(|n| {
            let chat = chat.clone();
            tokio::spawn(async move { chat.login(login("ada", &format!("guess {n}"))).await })
        });
        let mut checked = 0;
        let mut refused = 0;
        for guess in guesses {
            match guess.await.unwrap().unwrap_err() {
                Error::InvalidLogin => checked += 1,
                Error::RateLimited { .. } => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((checked, refused), (3, 9));
    }

    #[tokio::test]
    async fn overlong_logins_and_passwords_are_refused_before_anything() {
        let mut limits = RateLimits::default();
        limits.login_failures = Rate::per_hour(1);
        let chat = limited(limits).await;
        signup(&chat, "ada").await;
        let long_login = "a".repeat(MAX_LOGIN_CHARS + 1);
        let error = chat.login(login(&long_login, SECRET)).await.unwrap_err();
        assert_eq!(error.field(), Some("login"));
        let long_password = "p".repeat(MAX_PASSWORD_CHARS + 1);
        let error = chat.login(login("ada", &long_password)).await.unwrap_err();
        assert_eq!(error.field(), Some("password"));
        let error = chat.request_password_reset(&long_login).await.unwrap_err();
        assert_eq!(error.field(), Some("login"));
        // None of them counted as a failure.
        chat.login(login("ada", SECRET)).await.unwrap();
    }

    #[tokio::test]
    async fn wrong_current_passwords_lock_change_and_unregister() {
        let mut limits = RateLimits::default();
        limits.password_failures = Rate::per_hour(2);
        limits.lockout = Duration::from_millis(1000);
        let chat = limited(limits).await;
        let ada = signup(&chat, "ada").await;
        let bob = signup(&chat, "bob").await;
        let new = Password::parse("another long secret").unwrap();
        let error = chat
            .change_password(&ada, "wrong password", new.clone())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_login");
        let error = chat.unregister(&ada, "wrong password").await.unwrap_err();
        assert_eq!(error.code(), "invalid_login");
        wait_of(
            chat.change_password(&ada, SECRET, new.clone())
                .await
                .unwrap_err(),
        );
        wait_of(chat.unregister(&ada, SECRET).await.unwrap_err());
        chat.change_password(&bob, SECRET, new.clone())
            .await
            .unwrap();

        tokio::time::sleep(Duration::from_millis(1100)).await;
        chat.change_password(&ada, SECRET, new).await.unwrap();
    }

    #[tokio::test]
    async fn reset_requests_are_limited_per_login_whether_or_not_it_exists() {
        let mut limits = RateLimits::default();
        limits.password_reset_requests = Rate::new(2, Duration::from_secs(4));
        let chat = limited(limits).await;
        signup(&chat, "ada").await;
        chat.request_password_reset("ada").await.unwrap();
        chat.request_password_reset(" ADA").await.unwrap();
        let wait = wait_of(chat.request_password_reset("ada").await.unwrap_err());
        chat.request_password_reset("nobody").await.unwrap();
        chat.request_password_reset("nobody").await.unwrap();
        wait_of(chat.request_password_reset("nobody").await.unwrap_err());

        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        chat.request_password_reset("ada").await.unwrap();
    }

    #[tokio::test]
    async fn sends_and_forwards_share_a_rate_per_user() {
        let mut limits = RateLimits::default();
        limits.sends = Rate::new(2, Duration::from_secs(4));
        let chat = limited(limits).await;
        let ada = signup(&chat, "ada").await;
        let bob = signup(&chat, "bob").await;
        let direct = chat.start_direct_chat(&ada, bob.user_id()).await.unwrap();
        let send =
            |text: &str| SendMessage::new(direct.chat.chat.id, MessageText::parse(text).unwrap());
        let first = chat.send_message(&ada, send("one")).await.unwrap();
        chat.send_message(&ada, send("two")).await.unwrap();
        let wait = wait_of(chat.send_message(&ada, send("three")).await.unwrap_err());
        let forward = ForwardMessage {
            chat_id: direct.chat.chat.id,
            message_id: first.id,
            to_chat_id: direct.chat.chat.id,
            client_id: None,
        };
        wait_of(
            chat.forward_message(&ada, forward.clone())
                .await
                .unwrap_err(),
        );
        // Bob has his own budget; the refused sends stored nothing.
        chat.send_message(&bob, send("hi")).await.unwrap();
        let history = chat
            .list_messages(&ada, direct.chat.chat.id, HistoryQuery::default())
            .await
            .unwrap();
        assert_eq!(history.len(), 3);

        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        chat.forward_message(&ada, forward).await.unwrap();
    }

    #[tokio::test]
    async fn uploads_contacts_groups_invites_and_verifications_are_limited_per_user() {
        let mut limits = RateLimits::default();
        limits.avatar_uploads = Rate::per_hour(1);
        limits.contact_adds = Rate::per_hour(1);
        limits.group_creations = Rate::per_hour(1);
        limits.invite_creations = Rate::per_hour(1);
        limits.verification_requests = Rate::per_hour(1);
        let chat = limited(limits).await;
        let ada = signup(&chat, "ada").await;
        let bob = signup(&chat, "bob").await;

        // A refused upload is counted too: the work was done.
        assert_eq!(
            chat.set_avatar(&ada, b"not an image".to_vec())
                .await
                .unwrap_err()
                .code(),
            "invalid_file"
        );
        wait_of(
            chat.set_avatar(&ada, b"not an image".to_vec())
                .await
                .unwrap_err(),
        );
        // Uploads handed over as files (how the HTTP upload arrives) share the same count.
        let spooled = tempfile::tempfile().unwrap();
        wait_of(chat.set_avatar_file(&ada, spooled).await.unwrap_err());

        chat.add_contact(&ada, bob.user_id()).await.unwrap();
        wait_of(chat.block_user(&ada, bob.user_id()).await.unwrap_err());
        chat.block_user(&bob, ada.user_id()).await.unwrap();

        let title = || ChatTitle::parse("Team").unwrap();
        let group = chat
            .create_group(&ada, CreateGroup::new(title(), vec![]))
            .await
            .unwrap();
        wait_of(
            chat.create_group(&ada, CreateGroup::new(title(), vec![]))
                .await
                .unwrap_err(),
        );
        chat.create_invite(&ada, CreateInvite::new(group.chat.id))
            .await
            .unwrap();
        wait_of(
            chat.create_invite(&ada, CreateInvite::new(group.chat.id))
                .await
                .unwrap_err(),
        );

        chat.request_verification(&ada).await.unwrap();
        wait_of(chat.request_verification(&ada).await.unwrap_err());
        chat.request_verification(&bob).await.unwrap();
    }

    #[tokio::test]
    async fn answers_that_an_email_is_taken_are_limited_per_caller() {
        let mut limits = RateLimits::default();
        limits.taken_email_answers = Rate::per_hour(2);
        limits.lockout = Duration::from_millis(1000);
        let chat = limited(limits).await;
        let ada = signup(&chat, "ada").await;
        let register = |name: &str, email: &str| {
            let mut request = Register::new(
                Username::parse(name).unwrap(),
                Password::parse(SECRET).unwrap(),
            );
            request.email = Some(Email::parse(email).unwrap());
            request
        };
        let here = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let elsewhere = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        for name in ["probe1", "probe2"] {
            let error = with_client(here, chat.register(register(name, "ada@example.com")))
                .await
                .unwrap_err();
            assert_eq!(error.field(), Some("email"));
            assert_eq!(error.code(), "user_already_exists");
        }
        // Now any email is refused to this address, free ones too, so the refusal tells
        // nothing; a registration without email still works, and so does another address.
        let free = with_client(here, chat.register(register("probe3", "free@example.com")));
        wait_of(free.await.unwrap_err());
        let plain = Register::new(
            Username::parse("probe4").unwrap(),
            Password::parse(SECRET).unwrap(),
        );
        with_client(here, chat.register(plain)).await.unwrap();
        let other = with_client(
            elsewhere,
            chat.register(register("probe5", "other@example.com")),
        );
        other.await.unwrap();

        // Profile updates count per user.
        let taken = |email: &str| ProfileUpdate {
            email: Some(Some(Email::parse(email).unwrap())),
            current_password: Some(SECRET.to_owned()),
            ..ProfileUpdate::default()
        };
        for _ in 0..2 {
            let error = chat
                .update_profile(&ada, taken("other@example.com"))
                .await
                .unwrap_err();
            assert_eq!(error.code(), "user_already_exists");
        }
        wait_of(
            chat.update_profile(&ada, taken("ada2@example.com"))
                .await
                .unwrap_err(),
        );

        tokio::time::sleep(Duration::from_millis(1100)).await;
        with_client(here, chat.register(register("probe3", "free@example.com")))
            .await
            .unwrap();
        chat.update_profile(&ada, taken("ada2@example.com"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn counters_of_idle_keys_are_dropped() {
        let mut limits = RateLimits::default();
        limits.sends = Rate::new(5, Duration::from_millis(100));
        limits.password_reset_requests = Rate::new(5, Duration::from_millis(100));
        let chat = limited(limits).await;
        for n in 0..50 {
            chat.request_password_reset(&format!("user{n}"))
                .await
                .unwrap();
        }
        assert_eq!(chat.tracked_keys(), 50);
        tokio::time::sleep(Duration::from_millis(200)).await;
        chat.retain_recent();
        assert_eq!(chat.tracked_keys(), 0);
    }
}
