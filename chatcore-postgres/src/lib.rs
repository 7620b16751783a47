#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::time::Duration;

use chatcore::sea_orm::{ConnectOptions, Database};
use chatcore::{ChatCore, Result, WriteMode};

/// PostgreSQL settings. Start from `PostgresOptions::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The most pooled connections. Default: 16.
    pub max_connections: u32,
    /// Connections kept open while idle. Default: 1.
    pub min_connections: u32,
    /// How long to wait for a pooled connection. Default: 10 s.
    pub acquire_timeout: Duration,
    /// Service settings (token secret and lifetime, ...).
    pub service: chatcore::Options,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(10),
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

    /// Sets the service settings.
    pub fn service(mut self, service: chatcore::Options) -> Self {
        self.service = service;
        self
    }
}

/// Connects to PostgreSQL (`postgres://user@host:port/database`) with the default settings
/// and applies migrations.
///
/// # Errors
/// [`chatcore::Error::Internal`] if the database cannot be reached or migrated.
pub async fn connect(url: &str) -> Result<ChatCore> {
    connect_with(url, PostgresOptions::default()).await
}

/// Connects to PostgreSQL with explicit settings.
///
/// # Errors
/// [`chatcore::Error::Internal`] if the database cannot be reached or migrated.
pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<ChatCore> {
    let mut connect = ConnectOptions::new(url);
    connect
        .max_connections(options.max_connections.max(1))
        .min_connections(options.min_connections)
        .acquire_timeout(options.acquire_timeout)
        .sqlx_logging(false);
    let db = Database::connect(connect).await?;
    // Each write is its own transaction; PostgreSQL runs them concurrently.
    ChatCore::open(db, options.service.write_mode(WriteMode::Direct)).await
}
