//! [`ChatCore`]: the one implementation of [`Service`], over a SeaORM connection.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use sea_orm_migration::MigratorTrait;

use crate::auth::password::Hashing;
use crate::auth::token::TokenKeys;
use crate::avatars::{self, AvatarImage, AvatarSize, AvatarStore, Avatars, DbAvatarStore};
use crate::cache::Caches;
use crate::chats::{self, ChatDetail, ChatListItem, DirectChat, Member};
use crate::contacts::{self, ListedUser, queries::Listing};
use crate::events::{self, EventBus, EventStream, InProcessBus};
use crate::groups::{self, AssignableRole, ChatTitle, CreateGroup};
use crate::invites::{self, CreateInvite, Invite, InviteCode, InvitePreview, JoinedGroup};
use crate::messages::{
    self, Emoji, ForwardMessage, HistoryQuery, Message, MessageText, ReactionCount, ReadMarker,
    ReadReceipt, SendMessage,
};
use crate::moderation::{self, NewReport, Report, ReportQuery};
use crate::notify::{LoggingNotifier, Notifier};
use crate::pagination::{Page, PageRequest};
use crate::sessions::{self, Caller, NewSession, Session, SessionOptions};
use crate::users::{
    self, Authenticated, ExternalId, ExternalUser, Login, Password, ProfileUpdate, Register, Role,
    User, UserProfile, UserRef, UserSearch,
};
use crate::write::{WriteMode, Writer};
use crate::{
    ChatId, Error, MessageId, Migrator, Readiness, ReportId, Result, Service, SessionId, UserId,
    settings_entity,
};

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

/// The chatcore service over a SeaORM database. Cheap to clone; clones share everything.
///
/// Usually made by a backend crate (`chatcore_sqlite::open`, `chatcore_postgres::connect`).
#[derive(Clone)]
pub struct ChatCore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// For reads. Every write goes through `writer`.
    pub(crate) db: DatabaseConnection,
    pub(crate) writer: Writer,
    pub(crate) tokens: TokenKeys,
    pub(crate) session_lifetime: Duration,
    pub(crate) max_group_members: usize,
    pub(crate) max_members_per_request: usize,
    /// Admission to the password hashing threads.
    pub(crate) hashing: Hashing,
    pub(crate) events: Arc<dyn EventBus>,
    pub(crate) notifier: Arc<dyn Notifier>,
    pub(crate) account_token_lifetime: Duration,
    pub(crate) account_token_resend_after: Duration,
    pub(crate) avatars: Avatars,
    /// Sessions and memberships, cached when this is the only node (see [`crate::cache`]).
    pub(crate) caches: Option<Caches>,
    /// The open event streams and their caps.
    pub(crate) streams: events::Streams,
    /// Which typing notices are forwarded.
    pub(crate) typing: messages::TypingThrottle,
}

const SECRET_KEY: &str = "token_signing_secret";

impl ChatCore {
    /// Opens the service on a connected database: applies migrations (unless told not to) and
    /// loads or creates the signing secret.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a signing secret shorter than 32 bytes;
    /// [`Error::Internal`] when the database fails.
    pub async fn open(db: DatabaseConnection, options: Options) -> Result<ChatCore> {
        if options.migrate {
            Migrator::up(&db, None).await?;
        }
        let secret = match options.signing_secret {
            Some(secret) if secret.len() < 32 => {
                return Err(Error::invalid(
                    "signing_secret",
                    "must be at least 32 bytes",
                ));
            }
            Some(secret) => secret,
            None => stored_secret(&db).await?,
        };
        crate::auth::password::warm_up().await;
        let issuer = options.token_issuer;
        let writer = Writer::new(db.clone(), &options.write_mode);
        let avatar_store = match options.avatar_store {
            Some(store) => store,
            None => Arc::new(DbAvatarStore::new(db.clone(), writer.clone())),
        };
        // Without a bus of the backend's, events go through one in this process, which
        // housekeeping keeps ticking.
        let (bus, local_bus): (Arc<dyn EventBus>, _) = match options.event_bus {
            Some(bus) => (bus, None),
            None => {
                let head = events::log::head(&db).await?.0;
                let local = Arc::new(InProcessBus::new(head, 4096));
                (local.clone(), Some(local))
            }
        };
        // Caching is exact only when every change passes through this service.
        let caches = (options.cache && local_bus.is_some()).then(Caches::new);
        let inner = Arc::new(Inner {
            caches,
            avatars: Avatars::new(
                avatar_store,
                avatars::AvatarLimits {
                    max_bytes: options.max_avatar_bytes,
                    max_pixels: options.max_avatar_pixels,
                    max_queue: options.max_avatar_queue,
                    queue_timeout: options.avatar_queue_timeout,
                },
            ),
            writer,
            db,
            tokens: TokenKeys::new(&secret, &issuer, &issuer),
            session_lifetime: options.session_lifetime,
            max_group_members: options.max_group_members.max(2),
            max_members_per_request: options.max_members_per_request,
            hashing: Hashing::new(options.max_waiting_password_jobs),
            events: bus,
            notifier: options.notifier,
            account_token_lifetime: options.account_token_lifetime,
            account_token_resend_after: options.account_token_resend_after,
            streams: events::Streams::new(
                options.max_streams_per_session,
                options.max_streams_per_user,
            ),
            typing: messages::TypingThrottle::new(
                options.typing_interval.to_std().unwrap_or_default(),
            ),
        });
        housekeeping(Arc::downgrade(&inner), local_bus, options.event_retention);
        Ok(ChatCore { inner })
    }

    /// The underlying database connection (for the backend crates and tests).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.inner.db
    }
}

impl Inner {
    /// Hands committed events to the bus.
    pub(crate) fn publish(&self, events: Vec<events::Event>) {
        if !events.is_empty() {
            if let Some(caches) = &self.caches {
                caches.observe(&events);
            }
            self.events.publish(events);
        }
    }
}

/// Background upkeep while the service lives: skipping event gaps that waited too long on the
/// in-process bus, and pruning events past their retention (once a minute, or every half
/// retention when that is shorter).
fn housekeeping(
    inner: std::sync::Weak<Inner>,
    bus: Option<Arc<InProcessBus>>,
    retention: Duration,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        let mut ticks: i64 = 0;
        let prune_every = (retention.num_milliseconds() / 2 / 100).clamp(1, 600);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            if let Some(bus) = &bus {
                bus.tick();
            }
            ticks += 1;
            if ticks % prune_every == 0 {
                let before = crate::clock::now() - retention;
                let pruned = inner
                    .writer
                    .run(move |txn| Box::pin(async move { events::log::prune(txn, before).await }))
                    .await;
                if let Err(error) = pruned {
                    tracing::warn!(%error, "could not prune old events");
                }
            }
        }
    });
}

/// Reads the stored secret, creating it if this is the first node to start. Two nodes
/// starting at once both insert-if-absent and then read the same row.
async fn stored_secret(db: &DatabaseConnection) -> Result<Vec<u8>> {
    // Read first, so that a database that cannot take writes (a read-only file, a full disk)
    // still opens and serves reads.
    if let Some(stored) = settings_entity::Entity::find_by_id(SECRET_KEY.to_owned())
        .one(db)
        .await?
    {
        return Ok(stored.value.into_bytes());
    }
    let candidate: [u8; 32] = rand::random();
    let candidate: String = candidate.iter().map(|byte| format!("{byte:02x}")).collect();
    settings_entity::Entity::insert(settings_entity::ActiveModel {
        key: Set(SECRET_KEY.to_owned()),
        value: Set(candidate),
    })
    .on_conflict(
        OnConflict::column(settings_entity::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = settings_entity::Entity::find_by_id(SECRET_KEY.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("signing secret missing after insert"))?;
    Ok(stored.value.into_bytes())
}

#[async_trait]
impl Service for ChatCore {
    async fn register(&self, request: Register) -> Result<Authenticated> {
        users::queries::register(&self.inner, request).await
    }

    async fn login(&self, request: Login) -> Result<Authenticated> {
        users::queries::login(&self.inner, request).await
    }

    async fn authenticate(&self, token: &str) -> Result<Caller> {
        sessions::queries::authenticate(&self.inner, token).await
    }

    async fn logout(&self, caller: &Caller) -> Result<()> {
        sessions::queries::revoke(&self.inner, caller, caller.session_id).await
    }

    async fn get_me(&self, caller: &Caller) -> Result<User> {
        users::queries::get_me(&self.inner, caller).await
    }

    async fn get_user(&self, caller: &Caller, user_id: UserId) -> Result<UserProfile> {
        users::queries::get_user(&self.inner, caller, user_id).await
    }

    async fn update_profile(&self, caller: &Caller, update: ProfileUpdate) -> Result<User> {
        users::queries::update_profile(&self.inner, caller, update).await
    }

    async fn search_users(&self, caller: &Caller, search: UserSearch) -> Result<Page<UserProfile>> {
        users::queries::search(&self.inner, caller, search).await
    }

    async fn unregister(&self, caller: &Caller, password: &str) -> Result<()> {
        users::queries::unregister(&self.inner, caller, password).await
    }

    async fn set_avatar(&self, caller: &Caller, image: Vec<u8>) -> Result<User> {
        avatars::queries::set(&self.inner, caller, avatars::Upload::Bytes(image)).await
    }

    async fn set_avatar_file(&self, caller: &Caller, image: std::fs::File) -> Result<User> {
        avatars::queries::set(&self.inner, caller, avatars::Upload::File(image)).await
    }

    async fn remove_avatar(&self, caller: &Caller) -> Result<User> {
        avatars::queries::remove(&self.inner, caller).await
    }

    async fn get_avatar(
        &self,
        caller: &Caller,
        user_id: UserId,
        size: AvatarSize,
    ) -> Result<AvatarImage> {
        avatars::queries::get(&self.inner, caller, user_id, size).await
    }

    async fn upsert_external_user(&self, user: ExternalUser) -> Result<User> {
        users::queries::upsert_external(&self.inner, user).await
    }

    async fn open_external_session(
        &self,
        external_id: &ExternalId,
        options: SessionOptions,
    ) -> Result<NewSession> {
        users::queries::open_external_session(&self.inner, external_id, options).await
    }

    async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>> {
        sessions::queries::list(&self.inner, caller).await
    }

    async fn revoke_session(&self, caller: &Caller, session_id: SessionId) -> Result<()> {
        sessions::queries::revoke(&self.inner, caller, session_id).await
    }

    async fn start_direct_chat(&self, caller: &Caller, user_id: UserId) -> Result<DirectChat> {
        chats::queries::start_direct(&self.inner, caller, user_id).await
    }

    async fn list_chats(&self, caller: &Caller, page: PageRequest) -> Result<Page<ChatListItem>> {
        chats::queries::list(&self.inner, caller, page).await
    }

    async fn get_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<ChatDetail> {
        chats::queries::detail(&self.inner, caller, chat_id).await
    }

    async fn hide_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        chats::queries::hide(&self.inner, caller, chat_id).await
    }

    async fn create_group(&self, caller: &Caller, group: CreateGroup) -> Result<ChatDetail> {
        groups::queries::create(&self.inner, caller, group).await
    }

    async fn rename_group(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<ChatDetail> {
        groups::queries::rename(&self.inner, caller, chat_id, title).await
    }

    async fn delete_group(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        groups::queries::delete(&self.inner, caller, chat_id).await
    }

    async fn add_member(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Member> {
        groups::queries::add_member(&self.inner, caller, chat_id, user_id).await
    }

    async fn remove_member(&self, caller: &Caller, chat_id: ChatId, user_id: UserId) -> Result<()> {
        groups::queries::remove_member(&self.inner, caller, chat_id, user_id).await
    }

    async fn set_member_role(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
        role: AssignableRole,
    ) -> Result<Member> {
        groups::queries::set_role(&self.inner, caller, chat_id, user_id, role).await
    }

    async fn list_members(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Member>> {
        groups::queries::list_members(&self.inner, caller, chat_id).await
    }

    async fn send_message(&self, caller: &Caller, message: SendMessage) -> Result<Message> {
        messages::queries::send(&self.inner, caller, message).await
    }

    async fn list_messages(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        query: HistoryQuery,
    ) -> Result<Vec<Message>> {
        messages::queries::history(&self.inner, caller, chat_id, query).await
    }

    async fn delete_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<()> {
        messages::queries::delete(&self.inner, caller, chat_id, message_id).await
    }
    async fn change_password(&self, caller: &Caller, current: &str, new: Password) -> Result<()> {
        users::recovery::change_password(&self.inner, caller, current, new).await
    }

    async fn request_password_reset(&self, login: &str) -> Result<()> {
        users::recovery::request_password_reset(&self.inner, login).await
    }

    async fn confirm_password_reset(&self, token: &str, new_password: Password) -> Result<()> {
        users::recovery::confirm_password_reset(&self.inner, token, new_password).await
    }

    async fn request_verification(&self, caller: &Caller) -> Result<()> {
        users::recovery::request_verification(&self.inner, caller).await
    }

    async fn confirm_verification(&self, token: &str) -> Result<()> {
        users::recovery::confirm_verification(&self.inner, token).await
    }

    async fn add_contact(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        contacts::queries::add(&self.inner, caller, Listing::Contacts, user_id).await
    }

    async fn remove_contact(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        contacts::queries::remove(&self.inner, caller, Listing::Contacts, user_id).await
    }

    async fn list_contacts(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        contacts::queries::list(&self.inner, caller, Listing::Contacts, page).await
    }

    async fn block_user(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        contacts::queries::add(&self.inner, caller, Listing::Blocks, user_id).await
    }

    async fn unblock_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        contacts::queries::remove(&self.inner, caller, Listing::Blocks, user_id).await
    }

    async fn list_blocks(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        contacts::queries::list(&self.inner, caller, Listing::Blocks, page).await
    }

    async fn create_invite(&self, caller: &Caller, invite: CreateInvite) -> Result<Invite> {
        invites::queries::create(&self.inner, caller, invite).await
    }

    async fn list_invites(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Invite>> {
        invites::queries::list(&self.inner, caller, chat_id).await
    }

    async fn revoke_invite(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        code: &InviteCode,
    ) -> Result<()> {
        invites::queries::revoke(&self.inner, caller, chat_id, code.clone()).await
    }

    async fn preview_invite(&self, caller: &Caller, code: &InviteCode) -> Result<InvitePreview> {
        invites::queries::preview(&self.inner, caller, code.clone()).await
    }

    async fn accept_invite(&self, caller: &Caller, code: &InviteCode) -> Result<JoinedGroup> {
        invites::queries::accept(&self.inner, caller, code.clone()).await
    }

    async fn forward_message(&self, caller: &Caller, forward: ForwardMessage) -> Result<Message> {
        messages::queries::forward(&self.inner, caller, forward).await
    }

    async fn edit_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        text: MessageText,
    ) -> Result<Message> {
        messages::queries::edit(&self.inner, caller, chat_id, message_id, text).await
    }

    async fn add_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        messages::reactions::react(&self.inner, caller, chat_id, message_id, emoji, true).await
    }

    async fn remove_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        messages::reactions::react(&self.inner, caller, chat_id, message_id, emoji, false).await
    }

    async fn mark_read(&self, caller: &Caller, chat_id: ChatId, seq: i64) -> Result<ReadMarker> {
        messages::receipts::mark_read(&self.inner, caller, chat_id, seq).await
    }

    async fn list_read_receipts(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Vec<ReadReceipt>> {
        messages::receipts::read_by(&self.inner, caller, chat_id, message_id).await
    }

    async fn send_typing(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        messages::receipts::typing(&self.inner, caller, chat_id).await
    }

    async fn create_report(&self, caller: &Caller, report: NewReport) -> Result<Report> {
        moderation::queries::report(&self.inner, caller, report).await
    }

    async fn list_reports(&self, caller: &Caller, query: ReportQuery) -> Result<Page<Report>> {
        moderation::queries::list(&self.inner, caller, query).await
    }

    async fn resolve_report(
        &self,
        caller: &Caller,
        report_id: ReportId,
        resolution: Option<String>,
    ) -> Result<Report> {
        moderation::queries::resolve(&self.inner, caller, report_id, resolution).await
    }

    async fn deactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        moderation::queries::set_active(&self.inner, caller, user_id, false).await
    }

    async fn reactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        moderation::queries::set_active(&self.inner, caller, user_id, true).await
    }

    async fn subscribe(&self, caller: &Caller, since: Option<i64>) -> Result<EventStream> {
        events::subscribe(&self.inner, caller, since).await
    }

    fn live_subscriptions(&self) -> usize {
        self.inner.streams.live()
    }

    async fn readiness(&self) -> Readiness {
        let ping = tokio::time::timeout(crate::READINESS_TIMEOUT, self.inner.db.ping()).await;
        let database = matches!(ping, Ok(Ok(())));
        Readiness::new(database, self.inner.events.is_connected())
    }

    async fn set_server_role(&self, user: UserRef, role: Role) -> Result<User> {
        moderation::queries::set_role(&self.inner, user, role).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{Password, Username};

    async fn register(chat: &ChatCore, name: &str) -> User {
        chat.register(Register::new(
            Username::parse(name).unwrap(),
            Password::parse("a long enough secret").unwrap(),
        ))
        .await
        .unwrap()
        .user
    }

    #[tokio::test]
    async fn cursors_older_than_retention_expire() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let chat = ChatCore::open(db, Options::default().event_retention(Duration::zero()))
            .await
            .unwrap();
        let ada = register(&chat, "ada").await;
        let bob = register(&chat, "bob").await;
        let caller = chat
            .authenticate(
                &chat
                    .login(Login {
                        login: "ada".to_owned(),
                        password: "a long enough secret".to_owned(),
                        user_agent: None,
                    })
                    .await
                    .unwrap()
                    .session
                    .token,
            )
            .await
            .unwrap();
        assert_eq!(ada.id, caller.user_id());
        chat.start_direct_chat(&caller, bob.id).await.unwrap();
        // The first pruning runs within the first tick of housekeeping.
        let mut expired = false;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if let Err(error) = chat.subscribe(&caller, Some(0)).await {
                assert_eq!(error.code(), "cursor_expired");
                expired = true;
                break;
            }
        }
        assert!(expired, "the old cursor never expired");
        // Subscribing from now still works.
        let _live = chat.subscribe(&caller, None).await.unwrap();
    }
}
