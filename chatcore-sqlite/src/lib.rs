#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chatcore::sea_orm::sqlx::ConnectOptions as _;
use chatcore::sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use chatcore::sea_orm::{ConnectOptions, Database};
use chatcore::{ChatCore, Result, WriteMode};

/// How durable a commit is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a write is fsynced before it is acknowledged, so it survives a power
    /// loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: faster; an acknowledged write survives a crash of the process but
    /// may be lost if the machine loses power.
    Normal,
}

/// SQLite settings. Start from `SqliteOptions::default()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Commit durability. Default: [`Durability::Full`].
    pub durability: Durability,
    /// How long a connection waits for a lock before failing. Default: 5 s.
    pub busy_timeout: Duration,
    /// Connections for reads (writes go through one writer). Default: 8.
    pub read_connections: u32,
    /// The most writes one commit may hold (group commit). Default: 256.
    pub max_batch: usize,
    /// Service settings (token secret and lifetime, ...).
    pub service: chatcore::Options,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            read_connections: 8,
            max_batch: 256,
            service: chatcore::Options::default(),
        }
    }
}

impl SqliteOptions {
    /// Sets the commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the service settings.
    pub fn service(mut self, service: chatcore::Options) -> Self {
        self.service = service;
        self
    }
}

/// Opens (creating if needed) a chat database file with the default settings: WAL, foreign
/// keys, `synchronous=FULL`, group commit.
///
/// # Errors
/// [`chatcore::Error::Internal`] if the file cannot be opened or migrated.
pub async fn open(path: impl AsRef<Path>) -> Result<ChatCore> {
    open_with(path, SqliteOptions::default()).await
}

/// Opens a chat database file with explicit settings.
///
/// # Errors
/// [`chatcore::Error::Internal`] if the file cannot be opened or migrated.
pub async fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<ChatCore> {
    let path: PathBuf = path.as_ref().to_owned();
    let synchronous = match options.durability {
        Durability::Full => SqliteSynchronous::Full,
        Durability::Normal => SqliteSynchronous::Normal,
    };
    let busy_timeout = options.busy_timeout;
    let mut connect = ConnectOptions::new("sqlite::memory:");
    connect
        .max_connections(options.read_connections.max(1) + 1)
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |_| {
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(busy_timeout)
                .disable_statement_logging()
        });
    let db = Database::connect(connect).await?;
    let service = options.service.write_mode(WriteMode::GroupCommit {
        max_batch: options.max_batch,
    });
    ChatCore::open(db, service).await
}

/// Opens a private in-memory database (gone when the service is dropped): for tests and
/// demos.
///
/// # Errors
/// [`chatcore::Error::Internal`] if SQLite fails.
pub async fn open_in_memory() -> Result<ChatCore> {
    open_in_memory_with(chatcore::Options::default()).await
}

/// Opens a private in-memory database with explicit service settings.
///
/// # Errors
/// [`chatcore::Error::Internal`] if SQLite fails.
pub async fn open_in_memory_with(service: chatcore::Options) -> Result<ChatCore> {
    // One connection, kept for the life of the pool: an in-memory database lives and dies
    // with its connection.
    let mut connect = ConnectOptions::new("sqlite::memory:");
    connect
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|sqlite| sqlite.foreign_keys(true));
    let db = Database::connect(connect).await?;
    ChatCore::open(
        db,
        service.write_mode(WriteMode::GroupCommit { max_batch: 256 }),
    )
    .await
}
