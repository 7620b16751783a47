//! Opening the service: migrations, the signing secret, and the shared [`Context`].

use std::sync::Arc;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbBackend, EntityTrait};
use sea_orm_migration::MigratorTrait;

use super::ChatCore;
use crate::auth::password::Hashing;
use crate::auth::token::TokenKeys;
use crate::avatars::{self, Avatars, DbAvatarStore};
use crate::cache::Caches;
use crate::context::{Context, DirectReads};
use crate::events::sequencer::Sequencer;
use crate::events::{self, EventBus, InProcessBus};
use crate::messages;
use crate::write::{WriteConnection, Writer};
use crate::{Error, Migrator, Options, Result, settings_entity};

const SECRET_KEY: &str = "token_signing_secret";

impl ChatCore {
    /// Opens the service on a connected database: applies migrations (unless told not to) and
    /// loads or creates the signing secret.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a signing secret shorter than 32 bytes;
    /// [`Error::Internal`] when the database fails.
    pub async fn open(db: DatabaseConnection, options: Options) -> Result<ChatCore> {
        ChatCore::open_with(db, options, None).await
    }

    /// [`ChatCore::open`], with reads that skip SeaORM's rows where the backend offers them.
    pub(crate) async fn open_with(
        db: DatabaseConnection,
        options: Options,
        direct: Option<DirectReads>,
    ) -> Result<ChatCore> {
        let write = options
            .write_connection
            .clone()
            .unwrap_or_else(|| WriteConnection::new(db.clone()));
        if options.migrate {
            Migrator::up(&write.db, None).await?;
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
        let writer = Writer::new(write, &options.write_mode)?;
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
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let sequencer = postgres.then(|| Sequencer::start(db.clone(), bus.clone()));
        let sends = postgres.then(|| {
            messages::queries::SendBatcher::start(
                db.clone(),
                sequencer.as_ref().map(Sequencer::tickets),
            )
        });
        // Caching is exact only when every change passes through this service.
        let caches = (options.cache && local_bus.is_some()).then(Caches::new);
        let inner = Arc::new(Context {
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
            direct,
            tokens: TokenKeys::new(&secret, &issuer, &issuer),
            session_lifetime: options.session_lifetime,
            max_group_members: options.max_group_members.max(2),
            max_members_per_request: options.max_members_per_request,
            hashing: Hashing::new(options.max_waiting_password_jobs),
            events: bus,
            sequencer,
            sends,
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
        super::housekeeping::start(Arc::downgrade(&inner), local_bus, options.event_retention);
        Ok(ChatCore { inner })
    }
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
