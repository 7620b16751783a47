//! [`Options`]: how a [`ChatCore`](crate::ChatCore) behaves.

use std::sync::Arc;

use chrono::Duration;

use crate::avatars::{self, AvatarStore};
use crate::events::EventBus;
use crate::notify::{LoggingNotifier, Notifier};
use crate::write::{WriteConnection, WriteMode};
#[allow(unused_imports)] // for the docs
use crate::{Error, Service};

/// How a [`ChatCore`] behaves. Start from `Options::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The secret that signs access tokens (at least 32 bytes). When `None`, a random secret
    /// is generated at first start and stored in the database, so that every node sharing the
    /// database agrees.
    pub signing_secret: Option<Vec<u8>>,
    /// How long a session lasts. Default: 30 days.
    pub session_lifetime: Duration,
    /// The `iss` and `aud` of access tokens. Default: `"chatcore"`.
    pub token_issuer: String,
    /// How writes reach the database (the backend crates choose).
    pub write_mode: WriteMode,
    /// A connection that only the writer uses; `None` writes through the connection given to
    /// [`ChatCore::open`](crate::ChatCore::open). Migrations run on it.
    pub write_connection: Option<WriteConnection>,
    /// Whether to apply pending migrations on open. Default: yes.
    pub migrate: bool,
    /// The most members a group may have. Default: 10,000.
    pub max_group_members: usize,
    /// The most members a [`CreateGroup`] request may list; more are refused with
    /// [`Error::InvalidInput`] (`members`) before anything is read. Larger groups grow through
    /// [`Service::add_member`] and invite links. Default: 100.
    pub max_members_per_request: usize,
    /// How long events are kept for subscribers to resume from. Default: 7 days.
    pub event_retention: Duration,
    /// Carries events between nodes; `None` uses an in-process bus (one node).
    pub event_bus: Option<Arc<dyn EventBus>>,
    /// Delivers password-reset and verification tokens. Default: [`LoggingNotifier`].
    pub notifier: Arc<dyn Notifier>,
    /// How long a password-reset or verification token works. Default: 1 hour.
    pub account_token_lifetime: Duration,
    /// How long a password-reset or verification token is left alone: a new request within
    /// this time of the last token issued (still unused and unexpired) sends nothing and keeps
    /// that token working, so nobody can retire a user's fresh link or flood their inbox by
    /// asking again. The request is still answered as if a notice went out. Default: 10
    /// minutes.
    pub account_token_resend_after: Duration,
    /// The most password hashing jobs (login, registration, password change and reset) that
    /// may wait for a hashing thread; beyond that such requests get [`Error::Unavailable`]
    /// at once instead of queueing without limit. Default: 64 per CPU core.
    pub max_waiting_password_jobs: usize,
    /// The largest avatar upload accepted, in bytes; larger ones get
    /// [`Error::PayloadTooLarge`] before any decoding. Default: 5 MiB.
    pub max_avatar_bytes: usize,
    /// Where avatar images are kept. Default (`None`): the `avatar_blobs` table of the
    /// service's own database.
    pub avatar_store: Option<Arc<dyn AvatarStore>>,
    /// Whether to keep sessions and chat memberships in memory, so that most requests skip
    /// those reads. The cache is exact for changes made through this service; it is therefore
    /// used only with the in-process event bus (no [`event_bus`](Options::event_bus) given),
    /// where this service must be the only one writing to its database. Default: yes.
    pub cache: bool,
    /// The most pixels (width × height) an avatar upload may have. Larger images are refused
    /// with [`Error::InvalidFile`], naming the limit, from their header and before any pixel
    /// is decoded; no side may exceed 8192 pixels either. Decoding memory grows with this
    /// (up to 4 bytes a pixel for JPEG, WebP and GIF). Default: 16,777,216 (4096×4096).
    pub max_avatar_pixels: u64,
    /// How many avatar uploads may wait for a processing slot (there is one per core) before
    /// further ones are refused at once with [`Error::Unavailable`] (`Retry-After`). A waiting
    /// upload holds no decoded image. Default: 16.
    pub max_avatar_queue: usize,
    /// How long an avatar upload waits for a processing slot before it is refused with
    /// [`Error::Unavailable`]. Default: 5 seconds.
    pub avatar_queue_timeout: std::time::Duration,
    /// The most event streams ([`Service::subscribe`]) one session may hold open at once, on
    /// this node; one more is refused with [`Error::RateLimited`] until one of them closes
    /// (0 counts as 1). Default: 8.
    pub max_streams_per_session: usize,
    /// The most event streams one user may hold open at once over all their sessions, on
    /// this node; one more is refused with [`Error::RateLimited`] (0 counts as 1).
    /// Default: 32.
    pub max_streams_per_user: usize,
    /// At most one typing notice per member and chat is forwarded per this interval (on each
    /// node); [`Service::send_typing`] accepts the others and drops them. Zero forwards
    /// every notice. Default: 3 seconds.
    pub typing_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            signing_secret: None,
            session_lifetime: Duration::days(30),
            token_issuer: "chatcore".to_owned(),
            write_mode: WriteMode::Direct,
            write_connection: None,
            migrate: true,
            max_group_members: 10_000,
            max_members_per_request: 100,
            event_retention: Duration::days(7),
            event_bus: None,
            notifier: Arc::new(LoggingNotifier::default()),
            account_token_lifetime: Duration::hours(1),
            account_token_resend_after: Duration::minutes(10),
            max_waiting_password_jobs: 64 * crate::auth::password::threads(),
            max_avatar_bytes: 5 * 1024 * 1024,
            avatar_store: None,
            cache: true,
            max_avatar_pixels: avatars::process::DEFAULT_MAX_PIXELS,
            max_avatar_queue: 16,
            avatar_queue_timeout: std::time::Duration::from_secs(5),
            max_streams_per_session: 8,
            max_streams_per_user: 32,
            typing_interval: Duration::seconds(3),
        }
    }
}

impl Options {
    /// Sets the token signing secret.
    pub fn signing_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_secret = Some(secret.into());
        self
    }

    /// Sets how long sessions last.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// Sets how writes reach the database.
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.write_mode = mode;
        self
    }

    /// Gives the writer a connection of its own (see
    /// [`write_connection`](Options::write_connection)).
    pub fn write_connection(mut self, connection: WriteConnection) -> Self {
        self.write_connection = Some(connection);
        self
    }

    /// Sets how long events are kept for resuming.
    pub fn event_retention(mut self, retention: Duration) -> Self {
        self.event_retention = retention;
        self
    }

    /// Sets the event bus (the PostgreSQL backend sets one that reaches every node).
    pub fn event_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.event_bus = Some(bus);
        self
    }

    /// Sets the most members a create-group request may list.
    pub fn max_members_per_request(mut self, max: usize) -> Self {
        self.max_members_per_request = max;
        self
    }

    /// Sets how long a fresh account token is left alone (see
    /// [`Options::account_token_resend_after`]).
    pub fn account_token_resend_after(mut self, wait: Duration) -> Self {
        self.account_token_resend_after = wait;
        self
    }

    /// Sets how many password hashing jobs may wait (see
    /// [`Options::max_waiting_password_jobs`]).
    pub fn max_waiting_password_jobs(mut self, max: usize) -> Self {
        self.max_waiting_password_jobs = max;
        self
    }

    /// Sets the most members a group may have.
    pub fn max_group_members(mut self, max: usize) -> Self {
        self.max_group_members = max;
        self
    }

    /// Sets how account notices are delivered.
    pub fn notifier(mut self, notifier: impl Notifier) -> Self {
        self.notifier = Arc::new(notifier);
        self
    }

    /// Sets how long password-reset and verification tokens work.
    pub fn account_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.account_token_lifetime = lifetime;
        self
    }

    /// Sets the largest avatar upload accepted, in bytes.
    pub fn max_avatar_bytes(mut self, max: usize) -> Self {
        self.max_avatar_bytes = max;
        self
    }

    /// Keeps avatar images in `store` (a [`FsAvatarStore`](crate::avatars::FsAvatarStore),
    /// say) instead of the database.
    pub fn avatar_store(mut self, store: impl AvatarStore) -> Self {
        self.avatar_store = Some(Arc::new(store));
        self
    }

    /// Sets whether to cache sessions and memberships (see [`Options::cache`]).
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }

    /// Sets whether to apply migrations on open.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Sets the most pixels an avatar upload may have (see [`Options::max_avatar_pixels`]).
    pub fn max_avatar_pixels(mut self, max: u64) -> Self {
        self.max_avatar_pixels = max;
        self
    }

    /// Sets how many avatar uploads may wait for a processing slot (see
    /// [`Options::max_avatar_queue`]).
    pub fn max_avatar_queue(mut self, max: usize) -> Self {
        self.max_avatar_queue = max;
        self
    }

    /// Sets how long an avatar upload waits for a processing slot (see
    /// [`Options::avatar_queue_timeout`]).
    pub fn avatar_queue_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.avatar_queue_timeout = timeout;
        self
    }

    /// Sets the most event streams one session may hold open at once (at least 1).
    pub fn max_streams_per_session(mut self, max: usize) -> Self {
        self.max_streams_per_session = max;
        self
    }

    /// Sets the most event streams one user may hold open at once (at least 1).
    pub fn max_streams_per_user(mut self, max: usize) -> Self {
        self.max_streams_per_user = max;
        self
    }

    /// Sets how often a member's typing notices in one chat are forwarded at most.
    pub fn typing_interval(mut self, interval: Duration) -> Self {
        self.typing_interval = interval;
        self
    }
}
