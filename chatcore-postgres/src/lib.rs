#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod bus;

use std::sync::Arc;
use std::time::Duration;

use chatcore::sea_orm::{ConnectOptions, Database};
use chatcore::{ChatCore, Migrator, Result, WriteMode};
use sea_orm_migration::MigratorTrait;

pub use bus::PgEventBus;

/// PostgreSQL settings. Start from `PostgresOptions::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The most pooled connections. Default: 16.
    pub max_connections: u32,
    /// Connections kept open while idle. Default: 1.
    pub min_connections: u32,
    /// How long a request waits for a pooled connection (all busy, or the database
    /// unreachable) before it fails with [`chatcore::Error::Unavailable`] (HTTP 503
    /// `unavailable`). While PostgreSQL is down, requests answer after this long; keep it
    /// well under your clients' and load balancer's timeouts. Default: 5 s.
    pub acquire_timeout: Duration,
    /// Whether nodes share live events through LISTEN/NOTIFY ([`PgEventBus`]). When `false`,
    /// or when `service.event_bus` is set, that bus is used instead. Default: yes.
    ///
    /// `false` without a `service.event_bus` leaves this node with an in-process bus: it then
    /// sees only its own events, and [`connect_with`] refuses it unless
    /// `service.cache` is off too (the cache is exact only when one node writes; turning it on
    /// quietly for a database that other nodes may share would serve stale sessions and
    /// memberships).
    pub notify_events: bool,
    /// Service settings (token secret and lifetime, ...).
    pub service: chatcore::Options,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            notify_events: true,
            service: chatcore::Options::default(),
        }
    }
}

impl PostgresOptions {
    /// Sets the pool size.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets how long a request waits for a pooled connection.
    pub fn acquire_timeout(mut self, acquire_timeout: Duration) -> Self {
        self.acquire_timeout = acquire_timeout;
        self
    }

    /// Sets whether nodes share live events through LISTEN/NOTIFY.
    pub fn notify_events(mut self, notify_events: bool) -> Self {
        self.notify_events = notify_events;
        self
    }

    /// Sets the service settings.
    pub fn service(mut self, service: chatcore::Options) -> Self {
        self.service = service;
        self
    }
}

/// Connects to PostgreSQL (`postgres://user@host:port/database`) with the default settings,
/// applies migrations and starts the [`PgEventBus`].
///
/// # Errors
/// [`chatcore::Error::Internal`] if the database cannot be reached or migrated.
pub async fn connect(url: &str) -> Result<ChatCore> {
    connect_with(url, PostgresOptions::default()).await
}

/// Connects to PostgreSQL with explicit settings.
///
/// # Errors
/// [`chatcore::Error::InvalidInput`] (`notify_events`) for `notify_events: false` with no
/// `service.event_bus` while `service.cache` is on (see
/// [`PostgresOptions::notify_events`]); [`chatcore::Error::Internal`] if the database cannot
/// be reached or migrated, or the event listener cannot connect.
pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<ChatCore> {
    if !options.notify_events && options.service.event_bus.is_none() && options.service.cache {
        return Err(chatcore::Error::InvalidInput {
            field: "notify_events",
            message: "without LISTEN/NOTIFY this node only sees its own changes, so the \
                      single-node cache would go stale: also turn the cache off \
                      (`service.cache(false)`), or keep notify_events on"
                .into(),
        });
    }
    let mut connect = ConnectOptions::new(url);
    connect
        .max_connections(options.max_connections.max(1))
        .min_connections(options.min_connections)
        .acquire_timeout(options.acquire_timeout)
        .sqlx_logging(false);
    let db = Database::connect(connect).await?;
    let mut service = options.service;
    // The bus reads the event head, so the schema comes first.
    if service.migrate {
        Migrator::up(&db, None).await?;
    }
    if options.notify_events && service.event_bus.is_none() {
        let bus = PgEventBus::connect(db.clone(), url).await?;
        service = service.event_bus(Arc::new(bus));
    }
    // Each write is its own transaction; PostgreSQL runs them concurrently.
    ChatCore::open(db, service.migrate(false).write_mode(WriteMode::Direct)).await
}
